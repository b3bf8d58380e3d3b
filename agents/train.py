"""Train a stable-baselines3 agent (PPO, SAC, TD3, A2C) on a ProgressGym env and evaluate it.

By default training runs on *procedural* histories (a fresh seeded history every episode) and the
saved model is evaluated on the held-out real *corpus* history, like Procgen's train/test split.
Hyperparameters come from the zoo-style ``agents/hyperparams/<algo>.yml`` (:mod:`agents.zoo`).
A run writes into its output folder::

    model.zip      the SB3 model (enters a leaderboard as ``--agents ppo:<dir>/model.zip``)
    config.json    this TrainConfig, the resolved hyperparameters and the evaluation summary
    wandb/         with ``track=True``: the offline wandb run (official SB3 WandbCallback)

Command line: ``progressgym train --algo ppo --env follow --seed 0``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.registry import make_agent
from agents.sb3_agent import ALGO_NAMES, algo_class
from agents.zoo import ZooHyperparams, load_hyperparams
from progressgym_env.benchmark.challenges import CHALLENGES
from progressgym_env.common.atomic import atomic_write_text
from progressgym_env.errors import ConfigError, MissingExtraError

OFF_POLICY = ("sac", "td3")


@dataclass
class TrainConfig:
    """Settings of one SB3 training run (saved as ``config.json`` beside the model)."""

    algo: str = field(default="ppo", metadata={"help": f"SB3 algorithm: one of {ALGO_NAMES}."})
    env: str = field(
        default="follow",
        metadata={"help": "A challenge key (follow, predict1, predict2, coevolve) or a registered env id."},
    )
    env_kwargs: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "Extra env kwargs for training and evaluation (e.g. {'timesteps_ahead': 2})."},
    )
    train_history: str = field(default="procedural", metadata={"help": "History the agent trains on."})
    eval_history: str = field(default="corpus", metadata={"help": "History the saved model is evaluated on."})
    total_timesteps: int | None = field(
        default=None, metadata={"help": "Training steps; None = the YAML's n_timesteps."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the algorithm and the training envs."})
    eval_episodes: int = field(default=5, metadata={"help": "Evaluation episodes (seeds 0..n-1) on eval_history."})
    hyperparams: str | None = field(
        default=None, metadata={"help": "Zoo-style YAML file; None = agents/hyperparams/<algo>.yml."}
    )
    out: str | None = field(
        default=None, metadata={"help": "Output folder; None = runs/train/<algo>-<challenge>-seed<seed>."}
    )
    track: bool = field(default=False, metadata={"help": "Log the run to wandb (SB3 WandbCallback)."})
    wandb_project: str = field(default="progressgym", metadata={"help": "wandb project name."})
    wandb_mode: str = field(
        default="offline", metadata={"help": "wandb mode: offline (default, no login), online or disabled."}
    )
    torch_threads: int = field(default=1, metadata={"help": "torch CPU threads (small MLPs: 1 is fastest)."})
    device: str = field(default="cpu", metadata={"help": "torch device."})
    progress_bar: bool = field(default=False, metadata={"help": "Show SB3's progress bar while training."})
    verbose: int = field(default=0, metadata={"help": "SB3 verbosity (0, 1, 2)."})

    def __post_init__(self) -> None:
        self.algo = self.algo.lower()
        if self.algo not in ALGO_NAMES:
            raise ConfigError(f"unknown algo {self.algo!r}; choose one of {ALGO_NAMES}")
        if self.total_timesteps is not None and self.total_timesteps < 1:
            raise ConfigError(f"total_timesteps must be >= 1, got {self.total_timesteps}")
        if self.eval_episodes < 0:
            raise ConfigError(f"eval_episodes must be >= 0, got {self.eval_episodes}")
        if self.wandb_mode not in ("offline", "online", "disabled"):
            raise ConfigError(f"wandb_mode must be offline, online or disabled, got {self.wandb_mode!r}")

    def env_spec(self) -> tuple[str, dict[str, Any]]:
        """(env id, env kwargs) of ``env``: a challenge key expands to its id and kwargs."""
        if self.env in CHALLENGES:
            challenge = CHALLENGES[self.env]
            return challenge.env_id, {**challenge.kwargs, **self.env_kwargs}
        if not self.env.startswith("PG-") and "PG-" not in self.env:
            raise ConfigError(
                f"env {self.env!r} is neither a challenge key ({', '.join(CHALLENGES)}) nor a PG env id"
            )
        return self.env, dict(self.env_kwargs)

    def output_dir(self) -> Path:
        """The run's output folder."""
        if self.out:
            return Path(self.out)
        env_id, _ = self.env_spec()
        name = self.env if self.env in CHALLENGES else env_id
        return Path("runs") / "train" / f"{self.algo}-{name}-seed{self.seed}"


