"""The tutorial's example challenge, copied outside the repository and known only through PROGRESSGYM_PLUGINS,
runs through every tool: gym.make, gym.make_vec (native), SB3 PPO in SubprocVecEnv workers, and the
``progressgym`` commands train, benchmark, leaderboard, site and export (docs/custom_challenges.md)."""

from __future__ import annotations

import json
import os
import re
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
    steps, vector_class, timesteps, _ = _run([sys.executable, "-c", GYM_AND_SB3], env, tmp_path).split()
    assert (steps, vector_class, timesteps) == ("6", "AnticipateVectorEnv", "64")

    # The tutorial's command block, as written (only the repository path filled in).
    text = (REPO / "docs" / "custom_challenges.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    _run(["bash", "-euo", "pipefail", "-c", block.replace("/path/to/repo", str(REPO))], env, plugin_dir)
    work = plugin_dir / "results"
    assert (plugin_dir / "runs" / "anticipate-ppo" / "model.zip").is_file()
    runs = json.loads((work / "anticipate" / "results.json").read_text())["runs"]
    assert sorted({r["agent"] for r in runs}) == ["extrapolative-1", "lifelong", "ppo", "static"]
    assert {r["challenge"] for r in runs} == {"anticipate"} and len(runs) == 12
    for run in runs:  # the score is the mean cosine to the mean of the next two centuries
        human, model = np.array(run["episode_record"]["human"]), np.array(run["episode_record"]["model"])
        targets = (human[2:8] + human[3:9]) / 2
        cosines = (targets * model).sum(1) / (np.linalg.norm(targets, axis=1) * np.linalg.norm(model, axis=1))
        assert run["final_score"] == pytest.approx(cosines.mean(), abs=1e-12)

    page = (work / "anticipate-site" / "index.html").read_text()
    assert "PG-Anticipate" in page and "mean(H_{t+1}, H_{t+2})" in page
    exported = sorted((work / "anticipate-progressgym").glob("anticipate__*.json"))
    assert len(exported) == 12
    reimported = _run([*CLI, "leaderboard", str(work / "anticipate-progressgym")], env, plugin_dir)
    assert "PG-Anticipate" in reimported and "lifelong" in reimported
    first = json.loads(exported[0].read_text())
    human = np.array(first["progressgym_env"]["human"])
    np.testing.assert_allclose(first["actual_vector"], (human[2:8] + human[3:9]) / 2)
