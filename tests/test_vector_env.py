"""The native vector envs (progressgym_env/envs/vector.py): API, autoreset, infos, errors, equivalence.

Equivalence is checked against Gymnasium's SyncVectorEnv over single envs with the same seeds: in
``rng_mode="exact"`` observations, rewards, flags and every info array must be identical, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import progressgym_env
from progressgym_env.elicitation import BinomialTable, GridBinomial, split_queries
from progressgym_env.envs.vector import (
    CoevolveVectorEnv,
    FollowVectorEnv,
    PredictVectorEnv,
    episode_record_at,
)
from progressgym_env.envs.vector.rows import Rows
from progressgym_env.errors import (
    ConfigError,
    EpisodeOrderError,
    InvalidActionError,
    UnknownKwargError,
)
from progressgym_env.history import History, corpus_history
from progressgym_env.judges import normalized_score_record, score_record
from progressgym_env.procedural import ProceduralHistory
from progressgym_env.value_spaces import CORPUS5

NATIVE = {"PG-Follow-v0": FollowVectorEnv, "PG-Predict-v0": PredictVectorEnv, "PG-Coevolve-v0": CoevolveVectorEnv}


def assert_identical(expected: Any, found: Any, where: str = "") -> None:
    """Exact equality of vector-env outputs (keys, dtypes, shapes, values) by Gymnasium's own checker."""
    assert data_equivalence(expected, found, exact=True), f"{where}: outputs differ"


def actions_for(envs: gym.vector.VectorEnv, steps: int, seed: int = 0) -> np.ndarray:
    """Random actions with one all-zero row per step (the no-update rule) and bounds hit."""
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1.2, 1.2, (steps, *envs.action_space.shape)).clip(-1, 1).astype(np.float32)
    for k in range(steps):
        actions[k, k % envs.num_envs] = 0.0
    return actions


def run_both(env_id: str, num_envs: int, steps: int, seed: Any = 3, **kwargs: Any) -> None:
    native = gym.make_vec(env_id, num_envs=num_envs, rng_mode="exact", **kwargs)
    sync = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync", **kwargs)
    assert isinstance(native.unwrapped, NATIVE[env_id]) and isinstance(sync, SyncVectorEnv)
    assert_identical(sync.reset(seed=seed), native.reset(seed=seed), "reset")
    for k, action in enumerate(actions_for(native, steps)):
        assert_identical(sync.step(action), native.step(action), f"{env_id} step {k}")
    native.close()
    sync.close()


# -- equivalence with single envs -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("PG-Follow-v0", {}),
        ("PG-Predict-v0", {"timesteps_ahead": 2}),
        ("PG-Coevolve-v0", {}),
        ("PG-Follow-v0", {"history": "procedural", "similarity": "centered"}),
        ("PG-Predict-v0", {"history": "procedural", "backend_config": {"elicitation": "normal"}}),
        ("PG-Coevolve-v0", {"history": "procedural-moral19", "similarity": "centered"}),
        ("PG-Follow-v0", {"query_budget": None, "backend_config": {"finetune_noise_sd": 0.0}}),
    ],
)
def test_exact_mode_equals_sync_vector_env_across_autoresets(env_id: str, kwargs: dict) -> None:
    # 20 steps: two full episodes, their autoreset steps and part of a third.
    run_both(env_id, num_envs=4, steps=20, **kwargs)


def test_exact_mode_seed_forms_match_sync() -> None:
    run_both("PG-Follow-v0", num_envs=3, steps=10, seed=[5, 6, 7])
    run_both("PG-Coevolve-v0", num_envs=2, steps=10, seed=40)


