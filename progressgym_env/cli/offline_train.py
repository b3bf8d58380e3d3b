"""``progressgym offline-train``: train an offline agent (BC, IQL, CQL) from a Minari dataset.

Every option is a field of :class:`agents.offline.training.OfflineConfig`. The run keeps the checkpoint
with the best mean score on the dataset's procedural validation histories and prints where it is; add it
to a benchmark with ``--agents offline:<out>/policy.pt`` (the file, so the run key holds its hash).
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from agents.offline.training import OfflineConfig
    from progressgym_env.cli.dataclass_args import add_command

    add_command(
        subparsers,
        "offline-train",
        OfflineConfig,
        run,
        help="train behaviour cloning, IQL or CQL (torchrl) from a Minari dataset of progressgym dataset",
        description="Offline RL on a dataset written by progressgym dataset: behaviour cloning, IQL or CQL "
        "(torchrl's losses), model selection on the dataset's procedural validation histories (env seeds "
        "10000..). Writes <out>/policy.pt and <out>/config.json; benchmark it with --agents "
        "offline:<out>/policy.pt.",
    )


def run(args: argparse.Namespace) -> int:
    from agents.offline.training import OfflineConfig, train_offline
    from progressgym_env.cli.dataclass_args import dataclass_from_args, fail

    config = dataclass_from_args(OfflineConfig, args)
    try:
        record = train_offline(config)
    except KeyboardInterrupt:
        return fail("progressgym offline-train", "interrupted (Ctrl-C); the best validated checkpoint so far, if "
                    f"validation ran, is {config.output_dir() / 'policy.pt'} (config.json status: running)", 130)
    curve = record["validation"]
    print(f"{config.algo} on {config.dataset} (seed {config.seed}): {config.steps} steps in {record['train_seconds']} s; "
          f"validation normalized_score {curve['best_mean']:+.3f} (best at step {curve['best_step']}); saved "
          f"{config.output_dir() / 'policy.pt'}")
    return 0
