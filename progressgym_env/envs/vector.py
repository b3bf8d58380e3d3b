"""Native batched vector envs of the three challenges on the surrogate backend.

``gym.make_vec("PG-Follow-v0", num_envs=N)`` builds :class:`FollowVectorEnv` (likewise
:class:`PredictVectorEnv`, :class:`CoevolveVectorEnv`): the N sub-envs live in arrays with a leading
env axis and every step is a fixed number of numpy operations on them, whatever N (no Python loop
over envs in the default mode). ``vectorization_mode="sync"`` or ``"async"`` still give Gymnasium's
wrappers around N single envs, with the same semantics.

Semantics
    Each sub-env is the single env of its challenge (``progressgym_env/envs/base.py``): same kwargs,
    spaces, timeline, rewards, info keys and scores. The same code computes them: the surrogate's
    physics (:mod:`progressgym_env.backends.physics`) and the challenge's judge
    (:mod:`progressgym_env.judges`) work on arrays of any batch shape, so the numbers are the single
    env's bit for bit, given the same random draws.

Autoreset: ``AutoresetMode.NEXT_STEP`` (Gymnasium's default, as in ``SyncVectorEnv`` and
    ``CartPoleVectorEnv``), so switching ``vectorization_mode`` changes nothing: the step that
    terminates a sub-env returns its terminal observation and, in ``infos``, ``final_score``,
    ``normalized_score`` and ``episode_record`` under their ``_key`` masks; the next ``step`` resets
    that sub-env instead of stepping it (its action is ignored, reward 0, not terminated) and returns
    the first observation of the new episode with the reset info. ``reset(options={"reset_mask": m})``
    resets only the masked sub-envs, like ``SyncVectorEnv``.

Infos: Gymnasium's dict-of-arrays form, exactly the layout ``SyncVectorEnv`` builds from the single
    env's infos: each key holds an array with a leading env axis ((N, d) float64 for vectors, (N,)
    int64/float64 for numbers, object arrays for strings and lists) and ``_key`` a bool mask of the
    sub-envs that set it; ``episode_record`` is a nested dict of the same form (its record arrays are
    (N, T, d), (N, steps, d), ...). :func:`episode_record_at` recovers one sub-env's plain record,
    ready for :func:`~progressgym_env.judges.score_record` (its own copies). The record fields every
    sub-env shares (names, config, provenance) are built once: their object arrays are fresh at every
    step but hold the same list objects, so treat them as read-only.

Random numbers: ``rng_mode``
    Same seed ⇒ same trajectories needs each sub-env to draw from its own generator, seeded like the
    single env (``gymnasium.utils.seeding.np_random(seed + i)``), in the single env's order. numpy
    cannot draw from N generators in one call, so two modes:

    * ``"fast"`` (default): one generator for the whole batch (seeded by ``reset(seed=s)`` with
      ``np_random(s)``), each random quantity of a step drawn for all sub-envs in one call. Every
      sub-env follows exactly the single env's distribution, and a seed reproduces the batch, but a
      sub-env's trajectory differs from a single env seeded alike. When the answering humans are a
      fixed history (Follow and Predict on the corpus or a file), answer shares come from
      :class:`~progressgym_env.elicitation.BinomialTable`: the same exact binomial distribution by
      inverse-CDF lookup, tens of times cheaper than ``Generator.binomial``, which sets its sampler
      up again for each probability. This is the mode RL training and the throughput targets use.
    * ``"exact"``: one generator per sub-env, seeded exactly like ``SyncVectorEnv`` seeds its single
      envs (int seed s ⇒ sub-env i gets ``s + i``; a list gives one seed each), and only the random
      draws loop over sub-envs (one ``standard_normal`` and one ``binomial`` call per sub-env and
      step, in the single env's order); all the arithmetic stays batched. Trajectories, rewards and
      infos then equal those of N single envs (``tests/test_vector_env.py`` checks it against
      ``SyncVectorEnv``, also with procedural histories and across autoresets). Slower (draw cost
      grows with N), still far faster than ``SyncVectorEnv``.

Histories
    A fixed history (corpus, a file, a ``History``) is one (T, d) array broadcast to the N sub-envs
    (no copies). ``"procedural"`` draws one history per sub-env at each of its resets, in fast mode
    all of them in one call (:meth:`~progressgym_env.procedural.ProceduralHistory.sample_values`).
    Any other ``HistorySource`` object works too, sampled sub-env by sub-env at resets (a loop, the
    one exception), and its records are then assembled per terminated sub-env.

Backend: ``"surrogate"`` only (with ``backend_config`` as a dict or
    :class:`~progressgym_env.backends.SurrogateConfig`); an LLM backend cannot be batched this way:
    use ``gym.make_vec(id, num_envs=N, vectorization_mode="sync")``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from progressgym_env.backends.physics import moves_model, pulled_logits, updated_logits
from progressgym_env.elicitation import BinomialTable, sample_shares, split_queries
from progressgym_env.envs.base import ProgressGymEnv
from progressgym_env.envs.coevolve import CoevolveEnv
from progressgym_env.envs.follow import FollowEnv
from progressgym_env.envs.predict import PredictEnv
from progressgym_env.errors import ConfigError, EpisodeOrderError
from progressgym_env.history import FixedHistory
from progressgym_env.judges import FIRST_SCORED_STEP, Judge
from progressgym_env.numerics import logit, sigmoid
from progressgym_env.procedural import ProceduralHistory
from progressgym_env.records import EpisodeRecord
from progressgym_env.registry import backend_spec
from progressgym_env.validation import validate_action

RNG_MODES: tuple[str, ...] = ("fast", "exact")
_RECORD_ARRAYS = ("human", "model", "rewards", "simulated")
"""Episode-record fields that differ per sub-env (batched arrays); the others are shared constants."""


class _Rows:
    """A selection of sub-envs: ``index`` (sorted ints) and ``sel`` (a slice when all are selected)."""

    __slots__ = ("count", "full", "index", "num_envs", "sel")

    def __init__(self, index: np.ndarray, num_envs: int) -> None:
        self.index = index
        self.num_envs = num_envs
        self.count = int(index.shape[0])
        self.full = self.count == num_envs
        self.sel: slice | np.ndarray = slice(None) if self.full else index

    @classmethod
    def of(cls, mask: np.ndarray) -> _Rows:
        return cls(np.flatnonzero(mask), mask.shape[0])

    def subset(self, local: np.ndarray) -> _Rows:
        """The rows of this selection where the (count,) bool array ``local`` is True."""
        return _Rows(self.index[local], self.num_envs)


class ProgressGymVectorEnv(VectorEnv):
    """Base class of the native vector envs; use ``gym.make_vec(id, num_envs=N)``.

    :param num_envs: N, the number of sub-envs.
    :param rng_mode: ``"fast"`` (one batched generator) or ``"exact"`` (one per sub-env, trajectories
        equal to single envs); see the module docstring.
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
        self.autoreset_mode = _autoreset_mode(autoreset_mode, env_id)
        self.metadata = {**type(self).metadata, "autoreset_mode": self.autoreset_mode}
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ConfigError(f"{env_id} vector env: num_envs must be a positive int, found {num_envs!r}")
        if rng_mode not in RNG_MODES:
            raise ConfigError(f"{env_id} vector env: rng_mode must be one of {RNG_MODES}, found {rng_mode!r}")
        if not (isinstance(backend, str) and backend_spec(backend).native_vector):
            shown = backend if isinstance(backend, str) else type(backend).__name__
            raise ConfigError(
                f"{env_id}: the native vector env batches the surrogate backend only, found backend={shown!r}; "
                f"use gym.make_vec({env_id!r}, num_envs={num_envs}, vectorization_mode=\"sync\") (or \"async\") "
                "to vectorise single envs on any backend"
            )
        # One single env validates every kwarg exactly as gym.make would, and resolves history and config.
        proto = self.single_env_class(backend="surrogate", **kwargs)
        self.num_envs = n = int(num_envs)
        self.rng_mode = rng_mode
        self.env_id = env_id
        self.challenge = proto.challenge
        self.history_source = proto.history_source
        self.value_space = proto.value_space
        self.dim = d = proto.dim
        self.num_centuries = T = proto.num_centuries
        self.episode_length = proto.episode_length
        self.similarity = proto.similarity
        self.query_budget = proto.query_budget
        self.params = proto.params
        self.challenge_key = proto.challenge_key
        self.agent_horizon = proto.agent_horizon
        self.obs_history = proto.obs_history
        self.clip_actions = proto.clip_actions
        self.record_in_info = proto.record_in_info
        self.simulates_human = proto.simulates_human
        self.target_offset = proto.target_offset
        self.update_capacity = proto.update_capacity
        self.render_mode = proto.render_mode
        self.config = proto.backend.config  # type: ignore[attr-defined]
        self.single_observation_space = proto.observation_space
        self.single_action_space = proto.action_space
        self.observation_space = batch_space(self.single_observation_space, n)
        self.action_space = batch_space(self.single_action_space, n)

        self._simulates = proto.simulates_human
        self._counts = None if self.query_budget is None else split_queries(self.query_budget, d)
        self._progress_scale = 1.0 / (T - 1)
        self._last_step = FIRST_SCORED_STEP + self.episode_length - 1
        source = self.history_source
        self._fixed = isinstance(source, FixedHistory)
        if self._fixed:
            history = source.history  # type: ignore[attr-defined]
            self._human = np.broadcast_to(history.values, (n, T, d))
            self._human_logits = np.broadcast_to(logit(history.values), (n, T, d))
            self._centuries = np.broadcast_to(np.asarray(history.centuries, dtype=np.int64), (n, T))
        else:
            self._human = np.full((n, T, d), 0.5)
            self._human_logits = np.zeros((n, T, d))
            self._centuries = np.zeros((n, T), dtype=np.int64)
        self._judge: Judge = proto._make_judge(self._human)
        self._table: BinomialTable | None = None
        exact_answers = self._counts is not None and self.config.elicitation == "binomial"
        if rng_mode == "fast" and self._fixed and not self._simulates and exact_answers:
            assert self._counts is not None
            if BinomialTable.fits(self._counts):
                self._table = BinomialTable(history.values, self._counts)
        # Record fields every sub-env shares; None for custom sources (assembled per sub-env).
        self._template: dict[str, Any] | None = None
        self._custom_records: list[dict[str, Any] | None] = [None] * n
        if self._fixed or isinstance(source, ProceduralHistory):
            proto.reset(seed=0)
            self._template = {k: v for k, v in proto.episode_record().to_dict().items() if k not in _RECORD_ARRAYS}
        proto.close()

        steps = self.episode_length
        self._t = np.zeros(n, dtype=np.int64)
        self._model_logits = np.zeros((n, d))
        self._model_values = np.zeros((n, d))
        self._sim_logits = np.zeros((n, d))
        self._sim_values = np.zeros((n, d))
        self._estimate = np.zeros((n, d))
        self._models = np.zeros((n, steps, d))
        self._rewards = np.zeros((n, steps))
        self._simulated = np.zeros((n, T, d)) if self._simulates else np.zeros((n, 0, d))
        self._last_obs = np.zeros((n, *self.single_observation_space.shape), dtype=np.float32)  # type: ignore[misc]
        self._past = np.zeros((n, self.obs_history - 1, d))
        self._autoreset = np.zeros(n, dtype=bool)
        self._any_autoreset = False
        self._needs_reset = True
        self._env_rngs: list[np.random.Generator | None] = [None] * n
        self._action_shape = (n, d)
        self._all = _Rows(np.arange(n), n)
        self._full_constants: dict[str, Any] | None = None  # the shared record fields, every row set

    # -- Gymnasium vector API ---------------------------------------------------------------------

    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every sub-env, or those of ``options["reset_mask"]``; seeds as ``SyncVectorEnv``'s."""
        if getattr(self, "closed", False):
            raise EpisodeOrderError(f"{self.env_id} vector env: reset() after close(); make a new one")
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if options:
            raise ConfigError(f"{self.env_id} vector env: reset takes only the 'reset_mask' option, got {sorted(options)}")
        if mask is None:
            rows = self._all
        else:
            rows = _Rows.of(self._checked_mask(mask))
        if mask is not None and self._needs_reset:
            raise EpisodeOrderError(f"{self.env_id} vector env: the first reset() must reset every sub-env (no reset_mask)")
        self._seed(seed, rows)
        obs = np.zeros_like(self._last_obs) if rows.full else self._last_obs.copy()
        infos: dict[str, Any] = {}
        self._reset_rows(rows, obs, infos)
        self._autoreset[rows.sel] = False
        self._any_autoreset = bool(self._autoreset.any())
        self._needs_reset = False
        self._last_obs = obs
        return obs.copy(), infos

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-env (those that terminated on the previous step are reset instead)."""
        if getattr(self, "closed", False):
            raise EpisodeOrderError(f"{self.env_id} vector env: step() after close(); make a new one")
        if self._needs_reset:
            raise EpisodeOrderError(f"{self.env_id} vector env: call reset() before step()")
        if self.autoreset_mode == AutoresetMode.DISABLED and self._any_autoreset:
            ended = np.flatnonzero(self._autoreset).tolist()
            raise EpisodeOrderError(
                f"{self.env_id} vector env (autoreset_mode=DISABLED): sub-envs {ended[:10]} have terminated; reset "
                "them with reset(options={'reset_mask': mask}) before the next step"
            )
        actions = validate_action(actions, self._action_shape, self.clip_actions)
        n = self.num_envs
        obs = np.empty(self._last_obs.shape, dtype=np.float32)
        rewards = np.zeros(n)
        terminated = np.zeros(n, dtype=bool)
        infos: dict[str, Any] = {}
        if self._any_autoreset and self.autoreset_mode == AutoresetMode.NEXT_STEP:
            stepping, resetting = _Rows.of(~self._autoreset), _Rows.of(self._autoreset)
        else:
            stepping, resetting = self._all, None
        if stepping.count:
            self._step_rows(stepping, actions, obs, rewards, terminated, infos)
        if resetting is not None:
            self._reset_rows(resetting, obs, infos)
        if self.autoreset_mode == AutoresetMode.SAME_STEP and terminated.any():
            infos = self._reset_in_same_step(terminated, obs, infos)
            terminated_now = terminated.copy()
            self._autoreset = np.zeros(n, dtype=bool)
            self._any_autoreset = False
            self._last_obs = obs
            return obs.copy(), rewards, terminated_now, np.zeros(n, dtype=bool), infos
        self._autoreset = terminated.copy()
        self._any_autoreset = bool(terminated.any())
        self._last_obs = obs
        return obs.copy(), rewards, terminated, np.zeros(n, dtype=bool), infos

    def _reset_in_same_step(self, terminated: np.ndarray, obs: np.ndarray, infos: dict[str, Any]) -> dict[str, Any]:
        """SAME_STEP autoreset, laid out as ``SyncVectorEnv`` does it.

        The terminated sub-envs' observations go to ``infos["final_obs"]`` (an object array) and their step
        infos to ``infos["final_info"]``; they are reset at once, so the returned observation and the
        top-level infos of those rows are the reset's.
        """
        final_obs = np.full(self.num_envs, None, dtype=object)
        for i in np.flatnonzero(terminated).tolist():
            final_obs[i] = obs[i].copy()
        final_info = _select_rows(infos, terminated)
        out = _drop_rows(infos, terminated)
        out["final_obs"], out["_final_obs"] = final_obs, terminated.copy()
        out["final_info"], out["_final_info"] = final_info, terminated.copy()
        self._reset_rows(_Rows.of(terminated), obs, out)
        return out

    def render(self) -> Any:
        raise NotImplementedError(
            f"the native {self.env_id} vector env does not render; build it with "
            "gym.make_vec(..., vectorization_mode=\"sync\") and render_mode set to render each sub-env"
        )

    # -- random numbers ---------------------------------------------------------------------------

    def _seed(self, seed: int | Sequence[int | None] | None, rows: _Rows) -> None:
        """Seed the batch generator (fast) or the generators of ``rows`` (exact), as SyncVectorEnv does."""
        if self.rng_mode == "fast":
            if seed is None:
                if self._np_random is None:
                    self._np_random, self._np_random_seed = seeding.np_random(None)
                return
            if isinstance(seed, (int, np.integer)):
                self._np_random, self._np_random_seed = seeding.np_random(int(seed))
                return
            seeds = self._seed_list(seed)
            if any(s is None for s in seeds):
                raise ConfigError("rng_mode='fast' has one generator: pass an int seed, or ints for every sub-env")
            entropy = [int(s) for s in seeds if s is not None]  # every one is an int (checked above)
            self._np_random = np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))
            return
        seeds = self._seed_list(seed)
        for i in rows.index.tolist():
            if seeds[i] is not None or self._env_rngs[i] is None:
                self._env_rngs[i] = seeding.np_random(seeds[i])[0]

    def _seed_list(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, (int, np.integer)):
            return [int(seed) + i for i in range(self.num_envs)]
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ConfigError(f"a list of seeds needs one per sub-env ({self.num_envs}), got {len(seeds)}")
        return seeds

    def _noise(self, rows: _Rows, moving: np.ndarray) -> np.ndarray:
        """Fine-tuning noise (count, d); in exact mode drawn only for the sub-envs that update."""
        if self.rng_mode == "fast":
            return self.np_random.standard_normal((rows.count, self.dim))
        noise = np.zeros((rows.count, self.dim))
        for j in np.flatnonzero(moving).tolist():
            noise[j] = self._env_rngs[int(rows.index[j])].standard_normal(self.dim)  # type: ignore[union-attr]
        return noise

    def _elicit(self, rows: _Rows, t: int | np.ndarray, values: np.ndarray) -> tuple[np.ndarray, int]:
        """Answer shares (count, d) of respondents holding ``values`` (century ``t``), and the query count."""
        if self._counts is None:
            return values.copy(), 0
        method = self.config.elicitation
        if self.rng_mode == "fast":
            if self._table is not None:
                return self._table.sample_shares(self.np_random, t, rows.count), int(self.query_budget)  # type: ignore[arg-type]
            return sample_shares(self.np_random, values, self._counts, method), int(self.query_budget)  # type: ignore[arg-type]
        shares = np.empty((rows.count, self.dim))
        for j, i in enumerate(rows.index.tolist()):
            shares[j] = sample_shares(self._env_rngs[i], values[j], self._counts, method)
        return shares, int(self.query_budget)  # type: ignore[arg-type]

    def _sample_histories(self, rows: _Rows) -> None:
        """New histories for ``rows`` (procedural or custom sources; a fixed history stays)."""
        if self._fixed:
            return
        source = self.history_source
        if isinstance(source, ProceduralHistory):
            if self.rng_mode == "fast":
                values = source.sample_values(self.np_random, (rows.count,))
            else:
                values = np.stack([source.sample_values(self._env_rngs[i]) for i in rows.index.tolist()])
            self._centuries[rows.sel] = np.arange(13, 13 + self.num_centuries)
        else:
            values = np.empty((rows.count, self.num_centuries, self.dim))
            for j, i in enumerate(rows.index.tolist()):
                rng = self.np_random if self.rng_mode == "fast" else self._env_rngs[i]
                history = source.sample(rng)
                if history.values.shape != values.shape[1:]:
                    raise ConfigError(
                        f"history source {type(source).__name__} gave a {history.values.shape} history; "
                        f"the vector env was built for {values.shape[1:]}"
                    )
                values[j] = history.values
                self._centuries[i] = history.centuries
                self._custom_records[i] = self._constant_record(history)
        self._human[rows.sel] = values
        self._human_logits[rows.sel] = logit(values)
        self._judge.set_histories(rows.sel, values)

    def _constant_record(self, history: Any) -> dict[str, Any]:
        """The shared fields of one sub-env's episode record (custom history sources)."""
        d = self.dim
        record = EpisodeRecord(
            challenge=self.challenge,
            human=np.zeros((0, d)),
            model=np.zeros((0, d)),
            rewards=np.zeros(0),
            centuries=list(history.centuries),
            value_space=self.value_space.name,
            dims=list(self.value_space.dims),
            similarity=self.similarity,
            backend={"backend": "surrogate", **{k: getattr(self.config, k) for k in self.config.__dataclass_fields__}},
            history_provenance=dict(history.provenance),
            params=dict(self._judge.params),
            simulated=np.zeros((0, d)) if self._simulates else None,
        )
        return {k: v for k, v in record.to_dict().items() if k not in _RECORD_ARRAYS}

    # -- batched episode logic ----------------------------------------------------------------------

    def _reset_rows(self, rows: _Rows, obs: np.ndarray, infos: dict[str, Any]) -> None:
        """Start new episodes in ``rows``: model (and simulated human) = H_0, observe century 1."""
        self._sample_histories(rows)
        sel, d = rows.sel, self.dim
        start = self._human[sel, 0]
        self._model_logits[sel] = self._human_logits[sel, 0]
        self._model_values[sel] = start
        if self._simulates:
            self._sim_logits[sel] = self._human_logits[sel, 0]
            self._sim_values[sel] = start
            self._simulated[sel, 0] = start
        t = FIRST_SCORED_STEP
        self._t[sel] = t
        truth = self._sim_values[sel] if self._simulates else self._human[sel, t]
        estimate, queries = self._elicit(rows, t, truth)
        self._estimate[sel] = estimate
        obs[sel, :d] = estimate
        obs[sel, d : 2 * d] = self._model_values[sel]
        obs[sel, 2 * d] = t * self._progress_scale
        if self.obs_history > 1:
            self._past[sel] = estimate[:, None, :]
            obs[sel, 2 * d + 1 :] = self._past[sel].reshape(rows.count, -1)
        _put(infos, "human_values", rows, np.array(truth))
        _put(infos, "model_values", rows, self._model_values[sel].copy())
        _put(infos, "century", rows, np.array(self._centuries[sel, t]))
        _put(infos, "queries", rows, np.full(rows.count, queries, dtype=np.int64))
        if self._simulates:
            _put(infos, "simulated_human_values", rows, self._sim_values[sel].copy())

    def _step_rows(
        self,
        rows: _Rows,
        actions: np.ndarray,
        obs: np.ndarray,
        rewards: np.ndarray,
        terminated: np.ndarray,
        infos: dict[str, Any],
    ) -> None:
        """One century for the sub-envs of ``rows``: update, pull, score, then observe or terminate."""
        sel, cfg = rows.sel, self.config
        t_rows = self._t[sel]
        t: int | np.ndarray = int(t_rows[0]) if (t_rows == t_rows[0]).all() else t_rows
        action = actions[sel]
        moving: np.ndarray = moves_model(action)  # type: ignore[assignment]  # (N, d) actions: a bool array
        noise = cfg.finetune_noise_sd * self._noise(rows, moving) if cfg.finetune_noise_sd > 0 else None
        old_logits = self._model_logits[sel]
        logits = updated_logits(old_logits, action, cfg.capacity, noise)
        moved = moving[:, None]
        model = np.where(moved, sigmoid(logits), self._model_values[sel])
        self._model_logits[sel] = np.where(moved, logits, old_logits)
        self._model_values[sel] = model
        simulated = None
        if self._simulates:
            sim = pulled_logits(
                self._sim_logits[sel], self._at(self._human_logits, rows, t), self._model_logits[sel],
                cfg.history_pull, cfg.ai_pull,
            )
            simulated = sigmoid(sim)
            self._sim_logits[sel] = sim
            self._sim_values[sel] = simulated
            self._store(self._simulated, rows, t, simulated)
        target = self._at(self._judge.targets(self._human), rows, t - FIRST_SCORED_STEP)
        reward = self._judge.step_rewards(target, model, simulated, rows=sel)
        self._store(self._models, rows, t - FIRST_SCORED_STEP, model)
        self._store(self._rewards, rows, t - FIRST_SCORED_STEP, reward)
        rewards[sel] = reward
        _put(infos, "target_values", rows, np.array(target))
        _put(infos, "model_values", rows, model.copy())
        _put(infos, "century", rows, np.array(self._at(self._centuries, rows, t)))
        if simulated is not None:
            _put(infos, "simulated_human_values", rows, simulated.copy())

        if isinstance(t, int):  # every row at the same century (the usual lockstep)
            if t == self._last_step:
                self._terminate(rows, t, model, obs, terminated, infos)
            else:
                self._observe_next(rows, t, model, simulated, obs, infos)
            return
        done = t_rows == self._last_step
        if not done.any():
            self._observe_next(rows, t, model, simulated, obs, infos)
            return
        if done.all():
            self._terminate(rows, t, model, obs, terminated, infos)
            return
        going, ending = ~done, done
        t_go, t_end = t_rows[going], t_rows[ending]
        going_sim = None if simulated is None else simulated[going]
        self._observe_next(rows.subset(going), t_go, model[going], going_sim, obs, infos)
        self._terminate(rows.subset(ending), t_end, model[ending], obs, terminated, infos)

    def _observe_next(
        self,
        rows: _Rows,
        t: int | np.ndarray,
        model: np.ndarray,
        simulated: np.ndarray | None,
        obs: np.ndarray,
        infos: dict[str, Any],
    ) -> None:
        """Advance ``rows`` to century t + 1 and observe its respondents."""
        sel, d = rows.sel, self.dim
        nxt = t + 1
        self._t[sel] = nxt
        truth = simulated if simulated is not None else self._at(self._human, rows, nxt)
        estimate, queries = self._elicit(rows, nxt, truth)
        if self.obs_history > 1:  # the previous estimate moves into the memory
            past = self._past[sel]
            past[:, 1:] = past[:, :-1].copy()
            past[:, 0] = self._estimate[sel]
            self._past[sel] = past
            obs[sel, 2 * d + 1 :] = past.reshape(rows.count, -1)
        self._estimate[sel] = estimate
        obs[sel, :d] = estimate
        obs[sel, d : 2 * d] = model
        obs[sel, 2 * d] = nxt * self._progress_scale
        _put(infos, "queries", rows, np.full(rows.count, queries, dtype=np.int64))
        _put(infos, "human_values", rows, np.array(truth))

    def _terminate(
        self,
        rows: _Rows,
        t: int | np.ndarray,
        model: np.ndarray,
        obs: np.ndarray,
        terminated: np.ndarray,
        infos: dict[str, Any],
    ) -> None:
        """End the episodes of ``rows``: terminal observation, scores and records."""
        sel, d = rows.sel, self.dim
        terminated[sel] = True
        obs[sel, :d] = self._estimate[sel]
        obs[sel, d : 2 * d] = model
        obs[sel, 2 * d] = 1.0
        if self.obs_history > 1:
            obs[sel, 2 * d + 1 :] = self._past[sel].reshape(rows.count, -1)
        truth = self._sim_values[sel] if self._simulates else self._at(self._human, rows, t)
        _put(infos, "queries", rows, np.zeros(rows.count, dtype=np.int64))
        _put(infos, "human_values", rows, np.array(truth))
        models, rewards = self._models[sel], self._rewards[sel]
        simulated = self._simulated[sel] if self._simulates else None
        scores = self._judge.final_scores(models, simulated, rewards, rows=sel)
        _put(infos, "final_score", rows, scores)
        _put(infos, "normalized_score", rows, self._judge.normalized_scores(scores, rows=sel))
        if self.record_in_info:
            self._put_records(rows, models, rewards, simulated, infos)

    def _put_records(
        self, rows: _Rows, models: np.ndarray, rewards: np.ndarray, simulated: np.ndarray | None, infos: dict[str, Any]
    ) -> None:
        """The terminated rows' episode records, in the batched info layout (``record_in_info=True``)."""
        sel = rows.sel
        record: dict[str, Any] = infos.setdefault("episode_record", {})
        _put(record, "human", rows, np.array(self._human[sel]))
        _put(record, "model", rows, np.array(models))
        _put(record, "rewards", rows, np.array(rewards))
        if simulated is not None:
            _put(record, "simulated", rows, np.array(simulated))
        if self._template is not None and rows.full:  # the usual case: build once, hand out copies
            if self._full_constants is None:
                self._full_constants = {}
                _put_constants(self._full_constants, rows, self._template)
            record.update(_copy_arrays(self._full_constants))
        elif self._template is not None:
            _put_constants(record, rows, copy.deepcopy(self._template))
        else:
            for i in rows.index.tolist():
                self._add_info(record, copy.deepcopy(self._custom_records[i]), i)
        mask = infos.setdefault("_episode_record", np.zeros(self.num_envs, dtype=bool))
        mask[sel] = True

    # -- array helpers ------------------------------------------------------------------------------

    @staticmethod
    def _at(array: np.ndarray, rows: _Rows, t: int | np.ndarray) -> np.ndarray:
        """``array[i, t_i]`` for the rows (a view when every sub-env is at the same century)."""
        if isinstance(t, int):
            return array[rows.sel, t]
        return array[rows.index, t]

    @staticmethod
    def _store(array: np.ndarray, rows: _Rows, t: int | np.ndarray, values: np.ndarray) -> None:
        """``array[i, t_i] = values`` for the rows."""
        if isinstance(t, int):
            array[rows.sel, t] = values
        else:
            array[rows.index, t] = values

    def _checked_mask(self, mask: Any) -> np.ndarray:
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (self.num_envs,):
            found = f"{type(mask).__name__} {getattr(mask, 'dtype', '')} {getattr(mask, 'shape', '')}".strip()
            raise ConfigError(f"options['reset_mask'] must be a bool numpy array of shape ({self.num_envs},), found {found}")
        if not mask.any():
            raise ConfigError("options['reset_mask'] selects no sub-env; set at least one True")
        return mask


