"""The RL protocol: train on procedural histories, select on validation, ship, benchmark; never the corpus."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import progressgym_env  # noqa: F401
from progressgym_env.episode import run_episode
from progressgym_env.errors import ConfigError


class CorpusRead(AssertionError):
    """Raised by the patched corpus loader."""


@pytest.fixture
def corpus_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every corpus loader raise. The procedural generator's calibration (step statistics of
    the corpus, computed once and cached, by design of the generator) is computed before."""
    from progressgym_env import history, procedural, trajectory

    procedural.corpus_calibration()

    def forbidden() -> None:
        raise CorpusRead("the corpus history was read")

    for module in (history, procedural, trajectory):
        monkeypatch.setattr(module, "corpus_history", forbidden)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    pytest.importorskip("stable_baselines3")
    from agents.train import TrainConfig, train

    out = tmp_path_factory.mktemp("ppo-tiny")
    config = TrainConfig(algo="ppo", env="predict1", total_timesteps=2048, seed=0, validation_episodes=6,
                         eval_freq=512, out=str(out), env_kwargs={"obs_history": 3})
    return out, train(config)


def test_the_corpus_guard_catches_a_corpus_read(corpus_forbidden: None) -> None:
    with pytest.raises(CorpusRead):
        gym.make("PG-Follow-v0")  # the default history is the corpus
    gym.make("PG-Follow-v0", history="procedural").reset(seed=0)  # procedural envs stay usable