@dataclass
class TrainResult:
    """What a training run produced.

    :param model_path: the saved ``model.zip``.
    :param eval_final_scores: final_score per evaluation episode on ``eval_history``.
    :param eval_normalized_scores: normalized_score per evaluation episode.
    :param train_seconds: wall time of ``learn``.
    """

    model_path: Path
    eval_final_scores: list[float]
    eval_normalized_scores: list[float]
    train_seconds: float

    def summary(self) -> dict[str, Any]:
        """Means and stds of the evaluation scores (JSON-ready)."""
        final = np.asarray(self.eval_final_scores)
        normalized = np.asarray(self.eval_normalized_scores)
        return {
            "model_path": str(self.model_path),
            "train_seconds": round(self.train_seconds, 2),
            "eval_episodes": int(final.size),
            "eval_final_score_mean": float(final.mean()) if final.size else None,
            "eval_final_score_std": float(final.std()) if final.size else None,
            "eval_normalized_score_mean": float(normalized.mean()) if normalized.size else None,
            "eval_normalized_score_std": float(normalized.std()) if normalized.size else None,
            "eval_final_scores": list(map(float, final)),
            "eval_normalized_scores": list(map(float, normalized)),
        }


def _action_noise(hp: ZooHyperparams, algo: str, dim: int) -> Any:
    if hp.noise_type is None:
        return None
    if algo not in OFF_POLICY:
        raise ConfigError(f"{hp.source}: noise_type applies to {OFF_POLICY} only, not {algo}")
    if hp.noise_type != "normal":
        raise ConfigError(f"{hp.source}: noise_type {hp.noise_type!r} is not supported (use 'normal')")
    from stable_baselines3.common.noise import NormalActionNoise

    return NormalActionNoise(mean=np.zeros(dim), sigma=hp.noise_std * np.ones(dim))


def _wandb_logger(run: Any) -> Any:
    """An SB3 logger that forwards SB3's metrics (train/*, rollout/*) to the wandb run."""
    from stable_baselines3.common.logger import KVWriter, Logger

    class WandbWriter(KVWriter):
        def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
            numbers = {k: v for k, v in key_values.items() if isinstance(v, (int, float, np.number))}
            run.log({**numbers, "global_step": step})

        def close(self) -> None:
            pass

    return Logger(folder=None, output_formats=[WandbWriter()])