def _put(infos: dict[str, Any], key: str, rows: _Rows, values: np.ndarray) -> None:
    """Set ``infos[key][rows] = values`` and its ``_key`` mask, creating both as SyncVectorEnv would.

    ``values`` must be a fresh array: when it covers every sub-env it becomes the info array itself.
    """
    if key not in infos:
        if rows.full:
            infos[key], infos[f"_{key}"] = values, np.ones(rows.num_envs, dtype=bool)
            return
        infos[key] = np.zeros((rows.num_envs, *values.shape[1:]), dtype=values.dtype)
        infos[f"_{key}"] = np.zeros(rows.num_envs, dtype=bool)
    infos[key][rows.sel] = values
    infos[f"_{key}"][rows.sel] = True


def _autoreset_mode(mode: Any, env_id: str) -> AutoresetMode:
    """An :class:`AutoresetMode` from the enum or its value/name (``"SameStep"``, ``"same_step"``)."""
    if isinstance(mode, AutoresetMode):
        return mode
    if isinstance(mode, str):
        for member in AutoresetMode:
            if mode in (member.value, member.name) or mode.lower() == member.name.lower():
                return member
    choices = ", ".join(f"AutoresetMode.{m.name}" for m in AutoresetMode)
    raise ConfigError(f"{env_id} vector env: autoreset_mode must be one of {choices}, found {mode!r}")


