"""``LLMConfig``: every setting of the ``llm`` backend, as one dataclass (TRL style).

Each field has a default and a help string; runs save the config as JSON (``to_dict``) so a result can
be reproduced. The fields fall in groups: models (agent, human proxies), the DPO policy update (LoRA,
pairs per unit of action, optimisation budget), the evaluator that measures models, elicitation,
PG-Coevolve's SFT of the simulated human, and operational settings (cache and run folders, device)
that do not change results and are left out of :meth:`LLMConfig.fingerprint`.

No heavy import here: building a config needs only the standard library.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from progressgym_env.configs import config_from_any
from progressgym_env.errors import ConfigError

PROXY_CENTURIES: tuple[int, ...] = tuple(range(13, 22))
"""Centuries of the nine ProgressGym human proxies (C013 ... C021)."""

DEFAULT_PROXY_TEMPLATE = "PKU-Alignment/ProgressGym-HistLlama3-{size}-C0{century}-instruct"
"""Hub id of the century proxies; ``{size}`` is ``proxy_size``, ``{century}`` 13..21."""

OPERATIONAL_FIELDS: tuple[str, ...] = ("run_dir", "history_cache_dir", "device", "show_progress")
"""Fields that change where and how fast a run happens, never its numbers (outside the fingerprint)."""


def default_cache_dir() -> str:
    """``~/.cache/progressgym_env`` (or ``$XDG_CACHE_HOME/progressgym_env``)."""
    import os

    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "progressgym_env")


@dataclass(frozen=True)
class LLMConfig:
    """Settings of the ``llm`` backend (see :class:`progressgym_env.llm.backend.LLMBackend`)."""

    # -- models -------------------------------------------------------------------------------
    proxy_models: tuple[str, ...] | None = field(
        default=None,
        metadata={"help": "The 9 human-proxy checkpoints (local folders or hub ids), century 13 first. None = "
                  "proxy_template filled with proxy_size and the centuries 13..21."},
    )
    proxy_size: str = field(default="8B", metadata={"help": "Size in the default proxy names: 8B or 70B."})
    proxy_template: str = field(
        default=DEFAULT_PROXY_TEMPLATE, metadata={"help": "Name pattern of the default proxies ({size}, {century})."}
    )
    agent_model: str | None = field(
        default=None,
        metadata={"help": "The agent's starting model (folder or hub id). None = the century-13 proxy, so the "
                  "model starts at H_0 as DESIGN §2 requires."},
    )
    dtype: str = field(
        default="auto", metadata={"help": "Weights dtype: auto (bfloat16 on CUDA, float32 on CPU), float32, bfloat16."}
    )
    # -- DPO policy update ----------------------------------------------------------------------
    pairs_per_unit: int = field(
        default=256,
        metadata={"help": "Preference pairs for a dimension at |a_i| = 1; dim i gets round(|a_i| * pairs_per_unit)."},
    )
    dpo_epochs: float = field(default=1.0, metadata={"help": "Epochs over one century's preference data."})
    dpo_max_steps: int = field(default=-1, metadata={"help": "Cap on optimiser steps per century (-1 = epochs only)."})
    dpo_batch_size: int = field(default=8, metadata={"help": "Preference pairs per optimiser step."})
    dpo_learning_rate: float = field(default=5e-5, metadata={"help": "DPO learning rate (LoRA parameters)."})
    dpo_beta: float = field(default=0.1, metadata={"help": "DPO beta (strength of the KL to the pre-update model)."})
    max_length: int = field(default=512, metadata={"help": "Longest prompt+answer in tokens (longer are truncated)."})
    train_formats: tuple[str, ...] = field(
        default=("label", "yesno", "repeat"), metadata={"help": "Question formats the update data is rendered in."}
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (scale = alpha / r)."})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout."})
    lora_target_modules: str | tuple[str, ...] = field(
        default="all-linear", metadata={"help": "Modules LoRA adapts ('all-linear' or a list of module names)."}
    )
    gradient_checkpointing: bool = field(
        default=False, metadata={"help": "Trade compute for memory in DPO/SFT (useful for 8B+ models on GPU)."}
    )
    # -- evaluator --------------------------------------------------------------------------------
    eval_split: str = field(default="eval", metadata={"help": "Bank split the models are measured on."})
    eval_formats: tuple[str, ...] = field(
        default=("label", "yesno", "repeat"), metadata={"help": "Question formats of the measurement."}
    )
    eval_max_scenarios_per_dim: int | None = field(
        default=None, metadata={"help": "Quick measurement on a stratified subset (None = the whole split)."}
    )
    eval_batch_size: int = field(default=64, metadata={"help": "Questions per chooser call."})
    # -- elicitation ------------------------------------------------------------------------------
    elicit_max_scenarios_per_dim: int | None = field(
        default=32,
        metadata={"help": "Train-split scenarios per dim in the pool observations are sampled from (None = all)."},
    )
    # -- PG-Coevolve: the simulated human ---------------------------------------------------------
    sft_questions: int = field(
        default=256, metadata={"help": "Answers per SFT pull (history pull and AI pull each)."}
    )
    sft_history_epochs: float = field(default=1.0, metadata={"help": "SFT epochs on the century proxy's answers."})
    sft_ai_epochs: float = field(default=2.0, metadata={"help": "SFT epochs on the agent model's answers."})
    sft_batch_size: int = field(default=8, metadata={"help": "Examples per SFT optimiser step."})
    sft_learning_rate: float = field(default=5e-5, metadata={"help": "SFT learning rate (LoRA parameters)."})
    # -- operational (not part of the fingerprint) ------------------------------------------------
    run_dir: str | None = field(
        default=None,
        metadata={"help": "Folder for per-century checkpoints; re-running with the same folder resumes. "
                  "None = no checkpoints."},
    )
    history_cache_dir: str | None = field(
        default=None, metadata={"help": "Where measured proxy vectors are cached (None = ~/.cache/progressgym_env)."}
    )
    device: str = field(default="auto", metadata={"help": "auto (CUDA when available), cpu, cuda or cuda:N."})
    show_progress: bool = field(default=False, metadata={"help": "Show progress bars while measuring proxies."})

    def __post_init__(self) -> None:
        if self.proxy_models is not None:
            models = (self.proxy_models,) if isinstance(self.proxy_models, str) else tuple(self.proxy_models)
            models = tuple(str(m) for m in models)
            if len(models) != len(PROXY_CENTURIES):
                raise ConfigError(
                    f"proxy_models must list {len(PROXY_CENTURIES)} checkpoints (centuries 13..21), found {len(models)}"
                )
            object.__setattr__(self, "proxy_models", models)
        for name in ("train_formats", "eval_formats"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        if not isinstance(self.lora_target_modules, str):
            object.__setattr__(self, "lora_target_modules", tuple(self.lora_target_modules))
        positive_ints = ("pairs_per_unit", "dpo_batch_size", "max_length", "lora_r", "lora_alpha",
                         "eval_batch_size", "sft_questions", "sft_batch_size")
        for name in positive_ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("dpo_epochs", "dpo_learning_rate", "dpo_beta", "sft_learning_rate"):
            if not float(getattr(self, name)) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("sft_history_epochs", "sft_ai_epochs"):
            if float(getattr(self, name)) < 0:
                raise ConfigError(f"{name} must be >= 0 (0 = no pull), got {getattr(self, name)!r}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ConfigError(f"lora_dropout must be in [0, 1), got {self.lora_dropout!r}")
        for name in ("eval_max_scenarios_per_dim", "elicit_max_scenarios_per_dim"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a positive integer or None, got {value!r}")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ConfigError(f"dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        from progressgym_env.evaluator.bank import SPLITS

        if self.eval_split not in SPLITS:
            raise ConfigError(f"eval_split must be one of {SPLITS}, got {self.eval_split!r}")

    # -- construction -----------------------------------------------------------------------------

    @classmethod
    def from_any(cls, config: "LLMConfig | dict[str, Any] | None") -> "LLMConfig":
        """Accept a config, a dict of its fields (unknown keys are an error) or None (defaults)."""
        return config_from_any(cls, config, "llm backend_config")

    @classmethod
    def from_json(cls, path: str | Path) -> "LLMConfig":
        """Read a config saved by :meth:`save_json`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read an LLMConfig from {path}: {exc}") from None
        return cls.from_any(data)

    # -- derived values ---------------------------------------------------------------------------

    def proxy_ids(self) -> tuple[str, ...]:
        """The 9 proxy checkpoints, century 13 first."""
        if self.proxy_models is not None:
            return self.proxy_models
        return tuple(self.proxy_template.format(size=self.proxy_size, century=c) for c in PROXY_CENTURIES)

    def agent_id(self) -> str:
        """The agent's starting checkpoint (the century-13 proxy unless set)."""
        return self.agent_model if self.agent_model is not None else self.proxy_ids()[0]

    def evaluator_config(self) -> Any:
        """The :class:`~progressgym_env.evaluator.EvaluatorConfig` that measures models."""
        from progressgym_env.evaluator import EvaluatorConfig

        return EvaluatorConfig(
            split=self.eval_split,
            formats=self.eval_formats,
            max_scenarios_per_dim=self.eval_max_scenarios_per_dim,
            batch_size=self.eval_batch_size,
        )

    def cache_dir(self) -> Path:
        """Folder of the measured-history cache."""
        return Path(self.history_cache_dir or default_cache_dir())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        return data

    def fingerprint(self) -> str:
        """SHA-256 of the fields that determine results (operational fields excluded)."""
        data = {k: v for k, v in self.to_dict().items() if k not in OPERATIONAL_FIELDS}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def save_json(self, path: str | Path) -> Path:
        """Write the config as JSON, atomically."""
        from progressgym_env.history import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return Path(path)
