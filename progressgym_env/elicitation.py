"""Preference elicitation: how an agent sees human values only through a finite sample of answers.

A per-century query budget is split evenly across the d dimensions; the estimate of dimension i is
the share of "upholds value i" answers among its n_i queries. ``binomial`` samples that share
exactly; ``normal`` is an explicit faster approximation (clipped to [0, 1]). A budget of ``None``
gives the agent the exact vector (no noise, 0 queries): useful for debugging, not for benchmarks.
"""

from __future__ import annotations

import numpy as np

from progressgym_env import kernels
from progressgym_env.errors import ConfigError

ELICITATION_METHODS: tuple[str, ...] = ("binomial", "normal")
_SCALAR_DRAWS = 8
"""Up to this many dims, one respondent's binomial answers are drawn one scalar call per dim (faster)."""


MAX_QUERY_BUDGET = 2**62
"""Largest per-century budget: per-dim counts must stay int64 for numpy's binomial sampler."""


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
    if budget > MAX_QUERY_BUDGET:
        raise ConfigError(
            f"query_budget={budget} is too large: at most {MAX_QUERY_BUDGET} (2**62) answers per century can be "
            "sampled; use None for exact observations"
        )
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
        if values.ndim == 1 and values.shape[0] <= _SCALAR_DRAWS:
            # One respondent: d scalar draws skip the array call's argument checks (microseconds at
            # this size) and give the same draws in the same order (both walk the dims in turn).
            draw = rng.binomial
            return np.array([draw(n, p) for n, p in zip(counts.tolist(), values.tolist(), strict=True)], dtype=np.int64) / counts
        return rng.binomial(counts, values) / counts
    if method == "normal":
        return kernels.normal_shares(values, rng.standard_normal(np.shape(values)), counts, np)
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

    MAX_COUNT = 1 << 14
    """Largest per-dim count tabulated (the table holds T x d x (count + 1) floats): larger budgets
    draw with ``rng.binomial``, whose memory does not grow with the budget (see :meth:`fits`)."""
    GUIDE_SIZE = 1 << 12
    """Buckets of the guide table per (century, dim) (a power of two, so bucketing is exact)."""
    GUIDE_STEPS = 1
    """Comparisons made from a bucket's start; buckets spanning more CDF steps use binary search."""

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
        # Guide table (indexed search): for a uniform u in bucket g = floor(u * G), the answer
        # #{cdf <= u} lies between start = #{cdf <= g / G} and #{cdf < (g + 1) / G}. Where that range
        # is at most GUIDE_STEPS wide, GUIDE_STEPS vectorised comparisons from ``start`` find it; the
        # rare uniforms of wider buckets (the far tails) get the binary search. Exactly the answers of
        # ``searchsorted(cdf, u, side="right")``: u * G is exact (G is a power of two).
        cells, width = self.cdf.shape[:-1], self.cdf.shape[-1]
        grid = np.arange(self.GUIDE_SIZE + 1) / self.GUIDE_SIZE
        rows = self.cdf.reshape(-1, width)
        lower = np.stack([row.searchsorted(grid[:-1], side="right") for row in rows])
        upper = np.stack([row.searchsorted(grid[1:], side="left") for row in rows])
        small = np.int16 if width < np.iinfo(np.int16).max else np.int64  # a compact table stays in cache
        # -1 marks a wide bucket (one table lookup gives both the start and the flag).
        self._guide: np.ndarray = np.where(upper - lower > self.GUIDE_STEPS, -1, lower).ravel().astype(small)
        # The CDF rows flattened, each padded with one +inf so a comparison never steps past its row.
        self._width = width + 1
        self._flat_cdf = np.concatenate([rows, np.full((rows.shape[0], 1), np.inf)], axis=1).ravel()
        self._cells = int(np.prod(cells))

    @classmethod
    def fits(cls, counts: np.ndarray) -> bool:
        """Whether a table for these per-dim counts stays small (at most :attr:`MAX_COUNT` each)."""
        return int(np.max(counts)) <= cls.MAX_COUNT

    def sample_shares(self, rng: np.random.Generator, t: int | np.ndarray, rows: int) -> np.ndarray:
        """Observed shares (rows, d) for ``rows`` respondents of century ``t``.

        :param t: the century index of every row (an int) or of each row ((rows,) ints).
        """
        d = self.counts.shape[0]
        uniforms = rng.random((rows, d))
        cell = np.arange(d) + (d * t if np.ndim(t) == 0 else d * np.asarray(t)[:, None])  # (d,) or (rows, d)
        bucket = (uniforms * self.GUIDE_SIZE).astype(np.intp)
        bucket += cell * self.GUIDE_SIZE
        hits = self._guide.take(bucket)
        wide = (hits < 0).ravel().nonzero()[0]
        hits.put(wide, 0)  # any valid start: these are searched below
        row_start = cell * self._width
        for _ in range(self.GUIDE_STEPS):
            hits += self._flat_cdf.take(hits + row_start) <= uniforms
        if wide.size:  # far-tail uniforms: binary search, one call per (century, dim) concerned
            row, dim = np.divmod(wide, d)
            cells = cell[dim] if cell.ndim == 1 else cell[row, dim]
            keys = uniforms.ravel()[wide]
            cdf = self.cdf.reshape(-1, self.cdf.shape[-1])
            for c in np.unique(cells).tolist():
                pick = cells == c
                hits.put(wide[pick], cdf[c].searchsorted(keys[pick], side="right"))
        return hits / self.counts
