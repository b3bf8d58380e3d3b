"""Faults in checkpointed ``llm`` episodes on the tiny models: SIGKILL and resume, corrupt journals and adapters.

A PG-Follow episode on nine tiny proxies (``tests/test_llm_backend.py``'s fixtures) trains a LoRA
adapter at centuries 1 and 4. The tests kill a subprocess running it, corrupt its journal and its
adapters, and check that a resume either reproduces the uninterrupted record bit for bit or stops
with a :class:`~progressgym_env.errors.CheckpointError` naming the file and field. All slow tier.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("trl")
pytest.importorskip("peft")

import gymnasium as gym  # noqa: E402
from test_llm_backend import history_cache, policy, tiny_config, tiny_proxies  # noqa: E402,F401

import progressgym_env  # noqa: E402,F401
from progressgym_env.errors import CheckpointError, ProgressGymError  # noqa: E402
from progressgym_env.llm.checkpoint import JOURNAL_FILE, EpisodeJournal  # noqa: E402
from progressgym_env.llm.config import LLMConfig  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]

SEED = 5
ACT_ON = (0, 3)  # DPO updates at centuries 1 and 4 (zero actions elsewhere): two adapters
EPISODE = "episode-0000"


def make_env(cfg: LLMConfig) -> gym.Env:
    return gym.make("PG-Follow-v0", history="models", backend="llm", backend_config=cfg, query_budget=38)


def play(env: gym.Env) -> dict[str, Any]:
    """One episode with the test policy on ``ACT_ON``; returns the record as JSON data."""
    obs, _ = env.reset(seed=SEED)
    terminated = False
    step = 0
    while not terminated:
        action = policy(obs) if step in ACT_ON else np.zeros(19, dtype=np.float32)
        obs, _, terminated, _, _ = env.step(action)
        step += 1
    return env.unwrapped.episode_record().to_json_dict()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def reference(tiny_proxies: list[str], history_cache: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    """An uninterrupted checkpointed episode: (config, run_dir, record)."""
    run_dir = tmp_path_factory.mktemp("llm-reference")
    cfg = tiny_config(tiny_proxies, history_cache, run_dir=str(run_dir))
    env = make_env(cfg)
    record = play(env)
    env.close()
    return cfg, run_dir, record


KILLED_EPISODE = """
import json, sys
sys.path.insert(0, sys.argv[3])
from test_checkpoint_llm import make_env, play
from progressgym_env.llm.config import LLMConfig
play(make_env(LLMConfig.from_any({**json.loads(sys.argv[1]), "run_dir": sys.argv[2]})))
"""


def test_a_sigkilled_llm_episode_resumes_to_the_same_record(reference, tmp_path: Path) -> None:
    """SIGKILL a subprocess after century 4's adapter is journaled, resume here: same record, nothing redone."""
    cfg, _, expected = reference
    run_dir = tmp_path / "run"
    journal = run_dir / EPISODE / JOURNAL_FILE
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parent)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_EPISODE, json.dumps(cfg.to_dict()), str(run_dir),
                             str(Path(__file__).parent)], env=env)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                entries = json.loads(journal.read_text())["entries"]
            except (OSError, ValueError, KeyError):
                entries = []
            if sum(e["call"] == "update_model" for e in entries) >= 5:  # centuries 1 (DPO) .. 5
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the episode ended before the kill"
    resumed_cfg = LLMConfig.from_any({**cfg.to_dict(), "run_dir": str(run_dir)})
    env_ = make_env(resumed_cfg)
    record = play(env_)
    stats = env_.unwrapped.backend.stats  # type: ignore[attr-defined]
    assert stats["dpo_updates"] == 0 and stats["replayed_calls"] >= 1 + 5 * 2 - 1  # both updates replayed
    for key in ("model", "rewards", "human", "centuries", "challenge"):  # backend/provenance name the run_dir
        assert record[key] == expected[key], key


def corrupt_copy(run_dir: Path, tmp: Path, change: Any) -> Path:
    """A copy of the reference run with ``change(episode folder)`` applied."""
    copy = tmp / "run"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(run_dir, copy)
    change(copy / EPISODE)
    return copy


def _edit_journal(edit: Any) -> Any:
    def change(folder: Path) -> None:
        data = json.loads((folder / JOURNAL_FILE).read_text())
        edit(data)
        (folder / JOURNAL_FILE).write_text(json.dumps(data))
    return change


