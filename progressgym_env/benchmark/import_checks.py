"""Checks on ProgressGym-format result files before their runs are ranked: nothing in them is trusted.

:mod:`~progressgym_env.benchmark.interop` turns such files into leaderboard runs; this module checks
what it reads, one function per kind of input, each error naming the file, the field, what was
expected and what was found (:class:`~progressgym_env.benchmark.results.ResultsFileError`):

- :func:`read_result_file`: only a regular file is opened (a FIFO named ``x.json`` would block the
  reader forever, a device would never end): ``os.stat`` first, then opened non-blocking and checked
  again with ``fstat``; at most :data:`MAX_FILE_BYTES`; JSON nested at most :data:`MAX_DEPTH` levels
  (a clear error instead of a ``RecursionError``);
- :func:`checked_meta`: the ``progressgym_env`` block an export adds: an object; ``seed`` an int >= 0
  (``null`` is refused, not a traceback); ``challenge`` the one the vectors hold; ``history``,
  ``env_id`` strings; ``model_sha256`` a hex SHA-256; ``agent`` a label of the package's pattern;
- :func:`check_record_labels`: ``dims`` one unique name per value dimension (those of the built-in value
  space when they name one) and ``centuries`` consecutive ints, one per history row;
- :func:`agent_label`: the agent's name from the metadata, ProgressGym's ``examinee`` field, or the
  file name made label-safe;
- :func:`drop_duplicate_runs`: a run found in two files (same agent, challenge, seed and vectors) is
  counted once and reported (:class:`DuplicateRunWarning`); two *different* runs claiming one identity
  are refused.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from progressgym_env.benchmark.results import ResultsFileError

MAX_FILE_BYTES = 256 * 2**20
"""Largest result file read (a century-by-dims vector file is kilobytes; this bounds a hostile one)."""
MAX_DEPTH = 32
"""Deepest JSON nesting accepted (result files nest 4 levels)."""
MAX_LABEL_CHARS = 200
META_KEY = "progressgym_env"
"""The block of an exported result that carries this package's labels (as in :mod:`.interop`)."""
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_SETTINGS_SUFFIX = r"( \[[^\[\]\x00-\x1f\x7f]{1,200}\])?"
"""The ``agent [query_budget=64]`` suffix the leaderboard gives one agent's runs under several settings."""


class DuplicateRunWarning(UserWarning):
    """The same run was found in two result files; it is counted once."""


def read_result_file(path: Path) -> Any:
    """The JSON content of the regular file ``path``.

    :raises ResultsFileError: not a regular file (FIFO, socket, device, folder), too large, not UTF-8
        JSON, or nested deeper than :data:`MAX_DEPTH`.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ResultsFileError(f"{path} cannot be read ({exc.strerror or exc})") from None
    _require_regular(path, info.st_mode)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise ResultsFileError(f"{path} cannot be read ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        _require_regular(path, info.st_mode)  # swapped for a FIFO after the stat: still refused
        if info.st_size > MAX_FILE_BYTES:
            raise ResultsFileError(f"{path} is {info.st_size} bytes; a result file is at most {MAX_FILE_BYTES}")
        raw = handle.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise ResultsFileError(f"{path} grew past {MAX_FILE_BYTES} bytes while being read")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsFileError(f"{path} is not readable JSON ({exc})") from None
    except RecursionError:
        raise ResultsFileError(f"{path}: JSON nested too deeply (more than {MAX_DEPTH} levels)") from None
    depth = json_depth(data)
    if depth > MAX_DEPTH:
        raise ResultsFileError(f"{path}: JSON nested {depth} levels deep; a result file nests at most {MAX_DEPTH}")
    return data


def _require_regular(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a folder" if stat.S_ISDIR(mode) else
                "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "not a regular file")
        raise ResultsFileError(f"{path} is {kind}, not a regular file: only regular result files are read")


def json_depth(data: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0, ``[1]`` is 1), computed without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (list, dict)):
            depth += 1
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                return depth
            stack.extend((item, depth) for item in (value.values() if isinstance(value, dict) else value))
    return deepest


def _label_pattern() -> re.Pattern[str]:
    from progressgym_env.benchmark.runner import _LABEL  # the pattern of --agents labels

    return re.compile(_LABEL.pattern.rstrip("$") + _SETTINGS_SUFFIX + "$")


def check_label(label: Any, where: str, field: str = "agent") -> str:
    """``label`` if it is an agent label the package allows (``[A-Za-z0-9_.+-]+``, an optional settings suffix)."""
    if not isinstance(label, str) or len(label) > MAX_LABEL_CHARS or not _label_pattern().match(label):
        raise ResultsFileError(
            f"{where}: {field} {_short(label)} is not an agent label (letters, digits and _ . + -, at most "
            f"{MAX_LABEL_CHARS} characters)"
        )
    return label


def agent_label(meta: Mapping[str, Any], fields: Mapping[str, Any], where: str) -> str:
    """The run's agent: the metadata's ``agent``, ProgressGym's ``examinee``, else the file name made safe."""
    if meta.get("agent") not in (None, ""):
        return check_label(meta["agent"], where, f"{META_KEY}.agent")
    if fields.get("examinee") not in (None, ""):
        return check_label(fields["examinee"], where, "examinee")
    stem = re.sub(r"[^A-Za-z0-9_.+-]", "_", Path(where).stem)[:MAX_LABEL_CHARS]
    return stem or "imported"



