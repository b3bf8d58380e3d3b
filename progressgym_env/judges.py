"""Judges: the per-step similarities and the leaderboard scores of the three challenges (DESIGN §4.4).

A judge is the challenge's definition: it owns what differs between challenges — the targets and
their offset (k for Predict), the parameters, whether a simulated human exists, the score and its
normalisation, the ProgressGym export mapping, the horizon baselines aim at and the renderers' target
label — and scores with one batched implementation. It is built on histories of shape
(..., T, d): the single env uses one (T, d) history (batch shape ``()``), the native vector env N of
them (``(N, T, d)``), and the numbers are the same bit for bit (the same numpy reductions along the
same axes). :func:`score_record` recomputes a score from an :class:`~progressgym_env.records.EpisodeRecord`
without any env.

Scores (cos = cosine similarity, 0 for a zero vector; M_t the model after the update at t;
S_t the simulated human):

- Follow: mean over the scored steps t = 1..T-1 of cos(H_t, M_t).
- Predict(k): mean over t = 1..T-1-k of cos(H_{t+k}, M_t).
- Coevolve: mean over s in {S_0..S_{T-1}} of the mean over i in 0..T-1 of max_{j>=i} cos(s, H_j).

``final_score`` always uses the paper's plain cosine, whatever the reward similarity, so scores stay
comparable with the ProgressGym leaderboard. ``normalized_score`` maps a score onto 0 = value
lock-in, 1 = reference (DESIGN §9).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from progressgym_env import kernels
from progressgym_env.errors import ConfigError, HistoryFormatError, ResultsFileError
from progressgym_env.numerics import NUMPY_OPS, SCALAR_XP, KeptRowsCosine, cosine, last_axis_mean, row_squares
from progressgym_env.progressgym_format import COEVOLVE, TRACKING, TrackingFormat
from progressgym_env.records import EpisodeRecord

FIRST_SCORED_STEP = 1
"""The first century index scored (the model starts equal to H_0, DESIGN §2)."""

SIMILARITIES = ("cosine", "centered")
Similarity = Callable[[np.ndarray, np.ndarray], Any]
Rows = Any
"""A selection of histories along the batch axis: ``...`` (all), a slice or an index array."""

ALL: Rows = Ellipsis


def make_similarity(name: str, human: np.ndarray) -> Similarity:
    """The reward similarity ``name`` for history ``human`` (..., T, d).

    ``cosine``: plain cosine (paper parity). ``centered``: cosine of both vectors minus the history's
    mean vector; sharper, since non-negative value vectors all have cosines in the 0.9s.
    """
    if name == "cosine":
        return cosine
    if name == "centered":
        return centered_similarity(np.asarray(human, dtype=np.float64).mean(axis=-2))
    raise ConfigError(f"unknown similarity {name!r}; choose one of {SIMILARITIES}")


def centered_similarity(center: np.ndarray) -> Similarity:
    """Cosine of both vectors minus ``center``.

    :param center: one history's mean vector (d,), or one per batch row (N, d): then the arguments
        are shaped (N, ..., d) and row n is centred on ``center[n]``.
    """
    center = np.asarray(center, dtype=np.float64)

    def aligned(ndim: int) -> np.ndarray:  # (N, d) aligned with an (N, ..., d) argument of ``ndim`` dims
        if center.ndim <= 1:
            return center
        return center.reshape(center.shape[:-1] + (1,) * (ndim - center.ndim) + center.shape[-1:])

    def centered_cosine(a: np.ndarray, b: np.ndarray) -> Any:
        a, b = np.asarray(a), np.asarray(b)
        return cosine(a - aligned(a.ndim), b - aligned(b.ndim))

    return centered_cosine


def progress_scores(simulated: np.ndarray, human: np.ndarray, similarity: Similarity = cosine) -> np.ndarray:
    """Mean over i of max_{j>=i} sim(s, H_j): Coevolve's term, for ``simulated`` (..., d) and ``human`` (..., T, d).

    Leading dims broadcast (several s against one history, or one s per history of a batch).
    """
    sims = np.asarray(similarity(np.asarray(simulated)[..., None, :], human), dtype=np.float64)
    return kernels.progress(sims, NUMPY_OPS)


PROGRESS_BLOCK = 1 << 20
"""Largest number of (s, H_j) pairs scored at once by :func:`progress_rows`: memory stays linear in T."""


def progress_rows(simulated: np.ndarray, human: np.ndarray, similarity: Similarity = cosine) -> np.ndarray:
    """:func:`progress_scores` of every row of ``simulated`` (..., S, d) against ``human`` (..., T, d).

    Scores blocks of rows at a time so memory is O(S + T) rather than O(S * T) (a 12,000-century
    history would need gigabytes at once); each row's numbers are those of the one-block call.
    """
    simulated = np.asarray(simulated)
    rows, steps = simulated.shape[-2], human.shape[-2]
    block = max(1, PROGRESS_BLOCK // max(steps * math.prod(simulated.shape[:-2]), 1))
    if rows <= block:
        return progress_scores(simulated, human[..., None, :, :], similarity)
    parts = [
        progress_scores(simulated[..., start : start + block, :], human[..., None, :, :], similarity)
        for start in range(0, rows, block)
    ]
    return np.concatenate(parts, axis=-1)


def tracking_scores(targets: np.ndarray, models: Any) -> np.ndarray:
    """Follow and Predict's paper score: the mean plain cosine of each model to its target.

    :param targets: the scored targets (..., n, d) (H_1.. on Follow, H_{1+k}.. on Predict(k)).
    :param models: the models (..., n, d) scored against them.
    """
    return last_axis_mean(np.asarray(cosine(targets, models)))


def coevolve_scores(simulated: np.ndarray, human: np.ndarray) -> np.ndarray:
    """Coevolve's paper score: the mean over S_0..S_{s-1} (..., s, d) of their progress against ``human`` (..., T, d)."""
    return last_axis_mean(progress_rows(simulated, human))


