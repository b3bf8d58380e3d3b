"""What the DPO and SFT updates share: LoRA settings, trainer configs, quiet runs, merging.

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
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

from progressgym_env.errors import ConfigError, MissingExtraError
from progressgym_env.llm.config import LLMConfig


def require(module: str, feature: str = "DPO/SFT updates of the llm backend") -> Any:
    """Import ``module``, or raise a :class:`MissingExtraError` naming the ``llm`` extra that installs it.

    :param module: the module name (``trl``, ``peft``, ``datasets``).
    :param feature: what needs it, for the message.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise MissingExtraError(feature, "llm", (exc.name or module).split(".")[0]) from exc


def import_trl() -> Any:
    """The ``trl`` module, or a :class:`MissingExtraError` naming the ``llm`` extra."""
    return require("trl")


def lora_config(config: LLMConfig) -> Any:
    """The PEFT ``LoraConfig`` of a config's ``lora_*`` fields."""
    targets = config.lora_target_modules
    return require("peft").LoraConfig(
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
    }


def check_trainer_args(args_cls: Any, args: Mapping[str, Any], label: str) -> None:
    """Raise a :class:`ConfigError` naming every key of ``args`` that ``args_cls`` has no field for.

    :param args_cls: a TRL config dataclass (``DPOConfig``, ``SFTConfig``).
    :param args: the user's keys (``LLMConfig.dpo_args``).
    :param label: how the error names ``args``.
    """
    known = {f.name for f in fields(args_cls)} if is_dataclass(args_cls) else set()
    unknown = sorted(set(args) - known)
    if unknown:
        import difflib

        hints = [
            f"{key!r} (did you mean {close[0]!r}?)"
            if (close := difflib.get_close_matches(key, known, 1))
            else repr(key)
            for key in unknown
        ]
        raise ConfigError(
            f"{label}: {args_cls.__name__} has no field {', '.join(hints)}; see the TRL documentation "
            f"of {args_cls.__name__} for the valid fields"
        )


def check_llm_trainer_args(config: LLMConfig) -> None:
    """Check ``config.dpo_args`` against ``DPOConfig`` and ``sft_args`` against ``SFTConfig`` (imports TRL).

    The backend calls this when it starts, so a misspelt key fails before any model is trained.
    """
    trl = import_trl()
    check_trainer_args(trl.DPOConfig, config.dpo_args, "dpo_args")
    check_trainer_args(trl.SFTConfig, config.sft_args, "sft_args")


def trainer_config(
    args_cls: Any,
    config: LLMConfig,
    method_args: Mapping[str, Any],
    *,
    device: str,
    seed: int,
    output_dir: str,
    label: str,
) -> Any:
    """Build the TRL config object of one update: the backend's arguments, then ``method_args`` over them.

    :param args_cls: ``DPOConfig`` or ``SFTConfig``.
    :param config: the backend config (device precision, gradient checkpointing).
    :param method_args: the method's fields (``config.dpo_args``, ...), checked against ``args_cls``.
    :param device: ``cpu`` or ``cuda[:N]``.
    :param seed: seed of the adapter init and data order.
    :param output_dir: the trainer's scratch folder.
    :param label: how errors name ``method_args``.
    """
    check_trainer_args(args_cls, method_args, label)
    return args_cls(**{**trainer_kwargs(config, device, seed, output_dir), **method_args})


def _checkpointing_field() -> str:
    """``activation_checkpointing`` (transformers >= 5.x name) or the older ``gradient_checkpointing``."""
    from transformers import TrainingArguments

    fields = TrainingArguments.__dataclass_fields__
    return "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"


@contextlib.contextmanager
def quiet_training() -> Iterator[str]:
    """Silence datasets/transformers progress bars and info logs; yield a scratch output folder."""
    datasets = require("datasets")
    transformers = require("transformers")

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
        from progressgym_env.common.atomic import atomic_folder

        # staged and moved into place whole (replacing the leftovers of an interrupted run)
        with atomic_folder(adapter_dir) as staged:
            peft_model.save_pretrained(str(staged.path))
    merged = peft_model.merge_and_unload()
    merged.eval()
    return merged


def silence_printer(trainer: Any) -> None:
    """Drop the callback that prints the final metrics dict (an env step should print nothing)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)


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


def train_lora_update(
    trainer_cls: Any,
    args_cls: Any,
    model: Any,
    tokenizer: Any,
    rows: Sequence[dict[str, str]],
    config: LLMConfig,
    *,
    device: str,
    seed: int,
    adapter_dir: str | Path | None,
    method_args: Mapping[str, Any],
    label: str,
) -> tuple[Any, UpdateStats]:
    """Train a fresh LoRA adapter with a TRL trainer on ``rows``, save it, merge it; the shared DPO/SFT core.

    :param trainer_cls: ``DPOTrainer`` or ``SFTTrainer``.
    :param args_cls: its config class (``DPOConfig`` or ``SFTConfig``).
    :param method_args: the method's own config fields (batch size, epochs, lr, beta, ...).
    :param label: how errors name ``method_args`` (``dpo_args``).
    """
    dataset_cls = require("datasets").Dataset
    start = time.perf_counter()
    with quiet_training() as scratch:
        args = trainer_config(
            args_cls,
            config,
            method_args,
            device=device,
            seed=seed,
            output_dir=scratch,
            label=label,
        )
        trainer = trainer_cls(
            model=model,
            args=args,
            train_dataset=dataset_cls.from_list(list(rows)),
            processing_class=tokenizer,
            peft_config=lora_config(config),
        )
        silence_printer(trainer)
        output = trainer.train()
        merged = save_and_merge(trainer.model, adapter_dir)
    stats = UpdateStats(
        len(rows),
        int(output.global_step),
        time.perf_counter() - start,
        float(output.training_loss),
    )
    return merged, stats
