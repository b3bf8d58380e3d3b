"""``import progressgym_env`` and surrogate episodes stay light: no deep-learning, plotting or tracking stack.

The environments need gymnasium and numpy only (the package's core dependencies); the llm backend,
rendering, SB3 agents and wandb are optional extras imported when used. A fresh interpreter (a
subprocess, so the test process's own imports do not count) imports the package, runs one full
episode of every challenge through ``gym.make`` and a few steps of ``gym.make_vec``, and reports which
heavy top-level packages ended up in ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "matplotlib", "wandb", "trl", "peft", "datasets", "accelerate",
         "stable_baselines3", "jax", "jaxlib", "flax", "optax", "gymnax", "numba", "pyarrow", "duckdb",
         "pettingzoo", "supersuit", "statsmodels", "sklearn", "minari", "torchrl", "tensordict")
"""Top-level packages a surrogate episode must not import."""

_SCRIPT = f"""
import json, sys
import gymnasium as gym
import progressgym_env
import progressgym_env.benchmark  # the main job's modules: the results store's pyarrow loads when a benchmark runs

for env_id in ("PG-Follow-v0", "PG-Predict-v0", "PG-Coevolve-v0"):
    env = gym.make(env_id)
    env.reset(seed=0)
    terminated = steps = 0
    while not terminated:
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        steps += 1
    assert "final_score" in info and steps >= 1, (env_id, steps)
    env.close()
    vec = gym.make_vec(env_id, num_envs=3)
    vec.reset(seed=0)
    for _ in range(steps + 1):  # past the end: autoreset runs too
        vec.step(vec.action_space.sample())
    vec.close()
calibrated = gym.make("PG-Follow-v0", history="procedural-moral19", backend_config={{"calibration": "tiny-world"}})
calibrated.reset(seed=0)
calibrated.step(calibrated.action_space.sample() * 0.5)
gym.make_vec("PG-Follow-v0", num_envs=2, history="procedural-moral19",
             backend_config={{"calibration": "tiny-world"}}).reset(seed=0)
society = gym.make("PG-Society-v0", num_ais=2, num_groups=4)  # its Gymnasium form needs no pettingzoo
society.reset(seed=0)
terminated = False
while not terminated:
    _, _, terminated, _, info = society.step(society.action_space.sample())
assert info["final_score"] > 0
from progressgym_env.seed_schedule import SeedSchedule  # what an offline dataset's eval env spec names

scheduled = SeedSchedule(gym.make("PG-Follow-v0", history="procedural"), first_seed=10_000, count=2)
scheduled.reset()
scheduled.step(scheduled.action_space.sample())
import agents.offline  # the offline package itself loads neither minari nor torch
loaded = sorted({{name.split(".")[0] for name in sys.modules}} & set({HEAVY!r}))
print(json.dumps(loaded))
"""


def test_import_and_surrogate_episodes_import_no_heavy_package() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == [], f"a surrogate episode imported {loaded}; import them lazily where they are used"
    # (a calibrated surrogate too: the calibration file is read with numpy; the fit libraries stay out)

