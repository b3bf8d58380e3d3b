"""``progressgym calibrate``: fit the surrogate's physics to transitions of a real (llm) backend.

Collects transitions on the llm backend in vector mode under the designed action set (per-dim
pulses of both signs and several sizes, random and zero actions; :mod:`progressgym_env.calibration`),
checkpointed under ``--run-dir`` (re-run the same command to resume after a kill), then fits the
response model, selects it on held-out transitions and writes the sealed calibration JSON to ``--out``.
Use it with ``gym.make(..., backend_config={"calibration": OUT})``. ``--transitions FILE`` fits an
existing transitions file (or several collections of one setting, e.g. seeds run in parallel) without
collecting.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CalibrateArgs:
    """Where the transitions come from and where the calibration goes."""

    out: str = field(metadata={"help": "The calibration file to write (JSON)."})
    name: str = field(default="calibration", metadata={"help": "The calibration's name (recorded in the file)."})
    llm_config: str | None = field(
        default=None,
        metadata={"help": "The llm backend's settings: a JSON file of LLMConfig fields, or a tiny-world folder "
                  "(python -m progressgym_env.llm.tiny FOLDER)."},
    )
    run_dir: str | None = field(default=None, metadata={"help": "Checkpoints and transitions.json (re-run to resume)."})
    transitions: tuple[str, ...] = field(
        default=(),
        metadata={"help": "Fit these transitions files (collections of one setting) instead of collecting.",
                  "custom_args": {"nargs": "+", "type": str, "metavar": "FILE", "required": False}},
    )
    fit_seed: int = field(default=0, metadata={"help": "Seed of the held-out split."})
    threads: int = field(default=0, metadata={"help": "torch CPU threads while collecting (0: torch's default)."})
    progress: bool = field(default=True, metadata={"help": "Show a progress bar while collecting."})


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from progressgym_env.calibration.collect import CollectConfig
    from progressgym_env.cli.dataclass_args import add_command, add_dataclass_arguments, clean_text

    parser = add_command(
        subparsers,
        "calibrate",
        CalibrateArgs,
        run,
        help="collect llm-backend transitions and fit a calibrated surrogate physics",
        description=clean_text((__doc__ or "").split("\n\n", 1)[1]),
    )
    add_dataclass_arguments(parser, CollectConfig, title="collection")


def _llm_config(source: str) -> object:
    """An LLMConfig from a JSON file of its fields or a tiny-world folder."""
    import json
    from pathlib import Path

    from progressgym_env.errors import ConfigError
    from progressgym_env.llm.config import LLMConfig
    from progressgym_env.llm.tiny import TINY_WORLD_FILE

    path = Path(source)
    if path.is_dir():
        world = path / TINY_WORLD_FILE
        if not world.is_file():
            raise ConfigError(f"--llm-config {source}: a folder must hold {TINY_WORLD_FILE} (a tiny world)")
        return LLMConfig.from_any(json.loads(world.read_text(encoding="utf-8"))["config"])
    if not path.is_file():
        raise ConfigError(f"--llm-config {source}: no such file or folder")
    try:
        return LLMConfig.from_any(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--llm-config {source}: not JSON ({exc})") from exc


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    import numpy as np

    from progressgym_env.calibration.collect import (
        CollectConfig,
        collect_transitions,
        load_transitions,
        merge_transitions,
    )
    from progressgym_env.calibration.fit import fit_calibration
    from progressgym_env.cli.dataclass_args import dataclass_from_args
    from progressgym_env.common.atomic import atomic_write_text
    from progressgym_env.errors import ConfigError

    options = dataclass_from_args(CalibrateArgs, args)
    collect = dataclass_from_args(CollectConfig, args)
    if options.transitions:
        files = list(options.transitions)
        document = merge_transitions([load_transitions(f) for f in files], files)
    else:
        if options.llm_config is None or options.run_dir is None:
            raise ConfigError("give --llm-config and --run-dir to collect transitions, or --transitions FILE to fit one")
        if options.threads:
            import torch

            torch.set_num_threads(options.threads)
        document = collect_transitions(collect, _llm_config(options.llm_config), options.run_dir,
                                       progress=options.progress, log=lambda line: print(line, file=sys.stderr))
    calibration = fit_calibration(document, options.name, seed=options.fit_seed)
    atomic_write_text(options.out, json.dumps(calibration, indent=1) + "\n")
    fit = calibration["fit"]
    r2 = [v for v in fit["held_out_r2"] if v is not None]
    ratio = [v for v in fit["residual_over_measurement"] if v is not None]
    print(f"wrote {options.out}: {fit['moved']} transitions that updated the model ({fit['zero_actions']} zero actions), "
          f"selected {fit['selected']['form']} (saturation {fit['selected']['saturation']}); held-out R^2 median "
          f"{np.median(r2) if r2 else float('nan'):.2f}, residual / measurement noise median "
          f"{np.median(ratio) if ratio else float('nan'):.2f}; Coevolve pulls: {calibration['coevolve']['source']}")
    return 0
