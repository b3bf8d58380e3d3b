"""Residual actions on the lifelong baseline (agents.wrappers.LifelongResidualAction and its batched twin).

The zero residual must *be* the lifelong agent (same actions, same episode), the single env and the
native vector env must transform alike, and a saved model must act through the transform it was
trained with (read from its config.json).
"""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import progressgym_env  # noqa: F401
from agents import make_agent
from agents.base import spec_from_env, update_toward
from agents.vec_env import NativeVecEnv
from agents.wrappers import LifelongResidualAction, check_residual_scale, lifelong_residual_actions
from agents.zoo import load_hyperparams
from progressgym_env.episode import run_episode
from progressgym_env.errors import ConfigError
from progressgym_env.numerics import logit


def test_the_transform_by_hand() -> None:
    # d = 2, capacity 2: estimate (0.5, 0.8), model (0.5, 0.5); residual (0.5, -1) at scale 1 logit.
    obs = np.array([0.5, 0.8, 0.5, 0.5, 0.25])
    action = lifelong_residual_actions(np.array([0.5, -1.0]), obs, 2, 2.0, 1.0)
    expected = [(0.0 + 0.5) / 2.0, (logit(np.array(0.8)) - 1.0) / 2.0]
    np.testing.assert_allclose(action, expected, rtol=1e-6)
    # Beyond the capacity the update is clipped to full strength.
    assert lifelong_residual_actions(np.array([1.0, 1.0]), obs, 2, 0.1, 1.0).tolist() == [1.0, 1.0]


def test_a_zero_residual_is_the_lifelong_update() -> None:
    env = gym.make("PG-Follow-v0", history="procedural")
    spec = spec_from_env(env)
    obs, _ = env.reset(seed=3)
    d = spec.dim
    np.testing.assert_array_equal(
        lifelong_residual_actions(np.zeros(d), obs, d, spec.capacity, 1.0),
        update_toward(obs[:d], obs[d : 2 * d], spec.capacity),
    )


@pytest.mark.parametrize("env_id", ["PG-Follow-v0", "PG-Predict-v0"])
def test_the_wrapped_env_with_zero_actions_replays_the_lifelong_episode(env_id: str) -> None:
    plain = gym.make(env_id, history="procedural")
    lifelong = run_episode(plain, make_agent("lifelong", plain), 11)
    wrapped = LifelongResidualAction(gym.make(env_id, history="procedural"), scale=0.5)
    wrapped.reset(seed=11)
    done, info = False, {}
    while not done:
        _, _, terminated, truncated, info = wrapped.step(np.zeros(wrapped.action_space.shape, dtype=np.float32))
        done = terminated or truncated
    assert float(info["normalized_score"]) == pytest.approx(lifelong.normalized_score, abs=1e-12)


def test_the_native_vector_env_transforms_as_the_wrapper_does() -> None:
    seeds = [5, 6, 7]
    rng = np.random.default_rng(0)
    residuals = rng.uniform(-1, 1, size=(8, len(seeds), 5)).astype(np.float32)
    vec = NativeVecEnv("PG-Follow-v0", len(seeds), {"history": "procedural", "rng_mode": "exact"}, residual_scale=0.7)
    vec.seed(seeds[0])  # sub-env i gets seed 5 + i, as Gymnasium seeds a vector env
    vec_obs = [vec.reset()]
    for step in range(7):
        obs, _, _, _ = vec.step(residuals[step])
        vec_obs.append(obs)
    for i, seed in enumerate(seeds):
        single = LifelongResidualAction(gym.make("PG-Follow-v0", history="procedural"), scale=0.7)
        obs, _ = single.reset(seed=seed)
        np.testing.assert_allclose(obs, vec_obs[0][i], rtol=0, atol=1e-6)
        for step in range(7):
            obs, *_ = single.step(residuals[step, i])
            np.testing.assert_allclose(obs, vec_obs[step + 1][i], rtol=0, atol=1e-6)


