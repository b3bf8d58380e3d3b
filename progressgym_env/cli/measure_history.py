"""``progressgym measure-history --models P1 ... P9 --out FILE``: measure a ``models`` history.

Evaluates each checkpoint (century 13 first) with the moral19 evaluator and writes the trajectory
file (JSON keeps the provenance: model ids, their identities and the evaluator config). The logic
lives in :func:`progressgym_env.llm.measure.measure_history`. The options are the fields of
:class:`MeasureHistoryArgs` and of the :class:`~progressgym_env.evaluator.EvaluatorConfig`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

EVALUATOR_DEFAULTS = {"batch_size": 64}
"""The evaluator batch here is also the sequences per forward pass: 64 fits a CPU or a small GPU."""


@dataclass(frozen=True)
class MeasureHistoryArgs:
    """What ``measure-history`` needs beside the evaluator settings."""

    models: tuple[str, ...] = field(
        metadata={
            "help": "Checkpoints, one per century, century 13 first (local folders or hub ids; "
            "space- or comma-separated).",
            "custom_args": {"nargs": "+", "type": str, "metavar": "MODEL"},  # simple-parsing's add_argument options
        }
    )
    out: str = field(metadata={"help": "Output trajectory file (.json keeps provenance, or .csv)."})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or cuda:N."})
    dtype: str = field(
        default="auto",
        metadata={
            "help": "Weights dtype.",
            "choices": ("auto", "float32", "bfloat16", "float16"),
        },
    )
    progress: bool = field(default=True, metadata={"help": "Show a progress bar over the models."})

    def __post_init__(self) -> None:
        """``--models a b,c``: each word may hold several comma-separated checkpoints."""
        models = tuple(m.strip() for word in self.models for m in word.split(",") if m.strip())
        object.__setattr__(self, "models", models)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from progressgym_env.cli.dataclass_args import add_command, add_dataclass_arguments
    from progressgym_env.evaluator.config import EvaluatorConfig

    parser = add_command(
        subparsers,
        "measure-history",
        MeasureHistoryArgs,
        run,
        help="measure the moral19 vectors of century checkpoints and write a models history file",
        description="Evaluate one checkpoint per century (century 13 first; 9 for the ProgressGym timeline) with "
        "the moral19 value evaluator and write the trajectory file used by history=<FILE> or the llm backend.",
    )
    add_dataclass_arguments(parser, EvaluatorConfig, defaults=EVALUATOR_DEFAULTS, title="evaluator")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from progressgym_env.cli.dataclass_args import dataclass_from_args
    from progressgym_env.evaluator.config import EvaluatorConfig
    from progressgym_env.llm.measure import measure_history, write_measured_history

    options = dataclass_from_args(MeasureHistoryArgs, args)
    evaluator = dataclass_from_args(EvaluatorConfig, args)
    history, _ = measure_history(
        options.models,
        evaluator_config=evaluator,
        device=options.device,
        dtype=options.dtype,
        batch_size=evaluator.batch_size,
        progress=options.progress,
    )
    path = write_measured_history(history, Path(options.out))
    print(f"wrote {path}: {history.num_centuries} centuries x {history.dim} dims")
    return 0
