"""The results store (benchmark/store.py, store_schema.py): exact round trips with results.json runs, append-only
parts, leftovers and corrupt parts reported and never read, staged parts committed, a killed writer (slow tier)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from progressgym_env.benchmark.executors import EpisodeGroup, EpisodePlan, EpisodeWorker
from progressgym_env.benchmark.identity import run_identity
from progressgym_env.benchmark.results import load_results, write_results
from progressgym_env.benchmark.store import ResultsStore, StoreProblem, import_results, write_staged
from progressgym_env.benchmark.store_schema import SCHEMA, runs_of, table_of_runs

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runs() -> list[dict[str, Any]]:
    """Runs of two challenges (one with simulated humans), batched and single, plus an imported-style extra field."""
    plan = EpisodePlan("corpus", "surrogate", {
        "follow": ("PG-Follow-v0", {"history": "corpus", "backend": "surrogate", "query_budget": 512}),
        "coevolve": ("PG-Coevolve-v0", {"history": "corpus", "backend": "surrogate", "query_budget": 512}),
    })
    worker = EpisodeWorker(plan)
    try:
        out = [run for c in ("follow", "coevolve") for f in worker.run_group(EpisodeGroup(c, "lifelong", "lifelong", (0, 1)))
               for run in runs_of(f.table)]
        single = worker.run(EpisodeGroup("follow", "random", "random", (5,)).task(5))
    finally:
        worker.close()
    single["wandb_dir"] = "wandb/offline-run-x"
    single["note"] = {"from": "an older tool"}  # an unknown field survives the round trip
    return [*out, single]


def test_runs_round_trip_exactly_and_import_is_idempotent(tmp_path: Path, runs: list[dict[str, Any]]) -> None:
    write_results(tmp_path / "results.json", runs)
    loaded = load_results(tmp_path / "results.json")  # validated: scores recompute from the records
    assert import_results(tmp_path, loaded) == len(runs)
    assert import_results(tmp_path, loaded) == 0  # converting twice adds nothing
    store = ResultsStore(tmp_path)
    back = list(store.runs())
    assert back == loaded and json.dumps(back) == json.dumps(loaded)  # same values, same key order
    assert store.keys().to_pylist() == [run_identity(r) for r in loaded]
    assert store.count() == len(runs) and len(store.parts()) == 1


def test_non_finite_record_fields_round_trip(runs: list[dict[str, Any]]) -> None:
    """An LLM record's not-yet-measured fields are NaN: the store keeps them as results.json does."""
    run = json.loads(json.dumps(runs[0]))
    run["episode_record"]["measurement_se"] = [float("nan"), float("inf")]
    (back,) = runs_of(table_of_runs([run]))
    assert json.dumps(back, sort_keys=True) == json.dumps(run, sort_keys=True)


def test_scan_filters_and_projects(tmp_path: Path, runs: list[dict[str, Any]]) -> None:
    import_results(tmp_path, runs)
    batches = list(ResultsStore(tmp_path).scan(columns=["seed", "final_score"],
                                               filter=pc.field("challenge") == "coevolve"))
    table = pa.Table.from_batches(batches)
    assert table.column_names == ["seed", "final_score"]
    assert table.column("final_score").to_pylist() == [r["final_score"] for r in runs if r["challenge"] == "coevolve"]


def test_a_writer_appends_one_part_per_row_group_and_never_rewrites(tmp_path: Path, runs: list[dict[str, Any]]) -> None:
    store = ResultsStore(tmp_path)
    with store.writer(row_group_runs=2, flush_seconds=3600) as writer:
        writer.add_runs(runs[:1])
        assert store.parts() == []  # buffered
        writer.add_runs(runs[1:2])  # full: flushed
        first = store.parts()
        assert len(first) == 1
        before = first[0].read_bytes()
        writer.add_runs(runs[2:3])
    parts = store.parts()
    assert len(parts) == 2 and parts[0] == first[0] and parts[0].read_bytes() == before
    assert [pq.read_metadata(p).num_row_groups for p in parts] == [1, 1]
    assert list(store.runs()) == runs[:3]


def test_corrupt_parts_and_leftovers_are_reported_and_never_read(tmp_path: Path, runs: list[dict[str, Any]]) -> None:
    import_results(tmp_path, runs)
    store = ResultsStore(tmp_path)
    good = store.parts()[0]
    (store.path / "part-000007-0123abcd.parquet").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (store.path / "part-000008-0123abcd.parquet").write_bytes(b"not parquet at all")
    pq.write_table(pa.table({"x": [1]}), store.path / "part-000009-0123abcd.parquet")  # another schema
    dead_pid = _dead_pid()
    (store.path / f".part-000010-0123abcd.parquet.{dead_pid}-0123abcd.tmp.parquet").write_bytes(b"half")
    store.staging().mkdir(exist_ok=True)
    write_staged(table_of_runs(runs[:1]), store.staging())
    with pytest.warns(StoreProblem) as caught:
        assert ResultsStore(tmp_path).parts() == [good]
    messages = " ".join(str(w.message) for w in caught)
    for text in ("part-000007", "part-000008", "part-000009", "tmp.parquet", "never committed"):
        assert text in messages
    with pytest.warns(StoreProblem):
        assert list(ResultsStore(tmp_path).runs()) == runs  # only the good part is read
    with pytest.warns(StoreProblem, match="removed 2 file"):  # a writer sweeps leftovers, keeps corrupt parts
        ResultsStore(tmp_path).writer().flush()
    assert not list(store.staging().iterdir())
    assert (store.path / "part-000008-0123abcd.parquet").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StoreProblem)
        assert ResultsStore(tmp_path).count() == len(runs)


