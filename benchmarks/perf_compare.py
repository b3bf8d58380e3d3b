"""Before/after environment throughput: two source trees measured in one run, interleaved.

Each measurement runs in its own subprocess with ``PYTHONPATH=<tree>``, so the child imports that
tree's ``progressgym_env`` (the child checks ``progressgym_env.__file__`` and refuses to measure the
wrong package). The timing itself is always this tree's :mod:`progressgym_env.perf` helpers
(``best_run``, ``single_stepper``, ``vector_stepper``), loaded by file path, so both trees are timed
by the same code. Measured per env id (default PG-Follow-v0 and PG-Coevolve-v0):

- ``single (env.unwrapped)`` and ``single (gym.make)``,
- ``native vector, N=64`` and ``N=4096`` (``gym.make_vec``, default fast rng mode),
- ``SyncVectorEnv, N=64`` (``vectorization_mode="sync"``),

and, once per round as the reference of a tiny numpy env, CartPole-v1's single env (both ways) and
its own vector env (``vectorization_mode="vector_entry_point"``) at the same N. The configurations
run in rounds; within a round every configuration is measured for both trees back to back, the order
of the two trees alternating from round to round. A configuration's figure is its best run over all
rounds and repeats (the run least disturbed by other processes), by the process CPU time (headline)
and by the wall clock. Ratios: after / before, and ours / CartPole at the same N (gym.make against
gym.make, unwrapped against unwrapped, vector against vector).

The machine may be shared: run it under ``nice``; the load average is recorded at every round.

Usage::

    nice -n 10 python benchmarks/perf_compare.py --before /tmp/before --json perf_compare.json
    python benchmarks/perf_compare.py --before /tmp/before --env-ids PG-Follow-v0 --rounds 1 --min-seconds 0.2
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
AFTER_DEFAULT = HERE.parent
PERF_MODULE = AFTER_DEFAULT / "progressgym_env" / "perf.py"
CARTPOLE = "CartPole-v1"
KINDS = ("unwrapped", "make", "vector", "sync")
"""How a configuration builds its env: ``env.unwrapped``, ``gym.make``, the env's own vector env, SyncVectorEnv."""


def load_perf() -> ModuleType:
    """This tree's ``progressgym_env/perf.py`` as a standalone module (it imports no progressgym_env code)."""
    spec = importlib.util.spec_from_file_location("_perf_compare_timing", PERF_MODULE)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load the timing helpers from {PERF_MODULE}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    return module


def configurations(env_ids: list[str], sizes: list[int], sync_envs: int) -> list[dict[str, Any]]:
    """Every (env id, kind, N) to measure; ``tree`` None marks CartPole (measured once per round)."""
    configs: list[dict[str, Any]] = []
    for env_id in [*env_ids, CARTPOLE]:
        configs.append({"env_id": env_id, "kind": "unwrapped", "num_envs": 1})
        configs.append({"env_id": env_id, "kind": "make", "num_envs": 1})
        for n in sizes:
            configs.append({"env_id": env_id, "kind": "vector", "num_envs": n})
        if env_id != CARTPOLE:
            configs.append({"env_id": env_id, "kind": "sync", "num_envs": sync_envs})
    return configs


def label(config: dict[str, Any]) -> str:
    """A configuration's row name in the table."""
    kind, n = config["kind"], config["num_envs"]
    if kind == "unwrapped":
        return "single (env.unwrapped)"
    if kind == "make":
        return "single (gym.make)"
    if kind == "sync":
        return f"SyncVectorEnv, N={n}"
    return f"{'CartPole vector env' if config['env_id'] == CARTPOLE else 'native vector'}, N={n}"


