"""Offline agents (agents/offline/training.py, agent.py): BC, IQL and CQL on torchrl, selection on validation,
``offline:<path>`` through the agent registry and the benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("minari")
pytest.importorskip("torchrl")

import gymnasium as gym

import progressgym_env  # noqa: F401
from agents import make_agent
from agents.offline.datasets import DatasetConfig, write_dataset
from agents.offline.training import OfflineConfig, train_offline, validation_scores
from progressgym_env.episode import run_episode
from progressgym_env.errors import ConfigError, ModelLoadError


@pytest.fixture
def lifelong_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    write_dataset(DatasetConfig(policy="lifelong", episodes=40, dataset_id="progressgym/follow/ll-v0", progress=False))
    return "progressgym/follow/ll-v0"


def test_offline_config_refuses_bad_values() -> None:
    with pytest.raises(ConfigError, match="unknown offline algo"):
        OfflineConfig(algo="sac")
    with pytest.raises(ConfigError, match="steps must be >= 1"):
        OfflineConfig(steps=0)
    with pytest.raises(ConfigError, match="hidden"):
        OfflineConfig(hidden=())


def test_transitions_are_the_datasets_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay buffer holds the recorded transitions (torchrl 0.14's Minari loader gave all zeros here)."""
    import minari

    from agents.offline.training import _load_replay, load_transitions

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    write_dataset(DatasetConfig(policy="random", episodes=3, dataset_id="progressgym/follow/r-v0", progress=False))
    dataset = minari.load_dataset("progressgym/follow/r-v0")
    episodes = list(dataset.iterate_episodes())
    transitions = load_transitions(dataset)
    assert transitions.batch_size == (24,)
    np.testing.assert_array_equal(transitions["action"].numpy(), np.concatenate([e.actions for e in episodes]))
    np.testing.assert_array_equal(transitions["observation"][8:16].numpy(), episodes[1].observations[:-1])
    np.testing.assert_array_equal(transitions["next", "observation"][8:16].numpy(), episodes[1].observations[1:])
    np.testing.assert_allclose(transitions["next", "reward"][:8, 0].numpy(), episodes[0].rewards)
    assert transitions["next", "done"][:, 0].nonzero().flatten().tolist() == [7, 15, 23]
    replay, rewards = _load_replay(dataset, batch_size=5)
    assert rewards["transitions"] == 24 and rewards["mean"] == pytest.approx(np.mean([e.rewards for e in episodes]))
    sample = replay.sample()["action"].numpy()
    assert sample.shape == (5, 5) and all((transitions["action"].numpy() == row).all(axis=1).any() for row in sample)


@pytest.mark.slow
def test_bc_iql_and_cql_train_select_save_and_play(lifelong_dataset: str, tmp_path: Path) -> None:
    """BC on a deterministic expert's data learns it; the saved agent plays what validation measured."""
    runs = {}
    for algo, steps in (("bc", 600), ("iql", 200), ("cql", 4)):
        out = tmp_path / algo
        record = train_offline(OfflineConfig(dataset=lifelong_dataset, algo=algo, steps=steps, hidden=(32, 32),
                                             batch_size=64, eval_every=max(1, steps // 2), validation_episodes=8,
                                             out=str(out), progress=False, lr=3e-3))
        saved = json.loads((out / "config.json").read_text())
        assert saved["status"] == "finished" and saved["steps_done"] == steps
        assert saved["validation"]["steps"] == [max(1, steps // 2), steps]
        assert saved["dataset_provenance"]["split"] == "train" and saved["reward_statistics"]["transitions"] == 320
        runs[algo] = (out, record)
    env = gym.make("PG-Follow-v0", history="procedural")
    bc_out, bc_record = runs["bc"]
    agent = make_agent(f"offline:{bc_out}/policy.pt", env)
    assert agent.name == "offline-bc"
    # the agent replays the selected checkpoint: its validation scores are the ones recorded at the best step
    scores = [run_episode(env, agent, seed).normalized_score for seed in range(10_000, 10_008)]
    assert np.mean(scores) == pytest.approx(bc_record["validation"]["best_mean"], abs=1e-4)  # float32 batch vs row
    # behaviour cloning of lifelong on its own data comes close to lifelong (+0.9 on validation; random -3.5)
    assert bc_record["validation"]["best_mean"] > 0.5
    policy = agent.policy  # the batched evaluator and the agent agree
    np.testing.assert_allclose(validation_scores(policy, bc_record["dataset_provenance"], 8), scores, atol=1e-4)
    with pytest.raises(ModelLoadError, match="config.json and policy.pt"):
        make_agent(f"offline:{tmp_path / 'missing'}", env)
    with pytest.raises(ConfigError, match="value dimensions"):
        make_agent(f"offline:{bc_out}", gym.make("PG-Follow-v0", history="procedural-moral19"))


@pytest.mark.slow
def test_offline_agent_runs_in_the_benchmark(lifelong_dataset: str, tmp_path: Path) -> None:
    from progressgym_env.benchmark.runner import BenchmarkConfig, run_benchmark

    out = tmp_path / "bc"
    train_offline(OfflineConfig(dataset=lifelong_dataset, algo="bc", steps=20, hidden=(16,), eval_every=20,
                                validation_episodes=4, out=str(out), progress=False))
    summary = run_benchmark(BenchmarkConfig(agents=("static", f"offline:{out}/policy.pt"), challenges=("follow",),
                                            seeds=2, out=str(tmp_path / "bench"), plots=False, progress=False,
                                            wandb=False))
    runs = json.loads((summary.out / "results.json").read_text())["runs"]
    assert {r["agent"] for r in runs} == {"static", "offline"}
    assert all(np.isfinite(r["normalized_score"]) for r in runs)
