"""An exact binomial sampler for compiled envs: alias tables on a probability grid, then thinning.

``jax.random.binomial`` samples by rejection inside ``while`` loops; vmapped over thousands of envs on
a CPU every lane pays for the slowest, and it caps the twin at ~0.2 M draws/s. This sampler draws
X ~ Binomial(n, p) with a fixed, small amount of branch-free work per draw, in three parts:

1. **Symmetry**: for p > 1/2 draw the failures, X = n - Binomial(n, 1 - p), so q = min(p, 1 - p) <= 1/2.
2. **Grid point**: Y ~ Binomial(n, q_lo), q_lo = floor(q G) / G the grid point below q (G = :data:`GRID`
   points per unit, a power of two, so q_lo is exact), from Walker's alias table of that grid point: one
   32-bit word picks a cell (its top bits) and compares its low bits with the cell's threshold; one
   table lookup, no search.
3. **Thinning**: each of the n - Y failures succeeds again with s = (q - q_lo) / (1 - q_lo) < 2 / G, so
   Z ~ Binomial(n - Y, s) has mean < 2 n / G; Z is found by inversion from 0 in a ``while`` loop that
   ends when every lane has its value (a few steps: almost every Z is 0).

X = Y + Z is Binomial(n, q) exactly (each query succeeds with q_lo + (1 - q_lo) s = q, independently:
binomial thinning), up to the rounding of the tables (thresholds of ``32 - log2 K`` bits) and float32
arithmetic in the thinning step: differences far below what any statistical test of the episodes can
see (``tests/test_functional_binomial.py`` checks the tables against the analytic pmf and the draws by
chi-square). The same two-stage idea is numpy's :class:`progressgym_env.elicitation.GridBinomial`,
which searches CDFs with guide tables instead: a search is cheap in a numpy loop, a lookup in XLA.

Tables are built once per distinct count with numpy (Robin Hood construction of the alias tables,
vectorised over the grid points) and cached; counts above :data:`MAX_COUNT` use ``jax.random.binomial``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from scipy import stats

GRID = 1 << 12
"""Grid points per unit probability: q_lo = floor(q G) / G (exact in float32: G is a power of two)."""
MAX_COUNT = 1 << 10
"""Largest per-dim count tabulated (the tables hold (G / 2 + 1) x K words per distinct count)."""
WORD_BITS = 32


def cells_for(count: int) -> int:
    """Alias cells per table: the smallest power of two >= count + 1 (a cell is then picked by top bits)."""
    return 1 << int(count).bit_length()


def alias_tables(pmf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker alias tables of the rows of ``pmf`` (M, K), each summing to 1: (threshold, alias), both (M, K).

    Cell j of a row returns j with probability ``threshold[j]`` and ``alias[j]`` otherwise, so outcome k
    has probability ``(threshold[k] + sum over cells j with alias[j] = k of (1 - threshold[j])) / K``,
    which is ``pmf[k]`` (Robin Hood construction: at each step the poorest unfinished cell, whose scaled
    mass is <= 1, is topped up from the richest, whose mass is >= 1; vectorised over the rows).
    """
    rows, cells = pmf.shape
    mass = pmf.astype(np.float64) * cells
    threshold = np.ones((rows, cells))
    alias = np.tile(np.arange(cells), (rows, 1))
    finished = np.zeros((rows, cells), dtype=bool)
    every = np.arange(rows)
    for _ in range(cells - 1):
        poorest = np.argmin(np.where(finished, np.inf, mass), axis=1)
        richest = np.argmax(np.where(finished, -np.inf, mass), axis=1)
        give = mass[every, poorest]
        threshold[every, poorest] = np.minimum(give, 1.0)
        alias[every, poorest] = richest
        finished[every, poorest] = True
        mass[every, richest] -= 1.0 - give
    return threshold, alias


def implied_pmf(threshold: np.ndarray, alias: np.ndarray) -> np.ndarray:
    """The distribution the alias tables (M, K) sample from (M, K): the inverse of :func:`alias_tables`."""
    rows, cells = threshold.shape
    pmf = threshold.copy()
    np.add.at(pmf, (np.repeat(np.arange(rows), cells), alias.ravel()), (1.0 - threshold).ravel())
    return pmf / cells


def packed_words(threshold: np.ndarray, alias: np.ndarray) -> np.ndarray:
    """Each cell as one uint32: its alias in the top ``log2 K`` bits, its threshold in the low bits
    (a cell that always returns itself gets itself as alias, so the threshold never needs the extra bit)."""
    cells = threshold.shape[1]
    low_bits = WORD_BITS - (cells.bit_length() - 1)
    scale = float(1 << low_bits)
    keep = np.rint(threshold * scale)
    own = np.broadcast_to(np.arange(cells), alias.shape)
    alias = np.where(keep >= scale, own, alias)  # threshold 1: the cell is its own alias
    keep = np.minimum(keep, scale - 1)
    return (alias.astype(np.uint64) << np.uint64(low_bits) | keep.astype(np.uint64)).astype(np.uint32)


