"""GPU evaluator benchmark: a full 19-dim evaluation with an 8B-shaped model, HF and vLLM engines.

Throughput does not depend on the weights, and no weights can be downloaded on the benchmark
machine, so the model is a *randomly initialised* Llama with Llama-3-8B's shape (32 layers, width
4096, GQA 32/8 heads, MLP 14336, vocab 128256), built from a config directly on the GPU in bf16.
The tokenizer is a byte-level BPE trained locally on the bank text (about 4.5 characters per token on
the prompts, close to Llama-3's own tokenizer on English text), or any local tokenizer folder given
with ``--tokenizer``.

For each engine it times ``ValueEvaluator.evaluate`` over the whole split (or a ``--max-scenarios-
per-dim`` subset) and reports wall time, scored candidates/s, prompt tokens/s and peak GPU memory:

- ``hf-prefix`` / ``hf-plain``: :class:`LogLikelihoodChooser` (transformers, SDPA attention) with
  shared-prefix KV caching (its default) or one pass per prompt+candidate, batch sizes ``--hf-batch``;
- ``vllm``: :class:`VLLMChooser` with ``load_format="dummy"`` (random weights from the same config),
  only when vllm is importable.

Exits 0 with a message when no CUDA device is present. Usage on a GPU machine::

    python benchmarks/gpu_evaluator.py --json $OUT/gpu_evaluator.json
    python benchmarks/gpu_evaluator.py --max-scenarios-per-dim 20 --hf-batch 64   # quick check
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

LLAMA3_8B_SHAPE = dict(
    hidden_size=4096,
    intermediate_size=14336,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
    vocab_size=128256,
    max_position_embeddings=8192,
    rope_theta=500000.0,
    rms_norm_eps=1e-5,
    tie_word_embeddings=False,
)
"""Llama-3-8B's architecture (public config values); weights are random."""


@dataclass
class GpuBenchConfig:
    """Settings of one GPU benchmark run (saved in the JSON output)."""

    split: str = field(default="eval", metadata={"help": "Bank split to evaluate."})
    max_scenarios_per_dim: int = field(default=0, metadata={"help": "Subset cap per dim; 0 = whole split."})
    hf_batch: tuple[int, ...] = field(default=(32,), metadata={"help": "HF chooser batch sizes."})
    hf_modes: tuple[str, ...] = field(
        default=("prefix", "plain"), metadata={"help": "HF scoring: prefix (shared KV cache), plain."}
    )
    layers: int = field(default=32, metadata={"help": "Transformer blocks (32 = Llama-3-8B)."})
    tokenizer: str | None = field(
        default=None, metadata={"help": "Local tokenizer folder; default: train one."}
    )
    engines: tuple[str, ...] = field(default=("hf", "vllm"), metadata={"help": "Engines to run."})
    smoke: bool = field(
        default=False, metadata={"help": "Tiny shape on any device: checks the script itself."}
    )


def parse_args() -> tuple[GpuBenchConfig, str | None]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--split", default="eval", choices=("eval", "train", "all"))
    p.add_argument("--max-scenarios-per-dim", type=int, default=0)
    p.add_argument("--hf-batch", default="32", help="comma-separated HF chooser batch sizes")
    p.add_argument("--hf-modes", default="prefix,plain", help="comma-separated: prefix, plain")
    p.add_argument("--layers", type=int, default=32)
    p.add_argument("--tokenizer", default=None)
    p.add_argument("--engines", default="hf,vllm")
    p.add_argument("--json", default=None)
    p.add_argument(
        "--smoke",
        action="store_true",
        help="tiny model shape, 2 scenarios per dim, CPU allowed: a check of the script, not a benchmark",
    )
    a = p.parse_args()
    cfg = GpuBenchConfig(
        a.split,
        a.max_scenarios_per_dim,
        tuple(int(x) for x in a.hf_batch.split(",") if x.strip()),
        tuple(m.strip() for m in a.hf_modes.split(",") if m.strip()),
        a.layers,
        a.tokenizer,
        tuple(e.strip() for e in a.engines.split(",") if e.strip()),
        a.smoke,
    )
    if cfg.smoke:
        cfg.max_scenarios_per_dim = cfg.max_scenarios_per_dim or 2
    return cfg, a.json


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed_evaluate(evaluator, chooser) -> tuple[float, object]:
    """Wall time of one full evaluation, GPU work included."""
    _sync()
    start = time.perf_counter()
    values = evaluator.evaluate(chooser)
    _sync()
    return time.perf_counter() - start, values


