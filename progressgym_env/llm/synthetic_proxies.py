"""Synthetic century proxies: nine models trained from one base toward a history's target vectors.

The real human proxies (ProgressGym-HistLlama3-*) are 8B/70B models no CPU machine can run. For
everyone else, :func:`build_synthetic_proxies` makes a stand-in panel: starting from a base model
(e.g. ``smollm2-135m-instruct``), century by century it

1. measures the model it starts from (the base for century 13, the previous proxy afterwards),
2. turns the gap to the century's target vector into an action, ``a = clip((logit(target) -
   logit(measured)) / capacity, -1, 1)`` (the lifelong agent's rule),
3. trains one DPO + LoRA update on preference pairs for that action (train split of the bank; the
   same update the ``llm`` backend applies to the agent's model), merges it in,
4. measures the new model with the evaluator (eval split) and saves it as the century's proxy.

The written ``models`` history records the **measured** vectors, not the targets: the targets are
only where the training aimed. Everything lands in one output folder, written so an interrupted run
resumes at the first unfinished century::

    OUT/config.json            settings (a resume with other settings is refused)
    OUT/targets.json           the target history (trajectory file)
    OUT/base.json              the base model's measured vector
    OUT/C013/ ... OUT/C021/    the proxies (save_pretrained folders) + century.json (measured vector,
                               action, DPO and evaluation statistics); each folder appears atomically
    OUT/history.json           the models history (trajectory file), once all nine exist

Use the folders as ``LLMConfig(proxy_models=...)`` or measure them again with
``progressgym measure-history``; use ``OUT/history.json`` as ``history=`` of any env.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from progressgym_env.common.atomic import atomic_folder, atomic_write_text
from progressgym_env.common.progress import ProgressBar
from progressgym_env.errors import ConfigError, HistoryFormatError
from progressgym_env.history import History, resolve_history, save_history
from progressgym_env.value_spaces import MORAL19

CENTURY_RECORD = "century.json"
"""Written last into a proxy folder: the century's measured vector and statistics."""

_OPERATIONAL = ("out", "device", "progress", "threads")


