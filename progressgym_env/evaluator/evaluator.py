"""``ValueEvaluator``: measure any chooser (a model, or a plain callable) on the moral19 bank.

A *chooser* is any callable ``chooser(questions: list[Question]) -> sequence of arrays``, one array
of non-negative weights per question over its displayed options (all NaN = a refusal). Models are
wrapped as choosers in :mod:`progressgym_env.evaluator.choosers`; tests use plain functions, so the
aggregation is checked without any model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from progressgym_env.errors import ChooserOutputError, ConfigError, EvaluationError
from progressgym_env.evaluator.aggregate import check_probabilities, scenario_distributions, value_vector
from progressgym_env.evaluator.bank import DEFAULT_EVAL_FRACTION, SPLITS, QuestionBank, load_question_bank
from progressgym_env.evaluator.questions import FORMATS, FORMATS_BY_N_OPTIONS, Question, render_scenario
from progressgym_env.value_spaces import MORAL19

Chooser = Callable[[list[Question]], Sequence[object]]
"""``chooser(questions) -> one probability array per question over its displayed options``."""


@dataclass(frozen=True)
class EvaluatorConfig:
    """Settings of a :class:`ValueEvaluator` (saved with results so a measurement can be redone)."""

    split: str = field(default="eval", metadata={"help": "Bank split to measure on: eval, train or all."})
    formats: tuple[str, ...] = field(
        default=FORMATS, metadata={"help": "Question formats: any of label, yesno, repeat."}
    )
    max_scenarios_per_dim: int | None = field(
        default=None, metadata={"help": "Cap per dim for a quick stratified subset; None = whole split."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the subset draw (max_scenarios_per_dim)."})
    batch_size: int = field(default=512, metadata={"help": "Questions per chooser call."})
    eval_fraction: float = field(
        default=DEFAULT_EVAL_FRACTION, metadata={"help": "Share of each bank stratum held out for eval."}
    )

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ConfigError(f"split must be one of {SPLITS}, got {self.split!r}")
        formats = (self.formats,) if isinstance(self.formats, str) else tuple(self.formats)
        object.__setattr__(self, "formats", formats)
        unknown = [f for f in formats if f not in FORMATS]
        if unknown or not formats:
            raise ConfigError(f"formats must be a non-empty subset of {FORMATS}, got {formats!r}")
        for n_options, allowed in FORMATS_BY_N_OPTIONS.items():
            if not set(formats) & set(allowed):
                raise ConfigError(
                    f"formats {formats} render no question for {n_options}-option scenarios (worldviews "
                    f"have 4); include one of {allowed}"
                )
        if self.max_scenarios_per_dim is not None and int(self.max_scenarios_per_dim) < 1:
            raise ConfigError(
                "max_scenarios_per_dim must be a positive integer or None, "
                f"got {self.max_scenarios_per_dim!r}"
            )
        if int(self.batch_size) < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {self.batch_size!r}")

    def to_dict(self) -> dict:
        """JSON-ready dict of the settings."""
        d = asdict(self)
        d["formats"] = list(self.formats)
        return d


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

    :param split: bank split, "eval" (default: held out from training data), "train" or "all".
    :param formats: question formats to render (default all: label, yesno, repeat).
    :param max_scenarios_per_dim: cap for a quick, dim-stratified subset (None: whole split).
    :param seed: seed of that subset.
    :param batch_size: questions per chooser call.
    :param eval_fraction: share of each bank stratum held out for eval.
    :param config: an :class:`EvaluatorConfig`; when given, the other settings are ignored.
    :param bank: a preloaded :class:`QuestionBank` of the configured split (tests, custom banks).
    """

    def __init__(
        self,
        split: str = "eval",
        formats: Sequence[str] = FORMATS,
        max_scenarios_per_dim: int | None = None,
        seed: int = 0,
        batch_size: int = 512,
        *,
        eval_fraction: float = DEFAULT_EVAL_FRACTION,
        config: EvaluatorConfig | None = None,
        bank: QuestionBank | None = None,
    ) -> None:
        self.config = config or EvaluatorConfig(
            split=split,
            formats=tuple(formats),
            max_scenarios_per_dim=max_scenarios_per_dim,
            seed=seed,
            batch_size=batch_size,
            eval_fraction=eval_fraction,
        )
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
        """Build from a config (the style every other component uses)."""
        return cls(config=config)

    def questions(self) -> list[Question]:
        """All questions, scenario by scenario (a fresh list; the questions are immutable)."""
        return list(self._questions)

    def fingerprint(self) -> str:
        """SHA-256 of the config and the rendered prompts: a cache key for measured vectors."""
        h = hashlib.sha256(json.dumps(self.config.to_dict(), sort_keys=True).encode())
        for q in self._questions:
            h.update(q.prompt.encode())
            h.update("\x00".join(q.candidates).encode())
        return h.hexdigest()

    def _ask(self, chooser: Chooser) -> list[np.ndarray | None]:
        """Call the chooser in chunks and validate every output."""
        outputs: list[np.ndarray | None] = []
        size = int(self.config.batch_size)
        for start in range(0, len(self._questions), size):
            chunk = self._questions[start : start + size]
            answers = chooser(list(chunk))
            try:
                n_answers = len(answers)  # type: ignore[arg-type]
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
        refused_questions = [q.key for q, p in zip(self._questions, outputs) if p is None]
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
