"""PG-Society: the M = G = 1 reduction to PG-Coevolve, PettingZoo's API tests, the dynamics on hand cases,
bad input, the judge's re-scoring and the benchmark's Gymnasium form played by one agent per AI."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

import progressgym_env
from progressgym_env import society
from progressgym_env.errors import ConfigError, EpisodeOrderError, InvalidActionError, UnknownKwargError
from progressgym_env.judges import coevolve_scores, score_record
from progressgym_env.numerics import logit
from progressgym_env.records import EpisodeRecord
from progressgym_env.society import dynamics
from progressgym_env.society.batch import SocietyBatch
from progressgym_env.society.judge import SocietyJudge, society_diagnostics

pytest.importorskip("pettingzoo")

D = 5


def _actions(seed: int, shape: tuple[int, ...] = (D,), steps: int = 8) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = [rng.uniform(-1, 1, shape).astype(np.float32) for _ in range(steps)]
    out[2][:] = 0.0  # an all-zero action: no update, no noise drawn
    return out


@pytest.mark.parametrize(("history", "budget"), [("corpus", 512), ("procedural", 64), ("corpus", None)])
def test_one_ai_one_group_is_pg_coevolve_number_for_number(history: str, budget: int | None) -> None:
    coevolve = gym.make("PG-Coevolve-v0", history=history, query_budget=budget)
    par = society.parallel_env(history=history, query_budget=budget)
    obs_c, _ = coevolve.reset(seed=11)
    obs_s, info_s = par.reset(seed=11)
    assert np.array_equal(obs_s["ai_0"][:-1], obs_c) and obs_s["ai_0"][-1] == 1.0  # + the usage share
    for action in _actions(5):
        obs_c, reward_c, term_c, _, info_c = coevolve.step(action)
        obs_s, rewards, terms, truncs, info_s = par.step({"ai_0": action})
        assert np.array_equal(obs_s["ai_0"][:-1], obs_c)
        assert rewards["ai_0"] == reward_c == info_s["ai_0"]["society_reward"]
        assert np.array_equal(info_s["ai_0"]["model_values"], info_c["model_values"])
        assert terms["ai_0"] == term_c and not truncs["ai_0"]
    assert term_c and par.agents == []
    assert info_s["ai_0"]["final_score"] == info_c["final_score"]
    assert info_s["ai_0"]["normalized_score"] == info_c["normalized_score"]
    record_c, record_s = coevolve.unwrapped.episode_record(), par.episode_record()
    assert np.array_equal(record_s.simulated, record_c.simulated) and np.array_equal(record_s.model, record_c.model)
    assert np.array_equal(record_s.extras["group_values"][:, 0], record_c.simulated)


def test_pettingzoo_api_parallel_seed_and_max_cycles_tests_pass() -> None:
    from pettingzoo.test import api_test, max_cycles_test, parallel_api_test, parallel_seed_test, seed_test

    kwargs = {"num_ais": 3, "num_groups": 4, "usage": "adaptive"}
    parallel_api_test(society.parallel_env(**kwargs), num_cycles=20)
    api_test(society.env(**kwargs), num_cycles=20)
    parallel_seed_test(lambda: society.parallel_env(**kwargs), num_cycles=20)
    seed_test(lambda: society.env(**kwargs), num_cycles=20)
    max_cycles_test(society)
    shown = society.parallel_env(num_ais=2, render_mode="ansi")
    shown.reset(seed=0)
    assert "ai_1: share 0.500" in shown.render()


def test_same_seed_same_episode_and_record_round_trips_through_json() -> None:
    runs = []
    for _ in range(2):
        par = society.parallel_env(num_ais=2, num_groups=8, usage="adaptive", history="procedural")
        par.reset(seed=3)
        for action in _actions(1, (2, D)):
            *_, infos = par.step({"ai_0": action[0], "ai_1": action[1]})
        runs.append((par.episode_record(), infos["ai_0"]["final_score"]))
    (first, score), (second, _) = runs
    assert np.array_equal(first.extras["group_values"], second.extras["group_values"])
    plain = json.loads(json.dumps(first.to_json_dict()))
    back = EpisodeRecord.from_dict(plain)
    assert np.array_equal(back.extras["ai_models"], first.extras["ai_models"])
    assert back.extras["group_values"].shape == (9, 8, D) and back.extras["group_usage"].shape == (9, 8, 2)
    assert score_record(plain) == score
    plain["group_values"][0][0][0] = float("nan")
    with pytest.raises(Exception, match="'group_values' holds non-finite values"):
        EpisodeRecord.from_dict(plain)


def test_society_score_is_the_group_size_weighted_mean_of_pg_coevolve_scores() -> None:
    rng = np.random.default_rng(0)
    human = rng.uniform(0.1, 0.9, (5, 3))
    groups = rng.uniform(0.1, 0.9, (5, 2, 3))  # T, G, d
    judge = SocietyJudge(human, num_groups=2, group_sizes=[1, 3])
    per_group = [float(coevolve_scores(groups[:, g], human)) for g in range(2)]
    assert judge.final_scores(None, groups) == pytest.approx(0.25 * per_group[0] + 0.75 * per_group[1], abs=1e-15)
    # Diagnostics by hand: two groups on one vector have no spread; a society at H_0 lags by t.
    same = np.repeat(human[:, None, :], 2, axis=1)
    diag = society_diagnostics(same, np.array([0.5, 0.5]), human)
    assert np.allclose(diag["spread"], 0.0) and np.array_equal(diag["lag"], np.zeros(5))
    frozen = np.broadcast_to(human[0], (5, 2, 3))
    assert np.array_equal(society_diagnostics(frozen, np.array([0.5, 0.5]), human)["lag"], np.arange(5.0))
    apart = same.copy()
    apart[:, 0] += 0.1  # group 0 sits 0.1 above the history, group 1 on it: the mean is 0.05 from each
    assert np.allclose(society_diagnostics(apart, np.array([0.5, 0.5]), human)["spread"], 0.05)


def test_dynamics_on_hand_cases() -> None:
    # Two AIs at logits 0 and 2, uniform usage: a group at 0 with H_t at 0 is pulled to ai_pull * 1.
    groups = np.zeros((1, 1))
    ais = np.array([[0.0], [2.0]])
    usage = np.array([[0.5, 0.5]])
    pulled = dynamics.pull_groups(groups, np.zeros(1), ais, usage, 0.25, 0.5)
    assert pulled[0, 0] == pytest.approx(0.5)
    # Adaptive usage: the group at 0 prefers the AI at 0: softmax(-beta * [0, 4]) with beta = 1.
    preferred = np.exp([0.0, -4.0]) / np.exp([0.0, -4.0]).sum()
    moved = dynamics.adapted_usage(usage, groups, ais, rate=0.5, sharpness=1.0)
    assert np.allclose(moved, 0.5 * usage + 0.5 * preferred)
    # An AI nobody uses observes the society's mean instead of dividing by zero.
    users = dynamics.user_weights(np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([0.5, 0.5]))
    values = np.array([[0.2, 0.4], [0.6, 0.8]])
    mean = dynamics.users_mean(users, values, values.mean(axis=0))
    assert np.allclose(mean, [[0.4, 0.6], [0.4, 0.6]])
    # Only moving AIs draw noise: the zero action leaves AI 1 bit for bit.
    logits = logit(np.full((2, 3), 0.4))
    after, moving = dynamics.update_ais(logits, np.array([[1.0, 0, 0], [0, 0, 0]]), 2.0, 0.02, np.random.default_rng(0))
    assert list(moving) == [True, False] and np.array_equal(after[1], logits[1]) and after[0, 0] != logits[0, 0]


def test_adaptive_usage_locks_groups_in_with_the_ai_nearest_them_and_fixed_usage_stays_uniform() -> None:
    shares = {}
    up, down = np.full(D, 0.5, np.float32), np.full(D, -0.5, np.float32)
    for usage in ("fixed", "adaptive"):
        par = society.parallel_env(num_ais=2, num_groups=16, usage=usage, query_budget=None, heterogeneity=1.0)
        par.reset(seed=0)
        start = par.core.group_logits.mean(axis=-1)  # each group's mean logit offset at the start
        for _ in range(8):  # AI 0 drifts up, AI 1 down: each group ends up with the one on its side
            par.step({"ai_0": up, "ai_1": down})
        shares[usage] = par.episode_record().extras["group_usage"][-1]
    assert np.array_equal(shares["fixed"], np.full((16, 2), 0.5))
    adaptive = shares["adaptive"]
    assert np.allclose(adaptive.sum(axis=1), 1.0)
    assert (adaptive.max(axis=1) > 0.9).all()  # every group locked in with one AI
    high, low = start > np.median(start), start < np.median(start)
    assert adaptive[high, 0].mean() > adaptive[low, 0].mean()  # the higher groups chose the AI going up


def test_batch_rows_equal_single_societies_when_nothing_random_is_drawn() -> None:
    kwargs = {"num_ais": 2, "num_groups": 4, "usage": "adaptive", "query_budget": None,
              "backend_config": {"finetune_noise_sd": 0.0}, "heterogeneity": 0.0}
    batch = SocietyBatch(3, **kwargs)
    batch.reset(seed=1)
    par = society.parallel_env(**kwargs)
    par.reset(seed=1)
    for action in _actions(2, (3, 2, D)):
        obs, ai_rewards, _, terminated, info = batch.step(action)
        obs_p, rewards_p, *_, infos_p = par.step({"ai_0": action[1, 0], "ai_1": action[1, 1]})
        assert np.array_equal(obs[1], np.stack([obs_p["ai_0"], obs_p["ai_1"]]))
        assert ai_rewards[1, 1] == rewards_p["ai_1"]
    assert terminated and info["final_score"][1] == infos_p["ai_0"]["final_score"]
    with pytest.raises(EpisodeOrderError):
        batch.step(action)


def test_bad_input_names_the_problem_and_changes_nothing() -> None:
    par = society.parallel_env(num_ais=2, num_groups=3)
    with pytest.raises(EpisodeOrderError, match="reset"):
        par.step({})
    par.reset(seed=0)
    good = {"ai_0": np.zeros(D, np.float32), "ai_1": np.full(D, 0.5, np.float32)}
    before = (par.core.t, par.core.group_values.copy(), par.np_random.bit_generator.state)
    cases = [
        ({**good, "ai_7": np.zeros(D)}, "unknown agent.*'ai_7'"),
        ({"ai_0": np.zeros(D)}, "no action for agent.*'ai_1'"),
        ({**good, "ai_1": np.zeros(D + 1)}, "agent 'ai_1'.*shape"),
        ({**good, "ai_0": np.full(D, np.nan)}, "agent 'ai_0'"),
        ([np.zeros(D), np.zeros(D)], "must be a dict"),
    ]
    for actions, message in cases:
        with pytest.raises(InvalidActionError, match=message):
            par.step(actions)
    assert par.core.t == before[0] and np.array_equal(par.core.group_values, before[1])
    assert par.np_random.bit_generator.state == before[2]
    for kwargs, message in [({"num_ais": 0}, "num_ais must be an int in 1..64"),
                            ({"num_groups": 5000}, "num_groups must be an int in 1..4096"),
                            ({"num_ais": 2.0}, "num_ais"), ({"usage": "sticky"}, "usage must be one of"),
                            ({"group_sizes": [1, 2]}, "group_sizes must be 1 positive"),
                            ({"backend": "llm"}, "surrogate backend only"), ({"max_cycles": 0}, "max_cycles")]:
        with pytest.raises(ConfigError, match=message):
            society.parallel_env(**kwargs)
    with pytest.raises(UnknownKwargError, match="timesteps_ahead"):
        society.parallel_env(timesteps_ahead=2)
    with pytest.raises(InvalidActionError, match="unknown agent"):
        par.observation_space("ai_9")
    env = gym.make("PG-Society-v0", num_ais=2)
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=r"shape \(5,\), expected \(2, 5\).*one row of d updates per AI"):
        env.step(np.zeros(D))


def test_benchmark_form_plays_one_agent_per_ai_and_keeps_every_trajectory() -> None:
    from agents.registry import make_agent
    from progressgym_env.episode import run_episode

    env = gym.make("PG-Society-v0", num_ais=2, num_groups=8, usage="adaptive")
    agent = make_agent("extrapolative-1", env)
    assert len(agent.agents) == 2 and agent.agents[0] is not agent.agents[1]
    result = run_episode(env, agent, seed=4)
    record = result.episode_record
    assert np.shape(record["ai_models"]) == (8, 2, D) and np.shape(record["group_values"]) == (9, 8, D)
    assert record["num_ais"] == 2 and record["usage"] == "adaptive"
    assert score_record(record) == result.final_score
    from progressgym_env.benchmark.leaderboard import normalization_note

    assert "0 = every group frozen at H_0" in normalization_note("society_m2_g8_adaptive", record)
    # Each AI's agent saw its own users only: its first estimate is its own row of the first observation.
    first, _ = env.reset(seed=4)
    assert np.array_equal(agent.agents[1]._observed[0], first[1, :D].astype(np.float64))
    assert env.unwrapped.challenge_key == "society_m2_g8_adaptive"
    single = gym.make("PG-Society-v0")
    assert single.unwrapped.challenge_key == "society"
    curves = SocietyJudge(np.asarray(record["human"]), num_ais=2, num_groups=8, usage="adaptive").step_curves(record)
    assert set(curves) == {"ai_0_reward", "ai_1_reward", "ai_0_share", "ai_1_share", "society_spread", "society_lag"}
    assert np.allclose(curves["ai_0_share"] + curves["ai_1_share"], 1.0)


def test_the_oracle_plays_each_ai_and_is_pg_coevolves_with_one_ai() -> None:
    from agents.registry import make_agent
    from progressgym_env.episode import run_episode

    coevolve, single = gym.make("PG-Coevolve-v0"), gym.make("PG-Society-v0")
    expected = run_episode(coevolve, make_agent("oracle", coevolve), seed=2).final_score
    assert run_episode(single, make_agent("oracle", single), seed=2).final_score == expected


def test_society_judge_uses_only_the_public_api() -> None:
    from progressgym_env.registry import challenge_spec

    spec = challenge_spec("society")
    assert spec.judge_class is SocietyJudge and spec.env_id == "PG-Society-v0"
    assert "society" not in progressgym_env.registry.default_keys()  # opt-in: the default benchmark is unchanged
