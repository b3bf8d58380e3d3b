"""Batched elicitation: what the sub-envs' agents observe of the humans' values.

The query budget is split across the d dims once (:func:`~progressgym_env.elicitation.split_queries`);
each observation is the answer shares of respondents holding the true vectors, drawn with the
backend's elicitation method. Where answers are exact binomial draws, fast mode answers by inverse-CDF
lookup, the same distribution several times cheaper than ``Generator.binomial``: from a
:class:`~progressgym_env.elicitation.BinomialTable` of the history's own probabilities when the
answering humans are a fixed history (no simulated human), else from a
:class:`~progressgym_env.elicitation.GridBinomial` (a table on a probability grid plus an exact
thinning step), which takes any probabilities (a simulated human, procedural histories) and serves
batches of at least ``GridBinomial.MIN_DRAWS`` draws (smaller ones draw with ``Generator.binomial``: for
a given seed and N the episode is always the same).
"""

from __future__ import annotations

import numpy as np

from progressgym_env.elicitation import (
    BinomialTable,
    GridBinomial,
    sample_shares,
    share_sampler,
    split_queries,
)
from progressgym_env.envs.vector.draws import SubEnvGenerators
from progressgym_env.envs.vector.rows import Century, Rows
from progressgym_env.envs.vector.settings import VectorSettings


class BatchElicitation:
    """Answer shares for rows of sub-envs, from the batch generator (fast) or each sub-env's (exact).

    :param settings: the vector env's settings (budget, elicitation method, history source).
    :param fast: whether one batch generator draws for every row.
    :param simulates_human: whether a simulated human answers (then no table: its values move).
    """

    def __init__(self, settings: VectorSettings, fast: bool, simulates_human: bool) -> None:
        budget = settings.query_budget
        self.queries = 0 if budget is None else int(budget)
        self.counts = None if budget is None else split_queries(budget, settings.dim)
        self.method = settings.config.elicitation
        # exact mode draws each row from its sub-env's generator, one respondent at a time
        self._one = None if self.counts is None else share_sampler(self.counts, self.method)
        self.table: BinomialTable | None = None
        self.uses_grid = False  # GridBinomial for large batches (built on the first one)
        exact_answers = self.counts is not None and self.method == "binomial"
        if fast and exact_answers:
            assert self.counts is not None
            if settings.fixed_history and not simulates_human and BinomialTable.fits(self.counts):
                self.table = BinomialTable(settings.history_source.history.values, self.counts)  # type: ignore[attr-defined]
            else:
                self.uses_grid = GridBinomial.fits(self.counts)

    def observe(
        self,
        rows: Rows,
        t: Century,
        values: np.ndarray,
        batch_rng: np.random.Generator | None,
        generators: SubEnvGenerators,
    ) -> tuple[np.ndarray, int]:
        """Answer shares (count, d) of respondents holding ``values`` (century ``t``), and the query count.

        :param batch_rng: fast mode's generator, or None in exact mode (then ``generators`` draw).
        """
        if self.counts is None:
            return values.copy(), 0
        if batch_rng is not None:
            if self.table is not None:
                return self.table.sample_shares(batch_rng, t, rows.count), self.queries
            if self.uses_grid and values.size >= GridBinomial.MIN_DRAWS:
                return GridBinomial.for_counts(self.counts).sample_shares(batch_rng, values), self.queries
            return sample_shares(batch_rng, values, self.counts, self.method), self.queries
        one = self._one
        assert one is not None
        shares = np.empty((rows.count, values.shape[-1]))
        for j, i in enumerate(rows.index.tolist()):
            shares[j] = one(generators[i], values[j])
        return shares, self.queries