def test_training_and_selection_never_read_the_corpus(corpus_forbidden: None, tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")
    from agents.train import TrainConfig, train

    result = train(TrainConfig(algo="a2c", env="follow", total_timesteps=512, validation_episodes=3,
                               out=str(tmp_path)))
    assert (tmp_path / "model.zip").is_file() and result.validation["timesteps"]


def test_tuning_never_reads_the_corpus_and_writes_a_zoo_entry(corpus_forbidden: None, tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    from agents.tuning import TuneConfig, tune
    from agents.zoo import load_hyperparams

    space = tmp_path / "space.yml"
    space.write_text("learning_rate: {type: float, low: 1.0e-4, high: 1.0e-3, log: true}\n"
                     "env_kwargs.obs_history: {type: categorical, choices: [1, 2]}\n")
    result = tune(TuneConfig(algo="a2c", env="follow", n_trials=2, n_timesteps=512, validation_episodes=3,
                             n_evaluations=2, n_startup_trials=1, search_space=str(space), out=str(tmp_path / "t")))
    study = json.loads(result.study_json.read_text())
    assert len(study["trials"]) == 2 and study["best_value"] == result.best_value
    hp = load_hyperparams("a2c", "PG-Follow-v0", result.best_yaml)
    assert hp.env_kwargs["obs_history"] == result.best_params["env_kwargs.obs_history"]
    assert hp.algo_kwargs["learning_rate"] == pytest.approx(result.best_params["learning_rate"])
    assert hp.env_kwargs["history"] == "procedural"


def test_tiny_run_saves_the_best_validation_checkpoint_and_its_record(tiny_run) -> None:
    from agents.train import TEST_FIRST_SEED, VALIDATION_FIRST_SEED

    out, result = tiny_run
    saved = json.loads((out / "config.json").read_text())
    curve = json.loads((out / "evaluations.json").read_text())
    assert saved["train_env_kwargs"]["history"] == "procedural" and saved["validation_env_kwargs"]["history"] == "procedural"
    assert saved["seeds"]["validation"] == [VALIDATION_FIRST_SEED, VALIDATION_FIRST_SEED + 5]
    assert saved["seeds"]["test_procedural_first"] == TEST_FIRST_SEED > VALIDATION_FIRST_SEED + 5
    assert curve["timesteps"][0] == 0 and curve["timesteps"][-1] == 2048  # untrained policy and the end
    assert curve["best_mean"] == max(curve["means"]) == result.best_validation_score
    assert saved["validation"]["best_timestep"] == curve["timesteps"][int(np.argmax(curve["means"]))]
    assert "evaluation" not in saved  # no test evaluation unless asked


def test_the_selected_model_reproduces_its_validation_scores_as_a_leaderboard_agent(tiny_run) -> None:
    from agents import make_agent

    out, result = tiny_run
    curve = result.validation
    best = curve["scores"][curve["timesteps"].index(curve["best_timestep"])]
    env = gym.make("PG-Predict-v0", timesteps_ahead=1, history="procedural")  # plain -v0 observation
    agent = make_agent(f"sb3:{out / 'model.zip'}", env)
    assert agent.obs_history == 3
    scores = [run_episode(env, agent, seed).normalized_score for seed in range(10_000, 10_006)]
    assert scores == pytest.approx(best, abs=1e-5)


def test_trained_agent_loads_the_shipped_model_of_the_challenge_and_runs_in_the_benchmark(
    tiny_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from agents import make_agent, shipped
    from progressgym_env.benchmark import BenchmarkConfig, load_results, run_benchmark

    out, _ = tiny_run
    (tmp_path / "trained" / "predict1").mkdir(parents=True)
    for name in ("model.zip", "config.json"):
        shutil.copy(out / name, tmp_path / "trained" / "predict1" / name)
    monkeypatch.setattr(shipped, "trained_dir", lambda: tmp_path / "trained")
    env = gym.make("PG-Predict-v0", timesteps_ahead=1)
    agent = make_agent("trained", env)
    assert agent.name == "trained" and agent.algo == "ppo" and agent.obs_history == 3
    with pytest.raises(ConfigError, match="no shipped trained agent for challenge 'follow'.*shipped: predict1"):
        make_agent("trained", gym.make("PG-Follow-v0"))
    config = BenchmarkConfig(agents=["static", "trained"], challenges=["predict1"], seeds=2, first_seed=1000,
                             out=str(tmp_path / "bench"), wandb=False, progress=False, plots=False)
    run_benchmark(config)
    runs = [r for r in load_results(tmp_path / "bench" / "results.json") if r["agent"] == "trained"]
    assert sorted(r["seed"] for r in runs) == [1000, 1001]
    expected = {seed: run_episode(env, make_agent("trained", env), seed).final_score for seed in (1000, 1001)}
    assert {r["seed"]: r["final_score"] for r in runs} == pytest.approx(expected)


def test_train_refuses_the_corpus_as_training_history() -> None:
    from agents.train import TrainConfig

    with pytest.raises(ConfigError, match="would train on the test set"):
        TrainConfig(train_history="corpus")
    with pytest.raises(ConfigError, match="validation_episodes must be >= 1"):
        TrainConfig(validation_episodes=0)


def test_an_ensemble_of_one_model_twice_acts_as_the_model(tiny_run) -> None:
    from agents import make_agent
    from agents.sb3_agent import EnsembleAgent

    out, _ = tiny_run
    env = gym.make("PG-Predict-v0", timesteps_ahead=1, history="procedural")
    single = make_agent(f"sb3:{out / 'model.zip'}", env)
    pair = EnsembleAgent(single.spec, [out / "model.zip", out / "model.zip"], "ppo", obs_history=3)
    assert run_episode(env, pair, seed=5).final_score == pytest.approx(run_episode(env, single, seed=5).final_score)
    with pytest.raises(ConfigError, match="recurrent"):
        EnsembleAgent(single.spec, [out / "model.zip"], "recurrentppo")


def test_an_unshipped_challenge_names_the_command_that_trains_one() -> None:
    from agents.shipped import trained_model_path

    with pytest.raises(ConfigError) as caught:
        trained_model_path("predict7")
    message = str(caught.value)
    assert "progressgym train --algo ppo --env predict7" in message
    assert "ppo:runs/train/predict7/model.zip" in message and "agents/train.py" not in message
