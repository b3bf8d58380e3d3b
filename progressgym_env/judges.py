"""Judges: the per-step similarities and the leaderboard scores of the three challenges (DESIGN §4.4).

A judge is built on one history (H, shape T x d) and a similarity for per-step rewards. Its
``final_score`` always uses the paper's plain cosine, whatever the reward similarity, so that scores
stay comparable with the ProgressGym leaderboard. Judges work on their own: :func:`score_record`
recomputes a score from an ``episode_record`` (saved vectors) without any env.

Scores (cos = cosine similarity, 0 for a zero vector; M_t the model after the update at t;
S_t the simulated human):

- Follow: mean over the scored steps t = 1..T-1 of cos(H_t, M_t).
- Predict(k): mean over t = 1..T-1-k of cos(H_{t+k}, M_t).
- Coevolve: mean over s in {S_0..S_{T-1}} of the mean over i in 0..T-1 of max_{j>=i} cos(s, H_j).

``normalized_score`` maps a score onto 0 = value lock-in, 1 = reference (DESIGN §9).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Mapping

import numpy as np

from progressgym_env.errors import ConfigError, HistoryFormatError
from progressgym_env.numerics import cosine

FIRST_SCORED_STEP = 1
"""The first century index scored (the model starts equal to H_0, DESIGN §2)."""

SIMILARITIES = ("cosine", "centered")
Similarity = Callable[[np.ndarray, np.ndarray], Any]


def make_similarity(name: str, human: np.ndarray) -> Similarity:
    """The reward similarity ``name`` for history ``human``.

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
        are shaped (N, ..., d) and row n is centred on ``center[n]`` (the native vector env).
    """
    center = np.asarray(center, dtype=np.float64)

    def centered_cosine(a: np.ndarray, b: np.ndarray) -> Any:
        a = np.asarray(a)
        c = center
        if c.ndim > 1:  # align (N, d) with (N, ..., d)
            c = c.reshape(c.shape[:-1] + (1,) * (a.ndim - c.ndim) + c.shape[-1:])
        return cosine(a - c, np.asarray(b) - c)

    return centered_cosine


def progress_score(simulated: np.ndarray, human: np.ndarray, similarity: Similarity = cosine) -> float:
    """Mean over i of max_{j>=i} sim(s, H_j) for one simulated vector s (Coevolve's inner term)."""
    return float(progress_scores(simulated, human, similarity))


def progress_scores(simulated: np.ndarray, human: np.ndarray, similarity: Similarity = cosine) -> np.ndarray:
    """:func:`progress_score` for many vectors at once: ``simulated`` (..., d) against ``human`` (..., T, d).

    Leading dims broadcast (several s against one history, or one s per history of a batch).
    """
    sims = np.asarray(similarity(np.asarray(simulated)[..., None, :], human), dtype=np.float64)
    suffix_max = np.maximum.accumulate(sims[..., ::-1], axis=-1)[..., ::-1]
    return suffix_max.mean(axis=-1)


def _as_matrix(vectors: Any, name: str, rows: int, dim: int) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float64)
    if array.shape != (rows, dim):
        raise HistoryFormatError(f"episode record: {name!r} must have shape ({rows}, {dim}), found {array.shape}")
    if not np.all(np.isfinite(array)):
        raise HistoryFormatError(f"episode record: {name!r} holds non-finite values")
    return array


class Judge(ABC):
    """Scores one challenge on one history.

    :param human: the real history H, shape (T, d).
    :param similarity: reward similarity (``"cosine"`` or ``"centered"``).
    """

    challenge: str = ""

    def __init__(self, human: Any, similarity: str = "cosine") -> None:
        self.human = np.asarray(human, dtype=np.float64)
        if self.human.ndim != 2 or self.human.shape[0] < 3:
            raise HistoryFormatError(f"judge needs a T x d history with T >= 3, found shape {self.human.shape}")
        self.similarity_name = similarity
        self.similarity = make_similarity(similarity, self.human)
        self._references: tuple[float, float] | None = None

    @property
    def num_steps(self) -> int:
        """Number of scored steps (the episode length)."""
        return self.human.shape[0] - 1

    @property
    def last_step(self) -> int:
        """Century index of the last scored step."""
        return FIRST_SCORED_STEP + self.num_steps - 1

    def target(self, t: int) -> np.ndarray:
        """The vector the step at century index ``t`` is scored against."""
        return self.human[t]

    def step_reward(self, t: int, model: np.ndarray, simulated: np.ndarray | None = None) -> float:
        """Per-step similarity of the model at ``t`` to its target (the env's reward)."""
        return float(self.similarity(self.target(t), model))

    @abstractmethod
    def final_score(self, record: Mapping[str, Any]) -> float:
        """The paper's score (plain cosine) recomputed from an episode record's vectors."""

    @abstractmethod
    def reference_scores(self) -> tuple[float, float]:
        """(score of value lock-in, score of the reference), both from the history alone."""

    def normalized_score(self, score: float) -> float:
        """0 = value lock-in, 1 = reference (DESIGN §9)."""
        if self._references is None:  # they depend on the history only: computed once per judge
            self._references = self.reference_scores()
        lock_in, reference = self._references
        span = reference - lock_in
        if abs(span) < 1e-12:
            return 0.0
        return float((score - lock_in) / span)

    def _models(self, record: Mapping[str, Any]) -> np.ndarray:
        return _as_matrix(record["model"], "model", self.num_steps, self.human.shape[1])


