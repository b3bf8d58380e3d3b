"""``progressgym perf``: env-steps/s of the single env, the native vector env and the sync baselines.

The options are the fields of :class:`~progressgym_env.perf.PerfConfig` and of :class:`PerfOutputArgs`
(shared with ``benchmarks/perf.py`` through :func:`add_arguments`).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

ALIASES = {"vector_sizes": ["--sizes"]}
"""Short spellings kept from earlier releases."""


@dataclass(frozen=True)
class PerfOutputArgs:
    """Options of the command beside the measurement settings."""

    history: str | None = field(
        default=None,
        metadata={"help": "history kwarg for every env (None = the envs' default); joins env_kwargs."},
    )
    json: str | None = field(default=None, metadata={"help": "Also write the results as JSON to this path."})


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from progressgym_env.cli.dataclass_args import HelpFormatter

    parser = subparsers.add_parser(
        "perf",
        help="measure environment throughput (single env, native vector env, SyncVectorEnv, DummyVecEnv)",
        description="Measure env-steps/s of every way to step the surrogate envs, for each challenge, and print "
        "a Markdown table (see progressgym_env/perf.py for the method).",
        formatter_class=HelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by ``progressgym perf`` and ``benchmarks/perf.py``."""
    from progressgym_env.cli.dataclass_args import add_dataclass_arguments
    from progressgym_env.perf import PerfConfig

    add_dataclass_arguments(parser, PerfConfig, aliases=ALIASES)
    add_dataclass_arguments(parser, PerfOutputArgs)


def run(args: argparse.Namespace) -> int:
    import json

    from progressgym_env.cli.dataclass_args import dataclass_from_args
    from progressgym_env.common.atomic import atomic_write_text
    from progressgym_env.perf import PerfConfig, format_table, run_perf

    output = dataclass_from_args(PerfOutputArgs, args)
    config = dataclass_from_args(PerfConfig, args)
    if output.history is not None:
        config = PerfConfig(
            **{
                **vars(config),
                "env_kwargs": {**config.env_kwargs, "history": output.history},
            }
        )
    result = run_perf(config, progress=lambda line: print(line, file=sys.stderr, flush=True))
    machine = result["machine"]
    print(
        f"{machine['cpu_model']}, {machine['cpu_cores']} cores, numpy {machine['numpy']}, gymnasium "
        f"{machine['gymnasium']}, SB3 {machine['stable_baselines3']}, load {machine.get('load_average_1m')} -> "
        f"{machine.get('load_average_1m_end')}, OPENBLAS {machine['openblas_env'] or '-'}"
    )
    print(format_table(result), end="")
    print(f"max RSS {result['max_rss_mib']} MiB")
    if output.json is not None:
        atomic_write_text(output.json, json.dumps(result, indent=2) + "\n")
        print(f"wrote {output.json}")
    return 0
