"""``results.json``: the benchmark's record of every run, written atomically and never truncated.

Layout::

    {"format": "progressgym-results", "version": 1, "runs": [<run>, ...]}

Each run holds ``agent``, ``agent_config``, ``challenge``, ``env_id``, ``kwargs``, ``seed``,
``history``, ``final_score``, ``normalized_score``, ``rewards`` and ``episode_record`` (every vector,
so the judges can recompute the scores). Integrity rules:

- every write goes through :func:`~progressgym_env.common.atomic.atomic_write_text` (a crash leaves the
  previous complete file, never a partial one);
- a second benchmark into the same folder *appends*; a run already present (the same identity,
  :func:`run_key`: agent and its config, challenge, env kwargs with backend config and query budget,
  history, seed and, for a saved SB3 model, the ``model_sha256`` of the model file) is skipped, so
  re-running a command resumes it rather than duplicating runs, while other settings or a retrained
  model at the same path are run again and stored beside the old runs (files written before
  identities existed get theirs from their stored fields);
- a file that cannot be read as results raises :class:`ResultsFileError` and is left untouched
  (nothing is written into its folder): bad JSON, wrong format, a malformed run (a field of the wrong
  type: a float, bool or negative ``seed``, a non-finite score), two runs with the same key, a run
  whose challenge disagrees with its episode record, or a stored ``final_score`` / ``normalized_score``
  that differs by more than :data:`SCORE_TOLERANCE` from the judges' recomputation from the saved
  vectors (a hand-edited or tampered file);
- a lock (``results.json.lock``, a ``filelock.FileLock``) stops two processes from writing the same folder.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from progressgym_env.common.atomic import atomic_write_text
from progressgym_env.errors import ResultsFileError

RESULTS_FORMAT = "progressgym-results"
RESULTS_VERSION = 1
RESULTS_FILE = "results.json"
REQUIRED_RUN_KEYS = ("agent", "challenge", "env_id", "kwargs", "seed", "final_score", "episode_record",
                     "agent_config", "history", "normalized_score", "rewards")
SCORE_TOLERANCE = 1e-9
"""Largest difference allowed between a stored score and the judges' recomputation."""
_HEX64 = re.compile(r"^[0-9a-f]{64}$")




def run_key(run: dict[str, Any]) -> str:
    """The identity of a run: one canonical hash of everything that changes its numbers.

    See :func:`~progressgym_env.benchmark.identity.run_identity` (agent and agent config, challenge,
    env id and kwargs, history, seed, model hash, format versions); derived from the stored fields, so
    files written before identities existed get theirs the same way.
    """
    from progressgym_env.benchmark.identity import run_identity

    return run_identity(run)


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
    seen: dict[str, int] = {}
    for index, run in enumerate(runs):
        problem = run_problem(run)
        if problem:
            raise ResultsFileError(f"{path}: run {index} {problem}. {hint}")
        try:
            key = run_key(run)
        except TypeError as exc:
            raise ResultsFileError(f"{path}: run {index} has settings with no canonical form ({exc}). {hint}") from None
        if key in seen:
            sha = str(run.get("model_sha256") or "")
            raise ResultsFileError(
                f"{path}: runs {seen[key]} and {index} are the same run (agent {run['agent']!r}, challenge "
                f"{run['challenge']!r}, seed {run['seed']}{', model ' + sha[:12] if sha else ''}, the same settings): "
                f"a duplicated run. {hint}"
            )
        seen[key] = index
    return runs