def _score_callback(run: Any) -> Any:
    """Logs each finished training episode's final and normalised score to wandb."""
    from stable_baselines3.common.callbacks import BaseCallback

    class EpisodeScoreCallback(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals.get("infos", []):
                if "final_score" in info:
                    run.log(
                        {
                            "train/episode_final_score": float(info["final_score"]),
                            "train/episode_normalized_score": float(info["normalized_score"]),
                            "global_step": self.num_timesteps,
                        }
                    )
            return True

    return EpisodeScoreCallback()


def evaluate_model(model_path: Path, algo: str, env_id: str, env_kwargs: dict[str, Any], episodes: int) -> tuple[list[float], list[float]]:
    """Load a saved model as a leaderboard agent and run it for seeds 0..episodes-1.

    :return: (final scores, normalised scores).
    """
    import gymnasium as gym

    from progressgym_env.benchmark.episode import run_episode

    env = gym.make(env_id, **env_kwargs)
    try:
        agent = make_agent(f"{algo}:{model_path}", env)
        results = [run_episode(env, agent, seed) for seed in range(episodes)]
    finally:
        env.close()
    return [r.final_score for r in results], [r.normalized_score for r in results]


def train(config: TrainConfig) -> TrainResult:
    """Train ``config.algo`` on procedural histories, save it, evaluate it on ``config.eval_history``."""
    try:
        import torch
        from stable_baselines3.common.env_util import make_vec_env
    except ImportError:
        raise MissingExtraError("SB3 training", "sb3", "stable_baselines3") from None
    import progressgym_env  # noqa: F401  (registers the ids)

    env_id, env_kwargs = config.env_spec()
    hp = load_hyperparams(config.algo, env_id, config.hyperparams)
    out = config.output_dir()
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, config.torch_threads))
    total_timesteps = config.total_timesteps or hp.n_timesteps
    train_kwargs = {**hp.env_kwargs, **env_kwargs, "history": config.train_history}
    eval_kwargs = {**env_kwargs, "history": config.eval_history}
    saved: dict[str, Any] = {
        **asdict(config),
        "env_id": env_id,
        "train_env_kwargs": train_kwargs,
        "eval_env_kwargs": eval_kwargs,
        "total_timesteps": total_timesteps,
        "hyperparams": {**_jsonable_hp(hp)},
    }

    run = None
    callbacks: list[Any] = []
    if config.track:
        run = _start_wandb(config, out, env_id, saved)
        from wandb.integration.sb3 import WandbCallback

        callbacks = [WandbCallback(verbose=0), _score_callback(run)]

    vec_env = make_vec_env(env_id, n_envs=hp.n_envs, seed=config.seed, env_kwargs=train_kwargs)
    try:
        algo_kwargs = dict(hp.algo_kwargs)
        policy = algo_kwargs.pop("policy")
        noise = _action_noise(hp, config.algo, vec_env.action_space.shape[0])
        if noise is not None:
            algo_kwargs["action_noise"] = noise
        model = algo_class(config.algo)(
            policy, vec_env, seed=config.seed, device=config.device, verbose=config.verbose, **algo_kwargs
        )
        if run is not None:
            model.set_logger(_wandb_logger(run))
        start = time.perf_counter()
        try:
            model.learn(total_timesteps=total_timesteps, callback=callbacks or None, progress_bar=config.progress_bar)
        except KeyboardInterrupt:  # keep what is done: the model so far and the config, then stop
            model.save(str(out / "model.zip"))
            saved["interrupted_at_timesteps"] = int(model.num_timesteps)
            atomic_write_text(out / "config.json", json.dumps(saved, indent=2) + "\n")
            raise
        train_seconds = time.perf_counter() - start
        model_path = out / "model.zip"
        model.save(str(model_path))
    finally:
        vec_env.close()

    atomic_write_text(out / "config.json", json.dumps(saved, indent=2) + "\n")
    final, normalized = evaluate_model(model_path, config.algo, env_id, eval_kwargs, config.eval_episodes)
    result = TrainResult(model_path, final, normalized, train_seconds)
    saved["evaluation"] = result.summary()
    atomic_write_text(out / "config.json", json.dumps(saved, indent=2) + "\n")
    if run is not None:
        run.summary.update({k: v for k, v in result.summary().items() if not isinstance(v, list)})
        run.finish()
    return result


def _jsonable_hp(hp: ZooHyperparams) -> dict[str, Any]:
    data = asdict(hp)
    policy_kwargs = data["algo_kwargs"].get("policy_kwargs")
    if policy_kwargs and "activation_fn" in policy_kwargs:
        policy_kwargs["activation_fn"] = getattr(policy_kwargs["activation_fn"], "__name__", str(policy_kwargs["activation_fn"]))
    return data


def _start_wandb(config: TrainConfig, out: Path, env_id: str, saved: dict[str, Any]) -> Any:
    try:
        import wandb
    except ImportError:
        raise MissingExtraError("--track", "wandb", "wandb") from None
    from progressgym_env.benchmark.tracking import silence_weave_hint

    silence_weave_hint()
    return wandb.init(
        project=config.wandb_project,
        dir=str(out),
        mode=config.wandb_mode,
        group=env_id,
        job_type=f"train-{config.algo}",
        name=out.name,
        config=json.loads(json.dumps(saved, default=str)),
        reinit="finish_previous",  # WandbCallback reads the global wandb.run
        settings=wandb.Settings(console="off", silent=True),
    )
