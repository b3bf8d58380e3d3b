"""Training-time wrappers of the ProgressGym envs (rewards only: agents act on the plain observation).

:class:`NormalizedScoreReward` pays the episode's ``normalized_score`` on its last step and 0
before. The per-step cosine rewards are not what the leaderboard ranks: the normalised score divides
each history's gain over value lock-in by that history's span, so a history that barely moves weighs
as much as one that moves a lot, while their cosine sums differ by a factor of ten. A policy that
maximises the cosine sum then spends its precision on the wrong histories (measured here: PPO with
the cosine reward stays below lifelong on the procedural validation histories of PG-Predict). Paying
the score itself optimises exactly what is measured; episodes are 8 steps, so the sparse reward is
easy to credit (gamma close to 1).

For rl-zoo3: ``env_wrapper: agents.wrappers.NormalizedScoreReward`` in a hyperparameter entry;
:mod:`agents.train` applies the same reward inside the native vector env
(:class:`agents.vec_env.NativeVecEnv` with ``reward="normalized_score"``).
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from progressgym_env.errors import ConfigError

REWARDS = ("env", "normalized_score")
"""Training rewards: the env's per-step similarity, or the episode's normalised score at its end."""

WRAPPER_REWARDS = {"agents.wrappers.NormalizedScoreReward": "normalized_score"}
"""The ``env_wrapper`` names of a zoo entry that :mod:`agents.train` knows, and the reward each gives."""


def check_reward(reward: str) -> str:
    """``reward`` if it is one of :data:`REWARDS`, else a ``ConfigError`` naming them."""
    if reward not in REWARDS:
        raise ConfigError(f"unknown training reward {reward!r}; choose one of {REWARDS}")
    return reward


def terminal_score_rewards(dones: np.ndarray, scores: np.ndarray, clip: float | None = None) -> np.ndarray:
    """Rewards of one vector step: each finished episode's score, 0 for the others.

    :param dones: bool (N,), the sub-envs whose episode ended this step.
    :param scores: (N,) the normalised scores (read only where ``dones``).
    :param clip: bound |reward| <= clip (Coevolve's scores have heavy tails), or None.
    """
    rewards = np.where(dones, np.asarray(scores, dtype=np.float64), 0.0)
    if clip is not None:
        rewards = np.clip(rewards, -clip, clip)
    return rewards


class NormalizedScoreReward(gym.Wrapper[np.ndarray, np.ndarray, np.ndarray, np.ndarray]):
    """Reward = the episode's ``normalized_score`` on its last step, 0 on the others.

    :param env: a ProgressGym env.
    :param clip: bound on |reward| (None = no bound).
    """

    def __init__(self, env: gym.Env[np.ndarray, np.ndarray], clip: float | None = None) -> None:
        super().__init__(env)
        if clip is not None and not clip > 0:
            raise ConfigError(f"clip must be a positive bound on the reward, got {clip}")
        self.clip = clip

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, _, terminated, truncated, info = self.env.step(action)
        done = np.array([terminated or truncated])
        score = np.array([info.get("normalized_score", 0.0)])
        reward = float(terminal_score_rewards(done, score, self.clip)[0])
        return obs, reward, terminated, truncated, info