@functools.lru_cache(maxsize=16)
def grid_table(count: int, cells: int) -> np.ndarray:
    """The packed alias tables (G / 2 + 1, cells) of Binomial(count, g / G) for g = 0 .. G / 2 (cached)."""
    grid = np.arange(GRID // 2 + 1) / GRID
    pmf = np.zeros((grid.size, cells))
    pmf[:, : count + 1] = stats.binom.pmf(np.arange(count + 1)[None, :], count, grid[:, None])
    pmf /= pmf.sum(axis=1, keepdims=True)
    return packed_words(*alias_tables(pmf))


@struct.dataclass
class BinomialTables:
    """The alias tables of a split of the query budget, one block per distinct count.

    :param words: (C, G / 2 + 1, K) packed cells of the C distinct counts (K cells for the largest count;
        the cells past a smaller count's outcomes hold no mass).
    :param table_of_dim: (d,) which count's tables each dimension reads.
    :param counts: (d,) the queries of each dimension (float32).
    :param low_bits: threshold bits of a packed cell (32 - log2 K).
    """

    words: jax.Array
    table_of_dim: jax.Array
    counts: jax.Array
    low_bits: int = struct.field(pytree_node=False, default=WORD_BITS)


def tables_for(counts: np.ndarray) -> BinomialTables | None:
    """The tables of per-dim ``counts`` (d,), or None when a count exceeds :data:`MAX_COUNT`."""
    counts = np.asarray(counts, dtype=np.int64)
    if counts.max() > MAX_COUNT:
        return None
    distinct = sorted({int(c) for c in counts})
    cells = cells_for(max(distinct))
    words = np.stack([grid_table(count, cells) for count in distinct])
    table_of_dim = np.array([distinct.index(int(c)) for c in counts], dtype=np.int32)
    return BinomialTables(jnp.asarray(words), jnp.asarray(table_of_dim), jnp.asarray(counts, jnp.float32),
                          WORD_BITS - (cells.bit_length() - 1))


WORDS_PER_DRAW = 2
"""Random 32-bit words one draw consumes: the alias cell and the thinning uniform."""


def uniform_from(words: jax.Array) -> jax.Array:
    """Uniform float32 numbers in [0, 1) from uint32 words (their top 23 bits, as ``jax.random.uniform``)."""
    bits = jnp.right_shift(words, jnp.uint32(9)) | jnp.uint32(0x3F800000)
    return jax.lax.bitcast_convert_type(bits, jnp.float32) - 1.0


def sample(tables: BinomialTables, probabilities: jax.Array, words: jax.Array) -> jax.Array:
    """Counts X_i ~ Binomial(counts_i, p_i) for the dims' probabilities (..., d), float32.

    :param words: (..., d, :data:`WORDS_PER_DRAW`) uint32 random words (each draw uses its own two).
    """
    counts = tables.counts
    p = jnp.clip(probabilities.astype(jnp.float32), 0.0, 1.0)
    flipped = p > 0.5
    q = jnp.where(flipped, 1.0 - p, p)
    grid = jnp.minimum(jnp.floor(q * GRID), GRID // 2)
    q_lo = grid / GRID
    cell = jnp.right_shift(words[..., 0], jnp.uint32(tables.low_bits)).astype(jnp.int32)
    rows, cells = tables.words.shape[1:]
    packed = tables.words.reshape(-1)[(tables.table_of_dim * rows + grid.astype(jnp.int32)) * cells + cell]
    low_mask = jnp.uint32((1 << tables.low_bits) - 1)
    keep = (words[..., 0] & low_mask) < (packed & low_mask)
    grid_count = jnp.where(keep, cell, jnp.right_shift(packed, jnp.uint32(tables.low_bits)).astype(jnp.int32))
    trials = counts - grid_count.astype(jnp.float32)
    thinned = _thinning(trials, jnp.maximum((q - q_lo) / (1.0 - q_lo), 0.0), uniform_from(words[..., 1]))
    successes = grid_count.astype(jnp.float32) + thinned
    return jnp.where(flipped, counts - successes, successes)


def _thinning(trials: jax.Array, s: jax.Array, u: jax.Array) -> jax.Array:
    """Z ~ Binomial(trials, s) by inversion of ``u`` from 0 (s small: Z is almost always 0, and the loop,
    which runs until every lane has found its value, ends after a few steps; measured faster than
    unrolling its first terms)."""
    ratio = s / (1.0 - s)
    term = jnp.exp(trials * jnp.log1p(-s))  # P(Z = 0)
    z = jnp.zeros_like(trials)
    found = (u < term) | (trials <= 0.0)

    Carry = tuple[jax.Array, jax.Array, jax.Array, jax.Array]  # (z, left, term, found)

    def more(carry: Carry) -> jax.Array:
        return ~jnp.all(carry[3])

    def step(carry: Carry) -> Carry:
        z, left, term, found = carry
        k = z + 1.0
        left = jnp.where(found, left, left - term)
        term = jnp.where(found, term, term * ratio * (trials - k + 1.0) / k)
        z = jnp.where(found, z, k)
        return z, left, term, found | (left < term) | (k >= trials)

    return jax.lax.while_loop(more, step, (z, u, term, found))[0]
