"""The agent interface shared by every baseline and trained policy (DESIGN §7).

An agent is a policy from a ProgressGym observation to an action on the shared action space
``Box(-1, 1, (d,))``. Baselines think in *value space*: they pick a target value vector and ask for
the update that moves the model there, ``clip((logit(target) - logit(model)) / capacity, -1, 1)``,
so the same agent runs on the surrogate and the LLM backend (the backend decides what an update of
strength 1 does; ``capacity`` is its largest logit shift per century).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from progressgym_env.backends.base import DEFAULT_CAPACITY
from progressgym_env.errors import ConfigError
from progressgym_env.numerics import logit

__all__ = ["DEFAULT_CAPACITY", "Agent", "AgentSpec", "backend_capacity", "spec_from_env", "update_toward"]


@dataclass(frozen=True)
class AgentSpec:
    """What an agent needs to know about the env it acts in.

    :param dim: d, the number of value dimensions (the action has shape (d,), the observation 2d+1).
    :param capacity: the backend's largest logit shift per century at |action| = 1.
    :param timesteps_ahead: how many centuries after the observed one the model is scored against
        (0 on Follow, k on Predict(k)); extrapolating agents aim that far ahead.
    :param challenge: the env's benchmark key (``follow``, ``predict2``, a plugin's; it picks a shipped
        trained agent), or "" outside a ProgressGym env.
    :param extra_observations: entries after [estimate, model, progress] in the observation, which
        the baselines do not read (PG-Society's usage share: 1); the env's ``extra_observations``.
    """

    dim: int
    capacity: float = DEFAULT_CAPACITY
    timesteps_ahead: int = 0
    challenge: str = ""
    extra_observations: int = 0

    def __post_init__(self) -> None:
        if int(self.dim) < 1:
            raise ConfigError(f"an agent needs at least 1 value dimension, got dim={self.dim}")
        if not np.isfinite(self.capacity) or self.capacity <= 0:
            raise ConfigError(f"capacity must be a positive number of logits, got {self.capacity}")
        if int(self.timesteps_ahead) < 0:
            raise ConfigError(f"timesteps_ahead must be >= 0, got {self.timesteps_ahead}")
        if int(self.extra_observations) < 0:
            raise ConfigError(f"extra_observations must be >= 0, got {self.extra_observations}")


def backend_capacity(env: Any) -> float:
    """The update capacity of ``env`` (its documented ``update_capacity`` attribute), or the default.

    :param env: a ProgressGym env, wrapped or not (single or native vector env).
    """
    capacity = getattr(getattr(env, "unwrapped", env), "update_capacity", None)
    return float(capacity) if capacity is not None else DEFAULT_CAPACITY


def spec_from_env(env: Any, timesteps_ahead: int | None = None) -> AgentSpec:
    """Read an :class:`AgentSpec` from a (possibly wrapped) ProgressGym env.

    :param env: the env the agent will act in.
    :param timesteps_ahead: override of the horizon; default: the env's ``agent_horizon``, which its
        judge answers (k on Predict(k), 0 on Follow, 1 on Coevolve: there the model shapes the *next*
        simulated human).
    """
    base = getattr(env, "unwrapped", env)
    shape = getattr(getattr(env, "action_space", None), "shape", None)
    if not shape or len(shape) != 1:
        raise ConfigError(f"agents need a flat Box action space of shape (d,), found {shape}")
    challenge = str(getattr(base, "challenge_key", ""))
    if timesteps_ahead is None:
        timesteps_ahead = int(getattr(base, "agent_horizon", 0))
    return AgentSpec(
        dim=int(shape[0]), capacity=backend_capacity(env), timesteps_ahead=int(timesteps_ahead), challenge=challenge,
        extra_observations=int(getattr(base, "extra_observations", 0)),
    )


def update_toward(target: np.ndarray, model: np.ndarray, capacity: float) -> np.ndarray:
    """The action that moves ``model`` to ``target`` in logit space, within one update's capacity.

    :param target: desired value vector (d,), values in [0, 1].
    :param model: current model values (d,).
    :param capacity: logit shift of a full-strength update.
    :return: float32 action in [-1, 1].
    """
    gap = logit(np.asarray(target, dtype=np.float64)) - logit(np.asarray(model, dtype=np.float64))
    return np.clip(gap / capacity, -1.0, 1.0).astype(np.float32)


class Agent(ABC):
    """A policy over the shared action space.

    Call :meth:`reset` at the start of every episode, then :meth:`act` once per observation.

    **Batches.** An agent whose :attr:`batched` is True also plays N episodes at once in a native
    vector env (the benchmark's batched runner): :meth:`reset_batch` with the N episodes' seeds, then
    :meth:`act_batch` with the (N, 2d+1) observations, returning (N, d) actions. Row i's actions equal,
    bit for bit, what :meth:`reset` with seed i's and :meth:`act` would return for that episode alone
    (``tests/test_batched_runner.py`` checks it). Agents that cannot batch keep ``batched = False`` and
    the runner plays their episodes one at a time.

    :param spec: dims, capacity and horizon of the env (see :func:`spec_from_env`).
    """

    name: str = ""
    batched: ClassVar[bool] = False
    """Whether :meth:`reset_batch` and :meth:`act_batch` are implemented."""

    def __init__(self, spec: AgentSpec) -> None:
        self.spec = spec

    def reset(self, seed: int | None = None) -> None:
        """Forget the previous episode; ``seed`` seeds any randomness the agent has."""

    @abstractmethod
    def act(self, obs: np.ndarray) -> np.ndarray:
        """The action (float32, shape (d,), in [-1, 1]) for observation ``obs`` (shape (2d+1,))."""

    def reset_batch(self, seeds: Sequence[int], env: Any = None) -> None:
        """Start N episodes at once (one per seed) in the native vector env ``env`` (batched agents only).

        Stateless agents need nothing here; the default does nothing when :attr:`batched` is True.
        """
        if not self.batched:
            raise NotImplementedError(f"{type(self).__name__} plays one episode at a time (batched = False)")

    def act_batch(self, obs: np.ndarray) -> np.ndarray:
        """The actions (float32, (N, d)) for the observations ``obs`` (N, 2d+1) of N episodes (batched agents only)."""
        raise NotImplementedError(f"{type(self).__name__} plays one episode at a time (batched = False)")

    def split_batch(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(human estimates (N, d), model values (N, d), progress (N,)) from N observations, checking the shape."""
        d = self.spec.dim
        array = np.asarray(obs, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != 2 * d + 1:
            raise ConfigError(
                f"{type(self).__name__} expected observations of shape (N, {2 * d + 1}) "
                f"([human estimate (d={d}), model values (d), progress] per episode), found {array.shape}"
            )
        return array[:, :d], array[:, d : 2 * d], array[:, -1]

    def split(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(human estimate, model values, progress) from an observation, checking its shape."""
        d, extra = self.spec.dim, self.spec.extra_observations
        array = np.asarray(obs, dtype=np.float64)
        if array.shape != (2 * d + 1 + extra,):
            more = f", {extra} more" if extra else ""
            raise ConfigError(
                f"{type(self).__name__} expected an observation of shape ({2 * d + 1 + extra},) "
                f"([human estimate (d={d}), model values (d), progress{more}]), found {array.shape}"
            )
        return array[:d], array[d : 2 * d], float(array[2 * d])

    def config(self) -> dict[str, Any]:
        """JSON-serialisable settings of the agent (saved with every run)."""
        return {"agent": self.name, "capacity": self.spec.capacity, "timesteps_ahead": self.spec.timesteps_ahead}
