"""The package's one cache root: where converted model sources and measured histories live.

The root is, first match wins:

1. an explicit folder passed by the caller (e.g. ``LLMConfig.history_cache_dir``);
2. the environment variable ``PROGRESSGYM_CACHE`` (:data:`CACHE_ENV_VAR`), if set and non-empty;
3. ``$XDG_CACHE_HOME/progressgym_env`` when ``XDG_CACHE_HOME`` is set (the freedesktop convention,
   as Hugging Face and pip follow it);
4. ``~/.cache/progressgym_env``.

Inside it: ``models/<name>`` (converted model sources, :mod:`progressgym_env.common.model_sources`) and
the measured-history files of the ``llm`` backend (``models-history-<key>.json``, ``elicit-probs-<key>.npz``,
``model-vector-<key>.json``). Everything in it can be deleted; it is measured or converted again.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV_VAR = "PROGRESSGYM_CACHE"
"""Environment variable naming the cache root (wins over the default, loses to an explicit folder)."""

CACHE_FOLDER_NAME = "progressgym_env"
"""Name of the package's folder inside the user's cache folder."""


def default_cache_root() -> Path:
    """The root used when neither a caller nor :data:`CACHE_ENV_VAR` names one (rules 3 and 4 above)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(base, CACHE_FOLDER_NAME).expanduser()


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache root (see the module docstring for the order of precedence), ``~`` expanded.

    The folder is not created: writers create what they write.

    :param cache_dir: an explicit root; ``None`` (or an empty string) defers to the environment.
    """
    if cache_dir is not None and os.fspath(cache_dir) != "":
        return Path(cache_dir).expanduser()
    from_env = os.environ.get(CACHE_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser()
    return default_cache_root()


__all__ = ["CACHE_ENV_VAR", "CACHE_FOLDER_NAME", "cache_root", "default_cache_root"]
