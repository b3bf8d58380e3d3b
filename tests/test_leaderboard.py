"""The leaderboard's statistics and table: competition ranks, t-intervals, identical policies, normalisation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from progressgym_env.benchmark.leaderboard import (
    centered_normalized_score,
    competition_ranks,
    latest_models_only,
    leaderboard_markdown,
    leaderboard_rows,
    score_runs,
    t_interval,
)
from progressgym_env.judges import score_record

pytest.importorskip("scipy")

# A small hand-made history: T = 4 centuries, d = 2 dims.
HUMAN = [[0.2, 0.8], [0.3, 0.7], [0.5, 0.5], [0.7, 0.3]]
PERFECT = HUMAN[1:]
FROZEN = [HUMAN[0]] * 3


def follow_run(agent: str, seed: int, model: list[list[float]], sha: str = "") -> dict:
    record = {"challenge": "follow", "human": HUMAN, "model": model}
    run = {"agent": agent, "challenge": "follow", "seed": seed, "history": "hand", "episode_record": record,
           "final_score": score_record(record)}
    if sha:
        run["model_sha256"] = sha
    return run


def noisy(seed: int, scale: float = 0.1) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    return np.clip(np.asarray(PERFECT) + rng.normal(0, scale, (3, 2)), 0.01, 1).tolist()


def test_competition_ranks_share_the_best_rank_on_ties() -> None:
    assert competition_ranks({"a": 0.9, "b": 0.9, "c": 0.8, "d": 0.95}) == {"d": 1, "a": 2, "b": 2, "c": 4}
    assert competition_ranks({"a": 0.5}) == {"a": 1}


def test_t_interval_matches_a_hand_computation() -> None:
    mean, half = t_interval([0.1, 0.2, 0.4])
    s = math.sqrt(((0.1 - 0.7 / 3) ** 2 + (0.2 - 0.7 / 3) ** 2 + (0.4 - 0.7 / 3) ** 2) / 2)
    t_975_2dof = 4.30265273  # Student t quantile 0.975 with 2 degrees of freedom (printed tables: 4.303)
    assert mean == pytest.approx(0.7 / 3)
    assert half == pytest.approx(t_975_2dof * s / math.sqrt(3), rel=1e-9)
    assert half == pytest.approx(0.379458, abs=1e-6)
    one_mean, one_half = t_interval([0.3])
    assert one_mean == 0.3 and math.isnan(one_half)  # one seed: no interval


def test_ties_share_a_rank_and_identical_policies_are_flagged() -> None:
    runs = []
    for seed in range(3):
        runs += [follow_run("a", seed, noisy(seed)), follow_run("b", seed, noisy(seed)),
                 follow_run("c", seed, noisy(seed + 10, 0.2)), follow_run("static", seed, FROZEN)]
    rows = {r.agent: r for r in leaderboard_rows(score_runs(runs))}
    assert rows["a"].rank == rows["b"].rank == 1
    assert rows["a"].identical_to == ("b",) and rows["b"].identical_to == ("a",)
    assert rows["c"].identical_to == () and rows["static"].identical_to == ()
    assert sorted([rows["c"].rank, rows["static"].rank]) == [3, 4]
    table = leaderboard_markdown(runs)
    assert "| 1 | a ‡ (= b) |" in table and "| 1 | b ‡ (= a) |" in table
    finals = [score_record(r["episode_record"]) for r in runs if r["agent"] == "a"]
    mean, half = t_interval(finals)
    assert f"{mean:.4f} ± {half:.4f}" in table


def test_normalisations_and_the_centred_secondary_score() -> None:
    perfect, frozen = follow_run("p", 0, PERFECT), follow_run("s", 0, FROZEN)
    assert centered_normalized_score(perfect["episode_record"]) == pytest.approx(1.0)
    assert centered_normalized_score(frozen["episode_record"]) == pytest.approx(0.0)
    # by hand: centre = the history's mean vector; model = H_0 at every step except the first, which is perfect
    center = np.mean(HUMAN, axis=0)

    def ccos(a: np.ndarray, b: np.ndarray) -> float:
        a, b = np.asarray(a) - center, np.asarray(b) - center
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    model = [HUMAN[1], HUMAN[0], HUMAN[0]]
    score = np.mean([ccos(HUMAN[t + 1], model[t]) for t in range(3)])
    lock = np.mean([ccos(HUMAN[t + 1], HUMAN[0]) for t in range(3)])
    mixed = follow_run("m", 0, model)["episode_record"]
    assert centered_normalized_score(mixed) == pytest.approx((score - lock) / (1 - lock))


def test_coevolve_header_explains_its_normalisation() -> None:
    human = np.asarray(HUMAN)
    record = {"challenge": "coevolve", "human": HUMAN, "simulated": HUMAN, "model": PERFECT}
    run = {"agent": "x", "challenge": "coevolve", "seed": 0, "history": "hand", "episode_record": record,
           "final_score": score_record(record)}
    table = leaderboard_markdown([run])
    frozen = score_record({**record, "simulated": [HUMAN[0]] * len(human)})
    assert f"(final_score − {frozen:.4f}) / ({score_record(record):.4f} − {frozen:.4f})" in table
    assert "simulated human frozen at S_0" in table and "centred cosine" in table


def test_a_retrained_model_supersedes_the_old_one() -> None:
    old = [follow_run("ppo", s, FROZEN, sha="old") for s in range(2)]
    new = [follow_run("ppo", s, PERFECT, sha="new") for s in range(2)]
    kept, superseded = latest_models_only(old + new)
    assert kept == new and superseded == 2
    table = leaderboard_markdown(old + new)
    assert "2 runs of older model files" in table and "| 1 | ppo | 1.0000 ± 0.0000 |" in table
