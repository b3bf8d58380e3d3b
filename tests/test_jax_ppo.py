"""Compiled PPO (agents.jax_ppo): progressgym train's protocol — procedural training, validation selection,
never the corpus — and its policies as leaderboard agents (``jax:<path>``).

The default-tier tests need numpy only (the saved policy format and the agent); the training run is
slow-tier and skips without the ``jax`` extra.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import progressgym_env  # noqa: F401
from agents import make_agent
from agents.jax_policy import JaxPolicyAgent, actor_mean, save_actor
from progressgym_env.episode import run_episode
from progressgym_env.errors import ConfigError


def _layers(obs_dim: int, dim: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    shapes = [(obs_dim, 4), (4, 3), (3, dim)]
    return [(rng.standard_normal(s).astype(np.float32), rng.standard_normal(s[1]).astype(np.float32)) for s in shapes]


def test_a_saved_policy_acts_as_its_mlp_clipped_and_stacks_its_estimates(tmp_path: Path) -> None:
    layers = _layers(obs_dim=2 * 5 + 1 + 5)  # obs_history=2
    save_actor(tmp_path / "model.npz", layers)
    (tmp_path / "config.json").write_text(json.dumps({"train_env_kwargs": {"obs_history": 2}}))
    env = gym.make("PG-Follow-v0")
    agent = make_agent(f"jax:{tmp_path / 'model.npz'}", env)
    assert isinstance(agent, JaxPolicyAgent) and agent.obs_history == 2
    obs, _ = env.reset(seed=0)
    agent.reset()
    action = agent.act(obs)
    stacked = np.concatenate([obs, obs[:5]]).astype(np.float32)
    (w0, b0), (w1, b1), (w2, b2) = layers
    by_hand = np.tanh(np.tanh(stacked @ w0 + b0) @ w1 + b1) @ w2 + b2
    np.testing.assert_allclose(action, np.clip(by_hand, -1, 1), rtol=1e-6)
    assert action.dtype == np.float32 and np.abs(action).max() <= 1.0
    assert run_episode(env, agent, seed=1).final_score > 0


def test_a_policy_of_another_shape_or_no_file_is_refused(tmp_path: Path) -> None:
    save_actor(tmp_path / "model.npz", _layers(obs_dim=11))
    env = gym.make("PG-Follow-v0")
    with pytest.raises(ConfigError, match="obs_history=3 gives observations of 21"):
        make_agent(f"jax:{tmp_path / 'model.npz'}", env, obs_history=3)
    with pytest.raises(ConfigError, match="does not exist"):
        make_agent(f"jax:{tmp_path / 'none.npz'}", env)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="not a policy saved"):
        make_agent(f"jax:{tmp_path / 'bad.npz'}", env)


# -- slow: a real compiled run ------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    pytest.importorskip("jax")
    pytest.importorskip("flax")
    pytest.importorskip("optax")
    from progressgym_env import history, procedural, trajectory

    procedural.corpus_calibration()  # the generator's calibration (cached by design), then no corpus
    saved = {module: module.corpus_history for module in (history, procedural, trajectory)}

    def forbidden() -> None:
        raise AssertionError("the corpus history was read")

    for module in saved:
        module.corpus_history = forbidden  # type: ignore[attr-defined]
    try:
        from agents.jax_ppo import JaxPPOConfig, train_jax_ppo

        out = tmp_path_factory.mktemp("jaxppo")
        config = JaxPPOConfig(env="predict1", total_timesteps=4096, seeds=2, validation_episodes=6, eval_freq=2048,
                              num_histories=64, out=str(out), env_kwargs={"obs_history": 3})
        return out, train_jax_ppo(config)
    finally:
        for module, loader in saved.items():
            module.corpus_history = loader  # type: ignore[attr-defined]


@pytest.mark.slow
def test_a_sweep_trains_every_seed_selects_on_validation_and_never_reads_the_corpus(sweep) -> None:
    from agents.train import TEST_FIRST_SEED, VALIDATION_FIRST_SEED

    out, summary = sweep
    assert [run["seed"] for run in summary["runs"]] == [0, 1] and summary["timesteps_per_seed"] == 4096
    for seed in (0, 1):
        saved = json.loads((out / f"seed{seed}" / "config.json").read_text())
        curve = json.loads((out / f"seed{seed}" / "evaluations.json").read_text())
        assert saved["train_env_kwargs"]["history"] == "procedural" == saved["validation_env_kwargs"]["history"]
        assert saved["seeds"]["validation"] == [VALIDATION_FIRST_SEED, VALIDATION_FIRST_SEED + 5]
        assert saved["seeds"]["test_procedural_first"] == TEST_FIRST_SEED
        assert curve["timesteps"] == [0, 2048, 4096]
        assert curve["best_mean"] == max(curve["means"])
        assert (out / f"seed{seed}" / "model.npz").is_file() and (out / f"seed{seed}" / "last_model.npz").is_file()
    first = json.loads((out / "seed0" / "evaluations.json").read_text())["scores"]
    second = json.loads((out / "seed1" / "evaluations.json").read_text())["scores"]
    assert first != second  # two seeds, two runs


@pytest.mark.slow
def test_the_selected_policy_reproduces_its_validation_scores_as_a_leaderboard_agent(sweep) -> None:
    out, _ = sweep
    curve = json.loads((out / "seed0" / "evaluations.json").read_text())
    best = curve["scores"][curve["timesteps"].index(curve["best_timestep"])]
    env = gym.make("PG-Predict-v0", timesteps_ahead=1, history="procedural")  # plain -v0 observation
    agent = make_agent(f"jax:{out / 'seed0' / 'model.npz'}", env)
    assert agent.obs_history == 3
    scores = [run_episode(env, agent, seed).normalized_score for seed in range(10_000, 10_006)]
    assert scores == pytest.approx(best, abs=1e-5)


@pytest.mark.slow
def test_the_numpy_actor_is_the_flax_actor(sweep) -> None:
    import jax
    import jax.numpy as jnp

    from agents.jax_policy import load_actor
    from agents.jax_ppo import ActorCritic

    out, _ = sweep
    layers = load_actor(out / "seed1" / "last_model.npz")
    network = ActorCritic(5, (64, 64), -2.0)
    params = network.init(jax.random.PRNGKey(0), jnp.zeros(21))
    inner = dict(params["params"])
    for i, (kernel, bias) in enumerate(layers):
        inner[f"actor_{i}"] = {"kernel": jnp.asarray(kernel), "bias": jnp.asarray(bias)}
    obs = np.random.default_rng(0).uniform(0, 1, (7, 21)).astype(np.float32)
    mean, _, _ = network.apply({"params": inner}, jnp.asarray(obs))
    np.testing.assert_allclose(actor_mean(layers, obs), np.asarray(mean), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_the_corpus_is_refused_as_training_history() -> None:
    pytest.importorskip("jax")
    from agents.jax_ppo import JaxPPOConfig

    with pytest.raises(ConfigError, match="would train on the test set"):
        JaxPPOConfig(env_kwargs={"history": "corpus"})
    with pytest.raises(ConfigError, match="validation_episodes"):
        JaxPPOConfig(validation_episodes=0)


SHARDED_SWEEP = """
import json, sys
import jax, numpy as np
from agents.jax_ppo import JaxPPOConfig, build_sweep, run_chunks
sweep = build_sweep(JaxPPOConfig(env="follow", seeds=2, total_timesteps=2048, eval_freq=1024, num_histories=16))
runners, _, _ = run_chunks(sweep, 1)
leaf = jax.tree_util.tree_leaves(runners.train_state.params)[0]
print(json.dumps({"devices": jax.local_device_count(), "shards": len(leaf.sharding.device_set),
                  "params": [np.asarray(x, np.float64).ravel().tolist()
                             for x in jax.tree_util.tree_leaves(runners.train_state.params)]}))
"""


@pytest.mark.slow
def test_a_sweep_split_over_two_devices_trains_as_on_one() -> None:
    """With the CPU exposed as two devices the seeds' arrays are split over both, and two compiled chunks
    give the parameters the one-device program gives (float32 tolerance: XLA may fuse differently)."""
    import os
    import subprocess
    import sys

    pytest.importorskip("jax")
    root = Path(__file__).resolve().parents[1]
    runs = {}
    for devices in (1, 2):
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
               "PYTHONPATH": str(root)}
        done = subprocess.run([sys.executable, "-c", SHARDED_SWEEP], capture_output=True, text=True, env=env,
                              cwd=root, timeout=600, check=True)
        runs[devices] = json.loads(done.stdout.strip().splitlines()[-1])
    assert (runs[1]["devices"], runs[1]["shards"]) == (1, 1)
    assert (runs[2]["devices"], runs[2]["shards"]) == (2, 2)
    for one, two in zip(runs[1]["params"], runs[2]["params"], strict=True):
        np.testing.assert_allclose(two, one, rtol=1e-4, atol=1e-6)
