"""``progressgym demo``: one short episode of each challenge with a simple agent, scores printed."""

from __future__ import annotations

import argparse

import numpy as np


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run one episode of each challenge and print its scores")
    parser.add_argument("--history", default="corpus", help="corpus, procedural, or a trajectory file")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run)


def follow_observed_action(obs: np.ndarray, dim: int, capacity: float = 2.0) -> np.ndarray:
    """Move the model toward the observed human estimate (a one-line lifelong-alignment policy)."""
    from progressgym_env.numerics import logit

    gap = logit(obs[:dim].astype(np.float64)) - logit(obs[dim : 2 * dim].astype(np.float64))
    return np.clip(gap / capacity, -1.0, 1.0).astype(np.float32)


def run(args: argparse.Namespace) -> int:
    import gymnasium as gym

    import progressgym_env  # noqa: F401  (registers the ids)

    for env_id, kwargs in (("PG-Follow-v0", {}), ("PG-Predict-v0", {"timesteps_ahead": 1}), ("PG-Coevolve-v0", {})):
        env = gym.make(env_id, history=args.history, **kwargs)
        obs, _ = env.reset(seed=args.seed)
        dim = env.action_space.shape[0]
        terminated = False
        while not terminated:
            obs, _, terminated, _, info = env.step(follow_observed_action(obs, dim))
        print(
            f"{env_id:<16} {str(kwargs or ''):<22} final_score={info['final_score']:.4f} "
            f"normalized_score={info['normalized_score']:+.3f}"
        )
        env.close()
    return 0
