"""Third-party RL libraries take the envs unchanged: torchrl and tianshou (current releases).

Each test imports its library inside (``pytest.importorskip``): a minimal install skips them. Both
libraries import a large stack (seconds of CPU each), so the module is in the slow tier; the default
tier checks the same contract without them (``tests/test_env_contract.py``).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import progressgym_env  # noqa: F401  (registers the ids)

pytestmark = pytest.mark.slow


def test_torchrl_gym_env_passes_check_env_specs_and_rolls_out() -> None:
    pytest.importorskip("torchrl")
    import torch
    from torchrl.data import Unbounded
    from torchrl.envs import GymEnv
    from torchrl.envs.libs.gym import default_info_dict_reader
    from torchrl.envs.utils import check_env_specs

    env = GymEnv("PG-Follow-v0")  # torchrl passes frameskip=1 and drops it on Python's wording
    check_env_specs(env)
    rollout = env.rollout(20)
    assert rollout.shape == (8,) and bool(rollout["next", "terminated"][-1])

    coevolve = GymEnv("PG-Coevolve-v0")
    spec = {
        "century": Unbounded(shape=(), dtype=torch.int64),
        "queries": Unbounded(shape=(), dtype=torch.int64),
        "simulated_human_values": Unbounded(shape=(5,), dtype=torch.float64),
    }
    coevolve.set_info_dict_reader(default_info_dict_reader(list(spec), spec=spec))
    check_env_specs(coevolve)
    rollout = coevolve.rollout(20)
    assert rollout["next", "century"].flatten().tolist() == list(range(14, 22))


def test_torchrl_wraps_the_native_vector_env_with_same_step_autoreset() -> None:
    pytest.importorskip("torchrl")
    from torchrl.envs import GymWrapper
    from torchrl.envs.utils import check_env_specs

    env = GymWrapper(gym.make_vec("PG-Follow-v0", num_envs=4, autoreset_mode=AutoresetMode.SAME_STEP))
    check_env_specs(env)
    rollout = env.rollout(20, break_when_any_done=False)
    assert rollout.shape == (4, 20)
    assert int(rollout["next", "done"].sum()) == 4 * 2  # two 8-step episodes per sub-env


@pytest.mark.parametrize("env_id", ["PG-Follow-v0", "PG-Coevolve-v0"])
def test_tianshou_replay_buffer_takes_a_full_episode_without_nan(env_id: str) -> None:
    pytest.importorskip("tianshou")
    from tianshou.data import Batch, ReplayBuffer

    env = gym.make(env_id)
    buffer = ReplayBuffer(size=16)
    obs, _ = env.reset(seed=0)
    terminated = False
    while not terminated:
        action = env.action_space.sample()
        obs_next, reward, terminated, truncated, info = env.step(action)
        buffer.add(
            Batch(obs=obs, act=action, rew=reward, terminated=terminated, truncated=truncated, obs_next=obs_next, info=info)
        )
        obs = obs_next
    assert len(buffer) == 8
    for key in ("target_values", "model_values", "human_values", "century", "queries", "final_score"):
        values = np.asarray(buffer.info[key])
        assert values.dtype.kind in "fi" and not np.isnan(values.astype(np.float64)).any(), key
    assert float(buffer.info["final_score"][7]) == pytest.approx(float(info["final_score"]))


def test_tianshou_high_level_ppo_runs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("tianshou.highlevel.experiment")
    from tianshou.highlevel.config import OnPolicyTrainingConfig
    from tianshou.highlevel.env import EnvFactoryRegistered, VectorEnvType
    from tianshou.highlevel.experiment import ExperimentConfig, PPOExperimentBuilder

    experiment = PPOExperimentBuilder(
        EnvFactoryRegistered(task="PG-Follow-v0", venv_type=VectorEnvType.DUMMY),
        ExperimentConfig(seed=0, device="cpu", watch=False, persistence_base_dir=str(tmp_path), log_file_enabled=False),
        OnPolicyTrainingConfig(
            max_epochs=1,
            epoch_num_steps=256,
            num_training_envs=2,
            num_test_envs=1,
            collection_step_num_env_steps=128,
            batch_size=64,
            update_step_num_repetitions=1,
            test_step_num_episodes=1,
            buffer_size=256,
        ),
    ).build()
    result = experiment.run()
    assert result.trainer_result is not None and result.trainer_result.train_step >= 1
