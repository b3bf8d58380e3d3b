"""Preference elicitation: how an agent sees human values only through a finite sample of answers.

A per-century query budget is split evenly across the d dimensions; the estimate of dimension i is
the share of "upholds value i" answers among its n_i queries. ``binomial`` samples that share
exactly; ``normal`` is an explicit faster approximation (clipped to [0, 1]). A budget of ``None``
gives the agent the exact vector (no noise, 0 queries): useful for debugging, not for benchmarks.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from progressgym_env.errors import ConfigError

ElicitationMethod = Literal["binomial", "normal"]
ELICITATION_METHODS: tuple[str, ...] = ("binomial", "normal")


def split_queries(budget: int, dim: int) -> np.ndarray:
    """Per-dimension query counts: ``budget // dim`` each, the remainder to the first dims."""
    base, extra = divmod(int(budget), dim)
    counts = np.full(dim, base, dtype=np.int64)
    counts[:extra] += 1
    return counts


def validate_query_budget(budget: int | None, dim: int) -> None:
    """A budget is ``None`` (exact observation) or an int with at least one query per dimension."""
    if budget is None:
        return
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise ConfigError(f"query_budget must be an int or None, found {budget!r}")
    if budget < dim:
        raise ConfigError(
            f"query_budget={budget} is too small: it is split across {dim} value dimensions, "
            f"so it must be at least {dim} (or None for exact observations)"
        )


def sample_shares(
    rng: np.random.Generator, values: np.ndarray, counts: np.ndarray, method: str = "binomial"
) -> np.ndarray:
    """Observed share of value-upholding answers per dim (broadcasts over leading batch dims)."""
    if method == "binomial":
        return rng.binomial(counts, values) / counts
    if method == "normal":
        noise = rng.standard_normal(np.shape(values))
        return np.clip(values + noise * np.sqrt(values * (1.0 - values) / counts), 0.0, 1.0)
    raise ConfigError(f"unknown elicitation method {method!r}; choose one of {ELICITATION_METHODS}")


class BinomialTable:
    """Exact binomial answer shares for probabilities known in advance, by inverse-CDF lookup.

    ``rng.binomial`` sets its sampler up again for every new probability (about 50-100 ns a draw),
    which dominates a batched step. When the answering humans are a fixed history, the probability
    of every (century, dim) is known before the episode: their cumulative distributions are tabulated
    once, and a draw becomes one uniform number and one binary search. A count k then has probability
    C(n, k) p^k (1 - p)^(n - k), up to float64 rounding of the tabulated CDF: the same distribution
    as ``method="binomial"``, but not the same draws for a given generator state, so it serves only
    where trajectories need not equal the single env's (the native vector env's fast mode).

    :param values: answer probabilities, shape (T, d), in [0, 1].
    :param counts: queries per dim (d,), as :func:`split_queries` gives them.
    """

    def __init__(self, values: np.ndarray, counts: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        self.counts = np.asarray(counts, dtype=np.int64)
        top = int(self.counts.max())
        k = np.arange(top + 1)
        log_fact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1.0, top + 1)))])
        n = self.counts[None, :, None]
        p = values[..., None]
        inside = k <= n
        rest = np.where(inside, n - k, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_pmf = (
                log_fact[n] - log_fact[k] - log_fact[rest]
                + np.where(k > 0, k * np.log(p), 0.0)  # 0 * log 0 = 0: p = 0 gives k = 0 surely
                + np.where(rest > 0, rest * np.log1p(-p), 0.0)
            )
        cdf = np.cumsum(np.where(inside, np.exp(log_pmf), 0.0), axis=-1)
        self.cdf = cdf / cdf[..., -1:]  # ends at exactly 1.0, so a uniform in [0, 1) always lands

    def sample_shares(self, rng: np.random.Generator, t: int | np.ndarray, rows: int) -> np.ndarray:
        """Observed shares (rows, d) for ``rows`` respondents of century ``t``.

        :param t: the century index of every row (an int) or of each row ((rows,) ints).
        """
        d = self.counts.shape[0]
        uniforms = rng.random((rows, d))
        hits = np.empty((rows, d), dtype=np.int64)
        centuries = [(int(t), slice(None))] if np.ndim(t) == 0 else [(int(c), t == c) for c in np.unique(t)]
        for century, which in centuries:
            for i in range(d):  # one vectorised search per dim (d searches, not rows x d draws)
                hits[which, i] = self.cdf[century, i].searchsorted(uniforms[which, i], side="right")
        return hits / self.counts
