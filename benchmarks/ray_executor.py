"""Wall time of ``progressgym benchmark`` on the local executor against the Ray executor (a local cluster).

Measures, for the six baselines x four default challenges x ``--seeds`` seeds (surrogate backend, no
wandb, no plots, so the episodes are what is timed):

- ``local``: the local executor (one process, one episode after another), after a first ``local cold``
  run that pays the imports and set-up once, as the warm Ray workers have;
- ``ray start``: ``ray.init`` of a local cluster of ``--cpus`` CPUs;
- ``ray cold``: the first Ray benchmark on it (worker processes start and import the package);
- ``ray warm``: the same benchmark again into a fresh folder (workers reused), auto chunking;
- ``ray 1/task``: warm, one episode per task (``--ray-chunk-size 1``);
- per-task overhead: ``(ray 1/task - ray warm) / (tasks of 1/task - tasks of warm)``, and the round
  trip of empty Ray tasks through the same chunk function.

Every run's results are checked equal (scores bit for bit) to the local ones. Usage::

    python benchmarks/ray_executor.py --seeds 50 --cpus 2
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from progressgym_env.benchmark import BenchmarkConfig, load_results, run_benchmark
from progressgym_env.benchmark.executors import EpisodeGroup, EpisodePlan, EpisodeWorker, _run_chunk


def _timed(config: BenchmarkConfig) -> tuple[float, list[dict[str, Any]]]:
    start = time.perf_counter()
    run_benchmark(config)
    seconds = time.perf_counter() - start
    runs = [{k: v for k, v in r.items() if k != "created"} for r in load_results(Path(config.out) / "results.json")]
    return seconds, runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--empty-tasks", type=int, default=400)
    args = parser.parse_args()
    import ray

    root = Path(tempfile.mkdtemp(prefix="ray-executor-"))

    def config(name: str, **ray_fields: Any) -> BenchmarkConfig:
        return BenchmarkConfig(seeds=args.seeds, out=str(root / name), wandb=False, plots=False, progress=False,
                               **ray_fields)

    load_before = os.getloadavg()
    rows: dict[str, float] = {}
    rows["local cold"], reference = _timed(config("local-cold"))  # imports, history and env set-up included
    rows["local"], runs = _timed(config("local"))
    assert runs == reference
    start = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    rows["ray start"] = time.perf_counter() - start
    for name, fields in (("ray cold", {}), ("ray warm", {}), ("ray 1/task", {"ray_chunk_size": 1})):
        rows[name], runs = _timed(config(name.replace(" ", "-").replace("/", "-"), executor="ray", **fields))
        assert runs == reference, f"{name}: results differ from the local executor's"
    n_runs = len(reference)
    chunks = max(1, -(-n_runs // (2 * args.cpus)))
    auto_tasks = -(-n_runs // chunks)
    per_task = (rows["ray 1/task"] - rows["ray warm"]) / max(1, n_runs - auto_tasks)

    remote = ray.remote(_run_chunk)
    worker = ray.put(EpisodeWorker(EpisodePlan("corpus", "surrogate", {})))
    empty_group = EpisodeGroup("follow", "static", "static", ())
    ray.get([remote.remote(worker, empty_group) for _ in range(args.cpus * 4)])  # warm
    start = time.perf_counter()
    ray.get([remote.remote(worker, empty_group) for _ in range(args.empty_tasks)])
    empty = (time.perf_counter() - start) / args.empty_tasks
    ray.shutdown()
    result = {
        "episodes": n_runs, "cpus": args.cpus, "seconds": {k: round(v, 2) for k, v in rows.items()},
        "speedup_warm": round(rows["local"] / rows["ray warm"], 2),
        "speedup_cold_with_start": round(rows["local"] / (rows["ray cold"] + rows["ray start"]), 2),
        "auto_tasks": auto_tasks, "per_task_overhead_ms": round(per_task * 1e3, 2),
        "empty_task_roundtrip_ms": round(empty * 1e3, 2),
        "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
