"""The rliable statistics of the power table (benchmarks/rl_report.py --power) on hand cases and constructed data.

Slow tier: rliable's bootstrap (arch) takes ~2 s CPU to import.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import rl_report  # noqa: E402

pytestmark = pytest.mark.slow


def test_iqm_trims_a_quarter_each_side() -> None:
    pytest.importorskip("rliable")
    scores = np.array([[-100.0], [1], [2], [3], [4], [5], [6], [100]])
    assert rl_report.iqm_columns(scores)[0] == pytest.approx(3.5)  # mean of 2, 3, 4, 5
    two = np.concatenate([scores, scores + 1.0], axis=1)
    np.testing.assert_allclose(rl_report.iqm_columns(two), [3.5, 4.5, 4.0])  # per task, then over all 16


def test_probability_of_improvement_has_the_right_sign() -> None:
    pytest.importorskip("rliable")
    low, high = np.array([[0.1], [0.2], [0.3]]), np.array([[0.4], [0.5], [0.6]])
    assert rl_report.poi_columns(high, low)[0] == 1.0
    assert rl_report.poi_columns(low, high)[0] == 0.0
    assert rl_report.poi_columns(low, low)[0] == 0.5
    assert rl_report.poi_columns(np.array([[1.0], [3.0]]), np.array([[2.0]]))[0] == 0.5  # one win, one loss


def test_normalized_mean_columns_normalise_the_mean() -> None:
    # task 0: one history, lock-in 0.5, reference 1: scores 0.7, 0.9 -> 0.6
    # task 1: spans 0.001 and 0.5, scores 11 and 0.5 spans above lock-in -> (0.011 + 0.25) / 0.501
    data = np.array([[[0.7, 0.5, 1.0], [0.911, 0.9, 0.901]],
                     [[0.9, 0.5, 1.0], [0.75, 0.5, 1.0]]])
    rows = rl_report.episode_rows(2, 2)
    np.testing.assert_allclose(rl_report.normalized_mean_columns(rows, data), [0.6, 0.261 / 0.501])
    np.testing.assert_allclose(rl_report.normalized_mean_columns(np.zeros((2, 2)), data), [0.4, 11.0])  # row 0 twice


def test_the_bootstrap_keeps_an_episode_together_and_is_seeded() -> None:
    pytest.importorskip("rliable")
    rng = np.random.default_rng(0)
    lock = rng.uniform(0.2, 0.9, (400, 1))
    data = np.stack([lock, lock, np.ones_like(lock)], axis=-1)  # every score at its history's lock-in: exactly 0
    point, low, high = rl_report._interval(rl_report.episode_rows(400, 1),
                                           lambda rows: rl_report.normalized_mean_columns(rows, data), 200)
    assert point[0] == low[0] == high[0] == 0.0  # a score drawn apart from its own lock-in would not be
    noisy = rng.normal(0.5, 0.2, (400, 1))
    first = rl_report._interval(noisy, rl_report.iqm_columns, 200)
    np.random.seed(123)  # whatever the global generator held
    again = rl_report._interval(noisy, rl_report.iqm_columns, 200)
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate(again))
    assert first[1][0] < first[0][0] < first[2][0]


def _scores_folder(tmp_path: Path) -> Path:
    """Two challenges, 300 episodes: trained = lifelong + 0.05 on the tests; lifelong best on validation."""
    rng = np.random.default_rng(1)
    for challenge in ("follow", "coevolve"):
        splits = {}
        for split, first, history in (("validation", 10_000, "procedural"), ("test", 200_000, "procedural"),
                                      ("corpus", 1000, "corpus")):
            lifelong = rng.normal(0.6, 0.1, 300)
            scores = {"static": np.zeros(300), "lifelong": lifelong, "extrapolative-1": lifelong - 0.3,
                      "extrapolative-2": lifelong + (0.5 if split != "validation" else -0.5),  # best on tests only
                      "trained": lifelong + 0.05, "ppo/seed0": lifelong + 0.04, "ppo/seed1": lifelong - 0.02,
                      "ppo/seed2": lifelong + 0.01}
            splits[split] = {"history": history, "first_seed": first, "lock_in": list(rng.uniform(0.3, 0.6, 300)),
                             "reference": [1.0] * 300, "scores": {k: list(v) for k, v in scores.items()}}
        path = tmp_path / "scores" / f"{challenge}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"challenge": challenge, "splits": splits}))
    return tmp_path


def test_power_report_on_constructed_scores(tmp_path: Path) -> None:
    pytest.importorskip("rliable")
    out = _scores_folder(tmp_path)
    table = rl_report.power_report(out, reps=300, poi_reps=100, profile_reps=50)
    stats = json.loads((out / "power_stats.json").read_text())
    assert stats["best_baseline"] == {"follow": "lifelong", "coevolve": "lifelong"}  # chosen on validation
    trained = stats["episodes"]["test"]["trained"]
    for challenge in ("follow", "coevolve"):
        point, low, high = trained[challenge]["poi"]
        assert 0.5 < low <= point <= high  # + 0.05 on a spread of 0.1: P(X > Y) ~ 0.64
        assert point == pytest.approx(0.64, abs=0.05)
        assert stats["episodes"]["test"]["lifelong"][challenge]["poi"][0] == 0.5
        assert stats["episodes"]["test"]["static"][challenge]["poi"][0] < 0.01
    assert trained["all"]["iqm"][0] > stats["episodes"]["test"]["lifelong"]["all"]["iqm"][0]
    seeds = stats["recipes"]["test"]["ppo"]["follow"]
    assert seeds["seeds"] == 3 and seeds["poi"][0] == pytest.approx(2 / 3)  # seeds 0 and 2 beat lifelong
    assert "ppo/ensemble" not in stats["episodes"]["test"]  # no ensemble was scored
    assert "test: 300 procedural histories (env seeds 200000-200299)" in table
    assert (out / "performance_profiles.png").stat().st_size > 10_000
