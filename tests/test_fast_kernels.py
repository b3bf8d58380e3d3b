"""The throughput shortcuts give exactly the plain numpy answers (bit for bit).

Each fast path in numerics, elicitation and physics is checked against the straightforward numpy
expression it replaces, on shapes and values where the two could plausibly differ (signed zeros,
magnitudes that make summation order visible, p = 0 and 1, broadcast views).
"""

from __future__ import annotations

import numpy as np
import pytest

from progressgym_env import compiled
from progressgym_env.backends.physics import moves_model
from progressgym_env.elicitation import (
    BinomialTable,
    GridBinomial,
    GuidedSearch,
    sample_shares,
    share_sampler,
    split_queries,
)
from progressgym_env.judges import CoevolveJudge, FollowJudge
from progressgym_env.numerics import (
    cosine,
    last_axis_mean,
    last_axis_sum,
    row_squares,
    row_sum,
    sigmoid,
    suffix_max,
)


def _same(a: object, b: object) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return (a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
            and np.array_equal(np.signbit(a), np.signbit(b)))


@pytest.mark.parametrize("d", [1, 2, 3, 5, 7, 8, 19])
def test_last_axis_sum_and_mean_equal_numpy(d: int) -> None:
    rng = np.random.default_rng(d)
    x = rng.standard_normal((256, 3, d)) * 10.0 ** rng.integers(-10, 10, (256, 3, d))  # order-sensitive sums
    x[0] = -0.0  # a sum of -0.0s is +0.0 in numpy
    assert _same(last_axis_sum(x), np.add.reduce(x, axis=-1))
    assert _same(last_axis_mean(x), x.mean(axis=-1))


def test_short_rows_are_summed_in_numpys_order() -> None:
    """1-D sums of up to 15 entries run in Python floats: numpy's left fold below 8 entries, its eight
    pairwise accumulators from 8 on (a left fold of those eight breaks the 8..15 cases)."""
    rng = np.random.default_rng(3)
    for d in range(1, 18):
        for trial in range(40):
            x = rng.standard_normal(d) * 10.0 ** rng.integers(-12, 12, d)  # order-sensitive sums
            if trial < 3:
                x[trial % d:] = -0.0
            if trial == 3:
                x[-1] = np.inf
            if trial == 4:
                x[0] = np.nan
            expected = np.add.reduce(x)
            found = row_sum(x)
            assert type(found) is float and _same(found, expected)
            assert _same(last_axis_sum(x), expected) and type(last_axis_sum(x)) is np.float64
            assert _same(last_axis_mean(x), x.mean())


def _plain_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    a, b = a.copy(), b.copy()
    dot = np.add.reduce(a * b, axis=-1)
    norms = np.sqrt(np.add.reduce(a * a, axis=-1) * np.add.reduce(b * b, axis=-1))
    return np.where(norms > 0, dot / np.where(norms > 0, norms, 1.0), 0.0)


def test_cosine_of_broadcast_views_equals_materialised_arrays() -> None:
    rng = np.random.default_rng(0)
    history = rng.random((9, 5))
    batch = np.broadcast_to(history, (512, 9, 5))  # the vector env's fixed history
    models = rng.random((512, 5))
    models[3] = 0.0  # a zero vector scores 0
    simulated = rng.random((512, 5))[:, None, :]
    for a, b in [(batch[:, 4], models), (simulated, batch), (np.broadcast_to(history[0], (512, 5)), batch[:, 2]),
                 (history[0], models), (models - 0.5, batch[:, 1] - 0.5)]:
        assert _same(cosine(a, b), _plain_cosine(a, b))
        assert _same(cosine(b, a), _plain_cosine(b, a))
    assert cosine(history[0], history[1]) == float(_plain_cosine(history[0], history[1]))


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_small_cosines_equal_the_plain_numpy_cosine() -> None:
    """Two vectors (Python floats) and one vector against a few rows (with and without kept row norms)."""
    rng = np.random.default_rng(4)
    for d in (1, 2, 5, 7, 8, 19):
        for trial in range(30):
            a, b = rng.standard_normal(d) * 10.0 ** rng.integers(-5, 5, d), rng.random(d)
            if trial == 0:
                a[:] = 0.0  # a zero vector scores 0
            if trial == 1:
                b[0] = np.nan
            if trial == 2:
                a[:] = 1e200  # the squared norms overflow
            found = cosine(a, b)
            assert type(found) is float and _same(found, _plain_cosine(a, b))
            rows = rng.random((int(rng.integers(1, 40)), d))
            if trial % 3 == 0:
                rows[-1] = 0.0
            if trial % 5 == 0:
                rows[trial % len(rows), 0] = np.nan  # (not only first: Python's min skips a later NaN)
            for one, many in [(a[None, :], rows), (a[None, :], rows[:1])]:
                expected = _plain_cosine(one, many)
                assert _same(cosine(one, many), expected)
                assert _same(cosine(one, many, row_squares(many)), expected)
    assert row_squares(rng.random((40, 5))) is None and row_squares(rng.random(5)) is None  # not that path


