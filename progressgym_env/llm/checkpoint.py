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
same record as an uninterrupted run (bit-identical on CPU). A journal that cannot be parsed, or that
names an adapter folder that is missing, is a :class:`CheckpointError`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from progressgym_env.common.atomic import atomic_write_text
from progressgym_env.common.fingerprint import array_fingerprint
from progressgym_env.errors import ProgressGymError
from progressgym_env.history import History

JOURNAL_FORMAT = "progressgym-llm-journal"
JOURNAL_VERSION = 1
JOURNAL_FILE = "journal.json"


class CheckpointError(ProgressGymError, ValueError):
    """A checkpoint journal is corrupt (unreadable, malformed, or missing the adapters it names)."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint was made by a different run (config, seed, history or actions differ)."""


def action_digest(action: np.ndarray) -> str:
    """SHA-256 of an action's float32 bytes (what the journal compares actions by)."""
    return array_fingerprint(action, np.float32)


def history_digest(history: History) -> str:
    """SHA-256 of a history's values, centuries and dims."""
    return array_fingerprint(history.values, np.float64, extra=[list(history.centuries), list(history.dims)])


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
        for name, value in self.header.items():
            if saved.get(name) != value:
                raise CheckpointMismatchError(
                    f"checkpoint {self.path} was made by a different run: its {name!r} differs "
                    f"({_short(saved.get(name))} vs now {_short(value)}). Use another run_dir, or delete "
                    f"{self.folder} to start this episode over"
                )
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not {"call", "args", "rng_before", "rng_after", "result"} <= set(entry):
                raise CheckpointError(f"checkpoint {self.path} is corrupt: entry {i} is malformed")
            for rel in entry.get("adapters", []):
                if not (self.folder / rel / "adapter_config.json").is_file():
                    raise CheckpointError(
                        f"checkpoint {self.path} is corrupt: entry {i} names adapter {self.folder / rel}, which is "
                        "missing or incomplete; delete the episode folder to start it over"
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
    ) -> None:
        """Record a live call (after its adapters are on disk) and rewrite the journal atomically."""
        if self.replaying:
            raise CheckpointError("cannot append to a journal that still has calls to replay")
        self.entries.append(
            {
                "call": call,
                "args": args,
                "rng_before": rng_before,
                "rng_after": rng_state(rng),
                "result": result,
                "adapters": list(adapters or []),
                "timings": dict(timings or {}),
            }
        )
        self.cursor = len(self.entries)
        self._write()

    def record(self) -> dict[str, Any]:
        """The episode so far, from the entries: actions' digests, model and simulated vectors, estimates."""
        out: dict[str, list[Any]] = {"model": [], "simulated": [], "elicited": [], "action_sha256": []}
        for e in self.entries:
            if e["call"] == "update_model":
                out["model"].append(e["result"]["model_values"])
                out["action_sha256"].append(e["args"]["action_sha256"])
            elif e["call"] == "update_simulated_human":
                out["simulated"].append(e["result"]["simulated_values"])
            elif e["call"] == "elicit":
                out["elicited"].append(e["result"]["estimate"])
        return out

    def _write(self) -> None:
        data = {
            "format": JOURNAL_FORMAT,
            "version": JOURNAL_VERSION,
            "header": self.header,
            "entries": self.entries,
            "record": self.record(),
        }
        atomic_write_text(self.path, json.dumps(data) + "\n")


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
