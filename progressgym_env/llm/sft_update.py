"""PG-Coevolve's pulls on the simulated human: SFT on another model's answers (TRL ``SFTTrainer``).

ProgressGym moves the simulated human toward the century's proxy with 1 epoch of SFT on that proxy's
answers, then toward the agent's model with 2 epochs on the agent's answers. Answers are *sampled*
from the answering model's choice probabilities on train-split questions (with the env generator),
so the simulated human learns the answerer's distribution, not only its argmax.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from progressgym_env.evaluator.questions import Question
from progressgym_env.llm.config import LLMConfig
from progressgym_env.llm.preference_data import completion_text, prompt_text
from progressgym_env.llm.training import (
    UpdateStats,
    import_trl,
    train_lora_update,
    trainer_config,
)


def sft_config(config: LLMConfig, *, epochs: float, device: str, seed: int, output_dir: str) -> Any:
    """The TRL ``SFTConfig`` of one pull: the backend's arguments, ``config.sft_args`` and ``epochs``.

    :param config: the backend config; every ``sft_args`` key must be an ``SFTConfig`` field.
    :param epochs: the pull's epochs (``sft_history_epochs`` or ``sft_ai_epochs``).
    :param device: ``cpu`` or ``cuda[:N]``.
    :param seed: seed of the adapter init and data order.
    :param output_dir: the trainer's scratch folder.
    :raises ConfigError: an ``sft_args`` key that ``SFTConfig`` does not have.
    """
    trl = import_trl()
    return trainer_config(
        trl.SFTConfig,
        config,
        _method_args(config, epochs),
        device=device,
        seed=seed,
        output_dir=output_dir,
        label="sft_args",
    )


def _method_args(config: LLMConfig, epochs: float) -> dict[str, Any]:
    """``sft_args`` with the pull's epochs."""
    return {**config.sft_args, "num_train_epochs": float(epochs)}


def sample_choices(rng: np.random.Generator, probs: Sequence[np.ndarray]) -> np.ndarray:
    """One displayed-option index per probability array, drawn with ``rng`` (inverse CDF, one uniform each)."""
    uniforms = rng.random(len(probs))
    out = np.empty(len(probs), dtype=np.int64)
    for i, (p, u) in enumerate(zip(probs, uniforms, strict=True)):
        cdf = np.cumsum(np.asarray(p, dtype=np.float64))
        out[i] = min(int(np.searchsorted(cdf, u * cdf[-1], side="right")), len(cdf) - 1)
    return out


def answer_rows(questions: Sequence[Question], choices: Sequence[int], encoder: Any) -> list[dict[str, str]]:
    """TRL's prompt-completion format: the question and the candidate of the chosen displayed option."""
    return [
        {
            "prompt": prompt_text(encoder, q.prompt),
            "completion": completion_text(encoder, q.candidates[int(c)]),
        }
        for q, c in zip(questions, choices, strict=True)
    ]


def sft_update(
    model: Any,
    tokenizer: Any,
    rows: Sequence[dict[str, str]],
    config: LLMConfig,
    *,
    epochs: float,
    device: str,
    seed: int,
    adapter_dir: str | Path | None = None,
) -> tuple[Any, UpdateStats]:
    """Fine-tune ``model`` on prompt-completion ``rows`` (loss on the completion only) and merge.

    :param model: the simulated human's causal LM (no adapter attached).
    :param tokenizer: its tokenizer.
    :param rows: ``{"prompt", "completion"}`` strings (see :func:`answer_rows`).
    :param config: ``sft_args`` (TRL ``SFTConfig`` fields: batch size, lr, max length, ...) and LoRA.
    :param epochs: SFT epochs (0 = no pull).
    :param device: ``cpu`` or ``cuda[:N]``.
    :param seed: seed of the adapter init and data order.
    :param adapter_dir: where to save the trained adapter (None: not saved).
    :return: (the updated model, statistics).
    """
    if not rows or epochs <= 0:
        return model, UpdateStats(0, 0, 0.0, 0.0)
    trl = import_trl()
    return train_lora_update(
        trl.SFTTrainer,
        trl.SFTConfig,
        model,
        tokenizer,
        rows,
        config,
        device=device,
        seed=seed,
        adapter_dir=adapter_dir,
        method_args=_method_args(config, epochs),
        label="sft_args",
    )
