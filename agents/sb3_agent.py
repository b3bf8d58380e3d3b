"""A trained stable-baselines3 model as a leaderboard agent, loaded by path.

``make_agent("ppo:runs/ppo-follow/model.zip", env)`` (or ``sb3:<path>``, algorithm read from the
config JSON saved beside the model by :mod:`agents.train`) wraps the model's deterministic policy.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from agents.base import Agent, AgentSpec
from progressgym_env.errors import ConfigError, MissingExtraError, UnsafeFileError

ALGO_NAMES: tuple[str, ...] = ("ppo", "sac", "td3", "a2c", "recurrentppo")
RECURRENT: frozenset[str] = frozenset({"recurrentppo"})
"""Algorithms whose policy carries a hidden state across steps (sb3-contrib's RecurrentPPO)."""


def algo_class(name: str) -> Any:
    """The SB3 class of ``name`` (ppo, sac, td3, a2c; recurrentppo from sb3-contrib), imported lazily."""
    key = name.lower()
    if key not in ALGO_NAMES:
        raise ConfigError(f"unknown SB3 algorithm {name!r}; choose one of {ALGO_NAMES}")
    if key == "recurrentppo":
        try:
            import sb3_contrib
        except ImportError:
            raise MissingExtraError("RecurrentPPO", "sb3", "sb3_contrib") from None
        return sb3_contrib.RecurrentPPO
    try:
        import stable_baselines3
    except ImportError:
        raise MissingExtraError("SB3 agents", "sb3", "stable_baselines3") from None
    return getattr(stable_baselines3, key.upper())


def saved_config(path: Path) -> dict[str, Any]:
    """The ``config.json`` that training writes beside ``model.zip`` ({} when there is none)."""
    config_path = path.with_name("config.json")
    if not config_path.is_file():
        return {}
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{config_path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{config_path} should hold a JSON object, found {type(data).__name__}")
    return data


def obs_history_of(config: dict[str, Any]) -> int:
    """The ``obs_history`` the model was trained with (1 = the plain observation)."""
    kwargs = config.get("train_env_kwargs") or {}
    value = kwargs.get("obs_history", 1) if isinstance(kwargs, dict) else 1
    return int(value or 1)


def residual_scale_of(config: dict[str, Any]) -> float | None:
    """The residual scale the model was trained with (``hyperparams.residual_scale``), None = absolute actions."""
    from agents.wrappers import check_residual_scale

    hyperparams = config.get("hyperparams") or {}
    value = hyperparams.get("residual_scale") if isinstance(hyperparams, dict) else None
    return check_residual_scale(value)


def _obs_history_of_shape(shape: tuple[int, ...], dim: int) -> int:
    """The k of an observation of shape ``((k + 1) * dim + 1,)`` (1 when the shape is not of that form)."""
    if len(shape) != 1 or (shape[0] - 1) % dim:
        return 1
    return max(1, (shape[0] - 1) // dim - 1)


class HistoryStacker:
    """Rebuilds the observation of an env made with ``obs_history=k`` from the plain observations.

    A saved model trained with ``obs_history=k`` expects ``[human estimate, model, progress]``
    followed by the k - 1 previous human estimates, newest first, the first estimate of the episode
    repeated where the episode is shorter than k. A leaderboard env is the plain ``-v0`` env, so the
    agent keeps the estimates itself (``tests/test_rl_agents.py`` checks the layout against the env).

    :param dim: d, the number of value dimensions.
    :param k: the history length (>= 1; 1 = pass observations through).
    """

    def __init__(self, dim: int, k: int) -> None:
        if k < 1:
            raise ConfigError(f"obs_history must be >= 1, got {k}")
        self.dim, self.k = dim, k
        self._past: list[np.ndarray] = []

    def reset(self) -> None:
        """Forget the episode's estimates."""
        self._past = []

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """The stacked observation (float32) for the plain observation ``obs`` of this step."""
        obs = np.asarray(obs, dtype=np.float32)
        if self.k == 1:
            return obs
        estimate = obs[..., : self.dim]
        if not self._past:
            self._past = [estimate.copy()] * (self.k - 1)
        stacked = np.concatenate([obs, *self._past], axis=-1)  # (N, obs) rows of N episodes stack alike
        self._past = [estimate.copy(), *self._past[:-1]]
        return stacked


TRUST_ENV_VAR = "PROGRESSGYM_TRUST_MODEL_FILES"
"""Set to 1 to load SB3 models from world-writable places anyway (you vouch for every file there)."""


def _own_private_group(gid: int) -> bool:
    """Whether ``gid`` is the current user's private group (named after the user, no other members).

    Systems with user-private groups create files group-writable (umask 002); such a group holds only
    its user, so group write there gives nobody else access.
    """
    try:
        import grp
        import pwd
    except ImportError:  # pragma: no cover - not on Unix
        return False
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(gid)
    except KeyError:
        return False
    return group.gr_name == user and set(group.gr_mem) <= {user}


def _check_open_model_file(fd: int, path: Path) -> None:
    """Refuse the open file ``fd`` unless it is a regular file only its owner (you or root) can write."""
    info = os.fstat(fd)
    mode = info.st_mode
    if not stat.S_ISREG(mode):
        raise UnsafeFileError(f"refusing to load SB3 model {path}: it is not a regular file ({stat.filemode(mode)})")
    if hasattr(os, "getuid") and info.st_uid not in (os.getuid(), 0):
        raise UnsafeFileError(
            f"refusing to load SB3 model {path}: it is owned by another user (uid {info.st_uid}; you are uid "
            f"{os.getuid()}), and loading a model.zip runs the code stored in it. Copy it to a folder of your own "
            f"after checking where it came from, or set {TRUST_ENV_VAR}=1"
        )
    if mode & stat.S_IWOTH or (mode & stat.S_IWGRP and not _own_private_group(info.st_gid)):
        who = "world-writable" if mode & stat.S_IWOTH else "group-writable"
        raise UnsafeFileError(
            f"refusing to load SB3 model {path}: it is {who} (mode {stat.filemode(mode)}), and loading a "
            f"model.zip runs the code stored in it. Load only models you trust: chmod go-w it, or set "
            f"{TRUST_ENV_VAR}=1"
        )
    for folder in path.resolve().parents:
        folder_mode = folder.stat().st_mode
        if folder_mode & stat.S_IWOTH and not folder_mode & stat.S_ISVTX:
            raise UnsafeFileError(
                f"refusing to load SB3 model {path}: its folder {folder} is world-writable (mode "
                f"{stat.filemode(folder_mode)}), so anyone could have replaced the file, and loading a model.zip "
                f"runs the code stored in it. Move it to a folder of your own, or set {TRUST_ENV_VAR}=1"
            )


def open_model_file(path: Path) -> BinaryIO:
    """Open a model file once, check what was opened, and return that handle for loading.

    SB3 loads ``model.zip`` with cloudpickle, so loading a file runs whatever code it holds. The file is
    opened once, without following a symbolic link (``O_NOFOLLOW``) and without blocking on a FIFO; the
    open descriptor is then checked (``fstat``): a regular file, owned by you or root, not writable by
    others (group write only in your own private group), and in no world-writable folder without the
    sticky bit. Loading reads the same handle, so the file checked is the file loaded: nothing can be
    swapped in between. ``PROGRESSGYM_TRUST_MODEL_FILES=1`` skips the checks (the file is still opened once).

    :raises UnsafeFileError: naming the file or folder and what is wrong with it.
    :raises ConfigError: the file cannot be opened.
    """
    trusted = os.environ.get(TRUST_ENV_VAR) == "1"
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    if not trusted:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not trusted and exc.errno in (errno.ELOOP, errno.EMLINK) and os.path.islink(path):
            raise UnsafeFileError(
                f"refusing to load SB3 model {path}: it is a symbolic link (to {os.readlink(path)}), which anyone "
                f"who can write its folder may point elsewhere; pass the file's real path "
                f"({os.path.realpath(path)}) or set {TRUST_ENV_VAR}=1"
            ) from None
        raise ConfigError(f"cannot open SB3 model file {path}: {exc.strerror}") from None
    try:
        if not trusted:
            _check_open_model_file(fd, path)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_model_file_trusted(path: Path) -> None:
    """Refuse a model file that another user could have written or swapped in (:func:`open_model_file`).

    :raises UnsafeFileError: naming the file or folder and what is wrong with it.
    """
    open_model_file(path).close()


def algo_from_saved_config(path: Path) -> str:
    """Read the algorithm name from the ``config.json`` that training writes beside a model."""
    config_path = path.with_name("config.json")
    if not config_path.is_file():
        raise ConfigError(
            f"cannot tell which SB3 algorithm saved {path}: no config.json beside it; "
            f"name it in the agent spec, e.g. 'ppo:{path}'"
        )
    algo = saved_config(path).get("algo")
    if not isinstance(algo, str):
        raise ConfigError(f"{config_path} has no 'algo' field naming the SB3 algorithm")
    return algo


class SB3Agent(Agent):
    """Deterministic policy of a saved SB3 model (``model.zip``).

    The policy also acts on N episodes at once (:meth:`act_batch`, one ``predict`` of (N, obs)), but
    ``batched`` stays False: torch's batched matrix products round differently from a one-row product
    (up to 1.5e-7 apart on the shipped Follow model, measured in float32), so the benchmark plays SB3
    agents one episode at a time and their stored runs stay those of the single env, bit for bit.

    :param spec: the env's dims (checked against the model's spaces).
    :param path: path to the saved model.
    :param algo: one of :data:`ALGO_NAMES`; ``None`` reads it from ``config.json``.
    :param deterministic: use the policy's mean/greedy action (default) rather than sampling.
    :param obs_history: the ``obs_history`` the model was trained with; ``None`` reads it from
        ``config.json``, or without one from the model's observation shape. The agent acts in the
        plain env and stacks the previous estimates itself (:class:`HistoryStacker`).
    :param residual_scale: the model's actions are residual corrections to the lifelong target
        (:class:`agents.wrappers.LifelongResidualAction`); ``None`` reads it from ``config.json``
        (absolute actions without one).
    """

    def __init__(
        self,
        spec: AgentSpec,
        path: str | Path,
        algo: str | None = None,
        deterministic: bool = True,
        obs_history: int | None = None,
        residual_scale: float | None = None,
    ) -> None:
        super().__init__(spec)
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(f"SB3 model file {str(self.path)!r} does not exist (expected a model.zip saved by SB3)")
        self.algo = (algo or algo_from_saved_config(self.path)).lower()
        self.name = self.algo
        self.deterministic = deterministic
        with open_model_file(self.path) as handle:  # checked and loaded through one open file
            self.model = algo_class(self.algo).load(handle, device="cpu")
        obs_shape = tuple(self.model.observation_space.shape)
        act_shape = tuple(self.model.action_space.shape)
        config = saved_config(self.path)
        if obs_history is None and spec.extra_observations:  # memory is not stacked beside extra entries
            obs_history = 1
        if obs_history is None:
            obs_history = obs_history_of(config) if config else _obs_history_of_shape(obs_shape, spec.dim)
        self.obs_history = int(obs_history)
        self.residual_scale = residual_scale if residual_scale is not None else residual_scale_of(config)
        expected = (2 * spec.dim + 1 + spec.extra_observations + (self.obs_history - 1) * spec.dim,)
        if obs_shape != expected or act_shape != (spec.dim,):
            raise ConfigError(
                f"SB3 model {self.path} was trained on observations {obs_shape} and actions {act_shape}, "
                f"but this env with obs_history={self.obs_history} gives observations {expected} and actions "
                f"{(spec.dim,)} (a different value space, or another obs_history?)"
            )
        self._stack = HistoryStacker(spec.dim, self.obs_history)
        self._state: Any = None
        self._episode_start = True

    def reset(self, seed: int | None = None) -> None:
        self._stack.reset()
        self._state = None
        self._episode_start = True

    def reset_batch(self, seeds: Sequence[int], env: Any = None) -> None:
        """Start N episodes (the policy takes (N, obs) arrays; see the class docstring on ``batched``)."""
        self.reset()

    def act_batch(self, obs: np.ndarray) -> np.ndarray:
        """The policy's actions (N, d) for N episodes' observations (N, 2d+1), in one ``predict`` call."""
        self.split_batch(obs)
        stacked = self._stack(obs)
        if self.algo in RECURRENT:
            action, self._state = self.model.predict(
                stacked, state=self._state, episode_start=np.full(len(obs), self._episode_start),
                deterministic=self.deterministic,
            )
        else:
            action, _ = self.model.predict(stacked, deterministic=self.deterministic)
        self._episode_start = False
        return env_action(action, obs, self.spec, self.residual_scale)

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.split(obs)
        stacked = self._stack(obs)
        if self.algo in RECURRENT:
            action, self._state = self.model.predict(
                stacked, state=self._state, episode_start=np.array([self._episode_start]),
                deterministic=self.deterministic,
            )
        else:
            action, _ = self.model.predict(stacked, deterministic=self.deterministic)
        self._episode_start = False
        return env_action(action, obs, self.spec, self.residual_scale)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "algo": self.algo, "path": str(self.path), "deterministic": self.deterministic,
                "obs_history": self.obs_history, "residual_scale": self.residual_scale}


def env_action(action: Any, obs: np.ndarray, spec: AgentSpec, residual_scale: float | None) -> np.ndarray:
    """A policy's action as the env's: clipped into [-1, 1], and through the residual transform if it has one."""
    clipped = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    if residual_scale is None:
        return clipped.astype(np.float32)
    from agents.wrappers import lifelong_residual_actions

    return lifelong_residual_actions(clipped, obs, spec.dim, spec.capacity, residual_scale)


class EnsemblePolicy:
    """The mean action of several saved SB3 models, with SB3's ``predict`` signature (batched).

    Averaging policies trained with different seeds cancels part of each one's approximation error
    (a standard ensemble). Recurrent members are not supported (their states would diverge).

    :param models: loaded SB3 models with the same observation and action spaces.
    """

    def __init__(self, models: list[Any]) -> None:
        if not models:
            raise ConfigError("an ensemble needs at least one model")
        self.models = models
        self.observation_space = models[0].observation_space
        self.action_space = models[0].action_space

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        """The members' mean action (each member's action clipped to [-1, 1] first)."""
        actions = [np.clip(np.asarray(m.predict(observation, deterministic=deterministic)[0], dtype=np.float64), -1, 1)
                   for m in self.models]
        return np.mean(actions, axis=0).astype(np.float32), None


class EnsembleAgent(Agent):
    """Leaderboard agent acting with the mean action of several saved models (same algo and obs_history).

    :param spec: the env's dims. :param paths: the members' ``model.zip`` files.
    :param algo: their algorithm. :param obs_history: the ``obs_history`` they were trained with.
    """

    def __init__(self, spec: AgentSpec, paths: list[str | Path], algo: str, obs_history: int = 1) -> None:
        super().__init__(spec)
        if algo in RECURRENT:
            raise ConfigError(f"an ensemble of recurrent models ({algo}) is not supported")
        self.members = [SB3Agent(spec, path, algo=algo, obs_history=obs_history) for path in paths]
        scales = {member.residual_scale for member in self.members}
        if len(scales) != 1:
            raise ConfigError(f"the ensemble's members act in different action spaces (residual scales {scales})")
        self.residual_scale = scales.pop()
        self.algo, self.obs_history, self.name = algo, obs_history, f"{algo}-ensemble{len(paths)}"
        self.policy = EnsemblePolicy([member.model for member in self.members])
        self._stack = HistoryStacker(spec.dim, obs_history)

    def reset(self, seed: int | None = None) -> None:
        self._stack.reset()

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.split(obs)
        action, _ = self.policy.predict(self._stack(obs))
        return env_action(action, obs, self.spec, self.residual_scale)

    def reset_batch(self, seeds: Sequence[int], env: Any = None) -> None:
        """Start N episodes (``batched`` stays False, as for :class:`SB3Agent`)."""
        self.reset()

    def act_batch(self, obs: np.ndarray) -> np.ndarray:
        """The ensemble's mean actions (N, d) for N episodes' observations."""
        self.split_batch(obs)
        action, _ = self.policy.predict(self._stack(obs))
        return env_action(action, obs, self.spec, self.residual_scale)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "algo": self.algo, "obs_history": self.obs_history,
                "residual_scale": self.residual_scale,
                "paths": [str(m.path) for m in self.members]}
