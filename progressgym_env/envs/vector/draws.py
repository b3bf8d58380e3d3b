"""Random numbers of a native vector env: one batch generator (``"fast"``) or one per sub-env (``"exact"``).

Fast mode draws each random quantity of a step for every sub-env in one call, from the vector env's
own ``np_random`` (seeded by ``reset(seed=s)`` with ``np_random(s)``). Exact mode gives sub-env i its
own generator, seeded exactly as ``SyncVectorEnv`` seeds its single envs (int seed s ⇒ ``s + i``; a
list gives one seed each), and draws in the single env's order; only the draws loop over sub-envs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from gymnasium.utils import seeding

from progressgym_env.envs.vector.rows import Rows
from progressgym_env.errors import ConfigError

RNG_MODES: tuple[str, ...] = ("fast", "exact")

Seed = int | Sequence[int | None] | None


def seed_list(seed: Seed, num_envs: int) -> list[int | None]:
    """One seed per sub-env, as ``SyncVectorEnv`` spreads them (int s ⇒ s + i; None ⇒ fresh entropy)."""
    if seed is None:
        return [None] * num_envs
    if isinstance(seed, (int, np.integer)):
        return [int(seed) + i for i in range(num_envs)]
    seeds = list(seed)
    if len(seeds) != num_envs:
        raise ConfigError(f"a list of seeds needs one per sub-env ({num_envs}), got {len(seeds)}")
    return seeds


def batch_generator(seed: Seed, num_envs: int) -> tuple[np.random.Generator, int | None]:
    """Fast mode's one generator for ``reset(seed=...)`` (not None), and its int seed when it has one.

    An int seeds it as a single env's ``np_random(s)``; a list of ints (one per sub-env) through a
    ``SeedSequence`` of them all.
    """
    if isinstance(seed, (int, np.integer)):
        return seeding.np_random(int(seed))
    seeds = seed_list(seed, num_envs)
    if any(s is None for s in seeds):
        raise ConfigError("rng_mode='fast' has one generator: pass an int seed, or ints for every sub-env")
    entropy = [int(s) for s in seeds if s is not None]  # every one is an int (checked above)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy))), None


class SubEnvGenerators:
    """Exact mode's generators, one per sub-env, created at a sub-env's first reset."""

    def __init__(self, num_envs: int) -> None:
        self._rngs: list[np.random.Generator | None] = [None] * num_envs

    def seed(self, seed: Seed, rows: Rows) -> None:
        """Seed the generators of ``rows``; a None seed keeps a generator that exists."""
        seeds = seed_list(seed, rows.num_envs)
        for i in rows.index.tolist():
            if seeds[i] is not None or self._rngs[i] is None:
                self._rngs[i] = seeding.np_random(seeds[i])[0]

    def __getitem__(self, i: int) -> np.random.Generator:
        rng = self._rngs[i]
        assert rng is not None, "sub-env generators exist from the first reset on"
        return rng

    def normal(self, rows: Rows, moving: np.ndarray, dim: int) -> np.ndarray:
        """Standard normal noise (count, d), drawn only for the rows where ``moving`` (the single env's order)."""
        noise = np.zeros((rows.count, dim))
        for j in np.flatnonzero(moving).tolist():
            noise[j] = self[int(rows.index[j])].standard_normal(dim)
        return noise
