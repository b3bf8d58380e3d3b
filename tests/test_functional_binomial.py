"""The twin's random draws: the exact binomial sampler (alias tables and thinning), its words and normals.

Slow tier (imports JAX; the default suite never does): skipped without the ``jax`` extra.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

pytestmark = pytest.mark.slow
jax: Any = None
jnp: Any = None
binomial: Any = None


@pytest.fixture(autouse=True, scope="module")
def _jax_extra() -> None:
    global jax, jnp, binomial
    jax = pytest.importorskip("jax")
    pytest.importorskip("flax")
    jnp = pytest.importorskip("jax.numpy")
    from progressgym_env.functional import binomial


def test_alias_tables_of_a_hand_case() -> None:
    """pmf (0.1, 0.2, 0.3, 0.4) over 4 cells: scaled masses 0.4, 0.8, 1.2, 1.6. Robin Hood: cell 0 (0.4) takes
    0.6 from cell 3 (1.6 -> 1.0); cell 1 (0.8) takes 0.2 from cell 2 (1.2 -> 1.0); then cells 2, 3 keep all."""
    threshold, alias = binomial.alias_tables(np.array([[0.1, 0.2, 0.3, 0.4]]))
    np.testing.assert_allclose(threshold[0], [0.4, 0.8, 1.0, 1.0])
    assert alias[0, 0] == 3 and alias[0, 1] == 2
    np.testing.assert_allclose(binomial.implied_pmf(threshold, alias)[0], [0.1, 0.2, 0.3, 0.4], atol=1e-15)


@pytest.mark.parametrize("count", [1, 8, 102, 103, 300])
def test_packed_grid_tables_sample_the_binomial_of_every_grid_point(count: int) -> None:
    words = binomial.grid_table(count, binomial.cells_for(count))
    low_bits = binomial.WORD_BITS - (binomial.cells_for(count).bit_length() - 1)
    threshold = (words & np.uint32((1 << low_bits) - 1)) / float(1 << low_bits)
    alias = (words >> np.uint32(low_bits)).astype(np.int64)
    implied = binomial.implied_pmf(threshold, alias)
    grid = np.arange(binomial.GRID // 2 + 1) / binomial.GRID
    exact = np.zeros_like(implied)
    exact[:, : count + 1] = stats.binom.pmf(np.arange(count + 1)[None, :], count, grid[:, None])
    # thresholds have 32 - log2(cells) bits: each outcome is off by at most a few 2^-(low bits) / cells
    assert np.abs(implied - exact).max() < 4.0 / (1 << low_bits)


def _draws(counts: list[int], p: float, n: int, seed: int = 0) -> np.ndarray:
    tables = binomial.tables_for(np.array(counts))
    words = jax.random.bits(jax.random.PRNGKey(seed), (n, len(counts), binomial.WORDS_PER_DRAW), jnp.uint32)
    probabilities = jnp.full((n, len(counts)), p, jnp.float32)
    return np.asarray(jax.jit(lambda w: binomial.sample(tables, probabilities, w))(words))


def _chi_square_pvalue(draws: np.ndarray, count: int, p: float) -> float:
    expected = stats.binom.pmf(np.arange(count + 1), count, p) * draws.size
    observed = np.bincount(draws.astype(np.int64), minlength=count + 1)[: count + 1]
    assert observed.sum() == draws.size  # every draw is an integer in 0..count
    keep = expected > 5
    if keep.sum() < 2:  # a (nearly) deterministic case: all mass on one outcome
        return float(observed[np.argmax(expected)] == draws.size)
    rest = draws.size - observed[keep].sum(), draws.size - expected[keep].sum()  # pooled tail cell
    chi = ((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum() + (rest[0] - rest[1]) ** 2 / max(rest[1], 1)
    return float(stats.chi2.sf(chi, keep.sum()))


@pytest.mark.parametrize("p", [0.0, 1.0, 1e-6, 0.25, 0.3337, 0.5, 0.5 + 2**-13, 0.77, 0.999])
def test_draws_are_binomial(p: float) -> None:
    """200,000 draws of each of two counts (one split of the budget 512 over 5 dims) against the pmf."""
    draws = _draws([103, 102], p, 100_000)
    assert draws.dtype == np.float32 and np.all(draws == np.rint(draws))
    for dim, count in enumerate([103, 102]):
        assert _chi_square_pvalue(draws[:, dim], count, p) > 1e-3, (p, count)
    assert _chi_square_pvalue(draws[:, 0], 103, min(1.0, p + 0.01)) < 1e-3 or p in (0.0, 1.0)  # the test can fail


@pytest.mark.parametrize(("trials", "s"), [(500, 0.01), (40, 0.2), (3, 0.9), (0, 0.3)])
def test_thinning_is_binomial_at_large_means(trials: int, s: float) -> None:
    """The thinning step alone, at means (5, 8, 2.7) far above what the grid leaves it (< 0.5), so the loop
    runs many steps; a zero-trial draw is 0."""
    u = binomial.uniform_from(jax.random.bits(jax.random.PRNGKey(7), (100_000,), jnp.uint32))
    z = np.asarray(jax.jit(lambda u: binomial._thinning(jnp.full(u.shape, float(trials)), jnp.full(u.shape, s), u))(u))
    if trials == 0:
        assert np.all(z == 0)
        return
    assert _chi_square_pvalue(z, trials, s) > 1e-3
    assert _chi_square_pvalue(z, trials, s * 1.05) < 1e-3  # the test can tell a 5% larger s


def test_counts_past_the_tables_fall_back_to_jax_random_binomial() -> None:
    from progressgym_env.functional import make_func_env

    assert binomial.tables_for(np.array([binomial.MAX_COUNT + 1, 5])) is None
    env = make_func_env("follow", history="corpus", query_budget=5 * (binomial.MAX_COUNT + 1))
    assert env.answer_tables is None and env.answer_words == 1
    state = env.initial(jax.random.PRNGKey(0))
    counts = np.asarray(env.observation(state))[:5] * (binomial.MAX_COUNT + 1)
    np.testing.assert_allclose(counts, np.rint(counts), atol=1e-2)  # shares of whole answer counts


@pytest.mark.parametrize("count", [1, 2, 3, 16, 17])
def test_key_words_are_jax_random_bits(count: int) -> None:
    """The unrolled hash gives exactly JAX's words (``jax.random.bits`` with the original counter layout), also
    jitted and vmapped, for raw and typed keys; another key type falls back to ``jax.random.bits``."""
    from progressgym_env.functional.random_words import key_words

    keys = jax.random.split(jax.random.PRNGKey(count), 5)
    with jax.threefry_partitionable(False):
        expected = jax.vmap(lambda key: jax.random.bits(key, (count,), jnp.uint32))(keys)
        typed = jax.random.key(11)
        typed_expected = jax.random.bits(typed, (count,), jnp.uint32)
    np.testing.assert_array_equal(jax.jit(jax.vmap(lambda key: key_words(key, count)))(keys), expected)
    np.testing.assert_array_equal(key_words(typed, count), typed_expected)
    rbg = jax.random.key(11, impl="rbg")
    np.testing.assert_array_equal(key_words(rbg, count), jax.random.bits(rbg, (count,), jnp.uint32))
    assert len(set(np.asarray(expected).ravel().tolist())) == expected.size  # distinct words: the test can fail


def test_normals_from_words_are_standard_normal() -> None:
    from progressgym_env.functional.twin import ProgressGymFuncEnv

    words = jax.random.bits(jax.random.PRNGKey(5), (200_000,), jnp.uint32)
    z = np.asarray(jax.jit(ProgressGymFuncEnv.normals)(words), dtype=np.float64)
    assert np.all(np.isfinite(z))
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert stats.kstest(z * 1.02, "norm").pvalue < 1e-3  # the test tells a 2% wider spread
