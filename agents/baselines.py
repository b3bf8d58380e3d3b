"""The paper's baseline alignment algorithms, expressed in value space (DESIGN §7).

- :class:`StaticAgent`: never updates (value lock-in; the paper's "static" model).
- :class:`LifelongAgent`: each century, updates toward the observed human values (lifelong
  RLHF/DPO on that century's preferences).
- :class:`ExtrapolativeAgent`: updates toward the observed values extrapolated ``horizon``
  centuries ahead (default: k on Predict(k), 1 on Follow and Coevolve) by finite differences of
  order up to k (extrapolative RLHF/DPO).
- :class:`RandomAgent`: uniform random updates (a floor, not an algorithm).
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb
from typing import Any

import numpy as np

from agents.base import Agent, AgentSpec, update_toward
from progressgym_env.errors import ConfigError


class StaticAgent(Agent):
    """No update at all: the model stays at H_0 (value lock-in). On Follow its score is the judge's
    lock-in reference exactly, because an all-zero action adds no fine-tuning noise."""

    name = "static"
    batched = True

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.split(obs)
        return np.zeros(self.spec.dim, dtype=np.float32)

    def act_batch(self, obs: np.ndarray) -> np.ndarray:
        self.split_batch(obs)
        return np.zeros((len(obs), self.spec.dim), dtype=np.float32)


class LifelongAgent(Agent):
    """Move the model to the human values observed this century (as far as capacity allows)."""

    name = "lifelong"
    batched = True

    def act(self, obs: np.ndarray) -> np.ndarray:
        estimate, model, _ = self.split(obs)
        return update_toward(estimate, model, self.spec.capacity)

    def act_batch(self, obs: np.ndarray) -> np.ndarray:
        estimate, model, _ = self.split_batch(obs)
        return update_toward(estimate, model, self.spec.capacity)


def extrapolate(points: np.ndarray, order: int, steps_ahead: int) -> np.ndarray:
    """Newton backward-difference extrapolation of a trajectory ``steps_ahead`` steps past its end.

    Uses the last ``order + 1`` points (fewer if fewer are available, so the order grows with the
    history); with ``steps_ahead = 0`` or a flat history it returns the last point. Never divides,
    so zero differences are harmless.

    :param points: array (n, d), n >= 1, oldest first; or (n, N, d) for N trajectories at once (each
        row's result equals that of its (n, d) slice).
    :param order: largest finite-difference order (>= 0).
    :param steps_ahead: h >= 0, how far past the last point.
    :return: the extrapolated vector (d,), or (N, d).
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim not in (2, 3) or points.shape[0] < 1:
        raise ConfigError(f"extrapolate needs an (n, d) or (n, N, d) array with n >= 1, found shape {points.shape}")
    usable = min(int(order), points.shape[0] - 1)
    result = points[-1].copy()
    differences = points[-(usable + 1) :]
    for j in range(1, usable + 1):
        differences = np.diff(differences, axis=0)  # j-th backward differences; last row is ∇^j x_n
        result += comb(steps_ahead + j - 1, j) * differences[-1]
    return result


def default_horizon(spec: AgentSpec) -> int:
    """How far ahead an extrapolative agent aims by default: the env's horizon, at least 1.

    The horizon is the judge's ``agent_horizon`` (k on Predict(k), 1 on Coevolve, where the model
    shapes the *next* simulated human). On Follow it is 0, which would make extrapolation a no-op (the
    agent would be lifelong); 1 is the paper's extrapolative algorithm, which always extrapolates one
    step past the observed values.

    :param spec: the env's spec (its ``timesteps_ahead`` horizon).
    """
    return max(1, int(spec.timesteps_ahead))


class ExtrapolativeAgent(Agent):
    """Update toward the observed human values extrapolated ``horizon`` centuries ahead.

    Keeps the human estimates observed this episode; the extrapolation order is
    ``min(order, observations - 1)``, so the first century behaves like lifelong. The target is
    clipped to [0, 1] (finite differences of noisy shares can overshoot). The agent's name says both
    numbers, ``extrapolative-<order>-h<horizon>``, because the same order with another horizon is
    another policy.

    :param spec: the env's dims, capacity and horizon.
    :param order: k, the largest finite-difference order (1 = linear, 2 = quadratic).
    :param horizon: centuries past the observed one to extrapolate to (>= 0); ``None`` =
        :func:`default_horizon` (k on Predict(k), 1 on Follow and Coevolve). 0 is lifelong.
    """

    def __init__(self, spec: AgentSpec, order: int = 1, horizon: int | None = None) -> None:
        super().__init__(spec)
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
            raise ConfigError(f"extrapolation order must be an int >= 1, got {order!r}")
        if horizon is None:
            horizon = default_horizon(spec)
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 0:
            raise ConfigError(f"extrapolation horizon must be an int >= 0 (centuries ahead), got {horizon!r}")
        self.order = int(order)
        self.horizon = int(horizon)
        self.name = f"extrapolative-{self.order}-h{self.horizon}"
        self._observed: list[np.ndarray] = []

    batched = True

    def reset(self, seed: int | None = None) -> None:
        self._observed = []

    def act(self, obs: np.ndarray) -> np.ndarray:
        estimate, model, _ = self.split(obs)
        self._observed.append(estimate)
        target = extrapolate(np.stack(self._observed), self.order, self.horizon)
        return update_toward(np.clip(target, 0.0, 1.0), model, self.spec.capacity)

    def reset_batch(self, seeds: Sequence[int], env: Any = None) -> None:
        self._observed = []

    def act_batch(self, obs: np.ndarray) -> np.ndarray:
        estimate, model, _ = self.split_batch(obs)
        self._observed.append(estimate)  # (N, d) per step: extrapolate reads (n, N, d)
        target = extrapolate(np.stack(self._observed[-(self.order + 1):]), self.order, self.horizon)
        return update_toward(np.clip(target, 0.0, 1.0), model, self.spec.capacity)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "order": self.order, "horizon": self.horizon}


class RandomAgent(Agent):
    """Uniform random updates in [-1, 1]^d, seeded by :meth:`reset`.

    :param spec: the env's dims.
    :param seed: seed used until :meth:`reset` passes another.
    """

    name = "random"
    batched = True

    def __init__(self, spec: AgentSpec, seed: int | None = None) -> None:
        super().__init__(spec)
        self._rng = np.random.default_rng(seed)
        self._rngs: list[np.random.Generator] = []

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self._rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.split(obs)
        return self._rng.uniform(-1.0, 1.0, self.spec.dim).astype(np.float32)

    def reset_batch(self, seeds: Sequence[int], env: Any = None) -> None:
        """One generator per episode, seeded as :meth:`reset` seeds the agent's one."""
        self._rngs = [np.random.default_rng(seed) for seed in seeds]

    def act_batch(self, obs: np.ndarray) -> np.ndarray:
        self.split_batch(obs)
        if len(self._rngs) != len(obs):
            raise ConfigError(f"random agent: {len(obs)} observations for {len(self._rngs)} episodes (call reset_batch)")
        d = self.spec.dim
        return np.stack([rng.uniform(-1.0, 1.0, d) for rng in self._rngs]).astype(np.float32)
