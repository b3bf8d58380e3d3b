"""``progressgym export RESULTS --format progressgym --out DIR``: results in ProgressGym's own result fields."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ExportConfig:
    """Options of ``progressgym export``."""

    results: str = field(
        metadata={"help": "Benchmark output folder (holding results.json).", "positional": True}
    )
    out: str = field(metadata={"help": "Folder to write one JSON file per run into."})
    format: str = field(
        default="progressgym",
        metadata={
            "help": "Output format: progressgym (the fields ProgressGym's judges read).",
            "choices": ("progressgym",),
        },
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from progressgym_env.cli.dataclass_args import add_command

    add_command(
        subparsers,
        "export",
        ExportConfig,
        run,
        help="write each run as a ProgressGym result file (actual/examinee vectors, simulated/actual model vectors)",
        description="Write one JSON per run of RESULTS (the newest model of each label) with the fields ProgressGym's "
        "interpret_result reads (Follow/Predict: actual_vector, examinee_vector, timesteps_ahead; Coevolve: "
        "simulated_model_vector, actual_model_vector), plus this package's final_score. `progressgym leaderboard "
        "OUT` re-scores and ranks them.",
    )


def run(args: argparse.Namespace) -> int:
    from progressgym_env.benchmark.interop import export_progressgym, load_any_results
    from progressgym_env.benchmark.leaderboard import label_settings, latest_models_only
    from progressgym_env.cli.dataclass_args import dataclass_from_args
    from progressgym_env.common.atomic import remove_stale_temp_files

    config = dataclass_from_args(ExportConfig, args)
    remove_stale_temp_files(config.out)  # what a killed export left there (its process gone)
    from progressgym_env.benchmark.store import ResultsStore
    from progressgym_env.benchmark.store_readers import reads_store

    if reads_store(config.results):  # a large folder's store: streamed, a batch of runs at a time
        from progressgym_env.benchmark.store_readers import store_leaderboard, tabulated_runs

        store = ResultsStore(config.results)
        written = export_progressgym(tabulated_runs(store, store_leaderboard(store)), config.out)
    else:
        runs, _ = latest_models_only(label_settings(load_any_results(config.results)))
        written = export_progressgym([r for r in runs if r.get("episode_record") is not None], config.out)
    print(f"wrote {len(written)} ProgressGym result files to {config.out}")
    return 0
