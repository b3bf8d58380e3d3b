"""Extrapolative horizons, the history stacker of SB3 agents, the SB3 vector-env adapter, --first-seed."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import progressgym_env  # noqa: F401
from agents import ExtrapolativeAgent, make_agent
from agents.base import update_toward
from progressgym_env.episode import run_episode
from progressgym_env.errors import ConfigError


@pytest.mark.parametrize(("env_id", "kwargs", "horizon"), [
    ("PG-Follow-v0", {}, 1), ("PG-Coevolve-v0", {}, 1),
    ("PG-Predict-v0", {"timesteps_ahead": 1}, 1), ("PG-Predict-v0", {"timesteps_ahead": 2}, 2),
])
def test_extrapolative_default_horizon_and_label(env_id: str, kwargs: dict, horizon: int) -> None:
    env = gym.make(env_id, **kwargs)
    agent = make_agent("extrapolative-2", env)
    assert isinstance(agent, ExtrapolativeAgent) and agent.horizon == horizon
    assert agent.name == f"extrapolative-2-h{horizon}" and agent.config()["horizon"] == horizon


def test_extrapolative_aims_one_step_past_the_linear_trend_on_follow() -> None:
    env = gym.make("PG-Follow-v0")
    agent = make_agent("extrapolative-1", env)
    model = np.full(5, 0.4)
    first = np.concatenate([np.full(5, 0.40), model, [1 / 8]]).astype(np.float32)
    second = np.concatenate([np.full(5, 0.45), model, [2 / 8]]).astype(np.float32)
    agent.reset()
    assert np.array_equal(agent.act(first), update_toward(first[:5], first[5:10], 2.0))  # one point: no trend yet
    # h = 1: 0.45 + (0.45 - 0.40) = 0.50 (float32 observations, so compare approximately)
    assert agent.act(second) == pytest.approx(update_toward(np.full(5, 0.50), second[5:10], 2.0), abs=1e-5)


def test_extrapolative_differs_from_lifelong_on_every_challenge_and_h0_is_lifelong() -> None:
    for env_id, kwargs in (("PG-Follow-v0", {}), ("PG-Predict-v0", {"timesteps_ahead": 1}), ("PG-Coevolve-v0", {})):
        env = gym.make(env_id, **kwargs)
        lifelong = run_episode(env, make_agent("lifelong", env), seed=4).final_score
        assert run_episode(env, make_agent("extrapolative-1", env), seed=4).final_score != lifelong
        assert run_episode(env, make_agent("extrapolative-1-h0", env), seed=4).final_score == lifelong


def test_extrapolative_horizon_errors() -> None:
    env = gym.make("PG-Follow-v0")
    with pytest.raises(ConfigError, match="horizon must be an int >= 0"):
        ExtrapolativeAgent(make_agent("lifelong", env).spec, order=1, horizon=-1)


def test_history_stacker_rebuilds_the_obs_history_observation_of_the_env() -> None:
    from agents.sb3_agent import HistoryStacker

    plain = gym.make("PG-Predict-v0", timesteps_ahead=1, history="procedural")
    stacked = gym.make("PG-Predict-v0", timesteps_ahead=1, history="procedural", obs_history=4)
    stacker = HistoryStacker(5, 4)
    rng = np.random.default_rng(0)
    obs, _ = plain.reset(seed=11)
    expected, _ = stacked.reset(seed=11)
    for _ in range(plain.unwrapped.episode_length):
        assert np.array_equal(stacker(obs), expected)
        action = rng.uniform(-1, 1, 5).astype(np.float32)
        obs, _, done, _, _ = plain.step(action)
        expected, _, _, _, _ = stacked.step(action)
        if done:
            break


def test_native_vec_env_follows_sb3_conventions() -> None:
    pytest.importorskip("stable_baselines3")
    from agents.vec_env import NativeVecEnv

    env = NativeVecEnv("PG-Follow-v0", 3, {"history": "procedural", "obs_history": 2}, seed=0)
    obs = env.reset()
    assert obs.shape == (3, 16) and env.observation_space.shape == (16,)
    total = np.zeros(3)
    for step in range(8):
        env.step_async(np.zeros((3, 5), dtype=np.float32))  # static: normalized score 0
        obs, rewards, dones, infos = env.step_wait()
        total += rewards
        assert dones.all() == (step == 7)
    assert all(info["episode"]["l"] == 8 for info in infos)
    assert [info["episode"]["r"] for info in infos] == pytest.approx(total.tolist())
    assert all(info["normalized_score"] == 0.0 and info["terminal_observation"][-6] == 1.0 for info in infos)
    assert np.all(obs[:, 10] == pytest.approx(1 / 8))  # already reset: the next episode's first observation
    scored = NativeVecEnv("PG-Follow-v0", 2, {"history": "procedural"}, seed=0, reward="normalized_score")
    scored.reset()
    for _ in range(8):
        scored.step_async(np.full((2, 5), 0.1, dtype=np.float32))
        _, rewards, dones, infos = scored.step_wait()
    assert rewards.tolist() == pytest.approx([info["normalized_score"] for info in infos])
    with pytest.raises(ConfigError, match="unknown training reward"):
        NativeVecEnv("PG-Follow-v0", 2, reward="cosine-sum")


def test_benchmark_first_seed_runs_the_seeds_from_there(tmp_path) -> None:
    from progressgym_env.benchmark import BenchmarkConfig, load_results, run_benchmark
    from progressgym_env.cli import main

    run_benchmark(BenchmarkConfig(agents=["lifelong"], challenges=["follow"], seeds=2, first_seed=1000,
                                  out=str(tmp_path / "a"), wandb=False, progress=False, plots=False))
    runs = load_results(tmp_path / "a" / "results.json")
    env = gym.make("PG-Follow-v0")
    assert {r["seed"]: r["final_score"] for r in runs} == {
        s: run_episode(env, make_agent("lifelong", env), s).final_score for s in (1000, 1001)}
    with pytest.raises(ConfigError, match="first_seed must be an int >= 0"):
        BenchmarkConfig(first_seed=-1)
    code = main(["benchmark", "--agents", "static", "--challenges", "follow", "--seeds", "1", "--first-seed", "7",
                 "--out", str(tmp_path / "b"), "--no-wandb", "--no-plots", "--no-progress"])
    assert code == 0 and [r["seed"] for r in load_results(tmp_path / "b" / "results.json")] == [7]


@pytest.mark.parametrize("key", ["follow", "predict1", "predict2", "coevolve"])
def test_the_shipped_trained_agent_reproduces_its_recorded_test_score(key: str) -> None:
    pytest.importorskip("stable_baselines3")
    import json
    from pathlib import Path

    from progressgym_env.benchmark.challenges import CHALLENGES

    recorded = json.loads((Path(__file__).parents[1] / "benchmarks/results/rl/shipped.json").read_text())[key]
    challenge = CHALLENGES[key]
    env = gym.make(challenge.env_id, **challenge.kwargs)  # the corpus history, plain -v0 observation
    agent = make_agent("trained", env)
    assert agent.name == "trained"
    assert run_episode(env, agent, seed=1000).normalized_score == pytest.approx(recorded["test"]["corpus"][0], abs=1e-5)
    for path in Path(agent.config().get("path") or agent.config()["paths"][0]).parent.glob("*.zip"):
        assert path.stat().st_size < 1_000_000
