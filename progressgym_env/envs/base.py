"""The shared engine of the three ProgressGym envs: timeline, spaces, validation, info and records.

Each challenge is a thin subclass that names its judge (:mod:`progressgym_env.judges`; the built-ins
in ``follow.py``, ``predict.py``, ``coevolve.py``, a plugin's made by
:func:`progressgym_env.register_challenge`): the judge is the challenge's definition — its parameters
(which become env kwargs), targets, episode length, whether a simulated human answers the queries —
so this engine never asks which challenge it runs. Everything it needs from a backend is in the :class:`~progressgym_env.backends.Backend`
protocol. Timeline (DESIGN §2, §9): the model starts at H_0; ``reset`` observes century index t = 1;
each ``step`` applies the action (→ M_t), in Coevolve moves the simulated human (→ S_t), scores, then
advances t. The step at the last scored century returns ``terminated=True``.

Observation with memory (``obs_history=k``, default 1 = none): the previous k - 1 human estimates are
appended after the usual [estimate, model, progress], most recent first; at the start of an episode
the missing ones repeat the first estimate (Gymnasium's ``FrameStackObservation`` convention).

One info structure: every ``reset`` and ``step`` returns the same keys with the same shapes and dtypes
(tools that batch infos, such as Minari's ``DataCollector(record_infos=True)``, need that). At reset
``target_values`` is the target of the century in ``info["century"]`` (the first step's, as at every
step); ``final_score`` and ``normalized_score`` are 0.0 before the last step (read them on
``terminated``; summed over an episode they give its scores, as the normalised-score reward does).
Not NaN: Gymnasium's checkers compare infos with ``==``, and NaN never equals itself. The one exception
is ``episode_record`` (``record_in_info=True``), a nested dict on the last step only.
"""

from __future__ import annotations

import importlib.util
from typing import Any, ClassVar, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from progressgym_env.backends import Backend, make_backend
from progressgym_env.backends.base import INTERFACES, ExamineeBackend
from progressgym_env.elicitation import validate_query_budget
from progressgym_env.errors import ConfigError, EpisodeOrderError, InvalidActionError, MissingExtraError
from progressgym_env.history import History, HistorySource, resolve_history
from progressgym_env.judges import FIRST_SCORED_STEP, SIMILARITIES, FollowJudge, Judge
from progressgym_env.records import EpisodeRecord
from progressgym_env.validation import COMMON_KWARGS, reject_unknown_kwargs, validate_action

NO_SCORE = 0.0
"""``final_score`` and ``normalized_score`` in the infos before the last step (one info structure)."""
_NO_SCORE_INFO = np.float64(NO_SCORE)
"""NO_SCORE as the numpy scalar infos carry (immutable, so one object serves every info)."""
_NO_QUERIES_INFO = np.int64(0)
MAX_OBS_HISTORY = 64
"""Largest ``obs_history`` accepted (a sanity bound: histories have a handful of centuries)."""


def validate_obs_history(obs_history: Any) -> int:
    """``obs_history`` must be an int in 1..MAX_OBS_HISTORY (1 = the plain -v0 observation)."""
    if isinstance(obs_history, bool) or not isinstance(obs_history, (int, np.integer)):
        raise ConfigError(f"obs_history must be an int >= 1 (estimates in the observation), found {obs_history!r}")
    if not 1 <= int(obs_history) <= MAX_OBS_HISTORY:
        raise ConfigError(f"obs_history must be in 1..{MAX_OBS_HISTORY}, found {obs_history}")
    return int(obs_history)


def observation_space(dim: int, obs_history: int = 1) -> spaces.Box:
    """[estimate (d), model (d), progress (1), previous estimates ((k - 1) d)], all in [0, 1]."""
    return spaces.Box(0.0, 1.0, shape=(2 * dim + 1 + (obs_history - 1) * dim,), dtype=np.float32)


def _kwarg_hint(unknown: dict[str, Any]) -> str:
    """Where an unknown kwarg belongs, when it is another registered challenge's parameter."""
    from progressgym_env.registry import challenge_specs

    hints = []
    for name in sorted(unknown):
        owners = [spec.env_id for spec in challenge_specs() if name in spec.judge_class.param_defaults]
        if owners:
            hints.append(f"{name!r} applies to {', '.join(owners)} only")
    return "; ".join(hints)


