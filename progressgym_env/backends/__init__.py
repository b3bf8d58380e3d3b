"""Backends turn actions into models: ``surrogate`` (numpy, default) and ``llm`` (HF + TRL)."""

from __future__ import annotations

from typing import Any

from progressgym_env.backends.base import Backend
from progressgym_env.backends.surrogate import SurrogateBackend, SurrogateConfig
from progressgym_env.errors import ConfigError

BACKEND_NAMES = ("surrogate", "llm")


def make_backend(backend: str | Backend, config: Any = None) -> Backend:
    """Build a backend from its name and config, or pass a ready backend object through.

    :param backend: ``"surrogate"``, ``"llm"`` or an object implementing :class:`Backend`.
    :param config: the backend's config dataclass or a dict of its fields (None = defaults).
    """
    if isinstance(backend, str):
        if backend == "surrogate":
            return SurrogateBackend(config)
        if backend == "llm":
            from progressgym_env.llm.backend import LLMBackend  # heavy imports stay lazy

            return LLMBackend(config)
        raise ConfigError(f"unknown backend {backend!r}; choose one of {BACKEND_NAMES} or pass a Backend object")
    if config is not None:
        raise ConfigError("backend_config is only used with a backend name; configure a backend object directly")
    if not isinstance(backend, Backend):
        raise ConfigError(f"backend object {type(backend).__name__} does not implement the Backend protocol")
    return backend


__all__ = ["Backend", "SurrogateBackend", "SurrogateConfig", "make_backend", "BACKEND_NAMES"]
