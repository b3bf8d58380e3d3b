"""What the package's parts share, one module per job (the ``stable_baselines3.common`` way).

- :mod:`~progressgym_env.common.atomic`: atomic file and folder writes (umask permissions, symlinks
  refused): :func:`atomic_write_text`, :func:`atomic_write_bytes`, :func:`atomic_path`,
  :func:`atomic_folder`;
- :mod:`~progressgym_env.common.cache`: the one cache root, ``$PROGRESSGYM_CACHE``: :func:`cache_root`;
- :mod:`~progressgym_env.common.paths`: path or hub id: :func:`looks_like_path`;
- :mod:`~progressgym_env.common.fingerprint`: SHA-256 cache keys: :func:`json_fingerprint`,
  :func:`array_fingerprint`, :func:`questions_fingerprint`, :func:`file_fingerprint`;
- :mod:`~progressgym_env.common.progress`: rich progress bars: :class:`ProgressBar`, :func:`track`;
- :mod:`~progressgym_env.common.signals`: SIGTERM cleans up as Ctrl-C does: :func:`terminate_as_interrupt`.

Only the standard library and numpy are imported here (rich only when a bar is drawn).
"""

from __future__ import annotations

from progressgym_env.common.atomic import (
    StagedFolder,
    SymlinkTargetError,
    atomic_folder,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
)
from progressgym_env.common.cache import CACHE_ENV_VAR, cache_root, default_cache_root
from progressgym_env.common.fingerprint import (
    array_fingerprint,
    file_fingerprint,
    json_fingerprint,
    questions_fingerprint,
)
from progressgym_env.common.paths import looks_like_path
from progressgym_env.common.progress import ProgressBar, track

__all__ = [
    "CACHE_ENV_VAR",
    "ProgressBar",
    "StagedFolder",
    "SymlinkTargetError",
    "array_fingerprint",
    "atomic_folder",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "cache_root",
    "default_cache_root",
    "file_fingerprint",
    "json_fingerprint",
    "looks_like_path",
    "questions_fingerprint",
    "track",
]
