"""The baselines' leaderboard must not move: every baseline x challenge on fixed seeds, through the
benchmark runner, the results file and the leaderboard's recomputation.

``tests/data/golden_leaderboard.json`` holds, per challenge, each baseline's rank, mean final score and
mean normalized score (2 seeds, corpus history, surrogate backend). A change to an agent (a lifelong
agent at half strength), to the judges or to the ranking (e.g. sorting ascending) fails here. If a
baseline's behaviour changes on purpose, re-record with ``python tests/test_golden_leaderboard.py
--record`` and say why in the commit.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

FIXTURE = Path(__file__).parent / "data" / "golden_leaderboard.json"
SEEDS = 2
TOLERANCE = 1e-9


def leaderboard_now(out: Path) -> dict[str, list[dict[str, Any]]]:
    """Run every baseline on every default challenge and tabulate the recomputed leaderboard."""
    from agents.registry import BASELINES
    from progressgym_env.benchmark.leaderboard import leaderboard_rows, score_runs
    from progressgym_env.benchmark.results import load_results
    from progressgym_env.benchmark.runner import BenchmarkConfig, run_benchmark

    config = BenchmarkConfig(
        agents=list(BASELINES), seeds=SEEDS, out=str(out), wandb=False, plots=False, progress=False
    )
    run_benchmark(config)
    rows = leaderboard_rows(score_runs(load_results(out / "results.json")))
    table: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        table.setdefault(row.challenge, []).append(
            {
                "agent": row.agent,
                "rank": row.rank,
                "seeds": row.seeds,
                "final_mean": row.final_mean,
                "normalized_mean": row.normalized_mean,
            }
        )
    return table


def test_baseline_leaderboard_matches_the_recording(tmp_path: Path) -> None:
    pytest.importorskip("rich")
    recorded = json.loads(FIXTURE.read_text(encoding="utf-8"))
    found = leaderboard_now(tmp_path / "bench")
    assert sorted(found) == sorted(recorded), "challenges differ"
    for challenge, rows in recorded.items():
        got = found[challenge]
        assert [r["agent"] for r in got] == [r["agent"] for r in rows], f"{challenge}: agent order differs"
        for want, have in zip(rows, got, strict=True):
            where = f"{challenge}/{want['agent']}"
            assert have["rank"] == want["rank"], f"{where}: rank {have['rank']} != {want['rank']}"
            assert have["seeds"] == want["seeds"], where
            assert have["final_mean"] == pytest.approx(want["final_mean"], abs=TOLERANCE), where
            assert have["normalized_mean"] == pytest.approx(want["normalized_mean"], abs=TOLERANCE), where


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_golden_leaderboard.py --record   (only after a deliberate baseline change)")
    with tempfile.TemporaryDirectory() as folder:
        table = leaderboard_now(Path(folder) / "bench")
    FIXTURE.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE}")
