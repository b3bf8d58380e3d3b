"""SeedSchedule (progressgym_env/seed_schedule.py): unseeded resets walk a fixed seed list, and the env spec keeps it."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import progressgym_env  # noqa: F401
from progressgym_env.errors import ConfigError
from progressgym_env.seed_schedule import SeedSchedule


def test_unseeded_resets_walk_the_schedule_and_the_spec_rebuilds_it() -> None:
    plain = gym.make("PG-Follow-v0", history="procedural")
    expected = [plain.reset(seed=s)[0] for s in (50, 51, 52)]
    env = SeedSchedule(gym.make("PG-Follow-v0", history="procedural"), first_seed=50, count=3)
    assert env.seeds == [50, 51, 52]
    observed = [env.reset()[0] for _ in range(4)]  # the fourth wraps around to seed 50
    for got, want in zip(observed, [*expected, expected[0]], strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(env.reset(seed=52)[0], expected[2])  # explicit seeds pass through...
    np.testing.assert_array_equal(env.reset()[0], expected[1])  # ...and do not move the schedule
    rebuilt = gym.make(gym.envs.registration.EnvSpec.from_json(env.spec.to_json()))
    np.testing.assert_array_equal(rebuilt.reset()[0], expected[0])
    assert rebuilt.spec.additional_wrappers[-1].kwargs == {"first_seed": 50, "count": 3}


@pytest.mark.parametrize(("first_seed", "count"), [(-1, 3), (0, 0), (0, 1.5), (True, 2)])
def test_bad_schedules_are_refused(first_seed: object, count: object) -> None:
    with pytest.raises(ConfigError, match="SeedSchedule"):
        SeedSchedule(gym.make("PG-Follow-v0"), first_seed=first_seed, count=count)  # type: ignore[arg-type]
