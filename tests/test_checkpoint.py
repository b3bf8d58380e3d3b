"""The llm episode journal read back strictly: schema, derived record and adapter hashes.

Most tests build a journal directly (no model is trained: an "adapter" is a folder of bytes), so they
take milliseconds; one saves a real LoRA adapter of the tiny Llama (``tests/llm_fixtures.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llm_fixtures import tiny_model_dir  # noqa: F401

from progressgym_env.common.fingerprint import json_fingerprint
from progressgym_env.errors import CheckpointError, ProgressGymError
from progressgym_env.llm.checkpoint import (
    JOURNAL_FILE,
    CheckpointMismatchError,
    EpisodeJournal,
    action_digest,
    rng_state,
)

HEADER = {"config_fingerprint": "abc", "episode": 1}


def fake_adapter(folder: Path, payload: bytes = b"\x00" * 64) -> None:
    """A folder shaped like a PEFT adapter (config + weights file)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text('{"r": 2}', encoding="utf-8")
    (folder / "adapter_model.safetensors").write_bytes(payload)


def write_journal(folder: Path) -> EpisodeJournal:
    """A journal of reset's elicit and one century (an update with an adapter, then an elicit)."""
    rng = np.random.default_rng(3)
    journal = EpisodeJournal(folder, HEADER)
    values = np.linspace(0.1, 0.9, 19)
    before = rng_state(rng)
    rng.random(3)
    journal.append("elicit", {"respondent": "history", "century": 0, "budget": 38}, before, rng,
                   {"estimate": values.tolist(), "queries": 38})
    adapter = journal.adapter_dir(1, "agent")
    fake_adapter(adapter)
    before = rng_state(rng)
    rng.random(2)
    journal.append("update_model", {"century": 1, "action_sha256": action_digest(np.ones(19))}, before, rng,
                   {"model_values": values[::-1].tolist()}, [journal.relative(adapter)], {"dpo_s": 0.5})
    before = rng_state(rng)
    journal.append("elicit", {"respondent": "history", "century": 1, "budget": 38}, before, rng,
                   {"estimate": values.tolist(), "queries": 38})
    return journal


def edit(folder: Path, change: Any, resign: bool = True) -> None:
    """Apply ``change(data)`` to the journal file, by default re-computing its ``entries_sha256``.

    Re-signing stands for a deliberate, consistent edit, so each check behind the checksum is exercised.
    """
    path = folder / JOURNAL_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    if resign and isinstance(data.get("entries"), list):
        data["entries_sha256"] = json_fingerprint(data["entries"])
    path.write_text(json.dumps(data), encoding="utf-8")


def test_a_valid_journal_replays(tmp_path: Path) -> None:
    write_journal(tmp_path)
    journal = EpisodeJournal(tmp_path, HEADER)
    assert len(journal.entries) == 3 and journal.replaying
    entry = journal.entries[1]
    assert entry["artifacts"] == [{"path": "century-01/agent", "sha256": entry["artifacts"][0]["sha256"]}]
    rng = np.random.default_rng(3)
    assert journal.replay("elicit", {"respondent": "history", "century": 0, "budget": 38}, rng) is not None
    assert rng_state(rng) == journal.entries[0]["rng_after"]


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        (lambda d: d["entries"][1]["result"]["model_values"].__setitem__(4, 7.5),
         r"entries\[1\]\.result\.model_values\[4\]", "outside"),
        (lambda d: d["entries"][1]["result"]["model_values"].__setitem__(0, "0.5"),
         r"entries\[1\]\.result\.model_values\[0\]", "not a number"),
        (lambda d: d["entries"][1]["result"]["model_values"].pop(),
         r"entries\[1\]\.result\.model_values", "18 entries, not 19"),
        (lambda d: d["entries"][0]["result"].__setitem__("estimate", [float("nan")] * 19),
         r"entries\[0\]\.result\.estimate\[0\]", "outside"),
        (lambda d: d["entries"][0]["args"].__setitem__("century", 0.0),
         r"entries\[0\]\.args\.century", "not an int"),
        (lambda d: d["entries"][0]["args"].__setitem__("budget", True),
         r"entries\[0\]\.args\.budget", "not an int"),
        (lambda d: d["entries"][0]["result"].__setitem__("queries", -1),
         r"entries\[0\]\.result\.queries", "not an int >= 0"),
        (lambda d: d["entries"][0].__setitem__("call", "train"), r"entries\[0\]\.call", "not one of"),
        (lambda d: d["entries"][1]["result"].pop("model_values"), r"entries\[1\]\.result", "lacks 'model_values'"),
        (lambda d: d["entries"][1]["args"].__setitem__("action_sha256", "xyz"),
         r"entries\[1\]\.args\.action_sha256", "not a hex SHA-256"),
        (lambda d: d["entries"][1]["rng_after"]["state"].__setitem__("state", "big"),
         r"entries\[1\]\.rng_after", "not a valid PCG64 state"),
        (lambda d: d["entries"][1]["rng_after"].__setitem__("bit_generator", "Evil"),
         r"entries\[1\]\.rng_after", "bit-generator state"),
        (lambda d: d["entries"][1].__setitem__("adapters", ["../../elsewhere"]),
         r"entries\[1\]\.adapters\[0\]", "leaves the episode folder"),
        (lambda d: d["entries"][1]["timings"].__setitem__("dpo_s", float("inf")),
         r"entries\[1\]\.timings\.dpo_s", "finite"),
        (lambda d: d["entries"].__setitem__(2, [1, 2]), r"entries\[2\]", "not an object"),
        (lambda d: d["entries"][1].pop("artifacts"), r"entries\[1\]\.adapters", "without a recorded sha256"),
        (lambda d: d["record"]["model"][0].__setitem__(0, 0.5), "'record'", "disagrees"),
    ],
)
def test_a_tampered_journal_is_a_checkpoint_error_naming_file_and_field(
    tmp_path: Path, change: Any, field: str, problem: str
) -> None:
    write_journal(tmp_path)
    edit(tmp_path, change)
    with pytest.raises(CheckpointError, match=field) as caught:
        EpisodeJournal(tmp_path, HEADER)
    assert problem in str(caught.value) and str(tmp_path / JOURNAL_FILE) in str(caught.value)
    assert isinstance(caught.value, ProgressGymError) and isinstance(caught.value, ValueError)


