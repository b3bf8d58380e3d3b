"""Backends turn actions into models: ``surrogate`` (numpy, default), ``llm`` (HF + TRL) or a plugin's.

Backends register by name with :func:`progressgym_env.registry.register_backend` (the built-ins in
:mod:`envs_registry`); :func:`make_backend` builds one from its name or passes an object through.
"""

from __future__ import annotations

from typing import Any

from progressgym_env.backends.base import Backend
from progressgym_env.backends.surrogate import SurrogateBackend, SurrogateConfig
from progressgym_env.errors import ConfigError


def make_backend(backend: str | Backend, config: Any = None) -> Backend:
    """Build a backend from its registered name and config, or pass a ready backend object through.

    :param backend: a registered name (``"surrogate"``, ``"llm"``, a plugin's) or an object implementing
        :class:`Backend`.
    :param config: the backend's config dataclass or a dict of its fields (None = defaults).
    """
    if isinstance(backend, str):
        from progressgym_env.registry import backend_spec

        built = backend_spec(backend).build(config)
        if not isinstance(built, Backend):
            raise ConfigError(f"backend {backend!r}'s factory returned {type(built).__name__}, not a Backend")
        return built
    if config is not None:
        raise ConfigError("backend_config is only used with a backend name; configure a backend object directly")
    if not isinstance(backend, Backend):
        raise ConfigError(f"backend object {type(backend).__name__} does not implement the Backend protocol")
    return backend


__all__ = ["Backend", "SurrogateBackend", "SurrogateConfig", "make_backend"]
