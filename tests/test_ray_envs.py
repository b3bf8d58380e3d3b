"""RLlib finds the ProgressGym ids in its remote env runners (Ray Tune's registry), and old Gymnasium via the entry point.

The fast tests pin the parts: the import hook that registers once Ray Tune is imported, the creator
shipped to workers, and the ``gymnasium.envs`` entry point. The slow test builds a separate venv with
RLlib (which pins an older Gymnasium than this package's venv, so it cannot share it), then runs
``PPOConfig().environment("PG-Follow-v0")`` unchanged, with RLlib's default remote env runners, for two
training iterations: once importing the package before Ray, once after, and once without importing it
at all (``"progressgym_env:PG-Follow-v0"``).
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import gymnasium as gym
import pytest

import progressgym_env
from progressgym_env import ray_envs
from progressgym_env.ray_envs import _AfterImport, make_env

REPO = Path(__file__).resolve().parents[1]
RLLIB_VENV_ENV_VAR = "PROGRESSGYM_RLLIB_VENV"
"""Where the slow test keeps its RLlib venv (default: ``.venv-rllib`` in the repository); reused while its
requirements are unchanged."""
RLLIB_REQUIREMENTS = ("ray[rllib]==2.60.0", "torch==2.13.0", "pettingzoo==1.27.0")
"""pettingzoo for PG-Society's multi-agent PPO (tests/test_society_slow.py), which shares this venv."""


def test_the_hook_runs_once_after_the_watched_module_is_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pg_watched_module.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen: list[int] = []
    hook = _AfterImport("pg_watched_module", lambda: seen.append(sys.modules["pg_watched_module"].VALUE))
    monkeypatch.setattr(sys, "meta_path", [hook, *sys.meta_path])
    import pg_watched_module  # noqa: F401  (the import the hook waits for)

    assert seen == [42]  # after the module ran, with the module complete
    assert hook not in sys.meta_path  # steps aside
    assert type(sys.modules["pg_watched_module"].__loader__).__name__ == "SourceFileLoader"  # the real loader
    monkeypatch.delitem(sys.modules, "pg_watched_module")


def test_the_hook_registers_at_once_when_ray_tune_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    registered: list[tuple[str, ...]] = []
    monkeypatch.setattr(ray_envs, "register_with_ray_tune", lambda ids: registered.append(tuple(ids)))
    monkeypatch.setitem(sys.modules, ray_envs.TUNE_REGISTRY, object())
    ray_envs.install_ray_tune_hook()
    assert registered == [ray_envs.registered_ids()] and set(progressgym_env.ENV_IDS) <= set(registered[0])


def test_import_installs_one_hook_and_imports_no_ray() -> None:
    code = ("import sys, progressgym_env, progressgym_env as p; from progressgym_env.ray_envs import _AfterImport; "
            "p.ray_envs.install_ray_tune_hook(); "
            "print(sum(isinstance(f, _AfterImport) for f in sys.meta_path), 'ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.stdout.split() == ["1", "False"]


def test_the_creator_shipped_to_workers_pickles_by_reference_and_builds_envs() -> None:
    creator = pickle.loads(pickle.dumps(functools.partial(make_env, "PG-Predict-v0")))
    env = creator({"timesteps_ahead": 2, "history": "procedural"})
    assert env.spec is not None and env.spec.id == "PG-Predict-v0"
    assert env.unwrapped.timesteps_ahead == 2
    vector = creator({"num_envs": 3})  # RLlib's gym_env_vectorize_mode="vector_entry_point"
    assert vector.num_envs == 3 and type(vector.unwrapped).__name__ == "PredictVectorEnv"
    assert b"make_env" in pickle.dumps(functools.partial(make_env, "PG-Follow-v0"))  # no code, a reference


def test_the_gymnasium_entry_point_registers_the_ids_without_a_namespace() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    entry = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]["gymnasium.envs"]
    assert list(entry) == ["__root__"]  # Gymnasium < 1.0 wraps any other name in a namespace ("name/PG-...")
    module, attr = entry["__root__"].split(":")
    register = getattr(__import__(module, fromlist=[attr]), attr)
    saved = {i: gym.registry.pop(i) for i in progressgym_env.ENV_IDS}
    try:
        register()
        assert all(i in gym.registry for i in progressgym_env.ENV_IDS)
    finally:
        gym.registry.update(saved)


