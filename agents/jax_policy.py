"""A policy trained by the compiled PPO (:mod:`agents.jax_ppo`) as a leaderboard agent: ``jax:<path>/model.npz``.

The trainer saves the actor's weights as a plain ``.npz`` (no pickled code: loading one runs nothing)
beside the run's ``config.json``. The actor is SB3's ``MlpPolicy`` actor: tanh hidden layers, a linear
mean head; the deterministic action is the mean clipped into [-1, 1]. It is evaluated here with numpy,
so running a trained policy needs neither JAX nor torch; tests/test_jax_ppo.py checks it against the
flax module the trainer used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from agents.base import Agent, AgentSpec
from agents.sb3_agent import HistoryStacker, obs_history_of
from progressgym_env.errors import ConfigError

LAYER_KEY = "actor_{i}_{part}"
"""Array names in ``model.npz``: ``actor_0_kernel``, ``actor_0_bias``, ... (the last layer is the mean head)."""


def save_actor(path: Path, layers: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Write the actor's (kernel, bias) layers to ``path`` (``.npz``) atomically."""
    from progressgym_env.common.atomic import atomic_path

    arrays = {}
    for i, (kernel, bias) in enumerate(layers):
        arrays[LAYER_KEY.format(i=i, part="kernel")] = np.asarray(kernel, dtype=np.float32)
        arrays[LAYER_KEY.format(i=i, part="bias")] = np.asarray(bias, dtype=np.float32)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]


def load_actor(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (kernel, bias) layers saved by :func:`save_actor`."""
    if not path.is_file():
        raise ConfigError(f"JAX policy file {str(path)!r} does not exist (expected a model.npz saved by agents.jax_ppo)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = dict(data)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a policy saved by agents.jax_ppo ({exc})") from None
    layers: list[tuple[np.ndarray, np.ndarray]] = []
    while LAYER_KEY.format(i=len(layers), part="kernel") in arrays:
        i = len(layers)
        layers.append((arrays[LAYER_KEY.format(i=i, part="kernel")], arrays[LAYER_KEY.format(i=i, part="bias")]))
    if not layers:
        raise ConfigError(f"{path} holds no actor layers (expected arrays named {LAYER_KEY.format(i=0, part='kernel')}, ...)")
    return layers


def actor_mean(layers: list[tuple[np.ndarray, np.ndarray]], obs: np.ndarray) -> np.ndarray:
    """The actor's mean action for observations (..., obs_dim): tanh hidden layers, linear head (float32)."""
    x = np.asarray(obs, dtype=np.float32)
    for kernel, bias in layers[:-1]:
        x = np.tanh(x @ kernel + bias)
    kernel, bias = layers[-1]
    return x @ kernel + bias


class NumpyPolicy:
    """The deterministic policy with SB3's ``predict`` signature, for :func:`agents.train.evaluate_policy_on_seeds`."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.layers = layers

    def predict(self, obs: np.ndarray, deterministic: bool = True, **_: Any) -> tuple[np.ndarray, None]:
        return np.clip(actor_mean(self.layers, obs), -1.0, 1.0), None


class JaxPolicyAgent(Agent):
    """The deterministic policy of a compiled-PPO run (``jax:<path to model.npz>``).

    :param spec: the env's dims (checked against the saved weights).
    :param path: the ``model.npz``; ``config.json`` beside it gives the ``obs_history`` trained with.
    """

    name = "jax"

    def __init__(self, spec: AgentSpec, path: str | Path, obs_history: int | None = None) -> None:
        super().__init__(spec)
        self.path = Path(path)
        self.layers = load_actor(self.path)
        config_path = self.path.with_name("config.json")
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        self.obs_history = int(obs_history if obs_history is not None else obs_history_of(config))
        expected_in = 2 * spec.dim + 1 + (self.obs_history - 1) * spec.dim
        if self.layers[0][0].shape[0] != expected_in or self.layers[-1][0].shape[1] != spec.dim:
            raise ConfigError(
                f"JAX policy {self.path} takes observations of {self.layers[0][0].shape[0]} and gives actions of "
                f"{self.layers[-1][0].shape[1]}, but this env with obs_history={self.obs_history} gives "
                f"observations of {expected_in} and actions of {spec.dim}"
            )
        self._stack = HistoryStacker(spec.dim, self.obs_history)

    def reset(self, seed: int | None = None) -> None:
        self._stack.reset()

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.split(obs)
        action = np.clip(actor_mean(self.layers, self._stack(obs)), -1.0, 1.0)
        return action.astype(np.float32)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "agent": f"jax:{self.path}", "obs_history": self.obs_history}
