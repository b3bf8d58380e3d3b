"""Hyperparameter tuning with Optuna on the procedural validation histories (as rl-zoo3 tunes).

Each trial samples hyperparameters from a YAML search space over the algorithm's zoo entry
(``agents/hyperparams/<algo>.yml``), trains for a fixed budget with :func:`agents.train.train`,
and scores the best checkpoint's mean normalised score on the validation histories (procedural
seeds from :data:`agents.train.VALIDATION_FIRST_SEED`). Optuna's TPE sampler is seeded, trials run
one after another (``n_jobs=1``), and a median pruner stops trials whose validation curve falls
behind; so a study is bounded (``n_trials`` x ``n_timesteps``) and reproducible up to SB3's own
floating-point nondeterminism. The corpus history is never read.

Search space files (``agents/hyperparams/search/<algo>.yml``) map a hyperparameter to a
distribution; dotted names reach into mappings (``policy_kwargs.log_std_init``,
``env_kwargs.obs_history``)::

    learning_rate: {type: float, low: 1.0e-4, high: 3.0e-3, log: true}
    gamma: {type: categorical, choices: [0.5, 0.9, 0.95]}
    n_epochs: {type: int, low: 3, high: 10}

A study writes ``OUT/best.yml`` (the winner in rl-zoo3's layout, ready for
``agents/hyperparams/``), ``OUT/study.json`` (every trial's parameters, state and value) and
``OUT/trials/<n>/`` (each trial's training run).

Command line: ``python -m agents.tuning --algo ppo --env follow --n-trials 12 --n-timesteps 300000``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from agents.sb3_agent import ALGO_NAMES
from agents.train import TrainConfig, hyperparams_for, train
from agents.zoo import ZooHyperparams, read_yaml_mapping
from progressgym_env.common.atomic import atomic_write_text
from progressgym_env.errors import ConfigError, MissingExtraError

DISTRIBUTIONS = ("float", "int", "categorical")


@dataclass
class TuneConfig:
    """Settings of one Optuna study (saved in ``study.json``)."""

    algo: str = field(default="ppo", metadata={"help": "SB3 algorithm to tune.", "choices": ALGO_NAMES})
    env: str = field(default="follow", metadata={"help": "Challenge key or env id."})
    n_trials: int = field(default=10, metadata={"help": "Number of trials (the bound on the study)."})
    n_timesteps: int = field(default=200_000, metadata={"help": "Training env steps per trial."})
    seed: int = field(default=0, metadata={"help": "Seed of the sampler and of every trial's training."})
    search_space: str | None = field(
        default=None, metadata={"help": "YAML search space; None = agents/hyperparams/search/<algo>.yml."}
    )
    hyperparams: str | None = field(
        default=None, metadata={"help": "Zoo-style YAML whose entry the trials start from; None = the shipped one."}
    )
    validation_episodes: int = field(default=50, metadata={"help": "Validation histories per evaluation."})
    n_evaluations: int = field(default=5, metadata={"help": "Validations per trial (the pruner's steps)."})
    n_startup_trials: int = field(default=3, metadata={"help": "Random trials before TPE (and before pruning)."})
    out: str = field(default="runs/tune", metadata={"help": "Output folder."})

    def __post_init__(self) -> None:
        for name in ("n_trials", "n_timesteps", "validation_episodes", "n_evaluations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an int >= 1, got {value!r}")
        if self.n_startup_trials < 0:
            raise ConfigError(f"n_startup_trials must be >= 0, got {self.n_startup_trials}")


def default_search_space_path(algo: str) -> Path:
    """The shipped ``agents/hyperparams/search/<algo>.yml``."""
    return Path(str(resources.files("agents") / "hyperparams" / "search" / f"{algo.lower()}.yml"))


def load_search_space(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read and check a search space file (see the module docstring for the layout).

    :param path: the YAML file.
    """
    file = Path(path)
    table = read_yaml_mapping(file, "hyperparameter names to distributions")
    for name, spec in table.items():
        if not isinstance(spec, dict) or spec.get("type") not in DISTRIBUTIONS:
            raise ConfigError(f"{file}: {name!r} needs a mapping with type one of {DISTRIBUTIONS}, found {spec!r}")
        if spec["type"] == "categorical":
            if not isinstance(spec.get("choices"), list) or not spec["choices"]:
                raise ConfigError(f"{file}: categorical {name!r} needs a non-empty 'choices' list")
        else:
            if "low" not in spec or "high" not in spec or not float(spec["low"]) <= float(spec["high"]):
                raise ConfigError(f"{file}: {spec['type']} {name!r} needs numbers low <= high, found {spec!r}")
    return table