class FollowJudge(Judge):
    """PG-Follow: the model should hold the values of the current century."""

    challenge = "follow"

    def final_score(self, record: Mapping[str, Any]) -> float:
        models = self._models(record)
        targets = self.human[FIRST_SCORED_STEP : FIRST_SCORED_STEP + self.num_steps]
        return float(np.mean(cosine(targets, models)))

    def reference_scores(self) -> tuple[float, float]:
        frozen = np.broadcast_to(self.human[0], (self.num_steps, self.human.shape[1]))
        return self.final_score({"model": frozen}), 1.0


class PredictJudge(FollowJudge):
    """PG-Predict(k): the model should hold the values of k centuries ahead.

    :param timesteps_ahead: k, valid 1..T-2.
    """

    challenge = "predict"

    def __init__(self, human: Any, similarity: str = "cosine", timesteps_ahead: int = 1) -> None:
        super().__init__(human, similarity)
        validate_timesteps_ahead(timesteps_ahead, self.human.shape[0])
        self.timesteps_ahead = int(timesteps_ahead)

    @property
    def num_steps(self) -> int:
        return self.human.shape[0] - 1 - self.timesteps_ahead

    def target(self, t: int) -> np.ndarray:
        return self.human[t + self.timesteps_ahead]

    def final_score(self, record: Mapping[str, Any]) -> float:
        models = self._models(record)
        start = FIRST_SCORED_STEP + self.timesteps_ahead
        targets = self.human[start : start + self.num_steps]
        return float(np.mean(cosine(targets, models)))


class CoevolveJudge(Judge):
    """PG-Coevolve: the simulated human should keep reaching the values of later real centuries."""

    challenge = "coevolve"

    def step_reward(self, t: int, model: np.ndarray, simulated: np.ndarray | None = None) -> float:
        if simulated is None:
            raise ValueError("CoevolveJudge.step_reward needs the simulated human vector")
        return progress_score(simulated, self.human, self.similarity)

    def final_score(self, record: Mapping[str, Any]) -> float:
        simulated = _as_matrix(record["simulated"], "simulated", self.human.shape[0], self.human.shape[1])
        return float(np.mean(progress_scores(simulated, self.human)))

    def reference_scores(self) -> tuple[float, float]:
        frozen = np.broadcast_to(self.human[0], self.human.shape)
        return self.final_score({"simulated": frozen}), self.final_score({"simulated": self.human})


