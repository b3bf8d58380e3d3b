"""``progressgym measure-history --models P1 ... P9 --out FILE``: measure a ``models`` history.

Evaluates each checkpoint (century 13 first) with the moral19 evaluator and writes the trajectory
file (JSON keeps the provenance: model ids, their identities and the evaluator config). The logic
lives in :func:`progressgym_env.llm.measure.measure_history`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "measure-history",
        help="measure the moral19 vectors of century checkpoints and write a models history file",
        description="Evaluate one checkpoint per century (century 13 first; 9 for the ProgressGym timeline) with "
        "the moral19 value evaluator and write the trajectory file used by history=<FILE> or the llm backend.",
    )
    parser.add_argument("--models", nargs="+", required=True, metavar="MODEL",
                        help="checkpoints, one per century (local folders or hub ids)")
    parser.add_argument("--out", required=True, help="output trajectory file (.json keeps provenance, or .csv)")
    parser.add_argument("--split", default="eval", choices=("eval", "train", "all"), help="bank split to measure on")
    parser.add_argument("--formats", nargs="+", default=None, metavar="FORMAT",
                        help="question formats (default: label yesno repeat)")
    parser.add_argument("--max-scenarios-per-dim", type=int, default=None,
                        help="quick measurement on a stratified subset of this many scenarios per dim")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"))
    parser.add_argument("--batch-size", type=int, default=64, help="sequences per forward pass")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from progressgym_env.errors import ProgressGymError
    from progressgym_env.evaluator import FORMATS, EvaluatorConfig
    from progressgym_env.llm.measure import measure_history, write_measured_history

    try:
        config = EvaluatorConfig(
            split=args.split,
            formats=tuple(args.formats) if args.formats else FORMATS,
            max_scenarios_per_dim=args.max_scenarios_per_dim,
            batch_size=args.batch_size,
        )
        history, _ = measure_history(
            args.models,
            evaluator_config=config,
            device=args.device,
            dtype=args.dtype,
            batch_size=args.batch_size,
            progress=not args.no_progress,
        )
        path = write_measured_history(history, Path(args.out))
    except ProgressGymError as exc:
        print(f"progressgym measure-history: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}: {history.num_steps} centuries x {history.dim} dims")
    return 0