def checked_meta(fields: Mapping[str, Any], challenge: str, where: str) -> Mapping[str, Any]:
    """The export metadata block of a result (``{}`` if it has none), its labels checked.

    :param challenge: the challenge the result's vectors hold (the metadata may not claim another).
    """
    meta = fields.get(META_KEY, {})
    if not isinstance(meta, Mapping):
        raise ResultsFileError(f"{where}: {META_KEY!r} must be an object, found {_short(meta)}")
    if "seed" in meta:
        check_seed(meta["seed"], where)
    if meta.get("challenge") not in (None, "") and meta["challenge"] != challenge:
        raise ResultsFileError(f"{where}: {META_KEY}.challenge {_short(meta['challenge'])} but the vectors hold a "
                               f"{challenge!r} result")
    for name in ("history", "env_id", "model_sha256"):
        if meta.get(name) is not None and not isinstance(meta[name], str):
            raise ResultsFileError(f"{where}: {META_KEY}.{name} must be a string, found {_short(meta[name])}")
    sha = meta.get("model_sha256")
    if sha and not _HEX64.match(sha):
        raise ResultsFileError(f"{where}: {META_KEY}.model_sha256 {_short(sha)} is not a hex SHA-256")
    return meta


def check_seed(seed: Any, where: str) -> int:
    """``seed`` if it is an int >= 0 (not a bool, a float or null)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ResultsFileError(f"{where}: {META_KEY}.seed must be an int >= 0, found {_short(seed)}")
    return seed


def check_record_labels(meta: Mapping[str, Any], width: int, rows: int, where: str) -> None:
    """``dims`` and ``centuries`` of the metadata against the vectors (``width`` dims, ``rows`` history rows)."""
    from progressgym_env.value_spaces import VALUE_SPACES

    dims = meta.get("dims")
    if dims is not None:
        if (not isinstance(dims, list) or not all(isinstance(d, str) and d for d in dims)
                or len(set(dims)) != len(dims)):
            raise ResultsFileError(f"{where}: {META_KEY}.dims must be a list of distinct non-empty names, found "
                                   f"{_short(dims)}")
        if len(dims) != width:
            raise ResultsFileError(f"{where}: {META_KEY}.dims names {len(dims)} dimensions but the vectors have {width}")
        for space in VALUE_SPACES.values():  # a built-in space's names label its dims in its own order
            if set(dims) == set(space.dims) and tuple(dims) != space.dims:
                raise ResultsFileError(f"{where}: {META_KEY}.dims are value space {space.name!r}'s names in another "
                                       "order than its own")
    centuries = meta.get("centuries")
    if centuries is not None:
        if (not isinstance(centuries, list) or not centuries
                or not all(isinstance(c, int) and not isinstance(c, bool) for c in centuries)):
            raise ResultsFileError(f"{where}: {META_KEY}.centuries must be a list of ints, found {_short(centuries)}")
        if any(b != a + 1 for a, b in zip(centuries, centuries[1:], strict=False)):
            raise ResultsFileError(f"{where}: {META_KEY}.centuries {_short(centuries)} do not count up by one")
        if rows and len(centuries) != rows:
            raise ResultsFileError(f"{where}: {META_KEY}.centuries has {len(centuries)} entries for a history of "
                                   f"{rows} centuries")


def named_in_file(result: Any) -> tuple[bool, bool]:
    """(seed, agent): whether a result file names its run's seed and agent itself.

    Otherwise the seed is the file's position and the agent its file name, and a copy of the file
    under another name must not become another seed or agent.
    """
    if not isinstance(result, Mapping):
        return False, False
    fields = dict(result)
    if isinstance(result.get("supplementary_data"), Mapping):
        fields.update(result["supplementary_data"])
    meta: Mapping[str, Any] = fields[META_KEY] if isinstance(fields.get(META_KEY), Mapping) else {}
    return "seed" in meta, meta.get("agent") not in (None, "") or fields.get("examinee") not in (None, "")


def content_key(run: Mapping[str, Any], seed_named: bool, agent_named: bool) -> str:
    """What makes two imported runs the same run: challenge, the vectors, and the seed and agent the file names."""
    from progressgym_env.benchmark.identity import canonical_hash

    result = run.get("progressgym_result") or {}
    fields = dict(result)
    if isinstance(result.get("supplementary_data"), Mapping):
        fields.update(result["supplementary_data"])
    vectors = {k: fields.get(k) for k in ("actual_vector", "examinee_vector", "simulated_model_vector",
                                          "actual_model_vector", "timesteps_ahead")}
    meta: Mapping[str, Any] = fields[META_KEY] if isinstance(fields.get(META_KEY), Mapping) else {}
    extra = {k: meta.get(k) for k in ("human", "model", "history", "model_sha256")}
    return canonical_hash({"agent": run["agent"] if agent_named else None, "challenge": run["challenge"],
                           "seed": run["seed"] if seed_named else None, "vectors": vectors, "meta": extra})


def drop_duplicate_runs(runs: Sequence[dict[str, Any]], named: Sequence[tuple[bool, bool]]) -> list[dict[str, Any]]:
    """``runs`` with each run counted once (later copies dropped and reported).

    :param named: per run, :func:`named_in_file` of its file.
    :raises ResultsFileError: two different runs claim the same agent, challenge and seed.
    """
    from progressgym_env.benchmark.identity import run_identity

    kept: list[dict[str, Any]] = []
    by_content: dict[str, dict[str, Any]] = {}
    by_identity: dict[str, dict[str, Any]] = {}
    dropped: list[str] = []
    for run, (seed_named, agent_named) in zip(runs, named, strict=True):
        key = content_key(run, seed_named, agent_named)
        if key in by_content:
            dropped.append(f"{run['source']} (= {by_content[key]['source']})")
            continue
        identity = run_identity(run)
        if identity in by_identity:
            first = by_identity[identity]
            raise ResultsFileError(
                f"{first['source']} and {run['source']} are different runs with the same agent {run['agent']!r}, "
                f"challenge {run['challenge']!r} and seed {run['seed']}: give each file its own "
                f"{META_KEY}.seed, or remove one"
            )
        by_content[key] = by_identity[identity] = run
        kept.append(run)
    if dropped:
        warnings.warn(f"the same run was found in more than one file, counted once: {'; '.join(dropped[:5])}"
                      + (f" and {len(dropped) - 5} more" if len(dropped) > 5 else ""), DuplicateRunWarning, stacklevel=3)
    return kept


def _short(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    try:
        text = json.dumps(value, default=str)
    except (ValueError, RecursionError):
        text = repr(type(value))
    return text if len(text) <= 60 else text[:57] + "..."


__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "DuplicateRunWarning",
    "agent_label",
    "check_label",
    "check_record_labels",
    "check_seed",
    "checked_meta",
    "content_key",
    "drop_duplicate_runs",
    "json_depth",
    "named_in_file",
    "read_result_file",
]