def _weights(folder: Path, century: int) -> Path:
    return folder / f"century-{century:02d}" / "agent" / "adapter_model.safetensors"


def _update_index(data: dict[str, Any]) -> int:
    return next(i for i, e in enumerate(data["entries"]) if e["call"] == "update_model" and e["adapters"])


def _truncate(folder: Path) -> None:
    path = _weights(folder, 1)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def _replace(folder: Path) -> None:
    shutil.copyfile(_weights(folder, 4), _weights(folder, 1))  # another, complete, adapter


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_edit_journal(lambda d: d["entries"][_update_index(d)]["result"]["model_values"].__setitem__(3, 7.5)),
         r"entries\[\d+\]\.result\.model_values\[3\] is 7.5, outside \[0, 1\]"),
        (_truncate, r"entries\[\d+\]\.artifacts\[0\] names .*century-01/agent.*recorded sha256"),
        (_replace, r"century-01/agent.*truncated, replaced or edited"),
    ],
    ids=["tampered value", "truncated adapter", "replaced adapter"],
)
def test_a_corrupt_checkpoint_stops_the_resume(reference, tmp_path: Path, change: Any, message: str) -> None:
    cfg, run_dir, _ = reference
    copy = corrupt_copy(run_dir, tmp_path, change)
    env = make_env(LLMConfig.from_any({**cfg.to_dict(), "run_dir": str(copy)}))
    with pytest.raises(CheckpointError, match=message) as caught:
        env.reset(seed=SEED)
    assert str(copy / EPISODE / JOURNAL_FILE) in str(caught.value)


def test_journal_and_adapter_corruption_audit(reference, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Random byte corruptions of the real journal and adapters: every case a clear error or sound."""
    from test_fuzz import TABLE_HEADER, classify, table

    _, run_dir, _ = reference
    folder = tmp_path / "episode"
    shutil.copytree(run_dir / EPISODE, folder)
    path = folder / JOURNAL_FILE
    original = path.read_bytes()
    header = json.loads(original)["header"]
    entries = json.loads(original)["entries"]
    rng = np.random.default_rng(13)

    def load() -> EpisodeJournal:
        return EpisodeJournal(folder, header)

    def sound(journal: EpisodeJournal) -> bool:
        return journal.entries == entries  # an accepted journal must be the recorded one

    rows: dict[str, Counter[str]] = {"tiny llm journal: byte replaced, truncated": Counter(),
                                     "tiny llm adapters: bytes replaced, truncated": Counter()}
    for _ in range(300):
        i = int(rng.integers(len(original)))
        path.write_bytes(original[:i] + bytes([int(rng.integers(32, 127))]) + original[i + 1:])
        outcome = classify(load, None, sound)
        if outcome == "silent":  # accepted but different: a digit of a free field (timings) is a variant
            data = EpisodeJournal(folder, header).entries
            outcome = "variant" if len(data) == len(entries) and all(
                a["result"] == b["result"] and a["args"] == b["args"] for a, b in zip(data, entries, strict=True)
            ) else "silent"
        rows["tiny llm journal: byte replaced, truncated"][outcome] += 1
    for i in rng.integers(len(original), size=100):
        path.write_bytes(original[: int(i)])
        rows["tiny llm journal: byte replaced, truncated"][classify(load, None, sound)] += 1
    path.write_bytes(original)
    for century in (1, 4):
        weights = _weights(folder, century)
        good = weights.read_bytes()
        for _ in range(20):
            i = int(rng.integers(len(good)))
            weights.write_bytes(good[:i] + bytes([(good[i] + 1) % 256]) + good[i + 1:])
            rows["tiny llm adapters: bytes replaced, truncated"][classify(load, False)] += 1
            weights.write_bytes(good[:i])
            rows["tiny llm adapters: bytes replaced, truncated"][classify(load, False)] += 1
        weights.write_bytes(good)
    with capsys.disabled():
        print("\n" + "\n".join([TABLE_HEADER, *(table(row, title) for title, row in rows.items())]))
    for title, row in rows.items():
        assert row["crash"] == row["silent"] == row["hang"] == row["unclear"] == 0, f"{title}: {dict(row)}"
    assert isinstance(CheckpointError("x"), ProgressGymError)
