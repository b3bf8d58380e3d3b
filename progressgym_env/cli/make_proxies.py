"""``progressgym make-proxies --base MODEL --history procedural-moral19 --out DIR``: synthetic century proxies.

Builds nine century models from a base model by DPO toward each century's target vector, measures
each with the moral19 evaluator, and writes ``DIR/history.json`` (the measured ``models`` history).
Re-running the same command resumes at the first unfinished century. The logic lives in
:mod:`progressgym_env.llm.synthetic_proxies`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from progressgym_env.llm.synthetic_proxies import SyntheticProxyConfig

    parser = subparsers.add_parser(
        "make-proxies",
        help="build 9 synthetic century proxies from a base model and write their measured history",
        description=(__doc__ or "").split("\n\n")[1].replace("\n", " "),
    )
    defaults = SyntheticProxyConfig()
    for f in fields(SyntheticProxyConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=f.metadata["help"]
            )
        elif f.name == "eval_max_scenarios_per_dim":
            parser.add_argument(
                flag, type=_int_or_none, default=default, help=f.metadata["help"] + " (write 'none' for all)"
            )
        else:
            parser.add_argument(flag, type=type(default), default=default, help=f.metadata["help"])
    parser.set_defaults(func=run)


def _int_or_none(text: str) -> int | None:
    return None if text.lower() in ("none", "all") else int(text)


def run(args: argparse.Namespace) -> int:
    from progressgym_env.errors import ProgressGymError
    from progressgym_env.llm.synthetic_proxies import SyntheticProxyConfig, build_synthetic_proxies

    try:
        config = SyntheticProxyConfig(**{f.name: getattr(args, f.name) for f in fields(SyntheticProxyConfig)})
        history, records = build_synthetic_proxies(config, log=lambda line: print(line, file=sys.stderr))
    except ProgressGymError as exc:
        print(f"progressgym make-proxies: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {config.out}/history.json: {history.num_steps} centuries x {history.dim} dims (measured)")
    for record in records:
        print(
            f"  C{record.century:03d}  move/action cosine {record.moved_toward_target:+.2f}  "
            f"DPO {record.dpo_steps} steps {record.dpo_seconds:6.1f} s  eval {record.eval_seconds:6.1f} s"
        )
    return 0