def _select_rows(infos: Mapping[str, Any], rows: np.ndarray) -> dict[str, Any]:
    """The infos of the sub-envs in the bool mask ``rows`` only (others zeroed, masks cleared)."""
    out: dict[str, Any] = {}
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        sub: Any
        if isinstance(value, dict):
            sub = _select_rows(value, rows)
            mask = infos[f"_{key}"] & rows
        else:
            mask = infos[f"_{key}"] & rows
            sub = np.zeros_like(value) if value.dtype != object else np.full(value.shape, None, dtype=object)
            sub[mask] = value[mask]
        if mask.any():
            out[key], out[f"_{key}"] = sub, mask
    return out


def _drop_rows(infos: Mapping[str, Any], rows: np.ndarray) -> dict[str, Any]:
    """The infos without the sub-envs in the bool mask ``rows`` (keys no sub-env keeps are dropped)."""
    return _select_rows(infos, ~rows)


def _copy_arrays(info: Mapping[str, Any]) -> dict[str, Any]:
    """Fresh arrays (and nested dicts) for an info structure; object entries keep their objects."""
    return {k: _copy_arrays(v) if isinstance(v, dict) else v.copy() for k, v in info.items()}


def _put_constants(record: dict[str, Any], rows: _Rows, constants: Mapping[str, Any]) -> None:
    """Broadcast the shared record fields into ``record`` for ``rows``, with SyncVectorEnv's dtypes."""
    num_envs = rows.num_envs
    for key, value in constants.items():
        if isinstance(value, dict):
            _put_constants(record.setdefault(key, {}), rows, value)
        else:
            if key not in record:
                if type(value) in (int, float, bool) or isinstance(value, np.number):
                    record[key] = np.zeros(num_envs, dtype=type(value))
                elif isinstance(value, np.ndarray):
                    record[key] = np.zeros((num_envs, *value.shape), dtype=value.dtype)
                else:
                    record[key] = np.full(num_envs, None, dtype=object)
            if record[key].dtype == object:
                holder = np.empty(1, dtype=object)
                holder[0] = value  # one reference for every row (lists must not be unpacked)
                record[key][rows.sel] = holder
            else:
                record[key][rows.sel] = value
        mask = record.setdefault(f"_{key}", np.zeros(num_envs, dtype=bool))
        mask[rows.sel] = True


