"""Choosers: callables that turn a batch of questions into choice probabilities.

- :class:`LogLikelihoodChooser` — any HF causal LM, summed candidate log-probs (default engine).
- :class:`VLLMChooser` — the same scores from vLLM prompt log-probs (GPU, ``vllm`` extra).
- :class:`GenerationChooser` — sample an answer and parse it (refusals reported, never scored).
- :func:`load_chooser` — one of the above from a model folder or hub id, with clear load errors.
- :func:`first_option_chooser` — a model-free reference chooser (always the first displayed option).

Importing this package imports neither torch nor vllm: each chooser imports torch when built,
and :class:`VLLMChooser` imports vllm only after finding CUDA.
"""

from __future__ import annotations

import numpy as np

from progressgym_env.evaluator.choosers.encoding import PromptEncoder, ScoredSequence
from progressgym_env.evaluator.choosers.generation import GenerationChooser, parse_answer
from progressgym_env.evaluator.choosers.loading import (
    CHOOSER_KINDS,
    load_chooser,
    load_model_and_tokenizer,
    resolve_model_source,
)
from progressgym_env.evaluator.choosers.loglik import LogLikelihoodChooser, ScoringStats
from progressgym_env.evaluator.choosers.vllm_chooser import VLLMChooser
from progressgym_env.evaluator.questions import Question


def first_option_chooser(questions: list[Question]) -> list[np.ndarray]:
    """Always pick the first displayed option: pure position bias, which must measure as neutral."""
    return [np.eye(q.n_options)[0] for q in questions]


__all__ = [
    "CHOOSER_KINDS",
    "GenerationChooser",
    "LogLikelihoodChooser",
    "PromptEncoder",
    "ScoredSequence",
    "ScoringStats",
    "VLLMChooser",
    "first_option_chooser",
    "load_chooser",
    "load_model_and_tokenizer",
    "parse_answer",
    "resolve_model_source",
]
