"""The ``progressgym`` command: one subcommand per module of this package.

Every module ``progressgym_env/cli/<name>.py`` that defines ``add_parser(subparsers)`` becomes a
subcommand; ``add_parser`` creates its parser (options generated from the command's config dataclass
by ``simple-parsing``, through :mod:`~progressgym_env.cli.dataclass_args`) and sets ``func`` (called with the parsed namespace,
returning an exit code). Heavy imports (torch, transformers, SB3) belong inside ``func`` so
``progressgym --help`` and the surrogate commands stay fast.

Every error is one line on stderr, ``progressgym <command>: error: ...``: usage errors (bad options,
bad config values) exit with status 2, other failures (a corrupt results file, a missing model, a
missing optional dependency) with 1, Ctrl-C with 130 (also during start-up: one line, no traceback). ``PROGRESSGYM_TRACEBACK=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from progressgym_env.cli.dataclass_args import ArgumentParser, HelpFormatter, fail
from progressgym_env.common.signals import terminate_as_interrupt

EXTRAS: dict[str, str] = {
    "rich": "cli",
    "tqdm": "cli",
    "yaml": "cli",
    "matplotlib": "render",
    "stable_baselines3": "sb3",
    "wandb": "wandb",
    "torch": "llm",
    "transformers": "llm",
    "trl": "llm",
    "peft": "llm",
    "accelerate": "llm",
    "datasets": "llm",
    "tokenizers": "llm",
    "gguf": "llm",
    "vllm": "vllm",
    "minari": "offline",
    "torchrl": "offline",
    "tensordict": "offline",
    "statsmodels": "calibrate",
    "sklearn": "calibrate",
}
"""The extra of ``pyproject.toml`` that installs each optional top-level module."""

_NOT_SUBCOMMANDS = ("dataclass_args",)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every discovered subcommand."""
    parser = ArgumentParser(
        prog="progressgym",
        description="ProgressGym environments: run agents, benchmarks and value evaluations.",
        formatter_class=HelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    package = sys.modules[__name__]
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in _NOT_SUBCOMMANDS:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        add_parser = getattr(module, "add_parser", None)
        if add_parser is not None:
            add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``progressgym`` console script: parse, run, turn errors into one line."""
    try:
        return _main(argv)
    except KeyboardInterrupt as exc:  # during start-up (the command's own Ctrl-C is reported in _main)
        if os.environ.get("PROGRESSGYM_TRACEBACK"):
            raise
        return fail("progressgym", str(exc) or "interrupted (Ctrl-C) while starting; nothing was run", 130)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    prog = parser.prog
    terminate_as_interrupt()  # `kill` cleans up (temporary files, saved runs) as Ctrl-C does
    try:
        # Parsing builds the config dataclasses, so their validation errors are caught here too.
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            parser.print_help()
            return 2
        prog = f"progressgym {args.command}"
        return int(args.func(args) or 0)
    except BaseException as exc:
        if os.environ.get("PROGRESSGYM_TRACEBACK"):
            raise
        if isinstance(exc, KeyboardInterrupt):  # a command's own interruption says what it kept
            return fail(prog, str(exc) or "interrupted (Ctrl-C)", 130)
        status = error_status(exc)
        if status is None:
            raise
        return fail(getattr(exc, "cli_prog", prog), error_message(exc), status)


def error_status(exc: BaseException) -> int | None:
    """Exit status of an error the CLI reports as one line (2: usage, 1: failure); None: a bug, re-raise."""
    from progressgym_env.errors import ConfigError, ProgressGymError, UnknownKwargError

    if isinstance(exc, (ConfigError, UnknownKwargError)):
        return 2
    if isinstance(exc, (ProgressGymError, ValueError, OSError, ImportError)):
        return 1
    return None


def error_message(exc: BaseException) -> str:
    """The one-line text of ``exc``; a missing module names the extra that installs it."""
    from progressgym_env.errors import MissingExtraError

    if isinstance(exc, ModuleNotFoundError) and not isinstance(exc, MissingExtraError):
        top = (exc.name or "").split(".")[0]
        if top in EXTRAS:
            return str(MissingExtraError("this command", EXTRAS[top], top))
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or 'no such file or directory'}"
    return str(exc) or type(exc).__name__
