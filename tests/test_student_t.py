"""The Student t quantile of the leaderboard's confidence intervals, without scipy.stats."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from progressgym_env.common.student_t import t_cdf, t_pdf, t_ppf

QUANTILES = (0.0001, 0.01, 0.025, 0.1, 0.3, 0.55, 0.6, 0.75, 0.9, 0.95, 0.975, 0.99, 0.995, 0.999, 0.9999)
DFS = (*range(1, 61), 75, 99, 100, 128, 199, 500, 1000, 4095)


def test_quantiles_match_scipy_to_1e9() -> None:
    stats = pytest.importorskip("scipy.stats")
    for df in DFS:
        for q in QUANTILES:
            expected = float(stats.t.ppf(q, df))
            assert t_ppf(q, df) == pytest.approx(expected, rel=1e-9, abs=1e-9), (df, q)


def test_cdf_and_pdf_match_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 4, 7, 30, 301):
        for t in (-40.0, -2.5, -0.3, 0.0, 0.01, 1.0, 2.0, 12.0):
            assert t_cdf(t, df) == pytest.approx(float(stats.t.cdf(t, df)), rel=1e-12, abs=1e-14)
            assert t_pdf(t, df) == pytest.approx(float(stats.t.pdf(t, df)), rel=1e-12, abs=1e-300)


def test_hand_values_and_symmetry() -> None:
    assert t_ppf(0.975, 1) == pytest.approx(math.tan(0.475 * math.pi))  # Cauchy
    assert t_ppf(0.975, 2) == pytest.approx(4.302652729749464, rel=1e-14)  # 0.95/√(2·0.975·0.025)
    assert t_ppf(0.5, 9) == 0.0
    assert t_ppf(0.1, 5) == -t_ppf(0.9, 5)
    assert t_cdf(t_ppf(0.9, 13), 13) == pytest.approx(0.9, rel=1e-14)


@pytest.mark.parametrize(("q", "df"), [(0.0, 3), (1.0, 3), (0.5, 0), (0.5, 2.5), (0.5, True)])
def test_bad_arguments_are_refused(q: float, df: int) -> None:
    with pytest.raises(ValueError):
        t_ppf(q, df)


def test_the_leaderboard_interval_does_not_import_scipy_stats() -> None:
    code = (
        "import sys\n"
        "from progressgym_env.benchmark.leaderboard import t_interval\n"
        "mean, half = t_interval([0.1, 0.2, 0.4])\n"
        "assert abs(half - 4.302652729749464 * 0.152752523165 / 3 ** 0.5) < 1e-9, half\n"
        "print('scipy.stats' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