def run_problem(run: Any) -> str:
    """What is wrong with one results.json run (``""`` if nothing): types, ranges, and its scores.

    The scores are recomputed from the episode record with the judges and compared with the stored
    ones (within :data:`SCORE_TOLERANCE`), so an edited number or vector is caught.
    """
    if not isinstance(run, dict):
        return f"is a {type(run).__name__}, not an object"
    missing = [k for k in REQUIRED_RUN_KEYS if k not in run]
    if missing:
        return f"lacks {missing}"
    for name in ("agent", "challenge", "env_id"):
        if not isinstance(run[name], str) or not run[name]:
            return f"has {name} {_short(run[name])}, not a non-empty string"
    seed = run["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        return f"has seed {_short(seed)}, not an int >= 0"
    if not isinstance(run["kwargs"], dict):
        return f"has kwargs {_short(run['kwargs'])}, not an object"
    sha = run.get("model_sha256")
    if sha not in (None, "") and (not isinstance(sha, str) or not _HEX64.match(sha)):
        return f"has model_sha256 {_short(sha)}, not a hex SHA-256"
    for name in ("final_score", "normalized_score"):
        if name not in run:
            continue
        value = run[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"has {name} {_short(value)}, not a finite number"
    if "rewards" in run and (not isinstance(run["rewards"], list) or not all(
            isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r) for r in run["rewards"])):
        return "has rewards that are not a list of finite numbers"
    return _score_problem(run)


def _score_problem(run: dict[str, Any]) -> str:
    from progressgym_env.benchmark.challenges import record_challenge_key
    from progressgym_env.judges import judge_for_record
    from progressgym_env.records import EpisodeRecord

    try:
        record = EpisodeRecord.from_dict(run["episode_record"])
        judge = judge_for_record(record)
        final = float(judge.final_score(record))
        normalized = float(judge.normalized_score(final))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        return f"has an episode_record the judges cannot score ({exc})"
    key = record_challenge_key(record)
    if key != run["challenge"]:
        return f"is labelled challenge {run['challenge']!r} but its episode record is a {key!r} episode"
    problem = _metadata_problem(run, record)
    if problem:
        return problem
    if "rewards" in run and not (len(run["rewards"]) == len(record.rewards) and all(
            abs(a - b) <= SCORE_TOLERANCE for a, b in zip(run["rewards"], record.rewards.tolist(), strict=True))):
        return "has rewards that differ from its episode record's"
    for name, recomputed in (("final_score", final), ("normalized_score", normalized)):
        if name in run and not abs(float(run[name]) - recomputed) <= SCORE_TOLERANCE:
            return (f"stores {name} {run[name]!r} but the judges recompute {recomputed!r} from its episode record "
                    "(edited or tampered)")
    return ""


def _metadata_problem(run: dict[str, Any], record: Any) -> str:
    """Cross-checks of the labels a run carries: env id, env kwargs, similarity, centuries, value space."""
    from progressgym_env.judges import SIMILARITIES
    from progressgym_env.registry import challenge_spec
    from progressgym_env.value_spaces import VALUE_SPACES, infer_value_space

    key = run["challenge"]
    expected = challenge_spec(record.challenge).env_id
    if run["env_id"] != expected:
        return f"has env_id {run['env_id']!r}, but a {key!r} run is made with {expected!r}"
    known = _env_kwargs_of(run["env_id"])
    unknown = sorted(set(run["kwargs"]) - known) if known else []
    if unknown:
        return f"has kwargs {unknown} that {run['env_id']} does not take"
    kwargs = run["kwargs"]
    if "history" in kwargs and "history" in run and kwargs["history"] != run["history"]:
        return f"was run on history {kwargs['history']!r} (its kwargs) but is filed under {run['history']!r}"
    backend = record.backend.get("backend")
    if "backend" in kwargs and backend is not None and kwargs["backend"] != backend:
        return f"has kwargs backend {kwargs['backend']!r} but its episode record ran on {backend!r}"
    if record.similarity not in SIMILARITIES or kwargs.get("similarity", record.similarity) != record.similarity:
        return f"has similarity {record.similarity!r} in its episode record, not one of {SIMILARITIES} (or not its kwargs')"
    centuries = list(record.centuries)
    if centuries and (len(centuries) != record.human.shape[0]
                      or any(b != a + 1 for a, b in itertools.pairwise(centuries))):
        return f"has episode record centuries {centuries}, not one per history row counting up by one"
    if record.value_space in VALUE_SPACES and list(VALUE_SPACES[record.value_space].dims) != list(record.dims):
        return f"has episode record dims {record.dims}, not those of its value space {record.value_space!r}"
    inferred = infer_value_space(record.dims).name if record.dims else ""
    if inferred in VALUE_SPACES and record.value_space != inferred:
        return f"has episode record value_space {record.value_space!r}, but its dims are those of {inferred!r}"
    return ""


def _env_kwargs_of(env_id: str) -> set[str]:
    """The kwargs the registered challenge ``env_id`` takes (empty if no challenge has that id): no env is built."""
    from progressgym_env.registry import challenge_specs
    from progressgym_env.validation import COMMON_KWARGS

    for spec in challenge_specs():
        if spec.env_id == env_id:
            return set(COMMON_KWARGS) | set(spec.judge_class.param_defaults)
    return set()


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def write_results(path: str | os.PathLike[str], runs: list[dict[str, Any]]) -> None:
    """Write ``runs`` atomically (the caller has loaded the previous runs and kept them)."""
    payload = {"format": RESULTS_FORMAT, "version": RESULTS_VERSION, "runs": runs}
    atomic_write_text(path, json.dumps(payload) + "\n")


@contextmanager
def folder_lock(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``folder``'s results while writing (released on exit or crash).

    The lock is ``filelock``'s: an OS lock on ``results.json.lock`` (``flock`` on POSIX, ``msvcrt`` on
    Windows), so the kernel drops it when the holder dies, however it dies. It is not waited for: a
    second writer is refused at once rather than queued behind a benchmark that may run for hours.

    :raises ResultsFileError: another process holds the lock, or the folder cannot be created or written
        (a file, a read-only place).
    """
    from filelock import FileLock, Timeout

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ResultsFileError(f"the output folder {folder} is a file, not a folder; choose another --out")
    lock_path = folder / f"{RESULTS_FILE}.lock"
    lock = FileLock(lock_path, timeout=0)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        raise ResultsFileError(
            f"another process is writing benchmark results in {folder} (lock {lock_path} is held); "
            "wait for it to finish or use another --out folder"
        ) from None
    except OSError as exc:
        raise ResultsFileError(
            f"cannot write benchmark results in {folder}: {exc.strerror or exc} ({exc.filename or lock_path}); "
            "choose a writable --out folder"
        ) from None
    try:
        yield
    finally:
        lock.release()