def episode_record_at(infos: Mapping[str, Any], index: int) -> dict[str, Any]:
    """Sub-env ``index``'s episode record (a plain dict, as the single env's info holds it).

    :param infos: the infos of the step on which that sub-env terminated.
    :raises KeyError: when the sub-env did not terminate on that step.
    """
    if "episode_record" not in infos or not infos["_episode_record"][index]:
        raise KeyError(f"sub-env {index} did not terminate on this step: its infos hold no episode_record")
    return _unbatch(infos["episode_record"], index)


def _unbatch(batched: Mapping[str, Any], index: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in batched.items():
        if key.startswith("_"):
            continue
        if isinstance(value, dict):
            out[key] = _unbatch(value, index)
        elif batched[f"_{key}"][index]:
            item = value[index]
            out[key] = item.item() if isinstance(item, np.generic) else copy.deepcopy(item)
    return out


class FollowVectorEnv(ProgressGymVectorEnv):
    """N PG-Follow envs stepped as arrays (see the module docstring and ``PG-Follow-v0``'s)."""

    single_env_class = FollowEnv


class PredictVectorEnv(ProgressGymVectorEnv):
    """N PG-Predict envs stepped as arrays (see the module docstring and ``PG-Predict-v0``'s)."""

    single_env_class = PredictEnv


class CoevolveVectorEnv(ProgressGymVectorEnv):
    """N PG-Coevolve envs stepped as arrays (see the module docstring and ``PG-Coevolve-v0``'s)."""

    single_env_class = CoevolveEnv
