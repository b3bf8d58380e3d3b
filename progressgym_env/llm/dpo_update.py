"""One century's policy update: DPO with a fresh LoRA adapter on the agent's model (TRL ``DPOTrainer``).

The reference model is the model before the update (TRL scores it by disabling the fresh adapter, see
:mod:`progressgym_env.llm.training`); the adapter is merged in afterwards and optionally saved for the
century's checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from progressgym_env.llm.config import LLMConfig
from progressgym_env.llm.training import (
    UpdateStats,
    import_trl,
    train_lora_update,
    trainer_config,
)

__all__ = ["UpdateStats", "dpo_config", "dpo_update"]


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
) -> tuple[Any, UpdateStats]:
    """Train ``model`` on preference ``rows`` with DPO + LoRA and return the merged model.

    :param model: the agent's causal LM (plain, no adapter attached).
    :param tokenizer: its tokenizer (TRL's ``processing_class``).
    :param rows: ``{"prompt", "chosen", "rejected"}`` strings (see :func:`~progressgym_env.llm.preference_data.dpo_rows`).
    :param config: ``dpo_args`` (TRL ``DPOConfig`` fields: epochs, steps, batch size, lr, beta, ...) and LoRA.
    :param device: ``cpu`` or ``cuda[:N]``.
    :param seed: seed of the adapter init and data order (drawn from the env generator).
    :param adapter_dir: where to save the trained adapter (None: not saved).
    :return: (the updated model, statistics). Empty ``rows``: the model unchanged, zero steps.
    """
    if not rows:
        return model, UpdateStats(0, 0, 0.0, 0.0)
    trl = import_trl()
    return train_lora_update(
        trl.DPOTrainer,
        trl.DPOConfig,
        model,
        tokenizer,
        rows,
        config,
        device=device,
        seed=seed,
        adapter_dir=adapter_dir,
        method_args=config.dpo_args,
        label="dpo_args",
    )