def available_render_modes() -> list[str]:
    """The render modes this install can serve: ``ansi`` always, ``rgb_array`` only with matplotlib.

    Checked with :func:`importlib.util.find_spec`, which finds matplotlib without importing it (an
    import costs about a second). An env advertises only these in ``env.metadata["render_modes"]``,
    so tools that try every advertised mode (Gymnasium's ``check_env``) pass on the base install.
    """
    if importlib.util.find_spec("matplotlib") is None:
        return ["ansi"]
    return ["ansi", "rgb_array"]


def _flag(name: str, value: Any) -> bool:
    """A bool kwarg (numpy bools too); anything else is a :class:`ConfigError` naming it."""
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{name} must be True or False, found {value!r}")
    return bool(value)


class ChallengeIdentity:
    """What an env's challenge is, read from its judge class and its resolved parameters (shared by the
    single env and the society's Gymnasium form)."""

    judge_class: ClassVar[type[Judge]]
    params: dict[str, Any]

    @property
    def challenge(self) -> str:
        """The challenge name records carry (``follow``, ``predict``, ``coevolve`` or a plugin's)."""
        return self.judge_class.challenge

    @property
    def challenge_key(self) -> str:
        """The benchmark key of this env's challenge and parameters (``predict2``)."""
        from progressgym_env.registry import variant_key

        return variant_key(self.challenge, self.params)