def test_exact_mode_partial_reset_matches_sync() -> None:
    kwargs = {"history": "procedural"}
    native = gym.make_vec("PG-Coevolve-v0", num_envs=4, rng_mode="exact", **kwargs)
    sync = gym.make_vec("PG-Coevolve-v0", num_envs=4, vectorization_mode="sync", **kwargs)
    assert_identical(sync.reset(seed=0), native.reset(seed=0), "reset")
    actions = actions_for(native, 20, seed=1)
    for k in range(3):
        assert_identical(sync.step(actions[k]), native.step(actions[k]), f"step {k}")
    mask = np.array([True, False, False, True])
    assert_identical(sync.reset(seed=9, options={"reset_mask": mask}), native.reset(seed=9, options={"reset_mask": mask}))
    for k in range(3, 20):  # sub-envs now at different centuries: terminations no longer line up
        assert_identical(sync.step(actions[k]), native.step(actions[k]), f"step {k}")


@dataclass(frozen=True)
class ShuffledCorpus:
    """A custom HistorySource: the corpus with its dims permuted at random each episode."""

    @property
    def value_space(self):  # type: ignore[no-untyped-def]
        return CORPUS5

    @property
    def num_centuries(self) -> int:
        return 9

    def sample(self, rng: np.random.Generator) -> History:
        order = rng.permutation(5)
        values = corpus_history().values[:, order]
        return History(values, CORPUS5, provenance={"source": "shuffled", "order": order.tolist()})


def test_custom_history_source_matches_sync() -> None:
    run_both("PG-Predict-v0", num_envs=3, steps=16, history=ShuffledCorpus())


# -- API --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", progressgym_env.ENV_IDS)
def test_make_vec_picks_the_native_class_by_default(env_id: str) -> None:
    envs = gym.make_vec(env_id, num_envs=3)
    assert type(envs) is NATIVE[env_id]
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert envs.num_envs == 3 and envs.rng_mode == "fast"
    assert envs.single_observation_space == gym.spaces.Box(0.0, 1.0, (11,), np.float32)
    assert envs.single_action_space == gym.spaces.Box(-1.0, 1.0, (5,), np.float32)
    assert envs.observation_space.shape == (3, 11) and envs.action_space.shape == (3, 5)
    assert envs.spec is not None and envs.spec.id == env_id
    assert isinstance(gym.make_vec(env_id, num_envs=2, vectorization_mode="sync"), SyncVectorEnv)


def test_moral19_spaces_and_predict_k() -> None:
    envs = gym.make_vec("PG-Predict-v0", num_envs=2, history="procedural-moral19", timesteps_ahead=3)
    assert envs.single_observation_space.shape == (39,) and envs.action_space.shape == (2, 19)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (2, 39) and obs.dtype == np.float32 and envs.observation_space.contains(obs)
    for step in range(5):
        _, _, terminated, _, _ = envs.step(envs.action_space.sample())
        assert terminated.all() == (step == 4)  # 8 - k steps


def _info_keys(infos: dict[str, Any]) -> set[str]:
    return {key for key in infos if not key.startswith("_")}


@pytest.mark.parametrize("env_id", progressgym_env.ENV_IDS)
def test_next_step_autoreset_and_info_masks(env_id: str) -> None:
    envs = gym.make_vec(env_id, num_envs=3, record_in_info=True)
    obs, infos = envs.reset(seed=0)
    assert np.allclose(obs[:, -1], 1 / 8) and infos["_queries"].all()
    # One info structure: every key at every reset and step (the scores 0.0 before the last step).
    keys = {"human_values", "model_values", "century", "queries", "target_values", "final_score", "normalized_score"}
    keys |= {"simulated_human_values"} if env_id == "PG-Coevolve-v0" else set()
    assert _info_keys(infos) == keys and all(infos[f"_{key}"].all() for key in keys)
    assert np.all(infos["final_score"] == 0.0) and np.all(infos["normalized_score"] == 0.0)
    length = envs.unwrapped.episode_length
    for step in range(length):
        obs, rewards, terminated, truncated, infos = envs.step(envs.action_space.sample())
        assert envs.observation_space.contains(obs) and rewards.dtype == np.float64
        assert not truncated.any() and terminated.all() == (step == length - 1)
        assert infos["_target_values"].all() and infos["target_values"].shape == (3, 5)
        assert _info_keys(infos) == keys | ({"episode_record"} if step == length - 1 else set())
        assert np.all(infos["final_score"] > 0.0) == (step == length - 1)
    assert infos["_final_score"].all() and infos["_normalized_score"].all() and infos["_episode_record"].all()
    assert np.all(obs[:, -1] == 1.0) and np.all(infos["queries"] == 0)
    for i in range(3):
        record = episode_record_at(infos, i)
        assert score_record(record) == pytest.approx(infos["final_score"][i], abs=1e-12)
        assert normalized_score_record(record) == pytest.approx(infos["normalized_score"][i], abs=1e-12)
    # NEXT_STEP: this step resets every sub-env; the actions are ignored.
    obs, rewards, terminated, truncated, infos = envs.step(np.full(envs.action_space.shape, 0.5, np.float32))
    assert np.all(rewards == 0.0) and not terminated.any() and not truncated.any()
    assert np.allclose(obs[:, -1], 1 / 8) and _info_keys(infos) == keys and np.all(infos["final_score"] == 0.0)
    np.testing.assert_array_equal(obs[:, 5:10], infos["model_values"].astype(np.float32))
    with pytest.raises(KeyError, match="did not terminate"):
        episode_record_at(infos, 0)