def sample_params(trial: Any, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One trial's values for every name of ``space`` (Optuna's ``suggest_*``)."""
    params: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec["type"]
        if kind == "categorical":
            params[name] = trial.suggest_categorical(name, spec["choices"])
        elif kind == "int":
            params[name] = trial.suggest_int(name, int(spec["low"]), int(spec["high"]), log=bool(spec.get("log")))
        else:
            params[name] = trial.suggest_float(name, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log")))
    return params


def apply_params(hp: ZooHyperparams, params: dict[str, Any]) -> ZooHyperparams:
    """A copy of ``hp`` with ``params`` set (dotted names reach into mappings; zoo keys go to their fields)."""
    result = copy.deepcopy(hp)
    for name, value in params.items():
        head, _, rest = name.partition(".")
        if head in ("n_timesteps", "n_envs", "noise_std", "noise_type") and not rest:
            setattr(result, head, value)
        elif head == "env_kwargs":
            if not rest:
                raise ConfigError(f"search space name {name!r}: use env_kwargs.<kwarg>")
            result.env_kwargs[rest] = value
        elif rest:
            mapping = result.algo_kwargs.setdefault(head, {})
            if not isinstance(mapping, dict):
                raise ConfigError(f"search space name {name!r}: {head!r} is not a mapping")
            mapping[rest] = value
        else:
            result.algo_kwargs[head] = value
    return result


def zoo_entry(hp: ZooHyperparams) -> dict[str, Any]:
    """``hp`` as one entry of a zoo-style YAML file (rl-zoo3's layout)."""
    entry: dict[str, Any] = {"n_timesteps": int(hp.n_timesteps), "n_envs": int(hp.n_envs)}
    algo_kwargs = copy.deepcopy(hp.algo_kwargs)
    policy_kwargs = algo_kwargs.get("policy_kwargs")
    if isinstance(policy_kwargs, dict) and "activation_fn" in policy_kwargs:
        policy_kwargs["activation_fn"] = getattr(policy_kwargs["activation_fn"], "__name__", policy_kwargs["activation_fn"])
    entry.update(algo_kwargs)
    if hp.normalize:
        entry["normalize"] = dict(hp.normalize)
    if hp.noise_type:
        entry["noise_type"], entry["noise_std"] = hp.noise_type, hp.noise_std
    if hp.reward == "normalized_score":
        wrapper = "agents.wrappers.NormalizedScoreReward"
        entry["env_wrapper"] = wrapper if hp.reward_clip is None else {wrapper: {"clip": hp.reward_clip}}
    entry["env_kwargs"] = dict(hp.env_kwargs)
    return entry


@dataclass
class TuneResult:
    """The outcome of a study: the best trial's value and parameters and where they were written."""

    best_value: float
    best_params: dict[str, Any]
    best_yaml: Path
    study_json: Path
    trials: list[dict[str, Any]]


def tune(config: TuneConfig) -> TuneResult:
    """Run the Optuna study of ``config`` (see the module docstring)."""
    try:
        import optuna
    except ImportError:
        raise MissingExtraError("hyperparameter tuning", "tune", "optuna") from None
    import yaml

    space = load_search_space(config.search_space or default_search_space_path(config.algo))
    base = TrainConfig(algo=config.algo, env=config.env, hyperparams=config.hyperparams)
    env_id, _, base_hp = hyperparams_for(base)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)

    def objective(trial: Any) -> float:
        hp = apply_params(base_hp, sample_params(trial, space))
        run = TrainConfig(
            algo=config.algo, env=config.env, hyperparams=config.hyperparams, total_timesteps=config.n_timesteps,
            seed=config.seed, validation_episodes=config.validation_episodes,
            eval_freq=max(1, config.n_timesteps // config.n_evaluations), out=str(out / "trials" / str(trial.number)),
        )
        result = train(run, hp=hp, trial=trial)
        if trial.should_prune():
            raise optuna.TrialPruned()
        return result.best_validation_score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=config.seed, n_startup_trials=config.n_startup_trials)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=config.n_startup_trials, n_warmup_steps=1)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner,
                                study_name=f"{config.algo}-{config.env}")
    study.optimize(objective, n_trials=config.n_trials, n_jobs=1)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise ConfigError(f"no trial of the {config.algo} study on {config.env} completed (all pruned or failed)")
    best = study.best_trial
    winner = apply_params(base_hp, best.params)
    best_yaml = out / "best.yml"
    header = (f"# Optuna winner for {config.algo} on {env_id} ({config.env}): validation normalized score "
              f"{best.value:.4f} after {config.n_timesteps} steps (trial {best.number} of {config.n_trials}, seed "
              f"{config.seed}).\n")
    atomic_write_text(best_yaml, header + yaml.safe_dump({env_id: zoo_entry(winner)}, sort_keys=False))
    trials = [
        {"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
         "intermediate": {str(k): v for k, v in t.intermediate_values.items()}}
        for t in study.trials
    ]
    study_json = out / "study.json"
    atomic_write_text(study_json, json.dumps({"config": asdict(config), "env_id": env_id, "best_trial": best.number,
                                              "best_value": best.value, "best_params": best.params,
                                              "trials": trials}, indent=2, default=str) + "\n")
    return TuneResult(float(best.value or 0.0), dict(best.params), best_yaml, study_json, trials)


def main(argv: list[str] | None = None) -> int:
    """``python -m agents.tuning``: run one study and print the winner."""
    from progressgym_env.cli.dataclass_args import (
        ArgumentParser,
        HelpFormatter,
        add_dataclass_arguments,
        dataclass_from_args,
        fail,
    )

    parser = ArgumentParser(prog="python -m agents.tuning", description=__doc__.split("\n\n")[0],
                            formatter_class=HelpFormatter)
    add_dataclass_arguments(parser, TuneConfig)
    try:
        config = dataclass_from_args(TuneConfig, parser.parse_args(argv))  # parsing validates the config
        result = tune(config)
    except ConfigError as exc:
        return fail("python -m agents.tuning", str(exc))
    print(f"best validation normalized score {result.best_value:+.4f} with {result.best_params}; "
          f"wrote {result.best_yaml} and {result.study_json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
