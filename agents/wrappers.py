"""Training-time wrappers of the ProgressGym envs: the training reward, and residual actions.

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

:class:`LifelongResidualAction` is residual policy learning (Silver et al. 2018; Johannink et al.
2019) on top of the lifelong baseline: the policy's action is a correction, in logits, to the lifelong
target (the observed human estimate), so the zero action *is* lifelong and training starts from it.
Why: the gain left over lifelong on Follow and Predict is filtering the estimate's sampling noise
(about 0.01-0.02 normalised score, measured with hand-written smoothers on the validation histories),
a small correction that an absolute policy must first learn to express (the logit gap to its own model,
divided by the capacity) before it can refine it; PPO plateaued at lifelong that way. The agent, the
validation runs and the leaderboard apply the same transform (:func:`lifelong_residual_actions`), read
from the saved hyperparameters. In a zoo entry: ``env_wrapper: {agents.wrappers.LifelongResidualAction:
{scale: 1.0}}`` (or a list with ``NormalizedScoreReward``).
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from progressgym_env.errors import ConfigError
from progressgym_env.numerics import logit

REWARDS = ("env", "normalized_score")
"""Training rewards: the env's per-step similarity, or the episode's normalised score at its end."""

WRAPPER_REWARDS = {"agents.wrappers.NormalizedScoreReward": "normalized_score"}
"""The reward ``env_wrapper`` names of a zoo entry that :mod:`agents.train` knows, and the reward each gives."""

RESIDUAL_WRAPPER = "agents.wrappers.LifelongResidualAction"
"""The ``env_wrapper`` name of residual actions (its one kwarg: ``scale``)."""


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


def check_residual_scale(scale: float | None) -> float | None:
    """``scale`` as a float if it is a positive finite number of logits (None = absolute actions)."""
    if scale is None:
        return None
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)) or not (
        np.isfinite(scale) and scale > 0
    ):
        raise ConfigError(f"the residual scale must be a positive number of logits, got {scale!r}")
    return float(scale)


def lifelong_residual_actions(
    residual: np.ndarray, obs: np.ndarray, dim: int, capacity: float, scale: float
) -> np.ndarray:
    """Env actions for residual policy actions: the lifelong update with its target moved by ``scale * residual``.

    Target logit ``logit(estimate) + scale * residual``; action ``clip((target - logit(model)) / capacity)``,
    the update that moves the model there within one century's capacity (:func:`agents.base.update_toward`
    for the lifelong target when the residual is 0). Batched: ``residual`` (..., d), ``obs`` (..., >= 2d)
    with the estimate and the model values first (any ``obs_history`` columns after them are ignored).

    :param residual: the policy's actions, in [-1, 1].
    :param obs: the observations they were chosen for.
    :param dim: d. :param capacity: the backend's logit shift at |action| = 1. :param scale: logits at |residual| = 1.
    :return: float32 actions in [-1, 1].
    """
    observation = np.asarray(obs, dtype=np.float64)
    target = logit(observation[..., :dim]) + scale * np.clip(np.asarray(residual, dtype=np.float64), -1.0, 1.0)
    gap = target - logit(observation[..., dim : 2 * dim])
    return np.clip(gap / capacity, -1.0, 1.0).astype(np.float32)


class LifelongResidualAction(gym.Wrapper[np.ndarray, np.ndarray, np.ndarray, np.ndarray]):
    """The action is a correction to the lifelong target, in logits (see :func:`lifelong_residual_actions`).

    The action space stays ``Box(-1, 1, (d,))``; the zero action is the lifelong baseline's update.

    :param env: a ProgressGym env (its ``update_capacity`` converts logits to update strength).
    :param scale: logits of target shift at |residual| = 1.
    """

    def __init__(self, env: gym.Env[np.ndarray, np.ndarray], scale: float = 1.0) -> None:
        super().__init__(env)
        from agents.base import backend_capacity

        self.scale = check_residual_scale(scale)
        self.capacity = backend_capacity(env)
        self.dim = int(env.action_space.shape[0])  # type: ignore[index]
        self._obs: np.ndarray | None = None

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._obs = np.asarray(obs)
        return obs, info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._obs is None:
            raise gym.error.ResetNeeded("call reset() before step() (the residual needs the observation)")
        assert self.scale is not None
        env_action = lifelong_residual_actions(action, self._obs, self.dim, self.capacity, self.scale)
        obs, reward, terminated, truncated, info = self.env.step(env_action)
        self._obs = np.asarray(obs)
        return obs, reward, terminated, truncated, info
