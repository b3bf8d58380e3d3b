"""Batched elicitation: what the sub-envs' agents observe of the humans' values.

The query budget is split across the d dims once (:func:`~progressgym_env.elicitation.split_queries`);
each observation is the answer shares of respondents holding the true vectors, drawn with the
backend's elicitation method. When the answering humans are a fixed history (no simulated human) and
answers are exact binomial draws, fast mode answers from a
:class:`~progressgym_env.elicitation.BinomialTable`: the same distribution by inverse-CDF lookup,
tens of times cheaper than ``Generator.binomial``.
"""

from __future__ import annotations

import numpy as np

from progressgym_env.elicitation import BinomialTable, sample_shares, split_queries
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
        self.table: BinomialTable | None = None
        exact_answers = self.counts is not None and self.method == "binomial"
        if fast and settings.fixed_history and not simulates_human and exact_answers:
            assert self.counts is not None
            if BinomialTable.fits(self.counts):
                self.table = BinomialTable(settings.history_source.history.values, self.counts)  # type: ignore[attr-defined]

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
            return sample_shares(batch_rng, values, self.counts, self.method), self.queries
        shares = np.empty((rows.count, values.shape[-1]))
        for j, i in enumerate(rows.index.tolist()):
            shares[j] = sample_shares(generators[i], values[j], self.counts, self.method)
        return shares, self.queries
