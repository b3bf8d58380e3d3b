"""Calibrate the surrogate on an 8B HistLlama3 (the C013 century proxy) on a GPU: transitions, fit, timed.

What ``progressgym calibrate`` costs and finds at paper scale: the llm backend with the agent's model
``PKU-Alignment/ProgressGym-HistLlama3-8B-C013-instruct-v0.2`` (a local copy: the benchmark machine
cannot reach the hub; pass ``--agent-model PATH``), ``humans="history"`` (no proxy model: answers
sampled from a moral19 procedural history), the package's default DPO update (TRL ``DPOTrainer``,
LoRA r 16, 8 pairs per step) and the evaluator on ``--eval-per-dim`` scenarios per dim, bf16. The
designed actions (pulses, random, zero) run for ``--episodes`` x 8 centuries, checkpointed under the
work folder (a re-run resumes), then the response model is fitted and selected on held-out
transitions. Writes the calibration (``--out``) and a report (``--json``: seconds per transition,
peak GPU memory, the fit's held-out statistics).

Exits 0 with a message when no CUDA device is present (unless ``--smoke``) or when the model folder
is missing. Usage on a GPU machine::

    python benchmarks/gpu_calibrate_histllama3.py --agent-model /models/HistLlama3-8B-C013 \\
        --workdir $OUT/calib --out $OUT/histllama3-8b.json --json $OUT/gpu_calibrate.json
    python benchmarks/gpu_calibrate_histllama3.py --smoke --json /tmp/smoke.json   # CPU check of the script
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HISTLLAMA3_C013 = "PKU-Alignment/ProgressGym-HistLlama3-8B-C013-instruct-v0.2"


def llm_settings(args: argparse.Namespace, agent: str, work: Path) -> dict[str, Any]:
    """The LLMConfig fields of the run (``--smoke``: the tiny world's fast settings)."""
    settings: dict[str, Any] = {
        "agent_model": agent,
        "humans": "history",
        "evaluator": {"max_scenarios_per_dim": args.eval_per_dim, "batch_size": args.eval_batch_size},
        "elicit_max_scenarios_per_dim": 1,
        "pairs_per_unit": args.pairs_per_unit,
        "dpo_args": {"per_device_train_batch_size": args.dpo_batch_size, "learning_rate": args.learning_rate},
        "history_cache_dir": str(work / "cache"),
        "device": "cpu" if args.smoke else "cuda",
    }
    if args.smoke:
        settings.update({"evaluator": {"max_scenarios_per_dim": 1, "formats": ("repeat",), "batch_size": 64},
                         "train_formats": ("repeat",), "pairs_per_unit": 4, "lora_r": 4, "lora_alpha": 8,
                         "dpo_args": {"per_device_train_batch_size": 4, "learning_rate": 1e-2, "max_steps": 1}})
    return settings


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import torch

    from progressgym_env.calibration.collect import CollectConfig, collect_transitions
    from progressgym_env.calibration.fit import fit_calibration
    from progressgym_env.common.atomic import atomic_write_text

    agent = args.agent_model
    if args.smoke:
        from progressgym_env.llm.tiny import build_tiny_model

        agent = str(build_tiny_model(work / "tiny-agent", seed=0))
    cuda = torch.cuda.is_available() and not args.smoke
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    collect = CollectConfig(history="procedural-moral19", episodes=args.episodes, steps_per_episode=args.steps,
                            seed=args.seed)
    started = time.perf_counter()
    document = collect_transitions(collect, llm_settings(args, agent, work), work / "run", progress=not args.smoke,
                                   log=lambda line: print(line, flush=True))
    collect_seconds = time.perf_counter() - started
    calibration = fit_calibration(document, args.name)
    if args.out:
        atomic_write_text(args.out, json.dumps(calibration, indent=1) + "\n")
    fit = calibration["fit"]
    seconds = [t["seconds"] for t in document["transitions"] if any(t["action"])]
    return {
        "agent_model": args.agent_model if not args.smoke else "tiny (smoke)",
        "transitions": len(document["transitions"]),
        "moved": fit["moved"],
        "collect_seconds": collect_seconds,
        "seconds_per_update": sum(seconds) / max(len(seconds), 1),
        "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0,
        "selected": fit["selected"],
        "held_out_r2": fit["held_out_r2"],
        "residual_over_measurement": fit["residual_over_measurement"],
        "digest": calibration["digest"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agent-model", default=HISTLLAMA3_C013, help="local folder of the 8B HistLlama3 C013")
    parser.add_argument("--episodes", type=int, default=6, help="episodes of designed centuries")
    parser.add_argument("--steps", type=int, default=8, help="centuries per episode (8: the whole history)")
    parser.add_argument("--eval-per-dim", type=int, default=20, help="eval scenarios per dim")
    parser.add_argument("--eval-batch-size", type=int, default=64)
    parser.add_argument("--pairs-per-unit", type=int, default=32)
    parser.add_argument("--dpo-batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--name", default="histllama3-8b-c013")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None, help="checkpoints and caches (default: a temp dir; keep it to resume)")
    parser.add_argument("--out", default=None, help="the calibration file to write")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny random model on the CPU, 2 episodes of 5 centuries: a check of the script")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available() and not args.smoke:
        print("no CUDA device: nothing measured (use --smoke to check the script on a CPU)")
        return 0
    if not args.smoke and not Path(args.agent_model).is_dir():
        print(f"{args.agent_model}: no such model folder (the benchmark machine cannot download it); nothing measured")
        return 0
    if args.smoke:
        args.episodes, args.steps = 2, 5
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        report = run(args, Path(args.workdir) if args.workdir else Path(tmp))
    print(f"{report['transitions']} transitions ({report['moved']} updates, {report['seconds_per_update']:.1f} s each); "
          f"selected {report['selected']['form']}; peak GPU {report['peak_gpu_gib']:.1f} GiB")
    if args.json:
        tmp_path = Path(args.json).with_suffix(".tmp")
        tmp_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
        tmp_path.replace(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
