"""Checkpoint and resume of ``llm`` episodes: a per-episode *journal* of backend calls.

How it works
------------
The env drives the backend through a fixed sequence of calls per episode: ``reset``, then per century
``update_model(action)``, in PG-Coevolve ``update_simulated_human(t)``, and ``elicit`` for the next
observation. Every random number the backend uses comes from the env's generator, so given the
generator's state before a call and the call's arguments, its outcome is determined.

With ``LLMConfig.run_dir`` set, the backend writes ``<run_dir>/episode-<k>/journal.json`` (episode
``k`` = the k-th ``reset`` of this backend) and appends one entry per call, atomically, right after the
call finishes:

- ``call`` and its arguments (century, a SHA-256 of the action's float32 bytes, respondent, budget);
- ``rng_before`` / ``rng_after``: ``rng.bit_generator.state`` around the call;
- the results: model or simulated-human vector, elicited estimate and query count;
- the LoRA adapters the call trained (``century-XX/agent``, ``century-XX/sim-history``,
  ``century-XX/sim-ai``), written before the entry that names them; and per-call timings.

The header records what the episode depends on: the config fingerprint (operational fields such as
``run_dir`` and ``device`` excluded), a SHA-256 of the history, whether a simulated human is kept, the
generator state at reset (i.e. the seed) and the starting vectors.

Re-running the same script with the same ``run_dir`` and seed *replays* the journal: each call is
checked against its entry (same call, arguments and generator state; anything else is a
:class:`CheckpointMismatchError`), the generator is set to ``rng_after`` and the recorded results are
returned, without loading or training any model. At the first call past the end of the journal the
backend rebuilds the models (base checkpoint + the recorded adapters merged in order) and continues
live, so an episode killed after century t resumes at century t + 1, redoes nothing, and ends with the
same record as an uninterrupted run (bit-identical on CPU).

Nothing read back is trusted: every entry is checked against the schema of its call (:data:`CALL_SCHEMAS`:
known call names, ints where ints are recorded, every value vector of length 19, finite and in [0, 1],
generator states that numpy accepts, relative adapter paths), the entries must hash to the
``entries_sha256`` written with them (any edit or damage, e.g. a digit of a generator state), the
derived ``record`` must agree with the entries, and every adapter folder must still hash to the
SHA-256 recorded when it was written (so a truncated or replaced adapter is caught before it is
merged into a model). Any failure is a :class:`~progressgym_env.errors.CheckpointError` naming the
journal file and the field, e.g. ``entries[3].result.model_values[4]``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

import numpy as np

from progressgym_env.common.atomic import atomic_write_text, is_temp_file
from progressgym_env.common.fingerprint import array_fingerprint, file_fingerprint, json_fingerprint
from progressgym_env.errors import CheckpointError
from progressgym_env.history import History
from progressgym_env.value_spaces import MORAL19

JOURNAL_FORMAT = "progressgym-llm-journal"
JOURNAL_VERSION = 1
JOURNAL_FILE = "journal.json"


class CheckpointMismatchError(CheckpointError):
    """A checkpoint was made by a different run (config, seed, history or actions differ)."""


def action_digest(action: np.ndarray) -> str:
    """SHA-256 of an action's float32 bytes (what the journal compares actions by)."""
    return array_fingerprint(action, np.float32)


def history_digest(history: History) -> str:
    """SHA-256 of a history's values, centuries and dims."""
    return array_fingerprint(history.values, np.float64, extra=[list(history.centuries), list(history.dims)])


def folder_digest(folder: str | Path) -> str:
    """SHA-256 over a folder's files (relative names and contents, sorted by name): a saved model's identity."""
    root = Path(folder)
    files = sorted(p for p in root.rglob("*") if p.is_file() and not is_temp_file(p))
    return json_fingerprint([[str(p.relative_to(root)), file_fingerprint(p)] for p in files])


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """The generator's state as plain JSON data."""
    return json.loads(json.dumps(rng.bit_generator.state))


