"""A trained stable-baselines3 model as a leaderboard agent, loaded by path.

``make_agent("ppo:runs/ppo-follow/model.zip", env)`` (or ``sb3:<path>``, algorithm read from the
config JSON saved beside the model by :mod:`agents.train`) wraps the model's deterministic policy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from agents.base import Agent, AgentSpec
from progressgym_env.errors import ConfigError, MissingExtraError

ALGO_NAMES: tuple[str, ...] = ("ppo", "sac", "td3", "a2c")


def algo_class(name: str) -> Any:
    """The stable-baselines3 class of ``name`` (ppo, sac, td3, a2c); SB3 is imported lazily."""
    key = name.lower()
    if key not in ALGO_NAMES:
        raise ConfigError(f"unknown SB3 algorithm {name!r}; choose one of {ALGO_NAMES}")
    try:
        import stable_baselines3
    except ImportError:
        raise MissingExtraError("SB3 agents", "sb3", "stable_baselines3") from None
    return getattr(stable_baselines3, key.upper())


def algo_from_saved_config(path: Path) -> str:
    """Read the algorithm name from the ``config.json`` that training writes beside a model."""
    config_path = path.with_name("config.json")
    if not config_path.is_file():
        raise ConfigError(
            f"cannot tell which SB3 algorithm saved {path}: no config.json beside it; "
            f"name it in the agent spec, e.g. 'ppo:{path}'"
        )
    algo = json.loads(config_path.read_text(encoding="utf-8")).get("algo")
    if not isinstance(algo, str):
        raise ConfigError(f"{config_path} has no 'algo' field naming the SB3 algorithm")
    return algo


class SB3Agent(Agent):
    """Deterministic policy of a saved SB3 model (``model.zip``).

    :param spec: the env's dims (checked against the model's spaces).
    :param path: path to the saved model.
    :param algo: ``ppo``, ``sac``, ``td3`` or ``a2c``; ``None`` reads it from ``config.json``.
    :param deterministic: use the policy's mean/greedy action (default) rather than sampling.
    """

    def __init__(self, spec: AgentSpec, path: str | Path, algo: str | None = None, deterministic: bool = True) -> None:
        super().__init__(spec)
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(f"SB3 model file {str(self.path)!r} does not exist (expected a model.zip saved by SB3)")
        self.algo = (algo or algo_from_saved_config(self.path)).lower()
        self.name = self.algo
        self.deterministic = deterministic
        self.model = algo_class(self.algo).load(str(self.path), device="cpu")
        obs_shape = tuple(self.model.observation_space.shape)
        act_shape = tuple(self.model.action_space.shape)
        if obs_shape != (2 * spec.dim + 1,) or act_shape != (spec.dim,):
            raise ConfigError(
                f"SB3 model {self.path} was trained on observations {obs_shape} and actions {act_shape}, "
                f"but this env has observations {(2 * spec.dim + 1,)} and actions {(spec.dim,)} "
                "(a different value space?)"
            )

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.split(obs)
        action, _ = self.model.predict(np.asarray(obs, dtype=np.float32), deterministic=self.deterministic)
        return np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0).astype(np.float32)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "algo": self.algo, "path": str(self.path), "deterministic": self.deterministic}
