"""One examinee-mode century with an 8B-shaped model on a GPU: elicitation, DPO, evaluation, timed.

What a paper-scale ``lifelong-dpo`` century costs: the env (``PG-Follow-v0``, ``backend="llm"``,
``interface="examinee"``) judges the century's pairs (``humans="history"``: answers sampled from a
moral19 history, so no proxy weights are needed), the ``lifelong-dpo`` examinee trains LoRA adapters
on them with TRL's ``DPOTrainer``, and the env measures the returned model with the evaluator.

No weights can be downloaded on the benchmark machine and the cost does not depend on them, so the
agent is a *randomly initialised* Llama with Llama-3-8B's shape (the shape of
``benchmarks/gpu_evaluator.py``) saved once in bf16 to a local folder, with a byte-level BPE tokenizer
trained on the bank text. The report gives the wall time of each phase (model build and save, env
reset = loading + measuring the starting model, the examinee's training, the step = loading the update
+ measuring it), peak GPU memory and the env's own record of the century (pairs, reward, per-dim
standard errors).

Exits 0 with a message when no CUDA device is present (unless ``--smoke``). Usage on a GPU machine::

    python benchmarks/gpu_examinee_century.py --json $OUT/gpu_examinee_century.json
    python benchmarks/gpu_examinee_century.py --smoke --json /tmp/smoke.json   # CPU check of the script
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SMOKE_SHAPE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2)
"""A tiny Llama for ``--smoke``: checks the script end to end in seconds on a CPU."""


def build_agent_folder(folder: Path, smoke: bool, layers: int) -> dict[str, Any]:
    """Save a random-init Llama (Llama-3-8B's shape, or the smoke shape) and a tokenizer in ``folder``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from progressgym_env.llm.tiny import build_tokenizer

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shape lives beside this script
    from gpu_evaluator import LLAMA3_8B_SHAPE

    started = time.perf_counter()
    tokenizer = build_tokenizer(512 if smoke else 32000)
    shape: dict[str, Any] = {**LLAMA3_8B_SHAPE, "num_hidden_layers": layers}
    if smoke:
        shape.update(SMOKE_SHAPE)
    shape["vocab_size"] = len(tokenizer)
    config = LlamaConfig(**shape, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32 if smoke else torch.bfloat16)
    try:
        model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    parameters = sum(p.numel() for p in model.parameters())
    del model
    return {"parameters": parameters, "shape": shape, "build_and_save_seconds": time.perf_counter() - started}


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Build the agent model, then run one examinee century through the env; a JSON-ready report."""
    import gymnasium as gym
    import numpy as np
    import torch

    import progressgym_env  # noqa: F401  (registers the envs)
    from agents.registry import make_agent
    from progressgym_env.evaluator import EvaluatorConfig
    from progressgym_env.llm.config import LLMConfig

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    folder = workdir / "agent"
    report: dict[str, Any] = {
        "settings": vars(args),
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "torch": torch.__version__,
        "model": build_agent_folder(folder, args.smoke, args.layers),
    }
    config = LLMConfig(
        agent_model=str(folder),
        humans="history",
        device=device,
        evaluator=EvaluatorConfig(max_scenarios_per_dim=args.eval_per_dim, batch_size=args.eval_batch_size),
        elicit_max_scenarios_per_dim=args.elicit_per_dim,
        dpo_args={"per_device_train_batch_size": args.dpo_batch_size, "learning_rate": args.learning_rate,
                  "num_train_epochs": 1, "max_length": args.max_length},
        run_dir=str(workdir / "run"),
        history_cache_dir=str(workdir / "cache"),
        show_progress=False,
    )
    env = gym.make("PG-Follow-v0", history=args.history, backend="llm", backend_config=config,
                   interface="examinee", query_budget=args.pairs)
    phases: dict[str, float] = {}

    def timed(name: str, call: Any) -> Any:
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = call()
        if cuda:
            torch.cuda.synchronize()
        phases[name] = time.perf_counter() - start
        return out

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    obs, info = timed("reset_load_and_measure_start", lambda: env.reset(seed=args.seed))
    agent = make_agent("lifelong-dpo", env)
    agent.reset(args.seed)
    action = timed("examinee_dpo", lambda: agent.act(obs))
    obs, reward, _, _, info = timed("step_load_update_and_measure", lambda: env.step(action))
    env.close()
    report.update(
        phases_seconds=phases,
        century_seconds=sum(phases.values()),
        peak_gpu_gib=torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0,
        century=int(info["century"]),
        pairs=len(info["preferences"]) if "preferences" in info else None,
        reward=float(reward),
        model_values=np.asarray(info["model_values"]).round(6).tolist(),
        model_stderr=np.asarray(info["model_stderr"]).round(6).tolist() if "model_stderr" in info else None,
        values_finite=bool(np.isfinite(np.asarray(info["model_values"])).all()),
    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--history", default="procedural-moral19", help="moral19 history the humans answer from")
    parser.add_argument("--pairs", type=int, default=512, help="judged pairs of the century (query_budget)")
    parser.add_argument("--eval-per-dim", type=int, default=20, help="eval scenarios per dim (0: whole split)")
    parser.add_argument("--elicit-per-dim", type=int, default=40, help="train scenarios per dim the pairs come from")
    parser.add_argument("--eval-batch-size", type=int, default=64)
    parser.add_argument("--dpo-batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--layers", type=int, default=32, help="transformer blocks (32 = Llama-3-8B)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None, help="folder for the model, run and cache (default: a temp dir)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny model, 19 pairs, 1 scenario per dim, CPU allowed: a check of the script")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available() and not args.smoke:
        print("no CUDA device: nothing measured (use --smoke to check the script on a CPU)")
        return 0
    if args.smoke:
        args.pairs, args.eval_per_dim, args.elicit_per_dim, args.dpo_batch_size = 19, 1, 1, 4
    args.eval_per_dim = args.eval_per_dim or None
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        report = run(args, Path(args.workdir) if args.workdir else Path(tmp))
    for name, seconds in report["phases_seconds"].items():
        print(f"{name}: {seconds:.1f} s")
    print(f"century {report['century']}: {report['pairs']} pairs, reward {report['reward']:.4f}, "
          f"{report['century_seconds']:.0f} s, peak GPU {report['peak_gpu_gib']:.1f} GiB")
    if args.json:
        tmp_path = Path(args.json).with_suffix(".tmp")
        tmp_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
        tmp_path.replace(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
