"""Train an SB3 agent (PPO, A2C, SAC, TD3, RecurrentPPO) on procedural histories, select it on validation.

The protocol is Procgen's train/validation/test split, with the real corpus history as the test set:

- **train**: procedural histories, a fresh one per episode, drawn from generators seeded with the
  run's ``seed`` (one batched generator per run, :class:`agents.vec_env.NativeVecEnv`);
- **validation**: a fixed set of held-out procedural histories, env seeds
  ``VALIDATION_FIRST_SEED .. +validation_episodes-1`` (disjoint from the training seeds and from
  the test seeds, which start at ``TEST_FIRST_SEED``). Every ``eval_freq`` env steps
  :class:`ValidationCallback` runs the deterministic policy on them, logs the mean normalised score
  against env steps (wandb ``eval/normalized_score``) and keeps the best checkpoint;
- **test**: the corpus history and procedural seeds from ``TEST_FIRST_SEED``, only in
  ``progressgym benchmark`` (``--first-seed``); training never reads the corpus history (unless
  ``eval_episodes`` > 0 asks for a test evaluation *after* selection, which then cannot influence it).

Hyperparameters come from the zoo-style ``agents/hyperparams/<algo>.yml`` (:mod:`agents.zoo`); the
training env kwargs there (``similarity``, ``obs_history``, ``history: procedural``) are also what
``rl_zoo3.train --conf-file`` reads. A run writes into its output folder::

    model.zip         the selected model: the best validation checkpoint
    last_model.zip    the model at the end of training
    config.json       this TrainConfig, the command, seeds, steps, hyperparameters, validation curve;
                      written when training starts (``status: running``) and rewritten when it stops
                      (``finished`` or ``interrupted``, with ``timesteps_done``)
    evaluations.json  the validation curve alone (env steps, mean, std, per-history scores)
    wandb/            with ``track=True``: the offline wandb run

While a run writes into its folder it holds ``<out>/.lock`` (a second run into the same folder is
refused). A folder that already holds a model is refused too, unless ``resume=True`` continues it:
its ``last_model.zip`` is loaded and trained on from its step count (``learn(reset_num_timesteps=False)``)
and the validation curve goes on from ``evaluations.json``, so ``model.zip`` stays the best checkpoint
of the whole run. (A resumed off-policy run starts with an empty replay buffer, and VecNormalize
statistics restart: a resumed run is close to, not bit-identical with, an uninterrupted one.)

Command line: ``progressgym train --algo ppo --env follow --seed 0``.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.base import backend_capacity
from agents.budget import capped_timesteps
from agents.registry import make_agent
from agents.sb3_agent import ALGO_NAMES, RECURRENT, algo_class
from agents.wrappers import lifelong_residual_actions
from agents.zoo import ZooHyperparams, load_hyperparams
from progressgym_env.common.atomic import atomic_path, atomic_write_text
from progressgym_env.errors import ConfigError, FolderInUseError, MissingExtraError
from progressgym_env.registry import challenge_specs
from progressgym_env.registry import variants as registered_variants

OFF_POLICY = ("sac", "td3")
VALIDATION_FIRST_SEED = 10_000
"""First env seed of the procedural validation histories (training uses the run seed's generator)."""
TEST_FIRST_SEED = 100_000
"""First env seed of the held-out procedural test histories (``progressgym benchmark --first-seed``)."""
OBS_KWARGS = ("obs_history",)
"""Training env kwargs that change the observation, so validation and test envs must share them."""
ON_POLICY_N_STEPS = {"ppo": 2048, "recurrentppo": 128, "a2c": 5}
"""SB3's default ``n_steps`` (env steps per env and rollout) of the on-policy algorithms."""
LOCK_FILE = ".lock"
MODEL_FILES = ("last_model.zip", "model.zip")
"""What a run leaves in its folder: the model where training stopped, the best validated one."""


@dataclass
class TrainConfig:
    """Settings of one SB3 training run (saved as ``config.json`` beside the model)."""

    algo: str = field(default="ppo", metadata={"help": "SB3 algorithm (recurrentppo: sb3-contrib).",
                                               "choices": ALGO_NAMES})
    env: str = field(
        default="follow",
        metadata={"help": f"A challenge key ({', '.join(registered_variants())}) or a registered challenge's env id."},
    )
    env_kwargs: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "Env kwargs for training and validation, over the YAML's (e.g. {'obs_history': 1})."},
    )
    train_history: str = field(default="procedural", metadata={"help": "History the agent trains on."})
    total_timesteps: int | None = field(
        default=None, metadata={"help": "Training env steps; None = the YAML's n_timesteps."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the algorithm and the training envs."})
    validation_episodes: int = field(
        default=100, metadata={"help": "Procedural validation histories (seeds from VALIDATION_FIRST_SEED)."}
    )
    validation_first_seed: int = field(
        default=VALIDATION_FIRST_SEED, metadata={"help": "First env seed of the validation histories."}
    )
    eval_freq: int = field(
        default=0, metadata={"help": "Validate every this many env steps; 0 = 20 times per run."}
    )
    eval_history: str = field(
        default="corpus", metadata={"help": "History of the optional test evaluation after selection."}
    )
    eval_episodes: int = field(
        default=0,
        metadata={"help": "Test episodes (seeds 0..n-1) on eval_history after selection; 0 = none (the "
                  "benchmark is the test: progressgym benchmark --agents sb3:<model> --first-seed 1000)."},
    )
    hyperparams: str | None = field(
        default=None, metadata={"help": "Zoo-style YAML file; None = agents/hyperparams/<algo>.yml."}
    )
    label: str | None = field(
        default=None, metadata={"help": "Name of the recipe in wandb groups; None = algo (+ -hist<k>)."}
    )
    out: str | None = field(
        default=None, metadata={"help": "Output folder; None = runs/train/<label>-<challenge>-seed<seed>."}
    )
    track: bool = field(default=False, metadata={"help": "Log the run to wandb (validation curve, SB3 metrics)."})
    wandb_project: str = field(default="progressgym", metadata={"help": "wandb project name."})
    wandb_mode: str = field(
        default="offline", metadata={"help": "wandb mode: offline (default, no login), online or disabled."}
    )
    torch_threads: int = field(default=1, metadata={"help": "torch CPU threads (small MLPs: 1 is fastest)."})
    device: str = field(default="cpu", metadata={"help": "torch device."})
    progress_bar: bool = field(default=False, metadata={"help": "Show SB3's progress bar while training."})
    verbose: int = field(default=0, metadata={"help": "SB3 verbosity (0, 1, 2)."})
    resume: bool = field(
        default=False,
        metadata={"help": "Continue the model already in the output folder (its last_model.zip and step count) "
                  "up to total_timesteps; without it, a folder that holds a model is refused."},
    )

    def __post_init__(self) -> None:
        self.algo = self.algo.lower()
        if self.algo not in ALGO_NAMES:
            raise ConfigError(f"unknown algo {self.algo!r}; choose one of {ALGO_NAMES}")
        if self.total_timesteps is not None and self.total_timesteps < 1:
            raise ConfigError(f"total_timesteps must be >= 1, got {self.total_timesteps}")
        if self.eval_episodes < 0:
            raise ConfigError(f"eval_episodes must be >= 0, got {self.eval_episodes}")
        if self.validation_episodes < 1:
            raise ConfigError(f"validation_episodes must be >= 1 (model selection needs them), got "
                              f"{self.validation_episodes}")
        if self.eval_freq < 0:
            raise ConfigError(f"eval_freq must be >= 0 env steps, got {self.eval_freq}")
        if self.wandb_mode not in ("offline", "online", "disabled"):
            raise ConfigError(f"wandb_mode must be offline, online or disabled, got {self.wandb_mode!r}")
        if self.train_history == "corpus":
            raise ConfigError("train_history='corpus' would train on the test set; train on 'procedural' "
                              "(or a trajectory file of your own)")

    def env_spec(self) -> tuple[str, dict[str, Any]]:
        """(env id, env kwargs) of ``env``: a challenge key expands to its id and kwargs."""
        if self.env in registered_variants():
            challenge = registered_variants()[self.env]
            return challenge.env_id, {**challenge.kwargs, **self.env_kwargs}
        env_ids = [spec.env_id for spec in challenge_specs()]
        if self.env not in env_ids:
            raise ConfigError(
                f"env {self.env!r} is neither a challenge key ({', '.join(registered_variants())}) nor a challenge's env id "
                f"({', '.join(env_ids)})"
            )
        return self.env, dict(self.env_kwargs)

    def validation_seeds(self) -> list[int]:
        """The env seeds of the validation histories."""
        return list(range(self.validation_first_seed, self.validation_first_seed + self.validation_episodes))

    def challenge_name(self) -> str:
        """The challenge key, or the env id when ``env`` is one."""
        return self.env if self.env in registered_variants() else self.env_spec()[0]

    def recipe_label(self, obs_history: int) -> str:
        """``label``, or the algorithm with ``-hist<k>`` when the observation carries k estimates."""
        if self.label:
            return self.label
        return self.algo if obs_history <= 1 else f"{self.algo}-hist{obs_history}"

    def output_dir(self, obs_history: int | None = None) -> Path:
        """The run's output folder.

        :param obs_history: the training envs' ``obs_history`` (part of the default label); None =
            read it from the hyperparameter file and ``env_kwargs``.
        """
        if self.out:
            return Path(self.out)
        if obs_history is None:
            _, _, hp = hyperparams_for(self)
            obs_history = int({**hp.env_kwargs, **self.env_kwargs}.get("obs_history", 1) or 1)
        return Path("runs") / "train" / f"{self.recipe_label(obs_history)}-{self.challenge_name()}-seed{self.seed}"


@dataclass
class TrainResult:
    """What a training run produced.

    :param model_path: the selected ``model.zip`` (best validation checkpoint).
    :param validation: the validation curve (:meth:`ValidationCurve.to_json`).
    :param train_seconds: wall time of ``learn`` (validation included).
    :param total_timesteps: env steps trained.
    :param eval_final_scores: final_score per test episode on ``eval_history`` (empty unless asked).
    :param eval_normalized_scores: normalized_score per test episode.
    :param wandb_run: where the wandb run went (its URL online, its folder offline), or None untracked.
    """

    model_path: Path
    validation: dict[str, Any]
    train_seconds: float
    total_timesteps: int
    eval_final_scores: list[float] = field(default_factory=list)
    eval_normalized_scores: list[float] = field(default_factory=list)
    wandb_run: str | None = None

    @property
    def best_validation_score(self) -> float:
        """Mean normalised score of the selected checkpoint on the validation histories."""
        return float(self.validation["best_mean"])

    def summary(self) -> dict[str, Any]:
        """The numbers of the run (JSON-ready)."""
        final = np.asarray(self.eval_final_scores)
        normalized = np.asarray(self.eval_normalized_scores)
        return {
            "model_path": str(self.model_path),
            "train_seconds": round(self.train_seconds, 2),
            "total_timesteps": int(self.total_timesteps),
            "validation_best_normalized_score": self.best_validation_score,
            "validation_best_timestep": int(self.validation["best_timestep"]),
            "eval_episodes": int(final.size),
            "eval_final_score_mean": float(final.mean()) if final.size else None,
            "eval_final_score_std": float(final.std()) if final.size else None,
            "eval_normalized_score_mean": float(normalized.mean()) if normalized.size else None,
            "eval_normalized_score_std": float(normalized.std()) if normalized.size else None,
            "eval_final_scores": list(map(float, final)),
            "eval_normalized_scores": list(map(float, normalized)),
            "wandb_run": self.wandb_run,
        }


def evaluate_policy_on_seeds(
    model: Any, env_id: str, env_kwargs: dict[str, Any], seeds: Sequence[int], recurrent: bool = False,
    residual_scale: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run the deterministic policy of ``model`` for one episode per seed, all seeds in one batch.

    Uses the native vector env in ``rng_mode="exact"``, so episode i is exactly the single env's
    episode with ``reset(seed=seeds[i])`` (what ``progressgym benchmark`` runs for that seed).

    :param model: an SB3 model (``predict`` is called on the batch of observations).
    :param env_id: the env id. :param env_kwargs: its kwargs (history, timesteps_ahead, obs_history, ...).
    :param seeds: env seeds, one episode each.
    :param recurrent: the model is recurrent (its hidden state is carried across steps).
    :param residual_scale: the model acts in residual corrections to the lifelong target
        (:func:`agents.wrappers.lifelong_residual_actions`), or None for absolute actions.
    :return: (final scores, normalised scores), one per seed.
    """
    import gymnasium as gym

    import progressgym_env  # noqa: F401

    env = gym.make_vec(env_id, num_envs=len(seeds), rng_mode="exact", **env_kwargs)
    try:
        obs, _ = env.reset(seed=[int(s) for s in seeds])  # type: ignore[arg-type]  # (the native env takes a list)
        state, starts = None, np.ones(len(seeds), dtype=bool)
        while True:
            if recurrent:
                actions, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
                starts = np.zeros(len(seeds), dtype=bool)
            else:
                actions, _ = model.predict(obs, deterministic=True)
            actions = np.clip(np.asarray(actions, dtype=np.float32), -1.0, 1.0)
            if residual_scale is not None:
                capacity = backend_capacity(env)
                actions = lifelong_residual_actions(actions, obs, actions.shape[-1], capacity, residual_scale)
            obs, _, terminated, truncated, infos = env.step(actions)
            if np.all(terminated | truncated):
                return np.asarray(infos["final_score"], dtype=float), np.asarray(infos["normalized_score"], dtype=float)
    finally:
        env.close()


@dataclass
class ValidationCurve:
    """Validation scores of a run, one entry per evaluation."""

    timesteps: list[int] = field(default_factory=list)
    means: list[float] = field(default_factory=list)
    stds: list[float] = field(default_factory=list)
    scores: list[list[float]] = field(default_factory=list)
    best_timestep: int = -1
    best_mean: float = -np.inf

    @classmethod
    def load(cls, path: Path) -> ValidationCurve:
        """The curve saved in ``evaluations.json`` (an empty curve when there is none)."""
        if not path.is_file():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: data[k] for k in ("timesteps", "means", "stds", "scores", "best_timestep", "best_mean")})
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path} is not a validation curve ({exc}); move it aside to resume without it") from None

    def add(self, timestep: int, normalized: np.ndarray) -> bool:
        """Record one evaluation; True when it is the best so far."""
        mean = float(np.mean(normalized))
        self.timesteps.append(int(timestep))
        self.means.append(mean)
        self.stds.append(float(np.std(normalized)))
        self.scores.append([round(float(s), 6) for s in normalized])
        if mean > self.best_mean:
            self.best_mean, self.best_timestep = mean, int(timestep)
            return True
        return False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``scores`` holds every validation history's score)."""
        return asdict(self)


def validation_callback(
    env_id: str,
    env_kwargs: dict[str, Any],
    seeds: Sequence[int],
    eval_freq: int,
    best_path: Path,
    recurrent: bool = False,
    run: Any = None,
    trial: Any = None,
    curve_path: Path | None = None,
    residual_scale: float | None = None,
    curve: ValidationCurve | None = None,
) -> Any:
    """An SB3 callback validating the policy every ``eval_freq`` env steps and saving the best model.

    Logs ``eval/normalized_score`` (and ``eval/final_score``) against ``global_step`` to the wandb
    ``run``; with an Optuna ``trial`` it reports each evaluation and stops a pruned trial.

    :param env_id: the env id. :param env_kwargs: the validation envs' kwargs (procedural history).
    :param seeds: validation env seeds. :param eval_freq: env steps between evaluations.
    :param best_path: where the best checkpoint is saved (``model.zip``).
    :param recurrent: the model is recurrent. :param run: a wandb run or None. :param trial: an Optuna trial or None.
    :param curve_path: where the curve so far is rewritten after each evaluation (progress), or None.
    :param residual_scale: the policy's actions are residual (see :func:`evaluate_policy_on_seeds`), or None.
    :param curve: the curve so far of a resumed run (its best stays the bar a new checkpoint must beat).
    """
    from stable_baselines3.common.callbacks import BaseCallback

    class ValidationCallback(BaseCallback):
        """Validates on held-out procedural histories; keeps the best checkpoint."""

        def __init__(self) -> None:
            super().__init__()
            self.curve = curve if curve is not None else ValidationCurve()
            self.pruned = False
            self._next = 0

        def _evaluate(self) -> None:
            final, normalized = evaluate_policy_on_seeds(self.model, env_id, env_kwargs, seeds, recurrent,
                                                         residual_scale)
            if self.curve.add(self.num_timesteps, normalized):
                with atomic_path(best_path) as tmp:  # a kill mid-save keeps the previous model.zip
                    self.model.save(str(tmp))
            if curve_path is not None:
                atomic_write_text(curve_path, json.dumps(self.curve.to_dict()) + "\n")
            if run is not None:
                run.log({"eval/normalized_score": float(normalized.mean()),
                         "eval/normalized_score_std": float(normalized.std()),
                         "eval/final_score": float(final.mean()),
                         "eval/best_normalized_score": self.curve.best_mean,
                         "global_step": self.num_timesteps})
            if trial is not None and self.num_timesteps > 0:  # the untrained policy says nothing to prune on
                trial.report(float(normalized.mean()), len(self.curve.timesteps) - 1)
                if trial.should_prune():
                    self.pruned = True

        def _on_training_start(self) -> None:
            if self.num_timesteps not in self.curve.timesteps:  # resumed at an evaluated step: no second point
                self._evaluate()  # the untrained policy: the first point of the learning curve
            self._next = self.num_timesteps + eval_freq

        def _on_step(self) -> bool:
            if self.num_timesteps >= self._next:
                self._next += eval_freq
                self._evaluate()
            return not self.pruned

        def _on_training_end(self) -> None:
            if not self.curve.timesteps or self.curve.timesteps[-1] != self.num_timesteps:
                self._evaluate()

    return ValidationCallback()


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


def evaluate_model(model_path: Path, algo: str, env_id: str, env_kwargs: dict[str, Any], episodes: int) -> tuple[list[float], list[float]]:
    """Load a saved model as a leaderboard agent and run it for seeds 0..episodes-1 (plain env).

    :return: (final scores, normalised scores).
    """
    import gymnasium as gym

    from progressgym_env.episode import run_episode

    plain = {k: v for k, v in env_kwargs.items() if k not in OBS_KWARGS}  # the agent stacks estimates itself
    env = gym.make(env_id, **plain)
    try:
        agent = make_agent(f"{algo}:{model_path}", env)
        results = [run_episode(env, agent, seed) for seed in range(episodes)]
    finally:
        env.close()
    return [r.final_score for r in results], [r.normalized_score for r in results]


def _command_line() -> str:
    """The command that started this process (for the saved config)."""
    argv = list(sys.argv)
    if argv and argv[0].endswith(("progressgym", "__main__.py")):
        argv[0] = "progressgym"
    return shlex.join(argv)


def hyperparams_for(config: TrainConfig) -> tuple[str, dict[str, Any], ZooHyperparams]:
    """(env id, challenge env kwargs, zoo hyperparameters) of ``config``."""
    env_id, env_kwargs = config.env_spec()
    return env_id, env_kwargs, load_hyperparams(config.algo, env_id, config.hyperparams)


def rollout_timesteps(algo: str, hp: ZooHyperparams) -> int:
    """Env steps SB3 adds at a time: a whole rollout (``n_steps × n_envs``) on-policy, ``n_envs`` off-policy.

    ``learn`` stops only at such a boundary, so a target that is not a multiple of it ends past the
    target (PPO asked for 20,000 steps with 2,048-step rollouts trains 20,480).
    """
    if algo in ON_POLICY_N_STEPS:
        return int(hp.algo_kwargs.get("n_steps", ON_POLICY_N_STEPS[algo])) * max(1, hp.n_envs)
    return max(1, hp.n_envs)


def steps_to_train(target: int, done: int, rollout: int) -> int:
    """The ``total_timesteps`` to pass to ``learn`` to go from step ``done`` to ``target``, rounded up to
    whole rollouts, so SB3's progress bar ends at its total and the summary's count is what was trained."""
    return max(0, -(-(target - done) // rollout) * rollout)


def _lock_folder(out: Path) -> Any:
    """Hold ``out/.lock`` (non-blocking) for the run; another run into ``out`` is refused."""
    import filelock

    lock = filelock.FileLock(str(out / LOCK_FILE))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise FolderInUseError(
            f"another training is writing into {out} (lock {out / LOCK_FILE} is held); wait for it to finish "
            "or pass another --out"
        ) from None
    return lock


def _kept_models(out: Path) -> list[Path]:
    return [out / name for name in MODEL_FILES if (out / name).is_file()]


def _previous_run(out: Path, config: TrainConfig) -> dict[str, Any]:
    """The saved config of the run in ``out`` that ``config`` would overwrite or resume ({} when none).

    :raises ConfigError: ``out`` holds a model and ``config.resume`` is off, or the model was trained with
        another algorithm or env (it cannot be continued as this run).
    """
    kept = _kept_models(out)
    if not kept:
        return {}
    previous: dict[str, Any] = {}
    if (out / "config.json").is_file():
        try:
            previous = json.loads((out / "config.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            previous = {}
    done = previous.get("timesteps_done")
    at = f" (stopped at step {done})" if done is not None else ""
    if not config.resume:
        raise ConfigError(
            f"{out} already holds a trained model{at}: {', '.join(str(p) for p in kept)}; re-run with --resume to "
            "continue training it, or pass another --out (or delete the folder) to start afresh"
        )
    for key in ("algo", "env"):
        if key in previous and previous[key] != getattr(config, key):
            raise ConfigError(
                f"cannot resume {out}: its model was trained with {key}={previous[key]!r}, not "
                f"{getattr(config, key)!r}; pass another --out to train this one"
            )
    return previous


def _write_config(out: Path, saved: dict[str, Any]) -> None:
    atomic_write_text(out / "config.json", json.dumps(saved, indent=2, default=str) + "\n")


def train(config: TrainConfig, hp: ZooHyperparams | None = None, trial: Any = None) -> TrainResult:
    """Train ``config.algo`` on procedural histories, keep the best checkpoint on the validation histories.

    ``config.json`` is written when training starts and rewritten when it stops (also on Ctrl-C, with
    ``status: interrupted`` and ``timesteps_done``), so a benchmark can read any model the run left.

    :param config: the run's settings.
    :param hp: hyperparameters to use instead of the YAML's (the tuner passes a trial's).
    :param trial: an Optuna trial to report validation scores to (pruning), or None.
    :raises FolderInUseError: another run writes into the output folder.
    :raises ConfigError: the folder holds a model and ``config.resume`` is off (or it cannot be resumed).
    """
    try:
        import torch
    except ImportError:
        raise MissingExtraError("SB3 training", "sb3", "stable_baselines3") from None

    env_id, env_kwargs, yaml_hp = hyperparams_for(config)
    hp = hp or yaml_hp
    train_kwargs = {**hp.env_kwargs, **env_kwargs, "history": config.train_history}
    obs_history = int(train_kwargs.get("obs_history", 1) or 1)
    out = config.output_dir(obs_history)
    out.mkdir(parents=True, exist_ok=True)
    lock = _lock_folder(out)
    try:
        previous = _previous_run(out, config)
        return _train_locked(config, hp, trial, env_id, env_kwargs, train_kwargs, obs_history, out, previous, torch)
    finally:
        lock.release()


def _train_locked(
    config: TrainConfig, hp: ZooHyperparams, trial: Any, env_id: str, env_kwargs: dict[str, Any],
    train_kwargs: dict[str, Any], obs_history: int, out: Path, previous: dict[str, Any], torch: Any,
) -> TrainResult:
    """:func:`train` once ``out`` is locked and checked (``previous``: the saved config of a resumed run)."""
    from agents.vec_env import NativeVecEnv

    observation = {k: train_kwargs[k] for k in OBS_KWARGS if k in train_kwargs}
    # Validation histories are procedural in the training histories' value space (procedural-moral19 too).
    procedural = config.train_history if config.train_history.startswith("procedural") else "procedural"
    validation_kwargs = {**env_kwargs, **observation, "history": procedural}
    validation_kwargs.pop("similarity", None)  # validation scores the paper's cosine, whatever the reward
    torch.set_num_threads(max(1, config.torch_threads))
    total_timesteps = int(config.total_timesteps or hp.n_timesteps)
    eval_freq = config.eval_freq or max(1, total_timesteps // 20)
    total_timesteps, eval_freq = capped_timesteps(total_timesteps, eval_freq)  # PROGRESSGYM_MAX_TIMESTEPS
    recurrent = config.algo in RECURRENT
    label = config.recipe_label(obs_history)
    resume_from = next(iter(_kept_models(out)), None)  # only with config.resume: _previous_run refused it otherwise
    saved: dict[str, Any] = {
        **asdict(config),
        "label": label,
        "command": _command_line(),
        "env_id": env_id,
        "challenge": config.challenge_name(),
        "train_env_kwargs": train_kwargs,
        "validation_env_kwargs": validation_kwargs,
        "seeds": {
            "train": config.seed,
            "validation": [config.validation_first_seed, config.validation_first_seed + config.validation_episodes - 1],
            "test_procedural_first": TEST_FIRST_SEED,
        },
        "total_timesteps": total_timesteps,
        "hyperparams": _jsonable_hp(hp),
        "status": "running",
        "timesteps_done": 0,
    }
    run = _start_wandb(config, out, env_id, label, saved) if config.track else None
    if run is not None:
        saved["wandb_run"] = wandb_location(run)
    vec_env: Any = NativeVecEnv(env_id, hp.n_envs, train_kwargs, seed=config.seed, reward=hp.reward,
                                reward_clip=hp.reward_clip, residual_scale=hp.residual_scale)
    if hp.normalize:
        from stable_baselines3.common.vec_env import VecNormalize

        gamma = float(hp.algo_kwargs.get("gamma", 0.99))
        vec_env = VecNormalize(vec_env, gamma=gamma, **{"norm_obs": False, **hp.normalize})
    curve = ValidationCurve.load(out / "evaluations.json") if resume_from is not None else None
    callback = validation_callback(
        env_id, validation_kwargs, config.validation_seeds(), eval_freq, out / "model.zip", recurrent, run, trial,
        out / "evaluations.json", hp.residual_scale, curve,
    )
    model: Any = None
    train_seconds = float(previous.get("train_seconds", 0.0) or 0.0)
    try:
        algo_kwargs = dict(hp.algo_kwargs)
        policy = algo_kwargs.pop("policy")
        noise = _action_noise(hp, config.algo, vec_env.action_space.shape[0])
        if noise is not None:
            algo_kwargs["action_noise"] = noise
        if resume_from is not None:
            model = algo_class(config.algo).load(str(resume_from), env=vec_env, device=config.device)
            saved["resumed"] = [*previous.get("resumed", []), {"from": str(resume_from), "step": int(model.num_timesteps)}]
        else:
            model = algo_class(config.algo)(
                policy, vec_env, seed=config.seed, device=config.device, verbose=config.verbose, **algo_kwargs
            )
        if run is not None:
            model.set_logger(_wandb_logger(run))
        saved["timesteps_done"] = int(model.num_timesteps)
        _write_config(out, saved)  # before the first step: a kill at any point leaves a readable config.json
        steps = steps_to_train(total_timesteps, int(model.num_timesteps), rollout_timesteps(config.algo, hp))
        start = time.perf_counter()
        try:
            if steps > 0:
                model.learn(total_timesteps=steps, callback=callback, progress_bar=config.progress_bar,
                            reset_num_timesteps=resume_from is None)
            saved["status"] = "finished"
        finally:
            train_seconds += time.perf_counter() - start
            with atomic_path(out / "last_model.zip") as tmp:
                model.save(str(tmp))
            saved["status"] = saved["status"] if saved["status"] == "finished" else "interrupted"
            saved["timesteps_done"] = int(model.num_timesteps)
            saved["train_seconds"] = round(train_seconds, 2)
            if callback.curve.timesteps:
                saved["validation"] = {k: v for k, v in callback.curve.to_dict().items() if k != "scores"}
            _write_config(out, saved)
    finally:
        vec_env.close()

    curve_json = callback.curve.to_dict()
    saved["validation"] = {k: v for k, v in curve_json.items() if k != "scores"}
    saved["validation"]["episodes"] = config.validation_episodes
    saved["pruned"] = bool(callback.pruned)
    atomic_write_text(out / "evaluations.json", json.dumps(curve_json) + "\n")
    _write_config(out, saved)
    result = TrainResult(out / "model.zip", curve_json, train_seconds, int(model.num_timesteps),
                         wandb_run=saved.get("wandb_run"))
    if config.eval_episodes and not callback.pruned:
        test_kwargs = {**env_kwargs, "history": config.eval_history}
        final, normalized = evaluate_model(result.model_path, config.algo, env_id, test_kwargs, config.eval_episodes)
        result.eval_final_scores, result.eval_normalized_scores = final, normalized
        saved["evaluation"] = {"history": config.eval_history, **result.summary()}
        _write_config(out, saved)
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


def wandb_location(run: Any) -> str:
    """Where a wandb run goes: its URL when it syncs online, else its local folder (``wandb sync`` uploads it)."""
    if not getattr(run.settings, "_offline", False) and getattr(run, "url", None):  # (url warns when offline)
        return str(run.url)
    return str(Path(run.dir).parent)  # run.dir is <run folder>/files


def _start_wandb(config: TrainConfig, out: Path, env_id: str, label: str, saved: dict[str, Any]) -> Any:
    """One wandb run per recipe × challenge × seed, grouped by ``<label>/<challenge>`` so wandb draws
    the seeds of a recipe as one learning curve and compares recipes."""
    try:
        import wandb
    except ImportError:
        raise MissingExtraError("--track", "wandb", "wandb") from None
    from progressgym_env.common.wandb_setup import silence_weave_hint

    silence_weave_hint()
    run = wandb.init(
        project=config.wandb_project,
        dir=str(out),
        mode=config.wandb_mode,  # type: ignore[arg-type]  # (checked in __post_init__)
        group=f"{label}/{config.challenge_name()}",
        job_type=f"train-{label}",
        name=out.name,
        config=json.loads(json.dumps(saved, default=str)),
        reinit="finish_previous",
        settings=wandb.Settings(console="off", silent=True),
    )
    run.define_metric("global_step")
    run.define_metric("*", step_metric="global_step")
    return run
