"""The JAX twin and compiled PPO figures of ``benchmarks/jax_twin.py`` on a lent GPU, in one short run.

Prepared for a device session (CI has no GPU; tests/test_gpu_scripts.py runs ``--smoke`` on the CPU):
the twin vs gymnax CartPole at N up to 262,144, SB3 PPO (CPU, the anchor) vs the compiled PPO for one
seed and a 64-seed sweep, and the wall time of a 64-seed sweep of ``--sweep-steps`` env steps per seed
with validation. Needs a CUDA build of jax (``pip install -c constraints.txt "jax[cuda12]"``); the JSON
records the device JAX ran on, so a CPU fallback is visible.

Usage (about 5 minutes on one H100)::

    python benchmarks/gpu_jax.py --json gpu_jax.json
    python benchmarks/gpu_jax.py --smoke --json /tmp/gpu_jax.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))


def _bench() -> Any:
    """``benchmarks/jax_twin.py`` as a module (the measurements are written once, there)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_jax_twin_bench", HERE / "jax_twin.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--challenge", default="follow")
    parser.add_argument("--sizes", default="1,256,4096,65536,262144")
    parser.add_argument("--sweep-seeds", type=int, default=64)
    parser.add_argument("--sweep-steps", type=int, default=1_000_000, help="env steps per seed of the timed sweep")
    parser.add_argument("--sb3-timesteps", type=int, default=16384)
    parser.add_argument("--validation-episodes", type=int, default=100)
    parser.add_argument("--workdir", default="runs/gpu-jax")
    parser.add_argument("--smoke", action="store_true", help="tiny shapes on any device (checks the script)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    scan_steps, repeats, chunks, updates = 64, 3, 2, 16
    if args.smoke:
        args.sizes, args.sweep_seeds, args.sweep_steps, args.sb3_timesteps = "8", 2, 1024, 1024
        args.validation_episodes, scan_steps, repeats, chunks, updates = 2, 4, 1, 1, 1
    import jax

    from agents.jax_ppo import JaxPPOConfig, train_jax_ppo

    bench = _bench()
    report: dict[str, Any] = {"command": " ".join(sys.argv), "device": str(jax.devices()[0]),
                              "backend": jax.default_backend(), "cpus": os.cpu_count(),
                              "load_average_start": os.getloadavg(), "challenge": args.challenge}
    report["env"] = bench.env_throughput([int(n) for n in args.sizes.split(",")], args.challenge, scan_steps, repeats)
    sb3 = bench.sb3_throughput(args.challenge, args.sb3_timesteps)
    one = bench.compiled_throughput(args.challenge, 1, chunks, updates)
    # (--smoke: the sweep's program is the one-seed program vmapped; not compiled twice to check the script)
    many = one if args.smoke else bench.compiled_throughput(args.challenge, args.sweep_seeds, chunks, updates)
    # on a GPU the wall clock is the figure (the device's time is not process CPU time)
    report["ppo"] = {"sb3_cpu": sb3, "compiled_one_seed": one, "compiled_sweep": many,
                     **bench.ppo_ratios(sb3, one, many)}
    start = time.perf_counter()
    summary = train_jax_ppo(JaxPPOConfig(env=args.challenge, total_timesteps=args.sweep_steps, seeds=args.sweep_seeds,
                                         validation_episodes=args.validation_episodes,
                                         out=str(Path(args.workdir) / "sweep")))
    scores = [run["best_validation_normalized_score"] for run in summary["runs"]]
    report["sweep"] = {"seeds": args.sweep_seeds, "timesteps_per_seed": summary["timesteps_per_seed"],
                       "wall_seconds": time.perf_counter() - start,
                       "train_seconds_incl_compile": summary["train_seconds_incl_compile"],
                       "validation_scores": scores}
    report["load_average_end"] = os.getloadavg()
    print(json.dumps({"ppo": {k: v for k, v in report["ppo"].items() if "_vs_" in k},
                      "sweep_wall_seconds": round(report["sweep"]["wall_seconds"], 1)}))
    if args.json:
        from progressgym_env.common.atomic import atomic_write_text

        atomic_write_text(Path(args.json), json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