# -- child: one measurement ---------------------------------------------------------------------------


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Measure one configuration in this process; the package comes from ``spec["tree"]`` (or none)."""
    import gymnasium as gym

    perf = load_perf()
    env_id, kind, n = spec["env_id"], spec["kind"], spec["num_envs"]
    package = None
    if env_id != CARTPOLE:
        import progressgym_env

        package = str(Path(progressgym_env.__file__).resolve())
        tree = str(Path(spec["tree"]).resolve())
        if not package.startswith(tree + os.sep):
            raise RuntimeError(f"imported progressgym_env from {package}, expected it under {tree}; check PYTHONPATH")
    config = perf.PerfConfig(
        env_ids=(env_id,), repeats=spec["repeats"], min_seconds=spec["min_seconds"], warmup=spec["warmup"]
    )
    if kind == "unwrapped":
        run = perf.single_stepper(gym.make(env_id).unwrapped, config)
    elif kind == "make":
        run = perf.single_stepper(gym.make(env_id), config)
    elif kind == "vector":
        mode = "vector_entry_point" if env_id == CARTPOLE else None
        envs = gym.make_vec(env_id, num_envs=n, vectorization_mode=mode)
        run = perf.vector_stepper(envs, config)
    else:
        run = perf.vector_stepper(gym.make_vec(env_id, num_envs=n, vectorization_mode="sync"), config)
    wall, cpu = perf.best_run(run, n, config)
    return {"wall_steps_per_s": wall, "cpu_steps_per_s": cpu, "package": package}


# -- parent: rounds of interleaved children -------------------------------------------------------------


def measure(config: dict[str, Any], tree: Path | None, args: argparse.Namespace) -> dict[str, Any]:
    """Run one child (``tree`` None: CartPole, no package needed) and return its timing."""
    spec = {**config, "tree": None if tree is None else str(tree), "repeats": args.repeats,
            "min_seconds": args.min_seconds, "warmup": args.warmup}
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    else:
        env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"measuring {config} on {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """Every configuration for both trees over ``args.rounds`` rounds; the JSON document of ``--json``."""
    perf = load_perf()
    trees = {"before": Path(args.before).resolve(), "after": Path(args.after).resolve()}
    for name, root in trees.items():
        if not (root / "progressgym_env" / "__init__.py").is_file():
            raise SystemExit(f"--{name} {root} holds no progressgym_env package")
    configs = configurations(args.env_ids, args.sizes, args.sync_envs)
    best: dict[tuple[str, str], dict[str, float]] = {}
    packages: dict[str, str] = {}
    rounds: list[dict[str, Any]] = []
    started = time.time()
    for r in range(args.rounds):
        order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
        load0 = os.getloadavg()[0]
        for config in configs:
            runs: list[tuple[str, Path | None]] = (
                [("reference", None)] if config["env_id"] == CARTPOLE else [(name, trees[name]) for name in order]
            )
            for name, tree in runs:
                timing = measure(config, tree, args)
                if timing["package"]:
                    packages[name] = timing["package"]
                slot = best.setdefault((name, json.dumps(config, sort_keys=True)), {"wall_steps_per_s": 0.0, "cpu_steps_per_s": 0.0})
                for clock in ("wall_steps_per_s", "cpu_steps_per_s"):
                    slot[clock] = max(slot[clock], timing[clock])
                if args.verbose:
                    print(f"round {r + 1} {name:9s} {config['env_id']:15s} {label(config):24s} "
                          f"cpu {timing['cpu_steps_per_s']:>12,.0f}  wall {timing['wall_steps_per_s']:>12,.0f}",
                          file=sys.stderr, flush=True)
        rounds.append({"round": r + 1, "order": order, "load_average_1m_start": round(load0, 2),
                       "load_average_1m_end": round(os.getloadavg()[0], 2)})
    rows = []
    for config in configs:
        key = json.dumps(config, sort_keys=True)
        row: dict[str, Any] = {**config, "name": label(config)}
        for name in ("before", "after", "reference"):
            if (name, key) in best:
                row[name] = best[(name, key)]
        rows.append(row)
    return {
        "machine": perf.machine_info(),
        "settings": {"before": str(trees["before"]), "after": str(trees["after"]), "env_ids": args.env_ids,
                     "sizes": args.sizes, "sync_envs": args.sync_envs, "rounds": args.rounds,
                     "repeats": args.repeats, "min_seconds": args.min_seconds, "warmup": args.warmup,
                     "niceness": os.nice(0)},
        "packages": packages,
        "rounds": rounds,
        "seconds": round(time.time() - started, 1),
        "rows": rows,
        "ratios": ratios(rows),
    }


def _rate(row: dict[str, Any] | None, which: str, clock: str) -> float | None:
    if row is None or which not in row:
        return None
    return float(row[which][f"{clock}_steps_per_s"])


def ratios(rows: list[dict[str, Any]], clock: str = "cpu") -> list[dict[str, Any]]:
    """after / before, and each tree against CartPole's same configuration, per PG row."""
    cartpole = {(r["kind"], r["num_envs"]): r for r in rows if r["env_id"] == CARTPOLE}
    out = []
    for row in rows:
        if row["env_id"] == CARTPOLE:
            continue
        before, after = _rate(row, "before", clock), _rate(row, "after", clock)
        ref = _rate(cartpole.get((row["kind"], row["num_envs"])), "reference", clock)
        out.append({
            "env_id": row["env_id"], "name": row["name"],
            "after_over_before": None if not (before and after) else after / before,
            "before_over_cartpole": None if not (before and ref) else before / ref,
            "after_over_cartpole": None if not (after and ref) else after / ref,
        })
    return out