def run(cfg: GpuBenchConfig) -> dict:
    """Build the model, run each engine over the same questions, return a JSON-ready report."""
    import numpy as np
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from progressgym_env.evaluator import EvaluatorConfig, ValueEvaluator
    from progressgym_env.evaluator.choosers import LogLikelihoodChooser
    from progressgym_env.llm.tiny import build_tokenizer

    tokenizer = AutoTokenizer.from_pretrained(cfg.tokenizer) if cfg.tokenizer else build_tokenizer(32000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluator = ValueEvaluator(EvaluatorConfig(
            split=cfg.split, max_scenarios_per_dim=cfg.max_scenarios_per_dim or None, batch_size=8192
        ))
    questions = evaluator.questions()
    shape = {**LLAMA3_8B_SHAPE, "num_hidden_layers": cfg.layers}
    if cfg.smoke:
        shape.update(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=len(tokenizer),
        )
    config = LlamaConfig(
        **shape,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    report: dict = {
        "config": {
            **asdict(cfg),
            "hf_batch": list(cfg.hf_batch),
            "hf_modes": list(cfg.hf_modes),
            "engines": list(cfg.engines),
        },
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "model_shape": shape,
        "questions": len(questions),
        "scenarios": len(evaluator.bank),
        "runs": [],
    }
    hf_values = None
    if "hf" in cfg.engines:
        t0 = time.perf_counter()
        previous = torch.get_default_dtype()
        # bf16 on the GPU (as real runs); float32 for a CPU smoke check (CPU bf16 matmuls are slow).
        torch.set_default_dtype(torch.bfloat16 if torch.cuda.is_available() else torch.float32)
        try:
            with torch.device(_device()):
                model = LlamaForCausalLM(config)
        finally:
            torch.set_default_dtype(previous)
        model.eval()
        report["hf_build_seconds"] = time.perf_counter() - t0
        report["parameters"] = sum(p.numel() for p in model.parameters())
        for share in (False, True):  # warm-up (kernels, allocator) of both scoring paths
            LogLikelihoodChooser(model, tokenizer, batch_size=8, share_prompt_cache=share)(questions[:8])
        for mode in cfg.hf_modes:
            for bs in cfg.hf_batch:
                if torch.cuda.is_available():
                    torch.cuda.reset_peak_memory_stats()
                chooser = LogLikelihoodChooser(
                    model, tokenizer, batch_size=bs, share_prompt_cache=mode == "prefix"
                )
                seconds, values = _timed_evaluate(evaluator, chooser)
                row = _row(f"hf-{mode}", bs, seconds, chooser.stats, values)
                if hf_values is None:
                    hf_values = values
                row["max_abs_diff_vs_first_hf"] = float(np.max(np.abs(np.asarray(values) - hf_values)))
                report["runs"].append(row)
                print(_format(row), flush=True)
        del model, chooser
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    if "vllm" in cfg.engines and not torch.cuda.is_available():
        report["vllm"] = "no CUDA: skipped"
    elif "vllm" in cfg.engines:
        if importlib.util.find_spec("vllm") is None:
            report["vllm"] = "not installed: skipped"
            print("vllm not installed: vLLM engine skipped", flush=True)
        else:
            from progressgym_env.evaluator.choosers import VLLMChooser

            with tempfile.TemporaryDirectory() as tmp:
                config.save_pretrained(tmp)  # config + tokenizer only: dummy weights need no files
                tokenizer.save_pretrained(tmp)
                t0 = time.perf_counter()
                chooser = VLLMChooser(
                    tmp,
                    tokenizer=tokenizer,
                    load_format="dummy",
                    dtype="bfloat16",
                    gpu_memory_utilization=0.85,
                    enable_prefix_caching=False,
                )
                report["vllm_build_seconds"] = time.perf_counter() - t0
                chooser(questions[:8])  # warm-up
                chooser.stats.__init__()
                seconds, values = _timed_evaluate(evaluator, chooser)
                row = _row("vllm", None, seconds, chooser.stats, values)
                row["peak_gpu_gib"] = None  # vLLM preallocates gpu_memory_utilization of the card
                if hf_values is not None:  # same random config, but not the same random weights
                    row["note"] = "dummy weights differ from the HF model's: vectors are not comparable"
                report["runs"].append(row)
                print(_format(report["runs"][-1]), flush=True)
    for r in report["runs"]:
        r["values_finite"] = bool(np.isfinite(np.asarray(r["values"])).all())
    return report


def _row(engine: str, batch: int | None, seconds: float, stats, values) -> dict:
    import torch

    return {
        "engine": engine,
        "batch_size": batch,
        "seconds": seconds,
        "candidates": stats.candidates,
        "tokens": stats.tokens,
        "padded_tokens": stats.padded_tokens,
        "candidates_per_s": stats.candidates / seconds,
        "tokens_per_s": stats.tokens / seconds,
        "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0,
        "values": [float(v) for v in values],
    }


def _format(r: dict) -> str:
    return (
        f"{r['engine']:>10} batch={r['batch_size']} evaluation {r['seconds']:.1f} s  "
        f"{r['candidates']} candidates ({r['candidates_per_s']:.0f}/s)  {r['tokens']} tokens "
        f"({r['tokens_per_s']:.0f}/s)  peak "
        + (f"{r['peak_gpu_gib']:.1f} GiB" if r["peak_gpu_gib"] is not None else "n/a")
    )


def main() -> int:
    try:
        import torch
    except ImportError:
        print("gpu_evaluator: torch is not installed; nothing to benchmark (install progressgym_env[llm]).")
        return 0
    cfg, json_path = parse_args()
    if not torch.cuda.is_available() and not cfg.smoke:
        print("gpu_evaluator: no CUDA device found; this benchmark needs a GPU. Nothing was run.")
        return 0
    report = run(cfg)
    print(f"{report['questions']} questions, {report['scenarios']} scenarios on {report['device']}")
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2))
        print(f"wrote {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
