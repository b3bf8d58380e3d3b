"""Gymnasium's sync/async vector envs and SB3's DummyVecEnv/SubprocVecEnv over every id."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import progressgym_env


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("env_id", progressgym_env.ENV_IDS)
def test_make_vec_runs_full_episodes(env_id: str, mode: str) -> None:
    envs = gym.make_vec(env_id, num_envs=4, vectorization_mode=mode)
    try:
        obs, info = envs.reset(seed=0)
        assert obs.shape == (4, 11) and obs.dtype == np.float32
        length = 7 if env_id == "PG-Predict-v0" else 8
        finished = np.zeros(4, dtype=bool)
        for step in range(length):
            obs, rewards, terminated, truncated, info = envs.step(envs.action_space.sample())
            assert rewards.shape == (4,) and not truncated.any()
            finished |= terminated
            assert terminated.all() == (step == length - 1)
        assert finished.all()
        assert np.all(np.isfinite(info["final_score"])) and info["_final_score"].all()
    finally:
        envs.close()


# Every env in-process; in fresh subprocesses (2.4 s each) one env in the default run, the others in the
# slow tier: the subprocess path (import by "module:id", pickling the factory) is the same for all three.
SB3_VEC_CASES = [
    *[(env_id, "DummyVecEnv") for env_id in progressgym_env.ENV_IDS],
    *[pytest.param(env_id, "SubprocVecEnv", marks=[] if env_id == "PG-Coevolve-v0" else [pytest.mark.slow])
      for env_id in progressgym_env.ENV_IDS],
]


@pytest.mark.parametrize(("env_id", "vec_cls"), SB3_VEC_CASES)
def test_sb3_make_vec_env(env_id: str, vec_cls: str) -> None:
    from stable_baselines3.common import vec_env
    from stable_baselines3.common.env_util import make_vec_env

    # Subprocesses start fresh (forkserver): the "module:id" form imports progressgym_env there.
    full_id = env_id if vec_cls == "DummyVecEnv" else f"progressgym_env:{env_id}"
    envs = make_vec_env(full_id, n_envs=2, seed=0, vec_env_cls=getattr(vec_env, vec_cls))
    try:
        obs = envs.reset()
        assert obs.shape == (2, 11)
        final_scores = []
        for _ in range(8):
            obs, rewards, dones, infos = envs.step(np.stack([envs.action_space.sample() for _ in range(2)]))
            final_scores += [info["final_score"] for info, done in zip(infos, dones, strict=True) if done]
            assert not any(info.get("TimeLimit.truncated", False) for info in infos)
        assert len(final_scores) >= 2 and all(0 < s <= 1 for s in final_scores)
    finally:
        envs.close()
