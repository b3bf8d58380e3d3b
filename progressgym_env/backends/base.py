"""The backend protocol: how an action becomes a new model, and how humans are observed (DESIGN §6).

A backend owns one episode's models: the agent's model (a value vector in the surrogate, an LLM in
the ``llm`` backend) and, in PG-Coevolve, the simulated human. Envs only talk to this protocol, so
the same env code, spaces and judges run on every backend.

Timeline the env drives (century index t = 1..T-1):
``reset`` (model = simulated human = H_0) → per century: ``elicit`` (what the agent observes),
``update_model(action)`` → M_t, in Coevolve ``update_simulated_human(t)`` → S_t.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from progressgym_env.history import History

Respondent = Literal["history", "simulated"]
"""Who answers elicitation queries: the century's real human proxy or Coevolve's simulated human."""


@runtime_checkable
class Backend(Protocol):
    """What every backend implements."""

    name: str
    nondeterministic: bool
    """True when results depend on more than the env's seed (e.g. GPU kernels)."""

    def reset(self, history: History, rng: np.random.Generator, *, simulate_human: bool) -> None:
        """Start an episode on ``history``: model (and simulated human) start at H_0.

        :param rng: the env's seeded generator; the backend draws every random number from it.
        :param simulate_human: whether to keep a simulated human (PG-Coevolve).
        """

    @property
    def model_values(self) -> np.ndarray:
        """The agent model's current value vector (d,), float64."""

    @property
    def simulated_values(self) -> np.ndarray:
        """The simulated human's current value vector (d,), float64 (Coevolve only)."""

    def update_model(self, action: np.ndarray) -> np.ndarray:
        """Apply one century's policy update; return the new model values M_t."""

    def update_simulated_human(self, t: int) -> np.ndarray:
        """S_t = AI-pull(history-pull(S_{t-1}, H_t), M_t); return S_t."""

    def elicit(self, respondent: Respondent, t: int, budget: int | None) -> tuple[np.ndarray, int]:
        """Sample preferences of ``respondent`` (the proxy of century ``t`` or the simulated human).

        :return: (estimated value vector in [0, 1], number of queries used).
        """

    def config_dict(self) -> dict[str, Any]:
        """The backend's settings, JSON-serialisable (saved with every run)."""

    def close(self) -> None:
        """Release resources (models, files)."""
