"""``offline:<folder>``: the agent an offline run saved (:mod:`agents.offline.training`), as an :class:`Agent`.

The folder holds ``policy.pt`` (the selected actor's weights) and ``config.json`` (network sizes and the
dataset it was trained on). The agent plays the mode of the actor's squashed Gaussian (deterministic),
exactly what validation selected it by. Loading needs the ``offline`` extra (torch, torchrl).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from agents.base import Agent, AgentSpec
from progressgym_env.errors import ConfigError, ModelLoadError


class OfflineAgent(Agent):
    """The deterministic policy of a saved offline run.

    :param spec: the env's dims. :param path: the run folder (or its ``policy.pt``/``config.json``).
    """

    def __init__(self, spec: AgentSpec, path: str | Path) -> None:
        super().__init__(spec)
        from agents.offline.training import (
            CONFIG_FILE,
            POLICY_FILE,
            ActorPolicy,
            build_actor,
            require_offline_extra,
        )

        folder = Path(path)
        if folder.is_file():
            folder = folder.parent
        config_path, policy_path = folder / CONFIG_FILE, folder / POLICY_FILE
        if not config_path.is_file() or not policy_path.is_file():
            raise ModelLoadError(f"offline agent {path}: expected a run folder with {CONFIG_FILE} and {POLICY_FILE} "
                                 "(written by progressgym offline-train)")
        try:
            self.saved: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8"))
            obs_dim, act_dim = int(self.saved["obs_dim"]), int(self.saved["act_dim"])
            hidden = tuple(int(h) for h in self.saved["hidden"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"offline agent {path}: {config_path} is not an offline run's config ({exc})") from None
        if act_dim != spec.dim:
            raise ConfigError(f"offline agent {path} acts in {act_dim} value dimensions, the env has {spec.dim}")
        require_offline_extra()
        import torch

        actor = build_actor(obs_dim, act_dim, hidden)
        try:
            actor.load_state_dict(torch.load(policy_path, map_location="cpu", weights_only=True))
        except (RuntimeError, OSError, ValueError) as exc:
            raise ModelLoadError(f"offline agent {path}: cannot load {policy_path} ({exc})") from None
        self.obs_dim = obs_dim
        self.policy = ActorPolicy(actor)
        self.algo = str(self.saved.get("offline", {}).get("algo", "offline"))
        self.name = f"offline-{self.algo}"

    def act(self, obs: np.ndarray) -> np.ndarray:
        array = np.asarray(obs, dtype=np.float32)
        if array.shape != (self.obs_dim,):
            raise ConfigError(f"{self.name} was trained on observations of shape ({self.obs_dim},), got {array.shape}; "
                              "build the env with the dataset's env kwargs (e.g. obs_history)")
        action, _ = self.policy.predict(array)
        return np.asarray(action, dtype=np.float32)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "agent": self.name, "dataset": self.saved.get("offline", {}).get("dataset"),
                "validation_best_mean": self.saved.get("validation", {}).get("best_mean")}


__all__ = ["OfflineAgent"]
