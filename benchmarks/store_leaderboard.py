"""The leaderboard of a results store of 10^6 runs: wall time and peak RSS, against floors timed alongside.

Builds a synthetic store in the store's own schema (:data:`~progressgym_env.benchmark.store_schema.SCHEMA`,
rows made with :func:`~progressgym_env.benchmark.store_schema.batch_table`, parts of 32,768 runs as the
runner flushes them): the six baselines x four challenges x ``--seeds`` seeds, each run's vectors of the
real shapes (history 9 x 5, model 8 x 5, simulated 9 x 5 on Coevolve, 8 rewards) and labels, kwargs,
agent configs and record fields copied from a real one-seed benchmark. Scores are synthetic (template
score + noise): the timing does not depend on them.

Then, each phase in a fresh process (its peak RSS its own):

- ``cold``: the first leaderboard of the store: per part, the derived-score sidecar (the centred
  score, lock-in and reference from the vectors, batched judges), then the SQL aggregation;
- ``warm``: the leaderboard again (sidecars present): scalar columns only — the figure of issue 29
  ("the leaderboard of those 10^6 runs in <= 10 s");
- ``floor``: DuckDB's bare ``SELECT agent, challenge, avg(final_score) ... GROUP BY`` over the same
  parts (the least any grouped aggregation of the store costs), and pyarrow reading the one column.

Usage::

    python benchmarks/store_leaderboard.py --seeds 42000 --json store_leaderboard.json
    python benchmarks/store_leaderboard.py --seeds 500            # a quick check (12,000 runs)
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

PART_RUNS = 32_768


def _templates(folder: Path) -> list[dict[str, Any]]:
    """One real run per (agent, challenge): the six baselines on the four default challenges, seed 0."""
    from progressgym_env.benchmark.results import load_results
    from progressgym_env.benchmark.runner import BenchmarkConfig, run_benchmark

    run_benchmark(BenchmarkConfig(seeds=1, out=str(folder), wandb=False, plots=False, progress=False))
    return load_results(folder / "results.json")


def build_store(folder: Path, seeds: int, rng_seed: int = 0) -> int:
    """Write the synthetic store into ``folder/store``; return its run count."""
    from progressgym_env.benchmark.identity import settings_identity
    from progressgym_env.benchmark.store import ResultsStore
    from progressgym_env.benchmark.store_schema import batch_table, dumps
    from progressgym_env.judges import judge_for_record

    rng = np.random.default_rng(rng_seed)
    with tempfile.TemporaryDirectory() as scratch:
        templates = _templates(Path(scratch))
    store = ResultsStore(folder)
    total = 0
    with store.writer() as writer:  # the runner's write path: one part per 32,768 runs
        for template in templates:
            record = dict(template["episode_record"])
            human = np.asarray(record.pop("human"), dtype=np.float64)
            model = np.asarray(record.pop("model"), dtype=np.float64)
            simulated = record.pop("simulated", None)
            record.pop("rewards")
            lock_in, reference = judge_for_record(template["episode_record"]).reference_scores()
            constants = {"settings_key": settings_identity(template), "agent": template["agent"],
                         "agent_config": dumps(template["agent_config"]), "challenge": template["challenge"],
                         "env_id": template["env_id"], "kwargs": dumps(template["kwargs"]),
                         "history": template["history"], "model_sha256": None, "created": template.get("created")}
            for start in range(0, seeds, PART_RUNS):
                n = min(PART_RUNS, seeds - start)
                seed = np.arange(start, start + n)
                final = template["final_score"] + rng.normal(0.0, 0.002, size=n)
                normalized = (final - lock_in) / (reference - lock_in)
                keys = [f"{template['agent']}:{template['challenge']}:{s}".rjust(64, "0") for s in seed]
                wobble = rng.normal(0.0, 0.01, size=(n, 1, model.shape[-1]))
                writer.add_table(batch_table(
                    constants, keys, seed, final, normalized, np.tile(template["rewards"], (n, 1)), dumps(record),
                    np.broadcast_to(human, (n, *human.shape)), np.abs(model + wobble),
                    None if simulated is None else np.abs(np.asarray(simulated) + wobble),
                ))
                total += n
    return total


def _status_mb(field: str) -> float | None:
    """A memory figure of this process from Linux's ``/proc/self/status`` (None elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _peak_rss_mb() -> float:
    """This process's peak resident set: ``VmHWM`` (since its exec; ``ru_maxrss`` on Linux also counts the
    parent's memory at fork), else ``ru_maxrss``."""
    return _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _rss_mb() -> float:
    """The resident set now (the peak where ``/proc`` is not available)."""
    return _status_mb("VmRSS") or _peak_rss_mb()


def phase(name: str, folder: Path) -> dict[str, Any]:
    """Run one phase in this process (imports first, untimed); return its wall and CPU time and peak RSS."""
    import duckdb
    import pyarrow.dataset as ds

    from progressgym_env.benchmark.store import ResultsStore
    from progressgym_env.benchmark.store_readers import store_leaderboard_markdown

    imported = _rss_mb()  # what the imports alone hold (numpy, pyarrow, duckdb, the package)
    start, cpu = time.perf_counter(), time.process_time()
    if name in ("cold", "warm"):
        text = store_leaderboard_markdown(folder)
        extra: dict[str, Any] = {"table_lines": text.count("\n"), "cpu_s": time.process_time() - cpu}
    elif name == "floor":
        parts = [str(p) for p in ResultsStore(folder).parts()]
        duckdb.sql(f"SELECT agent, challenge, avg(final_score) FROM read_parquet({parts}) GROUP BY ALL").fetchall()
        duck = time.perf_counter() - start
        start = time.perf_counter()
        ds.dataset(parts, format="parquet").to_table(columns=["final_score"])
        extra = {"duckdb_group_by_s": duck, "pyarrow_read_final_score_s": time.perf_counter() - start}
        return {"phase": name, "peak_rss_mb": _peak_rss_mb(), "rss_after_imports_mb": imported, **extra}
    else:
        raise ValueError(name)
    return {"phase": name, "wall_s": time.perf_counter() - start, "peak_rss_mb": _peak_rss_mb(),
            "rss_after_imports_mb": imported, **extra}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=42_000, help="seeds per agent and challenge (24 groups)")
    parser.add_argument("--folder", default=None, help="where to build the store (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the store after the run")
    parser.add_argument("--reuse", action="store_true", help="time the store already in --folder (no build)")
    parser.add_argument("--json", default=None, help="write the figures here")
    parser.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        print(json.dumps(phase(args.phase, Path(args.folder))))
        return 0
    folder = Path(args.folder or tempfile.mkdtemp(prefix="store-leaderboard-"))
    try:
        start = time.perf_counter()
        if args.reuse:
            from progressgym_env.benchmark.store import ResultsStore

            runs = ResultsStore(folder).count()
        else:
            runs = build_store(folder, args.seeds)
        build_s = time.perf_counter() - start
        size = sum(p.stat().st_size for p in (folder / "store").glob("part-*.parquet"))
        figures: dict[str, Any] = {"runs": runs, "store_mb": size / 2**20, "build_s": build_s}
        for name in ("cold", "warm", "warm", "floor"):
            out = subprocess.run([sys.executable, __file__, "--phase", name, "--folder", str(folder)],
                                 check=True, capture_output=True, text=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            key = name if name not in figures else f"{name}2"
            figures[key] = result
        warm = min(figures["warm"]["wall_s"], figures["warm2"]["wall_s"])
        figures["warm_over_duckdb_group_by"] = warm / figures["floor"]["duckdb_group_by_s"]
        print(json.dumps(figures, indent=1))
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
