"""``progressgym train``: train an SB3 agent (PPO, SAC, TD3, A2C) and evaluate it on the corpus history."""

from __future__ import annotations

import argparse
import json
from typing import Any


def _parse_kwarg(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, found {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train an SB3 agent on procedural histories and evaluate it on the corpus history",
        description="Train PPO/SAC/TD3/A2C with zoo-style hyperparameters (agents/hyperparams/<algo>.yml). "
        "Saves <out>/model.zip and <out>/config.json; add the model to a benchmark with "
        "--agents <algo>:<out>/model.zip.",
    )
    parser.add_argument("--algo", default="ppo", choices=("ppo", "sac", "td3", "a2c"))
    parser.add_argument("--env", default="follow", help="challenge key (follow, predict1, predict2, coevolve) or env id")
    parser.add_argument("--env-kwarg", action="append", type=_parse_kwarg, default=[], metavar="KEY=VALUE",
                        help="extra env kwarg (JSON value), repeatable, e.g. timesteps_ahead=2")
    parser.add_argument("--timesteps", type=int, default=None, help="training steps (default: the YAML's n_timesteps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-history", default="procedural")
    parser.add_argument("--eval-history", default="corpus")
    parser.add_argument("--eval-episodes", type=int, default=5)
    parser.add_argument("--hyperparams", default=None, help="zoo-style YAML file (default: the shipped one)")
    parser.add_argument("--out", default=None, help="output folder (default runs/train/<algo>-<env>-seed<seed>)")
    parser.add_argument("--track", action="store_true", help="log to wandb (offline unless --wandb-mode online)")
    parser.add_argument("--wandb-project", default="progressgym")
    parser.add_argument("--wandb-mode", default="offline", choices=("offline", "online", "disabled"))
    parser.add_argument("--progress-bar", action="store_true")
    parser.add_argument("--verbose", type=int, default=0)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agents.train import TrainConfig, train

    config = TrainConfig(
        algo=args.algo,
        env=args.env,
        env_kwargs=dict(args.env_kwarg),
        train_history=args.train_history,
        eval_history=args.eval_history,
        total_timesteps=args.timesteps,
        seed=args.seed,
        eval_episodes=args.eval_episodes,
        hyperparams=args.hyperparams,
        out=args.out,
        track=args.track,
        wandb_project=args.wandb_project,
        wandb_mode=args.wandb_mode,
        progress_bar=args.progress_bar,
        verbose=args.verbose,
    )
    result = train(config)
    summary = result.summary()
    print(f"saved {summary['model_path']} (trained {summary['train_seconds']} s)")
    if summary["eval_episodes"]:
        print(
            f"{config.eval_history} history, {summary['eval_episodes']} episodes: "
            f"final_score {summary['eval_final_score_mean']:.4f} ± {summary['eval_final_score_std']:.4f}, "
            f"normalized_score {summary['eval_normalized_score_mean']:+.3f} ± {summary['eval_normalized_score_std']:.3f}"
        )
    return 0
