"""``progressgym leaderboard DIR``: the leaderboard of DIR's results store (aggregated in the store), or of its
results.json / ProgressGym result files (recomputed from the vectors with the judges)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class LeaderboardArgs:
    """Options of ``progressgym leaderboard``."""

    dir: str = field(
        metadata={
            "help": "Benchmark output folder (holding results.json), or a ProgressGym result file or a folder "
            "of them (re-scored here with ProgressGym's formulas).",
            "positional": True,
        }
    )
    write: bool = field(
        default=False,
        metadata={"help": "Also rewrite DIR/leaderboard.md (atomically)."},
    )
    aggregation: str = field(
        default="default",
        metadata={
            "help": "Vectors of LLM-mode runs to score: default (the episode's own) or progressgym (the "
            "original evaluator's formulas, carried in each record; for comparison with the paper).",
            "choices": ("default", "progressgym"),
        },
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from progressgym_env.cli.dataclass_args import add_command

    add_command(
        subparsers,
        "leaderboard",
        LeaderboardArgs,
        run,
        help="recompute a benchmark's leaderboard from its results.json (scores re-judged from the vectors)",
        description="Read DIR/results.json (or ProgressGym result files), recompute every score from the saved "
        "episode vectors with the judges "
        "(stored scores are only checked, never used) and print the Markdown leaderboard. A results.json whose "
        "stored score disagrees with the recomputed one is refused (exit status 1); for ProgressGym result files "
        "the disagreement is printed as a warning (exit status 2).",
    )


def run(args: argparse.Namespace) -> int:
    from progressgym_env.benchmark.interop import load_any_results
    from progressgym_env.benchmark.leaderboard import (
        leaderboard_markdown,
        stored_score_mismatches,
    )
    from progressgym_env.benchmark.runner import LEADERBOARD_FILE
    from progressgym_env.cli.dataclass_args import dataclass_from_args
    from progressgym_env.common.atomic import atomic_write_text

    options = dataclass_from_args(LeaderboardArgs, args)
    from progressgym_env.benchmark.store_readers import reads_store

    if options.aggregation == "default" and reads_store(options.dir):
        # A results store: aggregated in the store (bounded memory, any size). Its stored scores are the
        # judges' (computed when the runs were written or imported from a validated results.json).
        from progressgym_env.benchmark.store_readers import store_leaderboard_markdown

        table = store_leaderboard_markdown(options.dir)
        print(table, end="")
        if options.write:
            atomic_write_text(Path(options.dir) / LEADERBOARD_FILE, table)
        return 0
    runs = load_any_results(options.dir)
    table = leaderboard_markdown(runs, options.aggregation)
    print(table, end="")
    mismatches = stored_score_mismatches(runs)
    for line in mismatches:
        print(f"warning: {line}")
    if options.write:
        atomic_write_text(Path(options.dir) / LEADERBOARD_FILE, table)
    return 2 if mismatches else 0

