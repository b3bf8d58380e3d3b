"""What the DPO and SFT updates share: LoRA settings, trainer arguments, quiet runs, merging.

Every update trains a *fresh* LoRA adapter on the model as it stands and merges it in afterwards, so
(a) TRL's reference model for DPO (the PEFT model with its adapter disabled) is exactly the
pre-update model, as a policy update should be, and (b) a checkpoint is just the list of per-century
adapters (small files) that :func:`progressgym_env.llm.model_loading.apply_adapters` replays.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from progressgym_env.llm.config import LLMConfig


def lora_config(config: LLMConfig) -> Any:
    """The PEFT ``LoraConfig`` of a config's ``lora_*`` fields."""
    from peft import LoraConfig

    targets = config.lora_target_modules
    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets if isinstance(targets, str) else list(targets),
        task_type="CAUSAL_LM",
    )


def trainer_kwargs(config: LLMConfig, device: str, seed: int, output_dir: str) -> dict[str, Any]:
    """Arguments common to ``DPOConfig`` and ``SFTConfig`` for an in-episode update.

    No checkpoints, logging or reporting of the trainer itself (the backend checkpoints whole
    centuries), the run's device and precision, and the seed the backend drew from the env generator.
    """
    import torch

    on_cpu = not device.startswith("cuda")
    bf16 = (not on_cpu) and config.dtype in ("auto", "bfloat16") and torch.cuda.is_bf16_supported()
    return {
        "output_dir": output_dir,
        "use_cpu": on_cpu,
        "bf16": bf16,
        "fp16": False,
        _checkpointing_field(): config.gradient_checkpointing,
        "report_to": "none",
        "save_strategy": "no",
        "logging_strategy": "no",
        "disable_tqdm": True,
        "seed": int(seed),
        "data_seed": int(seed),
        "dataloader_num_workers": 0,
        "max_length": config.max_length,
    }


def _checkpointing_field() -> str:
    """``activation_checkpointing`` (transformers >= 5.x name) or the older ``gradient_checkpointing``."""
    from transformers import TrainingArguments

    fields = TrainingArguments.__dataclass_fields__
    return "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"


@contextlib.contextmanager
def quiet_training() -> Iterator[str]:
    """Silence datasets/transformers progress bars and info logs; yield a scratch output folder."""
    import datasets
    import transformers

    bars_were_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    trl_logger = logging.getLogger("trl")
    trl_level = trl_logger.level
    trl_logger.setLevel(logging.ERROR)
    scratch = tempfile.mkdtemp(prefix="progressgym-train-")
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        trl_logger.setLevel(trl_level)
        transformers.logging.set_verbosity(verbosity)
        if bars_were_on:
            datasets.enable_progress_bars()


def save_and_merge(peft_model: Any, adapter_dir: str | Path | None) -> Any:
    """Save the trained adapter (when a folder is given) and return the model with it merged in."""
    if adapter_dir is not None:
        adapter_dir = Path(adapter_dir)
        if adapter_dir.exists():
            shutil.rmtree(adapter_dir)  # a half-written folder of an interrupted run
        adapter_dir.parent.mkdir(parents=True, exist_ok=True)
        peft_model.save_pretrained(str(adapter_dir))
    merged = peft_model.merge_and_unload()
    merged.eval()
    return merged


def silence_printer(trainer: Any) -> None:
    """Drop the callback that prints the final metrics dict (an env step should print nothing)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
