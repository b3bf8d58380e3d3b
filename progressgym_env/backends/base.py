"""The backend protocol: how an action becomes a new model, and how humans are observed (DESIGN §6).

A backend owns one episode's models: the agent's model (a value vector in the surrogate, an LLM in
the ``llm`` backend) and, in PG-Coevolve, the simulated human. Envs only talk to this protocol, so
the same env code, spaces and judges run on every backend.

Timeline the env drives (century index t = 1..T-1):
``reset`` (model = simulated human = H_0) → per century: ``elicit`` (what the agent observes),
``update_model(action)`` → M_t, in Coevolve ``update_simulated_human(t)`` → S_t.

Besides the timeline, a backend answers what envs and agents may ask of it without knowing which
backend it is: its update ``capacity``, histories it provides by name (:meth:`Backend.history_source`,
e.g. the llm backend's ``"models"``) and, where its human update can be inverted, the model update
that steers the simulated human (:meth:`Backend.steering_shift`, used by the oracle).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from progressgym_env.history import History, HistorySource

DEFAULT_CAPACITY = 2.0
"""The logit shift of a full-strength update unless a backend sets its own (DESIGN §9): the largest
real corpus step is 1.71 logits, so a full update can follow any century of it."""


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

    def elicit(self, t: int, budget: int | None, *, simulated: bool = False) -> tuple[np.ndarray, int]:
        """Sample preferences of the human proxy of century ``t``, or of the simulated human.

        :param budget: number of answers to sample; None observes the exact values (no queries).
        :param simulated: ask Coevolve's simulated human instead of the century's proxy.
        :return: (estimated value vector in [0, 1], number of queries used).
        """

    @property
    def capacity(self) -> float:
        """The logit shift of a full-strength update (|a_i| = 1): what agents plan their updates with."""

    def history_source(self, name: str) -> HistorySource | None:
        """The history this backend provides under ``name`` (llm: ``"models"``), or None for none."""

    def steering_shift(self, goal: np.ndarray, t: int) -> np.ndarray | None:
        """The model's logit shift that makes century ``t``'s simulated-human update land on ``goal``.

        None when the backend cannot invert its human update (then an agent can only move its own
        model). Only valid between ``reset`` and the century's ``update_simulated_human``.
        """

    def config_dict(self) -> dict[str, Any]:
        """The backend's settings, JSON-serialisable (saved with every run)."""

    def close(self) -> None:
        """Release resources (models, files)."""


INTERFACES: tuple[str, ...] = ("vector", "examinee")
"""What an agent's action is: ``vector`` (the Box update signal, every backend) or ``examinee`` (a whole
updated model, backends implementing :class:`ExamineeBackend`)."""


@runtime_checkable
class ExamineeBackend(Backend, Protocol):
    """Optional extension: a backend whose agent may hand back whole models (env kwarg ``interface="examinee"``).

    The env calls :meth:`examinee_action_space` once, at construction; from then on the backend's
    ``update_model`` takes an element of that space and its ``elicit`` also prepares
    :meth:`observation_extras`, which the env adds to ``info`` (the llm backend: the century's judged
    preference pairs). Backends without it support the vector interface only.
    """

    def examinee_action_space(self) -> Any:
        """Switch to examinee mode and return the ``gymnasium.spaces.Space`` of its actions."""

    def observation_extras(self) -> dict[str, Any]:
        """Entries the env adds to ``info`` after each elicitation (e.g. ``preferences``)."""

    def agent_model(self, initial: bool = False) -> Any:
        """What the examinee starts its update from (the llm backend: a copy of the model and its tokenizer)."""

    def query_human(
        self, questions: Any, budget: int | None, *, simulated: bool = False, generate: bool = False, **options: Any
    ) -> Any:
        """Answers of the observed respondent to free-form queries, at most ``budget`` per century: choice
        probabilities on questions, or with ``generate=True`` the text it generates for prompt strings."""

    def recorded_update(self) -> Any:
        """The update a checkpointed earlier run handed back for the coming century, or None."""