def test_step_before_reset_and_bad_scales_are_refused() -> None:
    wrapped = LifelongResidualAction(gym.make("PG-Follow-v0"))
    with pytest.raises(gym.error.ResetNeeded):
        wrapped.step(np.zeros(5, dtype=np.float32))
    for bad in (0.0, -1.0, float("nan"), True, "1"):
        with pytest.raises(ConfigError, match="residual scale"):
            check_residual_scale(bad)  # type: ignore[arg-type]


def test_the_zoo_entry_reads_a_wrapper_list(tmp_path: Path) -> None:
    custom = tmp_path / "ppo.yml"
    custom.write_text(
        "PG-Follow-v0:\n  n_timesteps: 100\n  env_wrapper:\n"
        "    - agents.wrappers.NormalizedScoreReward\n"
        "    - agents.wrappers.LifelongResidualAction: {scale: 0.5}\n"
    )
    hp = load_hyperparams("ppo", "PG-Follow-v0", custom)
    assert (hp.reward, hp.residual_scale) == ("normalized_score", 0.5) and "env_wrapper" not in hp.algo_kwargs
    custom.write_text("PG-Follow-v0:\n  n_timesteps: 100\n  env_wrapper:\n"
                      "    agents.wrappers.LifelongResidualAction: {clip: 0.5}\n")
    with pytest.raises(ConfigError, match=r"takes only \['scale'\]"):
        load_hyperparams("ppo", "PG-Follow-v0", custom)
    shipped = load_hyperparams("ppo", "PG-Predict-v0", Path("agents/hyperparams/ppo_residual.yml"))
    assert shipped.residual_scale == 1.0 and shipped.env_kwargs["history"] == "procedural"


@pytest.fixture(scope="module")
def residual_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agents.train import TrainConfig, train

    out = tmp_path_factory.mktemp("residual")
    config = TrainConfig(algo="ppo", env="follow", total_timesteps=2048, seed=0, validation_episodes=4,
                         hyperparams="agents/hyperparams/ppo_residual.yml", out=str(out), eval_freq=1024)
    return train(config).model_path


def test_a_saved_residual_model_acts_through_its_transform(residual_model: Path) -> None:
    config = json.loads(residual_model.with_name("config.json").read_text())
    assert config["hyperparams"]["residual_scale"] == 1.0
    env = gym.make("PG-Follow-v0", history="procedural")
    agent = make_agent(f"ppo:{residual_model}", env)
    assert agent.config()["residual_scale"] == 1.0
    obs, _ = env.reset(seed=2)
    agent.reset()
    stacked = np.concatenate([obs, obs[:5], obs[:5], obs[:5]]).astype(np.float32)
    residual, _ = agent.model.predict(stacked, deterministic=True)  # type: ignore[attr-defined]
    expected = lifelong_residual_actions(residual, obs, 5, spec_from_env(env).capacity, 1.0)
    np.testing.assert_allclose(agent.act(obs), expected, rtol=0, atol=1e-7)
    # Read as an absolute policy, the same model gives other actions: the transform matters.
    absolute = make_agent(f"ppo:{residual_model}", env)
    absolute.residual_scale = None  # type: ignore[attr-defined]
    absolute.reset()
    assert not np.allclose(absolute.act(obs), expected, atol=1e-3)


def test_the_residual_model_reproduces_its_validation_scores_as_a_leaderboard_agent(residual_model: Path) -> None:
    curve = json.loads(residual_model.with_name("evaluations.json").read_text())
    best = curve["scores"][curve["timesteps"].index(curve["best_timestep"])]
    env = gym.make("PG-Follow-v0", history="procedural")  # the plain -v0 observation; the agent stacks and transforms
    agent = make_agent(f"ppo:{residual_model}", env)
    scores = [run_episode(env, agent, seed).normalized_score for seed in range(10_000, 10_004)]
    assert scores == pytest.approx(best, abs=1e-5)
