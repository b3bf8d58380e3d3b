"""Tests that pin behaviour no other test fixes: what the fast vector env observes, and the LLM
elicitation's display-order crediting (model-free).

Each was checked against the bug it is for: observing the previous century in the fast vector env,
and crediting displayed instead of original options in the elicitation pool, both fail here.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import progressgym_env  # noqa: F401  (registers the ids)

NUM_ENVS = 4096
Z_LIMIT = 5.0
"""Sampling-error bound, in standard errors of the mean over NUM_ENVS (a false alarm at 5 sd is ~1e-6)."""


def _check_observed_estimates(env_id: str, **kwargs: object) -> None:
    """Every step: the mean observed estimate over many envs equals info['human_values'] within sampling error.

    For a fixed history the truth must also be the century the observation's progress names (the
    env observes century t, not t - 1).
    """
    envs = gym.make_vec(env_id, num_envs=NUM_ENVS, record_in_info=True, **kwargs)
    base = envs.unwrapped
    d, budget = base.dim, base.query_budget
    per_dim = np.full(d, budget // d) + (np.arange(d) < budget % d)
    obs, info = envs.reset(seed=0)
    rng = np.random.default_rng(1)
    seen: list[tuple[np.ndarray, np.ndarray]] = []  # first episode: (century index, truth) per step
    for step in range(base.episode_length):
        truth = info["human_values"]
        estimate = obs[:, :d].astype(np.float64)
        fresh = info["queries"] > 0  # terminal observations repeat the last estimate
        if fresh.any():
            p = np.clip(truth[fresh], 1e-9, 1 - 1e-9)
            se = np.sqrt((p * (1 - p) / per_dim).sum(axis=0)) / fresh.sum()
            z = (estimate[fresh] - truth[fresh]).mean(axis=0) / se
            assert np.all(np.abs(z) < Z_LIMIT), f"{env_id} step {step}: mean estimate off the truth, z = {z}"
            seen.append((np.rint(obs[:, 2 * d] * (base.num_centuries - 1)).astype(int), truth))
        actions = rng.uniform(-1, 1, (NUM_ENVS, d)).astype(np.float32)
        obs, _, terminated, _, info = envs.step(actions)
    assert terminated.all()
    if not base.simulates_human:  # the truth is the real history at the century the progress names
        human = info["episode_record"]["human"]  # (N, T, d), each sub-env's own history
        rows = np.arange(NUM_ENVS)
        for step, (t, truth) in enumerate(seen):
            np.testing.assert_array_equal(truth, human[rows, t], err_msg=f"{env_id} step {step}: wrong century")
    envs.close()


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("PG-Follow-v0", {}),
        ("PG-Predict-v0", {"timesteps_ahead": 2}),
        ("PG-Coevolve-v0", {}),
        ("PG-Follow-v0", {"history": "procedural"}),
    ],
)
def test_fast_vector_env_observes_the_current_century(env_id: str, kwargs: dict) -> None:
    _check_observed_estimates(env_id, **kwargs)


def test_llm_elicitation_credits_original_options_under_every_display_order() -> None:
    """A respondent that always picks a scenario's original first option, wherever it is displayed.

    Its share of dim-upholding answers is then known from the bank alone (does original option 0
    raise the dim?), independently of the pool's display-order bookkeeping.
    """
    from progressgym_env.evaluator.bank import load_question_bank
    from progressgym_env.llm.proxies import answer_shares, build_elicitation_pool, draw_queries

    bank = load_question_bank("train")
    pool = build_elicitation_pool(6, ("label", "yesno", "repeat"), bank=bank)
    scenarios = {s.scenario_id: s for s in bank}
    permuted = [q for q in pool.questions if q.order != tuple(range(q.n_options))]
    assert permuted, "the pool should display options in several orders"

    def first_option_position(question) -> int:  # type: ignore[no-untyped-def]
        scenario = scenarios[question.scenario_id]
        return question.options.index(scenario.options[0])  # found by content, not by `order`

    def probs_of(idx: np.ndarray) -> np.ndarray:
        out = np.full((len(idx), 4), np.nan)
        for row, i in enumerate(idx):
            question = pool.questions[int(i)]
            out[row, : question.n_options] = 0.0
            out[row, first_option_position(question)] = 1.0
        return out

    rng = np.random.default_rng(0)
    picks = draw_queries(rng, pool, np.full(19, 200))
    shares = answer_shares(np.random.default_rng(1), pool, picks, probs_of)
    for dim, chosen in enumerate(picks):
        questions = [pool.questions[int(i)] for i in pool.dim_questions[dim][chosen]]
        upholds = [scenarios[q.scenario_id].option_effects(dim)[0] > 0 for q in questions]
        assert shares[dim] == pytest.approx(np.mean(upholds), abs=1e-12), f"dim {dim}"


# -- observation memory -------------------------------------------------------------------------


def test_obs_history_appends_previous_estimates_padded_with_the_first() -> None:
    plain = gym.make("PG-Follow-v0")
    memory = gym.make("PG-Follow-v0", obs_history=3)
    d = plain.unwrapped.dim
    assert memory.observation_space.shape == (2 * d + 1 + 2 * d,)
    first, _ = memory.reset(seed=4)
    reference, _ = plain.reset(seed=4)
    np.testing.assert_array_equal(first[: 2 * d + 1], reference)
    np.testing.assert_array_equal(first[2 * d + 1 :], np.tile(first[:d], 2))  # padded with estimate 1
    estimates = [first[:d]]
    terminated = False
    action = np.full(d, 0.1, dtype=np.float32)
    while not terminated:
        obs, _, terminated, _, _ = memory.step(action)
        ref, _, _, _, _ = plain.step(action)
        np.testing.assert_array_equal(obs[: 2 * d + 1], ref)  # the -v0 part is unchanged
        if not terminated:
            estimates.append(obs[:d])
        past = [estimates[max(len(estimates) - 1 - j, 0)] for j in (1, 2)]
        np.testing.assert_array_equal(obs[2 * d + 1 :], np.concatenate(past), err_msg=f"step {len(estimates)}")
    assert memory.observation_space.contains(obs)


@pytest.mark.parametrize("env_id", ["PG-Follow-v0", "PG-Coevolve-v0"])
def test_obs_history_native_vector_env_equals_sync(env_id: str) -> None:
    from tests.test_vector_env import run_both

    run_both(env_id, num_envs=3, steps=20, obs_history=4)
    run_both(env_id, num_envs=2, steps=12, history="procedural", obs_history=2)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3", 10**6])
def test_obs_history_bad_values_are_refused(bad: object) -> None:
    from progressgym_env.errors import ConfigError

    with pytest.raises(ConfigError, match="obs_history"):
        gym.make("PG-Follow-v0", obs_history=bad)


def test_env_constructors_are_keyword_only() -> None:
    from progressgym_env.envs import CoevolveEnv, FollowEnv, PredictEnv

    for cls in (FollowEnv, PredictEnv, CoevolveEnv):
        with pytest.raises(TypeError):
            cls("corpus")  # type: ignore[misc]
    assert PredictEnv(timesteps_ahead=3, history="procedural").episode_length == 5
