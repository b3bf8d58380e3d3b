"""The shared engine of the three ProgressGym envs: timeline, spaces, validation, info and records.

Each challenge (``follow.py``, ``predict.py``, ``coevolve.py``) is a thin subclass that fixes the
judge and who answers elicitation queries; its module docstring is the env's spec. Timeline (DESIGN
§2, §9): the model starts at H_0; ``reset`` observes century index t = 1; each ``step`` applies the
action (→ M_t), in Coevolve moves the simulated human (→ S_t), scores, then advances t. The step at
the last scored century returns ``terminated=True``.
"""

from __future__ import annotations

from typing import Any, ClassVar, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from progressgym_env.backends import Backend, Respondent, make_backend
from progressgym_env.elicitation import validate_query_budget
from progressgym_env.errors import EpisodeOrderError
from progressgym_env.history import History, HistorySource, resolve_history
from progressgym_env.judges import FIRST_SCORED_STEP, SIMILARITIES, Judge, make_judge
from progressgym_env.errors import ConfigError
from progressgym_env.validation import reject_unknown_kwargs, validate_action

COMMON_KWARGS = ("history", "similarity", "query_budget", "backend", "backend_config", "render_mode")


class ProgressGymEnv(gym.Env[np.ndarray, np.ndarray]):
    """Base class; use ``PG-Follow-v0``, ``PG-Predict-v0`` or ``PG-Coevolve-v0``."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 2}
    challenge: ClassVar[str] = ""
    env_id: ClassVar[str] = ""
    respondent: ClassVar[Respondent] = "history"
    extra_kwargs: ClassVar[tuple[str, ...]] = ()
    unknown_kwarg_hint: ClassVar[str] = ""

    def __init__(
        self,
        history: Any = "corpus",
        similarity: str = "cosine",
        query_budget: int | None = 512,
        backend: str | Backend = "surrogate",
        backend_config: Any = None,
        render_mode: str | None = None,
        timesteps_ahead: int | None = None,
        **unknown: Any,
    ) -> None:
        if timesteps_ahead is not None and "timesteps_ahead" not in self.extra_kwargs:
            unknown["timesteps_ahead"] = timesteps_ahead
        reject_unknown_kwargs(
            self.env_id, unknown, COMMON_KWARGS + self.extra_kwargs, self.unknown_kwarg_hint
        )
        if similarity not in SIMILARITIES:
            raise ConfigError(f"unknown similarity {similarity!r}; choose one of {SIMILARITIES}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(
                f"render_mode {render_mode!r} is not supported; choose one of {self.metadata['render_modes']} or None"
            )
        backend_obj: Backend | None = None
        if isinstance(history, str) and history == "models":
            # The models history is measured from the backend's human proxies (llm backend).
            backend_obj = make_backend(backend, backend_config)
            provider = getattr(backend_obj, "models_history", None)
            if provider is None:
                raise ConfigError(
                    f"history='models' is measured from human-proxy models and needs backend='llm', got {backend_obj.name!r}"
                )
            history = provider()
        self.history_source: HistorySource = resolve_history(history)
        self.num_centuries = int(self.history_source.num_steps)
        self.value_space = self.history_source.value_space
        self.dim = self.value_space.dim
        validate_query_budget(query_budget, self.dim)
        self.similarity = similarity
        self.query_budget = query_budget
        self.timesteps_ahead = timesteps_ahead
        self._validate_extra_kwargs()
        self.backend: Backend = backend_obj if backend_obj is not None else make_backend(backend, backend_config)
        self.render_mode = render_mode

        d = self.dim
        self.observation_space = spaces.Box(0.0, 1.0, shape=(2 * d + 1,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(d,), dtype=np.float32)
        self._action_shape = (d,)
        self._progress_scale = 1.0 / (self.num_centuries - 1)

        self.history: History | None = None
        self.judge: Judge | None = None
        self._t = 0
        self._done = True
        self._needs_reset = True
        self._estimate = np.zeros(d)
        self._last_step = 0
        self._models = np.zeros((0, d))
        self._simulated = np.zeros((0, d))
        self._rewards = np.zeros(0)
        self._steps_taken = 0

    # -- hooks for the challenge subclasses -------------------------------------------------

    def _validate_extra_kwargs(self) -> None:
        """Check challenge-specific kwargs (Predict's ``timesteps_ahead``)."""

    def _make_judge(self, history: History) -> Judge:
        return make_judge(self.challenge, history.values, self.similarity, self.timesteps_ahead)

    # -- Gymnasium API ------------------------------------------------------------------------

    @property
    def episode_length(self) -> int:
        """Number of steps in an episode (8 on the 9-century timeline; 8 - k for Predict)."""
        return self.num_centuries - 1 - (self.timesteps_ahead or 0)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if options:
            raise ConfigError(f"{self.env_id}.reset takes no options, got {sorted(options)}")
        history = self.history_source.sample(self.np_random)
        if history is not self.history or self.judge is None:  # a fixed history keeps its judge
            self.judge = self._make_judge(history)
            n, d = self.judge.num_steps, self.dim
            # Per-episode buffers; episode_record() hands out copies, so they are reused.
            self._models = np.empty((n, d))
            self._rewards = np.empty(n)
            self._simulated = np.empty((self.num_centuries, d)) if self.respondent == "simulated" else np.zeros((0, d))
            self._last_step = self.judge.last_step
        self.history = history
        self.backend.reset(history, self.np_random, simulate_human=self.respondent == "simulated")
        if self.respondent == "simulated":
            self._simulated[0] = self.backend.simulated_values
        self._steps_taken = 0
        self._t = FIRST_SCORED_STEP
        self._done = False
        self._needs_reset = False
        estimate, queries = self.backend.elicit(self.respondent, self._t, self.query_budget)
        obs = self._observation(estimate, self.backend.model_values, self._t * self._progress_scale)
        info = {
            "human_values": self._observed_truth(),
            "model_values": self.backend.model_values.copy(),
            "century": history.centuries[self._t],
            "queries": queries,
        }
        if self.respondent == "simulated":
            info["simulated_human_values"] = self.backend.simulated_values.copy()
        return obs, info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._done:  # also before the first reset
            if self._needs_reset:
                raise EpisodeOrderError(f"{self.env_id}: call reset() before step()")
            raise EpisodeOrderError(
                f"{self.env_id}: the episode has terminated (the history ended); call reset() to start a new one"
            )
        action = validate_action(action, self._action_shape)
        judge, history, backend = self.judge, self.history, self.backend
        assert judge is not None and history is not None
        t, i = self._t, self._steps_taken
        model = backend.update_model(action)
        simulated = None
        if self.respondent == "simulated":
            simulated = backend.update_simulated_human(t)
            self._simulated[t] = simulated
        reward = judge.step_reward(t, model, simulated)
        self._models[i] = model
        self._rewards[i] = reward
        self._steps_taken = i + 1
        terminated = t == self._last_step
        info: dict[str, Any] = {
            "target_values": judge.target(t),
            "model_values": model.copy(),
            "century": history.centuries[t],
        }
        if simulated is not None:
            info["simulated_human_values"] = simulated.copy()
        if terminated:
            self._done = True
            obs = self._observation(self._estimate, model, 1.0)
            info["queries"] = 0
            info["human_values"] = self._observed_truth()
            record = self.episode_record()
            info["final_score"] = judge.final_score(record)
            info["normalized_score"] = judge.normalized_score(info["final_score"])
            info["episode_record"] = record
        else:
            self._t = t + 1
            estimate, info["queries"] = backend.elicit(self.respondent, self._t, self.query_budget)
            obs = self._observation(estimate, model, self._t * self._progress_scale)
            info["human_values"] = self._observed_truth()
        return obs, reward, terminated, False, info

    def render(self) -> Any:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'rgb_array'")
            return None
        from progressgym_env import rendering

        if self.render_mode == "ansi":
            return rendering.render_ansi(self)
        return rendering.render_rgb_array(self)

    def close(self) -> None:
        self.backend.close()
        super().close()

    # -- helpers --------------------------------------------------------------------------------

    def _observation(self, estimate: np.ndarray, model: np.ndarray, progress: float) -> np.ndarray:
        """A fresh observation array; the estimate is kept for the terminal observation, which repeats it."""
        d = self.dim
        obs = np.empty(2 * d + 1, dtype=np.float32)
        obs[:d] = estimate
        obs[d : 2 * d] = model
        obs[-1] = progress
        self._estimate = estimate
        return obs

    def _observed_truth(self) -> np.ndarray:
        """The true vector behind the current observation (H_t, or S in Coevolve)."""
        if self.respondent == "simulated":
            return self.backend.simulated_values.copy()
        assert self.history is not None
        return self.history.values[self._t].copy()

    def episode_record(self) -> dict[str, Any]:
        """The vectors of the episode so far; a judge recomputes the score from them alone.

        Keys: ``challenge``, ``timesteps_ahead`` (Predict), ``human`` (T x d real history),
        ``model`` (the model after each step), ``simulated`` (Coevolve: S_0..S_{T-1}),
        ``rewards``, ``centuries``, ``value_space``, ``dims``, ``similarity``, ``backend``.
        """
        assert self.history is not None
        n = self._steps_taken
        record: dict[str, Any] = {
            "challenge": self.challenge,
            "human": np.array(self.history.values),
            "model": self._models[:n].copy(),
            "rewards": self._rewards[:n].copy(),
            "centuries": list(self.history.centuries),
            "value_space": self.value_space.name,
            "dims": list(self.value_space.dims),
            "similarity": self.similarity,
            "backend": self.backend.config_dict(),
            "history_provenance": dict(self.history.provenance),
        }
        if self.challenge == "predict":
            record["timesteps_ahead"] = self.timesteps_ahead
        if self.respondent == "simulated":
            record["simulated"] = self._simulated[: n + 1].copy()
        return record
