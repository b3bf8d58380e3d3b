"""The TRL training steps of the baseline examinees: DPO, a reward model, and GRPO driven by it.

Every step trains a fresh LoRA adapter (PEFT) on the model it is given and returns it saved in a folder,
or, with ``lora=False``, trains all parameters and returns the model. Trainer settings are the env's
``LLMConfig`` ones (device, precision, ``dpo_args``, LoRA rank) with the examinee's own fields over them.
TRL 1.16 has no PPO trainer; its online RL trainer that takes a reward model is ``GRPOTrainer``
(group-relative policy optimisation: several sampled completions per prompt, scored by the reward model).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from progressgym_env.llm.training import (
    import_trl,
    lora_config,
    quiet_training,
    silence_printer,
    trainer_config,
)

RL_DEFAULTS: dict[str, Any] = {
    "num_generations": 2,
    "per_device_train_batch_size": 2,
    "max_completion_length": 16,
    "max_steps": 4,
    "beta": 0.0,
}
"""GRPOConfig fields of the RL stage unless the examinee's ``rl_args`` set them; the learning rate is the
world's DPO one (``LLMConfig.dpo_args``) unless ``rl_args`` sets its own."""

REWARD_DEFAULTS: dict[str, Any] = {"per_device_train_batch_size": 8, "num_train_epochs": 1.0, "learning_rate": 1e-4}
"""RewardConfig fields of the reward model unless the examinee's ``reward_args`` set them."""


def _device(llm: Any) -> str:
    from progressgym_env.llm.model_loading import resolve_device

    return resolve_device(llm.device)


def _finish(trainer: Any, lora: bool, scratch_root: str) -> tuple[Any, str | None]:
    """Return (model, adapter folder) for LoRA, (model, None) for full-parameter training."""
    if not lora:
        model = trainer.model
        model.eval()
        return model, None
    folder = tempfile.mkdtemp(prefix="adapter-", dir=scratch_root)
    trainer.model.save_pretrained(folder)
    return trainer.model, folder


def train_dpo(
    model: Any, tokenizer: Any, rows: Sequence[Mapping[str, str]], llm: Any, args: Mapping[str, Any], *,
    lora: bool, seed: int, scratch_root: str,
) -> tuple[Any, str | None]:
    """DPO (TRL ``DPOTrainer``) on ``rows`` (``prompt``/``chosen``/``rejected``); the reference is the start model.

    :param llm: the env's ``LLMConfig`` (device, LoRA, ``dpo_args``).
    :param args: ``DPOConfig`` fields over ``llm.dpo_args``.
    :param scratch_root: folder the adapter is saved under.
    """
    from datasets import Dataset

    trl = import_trl()
    with quiet_training() as scratch:
        config = trainer_config(trl.DPOConfig, llm, {**llm.dpo_args, **args}, device=_device(llm), seed=seed,
                                output_dir=scratch, label="dpo_args")
        trainer = trl.DPOTrainer(
            model=model, args=config, train_dataset=Dataset.from_list(list(rows)), processing_class=tokenizer,
            peft_config=lora_config(llm) if lora else None,
        )
        silence_printer(trainer)
        trainer.train()
        return _finish(trainer, lora, scratch_root)


def train_reward_model(
    source: str, tokenizer: Any, rows: Sequence[Mapping[str, str]], llm: Any, args: Mapping[str, Any], *,
    lora: bool, seed: int,
) -> Any:
    """A scalar reward model (TRL ``RewardTrainer``) on preference ``rows``, from checkpoint ``source``.

    :param source: folder of the examinee's starting model (its weights start the reward model; the
        scalar head is new).
    :return: the trained ``AutoModelForSequenceClassification`` (LoRA merged), in eval mode.
    """
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForSequenceClassification

    trl = import_trl()
    peft = None
    if lora:
        base = lora_config(llm)
        peft = LoraConfig(r=base.r, lora_alpha=base.lora_alpha, lora_dropout=base.lora_dropout,
                          target_modules=base.target_modules, task_type="SEQ_CLS")
    with quiet_training() as scratch:
        reward = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1)  # a new scalar head
        reward.config.pad_token_id = tokenizer.pad_token_id
        config = trainer_config(trl.RewardConfig, llm, {**REWARD_DEFAULTS, **args}, device=_device(llm), seed=seed,
                                output_dir=scratch, label="reward_args")
        trainer = trl.RewardTrainer(model=reward, args=config, train_dataset=Dataset.from_list(list(rows)),
                                    processing_class=tokenizer, peft_config=peft)
        silence_printer(trainer)
        trainer.train()
        trained = trainer.model.merge_and_unload() if lora else trainer.model
    trained.eval()
    return trained


def train_grpo(
    model: Any, tokenizer: Any, prompts: Sequence[str], reward_model: Any, llm: Any, args: Mapping[str, Any], *,
    lora: bool, seed: int, scratch_root: str,
) -> tuple[Any, str | None]:
    """Online RL (TRL ``GRPOTrainer``) on ``prompts``, rewarded by ``reward_model``.

    :param args: ``GRPOConfig`` fields over :data:`RL_DEFAULTS`.
    """
    from datasets import Dataset

    trl = import_trl()
    with quiet_training() as scratch:
        settings = {**RL_DEFAULTS, "learning_rate": llm.dpo_args.get("learning_rate", 5e-5), **args}
        config = trainer_config(trl.GRPOConfig, llm, settings, device=_device(llm), seed=seed,
                                output_dir=scratch, label="rl_args")
        trainer = trl.GRPOTrainer(
            model=model, reward_funcs=[reward_model], args=config,
            train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]), processing_class=tokenizer,
            reward_processing_classes=[tokenizer], peft_config=lora_config(llm) if lora else None,
        )
        silence_printer(trainer)
        trainer.train()
        return _finish(trainer, lora, scratch_root)
