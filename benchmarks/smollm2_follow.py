"""PG-Follow in LLM mode on CPU: SmolLM2 proxies from ``make-proxies``, the static and lifelong agents.

The nine synthetic proxies are the human history (``history="models"``: the backend measures them
with its evaluator and caches the vectors and elicitation probabilities); the agent's model starts as
the century-13 proxy and each step's action becomes one DPO + LoRA update of it. Every episode is
checkpointed under ``--run-dir`` and resumes after an interruption. Results (scores, the score
recomputed from the episode record by the judges, wall time per step) go to ``--json``.

First build the proxies, e.g.::

    progressgym make-proxies --base smollm2-135m-instruct --history procedural-moral19 \\
        --out runs/proxies --eval-max-scenarios-per-dim 2 --dpo-max-steps 3 --dpo-batch-size 4 \\
        --dpo-learning-rate 5e-4 --pairs-per-unit 8 --threads 1

then::

    python benchmarks/smollm2_follow.py --proxies runs/proxies --run-dir runs/follow --threads 1 --json follow.json

CPU cost is dominated by measuring models (each proxy once, then the agent after each update) and by
DPO steps; ``--eval-max-scenarios-per-dim`` and ``--dpo-max-steps`` trade accuracy for time.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np


def run_agent(agent_name: str, args: argparse.Namespace) -> dict[str, Any]:
    """One PG-Follow episode of ``agent_name``; its scores, record check and timings."""
    import gymnasium as gym

    import progressgym_env  # noqa: F401  (registers the ids)
    from agents.registry import make_agent
    from progressgym_env.evaluator.config import EvaluatorConfig
    from progressgym_env.judges import score_record
    from progressgym_env.llm.config import LLMConfig

    proxies = [str(Path(args.proxies) / f"C{c:03d}") for c in range(13, 22)]
    config = LLMConfig(
        proxy_models=tuple(proxies),
        evaluator=EvaluatorConfig(max_scenarios_per_dim=args.eval_max_scenarios_per_dim, batch_size=16),
        elicit_max_scenarios_per_dim=args.elicit_max_scenarios_per_dim,
        pairs_per_unit=args.pairs_per_unit,
        dpo_args={
            "max_steps": args.dpo_max_steps,
            "per_device_train_batch_size": args.dpo_batch_size,
            "learning_rate": args.dpo_learning_rate,
        },
        run_dir=str(Path(args.run_dir) / agent_name),
        history_cache_dir=str(Path(args.run_dir) / "cache"),
        device="cpu",
        show_progress=True,
    )
    started = time.perf_counter()
    env = gym.make("PG-Follow-v0", history="models", backend="llm", backend_config=config)
    agent = make_agent(agent_name, env.unwrapped)
    obs, _ = env.reset(seed=args.seed)
    agent.reset(seed=args.seed)
    setup_seconds = time.perf_counter() - started
    step_seconds, rewards, info, terminated, steps = [], [], {}, False, 0
    while not terminated and (args.max_steps is None or steps < args.max_steps):
        t0 = time.perf_counter()
        obs, reward, terminated, _, info = env.step(agent.act(obs))
        step_seconds.append(time.perf_counter() - t0)
        rewards.append(float(reward))
        steps += 1
        print(
            f"{agent_name}: century {info['century']} reward {reward:.4f} ({step_seconds[-1]:.0f} s)",
            flush=True,
        )
    result: dict[str, Any] = {
        "agent": agent_name,
        "steps": steps,
        "rewards": rewards,
        "setup_seconds": setup_seconds,
        "step_seconds": step_seconds,
    }
    if terminated:
        record = env.unwrapped.episode_record()
        result["final_score"] = float(info["final_score"])
        result["normalized_score"] = float(info["normalized_score"])
        result["final_score_from_record"] = float(score_record(record))
        result["model_values"] = np.asarray(record["model"]).tolist()
    env.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxies", required=True, help="output folder of progressgym make-proxies")
    parser.add_argument("--run-dir", required=True, help="checkpoints and caches (re-run to resume)")
    parser.add_argument("--agents", nargs="+", default=["static", "lifelong"])
    parser.add_argument("--eval-max-scenarios-per-dim", type=int, default=2)
    parser.add_argument("--elicit-max-scenarios-per-dim", type=int, default=1)
    parser.add_argument("--pairs-per-unit", type=int, default=8)
    parser.add_argument("--dpo-max-steps", type=int, default=3)
    parser.add_argument(
        "--dpo-batch-size",
        type=int,
        default=4,
        help="pairs per DPO step (8 needs ~17 GB RSS on SmolLM2 in fp32; 4 about 6 GB)",
    )
    parser.add_argument("--dpo-learning-rate", type=float, default=5e-4)
    parser.add_argument(
        "--max-steps", type=int, default=None, help="stop each episode after this many centuries"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in args.agents:
            results.append(run_agent(name, args))
            if args.json:
                Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    for r in results:
        score = (
            f"final_score {r['final_score']:.4f} (record {r['final_score_from_record']:.4f}), "
            f"normalized {r['normalized_score']:+.3f}"
            if "final_score" in r
            else f"{r['steps']} steps (unfinished)"
        )
        print(
            f"{r['agent']:>9}: {score}; setup {r['setup_seconds']:.0f} s, steps {sum(r['step_seconds']):.0f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