def format_table(result: dict[str, Any]) -> str:
    """A Markdown table: env-steps/s before and after (CPU time, wall in brackets) and the ratios."""
    lines = [
        (
            "| env | configuration | before (cpu) | after (cpu) | after / before | before / CartPole "
            "| after / CartPole | before (wall) | after (wall) |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by_name = {(r["env_id"], r["name"]): r for r in result["ratios"]}

    def num(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    for row in result["rows"]:
        if row["env_id"] == CARTPOLE:
            ref = row["reference"]
            lines.append(f"| {CARTPOLE} | {row['name']} | {ref['cpu_steps_per_s']:,.0f} (reference) | | | | "
                         f"| {ref['wall_steps_per_s']:,.0f} | |")
            continue
        ratio = by_name[(row["env_id"], row["name"])]
        lines.append(
            f"| {row['env_id']} | {row['name']} | {num(_rate(row, 'before', 'cpu'), ',.0f')} "
            f"| {num(_rate(row, 'after', 'cpu'), ',.0f')} | {num(ratio['after_over_before'], '.2f')} "
            f"| {num(ratio['before_over_cartpole'], '.3f')} | {num(ratio['after_over_cartpole'], '.3f')} "
            f"| {num(_rate(row, 'before', 'wall'), ',.0f')} | {num(_rate(row, 'after', 'wall'), ',.0f')} |"
        )
    loads = ", ".join(f"{r['load_average_1m_start']}->{r['load_average_1m_end']}" for r in result["rounds"])
    lines.append("")
    lines.append(f"{result['settings']['rounds']} rounds x {result['settings']['repeats']} repeats of >= "
                 f"{result['settings']['min_seconds']} s, best run kept; 1-minute load average per round: {loads}; "
                 f"{result['seconds']} s in all.")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks/perf_compare.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="root of the tree measured as 'before' (holds progressgym_env/)")
    parser.add_argument("--after", default=str(AFTER_DEFAULT), help="root of the 'after' tree (default: this checkout)")
    parser.add_argument("--env-ids", type=lambda s: s.split(","), default=["PG-Follow-v0", "PG-Coevolve-v0"],
                        help="comma-separated PG env ids (default: PG-Follow-v0,PG-Coevolve-v0)")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[64, 4096],
                        help="N of the native and CartPole vector envs (default: 64,4096)")
    parser.add_argument("--sync-envs", type=int, default=64, help="N of SyncVectorEnv (default: 64)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: 3)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per child (default: 3)")
    parser.add_argument("--min-seconds", type=float, default=0.3, help="least duration of one timed run (default: 0.3)")
    parser.add_argument("--warmup", type=int, default=18, help="untimed steps before timing (default: 18)")
    parser.add_argument("--json", help="also write the results as JSON to this path (atomically)")
    parser.add_argument("--verbose", action="store_true", help="print every measurement to stderr")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.repeats < 1 or args.min_seconds <= 0:
        parser.error("--rounds and --repeats must be >= 1 and --min-seconds > 0")
    if any(n < 1 for n in args.sizes) or args.sync_envs < 1:
        parser.error("--sizes and --sync-envs must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        print(json.dumps(child(json.loads(argv[1]))))
        return 0
    args = parse_args(argv)
    result = compare(args)
    print(format_table(result))
    if args.json:
        from progressgym_env.common.atomic import atomic_write_text

        atomic_write_text(Path(args.json), json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
