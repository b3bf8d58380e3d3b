"""``progressgym make-proxies --base MODEL --history procedural-moral19 --out DIR``: synthetic century proxies.

Builds nine century models from a base model by DPO toward each century's target vector, measures
each with the moral19 evaluator, and writes ``DIR/history.json`` (the measured ``models`` history).
Re-running the same command resumes at the first unfinished century. The logic lives in
:mod:`progressgym_env.llm.synthetic_proxies`; every option is a field of its
:class:`~progressgym_env.llm.synthetic_proxies.SyntheticProxyConfig`.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from progressgym_env.cli.dataclass_args import add_command, clean_text
    from progressgym_env.llm.synthetic_proxies import SyntheticProxyConfig

    add_command(
        subparsers,
        "make-proxies",
        SyntheticProxyConfig,
        run,
        help="build 9 synthetic century proxies from a base model and write their measured history",
        description=clean_text((__doc__ or "").split("\n\n", 1)[1]),
    )


def run(args: argparse.Namespace) -> int:
    from progressgym_env.cli.dataclass_args import dataclass_from_args
    from progressgym_env.llm.synthetic_proxies import (
        SyntheticProxyConfig,
        build_synthetic_proxies,
    )

    config = dataclass_from_args(SyntheticProxyConfig, args)
    history, records = build_synthetic_proxies(config, log=lambda line: print(line, file=sys.stderr))
    print(f"wrote {config.out}/history.json: {history.num_centuries} centuries x {history.dim} dims (measured)")
    for record in records:
        print(
            f"  C{record.century:03d}  move/action cosine {record.moved_toward_target:+.2f}  "
            f"DPO {record.dpo_steps} steps {record.dpo_seconds:6.1f} s  eval {record.eval_seconds:6.1f} s"
        )
    return 0
