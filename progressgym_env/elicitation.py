"""Preference elicitation: how an agent sees human values only through a finite sample of answers.

A per-century query budget is split evenly across the d dimensions; the estimate of dimension i is
the share of "upholds value i" answers among its n_i queries. ``binomial`` samples that share
exactly; ``normal`` is an explicit faster approximation (clipped to [0, 1]). A budget of ``None``
gives the agent the exact vector (no noise, 0 queries): useful for debugging, not for benchmarks.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable

import numpy as np

from progressgym_env import compiled, kernels
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
            if values.shape != counts.shape:
                raise ValueError(f"values {values.shape} and counts {counts.shape} differ in length")
            return ScalarBinomialShares(counts)(rng, values)  # (repeated calls: keep a share_sampler)
        return rng.binomial(counts, values) / counts
    if method == "normal":
        return kernels.normal_shares(values, rng.standard_normal(np.shape(values)), counts, np)
    raise ConfigError(f"unknown elicitation method {method!r}; choose one of {ELICITATION_METHODS}")


class ScalarBinomialShares:
    """One respondent's binomial answer shares (d,) for fixed per-dim ``counts``, by d scalar draws.

    Scalar ``Generator.binomial`` calls skip the array call's argument checks (microseconds at this
    size) and give its draws in its order (both walk the dims in turn). Each probability goes to the
    call as a 0-d view of one buffer and each count as a 0-d int64 array, so numpy converts no Python
    number (~0.1 µs a draw less): the same sampler, the same draws. Shares are divided in Python:
    int / int is the correctly rounded quotient, as numpy's is.

    An instance keeps a buffer: give each env (each thread) its own (:func:`share_sampler`).

    :param counts: queries per dim (d,), as :func:`split_queries` gives them.
    """

    def __init__(self, counts: np.ndarray) -> None:
        self._counts: list[int] = np.asarray(counts, dtype=np.int64).tolist()
        self._count_arrays = [np.array(count, dtype=np.int64) for count in self._counts]
        self._values = np.empty(len(self._counts))
        self._value_views = [self._values[i, ...] for i in range(len(self._counts))]

    def __reduce__(self) -> tuple[type, tuple[np.ndarray]]:
        """Copies and pickles are built afresh from the counts (a copied view would not see the new buffer)."""
        return type(self), (np.array(self._counts, dtype=np.int64),)

    def __call__(self, rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
        """The shares of a respondent holding ``values`` (d,), probabilities in [0, 1]."""
        self._values[:] = values
        draws = map(rng.binomial, self._count_arrays, self._value_views)
        return np.array(list(map(operator.truediv, draws, self._counts)))


def share_sampler(counts: np.ndarray, method: str) -> Callable[[np.random.Generator, np.ndarray], np.ndarray]:
    """``sample_shares(rng, values, counts, method)`` for one respondent's values (d,), with ``counts`` and
    ``method`` fixed: what a single env's backend calls every century (the same draws, fewer checks)."""
    if method == "binomial" and counts.shape[0] <= _SCALAR_DRAWS:
        return ScalarBinomialShares(counts)
    if method not in ELICITATION_METHODS:
        raise ConfigError(f"unknown elicitation method {method!r}; choose one of {ELICITATION_METHODS}")
    return functools.partial(sample_shares, counts=counts, method=method)  # (a partial pickles, a lambda not)


