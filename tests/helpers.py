"""Small shared helpers for the core env tests (no fixtures: plain functions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

import progressgym_env  # noqa: F401  (registers the ids)
from progressgym_env.numerics import logit

CHALLENGES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("PG-Follow-v0", {}),
    ("PG-Predict-v0", {}),
    ("PG-Coevolve-v0", {}),
)


def run_episode(
    env: gym.Env, seed: int | None, policy: Callable[[np.ndarray, gym.Env], np.ndarray]
) -> tuple[list[np.ndarray], list[float], list[dict[str, Any]]]:
    """Run one episode; return observations (reset obs first), rewards and infos (reset info first)."""
    obs, info = env.reset(seed=seed)
    observations, rewards, infos = [obs], [], [info]
    terminated = truncated = False
    while not (terminated or truncated):
        obs, reward, terminated, truncated, info = env.step(policy(obs, env))
        observations.append(obs)
        rewards.append(float(reward))
        infos.append(info)
    return observations, rewards, infos


def zero_policy(obs: np.ndarray, env: gym.Env) -> np.ndarray:
    return np.zeros(env.action_space.shape, dtype=np.float32)


def seeded_random_policy(seed: int) -> Callable[[np.ndarray, gym.Env], np.ndarray]:
    rng = np.random.default_rng(seed)
    return lambda obs, env: rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)


def exact_target_policy(capacity: float = 2.0) -> Callable[[np.ndarray, gym.Env], np.ndarray]:
    """Moves the model exactly onto the step's hidden target (needs finetune noise 0)."""

    def act(obs: np.ndarray, env: gym.Env) -> np.ndarray:
        base = env.unwrapped
        target = base.judge.target(base._t)
        return ((logit(target) - logit(base.backend.model_values)) / capacity).astype(np.float32)

    return act


# -- moved from test_faults.py: SIGKILL a benchmark and re-run it (test_runner.py, test_fuzz.py's audit) --

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from progressgym_env.benchmark.results import load_results, run_key

ROOT = Path(__file__).resolve().parents[1]

KILL_SCRIPT = """
import sys
from progressgym_env.benchmark import BenchmarkConfig, run_benchmark
from progressgym_env.benchmark import store
store.ROW_GROUP_RUNS = 40  # one part per agent and challenge (its 40 seeds are one batch): kills fall between parts
run_benchmark(BenchmarkConfig(agents=["static", "lifelong", "random"], challenges=["follow", "coevolve"],
              seeds=40, out=sys.argv[1], plots=False, progress=False, wandb=True))
"""


def _saved_runs(out: Path) -> int:
    """Runs committed to the folder's results store (parts are whole or absent)."""
    import warnings

    from progressgym_env.benchmark.store import ResultsStore

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a part being written is reported while the benchmark runs
        return ResultsStore(out).count()


def _stored_runs(out: Path) -> list[dict[str, Any]]:
    from progressgym_env.benchmark.store import ResultsStore

    return list(ResultsStore(out).runs())


def _kill_when(out: Path, ready: Any) -> None:
    """Start a benchmark subprocess (offline wandb) and SIGKILL it as soon as ``ready(out)`` holds."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DISABLE_WEAVE": "true"}
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(out), "1"], cwd=ROOT, env=env)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None and not ready(out):
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()


KILL_POINTS = {
    "before any run is saved": lambda out: (out / "benchmark_config.json").exists(),
    "first runs saved": lambda out: _saved_runs(out) >= 1,
    "most runs saved": lambda out: _saved_runs(out) >= 150,
    "mid wandb logging": lambda out: len(list((out / "wandb").glob("offline-run-*"))) >= 2,
}


def kill_and_resume(out: Path, point: str) -> str:
    """SIGKILL a benchmark at ``point``, re-run it; ``"accepted"`` if nothing was lost or duplicated, else
    ``"data_lost"`` (the fault audit's classes; the assertions of the test below say which check failed)."""
    try:
        check_kill_and_resume(out, point)
    except AssertionError:
        return "data_lost"
    return "accepted"


def check_kill_and_resume(out: Path, point: str) -> None:
    _kill_when(out, KILL_POINTS[point])
    saved = _stored_runs(out)
    finished = [f for f in (out / "wandb").glob("offline-run-*") if (f / "progressgym-logged.json").is_file()]
    assert len(saved) < 240 or len(finished) < 6, "the benchmark finished before the kill"
    subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(out), "1"], cwd=ROOT, check=True,
                   env={**os.environ, "WANDB_MODE": "offline", "WANDB_DISABLE_WEAVE": "true"})
    runs = load_results(out / "results.json")
    keys = [run_key(r) for r in runs]
    assert len(keys) == len(set(keys)) == 3 * 2 * 40  # every planned run, once
    for before in saved:  # nothing saved before the kill was lost or changed
        match = next(r for r in runs if run_key(r) == run_key(before))
        assert match["final_score"] == before["final_score"]
    dirs = sorted(d.name.rsplit("-", 1)[-1] for d in (out / "wandb").glob("offline-run-*"))
    assert len(dirs) == len(set(dirs))  # no wandb run id twice
    logged: dict[tuple[Any, ...], Path] = {}
    for folder in (out / "wandb").glob("offline-run-*"):
        marker = folder / "progressgym-logged.json"
        assert marker.is_file(), f"{folder} was left unfinished"
        for key in json.loads(marker.read_text())["runs"]:
            assert tuple(key) not in logged, f"run {key} logged twice"
            logged[tuple(key)] = folder
    assert set(logged) == {tuple(k) for k in keys}  # every saved result logged exactly once
    assert all(Path(r["wandb_dir"]).name in {f.name for f in logged.values()} for r in runs)
