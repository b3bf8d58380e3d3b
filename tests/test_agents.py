"""Baseline agents: interface, registry, ordering properties that hold by construction."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import progressgym_env  # noqa: F401
from agents import BASELINES, ExtrapolativeAgent, make_agent
from agents.base import AgentSpec, spec_from_env, update_toward
from agents.baselines import extrapolate
from progressgym_env.benchmark.challenges import CHALLENGES
from progressgym_env.episode import run_episode
from progressgym_env.errors import ConfigError
from progressgym_env.history import History
from progressgym_env.judges import make_judge
from progressgym_env.value_spaces import CORPUS5

SEEDS = (0, 1, 2)


def _scores(env_id: str, kwargs: dict, agent_name: str, seeds=SEEDS) -> list[float]:
    env = gym.make(env_id, **kwargs)
    agent = make_agent(agent_name, env)
    scores = [run_episode(env, agent, seed).final_score for seed in seeds]
    env.close()
    return scores


@pytest.mark.parametrize("key", ["follow", "predict1", "predict2"])
def test_oracle_scores_at_least_every_other_agent(key: str) -> None:
    challenge = CHALLENGES[key]
    oracle = _scores(challenge.env_id, dict(challenge.kwargs), "oracle")
    for name in BASELINES:
        if name == "oracle":
            continue
        other = _scores(challenge.env_id, dict(challenge.kwargs), name)
        for seed, (o, s) in enumerate(zip(oracle, other, strict=True)):
            assert o >= s, f"{key} seed {seed}: oracle {o} < {name} {s}"


def test_oracle_lands_on_the_target_up_to_finetune_noise() -> None:
    env = gym.make("PG-Predict-v0", timesteps_ahead=2, backend_config={"finetune_noise_sd": 0.0})
    result = run_episode(env, make_agent("oracle", env), seed=0)
    assert result.final_score == pytest.approx(1.0, abs=1e-9)


def test_static_on_follow_equals_the_lock_in_formula_exactly() -> None:
    env = gym.make("PG-Follow-v0")
    judge = make_judge("follow", env.unwrapped.history_source.sample(np.random.default_rng(0)).values)
    for seed in SEEDS:
        result = run_episode(env, make_agent("static", env), seed)
        assert result.final_score == judge.reference_scores()[0]
        assert result.normalized_score == 0.0


def test_oracle_beats_lock_in_and_lifelong_on_coevolve() -> None:
    oracle = np.mean(_scores("PG-Coevolve-v0", {}, "oracle"))
    assert oracle > np.mean(_scores("PG-Coevolve-v0", {}, "static"))
    assert oracle > np.mean(_scores("PG-Coevolve-v0", {}, "lifelong"))


@pytest.mark.parametrize("key", list(CHALLENGES))
@pytest.mark.parametrize("name", BASELINES)
def test_every_baseline_completes_every_challenge(key: str, name: str) -> None:
    challenge = CHALLENGES[key]
    env = gym.make(challenge.env_id, **challenge.kwargs)
    result = run_episode(env, make_agent(name, env), seed=3)
    assert len(result.rewards) == env.unwrapped.episode_length
    assert np.isfinite(result.final_score)


def test_extrapolate_is_exact_on_polynomials_and_flat_on_flat_histories() -> None:
    t = np.arange(5, dtype=float)[:, None]
    linear = 0.1 + 0.05 * t
    quadratic = 0.1 + 0.01 * t + 0.02 * t**2
    assert extrapolate(linear, order=1, steps_ahead=2) == pytest.approx(0.1 + 0.05 * 6)
    assert extrapolate(quadratic, order=2, steps_ahead=1) == pytest.approx(0.1 + 0.01 * 5 + 0.02 * 25)
    flat = np.full((4, 3), 0.3)
    assert np.array_equal(extrapolate(flat, order=2, steps_ahead=3), flat[0])
    zeros = np.zeros((3, 2))
    assert np.array_equal(extrapolate(zeros, order=2, steps_ahead=2), zeros[0])
    # the order grows with the history: one point is all there is at first
    assert np.array_equal(extrapolate(linear[:1], order=2, steps_ahead=1), linear[0])
    # zero steps ahead is the last observation whatever the order
    assert np.array_equal(extrapolate(quadratic, order=2, steps_ahead=0), quadratic[-1])


@pytest.mark.parametrize("level", [0.0, 0.4, 1.0])
@pytest.mark.parametrize("name", ["extrapolative-1", "extrapolative-2", "lifelong"])
def test_extrapolative_survives_flat_and_zero_histories(name: str, level: float) -> None:
    flat = History(np.full((9, 5), level), CORPUS5, provenance={"source": "flat test history"})
    for challenge in ("PG-Follow-v0", "PG-Predict-v0", "PG-Coevolve-v0"):
        env = gym.make(challenge, history=flat, query_budget=None)
        result = run_episode(env, make_agent(name, env), seed=0)
        assert np.all(np.isfinite(result.rewards))
        if level == 0.4:  # the model already holds the (flat) target: every action is zero, no noise
            assert result.final_score == pytest.approx(1.0, abs=1e-12)


def test_extrapolative_targets_the_horizon_of_predict() -> None:
    env = gym.make("PG-Predict-v0", timesteps_ahead=2)
    agent = make_agent("extrapolative-2", env)
    assert isinstance(agent, ExtrapolativeAgent)
    assert agent.spec.timesteps_ahead == 2 and agent.order == 2
    assert spec_from_env(gym.make("PG-Follow-v0")).timesteps_ahead == 0
    assert spec_from_env(gym.make("PG-Coevolve-v0")).timesteps_ahead == 1


def test_update_toward_clips_to_capacity() -> None:
    action = update_toward(np.array([0.9, 0.5, 0.1]), np.array([0.1, 0.5, 0.1]), capacity=2.0)
    assert action.dtype == np.float32
    assert action.tolist() == [1.0, 0.0, 0.0]


def test_capacity_is_read_from_the_backend_config() -> None:
    env = gym.make("PG-Follow-v0", backend_config={"capacity": 3.5})
    assert make_agent("lifelong", env).spec.capacity == 3.5


def test_random_agent_is_seeded_and_in_bounds() -> None:
    spec = AgentSpec(dim=5)
    env = gym.make("PG-Follow-v0")
    a, b = make_agent("random", env), make_agent("random", env)
    a.reset(seed=7)
    b.reset(seed=7)
    obs = np.zeros(11, dtype=np.float32)
    first, second = a.act(obs), b.act(obs)
    assert np.array_equal(first, second)
    assert first.shape == (spec.dim,) and np.all(np.abs(first) <= 1.0)


def test_registry_errors_name_what_is_known() -> None:
    env = gym.make("PG-Follow-v0")
    with pytest.raises(ConfigError, match="known agents: static, lifelong"):
        make_agent("telepathic", env)
    with pytest.raises(ConfigError, match="<algo>:<path"):
        make_agent("dqn:model.zip", env)
    with pytest.raises(ConfigError, match="does not exist"):
        make_agent("ppo:/nonexistent/model.zip", env)


def test_agents_reject_observations_of_the_wrong_shape() -> None:
    env = gym.make("PG-Follow-v0")
    agent = make_agent("lifelong", env)
    with pytest.raises(ConfigError, match=r"expected an observation of shape \(11,\)"):
        agent.act(np.zeros(7))
