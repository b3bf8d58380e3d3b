"""SB3 training: zoo hyperparameters, a CI-sized PPO run, the trained model on the leaderboard."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import gymnasium as gym
import pytest

import progressgym_env  # noqa: F401
from agents import SB3Agent, make_agent
from agents.train import TrainConfig, train
from agents.zoo import load_hyperparams
from progressgym_env.benchmark import BenchmarkConfig, load_results, run_benchmark
from progressgym_env.cli import main
from progressgym_env.episode import run_episode
from progressgym_env.errors import ConfigError


@pytest.fixture(scope="module")
def ppo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("ppo")
    config = TrainConfig(algo="ppo", env="predict1", total_timesteps=2048, seed=0, eval_episodes=2, out=str(out),
                         track=True)
    return out, train(config)


def test_ppo_trains_saves_and_tests_on_the_corpus_only_when_asked(ppo_run) -> None:
    out, result = ppo_run
    assert (out / "model.zip").is_file() and (out / "last_model.zip").is_file()
    saved = json.loads((out / "config.json").read_text())
    assert saved["algo"] == "ppo" and saved["env_id"] == "PG-Predict-v0"
    assert saved["train_env_kwargs"]["history"] == "procedural"
    assert saved["train_env_kwargs"]["timesteps_ahead"] == 1 and saved["train_env_kwargs"]["obs_history"] == 4
    assert saved["validation_env_kwargs"] == {"timesteps_ahead": 1, "obs_history": 4, "history": "procedural"}
    assert saved["hyperparams"]["algo_kwargs"]["n_steps"] == 16  # from agents/hyperparams/ppo.yml
    assert saved["evaluation"]["history"] == "corpus" and saved["evaluation"]["eval_episodes"] == 2
    assert len(result.eval_final_scores) == 2
    assert all(0.0 < s <= 1.0 for s in result.eval_final_scores)


def test_tracked_training_writes_an_offline_wandb_run(ppo_run) -> None:
    out, _ = ppo_run
    assert len(list((out / "wandb").glob("offline-run-*"))) == 1


def test_saved_model_is_an_agent_and_enters_the_benchmark_by_path(ppo_run, tmp_path: Path) -> None:
    out, result = ppo_run
    env = gym.make("PG-Predict-v0", timesteps_ahead=1)
    agent = make_agent(f"sb3:{out / 'model.zip'}", env)  # algo read from config.json
    assert isinstance(agent, SB3Agent) and agent.algo == "ppo"
    assert run_episode(env, agent, seed=0).final_score == result.eval_final_scores[0]
    config = BenchmarkConfig(agents=["static", f"ppo:{out / 'model.zip'}"], challenges=["predict1"], seeds=2,
                             out=str(tmp_path), wandb=False, progress=False)
    run_benchmark(config)
    runs = [r for r in load_results(tmp_path / "results.json") if r["agent"] == "ppo"]
    assert [r["final_score"] for r in runs] == result.eval_final_scores
    assert "| ppo |" in (tmp_path / "leaderboard.md").read_text()


def test_challenge_placeholder_picks_one_model_per_challenge(ppo_run, tmp_path: Path) -> None:
    out, result = ppo_run
    models = tmp_path / "models"
    (models / "predict1").mkdir(parents=True)
    shutil.copy(out / "model.zip", models / "predict1" / "model.zip")
    config = BenchmarkConfig(agents=[f"mine=ppo:{models}/{{challenge}}/model.zip"], challenges=["predict1"], seeds=1,
                             out=str(tmp_path / "bench"), wandb=False, progress=False)
    run_benchmark(config)
    (run,) = load_results(tmp_path / "bench" / "results.json")
    assert run["agent"] == "mine" and run["agent_config"]["path"] == str(models / "predict1" / "model.zip")
    assert run["final_score"] == result.eval_final_scores[0]


def test_model_of_another_value_space_is_refused(ppo_run) -> None:
    out, _ = ppo_run
    env = gym.make("PG-Follow-v0", history="procedural-moral19")
    with pytest.raises(ConfigError, match=r"trained on observations \(26,\).*obs_history=4 gives observations \(96,\)"):
        make_agent(f"ppo:{out / 'model.zip'}", env)


def test_train_command_runs_a2c(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--algo", "a2c", "--env", "PG-Follow-v0", "--timesteps", "256", "--eval-episodes", "1",
                 "--validation-episodes", "3", "--no-progress-bar", "--out", str(tmp_path)])
    assert code == 0
    assert "corpus history, 1 episodes" in capsys.readouterr().out
    assert (tmp_path / "model.zip").is_file()


@pytest.mark.parametrize("algo", ["ppo", "sac", "td3", "a2c", "recurrentppo"])
def test_every_algorithm_has_hyperparameters_for_every_env(algo: str) -> None:
    for env_id in progressgym_env.ENV_IDS:
        hp = load_hyperparams(algo, env_id)
        policy = "MlpLstmPolicy" if algo == "recurrentppo" else "MlpPolicy"
        assert hp.n_timesteps > 0 and hp.algo_kwargs["policy"] == policy
        assert hp.env_kwargs["history"] == "procedural"  # what rl-zoo3 trains on, too
        assert hp.env_kwargs["obs_history"] == (1 if algo == "recurrentppo" else 4)
    assert load_hyperparams("td3", "PG-Follow-v0").noise_type == "normal"
    assert load_hyperparams("ppo", "PG-Follow-v0").normalize == {"norm_obs": False, "norm_reward": True}
    assert load_hyperparams("ppo", "PG-Coevolve-v0").normalize is None


def test_zoo_keys_for_normalisation_and_the_score_reward_are_checked(tmp_path: Path) -> None:
    custom = tmp_path / "custom.yml"
    custom.write_text("PG-Follow-v0:\n  n_timesteps: 100\n  normalize: {norm_obs: true}\n")
    with pytest.raises(ConfigError, match="must set norm_obs: false"):
        load_hyperparams("ppo", "PG-Follow-v0", custom)
    custom.write_text("PG-Follow-v0:\n  n_timesteps: 100\n  env_wrapper: gymnasium.wrappers.ClipAction\n")
    with pytest.raises(ConfigError, match="env_wrapper of 'PG-Follow-v0' must be one of"):
        load_hyperparams("ppo", "PG-Follow-v0", custom)
    custom.write_text("PG-Follow-v0:\n  n_timesteps: 100\n  env_wrapper:\n"
                      "    agents.wrappers.NormalizedScoreReward: {clip: 3.0}\n")
    hp = load_hyperparams("ppo", "PG-Follow-v0", custom)
    assert (hp.reward, hp.reward_clip) == ("normalized_score", 3.0) and "env_wrapper" not in hp.algo_kwargs


def test_hyperparameter_errors_name_the_file_and_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="has no entry for 'PG-Nope-v0'; it covers: PG-Follow-v0"):
        load_hyperparams("ppo", "PG-Nope-v0")
    custom = tmp_path / "custom.yml"
    custom.write_text("PG-Follow-v0:\n  n_timesteps: 1e3\n  policy_kwargs:\n    activation_fn: Tanh\n")
    hp = load_hyperparams("ppo", "PG-Follow-v0", custom)
    assert hp.n_timesteps == 1000 and hp.algo_kwargs["policy_kwargs"]["activation_fn"].__name__ == "Tanh"
    custom.write_text("PG-Follow-v0:\n  policy: MlpPolicy\n")
    with pytest.raises(ConfigError, match="needs 'n_timesteps'"):
        load_hyperparams("ppo", "PG-Follow-v0", custom)


def test_train_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown algo 'dqn'"):
        TrainConfig(algo="dqn")
    with pytest.raises(ConfigError, match="neither a challenge key"):
        TrainConfig(env="CartPole-v1").env_spec()
    assert TrainConfig(env="predict2").env_spec() == ("PG-Predict-v0", {"timesteps_ahead": 2})


def test_yaml_files_share_one_reader_with_clear_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from agents.tuning import load_search_space
    from agents.zoo import read_yaml_mapping

    missing = tmp_path / "missing.yml"
    for load in (lambda: load_hyperparams("ppo", "PG-Follow-v0", missing), lambda: load_search_space(missing)):
        with pytest.raises(ConfigError, match="missing.yml' does not exist"):
            load()
    broken = tmp_path / "broken.yml"
    broken.write_text("a: [1, 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_search_space(broken)
    listed = tmp_path / "list.yml"
    listed.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a non-empty mapping of env ids to hyperparameters, found list"):
        read_yaml_mapping(listed, "env ids to hyperparameters")


# ------------------------------------------------------------------ run folder: lock, resume, config.json


def _a2c(out: Path, timesteps: int, **kwargs: object) -> TrainConfig:
    return TrainConfig(algo="a2c", env="follow", total_timesteps=timesteps, validation_episodes=2, eval_freq=512,
                       out=str(out),
                       **kwargs)  # type: ignore[arg-type]


def test_the_step_count_is_what_was_trained_and_what_the_bar_counts(tmp_path: Path, monkeypatch) -> None:
    from stable_baselines3 import A2C

    from agents.train import steps_to_train

    assert steps_to_train(20_000, 0, 2048) == 20_480  # PPO's default rollout: the bar's total and the summary
    assert steps_to_train(20_000, 4096, 2048) == 16_384 and steps_to_train(100, 512, 512) == 0
    asked: list[int] = []
    real_learn = A2C.learn

    def recording_learn(self, total_timesteps: int, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(total_timesteps)  # what SB3's progress bar takes as its total
        return real_learn(self, total_timesteps=total_timesteps, **kwargs)

    monkeypatch.setattr(A2C, "learn", recording_learn)
    result = train(_a2c(tmp_path, 600))  # a2c.yml: 64 envs × 8 steps = rollouts of 512
    trained = A2C.load(str(tmp_path / "last_model.zip")).num_timesteps
    assert asked == [1024] and trained == 1024 and result.total_timesteps == 1024
    assert result.summary()["total_timesteps"] == 1024
    assert json.loads((tmp_path / "config.json").read_text())["timesteps_done"] == 1024


def test_config_json_is_written_at_the_start_and_kept_on_ctrl_c(tmp_path: Path, monkeypatch) -> None:
    from stable_baselines3 import A2C

    seen: list[dict] = []
    real_learn = A2C.learn

    def learn_then_interrupt(self, total_timesteps: int, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(json.loads((tmp_path / "config.json").read_text()))
        real_learn(self, total_timesteps=512, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(A2C, "learn", learn_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(_a2c(tmp_path, 2048))
    assert seen[0]["status"] == "running" and seen[0]["timesteps_done"] == 0 and seen[0]["algo"] == "a2c"
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["status"] == "interrupted" and saved["timesteps_done"] == 512
    assert saved["train_env_kwargs"]["obs_history"] == 4 and saved["validation"]["timesteps"][0] == 0
    agent = make_agent(f"sb3:{tmp_path / 'model.zip'}", gym.make("PG-Follow-v0"))  # algo and obs from config.json
    assert isinstance(agent, SB3Agent) and agent.algo == "a2c" and agent.obs_history == 4


def test_a_rerun_refuses_without_resume_and_continues_with_it(tmp_path: Path) -> None:
    from stable_baselines3 import A2C

    first = train(_a2c(tmp_path, 512))
    before = (tmp_path / "last_model.zip").read_bytes()
    with pytest.raises(ConfigError, match=r"already holds a trained model \(stopped at step 512\).*--resume"):
        train(_a2c(tmp_path, 1024))
    assert (tmp_path / "last_model.zip").read_bytes() == before  # nothing overwritten
    with pytest.raises(ConfigError, match="trained with algo='a2c', not 'ppo'"):
        train(TrainConfig(algo="ppo", env="follow", total_timesteps=1024, out=str(tmp_path), resume=True))
    resumed = train(_a2c(tmp_path, 1024, resume=True))
    assert A2C.load(str(tmp_path / "last_model.zip")).num_timesteps == 1024 == resumed.total_timesteps
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["status"] == "finished" and saved["resumed"][0]["step"] == 512
    assert first.validation["timesteps"] == [0, 512]
    assert resumed.validation["timesteps"] == [0, 512, 1024]  # the curve goes on
    assert resumed.validation["best_mean"] >= first.validation["best_mean"]


def test_a_second_training_into_a_locked_folder_is_refused(tmp_path: Path, capsys) -> None:
    import filelock

    from progressgym_env.errors import FolderInUseError

    with filelock.FileLock(str(tmp_path / ".lock")):
        with pytest.raises(FolderInUseError, match=r"another training is writing into .*\.lock is held"):
            train(_a2c(tmp_path, 512))
        code = main(["train", "--algo", "a2c", "--env", "follow", "--timesteps", "512", "--no-progress-bar",
                     "--out", str(tmp_path)])
    assert code == 1 and "another training is writing into" in capsys.readouterr().err
    assert not (tmp_path / "config.json").exists() and not (tmp_path / "last_model.zip").exists()


def test_tracked_training_says_where_the_wandb_run_went(ppo_run) -> None:
    from progressgym_env.cli.train import summary_line

    out, result = ppo_run
    (folder,) = (out / "wandb").glob("offline-run-*")
    assert result.wandb_run == str(folder)
    assert f"wandb run: {folder}" in summary_line(TrainConfig(algo="ppo", env="predict1"), result.summary())
