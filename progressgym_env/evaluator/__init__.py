"""The moral19 value evaluator (DESIGN §5): question bank, rendered questions, aggregation, choosers.

Importing this package needs only numpy; the model-backed choosers (torch, transformers, vLLM) are
imported lazily on first use of their names.
"""

from __future__ import annotations

from typing import Any

from progressgym_env.evaluator.bank import (
    BANKS,
    SPLITS,
    BankDefectWarning,
    QuestionBank,
    Scenario,
    SkippedRow,
    load_question_bank,
)
from progressgym_env.evaluator.config import EvaluatorConfig
from progressgym_env.evaluator.evaluator import Chooser, EvaluationResult, ValueEvaluator
from progressgym_env.evaluator.questions import (
    FORMATS,
    Question,
    display_orders,
    render_question,
    render_scenario,
)

_CHOOSERS = (
    "LogLikelihoodChooser",
    "VLLMChooser",
    "GenerationChooser",
    "load_chooser",
    "load_model_and_tokenizer",
    "first_option_chooser",
)


def __getattr__(name: str) -> Any:
    """Import the choosers module (and torch) only when one of its names is asked for."""
    if name in _CHOOSERS:
        from progressgym_env.evaluator import choosers

        return getattr(choosers, name)
    raise AttributeError(f"module 'progressgym_env.evaluator' has no attribute {name!r}")


__all__ = [
    "BANKS",
    "FORMATS",
    "SPLITS",
    "BankDefectWarning",
    "Chooser",
    "EvaluationResult",
    "EvaluatorConfig",
    "Question",
    "QuestionBank",
    "Scenario",
    "SkippedRow",
    "ValueEvaluator",
    "display_orders",
    "load_question_bank",
    "render_question",
    "render_scenario",
    *_CHOOSERS,
]