class EpisodeJournal:
    """The checkpoint of one episode (see the module docstring).

    :param folder: ``<run_dir>/episode-<k>``.
    :param header: what the episode depends on (compared with a saved journal's header).
    :raises CheckpointError: an existing journal is corrupt.
    :raises CheckpointMismatchError: an existing journal was made with another config, seed or history.
    """

    def __init__(self, folder: str | Path, header: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / JOURNAL_FILE
        self.header = json.loads(json.dumps(header))
        self.entries: list[dict[str, Any]] = []
        self.cursor = 0
        if self.path.exists():
            self.entries = self._load()
        else:
            self._write()

    # -- reading --------------------------------------------------------------------------------

    def _load(self) -> list[dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(
                f"checkpoint {self.path} is corrupt ({exc}); delete {self.folder} to restart this episode"
            ) from None
        if not isinstance(data, dict) or data.get("format") != JOURNAL_FORMAT:
            raise CheckpointError(f"{self.path} is not a progressgym llm checkpoint (format {JOURNAL_FORMAT!r})")
        if data.get("version") != JOURNAL_VERSION:
            raise CheckpointError(f"{self.path}: unsupported checkpoint version {data.get('version')!r}")
        entries = data.get("entries")
        saved = data.get("header")
        if not isinstance(entries, list) or not isinstance(saved, dict):
            raise CheckpointError(f"checkpoint {self.path} is corrupt: 'header' or 'entries' missing")
        unknown = sorted(set(data) - _FILE_KEYS)
        if unknown:
            raise CheckpointError(f"checkpoint {self.path} is corrupt: unknown fields {unknown}")
        for name, value in self.header.items():
            if saved.get(name) != value:
                raise CheckpointMismatchError(
                    f"checkpoint {self.path} was made by a different run: its {name!r} differs "
                    f"({_short(saved.get(name))} vs now {_short(value)}). Use another run_dir, or delete "
                    f"{self.folder} to start this episode over"
                )
        for i, entry in enumerate(entries):
            validate_entry(entry, f"checkpoint {self.path}: entries[{i}]")
        digest = data.get("entries_sha256")
        if digest is not None and (not isinstance(digest, str) or digest != json_fingerprint(entries)):
            raise CheckpointError(
                f"checkpoint {self.path} is corrupt: its entries do not match the entries_sha256 recorded when it "
                f"was written (edited or damaged on disk); delete {self.folder} to start this episode over"
            )
        if "record" in data and data["record"] != _record_of(entries):
            raise CheckpointError(
                f"checkpoint {self.path} is corrupt: its 'record' disagrees with its 'entries' (edited by hand?); "
                f"delete {self.folder} to start this episode over"
            )
        for i, entry in enumerate(entries):
            hashed = {artifact["path"] for artifact in entry.get("artifacts", [])}
            for rel in entry.get("adapters", []):
                if rel not in hashed:
                    raise CheckpointError(
                        f"checkpoint {self.path}: entries[{i}].adapters names {rel!r} without a recorded sha256 in "
                        f"entries[{i}].artifacts, so it cannot be verified; delete {self.folder} to start it over"
                    )
                if not (self.folder / rel / "adapter_config.json").is_file():
                    raise CheckpointError(
                        f"checkpoint {self.path} is corrupt: entry {i} names adapter {self.folder / rel}, which is "
                        "missing or incomplete; delete the episode folder to start it over"
                    )
            for j, artifact in enumerate(entry.get("artifacts", [])):
                folder = self.folder / artifact["path"]
                if not folder.is_dir() or folder_digest(folder) != artifact["sha256"]:
                    raise CheckpointError(
                        f"checkpoint {self.path} is corrupt: entries[{i}].artifacts[{j}] names {folder}, which is "
                        "missing or whose files differ from the recorded sha256 (truncated, replaced or edited); "
                        "delete the episode folder to start it over"
                    )
        return entries

    @property
    def replaying(self) -> bool:
        """Whether recorded calls remain to be replayed."""
        return self.cursor < len(self.entries)

    def replay(self, call: str, args: dict[str, Any], rng: np.random.Generator) -> dict[str, Any] | None:
        """Return the recorded entry of this call and restore the generator, or None past the journal.

        :raises CheckpointMismatchError: the call, its arguments or the generator state differ from the
            recording (e.g. the agent chose another action).
        """
        if not self.replaying:
            return None
        entry = self.entries[self.cursor]
        args = json.loads(json.dumps(args))
        if entry["call"] != call or entry["args"] != args:
            raise CheckpointMismatchError(
                f"checkpoint {self.path}, entry {self.cursor}: recorded {entry['call']}({entry['args']}) but the run "
                f"now calls {call}({args}); the agent or seed differs from the checkpointed run. Use another "
                f"run_dir, or delete {self.folder}"
            )
        if entry["rng_before"] != rng_state(rng):
            raise CheckpointMismatchError(
                f"checkpoint {self.path}, entry {self.cursor} ({call}): the env generator's state differs from the "
                "recording (different seed, or random draws outside the backend); use another run_dir"
            )
        rng.bit_generator.state = entry["rng_after"]
        self.cursor += 1
        return entry

    # -- writing --------------------------------------------------------------------------------

    def adapter_dir(self, century: int, role: str) -> Path:
        """Folder for an adapter trained at ``century`` index by ``role`` (agent, sim-history, sim-ai)."""
        return self.folder / f"century-{century:02d}" / role

    def relative(self, path: Path) -> str:
        """``path`` relative to the episode folder (as stored in entries)."""
        return str(path.relative_to(self.folder))

    def append(
        self,
        call: str,
        args: dict[str, Any],
        rng_before: dict[str, Any],
        rng: np.random.Generator,
        result: dict[str, Any],
        adapters: list[str] | None = None,
        timings: dict[str, float] | None = None,
        artifacts: list[str] | None = None,
    ) -> None:
        """Record a live call (after its adapters are on disk) and rewrite the journal atomically.

        :param artifacts: folders (relative to the episode folder) whose content is recorded by
            :func:`folder_digest` and verified whenever the journal is loaded (an examinee's models).
        """
        if self.replaying:
            raise CheckpointError("cannot append to a journal that still has calls to replay")
        # Every adapter is hashed as it is recorded, so a resume merges exactly the files trained here.
        artifacts = list(dict.fromkeys([*(adapters or []), *(artifacts or [])]))
        self.entries.append(
            {
                "call": call,
                "args": args,
                "rng_before": rng_before,
                "rng_after": rng_state(rng),
                "result": result,
                "adapters": list(adapters or []),
                "timings": dict(timings or {}),
                **({"artifacts": [{"path": rel, "sha256": folder_digest(self.folder / rel)} for rel in artifacts]}
                   if artifacts else {}),
            }
        )
        self.cursor = len(self.entries)
        self._write()

    def record(self) -> dict[str, Any]:
        """The episode so far, from the entries: actions' digests, model and simulated vectors, estimates."""
        return _record_of(self.entries)

    def _write(self) -> None:
        data = {
            "format": JOURNAL_FORMAT,
            "version": JOURNAL_VERSION,
            "header": self.header,
            "entries": self.entries,
            "entries_sha256": json_fingerprint(self.entries),
            "record": self.record(),
        }
        atomic_write_text(self.path, json.dumps(data) + "\n")


def _record_of(entries: list[dict[str, Any]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"model": [], "simulated": [], "elicited": [], "action_sha256": []}
    for e in entries:
        if e["call"] == "update_model":
            out["model"].append(e["result"]["model_values"])
            out["action_sha256"].append(e["args"]["action_sha256"])
        elif e["call"] == "update_simulated_human":
            out["simulated"].append(e["result"]["simulated_values"])
        elif e["call"] == "elicit":
            out["elicited"].append(e["result"]["estimate"])
    return out


# ---------------------------------------------------------------------------------------------
# The entry schema

MAX_CENTURY = 10_000
"""Largest century index a journal may name (histories are a handful of centuries long)."""

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_RESPONDENTS = ("history", "simulated")
_EXAMINEE_KINDS = ("none", "object", "adapter", "model")
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")
_FILE_KEYS = {"format", "version", "header", "entries", "entries_sha256", "record"}
_ENTRY_KEYS = {"call", "args", "rng_before", "rng_after", "result", "adapters", "timings", "artifacts"}

CALL_SCHEMAS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "update_model": ({"century": "century", "action_sha256": "digest"}, {"model_values": "values"}),
    "update_simulated_human": ({"century": "century"}, {"simulated_values": "values"}),
    "elicit": ({"respondent": "respondent", "century": "century", "budget": "count"},
               {"estimate": "values", "queries": "count"}),
    "judge_pairs": ({"respondent": "respondent", "century": "century", "pairs": "count"},
                    {"first_chosen": "bits", "p_first": "probs"}),
    "query_human": ({"century": "century", "simulated": "bool", "questions_sha256": "digest"},
                    {"probs": "prob_lists"}),
    "generate_human": ({"century": "century", "simulated": "bool", "prompts_sha256": "digest",
                        "max_new_tokens": "count"}, {"texts": "texts"}),
}
"""Per call: the kind of every argument and of every result field a journal entry must hold.

Kinds: ``century`` an int in [0, MAX_CENTURY]; ``count`` an int >= 0; ``digest`` a SHA-256 in hex (or
``"none"``: an examinee's empty update); ``respondent`` ``history`` or ``simulated``; ``bool``;
``values`` 19 finite numbers in [0, 1] (a moral19 vector); ``probs`` finite numbers in [0, 1];
``bits`` 0/1 ints; ``prob_lists`` a list of ``probs``; ``texts`` a list of strings. Result fields not
listed are ignored.
"""


def validate_entry(entry: Any, where: str) -> None:
    """Check one journal entry against :data:`CALL_SCHEMAS`.

    :param entry: the decoded JSON entry.
    :param where: the file and entry for messages (``"checkpoint <path>: entries[3]"``).
    :raises CheckpointError: naming the first field that is missing, of the wrong type or out of range.
    """
    if not isinstance(entry, dict):
        _fail(where, f"is a {type(entry).__name__}, not an object")
    missing = [k for k in ("call", "args", "rng_before", "rng_after", "result") if k not in entry]
    if missing:
        _fail(where, f"lacks {missing}")
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        _fail(where, f"has unknown fields {unknown}")
    call = entry["call"]
    if not isinstance(call, str) or call not in CALL_SCHEMAS:
        _fail(f"{where}.call", f"is {_short(call)}, not one of {sorted(CALL_SCHEMAS)}")
    arg_kinds, result_kinds = CALL_SCHEMAS[call]
    for part, kinds in (("args", arg_kinds), ("result", result_kinds)):
        data = entry[part]
        if not isinstance(data, dict):
            _fail(f"{where}.{part}", f"is a {type(data).__name__}, not an object")
        for name, kind in kinds.items():
            if name not in data:
                _fail(f"{where}.{part}", f"lacks {name!r} (a {call} entry records {sorted(kinds)})")
            _check_kind(data[name], kind, f"{where}.{part}.{name}")
        if part == "args" and set(data) != set(kinds):
            _fail(f"{where}.args", f"has fields {sorted(data)}, a {call} entry records {sorted(kinds)}")
    if call == "judge_pairs":
        pairs = entry["args"]["pairs"]
        for name in ("first_chosen", "p_first"):
            if len(entry["result"][name]) != pairs:
                _fail(f"{where}.result.{name}", f"has {len(entry['result'][name])} entries for {pairs} pairs")
    if "examinee" in entry["result"]:
        _check_examinee(entry["result"]["examinee"], f"{where}.result.examinee")
    for name in ("rng_before", "rng_after"):
        _check_rng(entry[name], f"{where}.{name}")
    adapters = entry.get("adapters", [])
    if not isinstance(adapters, list):
        _fail(f"{where}.adapters", f"is a {type(adapters).__name__}, not a list")
    for j, rel in enumerate(adapters):
        _check_relative(rel, f"{where}.adapters[{j}]")
    timings = entry.get("timings", {})
    if not isinstance(timings, dict):
        _fail(f"{where}.timings", f"is a {type(timings).__name__}, not an object")
    for name, value in timings.items():
        if not _is_real(value) or not math.isfinite(value) or value < 0:
            _fail(f"{where}.timings.{name}", f"is {_short(value)}, not a finite number >= 0")
    artifacts = entry.get("artifacts", [])
    if not isinstance(artifacts, list):
        _fail(f"{where}.artifacts", f"is a {type(artifacts).__name__}, not a list")
    for j, artifact in enumerate(artifacts):
        if not isinstance(artifact, dict) or set(artifact) != {"path", "sha256"}:
            _fail(f"{where}.artifacts[{j}]", f"is {_short(artifact)}, not {{'path': ..., 'sha256': ...}}")
        _check_relative(artifact["path"], f"{where}.artifacts[{j}].path")
        _check_kind(artifact["sha256"], "digest", f"{where}.artifacts[{j}].sha256")


def _fail(field_name: str, problem: str) -> NoReturn:
    raise CheckpointError(
        f"{field_name} {problem}: the journal is corrupt or was edited; delete the episode folder to start "
        "that episode over"
    )


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_kind(value: Any, kind: str, where: str) -> None:
    if kind == "century":
        if not _is_int(value) or not 0 <= value <= MAX_CENTURY:
            _fail(where, f"is {_short(value)}, not an int in [0, {MAX_CENTURY}]")
    elif kind == "count":
        if not _is_int(value) or value < 0:
            _fail(where, f"is {_short(value)}, not an int >= 0")
    elif kind == "digest":
        if not isinstance(value, str) or not (value == "none" or _HEX64.match(value)):
            _fail(where, f"is {_short(value)}, not a hex SHA-256")
    elif kind == "respondent":
        if value not in _RESPONDENTS:
            _fail(where, f"is {_short(value)}, not one of {list(_RESPONDENTS)}")
    elif kind == "bool":
        if not isinstance(value, bool):
            _fail(where, f"is {_short(value)}, not true or false")
    elif kind == "bits":
        if not isinstance(value, list) or not all(_is_int(v) and v in (0, 1) for v in value):
            _fail(where, f"is {_short(value)}, not a list of 0/1")
    elif kind in ("values", "probs"):
        _check_probs(value, where, MORAL19.dim if kind == "values" else None)
    elif kind == "prob_lists":
        if not isinstance(value, list):
            _fail(where, f"is a {type(value).__name__}, not a list")
        for j, item in enumerate(value):
            _check_probs(item, f"{where}[{j}]", None)
    elif kind == "texts":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            _fail(where, f"is {_short(value)}, not a list of strings")
    else:  # pragma: no cover - a schema typo
        raise AssertionError(f"unknown schema kind {kind!r}")


def _check_probs(value: Any, where: str, length: int | None) -> None:
    if not isinstance(value, list):
        _fail(where, f"is a {type(value).__name__}, not a list of numbers")
    if length is not None and len(value) != length:
        _fail(where, f"has {len(value)} entries, not {length} (one per moral19 dim)")
    for k, v in enumerate(value):
        if not _is_real(v):
            _fail(f"{where}[{k}]", f"is {_short(v)}, not a number")
        if not math.isfinite(v) or not 0.0 <= v <= 1.0:
            _fail(f"{where}[{k}]", f"is {v!r}, outside [0, 1]")


def _check_examinee(value: Any, where: str) -> None:
    if not isinstance(value, dict) or not {"kind", "base", "path"} <= set(value):
        _fail(where, f"is {_short(value)}, not {{'kind', 'base', 'path'}}")
    if value["kind"] not in _EXAMINEE_KINDS:
        _fail(f"{where}.kind", f"is {_short(value['kind'])}, not one of {list(_EXAMINEE_KINDS)}")
    if not isinstance(value["base"], str):
        _fail(f"{where}.base", f"is {_short(value['base'])}, not a string")
    if value["path"] != "":
        _check_relative(value["path"], f"{where}.path")


def _check_relative(value: Any, where: str) -> None:
    """A folder inside the episode folder: a relative path without ``..``."""
    if not isinstance(value, str) or not value:
        _fail(where, f"is {_short(value)}, not a relative path")
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or "\\" in value:
        _fail(where, f"is {value!r}, which leaves the episode folder")


def _check_rng(value: Any, where: str) -> None:
    """A generator state numpy accepts (so replay can restore it)."""
    if not isinstance(value, dict) or value.get("bit_generator") not in _BIT_GENERATORS:
        _fail(where, f"is {_short(value)}, not a numpy bit-generator state")
    try:
        getattr(np.random, value["bit_generator"])().state = value
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        _fail(where, f"is not a valid {value['bit_generator']} state ({exc})")


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
