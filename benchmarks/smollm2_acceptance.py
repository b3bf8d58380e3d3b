"""Does DPO on a proxy's judged pairs raise agreement with the proxy on held-out questions? (SmolLM2, CPU)

The acceptance check of the examinee baselines' core step, measured honestly:

1. **Proxy.** A respondent whose preferences are known: on every foundations scenario (dims 10-14 by
   default) it picks the option that upholds the foundation with probability ``--proxy-p`` (0.9).
   It answers from this vector, as the history-driven respondent of the ``llm`` backend does, so no
   second model is needed.
2. **Judged pairs.** The proxy judges ``--train-per-dim`` train-split scenarios per dim: each verdict
   (chosen = the option it picked, rejected = the other) is rendered in the training formats and in
   **both display orders**, so no slot or yes/no answer is preferred by the data.
   Rows are trained in shuffled blocks of 4 (two verdicts' both orders) in order, so every batch of a
   multiple of 4 rows is slot-balanced (``--shuffled``: the trainer's random order instead). With
   ``--anchor-formats label,yesno`` the verdicts are rendered in those formats as slot anchors instead
   (each row with its mirror, :func:`~progressgym_env.llm.preference_data.mirrored_rows`, what the
   examinees' ``anchor_formats`` does), which pull the letter / yes-no preference back to the start model's.
3. **lifelong-dpo vs static.** One DPO + LoRA update of SmolLM2-135M-Instruct on those pairs (TRL's
   ``DPOTrainer`` through :func:`progressgym_env.llm.dpo_update.dpo_update`, the same judged-pair DPO
   the ``lifelong-dpo`` examinee runs each century) against the untouched model (``static``).
4. **Measurement.** Both models on ``--eval-per-dim`` eval-split scenarios per dim (held out: never
   trained on), every format and display order. Agreement = mean over scenarios of the probability
   that model and proxy pick the same option; its standard error is the evaluator's scenario-sampling
   error. Position bias = the evaluator's per-format position diagnostic (label, yesno).

    nice -n 10 python benchmarks/smollm2_acceptance.py --threads 1 --json acceptance.json

Reports the change in agreement in units of its standard error (paired over the same scenarios, and
the conservative unpaired sqrt(se_a^2 + se_b^2)), per-dim value changes in units of the reported
per-dim standard errors, and the position diagnostics before and after.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import warnings
from typing import Any

import numpy as np


def _parse_dims(text: str) -> list[int]:
    """'10-14' -> [10, ..., 14]; '10,12' -> [10, 12]; foundations dims only (10-14)."""
    if "-" in text:
        first, last = (int(part) for part in text.split("-", 1))
        dims = list(range(first, last + 1))
    else:
        dims = [int(part) for part in text.split(",") if part.strip()]
    if not dims or any(not 10 <= d <= 14 for d in dims):
        raise SystemExit(f"--dims must name foundations dims in 10..14, got {text!r}")
    return dims


def _scenarios(split: str, dims: list[int], per_dim: int, seed: int) -> Any:
    """``per_dim`` seeded scenarios of each foundations dim in ``dims`` (a QuestionBank)."""
    from progressgym_env.evaluator import QuestionBank, load_question_bank

    bank = load_question_bank(split)
    rng = np.random.default_rng(seed)
    chosen = []
    for dim in dims:
        pool = bank.for_dim(dim)
        chosen += [pool[int(i)] for i in rng.permutation(len(pool))[:per_dim]]
    return QuestionBank(tuple(chosen), split, bank.eval_fraction)


def _measure(model: Any, tokenizer: Any, bank: Any, proxy_p: float, batch_size: int) -> dict[str, Any]:
    """Evaluate on ``bank``; agreement with the proxy per scenario; the evaluator's errors and diagnostics."""
    from progressgym_env.evaluator import EvaluatorConfig, ValueEvaluator
    from progressgym_env.evaluator.aggregate import scenario_distributions
    from progressgym_env.evaluator.choosers import LogLikelihoodChooser

    started = time.perf_counter()
    chooser = LogLikelihoodChooser(model, tokenizer, batch_size=batch_size)
    asked: list[Any] = []
    answers: list[Any] = []

    def recording(questions: list[Any]) -> list[Any]:
        out = chooser(questions)
        asked.extend(questions)
        answers.extend(out)
        return out

    evaluator = ValueEvaluator(EvaluatorConfig(split=bank.split, batch_size=batch_size), bank=bank)
    result = evaluator.evaluate_detailed(recording)
    agreement = {
        s.scenario_id: proxy_p * result.scenario_probs[s.scenario_id][0]
        + (1 - proxy_p) * result.scenario_probs[s.scenario_id][1]
        for s in bank
    }
    # The same agreement on the repeat format alone (the one format whose answers carry content for
    # small models; label/yesno follow the displayed slot), from the same answers.
    keep = [i for i, q in enumerate(asked) if q.format == "repeat"]
    repeat_probs, _ = scenario_distributions([asked[i] for i in keep], [np.asarray(answers[i]) for i in keep])
    agreement_repeat = {sid: proxy_p * p[0] + (1 - proxy_p) * p[1] for sid, p in repeat_probs.items()}
    return {
        "values": result.values,
        "stderr": result.stderr,
        "agreement": agreement,
        "agreement_repeat": agreement_repeat,
        "position": {fmt: d.to_dict() for fmt, d in result.position.items()},
        "seconds": time.perf_counter() - started,
        "n_questions": result.n_questions,
    }


