"""``results.json``: the benchmark's record of every run, written atomically and never truncated.

Layout::

    {"format": "progressgym-results", "version": 1, "runs": [<run>, ...]}

Each run holds ``agent``, ``agent_config``, ``challenge``, ``env_id``, ``kwargs``, ``seed``,
``history``, ``final_score``, ``normalized_score``, ``rewards`` and ``episode_record`` (every vector,
so the judges can recompute the scores). Integrity rules:

- every write goes through :func:`~progressgym_env.common.atomic.atomic_write_text` (a crash leaves the
  previous complete file, never a partial one);
- a second benchmark into the same folder *appends*; a run already present (same agent, challenge,
  seed and, for a saved SB3 model, the same ``model_sha256`` of the model file) is skipped, so
  re-running a command resumes it rather than duplicating runs, while a retrained model at the same
  path is run again (files written before ``model_sha256`` existed load as runs with no hash);
- a file that cannot be read as results (bad JSON, wrong format, malformed runs) raises
  :class:`ResultsFileError` and is left untouched;
- a lock (``results.json.lock``, ``fcntl.flock``) stops two processes from writing the same folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from progressgym_env.common.atomic import atomic_write_text
from progressgym_env.errors import ProgressGymError

RESULTS_FORMAT = "progressgym-results"
RESULTS_VERSION = 1
RESULTS_FILE = "results.json"
REQUIRED_RUN_KEYS = ("agent", "challenge", "env_id", "kwargs", "seed", "final_score", "episode_record")


class ResultsFileError(ProgressGymError, ValueError):
    """A results.json is corrupt or incompatible; it is reported and never overwritten."""


def run_key(run: dict[str, Any]) -> tuple[str, str, int, str]:
    """The identity of a run inside one results file: (agent, challenge, seed, model hash).

    The model hash is the sha256 of an SB3 agent's model file (``""`` for baselines and for runs
    saved before the hash was recorded), so a changed model under the same label is a new run.
    """
    return str(run["agent"]), str(run["challenge"]), int(run["seed"]), str(run.get("model_sha256") or "")


def load_results(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The runs stored in ``path`` (``[]`` if the file does not exist), validated.

    :raises ResultsFileError: the file exists but is not a valid results file.
    """
    path = Path(path)
    if not path.exists():
        return []
    hint = "It was left untouched: fix or move it aside, or write to another --out folder."
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsFileError(f"{path} is not readable JSON ({exc}). {hint}") from None
    if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ResultsFileError(f"{path}: expected a {RESULTS_FORMAT!r} object, found {found!r}. {hint}")
    if data.get("version") != RESULTS_VERSION:
        raise ResultsFileError(
            f"{path}: results version {data.get('version')!r}, this package reads version {RESULTS_VERSION}. {hint}"
        )
    runs = data.get("runs")
    if not isinstance(runs, list):
        raise ResultsFileError(f"{path}: 'runs' must be a list, found {type(runs).__name__}. {hint}")
    for index, run in enumerate(runs):
        missing = [k for k in REQUIRED_RUN_KEYS if not isinstance(run, dict) or k not in run]
        if missing:
            raise ResultsFileError(f"{path}: run {index} lacks {missing}. {hint}")
    return runs


def write_results(path: str | os.PathLike[str], runs: list[dict[str, Any]]) -> None:
    """Write ``runs`` atomically (the caller has loaded the previous runs and kept them)."""
    payload = {"format": RESULTS_FORMAT, "version": RESULTS_VERSION, "runs": runs}
    atomic_write_text(path, json.dumps(payload) + "\n")


@contextmanager
def folder_lock(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``folder``'s results while writing (released on exit or crash).

    :raises ResultsFileError: another process holds the lock.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / f"{RESULTS_FILE}.lock"
    with open(lock_path, "a+", encoding="utf-8") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX: no lock, atomic writes still hold
            yield
            return
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ResultsFileError(
                f"another process is writing benchmark results in {folder} (lock {lock_path} is held); "
                "wait for it to finish or use another --out folder"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
