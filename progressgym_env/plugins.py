"""Finding plugins: modules that register challenges or backends, imported by ``import progressgym_env``.

Two sources, read in every process that imports the package (a ``SubprocVecEnv`` worker, a Ray
worker, a CLI run), so a plugin needs no code edits anywhere:

- the entry-point group ``progressgym_env.plugins`` of installed packages (each entry point names a
  module, or a callable that is called once loaded);
- the environment variable ``PROGRESSGYM_PLUGINS``: comma-separated module names importable from
  ``sys.path`` (the current folder included for a script run from it).

A module named in ``PROGRESSGYM_PLUGINS`` that fails to import raises a :class:`PluginError` naming it
(the user asked for it); a broken installed entry point is reported by a warning and skipped, so one
bad package cannot stop every env from loading.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from importlib.metadata import entry_points

from progressgym_env.errors import ConfigError

ENV_VAR = "PROGRESSGYM_PLUGINS"
ENTRY_POINT_GROUP = "progressgym_env.plugins"


class PluginError(ConfigError):
    """A plugin named in ``PROGRESSGYM_PLUGINS`` cannot be imported or fails while registering."""


def plugin_modules(value: str | None = None) -> list[str]:
    """The module names ``PROGRESSGYM_PLUGINS`` (or ``value``) lists, blanks dropped."""
    text = os.environ.get(ENV_VAR, "") if value is None else value
    return [name.strip() for name in text.split(",") if name.strip()]


def load_plugins() -> list[str]:
    """Import every plugin (entry points, then ``PROGRESSGYM_PLUGINS``); return the names loaded."""
    loaded = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = point.load()
            if callable(target):
                target()
        except Exception as exc:  # noqa: BLE001  (any failure of a third-party package)
            warnings.warn(f"progressgym_env plugin {point.name!r} ({point.value}) failed to load: {exc!r}", stacklevel=2)
            continue
        loaded.append(point.value)
    for name in plugin_modules():
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.append(os.getcwd())  # `python -m` and console scripts omit the current folder
        try:
            importlib.import_module(name)
        except ConfigError as exc:
            raise PluginError(f"plugin {name!r} (from {ENV_VAR}) failed while registering: {exc}") from exc
        except ImportError as exc:
            raise PluginError(
                f"plugin {name!r} (from {ENV_VAR}) cannot be imported: {exc}. Put its folder on PYTHONPATH or "
                "run from it"
            ) from exc
        loaded.append(name)
    return loaded