def _mean_se(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1) / np.sqrt(a.size))


def _compare(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Change of the mean agreement, its paired and unpaired standard errors, and the z-scores."""
    ids = sorted(before)
    a, sa = _mean_se([before[i] for i in ids])
    b, sb = _mean_se([after[i] for i in ids])
    _, sd = _mean_se([after[i] - before[i] for i in ids])
    delta = b - a
    unpaired = float(np.hypot(sa, sb))
    return {"static": a, "static_se": sa, "trained": b, "trained_se": sb, "delta": delta,
            "paired_se": sd, "z_paired": delta / sd, "unpaired_se": unpaired, "z_unpaired": delta / unpaired}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="smollm2-135m-instruct")
    parser.add_argument("--dims", default="10-14", help="foundations dims the proxy judges (10..14)")
    parser.add_argument("--proxy-p", type=float, default=0.9, help="P(proxy picks the upholding option)")
    parser.add_argument("--train-per-dim", type=int, default=8, help="judged train scenarios per dim")
    parser.add_argument("--eval-per-dim", type=int, default=8, help="held-out eval scenarios per dim")
    parser.add_argument("--train-formats", default="label,yesno,repeat",
                        help="comma list of formats the pairs are rendered in")
    parser.add_argument("--anchor-formats", default="",
                        help="comma list of formats rendered as slot anchors (each verdict's rows with their mirrors, "
                             "progressgym_env.llm.preference_data.mirrored_rows, as lifelong-dpo's anchor_formats "
                             "does) instead of trained on the verdict; e.g. label,yesno with --train-formats repeat")
    parser.add_argument("--shuffled", action="store_true",
                        help="train on shuffled rows (batches not slot-balanced) instead of balanced blocks in order")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=4, help="preference pairs per DPO step")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--loss-type", default="sigmoid",
                        help="TRL DPOConfig.loss_type: sigmoid (DPO) or ipo (squared loss on the per-token margin; "
                             "its mirrored anchors pull back linearly, DPO's only at second order)")
    parser.add_argument("--eval-batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    dims = _parse_dims(args.dims)
    if not 0.5 < args.proxy_p <= 1.0:
        raise SystemExit(f"--proxy-p must be in (0.5, 1], got {args.proxy_p}")
    warnings.simplefilter("ignore")
    import torch

    from progressgym_env.evaluator.choosers.encoding import PromptEncoder
    from progressgym_env.evaluator.questions import display_orders
    from progressgym_env.llm.config import LLMConfig
    from progressgym_env.llm.dpo_update import dpo_update
    from progressgym_env.llm.model_loading import load_causal_lm
    from progressgym_env.llm.preference_data import (
        BLOCK_ROWS,
        PreferencePair,
        dpo_rows,
        mirrored_rows,
        render_pair,
        slot_balance,
        training_order,
    )

    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    train = _scenarios("train", dims, args.train_per_dim, args.seed)
    held_out = _scenarios("eval", dims, args.eval_per_dim, args.seed)
    formats = [f.strip() for f in args.train_formats.split(",") if f.strip()]
    anchor_formats = [f.strip() for f in args.anchor_formats.split(",") if f.strip()]
    if set(formats) & set(anchor_formats):
        raise SystemExit(f"a format cannot be both trained and anchored: {sorted(set(formats) & set(anchor_formats))}")

    # The proxy judges each train scenario once; the verdict is rendered in every format and order.
    groups: list[list[PreferencePair]] = []
    anchor_groups: list[list[PreferencePair]] = []
    verdicts_with_proxy = 0
    for scenario in train:
        picks_upholding = bool(rng.random() < args.proxy_p)
        verdicts_with_proxy += picks_upholding
        chosen, rejected = (0, 1) if picks_upholding else (1, 0)
        for fmt in formats:
            group = []
            for order in display_orders(2):
                question, c_text, r_text = render_pair(scenario, chosen, rejected, fmt, order)
                group.append(PreferencePair(int(scenario.foundation_dim), 1, question, c_text, r_text))
            groups.append(group)
        for fmt in anchor_formats:
            anchor_groups.append([PreferencePair(int(scenario.foundation_dim), 1,
                                                 *render_pair(scenario, chosen, rejected, fmt, order))
                                  for order in display_orders(2)])
    # shuffled groups packed in blocks of 4 rows: with --batch-size a multiple of 4 every batch is balanced
    pairs = [p for g in groups for p in g] if args.shuffled else training_order(groups, rng)
    assert all(v == 0 for slots in slot_balance(pairs).values() for v in slots.values())

    model, tokenizer = load_causal_lm(args.base, device="cpu")
    load_s = time.perf_counter() - started
    static = _measure(model, tokenizer, held_out, args.proxy_p, args.eval_batch_size)
    print(f"static measured in {static['seconds']:.0f} s ({static['n_questions']} questions)", flush=True)

    config = LLMConfig(
        agent_model=args.base,
        dpo_args={"num_train_epochs": args.epochs, "per_device_train_batch_size": args.batch_size,
                  "learning_rate": args.learning_rate, "beta": args.beta, "loss_type": args.loss_type},
        lora_r=8, lora_alpha=16,
    )
    rows = dpo_rows(pairs, PromptEncoder(tokenizer))
    if anchor_groups:
        # Each anchor group (one verdict in both orders) with its mirrors is 4 rows: a balanced block of its
        # own. Content blocks of 4 and anchor blocks are interleaved in a seeded order, so every batch of a
        # multiple of 4 rows stays balanced.
        content_blocks = [rows[i : i + BLOCK_ROWS] for i in range(0, len(rows), BLOCK_ROWS)]
        anchor_blocks = [mirrored_rows(dpo_rows(g, PromptEncoder(tokenizer))) for g in anchor_groups]
        blocks = content_blocks + anchor_blocks
        rows = [row for i in rng.permutation(len(blocks)) for row in blocks[int(i)]]
    updated, stats = dpo_update(model, tokenizer, rows, config, device="cpu", seed=args.seed,
                                in_order=not args.shuffled)
    print(f"DPO: {stats.examples} pairs, {stats.steps} steps, loss {stats.loss:.3f}, {stats.seconds:.0f} s", flush=True)
    trained = _measure(updated, tokenizer, held_out, args.proxy_p, args.eval_batch_size)

    agreement = _compare(static["agreement"], trained["agreement"])
    agreement_repeat = _compare(static["agreement_repeat"], trained["agreement_repeat"])
    per_dim = {
        str(d): {"static": float(static["values"][d]), "trained": float(trained["values"][d]),
                 "delta": float(trained["values"][d] - static["values"][d]),
                 "delta_in_se": float((trained["values"][d] - static["values"][d])
                                      / np.hypot(static["stderr"][d], trained["stderr"][d]))}
        for d in dims
    }
    report = {
        "settings": vars(args),
        "train_scenarios": len(train),
        "anchor_rows": 4 * len(anchor_groups),
        "proxy_upholding_verdicts": int(verdicts_with_proxy),
        "eval_scenarios": len(held_out),
        "dpo": {"pairs": stats.examples, "steps": stats.steps, "loss": stats.loss, "seconds": stats.seconds},
        "agreement_all_formats": agreement,
        "agreement_repeat": agreement_repeat,
        "per_dim": per_dim,
        "position": {"static": static["position"], "trained": trained["position"]},
        "seconds": {"load": load_s, "static_eval": static["seconds"], "trained_eval": trained["seconds"],
                    "total": time.perf_counter() - started},
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }
    for name, a in (("all formats", agreement), ("repeat", agreement_repeat)):
        print(f"agreement ({name}): static {a['static']:.4f} ± {a['static_se']:.4f}, trained {a['trained']:.4f} "
              f"± {a['trained_se']:.4f}; delta {a['delta']:+.4f} = {a['z_paired']:.1f} paired SE, "
              f"{a['z_unpaired']:.1f} unpaired SE")
    for fmt in ("label", "yesno", "repeat"):
        b, t = static["position"].get(fmt), trained["position"].get(fmt)
        if b and t:
            print(f"position {fmt}: {b['position']:.4f} ± {b['position_se']:.4f} -> {t['position']:.4f} ± "
                  f"{t['position_se']:.4f} (first slot {b['first_slot']:.3f} -> {t['first_slot']:.3f}; "
                  f"content {b['content']:.4f} -> {t['content']:.4f})")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
