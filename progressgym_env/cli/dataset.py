"""``progressgym dataset``: record episodes of a behaviour policy as a Minari dataset (offline RL).

Every option is a field of :class:`agents.offline.datasets.DatasetConfig`. The dataset goes to Minari's
data root (``MINARI_DATASETS_PATH``, default ``~/.minari/datasets``) under ``--dataset-id``; the command
prints its id, folder, size and write speed. Episodes are recorded on procedural training histories only
(env seeds below the validation seeds); an existing id is refused unless ``--overwrite``.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from agents.offline.datasets import DatasetConfig
    from progressgym_env.cli.dataclass_args import add_command

    add_command(
        subparsers,
        "dataset",
        DatasetConfig,
        run,
        help="record a behaviour policy's episodes on training histories as a Minari dataset",
        description="Write a Minari dataset (minari.load_dataset(ID)) of episodes of a challenge played by a "
        "behaviour policy: an agent name, '<name>@eps=<ε>' (ε-noisy) or a mixture '0.7*lifelong+0.3*random'. "
        "Procedural training histories only (env seeds below 10000; validation and test seeds and the corpus "
        "never go into a dataset); dataset.recover_environment(eval_env=True) gives the env on the validation "
        "histories. Written atomically; --overwrite replaces an existing id.",
    )


def run(args: argparse.Namespace) -> int:
    import time

    from agents.offline.datasets import DatasetConfig, write_dataset
    from progressgym_env.cli.dataclass_args import dataclass_from_args, fail

    config = dataclass_from_args(DatasetConfig, args)
    start = time.perf_counter()
    try:
        path = write_dataset(config)
    except KeyboardInterrupt:
        return fail("progressgym dataset", f"interrupted (Ctrl-C); nothing was written for {config.dataset_id}", 130)
    seconds = time.perf_counter() - start
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    print(f"wrote {config.dataset_id}: {config.episodes} episodes of {config.policy} on {config.challenge} "
          f"({config.history} histories, env seeds {config.first_seed}..{config.first_seed + config.episodes - 1}) "
          f"in {seconds:.1f} s ({config.episodes / seconds:.0f} episodes/s), {size / 1e6:.2f} MB at {path}")
    return 0
