"""The tutorial's example challenge, copied outside the repository and known only through PROGRESSGYM_PLUGINS,
runs through every tool: gym.make, gym.make_vec (native), SB3 PPO in SubprocVecEnv workers, and the
``progressgym`` commands train, benchmark, leaderboard, site and export (docs/custom_challenges.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "import sys; from progressgym_env.cli import main; sys.exit(main())"]

pytestmark = pytest.mark.slow

GYM_AND_SB3 = """
import gymnasium as gym
import numpy as np
import progressgym_env  # registers the built-ins, then imports the plugins PROGRESSGYM_PLUGINS names
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import SubprocVecEnv

env = gym.make("PG-Anticipate-v0")
env.reset(seed=0)
steps = 0
while True:
    *_, terminated, _, info = env.step(env.action_space.sample())
    steps += 1
    if terminated:
        break
vec = gym.make_vec("PG-Anticipate-v0", num_envs=4)
vec.reset(seed=0)


def make_env():
    import gymnasium as gym
    import progressgym_env  # noqa: F401  (a fresh worker process: the plugin comes from the env var)

    return gym.make("PG-Anticipate-v0")


workers = SubprocVecEnv([make_env, make_env])
model = PPO("MlpPolicy", workers, n_steps=16, batch_size=32, n_epochs=1, seed=0).learn(64)
workers.close()
print(steps, type(vec).__name__, model.num_timesteps, info["final_score"])
"""


def _run(args: list[str], env: dict[str, str], cwd: Path) -> str:
    out = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{args[3:]} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def test_the_example_plugin_runs_through_every_tool(tmp_path: Path) -> None:
    plugin_dir = tmp_path / "my_challenges"  # outside the repository
    plugin_dir.mkdir()
    shutil.copy(REPO / "examples" / "anticipate.py", plugin_dir / "anticipate.py")
    env = {k: v for k, v in os.environ.items() if k != "PROGRESSGYM_PLUGINS"}
    env.update(PROGRESSGYM_PLUGINS="anticipate", PYTHONPATH=str(plugin_dir), WANDB_MODE="offline",
               MPLBACKEND="Agg", WANDB_SILENT="true")
    work = tmp_path / "work"
    work.mkdir()

    steps, vector_class, timesteps, _ = _run([sys.executable, "-c", GYM_AND_SB3], env, work).split()
    assert (steps, vector_class, timesteps) == ("6", "AnticipateVectorEnv", "64")

    _run([*CLI, "train", "--env", "anticipate", "--total-timesteps", "1024", "--validation-episodes", "2",
          "--out", str(work / "ppo"), "--no-progress-bar"], env, work)
    assert (work / "ppo" / "model.zip").is_file()

    _run([*CLI, "benchmark", "--challenges", "anticipate", "--agents", f"static,lifelong,ppo=ppo:{work}/ppo/model.zip",
          "--seeds", "2", "--out", str(work / "bench"), "--no-wandb"], env, work)
    runs = json.loads((work / "bench" / "results.json").read_text())["runs"]
    assert sorted({r["agent"] for r in runs}) == ["lifelong", "ppo", "static"]
    assert {r["challenge"] for r in runs} == {"anticipate"} and len(runs) == 6
    for run in runs:  # the score is the mean cosine to the mean of the next two centuries
        human, model = np.array(run["episode_record"]["human"]), np.array(run["episode_record"]["model"])
        targets = (human[2:8] + human[3:9]) / 2
        cosines = (targets * model).sum(1) / (np.linalg.norm(targets, axis=1) * np.linalg.norm(model, axis=1))
        assert run["final_score"] == pytest.approx(cosines.mean(), abs=1e-12)

    board = _run([*CLI, "leaderboard", str(work / "bench")], env, work)
    assert "PG-Anticipate" in board and "lifelong" in board
    _run([*CLI, "site", str(work / "bench"), "--out", str(work / "site")], env, work)
    page = (work / "site" / "index.html").read_text()
    assert "PG-Anticipate" in page and "mean(H_{t+1}, H_{t+2})" in page
    _run([*CLI, "export", str(work / "bench"), "--out", str(work / "exported")], env, work)
    exported = sorted((work / "exported").glob("anticipate__*.json"))
    assert len(exported) == 6
    reimported = _run([*CLI, "leaderboard", str(work / "exported")], env, work)
    assert "PG-Anticipate" in reimported
    first = json.loads(exported[0].read_text())
    human = np.array(first["progressgym_env"]["human"])
    np.testing.assert_allclose(first["actual_vector"], (human[2:8] + human[3:9]) / 2)