def test_sigmoid_constants_as_arrays_give_the_float_constants_bits() -> None:
    x = np.random.default_rng(5).standard_normal(4096) * 20
    assert _same(sigmoid(x), 0.5 * (1.0 + np.tanh(0.5 * x)))
    x32 = x.astype(np.float32)
    assert _same(sigmoid(x32), 0.5 * (1.0 + np.tanh(0.5 * x32)))  # float32 stays float32
    assert _same(sigmoid(x[3]), 0.5 * (1.0 + np.tanh(0.5 * x[3])))


def test_a_kept_share_sampler_draws_as_sample_shares() -> None:
    counts = split_queries(512, 5)
    for method in ("binomial", "normal"):
        sampler = share_sampler(counts, method)
        fast, plain = np.random.default_rng(7), np.random.default_rng(7)
        for step in range(40):  # one buffer, new values every call
            values = np.random.default_rng(step).random(5)
            values[step % 5] = float(step % 2)  # p = 0 and 1
            assert _same(sampler(fast, values), sample_shares(plain, values, counts, method))
        assert fast.random() == plain.random()
    with pytest.raises(ValueError, match="differ in length"):
        sample_shares(np.random.default_rng(0), np.full(3, 0.5), counts)


def test_one_historys_normalized_score_equals_the_batched_formula() -> None:
    rng = np.random.default_rng(6)
    history = np.cumsum(rng.random((9, 5)), axis=0) / 9
    for judge in (FollowJudge(history), CoevolveJudge(history), FollowJudge(np.full((9, 5), 0.5))):  # last: span 0
        for score in (0.9, 0.951, 0.99, 1.0, float(rng.random())):
            assert _same(judge.normalized_score(score), float(judge.normalized_scores(score)))
        judge.set_histories(..., history[::-1].copy())  # new histories: new normalizers
        assert _same(judge.normalized_score(0.97), float(judge.normalized_scores(0.97)))


def test_binomial_table_answers_equal_a_binary_search_of_its_cdf() -> None:
    values = np.vstack([np.random.default_rng(1).random((9, 5)), [[0.0, 1.0, 0.5, 1e-6, 1 - 1e-6]]])
    for budget in (5, 512, 4096):
        counts = split_queries(budget, 5)
        table = BinomialTable(values, counts)
        cases: list[tuple[int, int | np.ndarray]] = [(0, 3), (1, 9), (2, np.array([9, 0, 4, 9] * 5_000))]
        for seed, t in cases:
            rows = 20_000  # enough uniforms to reach the far-tail buckets
            shares = table.sample_shares(np.random.default_rng(seed), t, rows)
            uniforms = np.random.default_rng(seed).random((rows, 5))
            centuries = np.broadcast_to(np.asarray(t), (rows,))
            hits = np.zeros((rows, 5), dtype=np.int64)
            for c in np.unique(centuries).tolist():
                at = centuries == c
                for i in range(5):
                    hits[at, i] = table.cdf[c, i].searchsorted(uniforms[at, i], side="right")
            assert np.array_equal(shares, hits / counts)


@pytest.mark.parametrize("d", [5, 8, 19])
def test_one_respondent_draws_equal_the_array_call(d: int) -> None:
    counts = split_queries(512, d)
    for seed in range(50):
        values = np.random.default_rng(seed + 100).random(d)
        values[0], values[-1] = (0.0, 1.0) if seed % 2 else (1e-6, 0.5)
        fast, plain = np.random.default_rng(seed), np.random.default_rng(seed)
        for _ in range(3):
            assert _same(sample_shares(fast, values, counts), plain.binomial(counts, values) / counts)
        assert fast.random() == plain.random()  # the generators stay in step


