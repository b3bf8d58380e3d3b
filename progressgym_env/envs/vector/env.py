"""The native vector env classes: Gymnasium's ``VectorEnv`` API over the batched episodes.

This module holds the API only: argument checks, seeding, the autoreset modes and the order of
resets and steps. The batched work is in :mod:`.episodes` (the step), :mod:`.estimates`
(observations), :mod:`.state` (the arrays), :mod:`.records` and :mod:`.layout` (infos).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from progressgym_env.envs.base import ProgressGymEnv
from progressgym_env.envs.coevolve import CoevolveEnv
from progressgym_env.envs.follow import FollowEnv
from progressgym_env.envs.predict import PredictEnv
from progressgym_env.envs.vector.draws import RNG_MODES, Seed, SubEnvGenerators, batch_generator
from progressgym_env.envs.vector.episodes import BatchEpisodes
from progressgym_env.envs.vector.layout import Infos, checked_mask, parse_autoreset_mode, same_step_infos
from progressgym_env.envs.vector.rows import Rows
from progressgym_env.envs.vector.settings import VectorSettings, check_batched_backend
from progressgym_env.envs.vector.state import Histories
from progressgym_env.errors import ConfigError, EpisodeOrderError
from progressgym_env.judges import Judge
from progressgym_env.registry import variant_key
from progressgym_env.validation import validate_action


class ProgressGymVectorEnv(VectorEnv):
    """Base class of the native vector envs; use ``gym.make_vec(id, num_envs=N)``.

    :param num_envs: N, the number of sub-envs.
    :param rng_mode: ``"fast"`` (one batched generator) or ``"exact"`` (one per sub-env, trajectories
        equal to single envs); see :mod:`progressgym_env.envs.vector`.
    :param autoreset_mode: ``NEXT_STEP`` (default), ``SAME_STEP`` or ``DISABLED``, as in Gymnasium.
    :param backend: must be ``"surrogate"``.
    :param kwargs: every kwarg of the single env (``history``, ``similarity``, ``query_budget``,
        ``backend_config``, ``render_mode``, Predict's ``timesteps_ahead``), validated by it.
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}  # noqa: RUF012
    single_env_class: ClassVar[type[ProgressGymEnv]] = ProgressGymEnv

    def __init__(
        self,
        num_envs: int = 1,
        *,
        rng_mode: str = "fast",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        backend: Any = "surrogate",
        **kwargs: Any,
    ) -> None:
        env_id = self.single_env_class.env_id
        self.autoreset_mode = parse_autoreset_mode(autoreset_mode, env_id)
        self.metadata = {**type(self).metadata, "autoreset_mode": self.autoreset_mode}
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ConfigError(f"{env_id} vector env: num_envs must be a positive int, found {num_envs!r}")
        if rng_mode not in RNG_MODES:
            raise ConfigError(f"{env_id} vector env: rng_mode must be one of {RNG_MODES}, found {rng_mode!r}")
        check_batched_backend(backend, env_id, int(num_envs))
        self.num_envs = n = int(num_envs)
        self.rng_mode = rng_mode
        # One single env validates every kwarg exactly as gym.make would; only its settings are kept.
        single = self.single_env_class(backend="surrogate", **kwargs)
        try:
            self.settings = settings = VectorSettings.read(single)
            histories = Histories(settings, n)
            judge = single._make_judge(histories.human)
        finally:
            single.close()
        self.judge: Judge = judge
        self.render_mode = settings.render_mode
        self.single_observation_space = settings.observation_space
        self.single_action_space = settings.action_space
        self.observation_space = batch_space(settings.observation_space, n)
        self.action_space = batch_space(settings.action_space, n)
        self._generators = SubEnvGenerators(n)
        self._episodes = BatchEpisodes(settings, histories, judge, self._generators, fast=rng_mode == "fast")
        self._last_obs = np.zeros((n, *settings.observation_space.shape), dtype=np.float32)
        self._autoreset = np.zeros(n, dtype=bool)  # rows that terminated on the previous step
        self._needs_reset = True

    # -- what the env is (the single env's attributes, read from its settings and judge) ------------

    env_id = property(lambda self: self.settings.env_id, doc="The single env's Gymnasium id.")
    challenge = property(lambda self: self.settings.challenge, doc="The challenge name.")
    history_source = property(lambda self: self.settings.history_source, doc="Where histories come from.")
    num_centuries = property(lambda self: self.settings.num_centuries, doc="T, the history length.")
    similarity = property(lambda self: self.settings.similarity, doc="The reward similarity.")
    query_budget = property(lambda self: self.settings.query_budget, doc="Queries per century (None: exact).")
    obs_history = property(lambda self: self.settings.obs_history, doc="Estimates in the observation.")
    clip_actions = property(lambda self: self.settings.clip_actions, doc="Whether actions are clipped.")
    record_in_info = property(lambda self: self.settings.record_in_info, doc="Whether records are in infos.")
    update_capacity = property(lambda self: self.settings.update_capacity, doc="Logit shift at |a_i| = 1.")
    params = property(lambda self: self.settings.params, doc="The challenge's parameters (its judge's).")
    challenge_key = property(lambda self: variant_key(self.challenge, self.params), doc="The benchmark key.")
    agent_horizon = property(lambda self: self.judge.agent_horizon, doc="How far ahead agents aim.")
    target_offset = property(lambda self: self.judge.target_offset, doc="Centuries from observation to target.")
    simulates_human = property(lambda self: self.judge.simulates_human, doc="Whether a simulated human answers.")
    episode_length = property(lambda self: self.judge.episode_length, doc="Steps in an episode.")

    value_space = property(lambda self: self.settings.value_space, doc="The histories' value space.")
    dim = property(lambda self: self.settings.dim, doc="d, the number of value dimensions.")
    config = property(lambda self: self.settings.config, doc="The surrogate backend's settings.")
    # Read by privileged agents (the batched oracle) only: the hidden state, (N, ...) arrays, read-only.
    model_values = property(lambda self: self._episodes.state.model_values, doc="The sub-envs' models (N, d).")
    simulated_values = property(lambda self: self._episodes.state.sim_values,
                                doc="The sub-envs' simulated humans (N, d) (where the judge simulates one).")
    human_histories = property(lambda self: self._episodes.histories.human, doc="The sub-envs' histories (N, T, d).")
    # Kept for tests that inspect them: fast mode's binomial table, the current models (N, d).
    _table = property(lambda self: self._episodes.elicitation.table)
    _model_values = property(lambda self: self._episodes.state.model_values)

    # -- Gymnasium vector API ---------------------------------------------------------------------

    def reset(
        self, *, seed: Seed = None, options: Mapping[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every sub-env, or those of ``options["reset_mask"]``; seeds as ``SyncVectorEnv``'s."""
        if getattr(self, "closed", False):
            raise EpisodeOrderError(f"{self.env_id} vector env: reset() after close(); make a new one")
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if options:
            raise ConfigError(f"{self.env_id} vector env: reset takes only the 'reset_mask' option, got {sorted(options)}")
        rows = Rows.all(self.num_envs) if mask is None else Rows.of(checked_mask(mask, self.num_envs))
        if mask is not None and self._needs_reset:
            raise EpisodeOrderError(f"{self.env_id} vector env: the first reset() must reset every sub-env (no reset_mask)")
        self._seed(seed, rows)
        obs = np.zeros_like(self._last_obs) if rows.full else self._last_obs.copy()
        infos: Infos = {}
        self._episodes.reset_rows(rows, obs, infos, self._batch_rng())
        self._autoreset[rows.sel] = False
        self._needs_reset = False
        self._last_obs = obs
        return obs.copy(), infos

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-env (with NEXT_STEP autoreset, those that terminated on the previous step reset instead)."""
        if getattr(self, "closed", False):
            raise EpisodeOrderError(f"{self.env_id} vector env: step() after close(); make a new one")
        if self._needs_reset:
            raise EpisodeOrderError(f"{self.env_id} vector env: call reset() before step()")
        ended = self._autoreset.any()
        if self.autoreset_mode == AutoresetMode.DISABLED and ended:
            raise EpisodeOrderError(
                f"{self.env_id} vector env (autoreset_mode=DISABLED): sub-envs {np.flatnonzero(self._autoreset)[:10].tolist()} "
                "have terminated; reset them with reset(options={'reset_mask': mask}) before the next step"
            )
        actions = validate_action(actions, self.action_space.shape, self.settings.clip_actions)  # type: ignore[arg-type]
        n, rng = self.num_envs, self._batch_rng()
        obs = np.empty(self._last_obs.shape, dtype=np.float32)
        rewards = np.zeros(n)
        terminated = np.zeros(n, dtype=bool)
        infos: Infos = {}
        if ended and self.autoreset_mode == AutoresetMode.NEXT_STEP:
            stepping, resetting = Rows.of(~self._autoreset), Rows.of(self._autoreset)
        else:
            stepping, resetting = Rows.all(n), None
        if stepping.count:
            self._episodes.step_rows(stepping, actions, obs, rewards, terminated, infos, rng)
        if resetting is not None:
            self._episodes.reset_rows(resetting, obs, infos, rng)
        if self.autoreset_mode == AutoresetMode.SAME_STEP and terminated.any():
            infos = same_step_infos(terminated, obs, infos)
            self._episodes.reset_rows(Rows.of(terminated), obs, infos, rng)
            self._autoreset = np.zeros(n, dtype=bool)
        else:
            self._autoreset = terminated.copy()
        self._last_obs = obs
        return obs.copy(), rewards, terminated, np.zeros(n, dtype=bool), infos

    def render(self) -> Any:
        raise NotImplementedError(
            f"the native {self.env_id} vector env does not render; build it with "
            "gym.make_vec(..., vectorization_mode=\"sync\") and render_mode set to render each sub-env"
        )

    # -- random numbers ---------------------------------------------------------------------------

    def _batch_rng(self) -> np.random.Generator | None:
        """Fast mode's one generator (``np_random``), or None in exact mode."""
        return self.np_random if self.rng_mode == "fast" else None

    def _seed(self, seed: Seed, rows: Rows) -> None:
        """Seed the batch generator (fast) or the generators of ``rows`` (exact), as SyncVectorEnv does."""
        if self.rng_mode == "exact":
            self._generators.seed(seed, rows)
        elif seed is None:
            if self._np_random is None:
                self._np_random, self._np_random_seed = seeding.np_random(None)
        else:
            rng, int_seed = batch_generator(seed, self.num_envs)
            self._np_random = rng
            if int_seed is not None:
                self._np_random_seed = int_seed


class FollowVectorEnv(ProgressGymVectorEnv):
    """N PG-Follow envs stepped as arrays (see :mod:`progressgym_env.envs.vector` and ``PG-Follow-v0``'s docs)."""

    single_env_class = FollowEnv


class PredictVectorEnv(ProgressGymVectorEnv):
    """N PG-Predict envs stepped as arrays (see :mod:`progressgym_env.envs.vector` and ``PG-Predict-v0``'s docs)."""

    single_env_class = PredictEnv


class CoevolveVectorEnv(ProgressGymVectorEnv):
    """N PG-Coevolve envs stepped as arrays (see :mod:`progressgym_env.envs.vector` and ``PG-Coevolve-v0``'s docs)."""

    single_env_class = CoevolveEnv
