"""Evaluator throughput on CPU: scored candidates per second, batched vs unbatched, same run.

Builds the tiny test Llama (or loads ``--model``), renders a stratified subset of the eval split and
measures the HF log-likelihood chooser at each ``--batch-sizes`` value on the same questions, after a
warm-up, in each ``--modes`` mode: ``plain`` (one forward pass per prompt+candidate,
``share_prompt_cache=False``) and ``prefix`` (shared prompt prefixes computed once and their KV cache
continued, the chooser's default; ``batch_size`` then caps rows per pass). Reports scored
candidates/s, real tokens/s, padding overhead, and the largest difference of the value vector from the
first row's (batching and prefix sharing must not change results).

Usage::

    python benchmarks/evaluator_throughput.py                      # batch sizes 1 and 32, both modes
    python benchmarks/evaluator_throughput.py --batch-sizes 1,8,32,64 --threads 2 --json out.json
    python benchmarks/evaluator_throughput.py --max-scenarios-per-dim 0   # whole eval split
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass
class ThroughputConfig:
    """Settings of one throughput run (saved in the JSON output)."""

    model: str | None = field(default=None, metadata={"help": "Model folder; default: build the tiny Llama."})
    batch_sizes: tuple[int, ...] = field(
        default=(1, 32), metadata={"help": "Chooser batch sizes to compare."}
    )
    modes: tuple[str, ...] = field(
        default=("plain", "prefix"), metadata={"help": "plain and/or prefix scoring."}
    )
    max_scenarios_per_dim: int = field(default=8, metadata={"help": "Subset cap per dim; 0 = whole split."})
    split: str = field(default="eval", metadata={"help": "Bank split."})
    repeats: int = field(default=1, metadata={"help": "Timed evaluations per batch size (best is kept)."})
    threads: int | None = field(default=None, metadata={"help": "torch.set_num_threads; default: torch's."})


@dataclass
class ThroughputRow:
    """One measured batch size."""

    mode: str
    batch_size: int
    seconds: float
    candidates: int
    tokens: int
    padded_tokens: int
    candidates_per_s: float
    tokens_per_s: float
    max_abs_diff_vs_first: float


def parse_args() -> tuple[ThroughputConfig, str | None]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--model", default=None, help=ThroughputConfig.__dataclass_fields__["model"].metadata["help"]
    )
    p.add_argument("--batch-sizes", default="1,32", help="comma-separated chooser batch sizes")
    p.add_argument("--modes", default="plain,prefix", help="comma-separated: plain, prefix")
    p.add_argument("--max-scenarios-per-dim", type=int, default=8, help="subset cap per dim; 0 = whole split")
    p.add_argument("--split", default="eval", choices=("eval", "train", "all"))
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    a = p.parse_args()
    sizes = tuple(int(x) for x in a.batch_sizes.split(",") if x.strip())
    modes = tuple(m.strip() for m in a.modes.split(",") if m.strip())
    unknown = [m for m in modes if m not in ("plain", "prefix")]
    if unknown:
        p.error(f"--modes takes plain and/or prefix, got {unknown}")
    cfg = ThroughputConfig(a.model, sizes, modes, a.max_scenarios_per_dim, a.split, a.repeats, a.threads)
    return cfg, a.json


def run(cfg: ThroughputConfig) -> dict:
    """Measure every batch size on the same questions; return a JSON-ready report."""
    import numpy as np
    import torch

    from progressgym_env.evaluator import EvaluatorConfig, ValueEvaluator
    from progressgym_env.evaluator.choosers import LogLikelihoodChooser, load_model_and_tokenizer
    from progressgym_env.llm.tiny import build_tiny_model

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = cfg.model or build_tiny_model(Path(tmp) / "tiny")
        model, tokenizer = load_model_and_tokenizer(model_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluator = ValueEvaluator(EvaluatorConfig(
            split=cfg.split, max_scenarios_per_dim=cfg.max_scenarios_per_dim or None, batch_size=4096
        ))
    questions = evaluator.questions()
    for share in (False, True):  # warm-up both paths
        LogLikelihoodChooser(model, tokenizer, batch_size=8, share_prompt_cache=share)(questions[:8])

    rows: list[ThroughputRow] = []
    first_values = None
    for mode in cfg.modes:
        for bs in cfg.batch_sizes:
            best = None
            for _ in range(max(1, cfg.repeats)):
                chooser = LogLikelihoodChooser(
                    model, tokenizer, batch_size=bs, share_prompt_cache=mode == "prefix"
                )
                start = time.perf_counter()
                values = evaluator.evaluate(chooser)
                seconds = time.perf_counter() - start
                if best is None or seconds < best[0]:
                    best = (seconds, values, chooser.stats)
            seconds, values, stats = best
            if first_values is None:
                first_values = values
            rows.append(
                ThroughputRow(
                    mode=mode,
                    batch_size=bs,
                    seconds=seconds,
                    candidates=stats.candidates,
                    tokens=stats.tokens,
                    padded_tokens=stats.padded_tokens,
                    candidates_per_s=stats.candidates / seconds,
                    tokens_per_s=stats.tokens / seconds,
                    max_abs_diff_vs_first=float(np.max(np.abs(values - first_values))),
                )
            )
    return {
        "config": {**asdict(cfg), "batch_sizes": list(cfg.batch_sizes), "modes": list(cfg.modes)},
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "loadavg_1m_at_end": os.getloadavg()[0],
        },
        "model_parameters": sum(p.numel() for p in model.parameters()),
        "questions": len(questions),
        "scenarios": len(evaluator.bank),
        "rows": [asdict(r) for r in rows],
    }


def print_table(report: dict) -> None:
    print(
        f"{report['questions']} questions ({report['scenarios']} scenarios), model "
        f"{report['model_parameters']:,} params, torch threads {report['machine']['torch_threads']}, "
        f"load average {report['machine']['loadavg_1m_at_end']:.1f} on {report['machine']['cpu_count']} CPUs"
    )
    header = (
        f"{'mode':>6} {'batch':>5} {'seconds':>8} {'candidates':>10} {'cand/s':>9} {'tokens/s':>10} "
        f"{'pad %':>6} {'max|dv|':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in report["rows"]:
        pad = 100 * (1 - r["tokens"] / r["padded_tokens"]) if r["padded_tokens"] else 0.0
        print(
            f"{r['mode']:>6} {r['batch_size']:>5} {r['seconds']:>8.2f} {r['candidates']:>10} "
            f"{r['candidates_per_s']:>9.0f} "
            f"{r['tokens_per_s']:>10.0f} {pad:>6.1f} {r['max_abs_diff_vs_first']:>9.1e}"
        )


def main() -> None:
    cfg, json_path = parse_args()
    report = run(cfg)
    print_table(report)
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2))
        print(f"wrote {json_path}")


if __name__ == "__main__":
    main()
