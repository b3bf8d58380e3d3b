"""The power evaluation's seed split and its re-selection (benchmarks/rl_power.py): no test seed is ever selected on."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import rl_power  # noqa: E402

from agents.train import TEST_FIRST_SEED, VALIDATION_FIRST_SEED  # noqa: E402
from progressgym_env.errors import ConfigError  # noqa: E402


def test_the_splits_are_disjoint_fresh_and_the_corpus_is_only_a_test() -> None:
    validation, test = set(rl_power.split_seeds("validation")), set(rl_power.split_seeds("test"))
    assert len(validation) == len(test) == 1000
    assert min(validation) == VALIDATION_FIRST_SEED  # training's checkpoint selection used 10000..10099: validation too
    assert not validation & test
    assert not test & set(range(TEST_FIRST_SEED, TEST_FIRST_SEED + 100))  # fresh: not the earlier reports' seeds
    assert not test & set(range(10))  # nor a training run's seed (its histories are that seed's generator's stream)
    assert rl_power.SPLITS["corpus"][0] == "corpus" and rl_power.SPLITS["validation"][0] == "procedural"
    assert rl_power.SELECTION_SPLITS == ("validation",)
    rl_power.check_split_seeds()
    with pytest.raises(ConfigError, match="share env seed 200000"):
        rl_power.check_split_seeds(episodes=190_001)  # validation would run into the test seeds


def _table(validation: dict[str, list[float]], test: dict[str, list[float]]) -> dict:
    n = len(next(iter(validation.values())))
    split = {"history": "procedural", "first_seed": 0, "lock_in": [0.5] * n, "reference": [1.0] * n}
    return {"splits": {"validation": {**split, "scores": validation},
                       "test": {**split, "first_seed": 200_000, "scores": test},
                       "corpus": {**split, "history": "corpus", "scores": test}},
            "sources": {}}


@pytest.mark.slow  # rliable (its bootstrap) takes ~2 s CPU to import
def test_selection_reads_validation_only_and_needs_a_margin_to_replace() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(0.6, 0.05, 200)
    names = (*rl_power.BASELINES, rl_power.SHIPPED, "ppo/seed0", "ppo/seed1")
    validation = {name: list(base - 0.2) for name in rl_power.BASELINES}
    validation |= {rl_power.SHIPPED: list(base), "ppo/seed0": list(base + 0.03), "ppo/seed1": list(base - 0.01)}
    test = {name: list(base) for name in names} | {"ppo/seed1": list(base + 0.5)}  # seed1 wins on test only
    choice = rl_power.select(_table(validation, test), reps=300)
    assert choice["best"] == "ppo/seed0" and choice["replace"]
    margin, low, high = choice["margin_over_shipped"]
    assert margin == pytest.approx(0.03) and 0 < low <= margin <= high
    validation["ppo/seed0"] = list(base + rng.normal(0.0, 0.05, 200))  # level with the shipped agent: kept
    choice = rl_power.select(_table(validation, test), reps=300)
    assert not choice["replace"]
