"""``progressgym dataset`` (agents/offline/datasets.py): Minari datasets on training histories, atomic, checked.

Every test writes into its own ``MINARI_DATASETS_PATH`` (tmp_path), a few short Follow episodes each.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

minari = pytest.importorskip("minari")
pytest.importorskip("h5py")

import gymnasium as gym

import progressgym_env  # noqa: F401
from agents.offline.datasets import (
    DatasetConfig,
    DatasetExistsError,
    DiskFullError,
    read_provenance,
    write_dataset,
)
from agents.train import TEST_FIRST_SEED, VALIDATION_FIRST_SEED
from progressgym_env.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def _leftovers(root: Path) -> list[Path]:
    """Every file under the data root except Minari's namespace metadata."""
    return [p for p in root.rglob("*") if p.is_file() and p.name != "namespace_metadata.json"] if root.exists() else []


def test_dataset_round_trip_shapes_metadata_and_recovered_envs(data_root: Path) -> None:
    config = DatasetConfig(policy="0.5*lifelong@eps=0.5+0.5*static", episodes=4, first_seed=3,
                           dataset_id="progressgym/follow/mix-v0", progress=False)
    path = write_dataset(config)
    assert path == data_root / "progressgym" / "follow" / "mix-v0"
    dataset = minari.load_dataset("progressgym/follow/mix-v0")
    assert "progressgym/follow/mix-v0" in minari.list_local_datasets()
    episodes = list(dataset.iterate_episodes())
    assert dataset.total_episodes == 4 and dataset.total_steps == 32
    for episode in episodes:
        assert episode.observations.shape == (9, 11) and episode.actions.shape == (8, 5)
        assert episode.terminations[-1] and not episode.terminations[:-1].any()
        assert episode.infos["human_values"].shape == (9, 5)
    # the recorded episode is the env's episode for that seed: seed 3's first observation
    first_obs, _ = gym.make("PG-Follow-v0", history="procedural").reset(seed=3)
    np.testing.assert_array_equal(episodes[0].observations[0], first_obs)
    # per-episode provenance: the seed and the mixture component that played it; static plays zeros
    meta = list(dataset.storage.get_episode_metadata(range(4)))
    assert [m["seed"] for m in meta] == [3, 4, 5, 6]
    for m, episode in zip(meta, episodes, strict=True):
        assert m["policy"] in ("lifelong@eps=0.5", "static")
        assert (m["policy"] == "static") == bool(np.all(episode.actions == 0))
    info = read_provenance(dataset)
    assert info["split"] == "train" and info["history"] == "procedural" and info["query_budget"] == 512
    assert info["episode_seeds"] == {"first": 3, "count": 4} and info["policy"] == config.policy
    # recover_environment(): the recording env; eval_env=True: the validation histories, seed by seed
    env = dataset.recover_environment()
    obs, _ = env.reset(seed=0)
    assert env.step(np.zeros(5, dtype=np.float32))[0].shape == (11,)
    evaluation = dataset.recover_environment(eval_env=True)
    reference = gym.make("PG-Follow-v0", history="procedural")
    for seed in (VALIDATION_FIRST_SEED, VALIDATION_FIRST_SEED + 1):
        np.testing.assert_array_equal(evaluation.reset()[0], reference.reset(seed=seed)[0])


def test_no_training_dataset_holds_a_corpus_episode_or_a_test_seed(data_root: Path) -> None:
    write_dataset(DatasetConfig(policy="lifelong", episodes=6, dataset_id="progressgym/follow/check-v0", progress=False))
    dataset = minari.load_dataset("progressgym/follow/check-v0")
    info = read_provenance(dataset)
    seeds = [m["seed"] for m in dataset.storage.get_episode_metadata(range(dataset.total_episodes))]
    assert info["history"].startswith("procedural") and max(seeds) < VALIDATION_FIRST_SEED
    # the histories themselves: none is the corpus's, none a validation or test seed's
    forbidden = [gym.make("PG-Follow-v0", history="corpus").reset(seed=0)[1]["human_values"]]
    probe = gym.make("PG-Follow-v0", history="procedural")
    forbidden += [probe.reset(seed=s)[1]["human_values"] for s in (VALIDATION_FIRST_SEED, TEST_FIRST_SEED,
                                                                   TEST_FIRST_SEED + 1)]
    for episode in dataset.iterate_episodes():
        for values in forbidden:
            assert not np.allclose(episode.infos["human_values"][0], values)
    # and the config refuses the corpus and any seed at or past the validation seeds
    with pytest.raises(ConfigError, match="test set"):
        DatasetConfig(history="corpus", episodes=1)
    with pytest.raises(ConfigError, match="10000"):
        DatasetConfig(first_seed=VALIDATION_FIRST_SEED - 1, episodes=2)
    with pytest.raises(ConfigError, match="test set"):
        DatasetConfig(env_kwargs={"history": "corpus"}, episodes=1)