def test_a_part_damaged_behind_its_footer_is_skipped_and_reported(tmp_path: Path, runs: list[dict[str, Any]]) -> None:
    store = ResultsStore(tmp_path)
    with store.writer(row_group_runs=2) as writer:
        for run in runs:
            writer.add_runs([run])  # parts of 2, 2, 1 runs
    first = store.parts()[0]
    data = bytearray(first.read_bytes())
    middle = len(data) // 3  # inside the column pages, away from the footer
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    first.write_bytes(bytes(data))
    damaged = ResultsStore(tmp_path)
    with pytest.warns(StoreProblem, match="damaged data"):
        assert list(damaged.runs()) == runs[2:]
    assert any("damaged data" in p for p in damaged.problems) and first not in damaged.parts()


def test_staged_parts_are_committed_by_rename(tmp_path: Path, runs: list[dict[str, Any]]) -> None:
    store = ResultsStore(tmp_path)
    with store.writer() as writer:
        store.staging().mkdir(exist_ok=True)
        staged = write_staged(table_of_runs(runs[:2]), store.staging())
        writer.add_runs(runs[2:3])  # buffered before the staged part arrived: stays first
        writer.commit_staged(staged, 2)
        assert not staged.exists()
    assert [r["seed"] for r in store.runs()] == [runs[2]["seed"], runs[0]["seed"], runs[1]["seed"]]
    with pytest.raises(Exception, match="not a staged part"):
        store.writer().commit_staged(tmp_path / "elsewhere.parquet", 1)


def test_schema_is_what_the_readers_were_told() -> None:
    doc = (REPO / "progressgym_env" / "benchmark" / "store_schema.py").read_text(encoding="utf-8")
    for field in SCHEMA:
        assert f"``{field.name}``" in doc, f"column {field.name} is not documented"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


WRITER = textwrap.dedent(
    """
    import sys
    from progressgym_env.benchmark.store import ResultsStore
    from progressgym_env.benchmark.store_schema import table_of_runs
    from progressgym_env.benchmark.results import load_results

    runs = load_results(sys.argv[2])
    with ResultsStore(sys.argv[1]).writer(row_group_runs=len(runs), flush_seconds=3600) as writer:
        print("ready", flush=True)
        while True:
            writer.add_table(table_of_runs(runs))  # one row group per loop, for ever
    """
)


@pytest.mark.slow
def test_a_writer_killed_at_random_moments_leaves_whole_parts(tmp_path: Path, runs: list[dict[str, Any]]) -> None:
    write_results(tmp_path / "runs.json", runs)
    rng = random.Random(29)
    for attempt in range(5):
        out = tmp_path / f"out{attempt}"
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(out), str(tmp_path / "runs.json")],
                                cwd=REPO, stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            store = ResultsStore(out)
            parts = store.parts()
            assert not [p for p in store.problems if "not used; move it aside" in p]  # nothing corrupt
            assert store.count() == len(parts) * len(runs)  # whole row groups only
            assert list(store.runs()) == runs * len(parts)


def test_a_benchmark_over_a_corrupt_part_reports_it_and_reruns_its_runs(tmp_path: Path) -> None:
    from progressgym_env.benchmark import BenchmarkConfig, run_benchmark

    config = BenchmarkConfig(agents=["static", "lifelong"], challenges=["follow"], seeds=3, out=str(tmp_path),
                             wandb=False, plots=False, progress=False)
    run_benchmark(config)

    def plain(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "created"} for r in runs]

    first = plain(load_results(tmp_path / "results.json"))
    (part,) = ResultsStore(tmp_path).parts()
    part.write_bytes(part.read_bytes()[:-100])  # footer gone
    with pytest.warns(StoreProblem, match="not a readable Parquet file"):
        summary = run_benchmark(config)
    assert (summary.new_runs, summary.skipped_runs) == (0, 6)  # recovered from the validated export
    (tmp_path / "results.json").unlink()
    for extra in ResultsStore(tmp_path).path.glob("part-000001-*.parquet"):
        extra.unlink()  # as if the export had never been written (a large folder)
    with pytest.warns(StoreProblem, match="not a readable Parquet file"):
        summary = run_benchmark(config)
    assert (summary.new_runs, summary.skipped_runs) == (6, 0)  # its runs are played again, not read
    assert plain(load_results(tmp_path / "results.json")) == first
    assert part.exists()  # left for a person to look at