def _binomial_cdfs(p: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cumulative binomial distributions, shape (..., len(counts), max count + 1), each row ending at 1.0.

    Row (..., j) is P(X <= k) for X ~ Binomial(counts[j], p[..., j]), k = 0..max count (1.0 past the
    row's own count). Computed from log-factorials, so it is exact up to float64 rounding.
    """
    top = int(counts.max())
    k = np.arange(top + 1)
    log_fact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1.0, top + 1)))])
    n = counts[:, None]
    p = p[..., None]
    inside = k <= n
    rest = np.where(inside, n - k, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_pmf = (
            log_fact[n] - log_fact[k] - log_fact[rest]
            + np.where(k > 0, k * np.log(p), 0.0)  # 0 * log 0 = 0: p = 0 gives k = 0 surely
            + np.where(rest > 0, rest * np.log1p(-p), 0.0)
        )
    cdf = np.cumsum(np.where(inside, np.exp(log_pmf), 0.0), axis=-1)
    return cdf / cdf[..., -1:]  # ends at exactly 1.0, so a uniform in [0, 1) always lands


class GuidedSearch:
    """``searchsorted(cdf[c], u, side="right")`` for many (u, c) pairs at once, by a guide table.

    For a uniform u in bucket g = floor(u * G) of row c, the answer #{cdf <= u} lies between
    start = #{cdf <= g / G} and #{cdf < (g + 1) / G}. Where that range is at most one step wide, one
    vectorised comparison from ``start`` finds it; the rare uniforms of wider buckets (the far tails)
    get a vectorised binary search. Exactly the answers of ``searchsorted``: u * G is exact (G is a
    power of two).

    :param cdf: cumulative distributions (cells, width), each row non-decreasing and ending at 1.0.
    :param guide_size: buckets per row (a power of two).
    """

    def __init__(self, cdf: np.ndarray, guide_size: int) -> None:
        self.cdf = cdf
        self.guide_size = guide_size
        cells, width = cdf.shape
        grid = np.arange(guide_size + 1) / guide_size
        lower = np.stack([row.searchsorted(grid[:-1], side="right") for row in cdf])
        upper = np.stack([row.searchsorted(grid[1:], side="left") for row in cdf])
        small = np.int16 if width < np.iinfo(np.int16).max else np.int64  # a compact table stays in cache
        # -1 marks a wide bucket (one table lookup gives both the start and the flag).
        self._guide: np.ndarray = np.where(upper - lower > 1, -1, lower).ravel().astype(small)
        # The rows flattened, each padded with one +inf so a comparison never steps past its row.
        self._width = width + 1
        self._flat_cdf = np.concatenate([cdf, np.full((cells, 1), np.inf)], axis=1).ravel()
        self._search_steps = int(width).bit_length()

    def search(self, uniforms: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """#{cdf[cell] <= u} for each uniform in [0, 1) (``cell`` broadcasts against ``uniforms``).

        Large (rows, d) batches run the compiled loop where numba is installed (the same answers,
        see :mod:`progressgym_env.compiled`); everything else the numpy path, :meth:`search_numpy`.
        """
        if uniforms.ndim == 2 and uniforms.size >= compiled.MIN_SIZE:
            kernel = compiled.guided_search_kernel()
            if kernel is not None:
                cells = np.ascontiguousarray(np.asarray(cell, dtype=np.intp).reshape(-1, uniforms.shape[1]))
                if cells.shape[0] not in (1, uniforms.shape[0]):
                    cells = np.ascontiguousarray(np.broadcast_to(cells, uniforms.shape))
                hits: np.ndarray = kernel(
                    np.ascontiguousarray(uniforms), cells, self._guide, self._flat_cdf, self.guide_size, self._width
                )
                return hits
        return self.search_numpy(uniforms, cell)

    def search_numpy(self, uniforms: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """:meth:`search` in numpy alone (the reference the compiled loop must equal)."""
        bucket = (uniforms * self.guide_size).astype(np.intp)
        bucket += cell * self.guide_size
        hits = self._guide.take(bucket)
        wide = (hits < 0).ravel().nonzero()[0]
        hits.put(wide, 0)  # any valid start: these are searched below
        row_start = cell * self._width
        hits += self._flat_cdf.take(hits + row_start) <= uniforms
        if wide.size:  # far-tail uniforms: binary search over their rows, all at once
            keys = uniforms.ravel()[wide]
            start = np.broadcast_to(row_start, uniforms.shape).ravel()[wide]
            low, high = np.zeros(wide.size, dtype=np.intp), np.full(wide.size, self._width - 2, dtype=np.intp)
            for _ in range(self._search_steps):  # invariant: the answer lies in [low, high]
                middle = (low + high) >> 1
                right = self._flat_cdf.take(start + middle) <= keys
                low = np.where(right, middle + 1, low)
                high = np.where(right, high, middle)
            hits.put(wide, low)
        return hits


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

    def __init__(self, values: np.ndarray, counts: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.cdf = _binomial_cdfs(values, self.counts)
        self._search = GuidedSearch(self.cdf.reshape(-1, self.cdf.shape[-1]), self.GUIDE_SIZE)

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
        return self._search.search(uniforms, cell) / self.counts


class GridBinomial:
    """Exact binomial answer shares for probabilities that change every step (a simulated human).

    A draw of X ~ Binomial(n, p) in two parts, both by inversion of a uniform number:

    1. Y ~ Binomial(n, p_lo), p_lo = floor(p G) / G the grid point below p, from tabulated CDFs of the
       G + 1 grid points (a :class:`GuidedSearch`);
    2. each of the n - Y failures succeeds again with s = (p - p_lo) / (1 - p_lo), so
       Z ~ Binomial(n - Y, s), by a sequential search from 0: s < 1 / (G (1 - p_lo)) is small, so
       almost every Z is 0 or 1 and the search ends after a step or two.

    X = Y + Z is then Binomial(n, p) exactly: every query succeeds with p_lo + (1 - p_lo) s = p,
    independently (binomial thinning), up to float64 rounding of the CDFs, as for
    :class:`BinomialTable`. Each call takes exactly two uniforms per draw from the generator, so a
    seed gives the same draws whatever the probabilities. Three to four times cheaper than
    ``rng.binomial`` with a new probability per draw, which sets its BTPE sampler up each time.

    Building one takes ~0.1 s: :meth:`for_counts` keeps one per split of the budget (it is read-only).

    :param counts: queries per dim (d,), as :func:`split_queries` gives them (each <= :attr:`MAX_COUNT`).
    """

    GRID = 1 << 8
    """Grid points per unit probability (a power of two, so floor(p G) / G is exact). Few enough that
    the tables (~0.5 MB at 512 queries) stay in cache beside the rest of a step; a finer grid makes
    fewer thinning steps but measured no faster."""
    GUIDE_SIZE = 1 << 7
    """Guide buckets per (grid point, count) row."""
    MAX_COUNT = 1 << 10
    """Largest per-dim count tabulated: the table holds (G + 1) x counts x (count + 1) floats."""
    MIN_DRAWS = 1024
    """Fewest draws per call worth the table's fixed cost (about twenty numpy calls): smaller batches
    (a vector env of fewer than ~200 sub-envs) draw with ``rng.binomial``, also exact."""

    def __init__(self, counts: np.ndarray) -> None:
        self.counts = np.asarray(counts, dtype=np.int64)
        distinct, self._count_index = np.unique(self.counts, return_inverse=True)
        self._distinct = len(distinct)
        grid = np.arange(self.GRID + 1) / self.GRID
        cdf = _binomial_cdfs(np.repeat(grid[:, None], self._distinct, axis=1), distinct)  # (G + 1, C, width)
        self._search = GuidedSearch(cdf.reshape(-1, cdf.shape[-1]), self.GUIDE_SIZE)

    @classmethod
    def fits(cls, counts: np.ndarray) -> bool:
        """Whether a table for these per-dim counts stays small (at most :attr:`MAX_COUNT` each)."""
        return int(np.max(counts)) <= cls.MAX_COUNT

    @staticmethod
    def for_counts(counts: np.ndarray) -> GridBinomial:
        """The shared sampler of these per-dim counts (built on first use)."""
        return _grid_binomial(tuple(np.asarray(counts, dtype=np.int64).tolist()))

    def sample_shares(self, rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
        """Observed shares (rows, d) of respondents holding ``values`` (rows, d), probabilities in [0, 1]."""
        uniforms = rng.random((2, *values.shape))
        kernel = compiled.grid_binomial_kernel() if values.ndim == 2 and values.size >= compiled.MIN_SIZE else None
        if kernel is not None:
            search = self._search
            first, again, going = kernel(
                np.ascontiguousarray(values, dtype=np.float64), uniforms[0], uniforms[1], self.GRID, self._distinct,
                self._count_index, self.counts, search._guide, search._flat_cdf, search.guide_size, search._width,
            )
        else:
            first, again, going = self.first_stage(values, uniforms)
        first += _thinning_draws(uniforms[1], self.counts - first, again, going)
        return first / self.counts

    def first_stage(self, values: np.ndarray, uniforms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The table draw Y, the thinning probability s, and where Z may be > 0 (flat indices), in numpy.

        The compiled loop (:mod:`progressgym_env.compiled`) gives the same three arrays.
        """
        scaled = values * self.GRID
        point = scaled.astype(np.intp)  # floor: values are >= 0
        below = point / self.GRID
        point *= self._distinct
        point += self._count_index
        first = self._search.search(uniforms[0], point)
        with np.errstate(divide="ignore", invalid="ignore"):  # p = 1: nothing left to thin (s = 0)
            again = np.where(below < 1.0, (values - below) / (1.0 - below), 0.0)
        mean = (self.counts - first) * again
        # P(Z = 0) = (1 - s)^m >= 1 - m s (Bernoulli's inequality): every u below that bound is a 0.
        going = (uniforms[1] >= 1.0 - mean).ravel().nonzero()[0]
        return first, again, going


def _thinning_draws(uniforms: np.ndarray, trials: np.ndarray, p: np.ndarray, going: np.ndarray) -> np.ndarray:
    """Binomial(trials, p) draws by inversion from 0 (the smallest k with u < P(X <= k)), all 0 outside
    the flat indices ``going`` (where u is below 1 - trials p, a bound on P(X = 0)).

    The few others compute P(X = 0) and step on together; a search that rounding keeps below u ends at
    ``trials``.
    """
    draws = np.zeros(uniforms.shape, dtype=np.int64)
    if not going.size:
        return draws
    u, n, q = uniforms.ravel()[going], trials.ravel()[going], p.ravel()[going]
    with np.errstate(divide="ignore"):
        pmf = np.exp(n * np.log1p(-q))  # P(X = 0); p = 1 gives 0 (then X = trials)
    cdf = pmf.copy()
    odds = q / (1.0 - q)
    k = 0
    while True:
        done = u < cdf
        if k:
            done |= k >= n
        if done.any():
            draws.ravel()[going[done]] = k
            keep = ~done
            going, u, n, odds, pmf, cdf = going[keep], u[keep], n[keep], odds[keep], pmf[keep], cdf[keep]
        if not going.size:
            return draws
        k += 1
        pmf *= (n - k + 1) / k * odds
        cdf += pmf


@functools.lru_cache(maxsize=8)
def _grid_binomial(counts: tuple[int, ...]) -> GridBinomial:
    return GridBinomial(np.array(counts, dtype=np.int64))
