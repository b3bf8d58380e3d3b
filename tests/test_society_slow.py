"""PG-Society with the multi-agent RL tools, unchanged (slow tier).

- SuperSuit + Stable-Baselines3: PettingZoo's ``pettingzoo_env_to_vec_env_v1`` turns the society's M AIs
  into M rows of one vector env, so one PPO policy is shared by every AI (parameter sharing); the saved
  model then plays every AI in ``progressgym benchmark`` (one copy per AI).
- RLlib: ``ParallelPettingZooEnv`` (RLlib's own wrapper) + multi-agent PPO with one policy per AI, in the
  RLlib venv of tests/test_ray_envs.py (RLlib pins an older Gymnasium than this package's venv).
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from progressgym_env import society

pytestmark = pytest.mark.slow


@pytest.mark.slow
def test_supersuit_sb3_ppo_with_parameter_sharing_trains_and_plays_in_the_benchmark(tmp_path: Path) -> None:
    ss = pytest.importorskip("supersuit")
    sb3 = pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.utils import set_random_seed

    from progressgym_env.benchmark.results import load_results
    from progressgym_env.cli import main

    kwargs = {"num_ais": 2, "num_groups": 8, "usage": "adaptive", "history": "procedural"}
    vec = ss.concat_vec_envs_v1(ss.pettingzoo_env_to_vec_env_v1(society.parallel_env(**kwargs)), 2, num_cpus=0,
                                base_class="stable_baselines3")
    assert vec.num_envs == 4  # 2 societies x 2 AIs, one shared policy
    set_random_seed(0)
    vec.venv.reset(seed=0)  # SuperSuit's ConcatVecEnv has no seed(): seeding through reset keeps runs alike
    model = sb3.PPO("MlpPolicy", vec, n_steps=32, batch_size=64, n_epochs=1, device="cpu")
    model.learn(256)
    assert model.num_timesteps == 256
    path = tmp_path / "model.zip"
    model.save(path)
    out = tmp_path / "bench"
    code = main(["benchmark", "--agents", f"shared=ppo:{path},lifelong", "--challenges", "society_m2_g8_adaptive",
                 "--seeds", "2", "--out", str(out), "--wandb", "false", "--plots", "false", "--progress", "false"])
    assert code == 0
    runs = load_results(out / "results.json")
    shared = [run for run in runs if run["agent"] == "shared"]
    assert len(shared) == 2 and shared[0]["agent_config"]["actors"] == 2
    record = shared[0]["episode_record"]
    assert np.shape(record["ai_models"]) == (8, 2, 5) and np.shape(record["group_usage"]) == (9, 8, 2)
    assert "PG-Society (M=2, G=8, adaptive)" in (out / "leaderboard.md").read_text()
    assert main(["site", str(out), "--out", str(tmp_path / "site")]) == 0
    assert "PG-Society (M=2, G=8, adaptive)" in (tmp_path / "site" / "index.html").read_text(encoding="utf-8")


RLLIB_SCRIPT = textwrap.dedent(
    """
    import json, time
    start = time.perf_counter()
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
    from ray.tune.registry import register_env
    from progressgym_env import society

    register_env("pg_society", lambda config: ParallelPettingZooEnv(society.parallel_env(**config)))
    kwargs = {"num_ais": 2, "num_groups": 8, "usage": "adaptive", "history": "procedural"}
    agents = society.parallel_env(**kwargs).possible_agents
    config = (
        PPOConfig()
        .environment("pg_society", env_config=kwargs)
        .multi_agent(policies=set(agents), policy_mapping_fn=lambda agent_id, *args, **kw: agent_id)
        .env_runners(num_env_runners=1)
        .training(train_batch_size=64, minibatch_size=32, num_epochs=1)
    )
    algo = config.build_algo()
    results = [algo.train() for _ in range(2)]
    runners = algo.env_runner_group.num_remote_env_runners()
    algo.stop()
    last = results[-1]
    print(json.dumps({"steps": last["env_runners"]["num_env_steps_sampled_lifetime"],
                      "learners": sorted(k for k in last.get("learners", {}) if k in agents),
                      "remote_runners": runners,
                      "returns": [r["env_runners"].get("episode_return_mean") for r in results],
                      "seconds": time.perf_counter() - start}))
    """
)


@pytest.mark.slow
def test_rllib_multi_agent_ppo_trains_one_policy_per_ai(tmp_path: Path) -> None:
    from test_ray_envs import rllib_python  # the shared RLlib venv (built on first use, reused after)

    python = rllib_python()
    script = tmp_path / "rllib_society.py"
    script.write_text(RLLIB_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update({"RAY_DEDUP_LOGS": "0", "PYTHONWARNINGS": "ignore", "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0"})
    out = subprocess.run([str(python), str(script)], capture_output=True, text=True, timeout=400, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\nRLlib PG-Society multi-agent PPO: {result}")
    assert result["learners"] == ["ai_0", "ai_1"] and result["remote_runners"] == 1
    assert result["steps"] >= 128  # two iterations of train_batch_size=64
    # Episode return per AI-pair: 8 steps x 2 AIs of progress terms in [0, 1].
    assert all(r is None or 0 < r <= 16 for r in result["returns"])


@pytest.mark.slow
def test_the_throughput_and_study_scripts_run_end_to_end(tmp_path: Path) -> None:
    import sys

    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    env = {**os.environ, "PYTHONPATH": str(bench.parent)}
    out = tmp_path / "throughput.json"
    subprocess.run([sys.executable, str(bench / "society_throughput.py"), "--min-seconds", "0.02", "--repeats", "1",
                    "--batch", "4", "--json", str(out)], check=True, env=env, capture_output=True, timeout=300)
    rows = json.loads(out.read_text())["rows"]
    assert rows[0]["ratio_to_coevolve"] == 1.0 and len(rows) == 6 and all(r["steps_per_s"] > 0 for r in rows)
    study = tmp_path / "study"
    subprocess.run([sys.executable, str(bench / "society_study.py"), "--out", str(study), "--seeds", "2", "--no-ppo"],
                   check=True, env=env, capture_output=True, timeout=300)
    table = json.loads((study / "results.json").read_text())["table"]
    assert len(table) == 15 * 3  # cells x baselines
    assert all(np.isfinite(entry["corpus"]["normalized"][0]) for entry in table)