@dataclass(frozen=True)
class SyntheticProxyConfig:
    """Settings of :func:`build_synthetic_proxies` (saved as ``OUT/config.json``)."""

    base: str = field(
        default="smollm2-135m-instruct",
        metadata={"help": "Base model: a model source name, folder or hub id."},
    )
    history: str = field(
        default="procedural-moral19",
        metadata={"help": "Target history: procedural-moral19 (seeded draw) or a moral19 trajectory file."},
    )
    history_seed: int = field(default=0, metadata={"help": "Seed of the procedural target draw."})
    out: str = field(default="synthetic-proxies", metadata={"help": "Output folder (re-run it to resume)."})
    capacity: float = field(
        default=1.0, metadata={"help": "Logit gap to the target that gives a full-strength (|a| = 1) action."}
    )
    chain: bool = field(
        default=True,
        metadata={
            "help": "Train each century from the previous proxy (True) or every century from the base."
        },
    )
    pairs_per_unit: int = field(default=8, metadata={"help": "Preference pairs for a dim at |a_i| = 1."})
    dpo_max_steps: int = field(default=3, metadata={"help": "Optimiser steps per century (-1: one epoch)."})
    dpo_batch_size: int = field(
        default=4,
        metadata={
            "help": "Preference pairs per optimiser step (SmolLM2 in fp32 on CPU: ~6 GB RSS at 4, ~17 GB at 8)."
        },
    )
    dpo_learning_rate: float = field(default=5e-4, metadata={"help": "DPO learning rate (LoRA parameters)."})
    dpo_beta: float = field(default=0.1, metadata={"help": "DPO beta."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    eval_max_scenarios_per_dim: int | None = field(
        default=2,
        metadata={"help": "Stratified eval subset per dim for the measurements (None: whole split)."},
    )
    eval_batch_size: int = field(default=16, metadata={"help": "Rows per forward pass when measuring."})
    seed: int = field(default=0, metadata={"help": "Seed of the preference data and LoRA init."})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or cuda:N."})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0: torch's default)."})
    progress: bool = field(default=True, metadata={"help": "Show a progress bar."})

    def __post_init__(self) -> None:
        if not self.capacity > 0:
            raise ConfigError(f"capacity must be > 0 (logit units), got {self.capacity!r}")
        for name in ("pairs_per_unit", "dpo_batch_size", "lora_r", "eval_batch_size"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.dpo_max_steps == 0 or self.dpo_max_steps < -1:
            raise ConfigError(f"dpo_max_steps must be -1 (one epoch) or positive, got {self.dpo_max_steps!r}")

    def result_fields(self) -> dict[str, Any]:
        """The settings that determine the proxies (what a resume must agree on)."""
        return {k: v for k, v in asdict(self).items() if k not in _OPERATIONAL}

    def llm_config(self) -> Any:
        """The :class:`~progressgym_env.llm.config.LLMConfig` whose DPO settings the updates use."""
        from progressgym_env.evaluator.config import EvaluatorConfig
        from progressgym_env.llm.config import LLMConfig

        return LLMConfig(
            pairs_per_unit=self.pairs_per_unit,
            dpo_args={
                "max_steps": self.dpo_max_steps,
                "per_device_train_batch_size": self.dpo_batch_size,
                "learning_rate": self.dpo_learning_rate,
                "beta": self.dpo_beta,
            },
            lora_r=self.lora_r,
            lora_alpha=2 * self.lora_r,
            evaluator=EvaluatorConfig(max_scenarios_per_dim=self.eval_max_scenarios_per_dim, batch_size=self.eval_batch_size),
            device=self.device,
        )


@dataclass
class CenturyRecord:
    """What building one proxy did (``OUT/C0xx/century.json``).

    :param century: 13..21.
    :param target: the century's target vector.
    :param start_values: measured vector of the model the update started from.
    :param action: the DPO action (19,).
    :param values: measured vector of the proxy.
    :param pairs: preference pairs drawn.
    :param dpo_steps: optimiser steps.
    :param dpo_seconds: wall time of the update.
    :param dpo_loss: mean DPO loss.
    :param eval_seconds: wall time of the measurement.
    """

    century: int
    target: list[float]
    start_values: list[float]
    action: list[float]
    values: list[float]
    pairs: int
    dpo_steps: int
    dpo_seconds: float
    dpo_loss: float
    eval_seconds: float

    @property
    def moved_toward_target(self) -> float:
        """Cosine between the intended move (action) and the measured move (values - start), in logits."""
        from progressgym_env.numerics import logit

        moved = logit(np.asarray(self.values)) - logit(np.asarray(self.start_values))
        a = np.asarray(self.action)
        denom = np.linalg.norm(moved) * np.linalg.norm(a)
        return float(moved @ a / denom) if denom > 0 else 0.0


def century_action(target: np.ndarray, measured: np.ndarray, capacity: float) -> np.ndarray:
    """``clip((logit(target) - logit(measured)) / capacity, -1, 1)`` as float32 (19,)."""
    from progressgym_env.numerics import logit

    gap = logit(np.asarray(target, dtype=np.float64)) - logit(np.asarray(measured, dtype=np.float64))
    return np.clip(gap / capacity, -1.0, 1.0).astype(np.float32)


def target_history(config: SyntheticProxyConfig) -> History:
    """The 9 x 19 target history: a seeded procedural draw or a moral19 trajectory file."""
    source = resolve_history(config.history)
    history = source.sample(np.random.default_rng(config.history_seed))
    if history.value_space.name != MORAL19.name:
        raise HistoryFormatError(
            f"synthetic proxies are measured by the moral19 evaluator, so the target history must be in the "
            f"moral19 space; {config.history!r} is in {history.value_space.name!r} (use procedural-moral19 or a "
            "moral19 trajectory file)"
        )
    if history.num_centuries != 9:
        raise HistoryFormatError(f"expected a 9-century target history, found {history.num_centuries} steps")
    return history


def _check_or_write_config(out: Path, config: SyntheticProxyConfig) -> None:
    """Write ``OUT/config.json`` or check that a resumed run uses the same settings."""
    path = out / "config.json"
    wanted = config.result_fields()
    if path.exists():
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{path} is unreadable ({exc}); delete the folder or choose another --out"
            ) from None
        found = {k: v for k, v in found.items() if k not in _OPERATIONAL}
        differing = sorted(k for k in set(wanted) | set(found) if wanted.get(k) != found.get(k))
        if differing:
            detail = ", ".join(f"{k}: {found.get(k)!r} -> {wanted.get(k)!r}" for k in differing)
            raise ConfigError(
                f"{out} holds proxies built with other settings ({detail}); resume with the same settings "
                "or choose another --out"
            )
        return
    atomic_write_text(path, json.dumps(asdict(config), indent=2) + "\n")


