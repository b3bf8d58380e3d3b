"""``progressgym leaderboard DIR``: recompute the leaderboard from DIR/results.json with the judges."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "leaderboard",
        help="recompute a benchmark's leaderboard from its results.json (scores re-judged from the vectors)",
        description="Read DIR/results.json, recompute every score from the saved episode vectors with the judges "
        "(stored scores are only checked, never used) and print the Markdown leaderboard.",
    )
    parser.add_argument("dir", help="benchmark output folder (holding results.json)")
    parser.add_argument("--write", action="store_true", help="also rewrite DIR/leaderboard.md (atomically)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from progressgym_env.benchmark.leaderboard import leaderboard_markdown, stored_score_mismatches
    from progressgym_env.benchmark.results import RESULTS_FILE, ResultsFileError, load_results
    from progressgym_env.benchmark.runner import LEADERBOARD_FILE
    from progressgym_env.history import atomic_write_text

    path = Path(args.dir) / RESULTS_FILE
    if not path.is_file():
        print(f"progressgym leaderboard: error: {path} does not exist (run `progressgym benchmark --out {args.dir}` first)")
        return 1
    try:
        runs = load_results(path)
    except ResultsFileError as exc:
        print(f"progressgym leaderboard: error: {exc}")
        return 1
    table = leaderboard_markdown(runs)
    print(table, end="")
    mismatches = stored_score_mismatches(runs)
    for line in mismatches:
        print(f"warning: {line}")
    if args.write:
        atomic_write_text(Path(args.dir) / LEADERBOARD_FILE, table)
    return 2 if mismatches else 0
