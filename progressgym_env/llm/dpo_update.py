"""One century's policy update: DPO with a fresh LoRA adapter on the agent's model (TRL ``DPOTrainer``).

The reference model is the model before the update (TRL scores it by disabling the fresh adapter, see
:mod:`progressgym_env.llm.training`); the adapter is merged in afterwards and optionally saved for the
century's checkpoint.

Every built pair is trained on, or the shortfall is recorded: with ``dpo_args["max_steps"]`` set, the
trainer stops after ``max_steps x batch x accumulation`` examples whatever the data holds, so the
returned :class:`DPOStats` says how many pairs were built, how many the optimiser saw at least once and
how many it never saw (and a :class:`TrainingCutWarning` is raised when that is not zero).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from progressgym_env.llm.config import LLMConfig
from progressgym_env.llm.training import (
    UpdateStats,
    import_trl,
    train_lora_update,
    trainer_config,
)

__all__ = ["DPOStats", "TrainingCutWarning", "UpdateStats", "dpo_config", "dpo_update", "examples_seen"]


class TrainingCutWarning(UserWarning):
    """An update's step limit left some of the built pairs untrained (the count is in the message)."""


@dataclass
class DPOStats(UpdateStats):
    """:class:`UpdateStats` of a DPO update plus what became of the built pairs.

    :param built: pairs handed to the update.
    :param trained: distinct pairs the optimiser saw at least once.
    :param cut: pairs it never saw (``built - trained``), because ``max_steps`` stopped it first.
    """

    built: int = 0
    trained: int = 0
    cut: int = 0


def _method_args(args_cls: Any, dpo_args: dict[str, Any], in_order: bool) -> dict[str, Any]:
    """``dpo_args``, with sequential sampling added for ``in_order`` when the trainer supports it."""
    from dataclasses import fields

    supported = "train_sampling_strategy" in {f.name for f in fields(args_cls)}
    if in_order and supported and "train_sampling_strategy" not in dpo_args:
        return {**dpo_args, "train_sampling_strategy": "sequential"}
    return dict(dpo_args)


def examples_seen(n_rows: int, args: dict[str, Any], steps: int) -> int:
    """Distinct examples a trainer saw in ``steps`` optimiser steps over ``n_rows`` rows (one process).

    :param n_rows: training rows.
    :param args: the trainer fields (``per_device_train_batch_size``, ``gradient_accumulation_steps``).
    :param steps: optimiser steps taken.
    """
    per_step = int(args.get("per_device_train_batch_size", 8)) * int(args.get("gradient_accumulation_steps", 1))
    return min(n_rows, steps * per_step)


def dpo_config(config: LLMConfig, *, device: str, seed: int, output_dir: str) -> Any:
    """The TRL ``DPOConfig`` of one policy update: the backend's arguments with ``config.dpo_args`` over them.

    :param config: the backend config; every ``dpo_args`` key must be a ``DPOConfig`` field.
    :param device: ``cpu`` or ``cuda[:N]``.
    :param seed: seed of the adapter init and data order.
    :param output_dir: the trainer's scratch folder.
    :raises ConfigError: a ``dpo_args`` key that ``DPOConfig`` does not have.
    """
    trl = import_trl()
    return trainer_config(
        trl.DPOConfig,
        config,
        config.dpo_args,
        device=device,
        seed=seed,
        output_dir=output_dir,
        label="dpo_args",
    )


def dpo_update(
    model: Any,
    tokenizer: Any,
    rows: Sequence[dict[str, str]],
    config: LLMConfig,
    *,
    device: str,
    seed: int,
    adapter_dir: str | Path | None = None,
    in_order: bool = False,
) -> tuple[Any, DPOStats]:
    """Train ``model`` on preference ``rows`` with DPO + LoRA and return the merged model.

    :param model: the agent's causal LM (plain, no adapter attached).
    :param tokenizer: its tokenizer (TRL's ``processing_class``).
    :param rows: ``{"prompt", "chosen", "rejected"}`` strings (see :func:`~progressgym_env.llm.preference_data.dpo_rows`).
    :param config: ``dpo_args`` (TRL ``DPOConfig`` fields: epochs, steps, batch size, lr, beta, ...) and LoRA.
    :param device: ``cpu`` or ``cuda[:N]``.
    :param seed: seed of the adapter init and data order (drawn from the env generator).
    :param adapter_dir: where to save the trained adapter (None: not saved).
    :param in_order: train on ``rows`` in their order (``train_sampling_strategy="sequential"``, unless
        ``dpo_args`` sets a strategy) instead of shuffled: for data laid out in slot-balanced blocks
        (:func:`~progressgym_env.llm.preference_data.training_order`), so each batch stays balanced.
    :return: (the updated model, statistics with the built / trained / cut pair counts). Empty
        ``rows``: the model unchanged, zero steps.
    """
    if not rows:
        return model, DPOStats(0, 0, 0.0, 0.0)
    trl = import_trl()
    model, stats = train_lora_update(
        trl.DPOTrainer,
        trl.DPOConfig,
        model,
        tokenizer,
        rows,
        config,
        device=device,
        seed=seed,
        adapter_dir=adapter_dir,
        method_args=_method_args(trl.DPOConfig, config.dpo_args, in_order),
        label="dpo_args",
    )
    trained = examples_seen(len(rows), config.dpo_args, stats.steps)
    if config.dpo_args.get("max_steps", -1) in (None, -1) or int(config.dpo_args["max_steps"]) <= 0:
        epochs = float(config.dpo_args.get("num_train_epochs", 1.0))
        trained = len(rows) if epochs >= 1 else min(len(rows), math.ceil(epochs * len(rows)))
    cut = len(rows) - trained
    if cut:
        warnings.warn(
            f"the DPO update trained on {trained} of {len(rows)} built pairs ({stats.steps} steps; dpo_args "
            f"max_steps={config.dpo_args.get('max_steps')}, num_train_epochs={config.dpo_args.get('num_train_epochs')}); "
            "raise max_steps (or set it to -1) to train on all of them",
            TrainingCutWarning,
            stacklevel=2,
        )
    return model, DPOStats(stats.examples, stats.steps, stats.seconds, stats.loss, len(rows), trained, cut)
