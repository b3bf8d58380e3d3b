"""``LLMConfig``: every setting of the ``llm`` backend, as one dataclass composed the TRL way.

Each field has a default and a help string; runs save the config as JSON (``to_dict``) so a result can
be reproduced. The config composes the settings of the parts it drives instead of copying them:

- ``evaluator``: an :class:`~progressgym_env.evaluator.EvaluatorConfig` (how models are measured);
- ``dpo_args`` / ``sft_args``: fields of TRL's ``DPOConfig`` / ``SFTConfig``, passed through as they
  are, so any TRL option (warmup, ``loss_type``, gradient accumulation, ...) is reachable. The keys
  are checked against those classes when the backend starts (and whenever a trainer config is built),
  with an error naming the unknown key. Keys left out keep this package's defaults
  (:data:`DPO_DEFAULTS`, :data:`SFT_DEFAULTS`).

The rest are ProgressGym's own settings (models, pairs per unit of action, LoRA, elicitation, the
Coevolve pulls) and operational settings (cache and run folders, device) that do not change results
and are left out of :meth:`LLMConfig.fingerprint`.

No heavy import here: building a config needs only the standard library and numpy.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from progressgym_env.common.cache import cache_root
from progressgym_env.common.fingerprint import json_fingerprint
from progressgym_env.configs import config_from_any
from progressgym_env.errors import ConfigError
from progressgym_env.evaluator.config import EvaluatorConfig

PROXY_CENTURIES: tuple[int, ...] = tuple(range(13, 22))
"""Centuries of the nine ProgressGym human proxies (C013 ... C021)."""

HUMAN_SOURCES: tuple[str, ...] = ("proxies", "history")
"""Where the human answers come from: the proxy models, or the env's history vectors (no proxy model)."""

PROXY_VERSIONS: dict[str, str] = {"8B": "v0.2", "70B": "v0.1"}
"""Published release of the century proxies of each size (the hub ids end in ``-instruct-<version>``)."""

DEFAULT_PROXY_TEMPLATE = "PKU-Alignment/ProgressGym-HistLlama3-{size}-C0{century}-instruct-{version}"
"""Hub id of the century proxies; ``{size}`` is ``proxy_size``, ``{century}`` 13..21, ``{version}`` the
size's published release (:data:`PROXY_VERSIONS`)."""

OPERATIONAL_FIELDS: tuple[str, ...] = (
    "run_dir",
    "history_cache_dir",
    "device",
    "show_progress",
)
"""Fields that change where and how fast a run happens, never its numbers (outside the fingerprint)."""

OPERATIONAL_TRAINER_ARGS: tuple[str, ...] = (
    "report_to",
    "run_name",
    "disable_tqdm",
    "logging_dir",
    "logging_strategy",
    "logging_steps",
    "logging_first_step",
    "save_strategy",
    "save_steps",
    "save_total_limit",
)
"""``dpo_args``/``sft_args`` keys that only change logging or saving (outside the fingerprint)."""

DPO_DEFAULTS: dict[str, Any] = {
    "per_device_train_batch_size": 8,
    "num_train_epochs": 1.0,
    "max_steps": -1,
    "learning_rate": 5e-5,
    "beta": 0.1,
    "max_length": 512,
}
"""``DPOConfig`` fields this package sets for the policy update; ``dpo_args`` overrides any of them."""

SFT_DEFAULTS: dict[str, Any] = {
    "per_device_train_batch_size": 8,
    "learning_rate": 5e-5,
    "max_length": 512,
    "completion_only_loss": True,
    "packing": False,
}
"""``SFTConfig`` fields this package sets for the Coevolve pulls; ``sft_args`` overrides any of them."""

BACKEND_TRAINER_ARGS: dict[str, str] = {
    "output_dir": "a scratch folder per update",
    "seed": "drawn from the env generator",
    "data_seed": "drawn from the env generator",
    "use_cpu": "LLMConfig.device",
}
"""Trainer fields the backend sets itself (refused in ``dpo_args``/``sft_args``), and where they come from."""

