"""Building config dataclasses from what users pass: the dataclass itself, a dict of its fields, or None.

Shared by every backend config (``SurrogateConfig``, ``LLMConfig``) so that ``backend_config`` behaves
the same whatever the backend: unknown keys are an error naming them and the valid ones.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from progressgym_env.errors import ConfigError

ConfigT = TypeVar("ConfigT")


def config_from_any(cls: type[ConfigT], config: Any, label: str) -> ConfigT:
    """Return ``config`` as an instance of the dataclass ``cls``.

    :param cls: the config dataclass.
    :param config: an instance of ``cls``, a dict of its fields, or None (the defaults).
    :param label: how errors name the config (e.g. ``"surrogate backend_config"``).
    """
    if config is None:
        return cls()
    if isinstance(config, cls):
        return config
    if isinstance(config, dict):
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(config) - known)
        if unknown:
            raise ConfigError(f"unknown {label} key(s) {unknown}; valid: {sorted(known)}")
        return cls(**config)
    raise ConfigError(f"{label} must be a {cls.__name__} or a dict, found {type(config).__name__}")