def test_bad_input_is_refused_and_nothing_is_written(data_root: Path) -> None:
    with pytest.raises(ConfigError, match="unknown agent 'bogus'"):
        write_dataset(DatasetConfig(policy="bogus", episodes=1, progress=False))
    with pytest.raises(ConfigError, match="unknown challenge"):
        DatasetConfig(challenge="folow", episodes=1)
    for bad in ("noversion", "progressgym/x.y-v0", "no-namespace-v0", "progressgym/x-vZ"):
        with pytest.raises(ConfigError, match="namespace/name-vN"):
            DatasetConfig(dataset_id=bad, episodes=1)
    with pytest.raises(ConfigError, match="weight"):
        write_dataset(DatasetConfig(policy="0*lifelong+random", episodes=1, progress=False))
    assert _leftovers(data_root) == []
    config = DatasetConfig(policy="static", episodes=1, dataset_id="progressgym/follow/once-v0", progress=False)
    write_dataset(config)
    before = sorted(p.stat().st_mtime_ns for p in _leftovers(data_root))
    with pytest.raises(DatasetExistsError, match="--overwrite"):
        write_dataset(config)
    assert sorted(p.stat().st_mtime_ns for p in _leftovers(data_root)) == before
    config.overwrite, config.policy, config.episodes = True, "lifelong", 2
    write_dataset(config)
    dataset = minari.load_dataset("progressgym/follow/once-v0")
    assert dataset.total_episodes == 2 and read_provenance(dataset)["policy"] == "lifelong"


def test_a_full_disk_or_an_interruption_leaves_nothing(data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(minari.DataCollector, "create_dataset", full)
    with pytest.raises(DiskFullError, match="nothing was written"):
        write_dataset(DatasetConfig(episodes=2, dataset_id="progressgym/follow/full-v0", progress=False))
    monkeypatch.undo()
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(data_root))
    assert _leftovers(data_root) == []
    # a dataset far larger than the free space is refused before anything is recorded
    monkeypatch.setattr("shutil.disk_usage", lambda path: type("Usage", (), {"free": 10_000})())
    with pytest.raises(DiskFullError, match="MB free"):
        write_dataset(DatasetConfig(episodes=5, dataset_id="progressgym/follow/big-v0", progress=False))
    monkeypatch.undo()
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(data_root))
    assert _leftovers(data_root) == [] and os.environ["MINARI_DATASETS_PATH"] == str(data_root)
    # Ctrl-C (or kill, which the CLI turns into the same) in the middle of an episode
    from agents.baselines import LifelongAgent

    calls = iter(range(100))

    def interrupted(self: LifelongAgent, obs: np.ndarray) -> np.ndarray:
        if next(calls) == 11:
            raise KeyboardInterrupt
        return np.zeros(5, dtype=np.float32)

    monkeypatch.setattr(LifelongAgent, "act", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_dataset(DatasetConfig(episodes=3, dataset_id="progressgym/follow/stopped-v0", progress=False))
    assert _leftovers(data_root) == [] and os.environ["MINARI_DATASETS_PATH"] == str(data_root)
    assert [p for p in data_root.rglob("*") if p.name.startswith((".", "tmp"))] == []


@pytest.mark.slow
def test_a_killed_run_leaves_no_dataset_minari_would_load(data_root: Path) -> None:
    """SIGKILL mid-write (no clean-up runs): Minari neither lists nor loads anything; the next write sweeps it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MINARI_DATASETS_PATH": str(data_root)}
    command = [sys.executable, "-m", "progressgym_env", "dataset", "--episodes", "5000", "--no-progress",
               "--dataset-id", "progressgym/follow/killed-v0"]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(data_root.rglob("*.hdf5")):
        time.sleep(0.1)
    assert list(data_root.rglob("*.hdf5")), "the writer never started recording"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert minari.list_local_datasets() == {}
    with pytest.raises(FileNotFoundError):
        minari.load_dataset("progressgym/follow/killed-v0")
    os.utime(next(data_root.rglob(".killed-v0.*")), (0, 0))  # old enough to count as stale
    write_dataset(DatasetConfig(episodes=1, dataset_id="progressgym/follow/killed-v0", progress=False))
    assert [p.name for p in (data_root / "progressgym" / "follow").iterdir() if p.name.startswith(".")] == []
    assert minari.load_dataset("progressgym/follow/killed-v0").total_episodes == 1


@pytest.mark.slow
def test_llm_backend_transitions_make_the_same_kind_of_dataset(data_root: Path, tmp_path: Path) -> None:
    """One Follow episode of the tiny LLM world (real DPO updates and evaluations) in the surrogate datasets' format."""
    pytest.importorskip("trl")
    pytest.importorskip("peft")
    from progressgym_env.llm.tiny import tiny_world

    world = tiny_world(tmp_path / "world")
    config = DatasetConfig(policy="lifelong", episodes=1, history="models", dataset_id="progressgym/follow-llm/tiny-v0",
                           env_kwargs={"backend": "llm", "backend_config": world.to_dict(), "query_budget": 19},
                           progress=False)
    write_dataset(config, extra_metadata={"llm_world": {"folder": str(tmp_path / "world")}})
    dataset = minari.load_dataset("progressgym/follow-llm/tiny-v0")
    episode = next(dataset.iterate_episodes())
    assert episode.observations.shape == (9, 39) and episode.actions.shape == (8, 19)
    assert episode.infos["human_values"].shape == (9, 19)
    assert episode.infos["queries"].tolist() == [19] * 8 + [0]  # no elicitation after the last century
    assert np.isfinite(episode.infos["model_values_progressgym"]).all()  # the measurement's, reset to the end
    assert np.isfinite(episode.rewards).all() and episode.terminations[-1]
    info = read_provenance(dataset)
    assert info["backend"] == "LLMBackend" and info["history"] == "models" and info["query_budget"] == 19
    assert info["llm_world"]["folder"] == str(tmp_path / "world") and info["split"] == "train"
    env = dataset.recover_environment()  # the spec carries the LLM config: the env rebuilds on the tiny world
    assert env.unwrapped.backend is not None and env.observation_space.shape == (39,)