class BatchedJudge:
    """The judge of one challenge over N histories at once: the native vector env's scorer.

    The same formulas and numpy reductions as :class:`FollowJudge`, :class:`PredictJudge` and
    :class:`CoevolveJudge` (so the same numbers, bit for bit, as N scalar judges), on arrays with a
    leading env axis. Histories can be replaced row by row (procedural resets); the per-history
    constants (centres, reference scores) are recomputed for those rows only.

    :param challenge: ``"follow"``, ``"predict"`` or ``"coevolve"``.
    :param human: the N histories, shape (N, T, d) (a broadcast view is fine for one fixed history).
    :param similarity: reward similarity (``"cosine"`` or ``"centered"``).
    :param timesteps_ahead: k for Predict (validated like :class:`PredictJudge`).
    """

    def __init__(
        self, challenge: str, human: np.ndarray, similarity: str = "cosine", timesteps_ahead: int | None = None
    ) -> None:
        scalar = make_judge(challenge, np.asarray(human[0]), similarity, timesteps_ahead)  # validates all
        self.challenge = challenge
        self.similarity_name = similarity
        self.offset = int(timesteps_ahead or 0) if challenge == "predict" else 0
        self.num_steps = scalar.num_steps
        self.human = human
        n, _, d = human.shape
        self.center = np.zeros((n, d))
        self.lock_in = np.zeros(n)
        self.reference = np.ones(n)
        self.set_histories(slice(None), human)

    def set_histories(self, rows: slice | np.ndarray, human: np.ndarray) -> None:
        """Histories of ``rows`` become ``human`` (n, T, d); their constants are recomputed.

        Writes into ``self.human`` unless ``human`` already is it (the constructor's call).
        """
        if human is not self.human:
            self.human[rows] = human
        if human.strides[0] == 0:  # one fixed history broadcast to every row: compute its constants once
            human = human[:1]
        if self.similarity_name == "centered":
            self.center[rows] = human.mean(axis=-2)
        self.lock_in[rows], self.reference[rows] = self._reference_scores(human)

    def similarity(self, rows: slice | np.ndarray) -> Similarity:
        """The reward similarity for the histories of ``rows``."""
        if self.similarity_name == "centered":
            return centered_similarity(self.center[rows])
        return cosine

    def step_rewards(
        self, rows: slice | np.ndarray, targets: np.ndarray, models: np.ndarray, simulated: np.ndarray | None
    ) -> np.ndarray:
        """Per-step rewards of ``rows``: like :meth:`Judge.step_reward` on (n, d) models (and S_t).

        :param targets: the rows' targets (n, d) (H_t, or H_{t+k} for Predict; unused by Coevolve).
        """
        similarity = self.similarity(rows)
        if self.challenge == "coevolve":
            assert simulated is not None, "Coevolve rewards need the simulated humans"
            return progress_scores(simulated, self.human[rows], similarity)
        return np.asarray(similarity(targets, models), dtype=np.float64)

    def final_scores(
        self,
        rows: slice | np.ndarray,
        models: np.ndarray,
        simulated: np.ndarray | None = None,
        rewards: np.ndarray | None = None,
    ) -> np.ndarray:
        """The paper scores of ``rows`` (plain cosine), like :meth:`Judge.final_score` per row.

        :param models: (n, num_steps, d) the models after each step (Follow, Predict).
        :param simulated: (n, T, d) S_0..S_{T-1} (Coevolve).
        :param rewards: (n, num_steps) the episode's rewards: with plain-cosine rewards Coevolve's
            per-S terms for S_1.. are exactly the rewards, so only S_0's is recomputed.
        """
        human = self.human[rows]
        if self.challenge == "coevolve":
            assert simulated is not None, "Coevolve scores need the simulated humans"
            if rewards is not None and self.similarity_name == "cosine":
                first = progress_scores(simulated[:, 0], human)
                return np.concatenate([first[:, None], rewards], axis=1).mean(axis=-1)
            return progress_scores(simulated, human[:, None]).mean(axis=-1)
        start = FIRST_SCORED_STEP + self.offset
        return np.asarray(cosine(human[:, start : start + self.num_steps], models)).mean(axis=-1)

    def normalized_scores(self, rows: slice | np.ndarray, scores: np.ndarray) -> np.ndarray:
        """0 = value lock-in, 1 = reference, per row (like :meth:`Judge.normalized_score`)."""
        lock_in, reference = self.lock_in[rows], self.reference[rows]
        span = reference - lock_in
        tiny = np.abs(span) < 1e-12
        return np.where(tiny, 0.0, (scores - lock_in) / np.where(tiny, 1.0, span))

    def _reference_scores(self, human: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, steps, _ = human.shape
        if self.challenge == "coevolve":
            first = progress_scores(human[:, 0], human)
            frozen = np.repeat(first[:, None], steps, axis=1).mean(axis=-1)
            return frozen, progress_scores(human, human[:, None]).mean(axis=-1)
        start = FIRST_SCORED_STEP + self.offset
        frozen = np.broadcast_to(human[:, :1], (n, self.num_steps, human.shape[2]))
        lock_in = np.asarray(cosine(human[:, start : start + self.num_steps], frozen)).mean(axis=-1)
        return lock_in, np.ones(n)


def validate_timesteps_ahead(timesteps_ahead: Any, num_steps: int) -> None:
    """k must be an int in 1..T-2 (at least one scored step)."""
    if isinstance(timesteps_ahead, bool) or not isinstance(timesteps_ahead, (int, np.integer)):
        raise ConfigError(f"timesteps_ahead must be an int, found {timesteps_ahead!r}")
    if not 1 <= int(timesteps_ahead) <= num_steps - 2:
        raise ConfigError(
            f"timesteps_ahead={timesteps_ahead} is out of range: with a history of {num_steps} "
            f"centuries it must be in 1..{num_steps - 2}"
        )


def make_judge(challenge: str, human: Any, similarity: str = "cosine", timesteps_ahead: int | None = None) -> Judge:
    """Build the judge of ``challenge`` ("follow", "predict", "coevolve") on history ``human``."""
    if challenge == "follow":
        return FollowJudge(human, similarity)
    if challenge == "predict":
        return PredictJudge(human, similarity, timesteps_ahead=1 if timesteps_ahead is None else timesteps_ahead)
    if challenge == "coevolve":
        return CoevolveJudge(human, similarity)
    raise ConfigError(f"unknown challenge {challenge!r}; choose follow, predict or coevolve")


def judge_for_record(record: Mapping[str, Any]) -> Judge:
    """The (plain cosine) judge an episode record was produced under."""
    for key in ("challenge", "human"):
        if key not in record:
            raise HistoryFormatError(f"episode record is missing {key!r}")
    return make_judge(str(record["challenge"]), record["human"], timesteps_ahead=record.get("timesteps_ahead"))


def score_record(record: Mapping[str, Any]) -> float:
    """Recompute the paper score of an episode from its saved vectors."""
    return judge_for_record(record).final_score(record)


def normalized_score_record(record: Mapping[str, Any]) -> float:
    """Recompute the normalised score (0 = lock-in, 1 = reference) from saved vectors."""
    judge = judge_for_record(record)
    return judge.normalized_score(judge.final_score(record))
