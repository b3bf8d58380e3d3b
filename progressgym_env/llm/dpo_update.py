"""One century's policy update: DPO with a fresh LoRA adapter on the agent's model (TRL ``DPOTrainer``).

The reference model is the model before the update (TRL scores it by disabling the fresh adapter, see
:mod:`progressgym_env.llm.training`); the adapter is merged in afterwards and optionally saved for the
century's checkpoint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from progressgym_env.llm.config import LLMConfig
from progressgym_env.llm.training import lora_config, quiet_training, save_and_merge, silence_printer, trainer_kwargs


@dataclass
class UpdateStats:
    """What one DPO or SFT update did.

    :param examples: training examples.
    :param steps: optimiser steps.
    :param seconds: wall time of the training (trainer build + train + merge).
    :param loss: mean training loss.
    """

    examples: int
    steps: int
    seconds: float
    loss: float


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
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    start = time.perf_counter()
    with quiet_training() as scratch:
        args = DPOConfig(
            **trainer_kwargs(config, device, seed, scratch),
            per_device_train_batch_size=config.dpo_batch_size,
            num_train_epochs=config.dpo_epochs,
            max_steps=config.dpo_max_steps,
            learning_rate=config.dpo_learning_rate,
            beta=config.dpo_beta,
        )
        trainer = DPOTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(list(rows)),
            processing_class=tokenizer,
            peft_config=lora_config(config),
        )
        silence_printer(trainer)
        output = trainer.train()
        merged = save_and_merge(trainer.model, adapter_dir)
    return merged, UpdateStats(len(rows), int(output.global_step), time.perf_counter() - start, float(output.training_loss))
