"""Judges: the per-step similarities and the leaderboard scores of the three challenges (DESIGN §4.4).

A judge is the challenge's strategy: it owns what differs between PG-Follow, PG-Predict and
PG-Coevolve — the target offset (k for Predict), whether a simulated human exists, the record fields
the challenge has — and scores with one batched implementation. It is built on histories of shape
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
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from progressgym_env.errors import ConfigError, HistoryFormatError
from progressgym_env.numerics import cosine, last_axis_mean
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

    def centered_cosine(a: np.ndarray, b: np.ndarray) -> Any:
        a = np.asarray(a)
        c = center
        if c.ndim > 1:  # align (N, d) with (N, ..., d)
            c = c.reshape(c.shape[:-1] + (1,) * (a.ndim - c.ndim) + c.shape[-1:])
        return cosine(a - c, np.asarray(b) - c)

    return centered_cosine


def progress_scores(simulated: np.ndarray, human: np.ndarray, similarity: Similarity = cosine) -> np.ndarray:
    """Mean over i of max_{j>=i} sim(s, H_j): Coevolve's term, for ``simulated`` (..., d) and ``human`` (..., T, d).

    Leading dims broadcast (several s against one history, or one s per history of a batch).
    """
    sims = np.asarray(similarity(np.asarray(simulated)[..., None, :], human), dtype=np.float64)
    suffix_max = np.maximum.accumulate(sims[..., ::-1], axis=-1)[..., ::-1]
    return last_axis_mean(suffix_max)


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


def validate_timesteps_ahead(timesteps_ahead: Any, num_steps: int) -> None:
    """k must be an int in 1..T-2 (at least one scored step)."""
    if isinstance(timesteps_ahead, bool) or not isinstance(timesteps_ahead, (int, np.integer)):
        raise ConfigError(f"timesteps_ahead must be an int, found {timesteps_ahead!r}")
    if not 1 <= int(timesteps_ahead) <= num_steps - 2:
        raise ConfigError(
            f"timesteps_ahead={timesteps_ahead} is out of range: with a history of {num_steps} "
            f"centuries it must be in 1..{num_steps - 2}"
        )


def _field(record: EpisodeRecord | Mapping[str, Any], name: str) -> Any:
    value = getattr(record, name, None) if isinstance(record, EpisodeRecord) else record.get(name)
    if value is None:
        raise HistoryFormatError(f"episode record is missing {name!r}")
    return value


def _as_matrix(vectors: Any, name: str, rows: int, dim: int) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float64)
    if array.shape != (rows, dim):
        raise HistoryFormatError(f"episode record: {name!r} must have shape ({rows}, {dim}), found {array.shape}")
    if not np.isfinite(array).all():
        raise HistoryFormatError(f"episode record: {name!r} holds non-finite values")
    return array


class Judge(ABC):
    """Scores one challenge on histories ``human`` of shape (..., T, d).

    :param human: the real histories H; a (T, d) history for one env, (N, T, d) for N (a broadcast
        view of one history is fine). Kept by reference: :meth:`set_histories` writes into it.
    :param similarity: reward similarity (``"cosine"`` or ``"centered"``).
    """

    challenge: ClassVar[str] = ""
    simulates_human: ClassVar[bool] = False
    """Whether the challenge has a simulated human (who then answers the agent's queries)."""

    def __init__(self, human: Any, similarity: str = "cosine") -> None:
        if isinstance(human, np.ndarray) and human.dtype == np.float64:
            self.human = human
        else:
            self.human = np.asarray(human, dtype=np.float64)
        if self.human.ndim < 2 or self.human.shape[-2] < 3:
            raise HistoryFormatError(f"judge needs a T x d history with T >= 3, found shape {self.human.shape}")
        if similarity not in SIMILARITIES:
            raise ConfigError(f"unknown similarity {similarity!r}; choose one of {SIMILARITIES}")
        self.similarity_name = similarity
        self.batch_shape: tuple[int, ...] = self.human.shape[:-2]
        d = self.human.shape[-1]
        self.center = np.zeros(self.batch_shape + (d,))
        self._similarity: Similarity = cosine
        self._references: tuple[np.ndarray, np.ndarray] | None = None
        self._normalizers: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._offset = self.target_offset  # read at every step
        self.set_histories(ALL, self.human)

    # -- what the challenge is ------------------------------------------------------------------

    @property
    def timesteps_ahead(self) -> int | None:
        """Predict's k; None on the challenges that have none (the record field is absent there)."""
        return None

    @property
    def target_offset(self) -> int:
        """How many centuries after the observed one the step's target lies (k on Predict, else 0)."""
        return self.timesteps_ahead or 0

    @property
    def num_centuries(self) -> int:
        """T, the history length."""
        return int(self.human.shape[-2])

    @property
    def num_steps(self) -> int:
        """Number of scored steps (the episode length): T - 1 - offset."""
        return self.num_centuries - 1 - self.target_offset

    @property
    def last_step(self) -> int:
        """Century index of the last scored step."""
        return FIRST_SCORED_STEP + self.num_steps - 1

    # -- histories --------------------------------------------------------------------------------

    def set_histories(self, rows: Rows, human: np.ndarray) -> None:
        """Histories of ``rows`` become ``human``; their constants (centres, references) are recomputed.

        Writes into ``self.human`` unless ``human`` already is it (the constructor's call).
        """
        if human is not self.human:
            self.human[rows] = human
        if human.ndim == 3 and human.strides[0] == 0:  # one history broadcast to every row: once
            human = human[:1]
        if self.similarity_name == "centered":
            self.center[rows] = human.mean(axis=-2)
            self._similarity = centered_similarity(self.center)
        if self._references is not None:
            lock_in, reference = self._reference_scores(human)
            self._references[0][rows] = lock_in
            self._references[1][rows] = reference
            self._normalizers = None

    def similarity(self, rows: Rows = ALL) -> Similarity:
        """The reward similarity for the histories of ``rows``."""
        if self.similarity_name == "centered" and rows is not ALL:
            return centered_similarity(self.center[rows])
        return self._similarity

    # -- per step -------------------------------------------------------------------------------

    def target(self, t: int, rows: Rows = ALL) -> np.ndarray:
        """The vectors (..., d) the step at century index ``t`` is scored against (H_{t+offset})."""
        if rows is ALL:
            return self.human[..., t + self._offset, :]
        return self.human[rows][..., t + self._offset, :]

    def step_rewards(
        self, targets: np.ndarray, models: np.ndarray, simulated: np.ndarray | None = None, rows: Rows = ALL
    ) -> Any:
        """Per-step rewards of ``rows``: the similarity of each model to its target.

        :param targets: the rows' targets (..., d) (see :meth:`target`).
        :param models: the rows' models M_t (..., d).
        :param simulated: the rows' simulated humans S_t (Coevolve only).
        :return: a float for one history, an array for a batch.
        """
        return (self._similarity if rows is ALL else self.similarity(rows))(targets, models)

    def step_reward(self, t: int, model: np.ndarray, simulated: np.ndarray | None = None) -> float:
        """One env's reward at century index ``t`` (a convenience over :meth:`step_rewards`)."""
        return float(self.step_rewards(self.target(t), model, simulated))

    # -- per episode ----------------------------------------------------------------------------

    @abstractmethod
    def final_scores(
        self,
        models: np.ndarray | None,
        simulated: np.ndarray | None = None,
        rewards: np.ndarray | None = None,
        rows: Rows = ALL,
    ) -> np.ndarray:
        """The paper's scores (plain cosine) of ``rows``.

        :param models: (..., num_steps, d) the models after each step (Follow, Predict).
        :param simulated: (..., T, d) S_0..S_{T-1} (Coevolve).
        :param rewards: (..., num_steps) the episode's rewards, when known (a shortcut for Coevolve).
        """

    def final_score(self, record: EpisodeRecord | Mapping[str, Any]) -> float:
        """The paper's score (plain cosine) of one history, recomputed from a record's vectors."""
        if self.batch_shape:
            raise ConfigError("final_score scores one history; use final_scores for a batch")
        return float(self._score_record(record))

    @abstractmethod
    def _score_record(self, record: EpisodeRecord | Mapping[str, Any]) -> np.ndarray: ...

    def normalized_scores(self, scores: Any, rows: Rows = ALL) -> Any:
        """0 = value lock-in, 1 = reference, per history (DESIGN §9)."""
        if self._normalizers is None:  # (lock-in, span or 1 where it is ~0, span ~0), kept until H changes
            lock_in, reference = self._reference_arrays()
            span = reference - lock_in
            tiny = np.abs(span) < 1e-12
            self._normalizers = (lock_in, np.where(tiny, 1.0, span), tiny)
        lock_in, span, tiny = self._normalizers
        if rows is not ALL:
            lock_in, span, tiny = lock_in[rows], span[rows], tiny[rows]
        return np.where(tiny, 0.0, (scores - lock_in) / span)

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
        """One history's normalized score (0 = value lock-in, 1 = reference)."""
        return float(self.normalized_scores(score))

    def reference_scores(self) -> tuple[float, float]:
        """(score of value lock-in, score of the reference) of one history, from the history alone."""
        lock_in, reference = self._reference_scores(self.human)
        return float(lock_in), float(reference)

    @abstractmethod
    def _reference_scores(self, human: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lock-in, reference) scores of histories (..., T, d)."""

    def _broadcast(self) -> bool:
        return self.human.ndim == 3 and self.human.strides[0] == 0


class FollowJudge(Judge):
    """PG-Follow: the model should hold the values of the current century."""

    challenge = "follow"

    def final_scores(
        self,
        models: np.ndarray | None,
        simulated: np.ndarray | None = None,
        rewards: np.ndarray | None = None,
        rows: Rows = ALL,
    ) -> np.ndarray:
        start = FIRST_SCORED_STEP + self.target_offset
        return tracking_scores(self.human[rows][..., start : start + self.num_steps, :], models)

    def _score_record(self, record: EpisodeRecord | Mapping[str, Any]) -> np.ndarray:
        models = _as_matrix(_field(record, "model"), "model", self.num_steps, self.human.shape[-1])
        return self.final_scores(models)

    def _reference_scores(self, human: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        start = FIRST_SCORED_STEP + self.target_offset
        shape = human.shape[:-2] + (self.num_steps, human.shape[-1])
        frozen = np.broadcast_to(human[..., :1, :], shape)
        return tracking_scores(human[..., start : start + self.num_steps, :], frozen), np.ones(human.shape[:-2])


class PredictJudge(FollowJudge):
    """PG-Predict(k): the model should hold the values of k centuries ahead.

    :param timesteps_ahead: k, valid 1..T-2.
    """

    challenge = "predict"

    def __init__(self, human: Any, similarity: str = "cosine", timesteps_ahead: int = 1) -> None:
        shape = np.shape(human)
        validate_timesteps_ahead(timesteps_ahead, shape[-2] if len(shape) >= 2 else 0)
        self._k = int(timesteps_ahead)
        super().__init__(human, similarity)

    @property
    def timesteps_ahead(self) -> int:
        return self._k


class CoevolveJudge(Judge):
    """PG-Coevolve: the simulated human should keep reaching the values of later real centuries."""

    challenge = "coevolve"
    simulates_human = True

    def step_rewards(
        self, targets: np.ndarray, models: np.ndarray, simulated: np.ndarray | None = None, rows: Rows = ALL
    ) -> Any:
        if simulated is None:
            raise ValueError("CoevolveJudge.step_rewards needs the simulated human vectors")
        if rows is ALL:
            return progress_scores(simulated, self.human, self._similarity)
        return progress_scores(simulated, self.human[rows], self.similarity(rows))

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
        if rewards is not None and self.similarity_name == "cosine":
            # With plain-cosine rewards the per-S terms of S_1.. are the rewards: only S_0's is new.
            first = progress_scores(simulated[..., 0, :], human)
            return last_axis_mean(np.concatenate([first[..., None], rewards], axis=-1))
        return coevolve_scores(simulated, human)

    def _score_record(self, record: EpisodeRecord | Mapping[str, Any]) -> np.ndarray:
        simulated = _as_matrix(_field(record, "simulated"), "simulated", self.num_centuries, self.human.shape[-1])
        return self.final_scores(None, simulated)

    def _reference_scores(self, human: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        first = progress_scores(human[..., 0, :], human)
        frozen = np.repeat(first[..., None], human.shape[-2], axis=-1).mean(axis=-1)
        return frozen, coevolve_scores(human, human)


JUDGES: dict[str, type[Judge]] = {"follow": FollowJudge, "predict": PredictJudge, "coevolve": CoevolveJudge}
"""Challenge name -> judge class: the one place challenge names are dispatched on."""


def make_judge(challenge: str, human: Any, similarity: str = "cosine", timesteps_ahead: int | None = None) -> Judge:
    """Build the judge of ``challenge`` ("follow", "predict", "coevolve") on histories ``human``.

    :param timesteps_ahead: Predict's k (default 1); must be None on the other challenges.
    """
    cls = JUDGES.get(challenge)
    if cls is None:
        raise ConfigError(f"unknown challenge {challenge!r}; choose one of {', '.join(JUDGES)}")
    if cls is PredictJudge:
        return PredictJudge(human, similarity, timesteps_ahead=1 if timesteps_ahead is None else timesteps_ahead)
    return cls(human, similarity)


def judge_for_record(record: EpisodeRecord | Mapping[str, Any]) -> Judge:
    """The (plain cosine) judge an episode record was produced under."""
    record = EpisodeRecord.from_dict(record)
    return make_judge(record.challenge, record.human, timesteps_ahead=record.timesteps_ahead)


def score_record(record: EpisodeRecord | Mapping[str, Any]) -> float:
    """Recompute the paper score of an episode from its saved vectors.

    Also accepts a result in ProgressGym's own fields (``actual_vector``/``examinee_vector`` or
    ``simulated_model_vector``/``actual_model_vector``, see :mod:`progressgym_env.benchmark.interop`),
    so results of the original framework are scored by the same formulas.
    """
    if isinstance(record, Mapping) and "human" not in record:
        from progressgym_env.benchmark.interop import is_progressgym_result, progressgym_score

        if is_progressgym_result(record):
            return progressgym_score(record)
    record = EpisodeRecord.from_dict(record)
    return judge_for_record(record).final_score(record)


def normalized_score_record(record: EpisodeRecord | Mapping[str, Any]) -> float:
    """Recompute the normalised score (0 = lock-in, 1 = reference) from saved vectors."""
    record = EpisodeRecord.from_dict(record)
    judge = judge_for_record(record)
    return judge.normalized_score(judge.final_score(record))
