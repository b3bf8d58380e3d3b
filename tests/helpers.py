"""Small shared helpers for the core env tests (no fixtures: plain functions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

import progressgym_env  # noqa: F401  (registers the ids)
from progressgym_env.numerics import logit

CHALLENGES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("PG-Follow-v0", {}),
    ("PG-Predict-v0", {}),
    ("PG-Coevolve-v0", {}),
)


def run_episode(
    env: gym.Env, seed: int | None, policy: Callable[[np.ndarray, gym.Env], np.ndarray]
) -> tuple[list[np.ndarray], list[float], list[dict[str, Any]]]:
    """Run one episode; return observations (reset obs first), rewards and infos (reset info first)."""
    obs, info = env.reset(seed=seed)
    observations, rewards, infos = [obs], [], [info]
    terminated = truncated = False
    while not (terminated or truncated):
        obs, reward, terminated, truncated, info = env.step(policy(obs, env))
        observations.append(obs)
        rewards.append(float(reward))
        infos.append(info)
    return observations, rewards, infos


def zero_policy(obs: np.ndarray, env: gym.Env) -> np.ndarray:
    return np.zeros(env.action_space.shape, dtype=np.float32)


def seeded_random_policy(seed: int) -> Callable[[np.ndarray, gym.Env], np.ndarray]:
    rng = np.random.default_rng(seed)
    return lambda obs, env: rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)


def exact_target_policy(capacity: float = 2.0) -> Callable[[np.ndarray, gym.Env], np.ndarray]:
    """Moves the model exactly onto the step's hidden target (needs finetune noise 0)."""

    def act(obs: np.ndarray, env: gym.Env) -> np.ndarray:
        base = env.unwrapped
        target = base.judge.target(base._t)
        return ((logit(target) - logit(base.backend.model_values)) / capacity).astype(np.float32)

    return act
