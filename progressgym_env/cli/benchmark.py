"""``progressgym benchmark``: the main job (agents × challenges × seeds → results, leaderboard, plots)."""

from __future__ import annotations

import argparse
import json


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from progressgym_env.benchmark.challenges import CHALLENGES
    from progressgym_env.benchmark.runner import DEFAULT_AGENTS, BenchmarkConfig

    defaults = BenchmarkConfig()
    parser = subparsers.add_parser(
        "benchmark",
        help="run agents on every challenge over seeds; write results.json, leaderboard.md, plots",
        description="Run each agent on each challenge for seeds 0..N-1 on one history (default: the real corpus "
        "history, surrogate backend). Writes OUT/results.json, OUT/leaderboard.md, OUT/plots/*.png and one "
        "offline wandb run per agent x challenge x seed in OUT/wandb. A second run into the same OUT appends "
        "(runs already there are skipped); a corrupt results.json is reported and left untouched.",
    )
    parser.add_argument("--agents", type=_csv, default=list(DEFAULT_AGENTS),
                        help=f"comma-separated agents (default {','.join(DEFAULT_AGENTS)}); "
                        "SB3 models as <algo>:<path/model.zip> ('{challenge}' in the path expands to the "
                        "challenge key), optionally LABEL=<spec>")
    parser.add_argument("--challenges", type=_csv, default=list(CHALLENGES),
                        help=f"comma-separated challenge keys (default {','.join(CHALLENGES)})")
    parser.add_argument("--seeds", type=int, default=defaults.seeds, help="seeds per agent and challenge")
    parser.add_argument("--history", default=defaults.history, help="corpus, procedural, or a trajectory file")
    parser.add_argument("--out", default=defaults.out, help="output folder")
    parser.add_argument("--backend", default=defaults.backend, help="surrogate (default) or llm")
    parser.add_argument("--backend-config", type=json.loads, default={}, help="backend settings as JSON")
    parser.add_argument("--no-wandb", action="store_true", help="do not log runs to wandb")
    parser.add_argument("--wandb-mode", default=defaults.wandb_mode, choices=("offline", "online", "disabled"))
    parser.add_argument("--wandb-project", default=defaults.wandb_project)
    parser.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    from progressgym_env.benchmark.results import ResultsFileError
    from progressgym_env.benchmark.runner import BenchmarkConfig, run_benchmark
    from progressgym_env.errors import ConfigError

    try:
        config = BenchmarkConfig(
            agents=args.agents,
            challenges=args.challenges,
            seeds=args.seeds,
            history=args.history,
            out=args.out,
            backend=args.backend,
            backend_config=args.backend_config,
            wandb=not args.no_wandb,
            wandb_mode=args.wandb_mode,
            wandb_project=args.wandb_project,
            plots=not args.no_plots,
            progress=not args.no_progress,
        )
        start = time.perf_counter()
        summary = run_benchmark(config)
    except (ResultsFileError, ConfigError) as exc:
        print(f"progressgym benchmark: error: {exc}")
        return 1
    print(summary.leaderboard_path.read_text(encoding="utf-8"))
    print(
        f"{summary.new_runs} runs in {time.perf_counter() - start:.1f} s ({summary.skipped_runs} already in "
        f"{summary.results_path}, skipped); {summary.total_runs} runs in total. Leaderboard: {summary.leaderboard_path}"
    )
    return 0