def test_moves_model_batch_equals_count_nonzero() -> None:
    rng = np.random.default_rng(0)
    for shape in [(256, 5), (64, 19), (10, 1), (7, 40)]:
        actions = ((rng.random(shape) < 0.1) * rng.random(shape)).astype(np.float32)
        actions[0], actions[1] = -0.0, 0.0
        actions[2, 0] = np.nan
        assert _same(moves_model(actions), np.count_nonzero(actions, axis=-1) > 0)
    assert moves_model(np.zeros(5, dtype=np.float32)) is False
    assert moves_model(np.array([0, 0, -0.5], dtype=np.float32)) is True


def test_guided_search_equals_searchsorted_in_every_bucket() -> None:
    """Near, inside and far from the guide's wide (tail) buckets, rows of every shape."""
    rng = np.random.default_rng(3)
    cdf = np.cumsum(rng.random((40, 30)) ** 6, axis=1)  # uneven steps: wide and narrow buckets
    cdf /= cdf[:, -1:]
    cdf[3] = np.r_[np.zeros(29), 1.0]  # all mass on the last count
    cdf[4] = 1.0  # all mass on 0
    search = GuidedSearch(cdf, 64)
    uniforms = np.r_[rng.random(10_000), 0.0, np.nextafter(1.0, 0.0), np.arange(64) / 64][:, None] * np.ones(40)
    cells = np.arange(40)
    expected = np.stack([cdf[c].searchsorted(uniforms[:, c], side="right") for c in cells], axis=1)
    assert np.array_equal(search.search(uniforms, cells), expected)


def _grid_binomial_pmf(sampler: GridBinomial, n: int, p: float) -> np.ndarray:
    """The exact distribution of the grid sampler's count for (n, p): table part, then thinning."""
    from scipy import stats

    grid = sampler.GRID
    below = np.floor(p * grid) / grid
    column = int(np.flatnonzero(np.unique(sampler.counts) == n)[0])
    cdf = sampler._search.cdf.reshape(grid + 1, -1, sampler._search.cdf.shape[-1])[int(p * grid), column]
    first = np.diff(np.r_[0.0, cdf])[: n + 1]
    again = 0.0 if below == 1.0 else (p - below) / (1.0 - below)
    pmf = np.zeros(n + 1)
    for y in range(n + 1):
        pmf[y:] += first[y] * stats.binom.pmf(np.arange(n + 1 - y), n - y, again)
    return pmf


@pytest.mark.parametrize("p", [0.0, 1.0, 0.3337, 1e-6, 1 - 0.5 / GridBinomial.GRID])  # the last: top grid cell
def test_grid_binomial_is_exactly_the_binomial_distribution(p: float) -> None:
    """Table on the grid point below p, then binomial thinning of the failures: Binomial(n, p) exactly
    (to float64 rounding), and the sampled counts follow it."""
    from scipy import stats

    counts = split_queries(512, 5)
    sampler = GridBinomial.for_counts(counts)
    for n in (102, 103):
        np.testing.assert_allclose(_grid_binomial_pmf(sampler, n, p), stats.binom.pmf(np.arange(n + 1), n, p),
                                   rtol=1e-9, atol=1e-15)
    draws = np.rint(sampler.sample_shares(np.random.default_rng(5), np.full((40_000, 5), p)) * counts)
    n = int(counts[0])
    observed = np.bincount(draws[:, :2].astype(int).ravel(), minlength=n + 1)  # two dims with n = 103
    expected = stats.binom.pmf(np.arange(n + 1), n, p) * observed.sum()
    lumped = expected >= 20  # the chi-square test's cells; the rest must be (almost) empty
    assert observed[~lumped].sum() <= max(10.0, 3 * expected[~lumped].sum())
    if lumped.sum() > 1:
        chi2 = ((observed[lumped] - expected[lumped]) ** 2 / expected[lumped]).sum()
        assert stats.chi2.sf(chi2, lumped.sum() - 1) > 1e-4


def test_grid_binomial_takes_two_uniforms_per_draw_whatever_the_values() -> None:
    counts = split_queries(512, 5)
    sampler = GridBinomial.for_counts(counts)
    assert sampler is GridBinomial.for_counts(counts.copy())  # one shared table per split
    for values in (np.zeros((7, 5)), np.random.default_rng(0).random((7, 5))):
        rng = np.random.default_rng(9)
        shares = sampler.sample_shares(rng, values)
        assert shares.shape == (7, 5)
        assert rng.random() == np.random.default_rng(9).random(2 * 7 * 5 + 1)[-1]
    assert GridBinomial.fits(split_queries(4096, 5)) and not GridBinomial.fits(split_queries(10_000, 5))