def _read_record(folder: Path) -> CenturyRecord | None:
    path = folder / CENTURY_RECORD
    if not path.is_file():
        return None
    try:
        return CenturyRecord(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is corrupt ({exc}); delete {folder} to rebuild that century") from None


def century_dir(out: str | os.PathLike, century: int) -> Path:
    """``OUT/C0xx`` (ProgressGym's naming)."""
    return Path(out) / f"C{century:03d}"


def build_synthetic_proxies(
    config: SyntheticProxyConfig, *, log: Callable[[str], None] | None = None
) -> tuple[History, list[CenturyRecord]]:
    """Build (or finish building) the nine proxies and write the measured ``models`` history.

    :param config: the settings; ``config.out`` is created or resumed.
    :param log: receives one line per finished step (default: none; the progress bar shows progress).
    :return: (the measured history, one record per century).
    :raises ConfigError: the output folder holds a run with other settings, or a corrupt record.
    """
    import torch

    from progressgym_env.common.model_sources import resolve_model
    from progressgym_env.evaluator import ValueEvaluator
    from progressgym_env.llm.model_loading import resolve_device

    say = log or (lambda message: None)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    _check_or_write_config(out, config)
    if config.threads:
        torch.set_num_threads(config.threads)
    targets = target_history(config)
    save_history(targets, out / "targets.json")
    base = str(resolve_model(config.base))
    device = resolve_device(config.device)
    llm_config = config.llm_config()
    evaluator = ValueEvaluator(llm_config.evaluator)
    centuries = list(targets.centuries)

    bar = _progress_bar(config.progress, total=len(centuries))
    records: list[CenturyRecord] = []
    try:
        base_values = _base_values(out, base, evaluator, device, config, bar, say)
        previous: Any = base_values  # a list of floats, then each century's measured array
        for t, century in enumerate(centuries):
            folder = century_dir(out, century)
            record = _read_record(folder)
            if record is None:
                start_model = (
                    base if (t == 0 or not config.chain) else str(century_dir(out, centuries[t - 1]))
                )
                start_values = previous if config.chain else base_values
                record = _build_century(
                    config,
                    llm_config,
                    evaluator,
                    start_model,
                    start_values,
                    targets.values[t],
                    century,
                    t,
                    folder,
                    device,
                    bar,
                )
                say(
                    f"C{century:03d}: {record.pairs} pairs, {record.dpo_steps} DPO steps in {record.dpo_seconds:.0f} s, "
                    f"measured in {record.eval_seconds:.0f} s; move/action cosine {record.moved_toward_target:+.2f}"
                )
            records.append(record)
            previous = np.asarray(record.values)
            bar.advance()
    finally:
        bar.close()

    values = np.array([r.values for r in records])
    history = History(
        values=values,
        value_space=MORAL19,
        centuries=tuple(centuries),
        provenance={
            "source": "synthetic-proxies",
            "base": config.base,
            "models": [str(century_dir(out, c).resolve()) for c in centuries],
            "targets": targets.values.tolist(),
            "target_history": config.history,
            "settings": config.result_fields(),
            "evaluator": evaluator.config.to_dict(),
            "base_values": list(base_values),
        },
    )
    save_history(history, out / "history.json")
    return history, records


def _progress_bar(enabled: bool, total: int) -> ProgressBar:
    return ProgressBar(total, "synthetic proxies", enabled=enabled).start()


def _stage(bar: ProgressBar, text: str) -> None:
    bar.status(text)


def _measure(model: Any, tokenizer: Any, evaluator: Any, batch_size: int) -> tuple[np.ndarray, float]:
    from progressgym_env.evaluator.choosers import LogLikelihoodChooser

    started = time.perf_counter()
    values = evaluator.evaluate(LogLikelihoodChooser(model, tokenizer, batch_size=batch_size))
    return np.asarray(values, dtype=np.float64), time.perf_counter() - started


def _base_values(
    out: Path, base: str, evaluator: Any, device: str, config: SyntheticProxyConfig, bar: Any, say: Callable
) -> list[float]:
    """The base model's measured vector (``OUT/base.json``, measured once)."""
    from progressgym_env.llm.model_loading import load_causal_lm

    path = out / "base.json"
    if path.is_file():
        return list(json.loads(path.read_text(encoding="utf-8"))["values"])
    _stage(bar, "measuring the base model")
    model, tokenizer = load_causal_lm(base, device=device)
    values, seconds = _measure(model, tokenizer, evaluator, config.eval_batch_size)
    atomic_write_text(
        path, json.dumps({"model": base, "values": values.tolist(), "seconds": seconds}, indent=2)
    )
    say(f"base model measured in {seconds:.0f} s")
    return values.tolist()


def _build_century(
    config: SyntheticProxyConfig,
    llm_config: Any,
    evaluator: Any,
    start_model: str,
    start_values: Any,
    target: np.ndarray,
    century: int,
    t: int,
    folder: Path,
    device: str,
    bar: Any,
) -> CenturyRecord:
    """Train, measure and atomically save one century's proxy."""
    from progressgym_env.evaluator.bank import load_question_bank
    from progressgym_env.evaluator.choosers.encoding import PromptEncoder
    from progressgym_env.llm.dpo_update import dpo_update
    from progressgym_env.llm.model_loading import load_causal_lm
    from progressgym_env.llm.preference_data import build_preference_pairs, dpo_rows

    action = century_action(target, np.asarray(start_values), config.capacity)
    rng = np.random.default_rng([config.seed, century])
    _stage(bar, f"C{century:03d}: training")
    model, tokenizer = load_causal_lm(start_model, device=device)
    pairs = build_preference_pairs(
        load_question_bank("train"), action, llm_config.pairs_per_unit, rng, llm_config.train_formats
    )
    rows = dpo_rows(pairs, PromptEncoder(tokenizer))
    model, stats = dpo_update(
        model, tokenizer, rows, llm_config, device=device, seed=int(rng.integers(2**31))
    )
    _stage(bar, f"C{century:03d}: measuring")
    values, eval_seconds = _measure(model, tokenizer, evaluator, config.eval_batch_size)
    record = CenturyRecord(
        century=century,
        target=[float(v) for v in target],
        start_values=[float(v) for v in start_values],
        action=[float(v) for v in action],
        values=values.tolist(),
        pairs=len(rows),
        dpo_steps=stats.steps,
        dpo_seconds=stats.seconds,
        dpo_loss=stats.loss,
        eval_seconds=eval_seconds,
    )
    _stage(bar, f"C{century:03d}: saving")
    # a folder already there has no record (leftovers of a crash): atomic_folder replaces it
    with atomic_folder(folder) as staged:
        model.save_pretrained(staged.path)
        tokenizer.save_pretrained(staged.path)
        (staged.path / CENTURY_RECORD).write_text(json.dumps(asdict(record), indent=2), encoding="utf-8")
    del model
    return record
