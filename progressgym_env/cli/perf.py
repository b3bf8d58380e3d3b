"""``progressgym perf``: env-steps/s of the single env, the native vector env and the sync baselines."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, found {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive ints, found {text!r}")
    return values


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "perf",
        help="measure environment throughput (single env, native vector env, SyncVectorEnv, DummyVecEnv)",
        description="Measure env-steps/s of every way to step the surrogate envs, for each challenge, and print "
        "a Markdown table (see progressgym_env/perf.py for the method).",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by ``progressgym perf`` and ``benchmarks/perf.py``."""
    parser.add_argument("--env-ids", default="PG-Follow-v0,PG-Predict-v0,PG-Coevolve-v0", help="comma-separated ids")
    parser.add_argument("--sizes", type=_ints, default=(1, 64, 1024, 4096), help="N values of the native vector env")
    parser.add_argument("--baseline-envs", type=int, default=64, help="N of SyncVectorEnv, DummyVecEnv and exact mode")
    parser.add_argument("--min-seconds", type=float, default=0.5, help="least duration of one timed run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per configuration (the best counts)")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu", help="clock of the headline numbers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--history", default=None, help="history kwarg for every env (default: the envs' default)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results as JSON")


def run(args: argparse.Namespace) -> int:
    from progressgym_env.history import atomic_write_text
    from progressgym_env.perf import PerfConfig, format_table, run_perf

    config = PerfConfig(
        env_ids=tuple(e.strip() for e in args.env_ids.split(",") if e.strip()),
        vector_sizes=tuple(args.sizes),
        baseline_envs=args.baseline_envs,
        min_seconds=args.min_seconds,
        repeats=args.repeats,
        clock=args.clock,
        seed=args.seed,
        env_kwargs={} if args.history is None else {"history": args.history},
    )
    result = run_perf(config, progress=lambda line: print(line, file=sys.stderr, flush=True))
    machine = result["machine"]
    print(
        f"{machine['cpu_model']}, {machine['cpu_cores']} cores, numpy {machine['numpy']}, gymnasium "
        f"{machine['gymnasium']}, SB3 {machine['stable_baselines3']}, load {machine.get('load_average_1m')} -> "
        f"{machine.get('load_average_1m_end')}, OPENBLAS {machine['openblas_env'] or '-'}"
    )
    print(format_table(result), end="")
    print(f"max RSS {result['max_rss_mib']} MiB")
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