def test_fast_mode_is_seeded_and_well_formed() -> None:
    def rollout(seed: int) -> list[np.ndarray]:
        envs = gym.make_vec("PG-Coevolve-v0", num_envs=8, history="procedural")
        out = [envs.reset(seed=seed)[0]]
        for action in actions_for(envs, 12):
            out.append(envs.step(action)[0])
        return out

    first, again, other = rollout(1), rollout(1), rollout(2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    assert not np.array_equal(first[0][0], first[0][1])  # sub-envs get different histories and draws


def test_binomial_table_is_the_binomial_distribution() -> None:
    values = np.vstack([corpus_history().values, [[0.0, 1.0, 0.5, 0.02, 0.98]]])
    counts = split_queries(512, 5)
    table = BinomialTable(values, counts)
    shares = table.sample_shares(np.random.default_rng(0), 4, 100_000)
    p = values[4]
    assert np.all(np.abs(shares.mean(axis=0) - p) < 5 * np.sqrt(p * (1 - p) / counts / 100_000))
    np.testing.assert_allclose(shares.var(axis=0), p * (1 - p) / counts, rtol=0.03)
    np.testing.assert_allclose(shares * counts, np.round(shares * counts), atol=1e-9)  # whole answer counts
    edge = table.sample_shares(np.random.default_rng(1), np.array([9, 9, 4]), 3)
    np.testing.assert_array_equal(edge[:2, :2], [[0.0, 1.0], [0.0, 1.0]])  # p = 0 and 1 are certain


def test_fast_mode_uses_the_table_only_for_fixed_history_answers() -> None:
    assert gym.make_vec("PG-Follow-v0", num_envs=2).unwrapped._table is not None
    assert gym.make_vec("PG-Follow-v0", num_envs=2, rng_mode="exact").unwrapped._table is None
    assert gym.make_vec("PG-Coevolve-v0", num_envs=2).unwrapped._table is None
    assert gym.make_vec("PG-Follow-v0", num_envs=2, history="procedural").unwrapped._table is None


def test_fast_mode_draws_moving_probabilities_from_the_grid_sampler_in_large_batches() -> None:
    """Coevolve's answers (a moving simulated human) come from GridBinomial at N * d >= MIN_DRAWS,
    from Generator.binomial below; exact mode always draws like the single env."""
    def elicitation(**kwargs: Any) -> Any:
        return gym.make_vec("PG-Coevolve-v0", **kwargs).unwrapped._episodes.elicitation

    assert elicitation(num_envs=2).uses_grid and not elicitation(num_envs=2, rng_mode="exact").uses_grid
    assert not elicitation(num_envs=2, query_budget=None).uses_grid
    values = np.full((GridBinomial.MIN_DRAWS // 5 + 1, 5), 0.4)
    counts = split_queries(512, 5)
    big = elicitation(num_envs=2).observe(Rows.all(len(values)), 1, values, np.random.default_rng(0), None)[0]
    assert np.array_equal(big, GridBinomial.for_counts(counts).sample_shares(np.random.default_rng(0), values))
    small = elicitation(num_envs=2).observe(Rows.all(3), 1, values[:3], np.random.default_rng(0), None)[0]
    assert np.array_equal(small, np.random.default_rng(0).binomial(counts, values[:3]) / counts)


# -- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (np.zeros((3, 5)), r"shape \(3, 5\), expected \(4, 5\)"),
        (np.zeros(5), r"shape \(5,\), expected \(4, 5\)"),
        (np.array([["a"] * 5] * 4), r"dtype <U1"),
        (np.where(np.eye(4, 5) > 0, np.nan, 0.0), r"NaN at \(env, dim\) \[\[0, 0\], \[1, 1\]"),
        (np.pad([[np.inf]], ((2, 1), (3, 1))), r"inf at \(env, dim\) \[\[2, 3\]\]"),
        (np.pad([[1.5]], ((1, 2), (4, 0))), r"\[-1, 1\].*\(env, dim\) \[\[1, 4\]\].*env 1: \[0.0, 0.0, 0.0, 0.0, 1.5\]"),
    ],
)
def test_bad_batched_actions_raise_and_change_nothing(action: np.ndarray, message: str) -> None:
    envs = gym.make_vec("PG-Follow-v0", num_envs=4, rng_mode="exact")
    envs.reset(seed=0)
    before = envs.unwrapped._model_values.copy()
    with pytest.raises(InvalidActionError, match=message):
        envs.step(action)
    np.testing.assert_array_equal(envs.unwrapped._model_values, before)
    envs.step(np.zeros((4, 5)))  # still usable; float64 accepted


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"backend": "llm"}, ConfigError, r"surrogate backend only.*vectorization_mode=\"sync\""),
        ({"rng_mode": "slow"}, ConfigError, r"rng_mode must be one of"),
        ({"timesteps_ahead": 2}, UnknownKwargError, r"timesteps_ahead"),
        ({"similarity": "euclid"}, ConfigError, r"unknown similarity"),
        ({"query_budget": 2}, ConfigError, r"query_budget=2 is too small"),
        ({"backend_config": {"capacity": -1}}, ConfigError, r"capacity"),
        ({"num_envs": 0}, ConfigError, r"num_envs must be a positive int"),
    ],
)
def test_bad_kwargs_raise_clear_errors(kwargs: dict, error: type, message: str) -> None:
    kwargs = {"num_envs": 2, **kwargs}
    with pytest.raises(error, match=message):
        gym.make_vec("PG-Follow-v0", **kwargs)


