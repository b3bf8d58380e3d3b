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
        center = np.asarray(human, dtype=np.float64).mean(axis=0)

        def centered_cosine(a: np.ndarray, b: np.ndarray) -> Any:
            return cosine(np.asarray(a) - center, np.asarray(b) - center)

        return centered_cosine
    raise ConfigError(f"unknown similarity {name!r}; choose one of {SIMILARITIES}")


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
