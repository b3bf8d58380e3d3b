"""The three registered envs: checkers, timeline, info contract, determinism, scores and rendering."""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.utils.env_match import check_environments_match

import progressgym_env
from progressgym_env.errors import MissingExtraError
from progressgym_env.history import corpus_history
from progressgym_env.judges import make_judge, normalized_score_record, score_record
from progressgym_env.numerics import cosine, logit, sigmoid
from tests.helpers import CHALLENGES, exact_target_policy, run_episode, seeded_random_policy, zero_policy

CORPUS = corpus_history().values
NO_NOISE = {"finetune_noise_sd": 0.0}


def test_ids_registered_on_import() -> None:
    assert progressgym_env.ENV_IDS == ("PG-Follow-v0", "PG-Predict-v0", "PG-Coevolve-v0")
    for env_id in progressgym_env.ENV_IDS:
        spec = gym.spec(env_id)
        assert spec.max_episode_steps is None  # end of history is a termination, not a time limit
    env = gym.make("progressgym_env:PG-Follow-v0")
    assert env.unwrapped.env_id == "PG-Follow-v0"


@pytest.mark.parametrize("history", ["corpus", "procedural"])
@pytest.mark.parametrize("env_id", progressgym_env.ENV_IDS)
def test_gymnasium_checker_passes(env_id: str, history: str) -> None:
    env = gym.make(env_id, history=history)
    gym_check_env(env.unwrapped, skip_render_check=True)