RENAMED_KEYS: dict[str, tuple[str, str]] = {
    "dpo_epochs": ("dpo_args", "num_train_epochs"),
    "dpo_max_steps": ("dpo_args", "max_steps"),
    "dpo_batch_size": ("dpo_args", "per_device_train_batch_size"),
    "dpo_learning_rate": ("dpo_args", "learning_rate"),
    "dpo_beta": ("dpo_args", "beta"),
    "sft_batch_size": ("sft_args", "per_device_train_batch_size"),
    "sft_learning_rate": ("sft_args", "learning_rate"),
    "max_length": ("dpo_args", "max_length"),
    "eval_split": ("evaluator", "split"),
    "eval_formats": ("evaluator", "formats"),
    "eval_max_scenarios_per_dim": ("evaluator", "max_scenarios_per_dim"),
    "eval_batch_size": ("evaluator", "batch_size"),
}
"""Keys of the former flat config and their new place: (nested field, key inside it)."""

DEFAULT_EVAL_BATCH_SIZE = 64
"""The backend's evaluator default batch (questions per chooser call and sequences per forward pass)."""


def default_evaluator() -> EvaluatorConfig:
    """The evaluator the backend measures with by default: the whole eval split, every format, batch 64."""
    return EvaluatorConfig(batch_size=DEFAULT_EVAL_BATCH_SIZE)


def renamed_key_error(key: str, value: Any, label: str) -> ConfigError:
    """The error for a key of the former flat config, spelling out where it lives now.

    :param key: the old key (``dpo_beta``).
    :param value: the value it was given (shown in the suggested spelling).
    :param label: how the error names the config.
    """
    group, new = RENAMED_KEYS[key]
    extra = " (and sft_args={'max_length': ...} for the SFT pulls)" if key == "max_length" else ""
    return ConfigError(
        f"{label} key {key!r} was renamed: write {group}={{{new!r}: {value!r}}} instead{extra}"
    )