# ------------------------------------------------------------------------------------------ RLlib, slow

RLLIB_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    start = time.perf_counter()
    mode = sys.argv[1]
    if mode == "package-first":
        import progressgym_env  # noqa: F401
    from ray.rllib.algorithms.ppo import PPOConfig
    if mode == "ray-first":
        import progressgym_env  # noqa: F401
    env_id = "progressgym_env:PG-Follow-v0" if mode == "no-import" else "PG-Follow-v0"
    assert mode != "no-import" or "progressgym_env" not in sys.modules
    config = PPOConfig().environment(env_id).training(train_batch_size=64, minibatch_size=32, num_epochs=1)
    algo = config.build_algo()
    results = [algo.train() for _ in range(2)]
    runners = algo.env_runner_group.num_remote_env_runners()
    algo.stop()
    steps = results[-1]["env_runners"]["num_env_steps_sampled_lifetime"]
    returns = [r["env_runners"].get("episode_return_mean") for r in results]
    print(json.dumps({"steps": steps, "returns": returns, "remote_runners": runners,
                      "seconds": time.perf_counter() - start}))
    """
)


def rllib_python() -> Path:
    """The RLlib venv's Python, built on first use (``python -m venv`` + pip, CPU torch pinned)."""
    venv = Path(os.environ.get(RLLIB_VENV_ENV_VAR) or REPO / ".venv-rllib")
    python = venv / "bin" / "python"
    marker = venv / "progressgym-requirements.json"
    wanted = {"requirements": list(RLLIB_REQUIREMENTS), "repo": str(REPO)}
    if marker.is_file() and json.loads(marker.read_text()) == wanted and python.exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-c", str(REPO / "constraints.txt"),
                    *RLLIB_REQUIREMENTS, "-e", str(REPO)], check=True)
    marker.write_text(json.dumps(wanted))
    return python


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["package-first", "ray-first", "no-import"])
def test_rllib_default_ppo_config_trains_with_remote_env_runners(mode: str, tmp_path: Path) -> None:
    start = time.perf_counter()
    python = rllib_python()
    built = time.perf_counter() - start
    script = tmp_path / "rllib_ppo.py"
    script.write_text(RLLIB_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update({"RAY_DEDUP_LOGS": "0", "PYTHONWARNINGS": "ignore", "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0"})
    out = subprocess.run([str(python), str(script), mode], capture_output=True, text=True, timeout=400,
                         cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\nRLlib {mode}: venv {built:.0f} s, training {result['seconds']:.0f} s, {result}")
    assert result["remote_runners"] >= 1  # RLlib's default: envs built in remote workers only
    assert result["steps"] >= 128  # two iterations of train_batch_size=64 were sampled and trained
    assert all(r is None or -10 < r < 10 for r in result["returns"])


def test_a_challenge_registered_after_ray_tune_loaded_joins_its_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    from progressgym_env import Judge, registry

    registered: list[tuple[str, ...]] = []
    monkeypatch.setattr(ray_envs, "register_with_ray_tune", lambda ids: registered.append(tuple(ids)))
    monkeypatch.setitem(sys.modules, ray_envs.TUNE_REGISTRY, object())
    monkeypatch.setattr(registry, "_CHALLENGES", dict(registry._CHALLENGES))
    monkeypatch.setattr(registry, "_VARIANTS", dict(registry._VARIANTS))

    class LateJudge(Judge):
        challenge = "late"

    try:
        registry.register_challenge(LateJudge, env_id="PG-Late-v0")
        assert registered == [("PG-Late-v0",)]
    finally:
        gym.registry.pop("PG-Late-v0", None)