@pytest.mark.parametrize("shape", [(9,), (3, 9), (512, 9), (64, 3, 9), (200, 40), (100, 1)])
def test_suffix_max_equals_the_reversed_accumulate(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(shape))
    x = np.round(rng.standard_normal(shape), 1)  # ties
    x.ravel()[::7] = -0.0
    x.ravel()[::11] = 0.0
    x.ravel()[5] = np.nan
    expected = np.maximum.accumulate(x[..., ::-1], axis=-1)[..., ::-1]
    found = suffix_max(x)
    assert found.shape == expected.shape and np.array_equal(found, expected, equal_nan=True)
    assert np.array_equal(np.signbit(found), np.signbit(expected))  # -0.0 where numpy keeps it
    assert found is not x


def test_compiled_guided_search_equals_the_numpy_path() -> None:
    """The numba loop (where installed) gives the numpy path's answers: tables of known and of grid
    probabilities, one cell set for every row or one per row, narrow and wide (tail) buckets."""
    pytest.importorskip("numba")
    if compiled.guided_search_kernel() is None:
        pytest.skip(f"{compiled.ENV_VAR}=0 turns the compiled loops off")
    rng = np.random.default_rng(4)
    counts = split_queries(512, 5)
    table = BinomialTable(np.vstack([rng.random((8, 5)), [[0.0, 1.0, 0.5, 1e-6, 1 - 1e-6]]]), counts)
    grid = GridBinomial.for_counts(counts)
    rows = 2 * compiled.MIN_SIZE
    uniforms = rng.random((rows, 5))
    uniforms[:64] = np.arange(64)[:, None] / 64  # bucket edges
    per_row = np.arange(5) + 5 * rng.integers(0, 9, (rows, 1))
    grid_cells = (rng.random((rows, 5)) * grid.GRID).astype(np.intp) * 2 + np.array([1, 1, 0, 0, 0])
    for search, cells in [(table._search, np.arange(5) + 15), (table._search, per_row), (grid._search, grid_cells)]:
        assert np.array_equal(search.search(uniforms, cells), search.search_numpy(uniforms, cells))
    # The grid sampler's fused first stage: table draws, thinning probabilities, rows that may thin.
    values = rng.random((rows, 5))
    values[:3] = [[0.0] * 5, [1.0] * 5, np.arange(5) / grid.GRID]  # certain answers and grid points
    two = rng.random((2, rows, 5))
    kernel = compiled.grid_binomial_kernel()
    assert kernel is not None
    found = kernel(values, two[0], two[1], grid.GRID, grid._distinct, grid._count_index, grid.counts,
                   grid._search._guide, grid._search._flat_cdf, grid._search.guide_size, grid._search._width)
    for a, b in zip(found, grid.first_stage(values, two), strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(grid.sample_shares(np.random.default_rng(1), values),
                          grid.sample_shares(np.random.default_rng(1), values[:, None, :])[:, 0])  # 3-D: numpy path


def test_the_kernels_default_suffix_max_is_the_reverse_running_maximum() -> None:
    """``kernels.ops_for(xp)``'s suffix maximum (the JAX twin's: a loop of elementwise maxima) on any namespace."""
    from progressgym_env import kernels

    x = np.random.default_rng(3).standard_normal((4, 3, 9))
    x[0, 0, 4] = np.nan
    expected = np.maximum.accumulate(x[..., ::-1], axis=-1)[..., ::-1]
    np.testing.assert_array_equal(kernels.ops_for(np).suffix_max(x), expected)
    np.testing.assert_array_equal(kernels.ops_for(np).suffix_max(x[..., :1]), x[..., :1])


def test_the_unrolled_total_is_a_left_fold_of_short_rows_and_the_sum_of_long_ones() -> None:
    from progressgym_env import kernels

    total = kernels.unrolled_total(np, longest=4)
    x = np.array([[1e16, 1.0, -1e16, 1.0]])  # a left fold loses the first 1.0: ((1e16 + 1) - 1e16) + 1 = 1
    assert total(x)[0] == ((1e16 + 1.0) - 1e16) + 1.0 == 1.0
    rows = np.random.default_rng(4).standard_normal((3, 7, 4))
    np.testing.assert_allclose(total(rows), rows.sum(axis=-1), rtol=1e-12)
    long = np.random.default_rng(5).standard_normal((2, 9))
    np.testing.assert_array_equal(total(long), np.sum(long, axis=-1))  # past ``longest``: the namespace's sum
    assert total(np.zeros((2, 0))).shape == (2,)
