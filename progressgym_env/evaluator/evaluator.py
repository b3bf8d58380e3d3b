"""``ValueEvaluator``: measure any chooser (a model, or a plain callable) on the moral19 bank.

A *chooser* is any callable ``chooser(questions: list[Question]) -> sequence of arrays``, one array
of non-negative weights per question over its displayed options (all NaN = a refusal). Models are
wrapped as choosers in :mod:`progressgym_env.evaluator.choosers`; tests use plain functions, so the
aggregation is checked without any model.

With ``normalization="joint"`` the evaluator needs each candidate's unnormalised likelihood: it calls a
chooser's ``score(questions)`` method (per question, the candidates' log-likelihoods, as
:class:`~progressgym_env.evaluator.choosers.LogLikelihoodChooser` has) when there is one, and otherwise
takes the chooser's outputs as likelihoods, without renormalising them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from progressgym_env.common.fingerprint import questions_fingerprint
from progressgym_env.errors import ChooserOutputError, EvaluationError
from progressgym_env.evaluator.aggregate import (
    AGGREGATIONS,
    PositionDiagnostic,
    check_weights,
    joint_distributions,
    position_diagnostics,
    progressgym_vector,
    scenario_distributions,
    standard_errors,
    value_vector,
)
from progressgym_env.evaluator.bank import QuestionBank, load_question_bank
from progressgym_env.evaluator.config import EvaluatorConfig
from progressgym_env.evaluator.questions import Question, render_scenario
from progressgym_env.value_spaces import MORAL19

Chooser = Callable[[list[Question]], Sequence[object]]
"""``chooser(questions) -> one probability array per question over its displayed options``."""


@dataclass
class EvaluationResult:
    """Everything one evaluation measured.

    :param values: the 19-dim value vector of the configured aggregation (NaN where no scenario of a
        dim was answered).
    :param dims: dim names, in vector order.
    :param counts: per dim, the number of scenarios that entered its mean.
    :param scenario_probs: scenario_id -> mean probability of each original option.
    :param n_questions: questions asked.
    :param n_refused: questions refused (all-NaN outputs: unparseable or refused generations).
    :param refused_questions: ``Question.key`` of each refused question.
    :param refused_scenarios: scenarios whose every question was refused (left out of the means).
    :param aggregation: which reading ``values`` is (``default`` or ``progressgym``).
    :param vectors: both readings, aggregation name -> (19,) vector.
    :param stderrs: aggregation name -> (19,) standard error of each dim from the scenario sample
        (:func:`~progressgym_env.evaluator.aggregate.standard_errors`).
    :param position: question format -> its :class:`~progressgym_env.evaluator.aggregate.PositionDiagnostic`.
    """

    values: np.ndarray
    dims: tuple[str, ...]
    counts: np.ndarray
    scenario_probs: dict[str, np.ndarray]
    n_questions: int
    n_refused: int
    refused_questions: list[str]
    refused_scenarios: list[str]
    aggregation: str = "default"
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    stderrs: dict[str, np.ndarray] = field(default_factory=dict)
    position: dict[str, PositionDiagnostic] = field(default_factory=dict)

    @property
    def stderr(self) -> np.ndarray:
        """Standard error of each dim of ``values``."""
        return self.stderrs[self.aggregation]

    def position_flags(self) -> dict[str, list[str]]:
        """Format -> the diagnostic flags raised (``position-driven``, ``collapsed``), formats without flags left out."""
        flags = {}
        for fmt, diagnostic in self.position.items():
            raised = [
                name
                for name, on in (
                    ("position-driven", diagnostic.position_driven),
                    ("collapsed", diagnostic.collapsed),
                )
                if on
            ]
            if raised:
                flags[fmt] = raised
        return flags

    def summary(self) -> dict[str, object]:
        """JSON-ready summary for records and ``info``: both vectors, their standard errors, position diagnostics."""
        return {
            "aggregation": self.aggregation,
            "vectors": {k: v.tolist() for k, v in self.vectors.items()},
            "stderr": {k: v.tolist() for k, v in self.stderrs.items()},
            "counts": self.counts.tolist(),
            "position": {fmt: d.to_dict() for fmt, d in self.position.items()},
            "n_questions": self.n_questions,
            "n_refused": self.n_refused,
        }

    @property
    def refusal_rate(self) -> float:
        """Share of questions refused."""
        return self.n_refused / self.n_questions if self.n_questions else 0.0

    def to_dict(self) -> dict[str, float]:
        """dim name -> value."""
        return {name: float(v) for name, v in zip(self.dims, self.values, strict=True)}


class ValueEvaluator:
    """Measure the moral19 value vector of a chooser.

    Takes one :class:`EvaluatorConfig` (split, formats, subset cap and seed, batch size, eval
    fraction), the way TRL trainers take their ``*Config``.

    :param config: the settings (None = the defaults: the whole eval split, every format), or a dict of
        its fields.
    :param bank: a preloaded :class:`QuestionBank` of the configured split (tests, custom banks).
    """

    def __init__(
        self,
        config: EvaluatorConfig | dict | None = None,
        *,
        bank: QuestionBank | None = None,
    ) -> None:
        self.config = EvaluatorConfig.from_any(config)
        cfg = self.config
        full = bank if bank is not None else load_question_bank(cfg.split, eval_fraction=cfg.eval_fraction)
        self.bank = (
            full if cfg.max_scenarios_per_dim is None else full.subset(cfg.max_scenarios_per_dim, cfg.seed)
        )
        self._questions = [q for s in self.bank for q in render_scenario(s, cfg.formats)]
        if not self._questions:
            raise EvaluationError(f"the {cfg.split!r} split rendered no questions (empty bank?)")

    @classmethod
    def from_config(cls, config: EvaluatorConfig) -> ValueEvaluator:
        """Build from a config (same as ``ValueEvaluator(config)``)."""
        return cls(config)

    def questions(self) -> list[Question]:
        """All questions, scenario by scenario (a fresh list; the questions are immutable)."""
        return list(self._questions)

    def fingerprint(self) -> str:
        """SHA-256 of the config and the rendered prompts: a cache key for measured vectors."""
        return questions_fingerprint(self._questions, header=self.config.to_dict())

    def _ask(self, chooser: Chooser) -> tuple[list[np.ndarray | None], list[np.ndarray | None] | None]:
        """Call the chooser in chunks and validate every output.

        :return: (normalised probabilities per question, and for joint normalisation the candidates'
            log-likelihoods per question, else None).
        """
        joint = self.config.normalization == "joint"
        score = getattr(chooser, "score", None) if joint else None
        weights: list[np.ndarray | None] = []
        logs: list[np.ndarray | None] = []
        size = int(self.config.batch_size)
        for start in range(0, len(self._questions), size):
            chunk = self._questions[start : start + size]
            if callable(score):
                scores = score(list(chunk))
                self._check_count(scores, chunk)
                for q, lw in zip(chunk, scores, strict=True):
                    lw = np.asarray(lw, dtype=np.float64)
                    if lw.shape != (q.n_options,) or np.isnan(lw).any() or np.isposinf(lw).any():
                        raise ChooserOutputError(
                            f"chooser.score for {q.key} must give {q.n_options} log-likelihoods, found {lw.tolist()}"
                        )
                    logs.append(lw)
                    weights.append(np.exp(lw - lw.max()))
                continue
            answers = chooser(list(chunk))
            self._check_count(answers, chunk)
            for q, a in zip(chunk, answers, strict=True):
                w = check_weights(q, a)
                weights.append(w)
                if joint:
                    with np.errstate(divide="ignore"):
                        logs.append(None if w is None else np.log(w))
        probs = [None if w is None else w / w.sum() for w in weights]
        return probs, (logs if joint else None)

    @staticmethod
    def _check_count(answers: Any, chunk: Sequence[Question]) -> None:
        """A chooser must return a sequence with one output per question."""
        try:
            n_answers = len(answers)
        except TypeError as exc:
            raise ChooserOutputError(
                f"a chooser must return a sequence of probability arrays, got {type(answers).__name__}"
            ) from exc
        if n_answers != len(chunk):
            raise ChooserOutputError(
                f"chooser returned {n_answers} outputs for {len(chunk)} questions "
                f"(first question: {chunk[0].key}); it must return one per question"
            )

    def evaluate_detailed(self, chooser: Chooser) -> EvaluationResult:
        """Ask every question and return the vector with per-scenario probabilities and refusals."""
        outputs, logs = self._ask(chooser)
        distributions, refused = scenario_distributions(self._questions, outputs)
        if logs is not None:
            distributions = joint_distributions(self._questions, logs)
        scenarios = self.bank.scenarios
        default, default_counts = value_vector(scenarios, distributions)
        original, original_counts = progressgym_vector(scenarios, distributions)
        vectors = {"default": default, "progressgym": original}
        aggregation = self.config.aggregation
        refused_questions = [q.key for q, p in zip(self._questions, outputs, strict=True) if p is None]
        return EvaluationResult(
            values=vectors[aggregation],
            dims=MORAL19.dims,
            counts=default_counts if aggregation == "default" else original_counts,
            scenario_probs=distributions,
            n_questions=len(self._questions),
            n_refused=len(refused_questions),
            refused_questions=refused_questions,
            refused_scenarios=[sid for sid in refused if sid not in distributions],
            aggregation=aggregation,
            vectors=vectors,
            stderrs={name: standard_errors(scenarios, distributions, name) for name in AGGREGATIONS},
            position=position_diagnostics(self._questions, outputs),
        )

    def evaluate(self, chooser: Chooser) -> np.ndarray:
        """The 19-dim value vector (float64) of ``chooser``.

        :raises EvaluationError: when some dim has no answered scenario (every answer refused);
            :meth:`evaluate_detailed` returns NaN there instead, with the refusal counts.
        """
        result = self.evaluate_detailed(chooser)
        empty = [name for name, n in zip(result.dims, result.counts, strict=True) if n == 0]
        if empty:
            raise EvaluationError(
                f"no answered scenario for dim(s) {empty}: {result.n_refused} of {result.n_questions} "
                "questions were refused; use evaluate_detailed() to inspect them"
            )
        return result.values
