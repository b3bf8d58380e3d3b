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
from progressgym_env.llm.training import UpdateStats, train_lora_update

__all__ = ["UpdateStats", "dpo_update"]


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
    :param config: budget (epochs, steps, batch size, lr, beta, max length) and LoRA settings.
    :param device: ``cpu`` or ``cuda[:N]``.
    :param seed: seed of the adapter init and data order (drawn from the env generator).
    :param adapter_dir: where to save the trained adapter (None: not saved).
    :return: (the updated model, statistics). Empty ``rows``: the model unchanged, zero steps.
    """
    if not rows:
        return model, UpdateStats(0, 0, 0.0, 0.0)
    from trl import DPOConfig, DPOTrainer

    method_args = {
        "per_device_train_batch_size": config.dpo_batch_size,
        "num_train_epochs": config.dpo_epochs,
        "max_steps": config.dpo_max_steps,
        "learning_rate": config.dpo_learning_rate,
        "beta": config.dpo_beta,
    }
    return train_lora_update(
        DPOTrainer,
        DPOConfig,
        model,
        tokenizer,
        rows,
        config,
        device=device,
        seed=seed,
        adapter_dir=adapter_dir,
        method_args=method_args,
    )