def test_an_edit_of_any_recorded_number_breaks_the_checksum(tmp_path: Path) -> None:
    """A plausible value (0.5 -> 0.6, a digit of a generator state) passes the schema but not the checksum."""
    write_journal(tmp_path)
    edit(tmp_path, lambda d: d["entries"][1]["result"]["model_values"].__setitem__(0, 0.6), resign=False)
    with pytest.raises(CheckpointError, match="do not match the entries_sha256 recorded when it was written"):
        EpisodeJournal(tmp_path, HEADER)
    write_journal(tmp_path / "b")
    edit(tmp_path / "b", lambda d: d["entries"][2]["rng_after"]["state"].__setitem__(
        "state", d["entries"][2]["rng_after"]["state"]["state"] + 1), resign=False)
    with pytest.raises(CheckpointError, match="entries_sha256"):
        EpisodeJournal(tmp_path / "b", HEADER)
    edit(tmp_path / "b", lambda d: d.__setitem__("entries_sha25X", d.pop("entries_sha256")), resign=False)
    with pytest.raises(CheckpointError, match=r"unknown fields \['entries_sha25X'\]"):
        EpisodeJournal(tmp_path / "b", HEADER)


def test_a_truncated_or_replaced_adapter_stops_the_resume(tmp_path: Path) -> None:
    write_journal(tmp_path)
    weights = tmp_path / "century-01" / "agent" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:10])  # truncated
    with pytest.raises(CheckpointError, match=r"entries\[1\]\.artifacts\[0\].*differ from the recorded sha256"):
        EpisodeJournal(tmp_path, HEADER)
    weights.write_bytes(b"\x01" * 64)  # same size, other weights
    with pytest.raises(CheckpointError, match="truncated, replaced or edited"):
        EpisodeJournal(tmp_path, HEADER)
    weights.write_bytes(b"\x00" * 64)  # restored: the journal loads again
    assert len(EpisodeJournal(tmp_path, HEADER).entries) == 3


def test_a_header_mismatch_is_still_a_mismatch(tmp_path: Path) -> None:
    write_journal(tmp_path)
    with pytest.raises(CheckpointMismatchError, match="config_fingerprint"):
        EpisodeJournal(tmp_path, {**HEADER, "config_fingerprint": "other"})


def test_a_real_tiny_adapter_is_verified(tmp_path: Path, tiny_model_dir: Path) -> None:  # noqa: F811
    """A LoRA adapter of the tiny Llama, saved with PEFT: truncating its safetensors stops the resume."""
    pytest.importorskip("peft")
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                           LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    journal = EpisodeJournal(tmp_path, HEADER)
    adapter = journal.adapter_dir(1, "agent")
    model.save_pretrained(str(adapter))
    rng = np.random.default_rng(0)
    journal.append("update_model", {"century": 1, "action_sha256": action_digest(np.ones(19))}, rng_state(rng), rng,
                   {"model_values": [0.5] * 19}, [journal.relative(adapter)])
    assert len(EpisodeJournal(tmp_path, HEADER).entries) == 1
    weights = adapter / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="century-01/agent"):
        EpisodeJournal(tmp_path, HEADER)