def test_backend_objects_are_refused_with_the_sync_hint() -> None:
    from progressgym_env.backends import SurrogateBackend

    with pytest.raises(ConfigError, match="SurrogateBackend.*vectorization_mode"):
        FollowVectorEnv(2, backend=SurrogateBackend())


def test_order_and_option_errors() -> None:
    envs = gym.make_vec("PG-Coevolve-v0", num_envs=2)
    with pytest.raises(EpisodeOrderError, match="reset"):
        envs.step(np.zeros((2, 5)))
    with pytest.raises(EpisodeOrderError, match="first reset"):
        envs.reset(options={"reset_mask": np.array([True, False])})
    envs.reset(seed=0)
    with pytest.raises(ConfigError, match="reset_mask"):
        envs.reset(options={"reset_mask": [True, False]})
    with pytest.raises(ConfigError, match="no sub-env"):
        envs.reset(options={"reset_mask": np.zeros(2, dtype=bool)})
    with pytest.raises(ConfigError, match="only the 'reset_mask' option"):
        envs.reset(options={"history": "corpus"})
    with pytest.raises(ConfigError, match="one per sub-env"):
        envs.reset(seed=[1, 2, 3])
    with pytest.raises(NotImplementedError, match="sync"):
        envs.render()


def test_builtin_ids_name_their_native_vector_entry_points() -> None:
    from envs_registry import ENV_IDS

    for env_id in ENV_IDS:
        assert gym.spec(env_id).vector_entry_point == f"progressgym_env.envs.vector:{NATIVE[env_id].__name__}"


