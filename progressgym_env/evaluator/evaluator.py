"""``ValueEvaluator``: measure any chooser (a model, or a plain callable) on the moral19 bank.

A *chooser* is any callable ``chooser(questions: list[Question]) -> sequence of arrays``, one array
of non-negative weights per question over its displayed options (all NaN = a refusal). Models are
wrapped as choosers in :mod:`progressgym_env.evaluator.choosers`; tests use plain functions, so the
aggregation is checked without any model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from progressgym_env.common.fingerprint import questions_fingerprint
from progressgym_env.errors import ChooserOutputError, EvaluationError
from progressgym_env.evaluator.aggregate import (
    check_probabilities,
    scenario_distributions,
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

    :param values: the 19-dim value vector (NaN where no scenario of a dim was answered).
    :param dims: dim names, in vector order.
    :param counts: per dim, the number of scenarios that entered its mean.
    :param scenario_probs: scenario_id -> mean probability of each original option.
    :param n_questions: questions asked.
    :param n_refused: questions refused (all-NaN outputs: unparseable or refused generations).
    :param refused_questions: ``Question.key`` of each refused question.
    :param refused_scenarios: scenarios whose every question was refused (left out of the means).
    """

    values: np.ndarray
    dims: tuple[str, ...]
    counts: np.ndarray
    scenario_probs: dict[str, np.ndarray]
    n_questions: int
    n_refused: int
    refused_questions: list[str]
    refused_scenarios: list[str]

    @property
    def refusal_rate(self) -> float:
        """Share of questions refused."""
        return self.n_refused / self.n_questions if self.n_questions else 0.0

    def as_dict(self) -> dict[str, float]:
        """dim name -> value."""
        return {name: float(v) for name, v in zip(self.dims, self.values)}


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
        full = (
            bank
            if bank is not None
            else load_question_bank(cfg.split, eval_fraction=cfg.eval_fraction)
        )
        self.bank = (
            full
            if cfg.max_scenarios_per_dim is None
            else full.subset(cfg.max_scenarios_per_dim, cfg.seed)
        )
        self._questions = [
            q for s in self.bank for q in render_scenario(s, cfg.formats)
        ]
        if not self._questions:
            raise EvaluationError(
                f"the {cfg.split!r} split rendered no questions (empty bank?)"
            )

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

    def _ask(self, chooser: Chooser) -> list[np.ndarray | None]:
        """Call the chooser in chunks and validate every output."""
        outputs: list[np.ndarray | None] = []
        size = int(self.config.batch_size)
        for start in range(0, len(self._questions), size):
            chunk = self._questions[start : start + size]
            answers = chooser(list(chunk))
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
            outputs.extend(check_probabilities(q, a) for q, a in zip(chunk, answers))
        return outputs

    def evaluate_detailed(self, chooser: Chooser) -> EvaluationResult:
        """Ask every question and return the vector with per-scenario probabilities and refusals."""
        outputs = self._ask(chooser)
        distributions, refused = scenario_distributions(self._questions, outputs)
        values, counts = value_vector(self.bank.scenarios, distributions)
        refused_questions = [
            q.key for q, p in zip(self._questions, outputs) if p is None
        ]
        return EvaluationResult(
            values=values,
            dims=MORAL19.dims,
            counts=counts,
            scenario_probs=distributions,
            n_questions=len(self._questions),
            n_refused=len(refused_questions),
            refused_questions=refused_questions,
            refused_scenarios=[sid for sid in refused if sid not in distributions],
        )

    def evaluate(self, chooser: Chooser) -> np.ndarray:
        """The 19-dim value vector (float64) of ``chooser``.

        :raises EvaluationError: when some dim has no answered scenario (every answer refused);
            :meth:`evaluate_detailed` returns NaN there instead, with the refusal counts.
        """
        result = self.evaluate_detailed(chooser)
        empty = [name for name, n in zip(result.dims, result.counts) if n == 0]
        if empty:
            raise EvaluationError(
                f"no answered scenario for dim(s) {empty}: {result.n_refused} of {result.n_questions} "
                "questions were refused; use evaluate_detailed() to inspect them"
            )
        return result.values
