"""The ``progressgym`` command: one subcommand per module of this package.

Every module ``progressgym_env/cli/<name>.py`` that defines ``add_parser(subparsers)`` becomes a
subcommand; ``add_parser`` creates its parser and sets ``func`` (called with the parsed namespace,
returning an exit code). Heavy imports belong inside ``func`` so ``progressgym --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Sequence


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every discovered subcommand."""
    parser = argparse.ArgumentParser(
        prog="progressgym",
        description="ProgressGym environments: run agents, benchmarks and value evaluations.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    package = sys.modules[__name__]
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        add_parser = getattr(module, "add_parser", None)
        if add_parser is not None:
            add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``progressgym`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)
