"""Do proxies trained toward clearly different targets measure clearly different? (SmolLM2, CPU)

From the same base model, two DPO + LoRA updates with opposite actions on the pushed dims (by
default the 15 rule and foundation dims 0-14; ``--dims`` chooses; worldviews untouched): ``up``
pushes every one toward upholding the rule/foundation
(a_i = +1), ``down`` away from it (a_i = -1). Each updated model is measured with the evaluator on a
stratified eval subset; the script reports both vectors, their distance, and how each moved from the
base (sign agreement with the action, mean change over the pushed dims). This is the one-century
building block of ``progressgym make-proxies`` (same preference data, same ``dpo_update``), with the
whole per-century budget spent on one coherent direction.

    python benchmarks/smollm2_proxy_contrast.py --steps 12 --threads 1 --json contrast.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
import warnings
from typing import Any

import numpy as np


def _measure(model: Any, tokenizer: Any, per_dim: int) -> tuple[np.ndarray, float]:
    from progressgym_env.evaluator import EvaluatorConfig, ValueEvaluator
    from progressgym_env.evaluator.choosers import LogLikelihoodChooser

    started = time.perf_counter()
    values = ValueEvaluator(EvaluatorConfig(split="eval", max_scenarios_per_dim=per_dim, seed=0)).evaluate(
        LogLikelihoodChooser(model, tokenizer)
    )
    return np.asarray(values), time.perf_counter() - started


def _parse_dims(text: str) -> list[int]:
    """'10-14' -> [10, ..., 14]; '0,5,10' -> [0, 5, 10]; every dim must be in 0..18."""
    if "-" in text:
        first, last = (int(part) for part in text.split("-", 1))
        dims = list(range(first, last + 1))
    else:
        dims = [int(part) for part in text.split(",") if part.strip()]
    if not dims or any(not 0 <= d < 19 for d in dims):
        raise SystemExit(f"--dims must name dims in 0..18, got {text!r}")
    return dims


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=12, help="DPO optimiser steps per update")
    parser.add_argument("--batch-size", type=int, default=4, help="preference pairs per step")
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--eval-per-dim", type=int, default=2, help="eval scenarios per dim")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    parser.add_argument(
        "--dims", default="0-14", help="pushed dims: a range 'a-b' or a comma list (default: rules and foundations)"
    )
    args = parser.parse_args(argv)
    pushed_dims = _parse_dims(args.dims)
    warnings.simplefilter("ignore")
    import torch

    from progressgym_env.evaluator.bank import load_question_bank
    from progressgym_env.evaluator.choosers.encoding import PromptEncoder
    from progressgym_env.llm.config import LLMConfig
    from progressgym_env.llm.dpo_update import dpo_update
    from progressgym_env.llm.model_loading import load_causal_lm
    from progressgym_env.llm.preference_data import build_preference_pairs, dpo_rows

    if args.threads:
        torch.set_num_threads(args.threads)
    config = LLMConfig(
        pairs_per_unit=max(1, -(-args.steps * args.batch_size // len(pushed_dims))),
        dpo_args={"max_steps": args.steps, "per_device_train_batch_size": args.batch_size,
                  "learning_rate": args.learning_rate},
        device="cpu",
    )
    train = load_question_bank("train")
    model, tokenizer = load_causal_lm(args.base, device="cpu")
    base_values, base_seconds = _measure(model, tokenizer, args.eval_per_dim)
    del model
    results: dict[str, Any] = {
        "args": vars(args),
        "base": base_values.tolist(),
        "base_eval_seconds": base_seconds,
        "load_average_start": os.getloadavg()[0],
    }
    print(f"base measured in {base_seconds:.0f} s: {np.round(base_values, 3)}", flush=True)
    for name, sign in (("up", 1.0), ("down", -1.0)):
        action = np.zeros(19, dtype=np.float32)
        action[list(pushed_dims)] = sign
        model, tokenizer = load_causal_lm(args.base, device="cpu")
        pairs = build_preference_pairs(
            train, action, config.pairs_per_unit, np.random.default_rng(args.seed), config.train_formats
        )
        rows = dpo_rows(pairs, PromptEncoder(tokenizer))
        model, stats = dpo_update(model, tokenizer, rows, config, device="cpu", seed=args.seed)
        values, seconds = _measure(model, tokenizer, args.eval_per_dim)
        moved = values - base_values
        pushed = list(pushed_dims)
        results[name] = {
            "values": values.tolist(),
            "pairs": len(rows),
            "dpo_steps": stats.steps,
            "dpo_seconds": stats.seconds,
            "dpo_seconds_per_step": stats.seconds / max(stats.steps, 1),
            "dpo_loss": stats.loss,
            "eval_seconds": seconds,
            "mean_change_pushed_dims": float(moved[pushed].mean()),
            "sign_agreement_pushed_dims": float(np.mean(np.sign(moved[pushed]) == sign)),
        }
        print(
            f"{name}: {stats.steps} DPO steps in {stats.seconds:.0f} s (loss {stats.loss:.3f}), measured in "
            f"{seconds:.0f} s; mean change on the pushed dims {moved[pushed].mean():+.3f}, "
            f"sign agreement {results[name]['sign_agreement_pushed_dims']:.2f}",
            flush=True,
        )
        del model
        if args.json:
            with open(args.json, "w", encoding="utf-8") as handle:
                json.dump(results, handle, indent=2)
    up, down = np.array(results["up"]["values"]), np.array(results["down"]["values"])
    results["distance_up_down_l2"] = float(np.linalg.norm(up - down))
    results["distance_up_down_pushed_mean"] = float((up - down)[list(pushed_dims)].mean())
    results["share_pushed_dims_up_above_down"] = float(
        np.mean(up[list(pushed_dims)] > down[list(pushed_dims)])
    )
    results["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"up vs down: L2 distance {results['distance_up_down_l2']:.3f}, mean(up - down) on the pushed dims "
        f"{results['distance_up_down_pushed_mean']:+.3f}, up > down on {results['share_pushed_dims_up_above_down']:.0%} "
        f"of them; peak RSS {results['peak_rss_mib']:.0f} MiB"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
