"""The step contract third-party RL libraries rely on: buffer-friendly infos, the three autoreset
modes of the native vector env, action clipping and bound tolerance, Python's kwarg-error wording."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers import ClipAction

import progressgym_env  # noqa: F401  (registers the ids)
from progressgym_env.errors import ConfigError, EpisodeOrderError, InvalidActionError
from progressgym_env.records import EpisodeRecord
from tests.test_vector_env import actions_for

IDS = ("PG-Follow-v0", "PG-Predict-v0", "PG-Coevolve-v0")


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    return [value]


@pytest.mark.parametrize("env_id", IDS)
def test_infos_hold_only_numpy_numbers_and_fresh_arrays(env_id: str) -> None:
    env = gym.make(env_id)
    _, info = env.reset(seed=0)
    infos = [info]
    terminated = False
    while not terminated:
        _, _, terminated, _, info = env.step(env.action_space.sample())
        infos.append(info)
    assert "episode_record" not in info  # only when asked; the env hands it out instead
    record = env.unwrapped.episode_record()
    assert isinstance(record, EpisodeRecord) and record.num_steps == env.unwrapped.episode_length
    for info in infos:
        for leaf in _leaves(info):
            assert isinstance(leaf, (np.ndarray, np.number)), f"{type(leaf).__name__} in info"
            assert not (isinstance(leaf, np.ndarray) and leaf.dtype == object)
            if isinstance(leaf, np.ndarray):
                assert leaf.flags.writeable  # fresh arrays, never read-only views of env state
    target = infos[1]["target_values"]
    target[:] = -1.0  # writing into an info must not touch the env's history
    assert np.all(env.unwrapped.history.values >= 0)


def _structure(info: dict[str, Any]) -> dict[str, tuple[type, tuple[int, ...], str]]:
    return {key: (type(value), np.shape(value), str(np.asarray(value).dtype)) for key, value in info.items()}


@pytest.mark.parametrize("kwargs", [{}, {"history": "procedural", "obs_history": 3, "query_budget": None}])
@pytest.mark.parametrize("env_id", IDS)
def test_one_info_structure_at_every_reset_and_step(env_id: str, kwargs: dict[str, Any]) -> None:
    # Tools that batch infos (Minari's DataCollector(record_infos=True)) need the reset's keys, types,
    # shapes and dtypes at every step: the scores are 0.0 until the last step, and the reset's
    # target_values is the first step's target.
    env = gym.make(env_id, **kwargs)
    for seed in (0, 1):
        _, reset_info = env.reset(seed=seed)
        infos, terminated = [reset_info], False
        while not terminated:
            *_, terminated, _, info = env.step(env.action_space.sample())
            infos.append(info)
        for info in infos:
            assert _structure(info) == _structure(reset_info)
        assert [float(i["final_score"]) for i in infos[:-1]] == [0.0] * (len(infos) - 1)
        assert [float(i["normalized_score"]) for i in infos[:-1]] == [0.0] * (len(infos) - 1)
        assert infos[-1]["final_score"] > 0.0
        np.testing.assert_array_equal(reset_info["target_values"], infos[1]["target_values"])
        np.testing.assert_array_equal(reset_info["target_values"], env.unwrapped.judge.target(1))


@pytest.mark.parametrize("env_id", IDS)
def test_minari_data_collector_records_and_reloads_infos(
    env_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    minari = pytest.importorskip("minari")
    pytest.importorskip("jax")  # the DataCollector's episode buffers (minari[create])
    pytest.importorskip("h5py")  # its default storage (minari[hdf5])
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    env = minari.DataCollector(gym.make(env_id), record_infos=True)
    live: list[list[tuple[Any, ...]]] = []
    for seed in (0, 1):
        obs, info = env.reset(seed=seed)
        episode, terminated = [(obs, None, info)], False
        while not terminated:
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            assert not truncated
            episode.append((obs, reward, info))
        live.append(episode)
    dataset_id = f"progressgym/{env_id.lower()}/random-v0"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # minari: no eval_env given (the env is used)
        env.create_dataset(dataset_id=dataset_id, algorithm_name="random")
    env.close()
    assert (tmp_path / "progressgym").is_dir()
    episodes = list(minari.load_dataset(dataset_id).iterate_episodes())
    assert len(episodes) == 2
    for stored, episode in zip(episodes, live, strict=True):
        np.testing.assert_array_equal(stored.observations, np.stack([obs for obs, _, _ in episode]))
        np.testing.assert_array_equal(stored.rewards, [reward for _, reward, _ in episode[1:]])
        assert stored.terminations[-1] and not stored.terminations[:-1].any()
        assert set(stored.infos) == set(episode[0][2])
        for key, values in stored.infos.items():
            np.testing.assert_array_equal(values, np.stack([info[key] for _, _, info in episode]), err_msg=key)
        assert stored.infos["final_score"][-1] == episode[-1][2]["final_score"] > 0.0


def test_episode_record_in_info_only_when_asked() -> None:
    env = gym.make("PG-Follow-v0", record_in_info=True)
    env.reset(seed=0)
    for _ in range(8):
        *_, info = env.step(np.zeros(5, dtype=np.float32))
    assert data_equivalence(info["episode_record"], env.unwrapped.episode_record().to_dict(), exact=True)
    with pytest.raises(ConfigError, match="record_in_info must be True or False"):
        gym.make("PG-Follow-v0", record_in_info="yes")


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("mode", [AutoresetMode.SAME_STEP, AutoresetMode.DISABLED])
def test_native_autoreset_modes_equal_sync_vector_env(env_id: str, mode: AutoresetMode) -> None:
    native = gym.make_vec(env_id, num_envs=3, rng_mode="exact", autoreset_mode=mode)
    sync = gym.make_vec(env_id, num_envs=3, vectorization_mode="sync", vector_kwargs={"autoreset_mode": mode})
    assert native.metadata["autoreset_mode"] == mode == sync.metadata["autoreset_mode"]
    assert data_equivalence(sync.reset(seed=3), native.reset(seed=3), exact=True)
    steps = native.unwrapped.episode_length
    for k, action in enumerate(actions_for(native, 2 * steps)):
        expected, found = sync.step(action), native.step(action)
        assert data_equivalence(expected, found, exact=True), f"{env_id} {mode} step {k}"
        if mode == AutoresetMode.DISABLED and found[2].any():
            with pytest.raises(EpisodeOrderError, match="reset_mask"):
                native.step(action)
            mask = found[2]
            assert data_equivalence(
                sync.reset(options={"reset_mask": mask}), native.reset(options={"reset_mask": mask}), exact=True
            )
    if mode == AutoresetMode.SAME_STEP:
        assert isinstance(found[4]["final_obs"][0], np.ndarray) and "final_score" in found[4]["final_info"]


def test_autoreset_mode_names_and_bad_values() -> None:
    envs = gym.make_vec("PG-Follow-v0", num_envs=2, autoreset_mode="SameStep")
    assert envs.unwrapped.autoreset_mode == AutoresetMode.SAME_STEP
    assert gym.make_vec("PG-Follow-v0", num_envs=2).metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    with pytest.raises(ConfigError, match="autoreset_mode must be one of"):
        gym.make_vec("PG-Follow-v0", num_envs=2, autoreset_mode="sometimes")


def test_bound_tolerance_and_clip_actions() -> None:
    env = gym.make("PG-Follow-v0", query_budget=None, backend_config={"finetune_noise_sd": 0.0})
    env.reset(seed=0)
    env.step(np.full(5, 1.0000001))  # float rounding past the bound: accepted as 1.0
    with pytest.raises(InvalidActionError, match="clip_actions=True"):
        env.step(np.full(5, 1.01))
    clipped = gym.make("PG-Follow-v0", clip_actions=True, query_budget=None, backend_config={"finetune_noise_sd": 0.0})
    exact = gym.make("PG-Follow-v0", query_budget=None, backend_config={"finetune_noise_sd": 0.0})
    assert clipped.action_space == gym.spaces.Box(-1, 1, (5,), np.float32)  # the space stays Box(-1, 1)
    clipped.reset(seed=0)
    exact.reset(seed=0)
    action = np.array([3.0, -7.0, 0.5, 1.5, -0.2])
    a = clipped.step(action)
    b = exact.step(np.clip(action, -1, 1))
    assert data_equivalence(a, b, exact=True)
    with pytest.raises(InvalidActionError, match="NaN"):
        clipped.step(np.array([np.nan, 0, 0, 0, 0]))
    # Gymnasium's ClipAction widens the space to (-inf, inf) and clips into the env's bounds.
    wrapped = ClipAction(gym.make("PG-Follow-v0"))
    wrapped.reset(seed=0)
    wrapped.step(np.full(5, 5.0, dtype=np.float32))


def test_native_vector_env_clips_when_asked() -> None:
    envs = gym.make_vec("PG-Follow-v0", num_envs=4, clip_actions=True)
    envs.reset(seed=0)
    envs.step(np.full((4, 5), 2.0, dtype=np.float32))
    plain = gym.make_vec("PG-Follow-v0", num_envs=4)
    plain.reset(seed=0)
    plain.step(np.full((4, 5), 1.0 + 5e-7, dtype=np.float32))
    with pytest.raises(InvalidActionError):
        plain.step(np.full((4, 5), 2.0, dtype=np.float32))


def test_sync_vector_env_of_default_envs_has_no_object_infos() -> None:
    envs = SyncVectorEnv([lambda: gym.make("PG-Coevolve-v0") for _ in range(2)])
    envs.reset(seed=0)
    for _ in range(8):
        *_, infos = envs.step(envs.action_space.sample())
    assert all(leaf.dtype != object for leaf in _leaves(infos) if isinstance(leaf, np.ndarray))


def test_env_classes_are_reachable_from_the_package() -> None:
    import pydoc

    text = pydoc.render_doc(progressgym_env.envs.FollowEnv, renderer=pydoc.plaintext)
    assert "## Observation Space" in text and "obs_history" in text
    assert progressgym_env.envs.PredictEnv.judge_class.challenge == "predict"


# -- call order, exotic actions, huge budgets ------------------------------------------------------


def test_env_is_usable_after_a_refused_first_reset() -> None:
    env = gym.make("PG-Follow-v0")
    with pytest.raises(ConfigError, match="takes no options"):
        env.reset(seed=0, options={"t": 3})
    env.reset(seed=0)
    _, reward, *_ = env.step(np.zeros(5, dtype=np.float32))
    assert 0.9 < float(reward) <= 1.0


def test_call_order_misuse_gives_clear_errors() -> None:
    from progressgym_env.envs import FollowEnv

    env = FollowEnv(render_mode="ansi")
    with pytest.raises(EpisodeOrderError, match="call reset"):
        env.render()
    with pytest.raises(EpisodeOrderError, match="call reset"):
        env.episode_record()
    env.reset(seed=0)
    assert "century" in env.render()
    env.close()
    env.close()  # idempotent
    with pytest.raises(EpisodeOrderError, match="after close"):
        env.step(np.zeros(5, dtype=np.float32))
    with pytest.raises(EpisodeOrderError, match="closed"):
        env.reset(seed=1)


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (np.ma.masked_array(np.zeros(5), mask=[1, 0, 0, 0, 0]), "masked array"),
        ([[0.1], [0.2, 0.3], 0, 0, 0], "could not be read"),
        (np.array([1e39, 0, 0, 0, 0]), r"must lie in \[-1, 1\].*1e\+39"),  # finite, not 'inf'
        (["a", 0, 0, 0, 0], "real-valued numbers"),
    ],
)
def test_exotic_actions_are_refused_by_name(action: object, message: str) -> None:
    env = gym.make("PG-Follow-v0")
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=message):
        env.step(action)
    env.step(np.zeros(5, dtype=np.float32))  # nothing changed: the episode goes on


def test_torch_tensors_of_any_dtype_are_actions() -> None:
    torch = pytest.importorskip("torch")
    env = gym.make("PG-Follow-v0", query_budget=None, backend_config={"finetune_noise_sd": 0.0})
    reference = gym.make("PG-Follow-v0", query_budget=None, backend_config={"finetune_noise_sd": 0.0})
    env.reset(seed=0)
    reference.reset(seed=0)
    action = torch.tensor([0.5, -0.25, 0.0, 0.125, 1.0], requires_grad=True)
    assert data_equivalence(env.step(action), reference.step(np.array([0.5, -0.25, 0.0, 0.125, 1.0])), exact=True)
    env.step(action.to(torch.bfloat16))  # bf16 values 0.5, -0.25, ... are exact


def test_query_budget_limits() -> None:
    with pytest.raises(ConfigError, match=r"too large: at most .* \(2\*\*62\)"):
        gym.make("PG-Follow-v0", query_budget=2**70)
    env = gym.make("PG-Follow-v0", query_budget=10**18)
    obs, _ = env.reset(seed=0)
    np.testing.assert_allclose(obs[:5], progressgym_env.corpus_history().values[1], atol=1e-6)


def test_huge_query_budget_in_a_large_vector_env_stays_small_and_fast() -> None:
    import time
    import tracemalloc

    tracemalloc.start()
    envs = gym.make_vec("PG-Follow-v0", num_envs=4096, query_budget=10**8)
    envs.reset(seed=0)
    start = time.process_time()
    obs, *_ = envs.step(np.zeros((4096, 5), dtype=np.float32))
    seconds = time.process_time() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 100e6, f"peak {peak / 1e6:.0f} MB"
    assert seconds < 1.0, f"{seconds:.2f} s per step"
    truth = progressgym_env.corpus_history().values[2]
    np.testing.assert_allclose(obs[:, :5].mean(axis=0), truth, atol=1e-4)  # 2e7 answers per dim: tiny noise


def test_native_vector_env_after_close() -> None:
    envs = gym.make_vec("PG-Coevolve-v0", num_envs=3)
    envs.reset(seed=0)
    envs.close()
    with pytest.raises(EpisodeOrderError, match="after close"):
        envs.step(np.zeros((3, 5), dtype=np.float32))
    with pytest.raises(EpisodeOrderError, match="after close"):
        envs.reset(seed=0)
