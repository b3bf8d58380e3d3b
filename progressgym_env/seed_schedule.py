"""A wrapper that walks a fixed list of env seeds: ``reset()`` without a seed takes the next one.

Offline-RL datasets name the env their policies should be evaluated in (Minari's ``eval_env``); for
ProgressGym that is the procedural env on the *validation* histories, env seeds
``VALIDATION_FIRST_SEED .. +count-1`` (:mod:`agents.train`). The seeds are part of that env, not of the
evaluation script, so they travel in the env spec: this wrapper records its constructor arguments
(``gymnasium.utils.RecordConstructorArgs``), hence ``gym.make(spec)`` (and Minari's
``dataset.recover_environment(eval_env=True)``) rebuilds the env with the same schedule::

    env = SeedSchedule(gym.make("PG-Follow-v0", history="procedural"), first_seed=10_000, count=100)
    env.reset()         # the history of seed 10000
    env.reset()         # seed 10001 ... after seed 10099, seed 10000 again
    env.reset(seed=7)   # an explicit seed is used as given and does not move the schedule

Light: gymnasium only, so the env spec resolves with nothing but ``progressgym_env`` installed.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.utils import RecordConstructorArgs

from progressgym_env.errors import ConfigError


class SeedSchedule(gym.Wrapper, RecordConstructorArgs):
    """Seed every unseeded ``reset`` with the next of ``first_seed, ..., first_seed + count - 1`` (cycling).

    :param env: the env to wrap.
    :param first_seed: the first seed of the schedule (>= 0).
    :param count: how many seeds it holds (>= 1).
    """

    def __init__(self, env: gym.Env, first_seed: int, count: int) -> None:
        for name, value, least in (("first_seed", first_seed, 0), ("count", count, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(f"SeedSchedule: {name} must be an int >= {least}, got {value!r}")
        RecordConstructorArgs.__init__(self, first_seed=first_seed, count=count)
        gym.Wrapper.__init__(self, env)
        self.first_seed = first_seed
        self.count = count
        self.position = 0

    @property
    def seeds(self) -> list[int]:
        """The schedule's seeds in order."""
        return list(range(self.first_seed, self.first_seed + self.count))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset with ``seed``, or with the schedule's next seed when ``seed`` is None."""
        if seed is None:
            seed = self.first_seed + self.position
            self.position = (self.position + 1) % self.count
        return self.env.reset(seed=seed, options=options)


__all__ = ["SeedSchedule"]
