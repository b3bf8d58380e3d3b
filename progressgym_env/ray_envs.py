"""The ProgressGym ids in Ray Tune's env registry, so RLlib's remote env runners find them.

RLlib builds its envs in remote worker processes that never ran ``import progressgym_env``, and
Gymnasium 1.x no longer loads the ``gymnasium.envs`` entry point, so ``PPOConfig().environment(
"PG-Follow-v0")`` failed there with ``NameNotFound``. Ray Tune's registry (``ray.tune.registry.
register_env``) is stored in the cluster's key-value store and read by every worker; RLlib looks an
env name up there before asking Gymnasium. Each id is registered there with a creator that lives in
this module, so a worker unpickling it imports the package, which registers the ids with Gymnasium.

No Ray is imported here: :func:`install_ray_tune_hook` (called by ``import progressgym_env``) registers
at once when ``ray.tune.registry`` is already loaded, and otherwise waits for its import (one
``sys.meta_path`` entry that steps aside after that import). Without importing the package at all,
``"progressgym_env:PG-Follow-v0"`` works everywhere: Gymnasium imports the module named before the colon.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import gymnasium as gym

TUNE_REGISTRY = "ray.tune.registry"


def make_env(env_id: str, env_context: Any = None) -> Any:
    """Build ``env_id`` for RLlib: ``gym.make(env_id, **env_config)``, or the native vector env when
    RLlib asks for ``num_envs`` (``gym_env_vectorize_mode="vector_entry_point"``).

    :param env_id: a registered ProgressGym id.
    :param env_context: RLlib's ``EnvContext`` (the ``env_config`` dict), or None.
    """
    import progressgym_env  # noqa: F401  (a fresh worker: registers the ids with Gymnasium)

    kwargs = dict(env_context or {})
    num_envs = kwargs.pop("num_envs", None)
    if num_envs is not None:
        return gym.make_vec(env_id, num_envs=int(num_envs), vectorization_mode="vector_entry_point", **kwargs)
    return gym.make(env_id, **kwargs)


def register_with_ray_tune(env_ids: Sequence[str]) -> None:
    """Register each id in Ray Tune's env registry (shipped to every Ray worker). Imports Ray."""
    from ray.tune.registry import register_env

    for env_id in env_ids:
        register_env(env_id, functools.partial(make_env, env_id))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs ``callback`` once, right after the module ``name`` has been imported, then steps aside."""

    def __init__(self, name: str, callback: Callable[[], None]) -> None:
        self.name = name
        self.callback = callback

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _ThenLoader(spec.loader, self.callback)
        return spec


class _ThenLoader(importlib.abc.Loader):
    """Delegates to ``loader``, restores it on the module, and calls ``callback`` after executing it."""

    def __init__(self, loader: Any, callback: Callable[[], None]) -> None:
        self.loader = loader
        self.callback = callback

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        module.__loader__ = self.loader
        self.loader.exec_module(module)
        self.callback()


def registered_ids() -> tuple[str, ...]:
    """Every registered challenge's Gymnasium id (built-ins and plugins), read when Ray Tune is loaded."""
    from progressgym_env.registry import challenge_specs

    return tuple(spec.env_id for spec in challenge_specs())


def _register_quietly(ids: Sequence[str]) -> None:
    """:func:`register_with_ray_tune`, a failure reported by a warning (an unknown Ray must still import)."""
    try:
        register_with_ray_tune(ids)
    except Exception as exc:  # noqa: BLE001 - a Ray version we do not know must still import
        warnings.warn(f"progressgym_env could not register {tuple(ids)} with Ray Tune's env registry: {exc!r}; "
                      f"in RLlib use 'progressgym_env:{ids[0]}'", RuntimeWarning, stacklevel=2)


def install_ray_tune_hook() -> None:
    """Register every registered id with Ray Tune now if it is loaded, else as soon as it is imported.

    Never imports Ray itself. Ids registered later (a plugin imported after Ray Tune) are added by
    :func:`register_later` from :func:`~progressgym_env.registry.register_challenge`.
    """
    if TUNE_REGISTRY in sys.modules:
        _register_quietly(registered_ids())
    elif not any(isinstance(f, _AfterImport) and f.name == TUNE_REGISTRY for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(TUNE_REGISTRY, lambda: _register_quietly(registered_ids())))


def register_later(env_id: str) -> None:
    """A challenge registered while Ray Tune is loaded joins its registry at once (else the hook adds it)."""
    if TUNE_REGISTRY in sys.modules:
        _register_quietly([env_id])