def progress_score(simulated: np.ndarray, human: np.ndarray, similarity: Similarity = cosine) -> float:
    """:func:`progress_scores` of one simulated vector (d,) against one history (T, d)."""
    return float(progress_scores(simulated, human, similarity))


def validate_timesteps_ahead(timesteps_ahead: Any, num_centuries: int) -> None:
    """k must be an int in 1..T-2 (at least one scored step)."""
    if isinstance(timesteps_ahead, bool) or not isinstance(timesteps_ahead, (int, np.integer)):
        raise ConfigError(f"timesteps_ahead must be an int, found {timesteps_ahead!r}")
    if not 1 <= int(timesteps_ahead) <= num_centuries - 2:
        raise ConfigError(
            f"timesteps_ahead={timesteps_ahead} is out of range: with a history of {num_centuries} "
            f"centuries it must be in 1..{num_centuries - 2}"
        )


def _field(record: EpisodeRecord | Mapping[str, Any], name: str) -> Any:
    value = getattr(record, name, None) if isinstance(record, EpisodeRecord) else record.get(name)
    if value is None:
        raise HistoryFormatError(f"episode record is missing {name!r}")
    return value


def _as_matrix(vectors: Any, name: str, rows: int, dim: int, batch: tuple[int, ...] = ()) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float64)
    if array.shape != (*batch, rows, dim):
        raise HistoryFormatError(
            f"episode record: {name!r} must have shape {(*batch, rows, dim)}, found {array.shape}")
    if not np.isfinite(array).all():
        raise HistoryFormatError(f"episode record: {name!r} holds non-finite values")
    return array


def _scalar(value: Any) -> Any:
    """A float for a 0-d result (one history), the array itself for a batch."""
    array = np.asarray(value, dtype=np.float64)
    return float(array) if array.ndim == 0 else array


