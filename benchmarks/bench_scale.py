"""The benchmark at scale: ``progressgym benchmark`` at 10^3 ... 10^6 runs against the native vector env's floor.

For each size N the six baselines x four default challenges x ceil(N / 24) seeds run in a fresh child process
(``python -m progressgym_env benchmark --no-wandb --no-plots --no-progress`` into a fresh folder), local
or on a local Ray cluster (``--executor ray --ray-local-cpus CPUS``, the cluster's start included). Measured
per size: wall time, the child's CPU time (user + sys) and peak RSS (``os.wait4``: the driver only; Ray
workers are other processes, their CPU is not in it), runs/s, the store's size on disk, and the ratio of the
runner's time per run to the floor.

The floor is measured in the same invocation, before the sizes: the native vector env of each default
challenge with N = 4,096 sub-envs in the mode the runner uses (``rng_mode="exact"``,
``record_in_info=True``), reset with 4,096 seeds and stepped with all-zero actions to the end, three times;
its best time per episode (wall and CPU), averaged over the four challenges, is the cost of an episode
without agent, bookkeeping or storage. Ratios: ``wall per run / floor wall per episode`` and ``CPU per run /
floor CPU per episode``; on a machine shared with other work the CPU ratio is the steadier one. Usage::

    python benchmarks/bench_scale.py --sizes 1000,10000,100000,1000000 --executors local,ray --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
AGENTS = 6
CHALLENGES = 4


def floor_per_episode(num_envs: int = 4096, repeats: int = 3) -> dict[str, float]:
    """Best wall and CPU seconds per episode of the four default challenges' native vector envs (exact mode)."""
    import numpy as np

    from progressgym_env.benchmark.batched import make_vector_env
    from progressgym_env.benchmark.challenges import default_challenges, get_challenge

    walls, cpus = [], []
    for key in default_challenges():
        challenge = get_challenge(key)
        kwargs = {**challenge.kwargs, "history": "corpus", "backend": "surrogate", "query_budget": 512}
        env = make_vector_env(challenge.env_id, num_envs, kwargs)
        zeros = np.zeros((num_envs, *env.single_action_space.shape), dtype=np.float32)
        best_wall = best_cpu = math.inf
        for repeat in range(repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            env.reset(seed=list(range(repeat * num_envs, (repeat + 1) * num_envs)))
            while not env.step(zeros)[2].all():
                pass
            best_wall = min(best_wall, time.perf_counter() - wall)
            best_cpu = min(best_cpu, time.process_time() - cpu)
        env.close()
        walls.append(best_wall / num_envs)
        cpus.append(best_cpu / num_envs)
    return {"wall_s": sum(walls) / len(walls), "cpu_s": sum(cpus) / len(cpus)}


def run_size(runs: int, executor: str, cpus: int, root: Path) -> dict[str, Any]:
    """One ``progressgym benchmark`` of about ``runs`` runs in a child process; its measurements."""
    seeds = math.ceil(runs / (AGENTS * CHALLENGES))
    out = root / f"{executor}-{runs}"
    command = [sys.executable, "-m", "progressgym_env", "benchmark", "--seeds", str(seeds), "--out", str(out),
               "--no-wandb", "--no-plots", "--no-progress"]
    if executor == "ray":
        command += ["--executor", "ray", "--ray-local-cpus", str(cpus)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    load = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stdout, stderr = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"benchmark of {runs} runs failed ({proc.returncode}): {stderr[-2000:]}")
    found = re.search(r"(\d+) runs in ([\d.]+) s", stdout)
    done = int(found.group(1)) if found else 0
    store = sum(p.stat().st_size for p in (out / "store").glob("part-*.parquet"))
    parts = len(list((out / "store").glob("part-*.parquet")))
    result = {
        "executor": executor, "runs": done, "seeds": seeds, "wall_s": round(wall, 2),
        "runner_s": float(found.group(2)) if found else None,
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "runs_per_s": round(done / wall, 1), "store_mb": round(store / 1e6, 2), "store_bytes_per_run":
        round(store / max(done, 1)), "parts": parts, "load_before": round(load, 1),
        "load_after": round(os.getloadavg()[0], 1),
    }
    shutil.rmtree(out, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000", help="Runs per benchmark, comma-separated.")
    parser.add_argument("--executors", default="local,ray", help="local, ray or both.")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster.")
    parser.add_argument("--json", default=None, help="Also write the results to this file.")
    args = parser.parse_args()
    floor = floor_per_episode()
    print(f"floor (native vector env, exact mode, N=4096): {floor['wall_s'] * 1e6:.1f} us wall, "
          f"{floor['cpu_s'] * 1e6:.1f} us CPU per episode; load {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    root = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    for executor in args.executors.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            row = run_size(size, executor, args.cpus, root)
            row["wall_ratio"] = round(row["wall_s"] / max(row["runs"], 1) / floor["wall_s"], 2)
            row["cpu_ratio"] = round(row["cpu_s"] / max(row["runs"], 1) / floor["cpu_s"], 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
    shutil.rmtree(root, ignore_errors=True)
    print("\n| executor | runs | wall s | runs/s | CPU s (driver) | peak RSS MB | store MB | B/run | parts | "
          "wall / floor | CPU / floor | load |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['executor']} | {r['runs']:,} | {r['wall_s']} | {r['runs_per_s']:,} | {r['cpu_s']} | "
              f"{r['peak_rss_mb']} | {r['store_mb']} | {r['store_bytes_per_run']} | {r['parts']} | {r['wall_ratio']}x | "
              f"{r['cpu_ratio']}x | {r['load_before']}-{r['load_after']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"floor": floor, "rows": rows}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