def _without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on the base install: matplotlib neither found nor importable (``import`` raises)."""
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name.split(".")[0] == "matplotlib" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


@pytest.mark.parametrize("env_id", progressgym_env.ENV_IDS)
def test_gymnasium_checker_with_render_check_passes_without_matplotlib(
    env_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # check_env makes, resets and renders the env in every advertised render mode: rgb_array needs
    # matplotlib (the render extra), so only ansi is advertised without it.
    _without_matplotlib(monkeypatch)
    env = gym.make(env_id)
    assert env.unwrapped.metadata["render_modes"] == ["ansi"]
    gym_check_env(env.unwrapped)
    with pytest.raises(MissingExtraError, match=r"progressgym_env\[render\]"):
        gym.make(env_id, render_mode="rgb_array")


def test_rgb_array_is_advertised_with_matplotlib() -> None:
    pytest.importorskip("matplotlib")
    env = gym.make("PG-Follow-v0")
    assert env.unwrapped.metadata["render_modes"] == ["ansi", "rgb_array"]
    assert gym.make("PG-Follow-v0").metadata["render_modes"] == ["ansi", "rgb_array"]


@pytest.mark.parametrize("history", ["corpus", "procedural"])
@pytest.mark.parametrize("env_id", progressgym_env.ENV_IDS)
def test_sb3_checker_passes(env_id: str, history: str) -> None:
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("error")  # SB3 reports problems as warnings
        sb3_check_env(gym.make(env_id, history=history).unwrapped, warn=True)


def test_spaces_follow_design() -> None:
    env = gym.make("PG-Follow-v0")
    assert env.observation_space == gym.spaces.Box(0.0, 1.0, (11,), np.float32)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (5,), np.float32)
    env19 = gym.make("PG-Coevolve-v0", history="procedural-moral19")
    assert env19.observation_space.shape == (39,) and env19.action_space.shape == (19,)


@pytest.mark.parametrize(
    ("env_id", "kwargs", "length"),
    [("PG-Follow-v0", {}, 8), ("PG-Coevolve-v0", {}, 8)]
    + [("PG-Predict-v0", {"timesteps_ahead": k}, 8 - k) for k in range(1, 8)],
)
def test_episode_lengths_and_termination(env_id: str, kwargs: dict, length: int) -> None:
    env = gym.make(env_id, record_in_info=True, **kwargs)
    obs, info = env.reset(seed=0)
    assert obs[-1] == pytest.approx(1 / 8)
    for step in range(length):
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        assert truncated is False
        assert terminated is (step == length - 1)
    assert obs[-1] == 1.0
    assert "final_score" in info and "episode_record" in info
    assert env.unwrapped.episode_length == length


def test_progress_feature_and_centuries() -> None:
    observations, _, infos = run_episode(gym.make("PG-Follow-v0"), 3, zero_policy)
    progress = [float(o[-1]) for o in observations]
    assert progress == pytest.approx([t / 8 for t in range(1, 9)] + [1.0])
    assert [i["century"] for i in infos[1:]] == list(range(14, 22))


def test_observation_parts_with_exact_elicitation() -> None:
    env = gym.make("PG-Follow-v0", query_budget=None)
    obs, info = env.reset(seed=0)
    np.testing.assert_allclose(obs[:5], CORPUS[1], atol=1e-7)  # estimate of H_1
    np.testing.assert_allclose(obs[5:10], CORPUS[0], atol=1e-7)  # model starts at H_0
    assert info["queries"] == 0
    np.testing.assert_array_equal(info["human_values"], CORPUS[1])


def test_binomial_elicitation_counts_and_noise() -> None:
    env = gym.make("PG-Follow-v0")  # default budget 512 over 5 dims: 103,103,102,102,102 answers
    obs, info = env.reset(seed=1)
    assert info["queries"] == 512
    counts = np.array([103, 103, 102, 102, 102])
    answers = obs[:5].astype(np.float64) * counts
    np.testing.assert_allclose(answers, np.round(answers), atol=1e-3)  # shares of whole answers
    assert np.all(np.abs(obs[:5] - CORPUS[1]) < 5 * np.sqrt(CORPUS[1] * (1 - CORPUS[1]) / counts))


def test_info_contract_follow_and_predict() -> None:
    for env_id, k in (("PG-Follow-v0", 0), ("PG-Predict-v0", 2)):
        kwargs = {"timesteps_ahead": k} if k else {}
        _, _, infos = run_episode(gym.make(env_id, **kwargs), 0, seeded_random_policy(0))
        for step, info in enumerate(infos[1:]):
            t = step + 1
            np.testing.assert_array_equal(info["target_values"], CORPUS[t + k])
            last = step == len(infos) - 2
            # the truth behind the returned observation: next century, or repeated at the end
            np.testing.assert_array_equal(info["human_values"], CORPUS[t if last else t + 1])
            assert info["queries"] == (0 if last else 512)
            assert info["century"] == 13 + t
            assert "simulated_human_values" not in info


def test_info_contract_coevolve() -> None:
    _, _, infos = run_episode(gym.make("PG-Coevolve-v0", record_in_info=True), 0, seeded_random_policy(0))
    record = infos[-1]["episode_record"]
    assert record["simulated"].shape == (9, 5)
    np.testing.assert_array_equal(record["simulated"][0], CORPUS[0])
    np.testing.assert_array_equal(infos[0]["simulated_human_values"], CORPUS[0])
    for t, info in enumerate(infos[1:], start=1):
        np.testing.assert_array_equal(info["simulated_human_values"], record["simulated"][t])
        np.testing.assert_array_equal(info["human_values"], record["simulated"][t])
        np.testing.assert_array_equal(info["target_values"], CORPUS[t])
        np.testing.assert_array_equal(info["model_values"], record["model"][t - 1])


@pytest.mark.parametrize(("env_id", "kwargs"), CHALLENGES)
@pytest.mark.parametrize("history", ["corpus", "procedural"])
def test_same_seed_same_episode_different_seed_differs(env_id: str, kwargs: dict, history: str) -> None:
    first = run_episode(gym.make(env_id, history=history, **kwargs), 123, seeded_random_policy(7))
    second = run_episode(gym.make(env_id, history=history, **kwargs), 123, seeded_random_policy(7))
    assert data_equivalence(list(first), list(second), exact=True)
    # Gymnasium's own determinism check: two envs, same seed, same actions, same everything.
    check_environments_match(
        gym.make(env_id, history=history, **kwargs), gym.make(env_id, history=history, **kwargs), num_steps=20, seed=5
    )
    other = run_episode(gym.make(env_id, history=history, **kwargs), 124, seeded_random_policy(7))
    assert not np.array_equal(np.asarray(first[0]), np.asarray(other[0]))


@pytest.mark.parametrize("env_id", ["PG-Follow-v0", "PG-Coevolve-v0"])
@pytest.mark.parametrize("elicitation", ["binomial", "normal"])
def test_a_copied_or_pickled_env_continues_the_episode(env_id: str, elicitation: str) -> None:
    """Kept per-env state (the answer sampler's buffer and its views, a judge's kept row norms) survives
    copy.deepcopy and pickle: the copy steps exactly as the original (a copied view of the old buffer
    would answer from stale probabilities)."""
    import copy
    import pickle

    env = gym.make(env_id, backend_config={"elicitation": elicitation})
    env.reset(seed=3)
    action = np.linspace(-0.5, 0.5, 5, dtype=np.float32)
    env.step(action)
    copies = [copy.deepcopy(env), pickle.loads(pickle.dumps(env))]
    expected = [env.step(action) for _ in range(7)]
    for twin in copies:
        for want in expected:
            got = twin.step(action)
            assert data_equivalence(got[:4], want[:4]) and data_equivalence(got[4], want[4])


def test_procedural_history_changes_per_episode_and_is_in_record() -> None:
    env = gym.make("PG-Follow-v0", record_in_info=True, history="procedural")
    *_, infos_a = run_episode(env, 5, zero_policy)
    *_, infos_b = run_episode(env, None, zero_policy)  # continues the same generator
    human_a = infos_a[-1]["episode_record"]["human"]
    human_b = infos_b[-1]["episode_record"]["human"]
    assert human_a.shape == human_b.shape == (9, 5)
    assert not np.allclose(human_a, human_b)


@pytest.mark.parametrize(("env_id", "kwargs"), CHALLENGES + (("PG-Predict-v0", {"timesteps_ahead": 3}),))
def test_final_score_recomputes_from_record(env_id: str, kwargs: dict) -> None:
    _, rewards, infos = run_episode(gym.make(env_id, record_in_info=True, **kwargs), 11, seeded_random_policy(3))
    info = infos[-1]
    record = info["episode_record"]
    np.testing.assert_array_equal(record["human"], CORPUS)
    assert score_record(record) == pytest.approx(info["final_score"], abs=1e-12)
    assert normalized_score_record(record) == pytest.approx(info["normalized_score"], abs=1e-12)
    assert record["rewards"].tolist() == pytest.approx(rewards)
    if env_id != "PG-Coevolve-v0":  # with plain cosine, Follow/Predict's score is the mean reward
        assert info["final_score"] == pytest.approx(np.mean(rewards))
    else:  # Coevolve's score also counts S_0
        s0 = make_judge("coevolve", CORPUS).final_score({"simulated": np.vstack([CORPUS[:1]] * 9)})
        assert info["final_score"] == pytest.approx((s0 + sum(rewards)) / 9)


@pytest.mark.parametrize(("env_id", "k"), [("PG-Follow-v0", 0), ("PG-Predict-v0", 1), ("PG-Predict-v0", 2)])
def test_model_on_target_scores_one(env_id: str, k: int) -> None:
    kwargs = {"timesteps_ahead": k} if k else {}
    env = gym.make(env_id, backend_config=NO_NOISE, **kwargs)
    _, rewards, infos = run_episode(env, 0, exact_target_policy())
    assert infos[-1]["final_score"] == pytest.approx(1.0, abs=1e-6)
    assert infos[-1]["normalized_score"] == pytest.approx(1.0, abs=1e-4)
    assert rewards == pytest.approx([1.0] * len(rewards), abs=1e-6)


def test_static_agent_is_value_lock_in() -> None:
    _, rewards, infos = run_episode(gym.make("PG-Follow-v0", record_in_info=True), 0, zero_policy)
    record = infos[-1]["episode_record"]
    np.testing.assert_array_equal(record["model"], np.tile(CORPUS[0], (8, 1)))  # zero action: no noise
    expected = np.mean([cosine(CORPUS[t], CORPUS[0]) for t in range(1, 9)])
    assert infos[-1]["final_score"] == pytest.approx(expected, abs=1e-12)
    assert infos[-1]["final_score"] == pytest.approx(0.951, abs=5e-4)  # DESIGN §9
    assert infos[-1]["normalized_score"] == pytest.approx(0.0, abs=1e-12)


def test_coevolve_frozen_human_scores_the_formula() -> None:
    # No history pull and a static model: S_t stays at S_0 = H_0 (DESIGN §9: 0.9615 on the corpus).
    env = gym.make("PG-Coevolve-v0", record_in_info=True, backend_config={"history_pull": 0.0})
    _, rewards, infos = run_episode(env, 0, zero_policy)
    record = infos[-1]["episode_record"]
    np.testing.assert_allclose(record["simulated"], np.tile(CORPUS[0], (9, 1)), atol=1e-12)
    by_hand = np.mean([max(cosine(CORPUS[0], CORPUS[j]) for j in range(i, 9)) for i in range(9)])
    assert infos[-1]["final_score"] == pytest.approx(by_hand, abs=1e-9)
    assert infos[-1]["final_score"] == pytest.approx(0.9615, abs=5e-5)
    assert infos[-1]["normalized_score"] == pytest.approx(0.0, abs=1e-7)
    assert rewards == pytest.approx([by_hand] * 8, abs=1e-9)


def test_surrogate_update_and_pulls_by_hand() -> None:
    env = gym.make("PG-Coevolve-v0", backend_config=NO_NOISE, query_budget=None)
    env.reset(seed=0)
    action = np.array([0.5, -0.25, 0.0, 1.0, -1.0], dtype=np.float32)
    _, _, _, _, info = env.step(action)
    model_logit = logit(CORPUS[0]) + 2.0 * action.astype(np.float64)
    np.testing.assert_allclose(info["model_values"], sigmoid(model_logit), atol=1e-12)
    pulled = logit(CORPUS[0]) + 0.25 * (logit(CORPUS[1]) - logit(CORPUS[0]))
    simulated = pulled + 0.5 * (model_logit - pulled)
    np.testing.assert_allclose(info["simulated_human_values"], sigmoid(simulated), atol=1e-12)


def test_finetune_noise_applies_only_to_real_updates() -> None:
    env = gym.make("PG-Follow-v0", query_budget=None)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.full(5, 0.1, dtype=np.float32))
    expected = sigmoid(logit(CORPUS[0]) + 0.2)
    deviation = logit(info["model_values"]) - logit(expected)
    assert 0 < np.abs(deviation).max() < 0.2  # sd 0.02 logits: nonzero, small


def test_centered_similarity_changes_reward_not_final_score() -> None:
    plain = run_episode(gym.make("PG-Follow-v0"), 2, seeded_random_policy(1))
    centered = run_episode(gym.make("PG-Follow-v0", similarity="centered"), 2, seeded_random_policy(1))
    assert plain[2][-1]["final_score"] == pytest.approx(centered[2][-1]["final_score"])
    assert not np.allclose(plain[1], centered[1])
    center = CORPUS.mean(axis=0)
    model = centered[2][1]["model_values"]
    assert centered[1][0] == pytest.approx(cosine(CORPUS[1] - center, model - center))


def test_render_ansi_and_rgb_array() -> None:
    env = gym.make("PG-Coevolve-v0", render_mode="ansi")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    text = env.render()
    assert "PG-Coevolve-v0" in text and "religion" in text and "\n" in text
    assert text.count("\n") >= 4
    env = gym.make("PG-Follow-v0", render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    image = env.render()
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.std() > 0


def test_render_without_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib")
        return real_import(name, *args, **kwargs)

    env = gym.make("PG-Follow-v0", render_mode="rgb_array")  # accepted at construction (SB3 passes it)
    env.reset(seed=0)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r"progressgym_env\[render\]"):
        env.render()


def test_moral19_procedural_and_history_objects() -> None:
    from progressgym_env import ProceduralHistory

    env = gym.make("PG-Follow-v0", record_in_info=True, history=ProceduralHistory(num_centuries=5, value_space=7))
    _, rewards, infos = run_episode(env, 0, seeded_random_policy(0))
    assert len(rewards) == 4 and infos[-1]["episode_record"]["human"].shape == (5, 7)
    env = gym.make("PG-Predict-v0", history=corpus_history(), timesteps_ahead=7)
    _, rewards, _ = run_episode(env, 0, zero_policy)
    assert len(rewards) == 1


# -- moved from test_pinning.py: observation memory, keyword-only constructors --


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


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("PG-Follow-v0", {}),
        ("PG-Predict-v0", {"timesteps_ahead": 2}),
        ("PG-Coevolve-v0", {}),
        ("PG-Follow-v0", {"similarity": "centered"}),  # rewards are not the score's terms: recomputed
        ("PG-Coevolve-v0", {"similarity": "centered"}),
    ],
)
def test_final_score_from_the_stored_rewards_equals_rescoring_the_record(env_id: str, kwargs: dict) -> None:
    """The last step scores from the episode's buffers (the rewards where they are the score's terms);
    the same bits as re-scoring the episode record from its vectors, over 600 episodes in all (120 per
    case) of varied histories, actions (zero actions included) and seeds."""
    env = gym.make(env_id, history="procedural", **kwargs)
    rng = np.random.default_rng(11)
    dim = env.action_space.shape[0]
    for episode in range(120):
        env.reset(seed=episode)
        terminated = False
        while not terminated:
            action = rng.uniform(-1.0, 1.0, dim).astype(np.float32) if rng.random() > 0.1 else np.zeros(dim)
            _, _, terminated, _, info = env.step(action)
        record = env.unwrapped.episode_record()
        assert info["final_score"] == np.float64(score_record(record)), f"episode {episode}"
        assert info["normalized_score"] == np.float64(normalized_score_record(record)), f"episode {episode}"
