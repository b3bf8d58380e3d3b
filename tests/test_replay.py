"""The llm timeline's journal replay (:class:`progressgym_env.llm.replay.Replay`): record, reopen, replay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from progressgym_env.llm.checkpoint import CheckpointMismatchError, EpisodeJournal
from progressgym_env.llm.replay import Replay

HEADER = {"episode": 0}


def _live(replay: Replay, rng: np.random.Generator, century: int) -> float:
    """A live call: draw a number, record it."""
    args = {"century": century, "action_sha256": "none"}
    entry = replay.replay("update_model", args)
    if entry is not None:
        return float(entry["result"]["model_values"][0])
    before = replay.rng_state()
    value = float(rng.random())
    replay.record("update_model", args, before, {"model_values": [value] * 19})
    return value


def test_a_recorded_call_replays_with_the_generator_restored(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    first = Replay()
    first.start(EpisodeJournal(tmp_path / "episode-0000", HEADER), rng)
    drawn = [_live(first, rng, c) for c in (1, 2)]
    after = rng.random()
    assert first.replayed_calls == 0 and first.journaled

    again_rng = np.random.default_rng(7)
    again = Replay()
    again.start(EpisodeJournal(tmp_path / "episode-0000", HEADER), again_rng)
    assert again.upcoming("update_model")["args"]["century"] == 1  # type: ignore[index]
    assert _live(again, again_rng, 1) == drawn[0]
    assert again.upcoming("update_model")["args"]["century"] == 2  # type: ignore[index]
    assert _live(again, again_rng, 2) == drawn[1]
    assert again.replayed_calls == 2 and again.upcoming("update_model") is None
    assert again_rng.random() == after  # the generator continues where the recorded run's did
    assert again.resolve("century-01/agent") == tmp_path / "episode-0000" / "century-01" / "agent"

    other = Replay()
    other.start(EpisodeJournal(tmp_path / "episode-0000", HEADER), np.random.default_rng(8))
    with pytest.raises(CheckpointMismatchError, match="generator"):
        other.replay("update_model", {"century": 1, "action_sha256": "none"})


def test_without_a_journal_every_call_is_live_and_nothing_is_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    replay = Replay()
    replay.start(None, rng)
    assert not replay.journaled and replay.adapter_dir(1, "agent") is None and replay.upcoming("update_model") is None
    assert _live(replay, rng, 1) == pytest.approx(np.random.default_rng(0).random())
    assert list(tmp_path.iterdir()) == []