def _trainer_args(
    value: Any, name: str, defaults: dict[str, Any], reserved: dict[str, str]
) -> dict[str, Any]:
    """``defaults`` updated with the user's ``value`` (a dict), after the checks that need no TRL import."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a dict of TRL config fields, found {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise ConfigError(f"{name} keys must be strings, found {key!r}")
        if key in reserved:
            raise ConfigError(f"{name}[{key!r}] is set by the backend ({reserved[key]}); leave it out")
    merged = {**defaults, **value}
    try:
        json.dumps(merged)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{name} values must be JSON-serialisable (they are saved with the run): {exc}"
        ) from None
    return merged


@dataclass(frozen=True)
class LLMConfig:
    """Settings of the ``llm`` backend (see :class:`progressgym_env.llm.backend.LLMBackend`)."""

    # -- models -------------------------------------------------------------------------------
    proxy_models: tuple[str, ...] | None = field(
        default=None,
        metadata={
            "help": "The 9 human-proxy checkpoints (local folders or hub ids), century 13 first. None = "
            "proxy_template filled with proxy_size and the centuries 13..21."
        },
    )
    proxy_size: str = field(default="8B", metadata={"help": "Size in the default proxy names: 8B or 70B."})
    proxy_template: str = field(
        default=DEFAULT_PROXY_TEMPLATE,
        metadata={"help": "Name pattern of the default proxies ({size}, {century})."},
    )
    agent_model: str | None = field(
        default=None,
        metadata={
            "help": "The agent's starting model (folder or hub id). None = the century-13 proxy, so the "
            "model starts at H_0 as DESIGN §2 requires."
        },
    )
    humans: str = field(
        default="proxies",
        metadata={
            "help": "Who answers human queries: proxies (the proxy models' own choice probabilities) or "
            "history (answers sampled from the env's history vectors, as the surrogate does: no proxy model "
            "is loaded, so the LLM path runs with the agent's model alone; needs agent_model and a moral19 "
            "history file, and Coevolve's simulated human starts as the agent's model).",
            "choices": HUMAN_SOURCES,
        },
    )
    dtype: str = field(
        default="auto",
        metadata={"help": "Weights dtype: auto (bfloat16 on CUDA, float32 on CPU), float32, bfloat16."},
    )
    # -- DPO policy update ----------------------------------------------------------------------
    pairs_per_unit: int = field(
        default=256,
        metadata={
            "help": "Preference pairs for a dimension at |a_i| = 1; dim i gets round(|a_i| * pairs_per_unit)."
        },
    )
    train_formats: tuple[str, ...] = field(
        default=("label", "yesno", "repeat"),
        metadata={"help": "Question formats the update data is rendered in."},
    )
    dpo_args: dict[str, Any] = field(
        default_factory=lambda: dict(DPO_DEFAULTS),
        metadata={
            "help": "TRL DPOConfig fields of the policy update (e.g. beta, learning_rate, warmup_ratio, "
            f"loss_type, gradient_accumulation_steps); keys left out keep {DPO_DEFAULTS}."
        },
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (scale = alpha / r)."})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout."})
    lora_target_modules: str | tuple[str, ...] = field(
        default="all-linear",
        metadata={"help": "Modules LoRA adapts ('all-linear' or a list of module names)."},
    )
    gradient_checkpointing: bool = field(
        default=False,
        metadata={"help": "Trade compute for memory in DPO/SFT (useful for 8B+ models on GPU)."},
    )
    # -- evaluator --------------------------------------------------------------------------------
    evaluator: EvaluatorConfig = field(
        default_factory=default_evaluator,
        metadata={
            "help": "How models are measured (an EvaluatorConfig or a dict of its fields); its batch_size "
            "is also the sequences per forward pass."
        },
    )
    # -- elicitation ------------------------------------------------------------------------------
    elicit_max_scenarios_per_dim: int | None = field(
        default=32,
        metadata={
            "help": "Train-split scenarios per dim in the pool observations are sampled from (None = all)."
        },
    )
    # -- PG-Coevolve: the simulated human ---------------------------------------------------------
    sft_questions: int = field(
        default=256,
        metadata={"help": "Answers per SFT pull (history pull and AI pull each)."},
    )
    sft_history_epochs: float = field(
        default=1.0, metadata={"help": "SFT epochs on the century proxy's answers."}
    )
    sft_ai_epochs: float = field(default=2.0, metadata={"help": "SFT epochs on the agent model's answers."})
    sft_args: dict[str, Any] = field(
        default_factory=lambda: dict(SFT_DEFAULTS),
        metadata={
            "help": "TRL SFTConfig fields of both pulls (epochs come from sft_history_epochs and "
            f"sft_ai_epochs); keys left out keep {SFT_DEFAULTS}."
        },
    )
    # -- operational (not part of the fingerprint) ------------------------------------------------
    run_dir: str | None = field(
        default=None,
        metadata={
            "help": "Folder for per-century checkpoints; re-running with the same folder resumes. "
            "None = no checkpoints."
        },
    )
    history_cache_dir: str | None = field(
        default=None,
        metadata={
            "help": "Where measured proxy vectors are cached (None = $PROGRESSGYM_CACHE, else "
            "~/.cache/progressgym_env)."
        },
    )
    device: str = field(
        default="auto",
        metadata={"help": "auto (CUDA when available), cpu, cuda or cuda:N."},
    )
    show_progress: bool = field(
        default=False, metadata={"help": "Show progress bars while measuring proxies."}
    )

    def __post_init__(self) -> None:
        if self.proxy_models is not None:
            models = (self.proxy_models,) if isinstance(self.proxy_models, str) else tuple(self.proxy_models)
            models = tuple(str(m) for m in models)
            if len(models) != len(PROXY_CENTURIES):
                raise ConfigError(
                    f"proxy_models must list {len(PROXY_CENTURIES)} checkpoints (centuries 13..21), found {len(models)}"
                )
            object.__setattr__(self, "proxy_models", models)
        object.__setattr__(self, "train_formats", _as_tuple(self.train_formats))
        if not isinstance(self.lora_target_modules, str):
            object.__setattr__(self, "lora_target_modules", tuple(self.lora_target_modules))
        object.__setattr__(
            self,
            "evaluator",
            _evaluator(self.evaluator),
        )
        sft_reserved = {
            **BACKEND_TRAINER_ARGS,
            "num_train_epochs": "sft_history_epochs and sft_ai_epochs",
        }
        object.__setattr__(
            self,
            "dpo_args",
            _trainer_args(self.dpo_args, "dpo_args", DPO_DEFAULTS, BACKEND_TRAINER_ARGS),
        )
        object.__setattr__(
            self,
            "sft_args",
            _trainer_args(self.sft_args, "sft_args", SFT_DEFAULTS, sft_reserved),
        )
        for name in ("pairs_per_unit", "lora_r", "lora_alpha", "sft_questions"):
            _check_positive_int(getattr(self, name), name)
        for group in ("dpo_args", "sft_args"):
            args = getattr(self, group)
            for key in ("per_device_train_batch_size", "max_length"):
                _check_positive_int(args.get(key, 1), f"{group}[{key!r}]")
            for key in ("learning_rate", "num_train_epochs", "beta"):
                if key in args and not (isinstance(args[key], (int, float)) and args[key] > 0):
                    raise ConfigError(f"{group}[{key!r}] must be > 0, got {args[key]!r}")
        for name in ("sft_history_epochs", "sft_ai_epochs"):
            if float(getattr(self, name)) < 0:
                raise ConfigError(f"{name} must be >= 0 (0 = no pull), got {getattr(self, name)!r}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ConfigError(f"lora_dropout must be in [0, 1), got {self.lora_dropout!r}")
        value = self.elicit_max_scenarios_per_dim
        if value is not None:
            _check_positive_int(value, "elicit_max_scenarios_per_dim", " or None")
        if self.humans not in HUMAN_SOURCES:
            raise ConfigError(f"humans must be one of {HUMAN_SOURCES}, got {self.humans!r}")
        if self.humans == "history" and self.agent_model is None:
            raise ConfigError("humans='history' loads no proxy model, so the agent needs its own: set agent_model")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ConfigError(f"dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")

    # -- construction -----------------------------------------------------------------------------

    @classmethod
    def from_any(cls, config: LLMConfig | dict[str, Any] | None) -> LLMConfig:
        """Accept a config, a dict of its fields or None (defaults).

        In a dict, ``evaluator`` is a nested dict of :class:`EvaluatorConfig` fields. Unknown keys are an
        error naming them; a key of the former flat spelling (``dpo_beta``, ``eval_split``, ...) is an
        error that spells out the new one.
        """
        label = "llm backend_config"
        if isinstance(config, dict):
            for key, value in config.items():
                if key in RENAMED_KEYS:
                    raise renamed_key_error(key, value, label)
        return config_from_any(cls, config, label)

    @classmethod
    def from_json(cls, path: str | Path) -> LLMConfig:
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
        if "{version}" in self.proxy_template and self.proxy_size not in PROXY_VERSIONS:
            raise ConfigError(
                f"proxy_size {self.proxy_size!r} has no published proxies; use one of {sorted(PROXY_VERSIONS)} "
                "or give proxy_models (or a proxy_template without {version})"
            )
        version = PROXY_VERSIONS.get(self.proxy_size, "")
        return tuple(
            self.proxy_template.format(size=self.proxy_size, century=c, version=version) for c in PROXY_CENTURIES
        )

    def agent_id(self) -> str:
        """The agent's starting checkpoint (the century-13 proxy unless set)."""
        return self.agent_model if self.agent_model is not None else self.proxy_ids()[0]

    def cache_dir(self) -> Path:
        """Folder of the measured-history cache."""
        return cache_root(self.history_cache_dir)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field (``evaluator`` as a nested dict); :meth:`from_any` reads it back."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        data["evaluator"] = self.evaluator.to_dict()
        return data

    def fingerprint(self) -> str:
        """SHA-256 of the fields that determine results.

        Operational fields (:data:`OPERATIONAL_FIELDS`) and the trainer keys that only change logging or
        saving (:data:`OPERATIONAL_TRAINER_ARGS`) are left out.
        """
        data = {k: v for k, v in self.to_dict().items() if k not in OPERATIONAL_FIELDS}
        for group in ("dpo_args", "sft_args"):
            data[group] = {k: v for k, v in data[group].items() if k not in OPERATIONAL_TRAINER_ARGS}
        return json_fingerprint(data)

    def save_json(self, path: str | Path) -> Path:
        """Write the config as JSON, atomically."""
        from progressgym_env.common.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return Path(path)


def _evaluator(value: Any) -> EvaluatorConfig:
    """``LLMConfig.evaluator`` as a config; a dict's missing keys keep the backend's defaults (batch 64)."""
    if isinstance(value, dict):
        known = {f for f in EvaluatorConfig.__dataclass_fields__}
        value = {**{k: v for k, v in default_evaluator().to_dict().items() if k in known}, **value}
    return EvaluatorConfig.from_any(value, "llm backend_config evaluator")


def _as_tuple(value: Any) -> tuple[str, ...]:
    """A format list as a tuple (a bare string is one format)."""
    return (value,) if isinstance(value, str) else tuple(value)


def _check_positive_int(value: Any, name: str, alternative: str = "") -> None:
    """Raise a :class:`ConfigError` unless ``value`` is an int >= 1 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer{alternative}, got {value!r}")
