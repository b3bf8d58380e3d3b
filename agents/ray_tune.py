"""Hyperparameter sweeps of the SB3 recipes with Ray Tune: every trial a Ray task, on one machine or a cluster.

The sweep reuses the Optuna tuner's pieces (:mod:`agents.tuning`): the YAML search space
(``agents/hyperparams/search/<algo>.yml`` or ``--search-space``, the same layout), how a trial's values
are applied to the zoo entry, and the zoo-style YAML of the winner. Each trial trains with
:func:`agents.train.train` and is scored, every ``timesteps / n_evaluations`` env steps, by its
deterministic policy's mean normalised score on the held-out procedural *validation* histories (env
seeds from :data:`agents.train.VALIDATION_FIRST_SEED`); the corpus history, the test set, is never
read. Each evaluation is reported to Tune as ``normalized_score`` with the running best
``best_normalized_score`` (the score of the checkpoint training keeps), which is the sweep's metric.

- ``search="asha"``: random sampling (seeded) with the ASHA scheduler stopping trials that fall behind
  at each rung (evaluations ``grace_period``, ``grace_period x reduction_factor``, ...);
- ``search="optuna"``: Optuna's TPE sampler through Ray's ``OptunaSearch`` (seeded), with the same ASHA
  stopping.

Trials run as Ray tasks (``cpus_per_trial`` / ``gpus_per_trial`` each, at most ``max_concurrent`` at
once): a local cluster by default, or the cluster at ``address``. Every trial is logged to wandb through
Ray's own integration (``ray.air.integrations.wandb.WandbLoggerCallback``), offline by default. A sweep
writes into ``out``::

    best.yml        the winner as a zoo-style hyperparameter file (rl-zoo3 layout, ready for agents/hyperparams/)
    sweep.json      this config and every trial's parameters, status, evaluations and best score
    trials/<id>/    each trial's training run (model.zip, config.json, evaluations.json)
    ray_results/    Ray Tune's own experiment folder; wandb/: the offline wandb runs

Command line: ``progressgym tune --algo ppo --env follow --num-samples 8 --timesteps 200000``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agents.sb3_agent import ALGO_NAMES
from progressgym_env.errors import ConfigError, MissingExtraError

SEARCHES = ("asha", "optuna")
METRIC = "best_normalized_score"
"""What the sweep maximises: the best validation score a trial reached (its kept checkpoint's)."""


@dataclass
class RayTuneConfig:
    """Settings of one Ray Tune sweep (saved in ``sweep.json``)."""

    algo: str = field(default="ppo", metadata={"help": "SB3 algorithm to tune.", "choices": ALGO_NAMES})
    env: str = field(default="follow", metadata={"help": "Challenge key or env id."})
    num_samples: int = field(default=8, metadata={"help": "Trials (hyperparameter samples) in the sweep."})
    timesteps: int = field(default=200_000, metadata={"help": "Training env steps per trial."})
    search: str = field(
        default="asha",
        metadata={"help": "asha: seeded random samples with ASHA early stopping; optuna: Optuna's TPE sampler "
                  "(Ray's OptunaSearch) with the same stopping.", "choices": SEARCHES},
    )
    search_space: str | None = field(
        default=None, metadata={"help": "YAML search space; None = agents/hyperparams/search/<algo>.yml."}
    )
    hyperparams: str | None = field(
        default=None, metadata={"help": "Zoo-style YAML whose entry the trials start from; None = the shipped one."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the sampler and of every trial's training."})
    validation_episodes: int = field(default=50, metadata={"help": "Procedural validation histories per evaluation."})
    n_evaluations: int = field(default=5, metadata={"help": "Validations per trial (ASHA's time steps)."})
    grace_period: int = field(default=2, metadata={"help": "ASHA: evaluations every trial gets before it may be stopped."})
    reduction_factor: int = field(default=2, metadata={"help": "ASHA: 1/this of the trials go on at each rung."})
    max_concurrent: int = field(default=0, metadata={"help": "Trials at once; 0 = as many as the resources allow."})
    cpus_per_trial: float = field(default=1.0, metadata={"help": "CPUs each trial reserves."})
    gpus_per_trial: float = field(default=0.0, metadata={"help": "GPUs each trial reserves (and trains on)."})
    address: str | None = field(
        default=None,
        metadata={"help": "Ray cluster to join: 'auto' or HOST:PORT; none = start a local cluster on this machine."},
    )
    local_cpus: int | None = field(
        default=None, metadata={"help": "CPUs of the local cluster started without --address (none = every core)."}
    )
    wandb: bool = field(default=True, metadata={"help": "Log every trial to wandb (Ray's WandbLoggerCallback)."})
    wandb_project: str = field(default="progressgym-tune", metadata={"help": "wandb project."})
    wandb_mode: str = field(default="offline", metadata={"help": "wandb mode: offline, online or disabled."})
    out: str = field(default="runs/ray-tune", metadata={"help": "Output folder."})

    def __post_init__(self) -> None:
        self.algo = self.algo.lower()
        if self.algo not in ALGO_NAMES:
            raise ConfigError(f"unknown algo {self.algo!r}; choose one of {ALGO_NAMES}")
        if self.search not in SEARCHES:
            raise ConfigError(f"search must be one of {SEARCHES}, got {self.search!r}")
        for name in ("num_samples", "timesteps", "validation_episodes", "n_evaluations", "grace_period",
                     "reduction_factor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an int >= 1, got {value!r}")
        if self.reduction_factor < 2:
            raise ConfigError(f"reduction_factor must be >= 2 (ASHA keeps 1/reduction_factor), got {self.reduction_factor}")
        if self.max_concurrent < 0:
            raise ConfigError(f"max_concurrent must be >= 0, got {self.max_concurrent}")
        if self.cpus_per_trial <= 0 or self.gpus_per_trial < 0:
            raise ConfigError(f"cpus_per_trial must be > 0 and gpus_per_trial >= 0, got {self.cpus_per_trial}, "
                              f"{self.gpus_per_trial}")
        if self.wandb_mode not in ("offline", "online", "disabled"):
            raise ConfigError(f"wandb_mode must be offline, online or disabled, got {self.wandb_mode!r}")

    def eval_freq(self) -> int:
        """Env steps between two validations."""
        return max(1, self.timesteps // self.n_evaluations)


def ray_search_space(space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A checked search space (:func:`agents.tuning.load_search_space`) as Ray Tune sampling domains.

    ``float`` -> ``uniform`` / ``loguniform``; ``int`` (``high`` included) -> ``randint`` / ``lograndint``
    (whose upper bound is exclusive, hence ``high + 1``); ``categorical`` -> ``choice``.
    """
    from ray import tune

    domains: dict[str, Any] = {}
    for name, spec in space.items():
        kind, log = spec["type"], bool(spec.get("log"))
        if kind == "categorical":
            domains[name] = tune.choice(list(spec["choices"]))
        elif kind == "int":
            low, high = int(spec["low"]), int(spec["high"]) + 1
            domains[name] = tune.lograndint(low, high) if log else tune.randint(low, high)
        else:
            low_f, high_f = float(spec["low"]), float(spec["high"])
            domains[name] = tune.loguniform(low_f, high_f) if log else tune.uniform(low_f, high_f)
    return domains


class TuneReporter:
    """What :func:`agents.train.validation_callback` expects of a trial, reporting to Ray Tune instead of Optuna.

    Each validation becomes one Tune result (``normalized_score``, ``best_normalized_score``,
    ``evaluation``). Stopping is Tune's: the scheduler ends a trial that falls behind, so
    :meth:`should_prune` is always False.
    """

    def __init__(self) -> None:
        self.best = float("-inf")

    def report(self, value: float, step: int) -> None:
        """Send one validation's mean normalised score to Tune.

        :param value: the mean normalised score. :param step: the validation's index (1, 2, ...).
        """
        from ray import tune

        self.best = max(self.best, float(value))
        tune.report({"normalized_score": float(value), METRIC: self.best, "evaluation": int(step)})

    def should_prune(self) -> bool:
        """Never: Tune's scheduler stops trials itself."""
        return False


def train_trial(params: dict[str, Any], setup: dict[str, Any]) -> None:
    """One trial (runs inside a Ray worker): train with ``params`` applied, reporting every validation.

    :param params: the trial's sampled values (dotted names, as in the search space).
    :param setup: the sweep's fixed settings (algo, env, hyperparams, timesteps, seed, validation, out).
    """
    from ray import tune

    from agents.train import TrainConfig, hyperparams_for, train
    from agents.tuning import apply_params

    base = TrainConfig(algo=setup["algo"], env=setup["env"], hyperparams=setup["hyperparams"])
    hp = apply_params(hyperparams_for(base)[2], params)
    run = TrainConfig(
        algo=setup["algo"], env=setup["env"], hyperparams=setup["hyperparams"], total_timesteps=setup["timesteps"],
        seed=setup["seed"], validation_episodes=setup["validation_episodes"], eval_freq=setup["eval_freq"],
        device=setup["device"], out=str(Path(setup["trials_dir"]) / tune.get_context().get_trial_id()),
    )
    train(run, hp=hp, trial=TuneReporter())


@dataclass
class RayTuneResult:
    """The outcome of a sweep: the winner's score and values, where they were written, every trial."""

    best_value: float
    best_params: dict[str, Any]
    best_yaml: Path
    sweep_json: Path
    trials: list[dict[str, Any]]


def import_tune() -> Any:
    """``ray.tune``, or :class:`MissingExtraError` naming the ``ray`` extra."""
    try:
        from ray import tune
    except ImportError:
        raise MissingExtraError("progressgym tune", "ray", "ray") from None
    return tune


def _search_algorithm(config: RayTuneConfig) -> Any:
    if config.search == "optuna":
        try:
            from ray.tune.search.optuna import OptunaSearch

            searcher: Any = OptunaSearch(metric=METRIC, mode="max", seed=config.seed)
        except (ImportError, AssertionError):
            raise MissingExtraError("--search optuna", "tune", "optuna") from None
    else:
        from ray.tune.search.basic_variant import BasicVariantGenerator

        searcher = BasicVariantGenerator(random_state=config.seed)
    if config.max_concurrent:
        from ray.tune.search import ConcurrencyLimiter

        if config.search == "optuna":
            return ConcurrencyLimiter(searcher, max_concurrent=config.max_concurrent)
        searcher = BasicVariantGenerator(random_state=config.seed, max_concurrent=config.max_concurrent)
    return searcher


def _callbacks(config: RayTuneConfig, out: Path) -> list[Any]:
    if not config.wandb or config.wandb_mode == "disabled":
        return []
    try:
        from ray.air.integrations.wandb import WandbLoggerCallback
    except ImportError:  # pragma: no cover - part of ray[tune]
        raise MissingExtraError("wandb logging of the sweep", "ray", "ray") from None
    try:
        import wandb  # noqa: F401
    except ImportError:
        raise MissingExtraError("wandb logging of the sweep (--no-wandb to skip)", "wandb", "wandb") from None
    if config.wandb_mode != "online":
        os.environ.setdefault("WANDB_MODE", config.wandb_mode)  # Ray asks for an API key unless offline
    return [WandbLoggerCallback(project=config.wandb_project, group=f"{config.algo}-{config.env}",
                                mode=config.wandb_mode, dir=str(out))]  # wandb writes out/wandb/


def tune_sweep(config: RayTuneConfig) -> RayTuneResult:
    """Run the sweep of ``config`` on Ray Tune and write the winner (see the module docstring).

    :raises MissingExtraError: Ray (``ray``), Optuna (``tune``) or wandb missing.
    :raises ConfigError: a bad search space, or no trial reported a score.
    """
    tune = import_tune()
    import yaml

    from agents.train import TrainConfig, hyperparams_for
    from agents.tuning import apply_params, default_search_space_path, load_search_space, zoo_entry
    from progressgym_env.common.atomic import atomic_write_text
    from progressgym_env.common.ray_cluster import connect_ray

    space = load_search_space(config.search_space or default_search_space_path(config.algo))
    env_id, _, base_hp = hyperparams_for(TrainConfig(algo=config.algo, env=config.env, hyperparams=config.hyperparams))
    out = Path(config.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    setup = {
        "algo": config.algo, "env": config.env,
        "hyperparams": str(Path(config.hyperparams).resolve()) if config.hyperparams else None,
        "timesteps": config.timesteps, "seed": config.seed, "validation_episodes": config.validation_episodes,
        "eval_freq": config.eval_freq(), "trials_dir": str(out / "trials"),
        "device": "cuda" if config.gpus_per_trial > 0 else "cpu",
    }
    started = connect_ray(config.address, config.local_cpus)
    try:
        from ray.tune.schedulers import ASHAScheduler

        trainable = tune.with_resources(tune.with_parameters(train_trial, setup=setup),
                                        {"cpu": config.cpus_per_trial, "gpu": config.gpus_per_trial})
        scheduler = ASHAScheduler(time_attr="evaluation", max_t=config.n_evaluations + 2,
                                  grace_period=config.grace_period, reduction_factor=config.reduction_factor)
        tuner = tune.Tuner(
            trainable,
            param_space=ray_search_space(space),
            tune_config=tune.TuneConfig(metric=METRIC, mode="max", num_samples=config.num_samples,
                                        search_alg=_search_algorithm(config), scheduler=scheduler),
            run_config=tune.RunConfig(name=f"{config.algo}-{config.env}", storage_path=str(out / "ray_results"),
                                      callbacks=_callbacks(config, out), verbose=1),
        )
        grid = tuner.fit()
    finally:
        if started:
            import ray

            ray.shutdown()
    trials = [_trial_summary(result) for result in grid]
    scored = [t for t in trials if t["best_normalized_score"] is not None]
    if not scored:
        errors = "; ".join(str(t["error"]) for t in trials if t["error"]) or "no trial reported a validation score"
        raise ConfigError(f"no trial of the {config.algo} sweep on {config.env} finished: {errors}")
    best = max(scored, key=lambda t: t["best_normalized_score"])
    winner = apply_params(base_hp, best["params"])
    header = (f"# Ray Tune winner ({config.search}) for {config.algo} on {env_id} ({config.env}): validation "
              f"normalized score {best['best_normalized_score']:.4f} within {config.timesteps} steps (trial "
              f"{best['trial_id']}, {len(trials)} trials, seed {config.seed}); validation histories only.\n")
    best_yaml = out / "best.yml"
    atomic_write_text(best_yaml, header + yaml.safe_dump({env_id: zoo_entry(winner)}, sort_keys=False))
    sweep_json = out / "sweep.json"
    atomic_write_text(sweep_json, json.dumps({"config": asdict(config), "env_id": env_id, "metric": METRIC,
                                              "best_trial": best["trial_id"], "best_value": best[METRIC],
                                              "best_params": best["params"], "trials": trials},
                                             indent=2, default=str) + "\n")
    return RayTuneResult(float(best[METRIC]), dict(best["params"]), best_yaml, sweep_json, trials)


def _trial_summary(result: Any) -> dict[str, Any]:
    """One trial of the result grid as JSON-ready numbers (its best score over every evaluation)."""
    frame = result.metrics_dataframe
    history: list[float] = []
    if frame is not None and "normalized_score" in frame:
        history = [float(v) for v in frame["normalized_score"].tolist()]
    metrics = result.metrics or {}
    return {
        "trial_id": metrics.get("trial_id") or Path(str(result.path)).name,
        "params": dict(result.config or {}),
        METRIC: max(history) if history else None,
        "evaluations": history,
        "error": f"{type(result.error).__name__}: {result.error}" if result.error else None,
    }