def test_procedural_fast_mode_records_are_per_sub_env() -> None:
    envs = gym.make_vec("PG-Follow-v0", num_envs=4, history="procedural", record_in_info=True)
    envs.reset(seed=0)
    for _ in range(8):
        *_, infos = envs.step(envs.action_space.sample())
    humans = infos["episode_record"]["human"]
    assert humans.shape == (4, 9, 5) and not np.array_equal(humans[0], humans[1])
    record = episode_record_at(infos, 2)
    assert record["history_provenance"]["source"] == "procedural"
    assert score_record(record) == pytest.approx(infos["final_score"][2], abs=1e-12)
    assert isinstance(envs.unwrapped.history_source, ProceduralHistory)


@pytest.mark.parametrize("env_id", progressgym_env.ENV_IDS)
def test_fast_mode_without_randomness_equals_sync(env_id: str) -> None:
    # No elicitation noise and no fine-tuning noise: the fast mode's arithmetic alone must match.
    kwargs = {"query_budget": None, "backend_config": {"finetune_noise_sd": 0.0}}
    native = gym.make_vec(env_id, num_envs=3, **kwargs)
    sync = gym.make_vec(env_id, num_envs=3, vectorization_mode="sync", **kwargs)
    assert native.unwrapped.rng_mode == "fast"
    assert_identical(sync.reset(seed=0), native.reset(seed=0), "reset")
    for k, action in enumerate(actions_for(native, 18)):
        assert_identical(sync.step(action), native.step(action), f"{env_id} step {k}")


@pytest.mark.parametrize("env_id", ["PG-Follow-v0", "PG-Coevolve-v0"])  # table and Generator.binomial paths
def test_fast_mode_answer_shares_are_unbiased(env_id: str) -> None:
    envs = gym.make_vec(env_id, num_envs=20_000)
    obs, infos = envs.reset(seed=0)
    counts = split_queries(512, 5)
    np.testing.assert_allclose(obs[:, :5] * counts, np.round(obs[:, :5] * counts), atol=1e-3)
    truth = infos["human_values"][0]
    assert np.all(np.abs(obs[:, :5].mean(axis=0) - truth) < 5 * np.sqrt(truth * (1 - truth) / counts / 20_000))


# -- moved from test_pinning.py: the fast vector env observes the current century; obs_history --


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


@pytest.mark.parametrize("env_id", ["PG-Follow-v0", "PG-Coevolve-v0"])
def test_obs_history_native_vector_env_equals_sync(env_id: str) -> None:
    run_both(env_id, num_envs=3, steps=20, obs_history=4)
    run_both(env_id, num_envs=2, steps=12, history="procedural", obs_history=2)


@pytest.mark.parametrize("env_id", progressgym_env.ENV_IDS)
def test_vector_env_reports_the_single_envs_attributes(env_id: str) -> None:
    # Agents read these from either env (agents.base.spec_from_env); the vector env reads them once.
    kwargs = {"history": "procedural", "obs_history": 2, "clip_actions": True, "query_budget": 100}
    single = gym.make(env_id, **kwargs).unwrapped
    native = gym.make_vec(env_id, num_envs=2, **kwargs).unwrapped
    names = ("env_id", "challenge", "dim", "num_centuries", "episode_length", "similarity", "query_budget",
             "params", "challenge_key", "agent_horizon", "target_offset", "simulates_human", "obs_history", "clip_actions",
             "record_in_info", "update_capacity", "value_space", "render_mode")
    assert {n: getattr(native, n) for n in names} == {n: getattr(single, n) for n in names}
    assert native.config == single.backend.config and type(native.history_source) is type(single.history_source)
    assert native.single_observation_space == single.observation_space
    assert native.single_action_space == single.action_space
