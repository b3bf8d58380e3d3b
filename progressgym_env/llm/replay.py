"""Journal replay for the ``llm`` timeline: answer a call from the checkpoint, or record a live one.

Every call of the timeline that draws random numbers or trains follows the same shape::

    entry = replay.replay(call, args)          # the recorded outcome (generator restored), or None
    if entry is None:
        before = replay.rng_state()            # the generator before the live draws
        ... compute the outcome ...
        replay.record(call, args, before, result, adapters, timings)

:class:`Replay` owns the episode's :class:`~progressgym_env.llm.checkpoint.EpisodeJournal` (or none
without ``run_dir``) and the generator it restores; it knows nothing of models or training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from progressgym_env.llm.checkpoint import EpisodeJournal, rng_state


class Replay:
    """Replay of recorded calls and recording of live ones for one episode at a time (see the module docstring)."""

    def __init__(self) -> None:
        self._journal: EpisodeJournal | None = None
        self._rng: np.random.Generator | None = None
        self.replayed_calls = 0
        """Calls answered from a journal over the backend's life."""

    def start(self, journal: EpisodeJournal | None, rng: np.random.Generator) -> None:
        """A new episode: replay and record through ``journal`` (None: nothing is checkpointed)."""
        self._journal = journal
        self._rng = rng

    @property
    def journaled(self) -> bool:
        """Whether this episode is checkpointed."""
        return self._journal is not None

    def rng_state(self) -> dict[str, Any]:
        """The episode generator's state now (taken before a live call's draws)."""
        assert self._rng is not None, "Replay.start() first"
        return rng_state(self._rng)

    def replay(self, call: str, args: dict[str, Any]) -> dict[str, Any] | None:
        """The recorded entry of this call (the generator set to its state after it), or None: run it live.

        :raises CheckpointMismatchError: the recording holds another call, arguments or generator state.
        """
        if self._journal is None:
            return None
        assert self._rng is not None
        entry = self._journal.replay(call, args, self._rng)
        if entry is not None:
            self.replayed_calls += 1
        return entry

    def record(
        self,
        call: str,
        args: dict[str, Any],
        rng_before: dict[str, Any],
        result: dict[str, Any],
        adapters: list[str] | None = None,
        timings: dict[str, float] | None = None,
        artifacts: list[str] | None = None,
    ) -> None:
        """Append a live call to the journal (nothing without one); see :meth:`EpisodeJournal.append`."""
        if self._journal is not None:
            assert self._rng is not None
            self._journal.append(call, args, rng_before, self._rng, result, adapters, timings, artifacts=artifacts)

    # -- files of the episode folder -------------------------------------------------------------

    def adapter_dir(self, century: int, role: str) -> Path | None:
        """Where a live call at ``century`` writes ``role``'s files (None: not checkpointed)."""
        return self._journal.adapter_dir(century, role) if self._journal is not None else None

    def relative(self, path: Path) -> str:
        """``path`` as a journal entry names it (relative to the episode folder)."""
        assert self._journal is not None
        return self._journal.relative(path)

    def resolve(self, rel: str) -> Path:
        """The folder a journal entry names."""
        assert self._journal is not None
        return self._journal.folder / rel

    def upcoming(self, call: str) -> dict[str, Any] | None:
        """The next recorded entry of ``call`` not yet replayed (None: none, or not checkpointed)."""
        if self._journal is None:
            return None
        journal = self._journal
        return next((e for e in journal.entries[journal.cursor :] if e["call"] == call), None)