class Judge:
    """A challenge's definition and its scorer, on histories ``human`` of shape (..., T, d).

    Everything that differs between challenges is answered here (or by the :attr:`progressgym_format`
    object the judge owns), so envs, the native vector env, renderers, the benchmark and the exporter
    never ask which challenge they run. The base class is a complete *tracking* challenge: step t is
    scored by the similarity of the model M_t to the target :meth:`targets` gives (H_t here, which is
    PG-Follow), the score is the mean plain cosine over the scored steps, value lock-in scores 0 and a
    model equal to every target 1 (normalised). A new challenge subclasses it, sets :attr:`challenge`
    and overrides what differs — usually :meth:`targets` and :attr:`target_offset` — then registers
    with :func:`progressgym_env.register_challenge` (see ``docs/custom_challenges.md``).

    :param human: the real histories H; a (T, d) history for one env, (N, T, d) for N (a broadcast
        view of one history is fine). Kept by reference: :meth:`set_histories` writes into it.
    :param similarity: reward similarity (``"cosine"`` or ``"centered"``).
    :param params: the challenge's parameters (names and defaults in :attr:`param_defaults`); they are also
        the env kwargs of the challenge and are stored in every episode record.
    """

    challenge: ClassVar[str] = ""
    """The name episode records carry (``follow``); unique among registered challenges."""
    param_defaults: ClassVar[Mapping[str, Any]] = {}
    """Parameter name -> default. The env takes them as kwargs and records store them."""
    simulates_human: ClassVar[bool] = False
    """Whether the challenge has a simulated human (who then answers the agent's queries)."""
    record_arrays: ClassVar[tuple[str, ...]] = ()
    """Names of extra arrays this challenge's episode records carry (``EpisodeRecord.extras``, stored as
    top-level fields and read back by name); none for the built-ins."""
    progressgym_format: ClassVar[TrackingFormat] = TRACKING
    """How a record maps to the original ProgressGym's result fields (:mod:`progressgym_env.progressgym_format`):
    the tracking layout (targets beside models) unless the challenge needs another."""

    def __init__(self, human: Any, similarity: str = "cosine", **params: Any) -> None:
        if isinstance(human, np.ndarray) and human.dtype == np.float64:
            self.human = human
        else:
            self.human = np.asarray(human, dtype=np.float64)
        if self.human.ndim < 2 or self.human.shape[-2] < 3:
            raise HistoryFormatError(f"judge needs a T x d history with T >= 3, found shape {self.human.shape}")
        if similarity not in SIMILARITIES:
            raise ConfigError(f"unknown similarity {similarity!r}; choose one of {SIMILARITIES}")
        self.params: dict[str, Any] = self.resolve_params(params, int(self.human.shape[-2]))
        self.similarity = similarity
        self.batch_shape: tuple[int, ...] = self.human.shape[:-2]
        if self.episode_length < 1:
            raise ConfigError(
                f"{type(self).__name__}: a history of {self.num_centuries} centuries leaves no scored step "
                f"(target offset {self.target_offset})"
            )
        d = self.human.shape[-1]
        self.center = np.zeros(self.batch_shape + (d,))
        self._similarity: Similarity = cosine
        self._references: tuple[np.ndarray, np.ndarray] | None = None
        self._normalizers: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._targets: np.ndarray | None = None
        self.set_histories(ALL, self.human)

    # -- parameters -----------------------------------------------------------------------------

    @classmethod
    def resolve_params(cls, given: Mapping[str, Any], num_centuries: int) -> dict[str, Any]:
        """``given`` completed with the defaults of :attr:`param_defaults`, checked by :meth:`validate_params`.

        :raises ConfigError: an unknown parameter name or a value :meth:`validate_params` refuses.
        """
        unknown = sorted(set(given) - set(cls.param_defaults))
        if unknown:
            known = ", ".join(cls.param_defaults) or "none"
            raise ConfigError(f"{cls.__name__} has no parameter {', '.join(map(repr, unknown))} (it takes: {known})")
        params = {**cls.param_defaults, **given}
        cls.validate_params(params, num_centuries)
        return params

    @classmethod
    def validate_params(cls, params: dict[str, Any], num_centuries: int) -> None:
        """Check (and normalise in place) the parameters for a history of ``num_centuries``; raise ConfigError."""

    @classmethod
    def progressgym_params(cls, fields: Mapping[str, Any]) -> dict[str, Any] | None:
        """This challenge's parameters if a result file of the *original* ProgressGym (no metadata from
        this package) holds one of its episodes, else None (the default: only files exported by this
        package, which name their challenge, are recognised)."""
        return None

    # -- what the challenge is ------------------------------------------------------------------

    @property
    def target_offset(self) -> int:
        """How many centuries past the observed one the last target a step needs lies (k on Predict).

        The episode ends when no later century is left: it has T - 1 - offset steps.
        """
        return 0

    @property
    def target_label(self) -> str | None:
        """How renderers label the scored targets (``H_{t+2}``); None when there is nothing to draw beside H_t."""
        return f"H_{{t+{self.target_offset}}}" if self.target_offset else None

    @property
    def agent_horizon(self) -> int:
        """How many centuries past the observed one an agent's model should aim (baselines, oracle)."""
        return self.target_offset

    @property
    def num_centuries(self) -> int:
        """T, the history length."""
        return int(self.human.shape[-2])

    @property
    def episode_length(self) -> int:
        """Number of scored steps (the episode length): T - 1 - offset."""
        return self.num_centuries - 1 - self.target_offset

    @property
    def last_step(self) -> int:
        """Century index of the last scored step."""
        return FIRST_SCORED_STEP + self.episode_length - 1

    def targets(self, human: np.ndarray) -> np.ndarray:
        """The vectors each step is scored against, (..., episode_length, d), from histories (..., T, d).

        Row i is the target of the step at century index t = 1 + i. Default H_{t + offset} (a view).
        """
        start = FIRST_SCORED_STEP + self.target_offset
        return human[..., start : start + self.episode_length, :]

    # -- histories --------------------------------------------------------------------------------

    def set_histories(self, rows: Rows, human: np.ndarray) -> None:
        """Histories of ``rows`` become ``human``; their constants (centres, references) are recomputed.

        Writes into ``self.human`` unless ``human`` already is it (the constructor's call).
        """
        if human is not self.human:
            self.human[rows] = human
        if human.ndim == 3 and human.strides[0] == 0:  # one history broadcast to every row: once
            human = human[:1]
        if self.similarity == "centered":
            self.center[rows] = human.mean(axis=-2)
            self._similarity = centered_similarity(self.center)
        if self._references is not None:
            lock_in, reference = self._reference_scores(human)
            self._references[0][rows] = lock_in
            self._references[1][rows] = reference
            self._normalizers = None
        if self._targets is None or not np.may_share_memory(self._targets, self.human):
            # Read at every step: kept, and rebuilt only when a challenge's targets are not a view of H.
            self._targets = self.targets(self.human)

    def reward_similarity(self, rows: Rows = ALL) -> Similarity:
        """The reward similarity for the histories of ``rows``."""
        if self.similarity == "centered" and rows is not ALL:
            return centered_similarity(self.center[rows])
        return self._similarity

    # -- per step -------------------------------------------------------------------------------

    def target(self, t: int, rows: Rows = ALL) -> np.ndarray:
        """The vectors (..., d) the step at century index ``t`` is scored against (row t - 1 of :meth:`targets`)."""
        assert self._targets is not None
        targets = self._targets if rows is ALL else self._targets[rows]
        if targets.ndim == 2:  # one history: a row (the same view; plain indexing costs less than Ellipsis's)
            return targets[t - FIRST_SCORED_STEP]
        return targets[..., t - FIRST_SCORED_STEP, :]

    def step_rewards(
        self, targets: np.ndarray, models: np.ndarray, simulated: np.ndarray | None = None, rows: Rows = ALL
    ) -> Any:
        """Per-step rewards of ``rows``: the similarity of each model to its target.

        :param targets: the rows' targets (..., d) (see :meth:`target`).
        :param models: the rows' models M_t (..., d).
        :param simulated: the rows' simulated humans S_t (challenges that simulate one).
        :return: a float for one history, an array for a batch.
        """
        similarity = self._similarity if rows is ALL else self.reward_similarity(rows)
        return self.step_terms(targets, models, simulated, None, similarity, NUMPY_OPS)

    def step_terms(
        self, targets: Any, models: Any, simulated: Any, human: Any, similarity: Similarity, ops: kernels.Ops
    ) -> Any:
        """The per-step reward written over an array namespace: what :meth:`step_rewards` returns, and what the
        JAX twin (:mod:`progressgym_env.functional`) computes with ``jax.numpy``.

        Override this (not :meth:`step_rewards`) so that both run the challenge's rule; use only
        ``similarity``, the :mod:`progressgym_env.kernels` functions and array-API operations of ``ops.xp``.
        The episode's paper score must be the mean of the steps' terms under the plain cosine (plus, for a
        challenge that simulates a human, the term of S_0): the twin scores episodes that way.

        :param targets: the step's targets (..., d). :param models: the models M_t (..., d).
        :param simulated: the simulated humans S_t (..., d), or None.
        :param human: the histories (..., T, d) (None where the rule does not read them).
        :param similarity: the reward similarity (a function of two arrays of vectors).
        :param ops: the array namespace and its reductions (:class:`progressgym_env.kernels.Ops`).
        """
        return similarity(targets, models)

    def step_reward(self, t: int, model: np.ndarray, simulated: np.ndarray | None = None) -> float:
        """One env's reward at century index ``t`` (a convenience over :meth:`step_rewards`)."""
        return float(self.step_rewards(self.target(t), model, simulated))

    # -- per episode ----------------------------------------------------------------------------

    def final_scores(
        self,
        models: np.ndarray | None,
        simulated: np.ndarray | None = None,
        rewards: np.ndarray | None = None,
        rows: Rows = ALL,
    ) -> np.ndarray:
        """The paper's scores (plain cosine) of ``rows``: by default the mean cosine of model to target.

        :param models: (..., episode_length, d) the models after each step.
        :param simulated: (..., T, d) S_0..S_{T-1} (challenges that simulate a human).
        :param rewards: (..., episode_length) the episode's rewards, when known: with plain-cosine rewards
            of this rule they are the score's terms, so their mean is the score (the same bits).
        """
        if rewards is not None and self._rewards_are_score_terms():
            return last_axis_mean(rewards)
        return tracking_scores(self.targets(self.human[rows]), models)

    def _rewards_are_score_terms(self) -> bool:
        """Whether each step's reward is cos(target, model), the term the tracking score averages.

        True for plain-cosine rewards unless a subclass scores steps its own way (overrides
        :meth:`step_terms` or :meth:`step_rewards`): then the score is recomputed from the models.
        """
        cls = type(self)
        return self.similarity == "cosine" and cls.step_terms is Judge.step_terms and cls.step_rewards is Judge.step_rewards

    def final_score(self, record: EpisodeRecord | Mapping[str, Any]) -> float:
        """The paper's score (plain cosine) of one history, recomputed from a record's vectors."""
        if self.batch_shape:
            raise ConfigError("final_score scores one history; use final_scores for a batch")
        return float(self._score_record(record))

    def _score_record(self, record: EpisodeRecord | Mapping[str, Any]) -> np.ndarray:
        models = _as_matrix(_field(record, "model"), "model", self.episode_length, self.human.shape[-1])
        return self.final_scores(models)

    def scores_under(self, record: EpisodeRecord | Mapping[str, Any], similarity: Similarity) -> tuple[Any, Any, Any]:
        """(score, lock-in, reference) of one history's record with ``similarity`` in place of the plain cosine.

        The leaderboard's centred view (:func:`~progressgym_env.benchmark.leaderboard.centered_normalized_score`).
        A batch judge (histories (N, T, d)) takes a record of (N, ...) vectors and returns three (N,) arrays
        (:func:`~progressgym_env.benchmark.aggregates.derived_score_columns`).
        """
        targets = self.targets(self.human)
        models = _as_matrix(_field(record, "model"), "model", self.episode_length, self.human.shape[-1],
                            self.batch_shape)
        frozen = np.broadcast_to(self.human[..., :1, :], targets.shape)
        return (
            _scalar(last_axis_mean(similarity(targets, models))),
            _scalar(last_axis_mean(similarity(targets, frozen))),
            _scalar(last_axis_mean(similarity(targets, targets))),
        )

    def normalization_note(self, lock_in: float, reference: float) -> str | None:
        """The leaderboard's line saying what 0 and 1 of ``normalized`` mean here; None: the leaderboard's own."""
        return None

    def step_curves(self, record: EpisodeRecord | Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Per-step series beyond the rewards that trackers log with each episode (name -> (n,) array).

        None by default; PG-Society's judge gives each AI's reward and the society's lock-in diagnostics.
        """
        return {}

    def normalized_scores(self, scores: Any, rows: Rows = ALL) -> Any:
        """0 = value lock-in, 1 = reference, per history (DESIGN §9)."""
        lock_in, span, tiny = self.normalizers()
        if rows is not ALL:
            lock_in, span, tiny = lock_in[rows], span[rows], tiny[rows]
        return kernels.normalized(scores, lock_in, span, tiny, np)

    def normalizers(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lock-in score, span or 1 where it is ~0, span ~0) per history: what :meth:`normalized_scores` divides by.

        Computed on first use and kept until the histories change (they depend on H only).
        """
        if self._normalizers is None:
            lock_in, reference = self._reference_arrays()
            span = reference - lock_in
            tiny = np.abs(span) < 1e-12
            self._normalizers = (lock_in, np.where(tiny, 1.0, span), tiny)
        return self._normalizers

    def _reference_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(lock-in, reference) of every history, computed on first use (they depend on H only)."""
        if self._references is None:
            human = self.human[:1] if self._broadcast() else self.human
            lock_in, reference = self._reference_scores(human)
            self._references = (
                np.array(np.broadcast_to(lock_in, self.batch_shape)),
                np.array(np.broadcast_to(reference, self.batch_shape)),
            )
        return self._references

    def normalized_score(self, score: float) -> float:
        """One history's normalized score (0 = value lock-in, 1 = reference).

        For a one-history judge the same kernel runs on Python floats (the single env's last step):
        numpy's float64 arithmetic, without four numpy calls on 0-d arrays.
        """
        if self.batch_shape:
            return float(self.normalized_scores(score))
        normalizers = self.normalizers()
        cached = self._scalar_normalizers
        if cached is None or cached[0] is not normalizers:
            lock_in, span, tiny = normalizers
            cached = self._scalar_normalizers = (normalizers, (float(lock_in), float(span), bool(tiny)))
        return float(kernels.normalized(float(score), *cached[1], SCALAR_XP))

    _scalar_normalizers: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], tuple[float, float, bool]] | None = None
    """:meth:`normalizers` of a one-history judge and the same as Python scalars (rebuilt when they are)."""

    def reference_scores(self) -> tuple[Any, Any]:
        """(score of value lock-in, score of the reference) of one history, from the history alone.

        Floats for one history; (N,) arrays for a batch judge (histories (N, T, d)).
        """
        lock_in, reference = self._reference_scores(self.human)
        return _scalar(lock_in), _scalar(np.broadcast_to(reference, np.shape(lock_in)))

    def _reference_scores(self, human: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lock-in, reference) scores of histories (..., T, d): a model frozen at H_0, and 1 (every target hit)."""
        targets = self.targets(human)
        frozen = np.broadcast_to(human[..., :1, :], targets.shape)
        return tracking_scores(targets, frozen), np.ones(human.shape[:-2])

    def _broadcast(self) -> bool:
        return self.human.ndim == 3 and self.human.strides[0] == 0


class FollowJudge(Judge):
    """PG-Follow: the model should hold the values of the current century (the base tracking rule)."""

    challenge = "follow"

    @classmethod
    def progressgym_params(cls, fields: Mapping[str, Any]) -> dict[str, Any] | None:
        """A ProgressGym Follow result has no (or a zero) ``timesteps_ahead``."""
        return {} if not fields.get("timesteps_ahead") else None


class PredictJudge(Judge):
    """PG-Predict(k): the model should hold the values of k centuries ahead.

    :param timesteps_ahead: k, valid 1..T-2.
    """

    challenge = "predict"
    param_defaults: ClassVar[Mapping[str, Any]] = {"timesteps_ahead": 1}

    @classmethod
    def validate_params(cls, params: dict[str, Any], num_centuries: int) -> None:
        validate_timesteps_ahead(params["timesteps_ahead"], num_centuries)
        params["timesteps_ahead"] = int(params["timesteps_ahead"])

    @classmethod
    def progressgym_params(cls, fields: Mapping[str, Any]) -> dict[str, Any] | None:
        """A ProgressGym Predict result carries its k as ``timesteps_ahead``."""
        k = fields.get("timesteps_ahead")
        if not k:
            return None
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ResultsFileError(f"'timesteps_ahead' must be an int >= 1, found {k!r}")
        return {"timesteps_ahead": int(k)}

    @property
    def timesteps_ahead(self) -> int:
        """k, how many centuries ahead the target lies."""
        return int(self.params["timesteps_ahead"])

    @property
    def target_offset(self) -> int:
        return self.timesteps_ahead


class CoevolveJudge(Judge):
    """PG-Coevolve: the simulated human should keep reaching the values of later real centuries."""

    challenge = "coevolve"
    simulates_human = True
    progressgym_format: ClassVar[TrackingFormat] = COEVOLVE

    @property
    def agent_horizon(self) -> int:
        """1: the model shapes the *next* simulated human."""
        return 1

    @property
    def target_label(self) -> str | None:
        return None

    @classmethod
    def progressgym_params(cls, fields: Mapping[str, Any]) -> dict[str, Any] | None:
        return {}

    def step_rewards(
        self, targets: np.ndarray, models: np.ndarray, simulated: np.ndarray | None = None, rows: Rows = ALL
    ) -> Any:
        if simulated is None:
            raise ValueError("CoevolveJudge.step_rewards needs the simulated human vectors")
        if rows is ALL:
            return self.step_terms(targets, models, simulated, self.human, self._history_similarity, NUMPY_OPS)
        return self.step_terms(targets, models, simulated, self.human[rows], self.reward_similarity(rows), NUMPY_OPS)

    def step_terms(
        self, targets: Any, models: Any, simulated: Any, human: Any, similarity: Similarity, ops: kernels.Ops
    ) -> Any:
        """The progress of S_t against the whole history: mean over i of max_{j >= i} sim(S_t, H_j)."""
        return kernels.progress(similarity(simulated[..., None, :], human), ops)

    def final_scores(
        self,
        models: np.ndarray | None,
        simulated: np.ndarray | None = None,
        rewards: np.ndarray | None = None,
        rows: Rows = ALL,
    ) -> np.ndarray:
        if simulated is None:
            raise ValueError("CoevolveJudge.final_scores needs the simulated humans S_0..S_{T-1}")
        human = self.human[rows]
        if rewards is not None and self.similarity == "cosine":
            # With plain-cosine rewards the per-S terms of S_1.. are the rewards: only S_0's is new.
            start = simulated[..., 0, :]
            if simulated.ndim == 2 and rows is ALL:  # one env: S_0 is usually the same every episode
                first = self._start_progress(start)
            elif self._broadcast() and start.ndim == 2 and (start == self.human[0, 0]).all():
                # One history for every row and every S_0 at H_0 (the surrogate's start): one row's term
                # (each row of a batched call has the bits of the one-row call).
                first = np.full(start.shape[0], self._start_progress(self.human[0, 0], self.human[0]))
            else:
                first = progress_scores(start, human)
            return last_axis_mean(np.concatenate([first[..., None], rewards], axis=-1))
        return coevolve_scores(simulated, human)

    _start_cache: tuple[bytes, np.ndarray] | None = None

    def _start_progress(self, start: np.ndarray, human: np.ndarray | None = None) -> np.ndarray:
        """progress_scores(S_0, H) of one history (``human``, default this judge's), kept while S_0 (its
        bits) and H stay the same."""
        key = start.tobytes()
        if self._start_cache is None or self._start_cache[0] != key:
            self._start_cache = (key, progress_scores(start, self.human if human is None else human))
        return self._start_cache[1]

    def set_histories(self, rows: Rows, human: np.ndarray) -> None:
        self._start_cache = None
        super().set_histories(rows, human)
        self._history_similarity = self._similarity
        if not self.batch_shape and self.similarity == "cosine" and row_squares(self.human) is not None:
            # One history scored against itself every step: keep its rows' squared norms (the cosine's
            # total(H * H), the same numbers) instead of summing them again at every step.
            self._history_similarity = KeptRowsCosine(self.human)

    def _score_record(self, record: EpisodeRecord | Mapping[str, Any]) -> np.ndarray:
        simulated = _as_matrix(_field(record, "simulated"), "simulated", self.num_centuries, self.human.shape[-1])
        return self.final_scores(None, simulated)

    def scores_under(self, record: EpisodeRecord | Mapping[str, Any], similarity: Similarity) -> tuple[Any, Any, Any]:
        human = self.human
        simulated = _as_matrix(_field(record, "simulated"), "simulated", self.num_centuries, human.shape[-1],
                               self.batch_shape)
        own = human[..., None, :, :]  # every S_t (or H_t) of a history against that history's centuries
        return (
            _scalar(last_axis_mean(progress_scores(simulated, own, similarity))),
            _scalar(last_axis_mean(progress_scores(np.broadcast_to(human[..., :1, :], human.shape), own, similarity))),
            _scalar(last_axis_mean(progress_scores(human, own, similarity))),
        )

    def _reference_scores(self, human: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        first = progress_scores(human[..., 0, :], human)
        frozen = np.repeat(first[..., None], human.shape[-2], axis=-1).mean(axis=-1)
        return frozen, coevolve_scores(human, human)


def make_judge(challenge: str, human: Any, similarity: str = "cosine", **params: Any) -> Judge:
    """Build the judge of the registered challenge named ``challenge`` on histories ``human``.

    :param params: the challenge's parameters (Predict's ``timesteps_ahead``, default 1).
    """
    from progressgym_env.registry import judge_class

    return judge_class(challenge)(human, similarity, **params)


def judge_for_record(record: EpisodeRecord | Mapping[str, Any]) -> Judge:
    """The (plain cosine) judge an episode record was produced under."""
    record = EpisodeRecord.from_dict(record)
    return make_judge(record.challenge, record.human, **record.params)


def target_curve(record: EpisodeRecord | Mapping[str, Any]) -> tuple[str | None, np.ndarray]:
    """What renderers draw as the scored target: (the judge's label, its targets (n, d) at centuries 1..n).

    The label is None when the targets are the history itself (nothing to draw beside H_t).
    """
    judge = judge_for_record(record)
    return judge.target_label, np.asarray(judge.targets(judge.human))


def score_record(record: EpisodeRecord | Mapping[str, Any]) -> float:
    """Recompute the paper score of an episode from its saved vectors.

    Also accepts a result in ProgressGym's own fields (``actual_vector``/``examinee_vector`` or
    ``simulated_model_vector``/``actual_model_vector``, see :mod:`progressgym_env.progressgym_format`),
    so results of the original framework are scored by the same formulas.
    """
    if isinstance(record, Mapping) and "human" not in record:
        from progressgym_env.progressgym_format import is_progressgym_result, progressgym_score

        if is_progressgym_result(record):
            return progressgym_score(record)
    record = EpisodeRecord.from_dict(record)
    return judge_for_record(record).final_score(record)


def normalized_score_record(record: EpisodeRecord | Mapping[str, Any]) -> float:
    """Recompute the normalised score (0 = lock-in, 1 = reference) from saved vectors."""
    record = EpisodeRecord.from_dict(record)
    judge = judge_for_record(record)
    return judge.normalized_score(judge.final_score(record))