class ProgressGymEnv(ChallengeIdentity, gym.Env[np.ndarray, np.ndarray]):
    """Base class; use ``PG-Follow-v0``, ``PG-Predict-v0`` or ``PG-Coevolve-v0``.

    Constructor arguments are keyword-only (see each env's Arguments table).
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 2}  # noqa: RUF012
    judge_class: ClassVar[type[Judge]] = FollowJudge
    env_id: ClassVar[str] = ""

    def __init__(
        self,
        *,
        history: Any = "corpus",
        similarity: str = "cosine",
        query_budget: int | None = 512,
        backend: str | Backend = "surrogate",
        backend_config: Any = None,
        render_mode: str | None = None,
        obs_history: int = 1,
        clip_actions: bool = False,
        record_in_info: bool = False,
        interface: str = "vector",
        **unknown: Any,
    ) -> None:
        params = {name: unknown.pop(name) for name in list(unknown) if name in self.judge_class.param_defaults}
        reject_unknown_kwargs(
            self.env_id, unknown, COMMON_KWARGS + tuple(self.judge_class.param_defaults), _kwarg_hint(unknown)
        )
        if similarity not in SIMILARITIES:
            raise ConfigError(f"unknown similarity {similarity!r}; choose one of {SIMILARITIES}")
        # Every mode the class supports is listed on the class (gym.make checks it there); an instance
        # advertises only those this install can serve.
        modes = [mode for mode in available_render_modes() if mode in type(self).metadata["render_modes"]]
        self.metadata = {**type(self).metadata, "render_modes": modes}
        if render_mode == "rgb_array" and render_mode not in self.metadata["render_modes"]:
            raise MissingExtraError("render_mode='rgb_array'", "render", "matplotlib")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(
                f"render_mode {render_mode!r} is not supported; choose one of {self.metadata['render_modes']} or None"
            )
        self.obs_history = validate_obs_history(obs_history)
        self.clip_actions = _flag("clip_actions", clip_actions)
        self.record_in_info = _flag("record_in_info", record_in_info)
        self.backend: Backend = make_backend(backend, backend_config)
        if isinstance(history, str):
            provided = self.backend.history_source(history)
            if provided is not None:
                history = provided
            elif history == "models":
                raise ConfigError(
                    f"history='models' is measured from human-proxy models and needs backend='llm', "
                    f"got {self.backend.name!r}"
                )
        self.history_source: HistorySource = resolve_history(history)
        self.num_centuries = int(self.history_source.num_centuries)
        self.value_space = self.history_source.value_space
        self.dim = self.value_space.dim
        validate_query_budget(query_budget, self.dim)
        self.similarity = similarity
        self.query_budget = query_budget
        self.params: dict[str, Any] = self.judge_class.resolve_params(params, self.num_centuries)
        # The challenge's answers that need no history values (offset, length, horizon) from a judge on zeros.
        self._definition = self._make_judge(np.zeros((self.num_centuries, self.dim)))
        self.render_mode = render_mode

        d = self.dim
        self.observation_space = observation_space(d, self.obs_history)
        self._obs_shape: tuple[int, ...] = self.observation_space.shape
        self.action_space: gym.Space[Any] = spaces.Box(-1.0, 1.0, shape=(d,), dtype=np.float32)
        self._action_shape = (d,)
        self.interface = self._set_interface(interface)
        self._progress_scale = 1.0 / (self.num_centuries - 1)

        self.history: History | None = None
        self.judge: Judge | None = None
        self._t = 0
        self._done = True
        self._needs_reset = True
        self._estimate = np.zeros(d)
        self._past = np.zeros((self.obs_history - 1, d))
        self._last_step = 0
        self._models = np.zeros((0, d))
        self._simulated = np.zeros((0, d))
        self._rewards = np.zeros(0)
        self._centuries: list[np.int64] = []
        """The episode's centuries as the numpy scalars infos carry (a list: indexing it costs no numpy call)."""
        self._query_infos: dict[int, np.int64] = {}
        """``info["queries"]`` values by count (immutable numpy scalars, so one object serves every info)."""
        self._simulates = self.judge_class.simulates_human
        self._steps_taken = 0
        self._closed = False

    # -- what the challenge is (read from its judge) -------------------------------------------

    @property
    def simulates_human(self) -> bool:
        """Whether a simulated human answers the queries (PG-Coevolve)."""
        return self.judge_class.simulates_human

    @property
    def target_offset(self) -> int:
        """How many centuries after the observed one a step's target lies (k on Predict, else 0)."""
        return self._definition.target_offset

    @property
    def agent_horizon(self) -> int:
        """How many centuries ahead an agent's model should aim (the judge's answer; baselines read it)."""
        return self._definition.agent_horizon

    @property
    def update_capacity(self) -> float:
        """The backend's logit shift at |a_i| = 1: what agents plan their updates with."""
        return float(self.backend.capacity)

    @property
    def episode_length(self) -> int:
        """Number of steps in an episode (8 on the 9-century timeline; 8 - k for Predict)."""
        return self._definition.episode_length

    def _make_judge(self, human: np.ndarray) -> Judge:
        """The challenge's judge on histories ``human`` (T, d), or (N, T, d) for the native vector env."""
        return self.judge_class(human, self.similarity, **self.params)

    # -- Gymnasium API ------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if self._closed:
            raise EpisodeOrderError(f"{self.env_id}: the env is closed; make a new one with gym.make({self.env_id!r})")
        if options:
            raise ConfigError(f"{self.env_id}.reset takes no options, got {sorted(options)}")
        history = self.history_source.sample(self.np_random)
        simulates = self.simulates_human
        if history is not self.history or self.judge is None:  # a fixed history keeps its judge
            self.judge = self._make_judge(history.values)
            n, d = self.judge.episode_length, self.dim
            # Per-episode buffers; episode_record() hands out copies, so they are reused.
            self._models = np.empty((n, d))
            self._rewards = np.empty(n)
            self._simulated = np.empty((self.num_centuries, d)) if simulates else np.zeros((0, d))
            self._last_step = self.judge.last_step
            self._centuries = list(np.asarray(history.centuries, dtype=np.int64))  # the info's np.int64 scalars
        self.history = history
        self.backend.reset(history, self.np_random, simulate_human=simulates)
        if simulates:
            self._simulated[0] = self.backend.simulated_values
        self._steps_taken = 0
        self._t = FIRST_SCORED_STEP
        self._done = False
        self._needs_reset = False
        estimate, queries = self.backend.elicit(self._t, self.query_budget, simulated=simulates)
        if self.obs_history > 1:
            self._past[:] = estimate
        extras = self.observation_extras()
        obs = self._observation(estimate, self.backend.model_values, self._t * self._progress_scale)
        info = {
            "human_values": self._observed_truth(),
            "model_values": self.backend.model_values.copy(),
            "century": self._centuries[self._t],
            "queries": self._queries_info(queries),
            "target_values": self.judge.target(self._t).copy(),  # the first step's
            "final_score": _NO_SCORE_INFO,
            "normalized_score": _NO_SCORE_INFO,
        }
        if simulates:
            info["simulated_human_values"] = self.backend.simulated_values.copy()
        info.update(extras)
        return obs, info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._done:  # also before the first reset
            if self._closed:
                raise EpisodeOrderError(f"{self.env_id}: step() after close(); make a new env")
            if self._needs_reset:
                raise EpisodeOrderError(f"{self.env_id}: call reset() before step()")
            raise EpisodeOrderError(
                f"{self.env_id}: the episode has terminated (the history ended); call reset() to start a new one"
            )
        if self.interface == "vector":
            action = validate_action(action, self._action_shape, self.clip_actions)
        elif not self.action_space.contains(action):
            raise InvalidActionError(f"{self.env_id}: the action is not an element of {self.action_space}")
        judge, history, backend = self.judge, self.history, self.backend
        assert judge is not None and history is not None
        t, i = self._t, self._steps_taken
        model = backend.update_model(action)
        simulated = None
        if judge.simulates_human:
            simulated = backend.update_simulated_human(t)
            self._simulated[t] = simulated
        target = judge.target(t)
        reward = float(judge.step_rewards(target, model, simulated))
        self._models[i] = model
        self._rewards[i] = reward
        self._steps_taken = i + 1
        terminated = t == self._last_step
        info: dict[str, Any] = {
            "target_values": target.copy(),
            "model_values": model.copy(),
            "century": self._centuries[t],
        }
        if simulated is not None:
            info["simulated_human_values"] = simulated.copy()
        if terminated:
            self._done = True
            obs = self._observation(self._estimate, model, 1.0, advance=False)
            info["queries"] = _NO_QUERIES_INFO
            info["human_values"] = self._observed_truth()
            # Scored from the episode's buffers (the judge's rewards shortcut where rewards are its
            # terms): the numbers episode_record() would give, without building the record.
            score = float(judge.final_scores(self._models, self._simulated if simulated is not None else None,
                                             self._rewards))
            info["final_score"] = np.float64(score)
            info["normalized_score"] = np.float64(judge.normalized_score(score))
            if self.record_in_info:
                info["episode_record"] = self.episode_record().to_dict()
            # the backend's entries too (llm: the final model's measurement), so every step's info has the
            # keys of reset's (Minari's DataCollector(record_infos=True) requires one structure)
            info.update(self.observation_extras())
        else:
            self._t = t = t + 1
            estimate, queries = backend.elicit(t, self.query_budget, simulated=simulated is not None)
            info["queries"] = self._queries_info(queries)
            obs = self._observation(estimate, model, t * self._progress_scale)
            info["human_values"] = self._observed_truth()
            info["final_score"] = _NO_SCORE_INFO  # scored on the last step
            info["normalized_score"] = _NO_SCORE_INFO
            if self._backend_extras:
                info.update(self.observation_extras())
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
        """Release the backend; idempotent. The env cannot be reset or stepped afterwards."""
        if not self._closed:
            self.backend.close()
        self._closed = True
        self._done = True
        super().close()

    # -- examinee interface ---------------------------------------------------------------------

    def _set_interface(self, interface: Any) -> str:
        """Check ``interface``; for ``examinee`` take the backend's action space (models as actions)."""
        if interface not in INTERFACES:
            raise ConfigError(f"unknown interface {interface!r}; choose one of {INTERFACES}")
        # Checked once here: a runtime protocol check per step would cost the surrogate path microseconds.
        self._backend_extras = isinstance(self.backend, ExamineeBackend)
        if interface == "examinee":
            if not isinstance(self.backend, ExamineeBackend):
                raise ConfigError(
                    f"interface='examinee' needs a backend that takes models as actions (backend='llm'); "
                    f"{self.backend.name!r} takes the vector interface only"
                )
            if self.query_budget is None:
                raise ConfigError("interface='examinee' needs an int query_budget (judged pairs per century), not None")
            self.action_space = self.backend.examinee_action_space()
        return str(interface)

    def _examinee_backend(self) -> ExamineeBackend:
        if self.interface != "examinee" or not isinstance(self.backend, ExamineeBackend):
            raise ConfigError(f"{self.env_id}: this needs interface='examinee' (the env was made with {self.interface!r})")
        return self.backend

    def observation_extras(self) -> dict[str, Any]:
        """What the backend adds to ``info`` with each observation (llm: measurement details; examinee
        mode also ``preferences``); nothing on backends without :class:`ExamineeBackend` (the surrogate)."""
        if not self._backend_extras:
            return {}
        return self.backend.observation_extras()  # type: ignore[attr-defined]

    def agent_model(self, initial: bool = False) -> Any:
        """Examinee mode: the model to start this century's update from (the llm backend: a copy of the
        current model and its tokenizer; ``initial=True``: of the episode's starting model)."""
        return self._examinee_backend().agent_model(initial)

    def query_human(self, questions: Any, *, generate: bool = False, max_new_tokens: int | None = None) -> Any:
        """Examinee mode: the observed respondent's answers to free-form queries.

        The respondent is the century's human proxy (Coevolve: the simulated human); at most
        ``query_budget`` queries per century, counted in the next step's ``info["queries"]``.
        ``generate=False``: ``questions`` are multiple-choice questions (``(prompt, candidates)`` pairs or
        ``Question`` objects) and the answers their choice probabilities. ``generate=True``: ``questions``
        are prompt strings and the answers the text the respondent's model generates (at most
        ``max_new_tokens`` tokens each; the backend's default when None).

        :raises QueryBudgetError: the century's queries would exceed ``query_budget``.
        """
        backend = self._examinee_backend()
        if not generate:
            return backend.query_human(questions, self.query_budget, simulated=self.simulates_human)
        extra = {} if max_new_tokens is None else {"max_new_tokens": int(max_new_tokens)}
        return backend.query_human(questions, self.query_budget, simulated=self.simulates_human, generate=True, **extra)

    def recorded_update(self) -> Any:
        """Examinee mode: the update a checkpointed earlier run handed back for the coming century (None: live).

        Step with its ``action`` to replay the century without training (see :mod:`progressgym_env.llm.examinee`).
        """
        return self._examinee_backend().recorded_update()

    # -- helpers --------------------------------------------------------------------------------

    def _observation(self, estimate: np.ndarray, model: np.ndarray, progress: float, advance: bool = True) -> np.ndarray:
        """A fresh observation array.

        The estimate is kept for the terminal observation, which repeats it; with ``obs_history``
        the previous estimate moves into the memory unless ``advance`` is False (the terminal step).
        """
        d = self.dim
        obs = np.empty(self._obs_shape, dtype=np.float32)
        obs[:d] = estimate
        obs[d : 2 * d] = model
        obs[2 * d] = progress
        if self.obs_history > 1:
            if advance and self._steps_taken:
                self._past[1:] = self._past[:-1].copy()
                self._past[0] = self._estimate
            obs[2 * d + 1 :] = self._past.ravel()
        self._estimate = estimate
        return obs

    def _queries_info(self, queries: int) -> np.int64:
        """``queries`` as the numpy scalar infos carry (kept per count)."""
        scalar = self._query_infos.get(queries)
        if scalar is None:
            scalar = self._query_infos[queries] = np.int64(queries)
        return scalar

    def _observed_truth(self) -> np.ndarray:
        """The true vector behind the current observation (H_t, or S in Coevolve)."""
        if self._simulates:
            return self.backend.simulated_values.copy()
        assert self.history is not None
        return self.history.values[self._t].copy()

    def episode_record(self) -> EpisodeRecord:
        """The vectors of the episode so far; a judge recomputes the score from them alone.

        :raises EpisodeOrderError: before the first ``reset()`` (no episode yet).
        """
        if self.history is None or self.judge is None:
            raise EpisodeOrderError(f"{self.env_id}: no episode yet; call reset() before episode_record() or render()")
        n = self._steps_taken
        return EpisodeRecord(
            challenge=self.challenge,
            human=np.array(self.history.values),
            model=self._models[:n].copy(),
            rewards=self._rewards[:n].copy(),
            centuries=list(self.history.centuries),
            value_space=self.value_space.name,
            dims=list(self.value_space.dims),
            similarity=self.similarity,
            backend=self.backend.config_dict(),
            history_provenance=dict(self.history.provenance),
            params=dict(self.judge.params),
            simulated=self._simulated[: n + 1].copy() if self.judge.simulates_human else None,
        )
