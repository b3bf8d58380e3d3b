"""The native ProgressGym vector env as a stable-baselines3 ``VecEnv``.

SB3 has its own vector-env API (``reset() -> obs``, ``step() -> (obs, rewards, dones, infos)`` with
one info dict per sub-env, the terminal observation in ``info["terminal_observation"]`` and the
reset done within the same step). ``gym.make_vec(id, num_envs=N)`` builds a Gymnasium vector env
that steps all N sub-envs in a few numpy operations but resets on the *next* step (Gymnasium's
``NEXT_STEP`` autoreset) and returns infos as a dict of arrays. :class:`NativeVecEnv` bridges the
two, so SB3 collects rollouts from N sub-envs at the cost of one batched step instead of N Python
env steps (``DummyVecEnv``); that makes training several times faster on the surrogate backend.

Each finished episode's info carries SB3's Monitor-style ``episode`` record (return, length, wall
time), so ``rollout/ep_rew_mean`` is logged as usual, and the env's ``final_score`` and
``normalized_score``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from agents.base import backend_capacity
from agents.wrappers import (
    check_residual_scale,
    check_reward,
    lifelong_residual_actions,
    terminal_score_rewards,
)
from progressgym_env.errors import ConfigError, MissingExtraError

try:
    from stable_baselines3.common.vec_env import VecEnv
except ImportError:  # pragma: no cover - the sb3 extra is missing
    raise MissingExtraError("the SB3 vector env adapter", "sb3", "stable_baselines3") from None


class NativeVecEnv(VecEnv):
    """SB3 ``VecEnv`` over a Gymnasium vector env with ``NEXT_STEP`` autoreset and a ``reset_mask`` option.

    :param env_id: a ProgressGym env id (``PG-Follow-v0``, ...).
    :param num_envs: number of sub-envs.
    :param env_kwargs: kwargs of every sub-env (``history``, ``similarity``, ``timesteps_ahead``, ...).
    :param seed: seed of the first reset (SB3's ``VecEnv.seed`` overrides it).
    :param reward: ``"env"`` (the env's per-step similarity) or ``"normalized_score"`` (the episode's
        normalised score on its last step, :mod:`agents.wrappers`).
    :param reward_clip: bound on |reward| for ``"normalized_score"`` (None = none).
    :param residual_scale: treat actions as residual corrections to the lifelong target, in logits per
        unit (:class:`agents.wrappers.LifelongResidualAction`, batched); None = absolute actions.
    """

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        env_kwargs: dict[str, Any] | None = None,
        seed: int | None = None,
        reward: str = "env",
        reward_clip: float | None = None,
        residual_scale: float | None = None,
    ) -> None:
        import gymnasium as gym

        import progressgym_env  # noqa: F401  (registers the ids)

        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ConfigError(f"NativeVecEnv needs num_envs >= 1, got {num_envs!r}")
        self.reward = check_reward(reward)
        self.reward_clip = reward_clip
        self.residual_scale = check_residual_scale(residual_scale)
        self.env = gym.make_vec(env_id, num_envs=int(num_envs), **dict(env_kwargs or {}))
        self.env_id = env_id
        super().__init__(int(num_envs), self.env.single_observation_space, self.env.single_action_space)
        self._first_seed = seed
        self._returns = np.zeros(self.num_envs)
        self._lengths = np.zeros(self.num_envs, dtype=np.int64)
        self._starts = np.full(self.num_envs, time.perf_counter())
        self._t0 = time.perf_counter()
        self._actions = np.zeros((self.num_envs, *(self.action_space.shape or ())), dtype=np.float32)
        self._low = self.action_space.low  # type: ignore[attr-defined]
        self._high = self.action_space.high  # type: ignore[attr-defined]
        self._obs: np.ndarray | None = None
        self._capacity = backend_capacity(self.env)

    def reset(self) -> np.ndarray:
        seed: Any = self._seeds[0] if self._seeds[0] is not None else self._first_seed
        self._first_seed = None
        obs, _ = self.env.reset(seed=seed)
        self._reset_seeds()
        self._reset_options()
        self._returns[:] = 0.0
        self._lengths[:] = 0
        self._starts[:] = time.perf_counter()
        self._obs = obs
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        # SB3 already clips (PPO, A2C) or squashes (SAC, TD3) into the Box; this only removes float
        # round-off so that the env's strict bounds check never sees 1.0000001.
        self._actions = np.clip(np.asarray(actions, dtype=np.float32), self._low, self._high)
        if self.residual_scale is not None:
            if self._obs is None:
                raise ConfigError("NativeVecEnv.step before reset (residual actions need the observation)")
            dim = self._actions.shape[-1]
            self._actions = lifelong_residual_actions(self._actions, self._obs, dim, self._capacity, self.residual_scale)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, rewards, terminated, truncated, batched = self.env.step(self._actions)
        dones = np.logical_or(terminated, truncated)
        if self.reward == "normalized_score":
            scores = batched.get("normalized_score", np.zeros(self.num_envs))
            rewards = terminal_score_rewards(dones, scores, self.reward_clip)
        self._returns += rewards
        self._lengths += 1
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if dones.any():
            now = time.perf_counter()
            for i in np.flatnonzero(dones).tolist():
                info = infos[i]
                info["terminal_observation"] = obs[i].copy()
                info["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
                info["episode"] = {"r": float(self._returns[i]), "l": int(self._lengths[i]),
                                   "t": round(now - self._t0, 6)}
                for key in ("final_score", "normalized_score"):
                    if key in batched and batched[f"_{key}"][i]:
                        info[key] = float(batched[key][i])
            fresh, _ = self.env.reset(options={"reset_mask": dones})
            obs = np.where(dones[:, None], fresh, obs)
            self._returns[dones] = 0.0
            self._lengths[dones] = 0
        self._obs = obs
        return obs, rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self.env.close()

    def _indices(self, indices: Any) -> Sequence[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return list(indices)

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        """The vector env's attribute, once per requested sub-env (they share it)."""
        if attr_name == "render_mode":
            value = None
        else:
            value = getattr(self.env, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.env, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        result = getattr(self.env, method_name)(*method_args, **method_kwargs)
        return [result for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False for _ in self._indices(indices)]
