"""Performance work must not change a single bit of the envs' output for a seed (single and vector envs).

``tests/data/step_digests_v0.json`` holds SHA-256 digests of everything seeded runs return (every
observation, reward, flag and info array, as raw bytes), recorded from the tree before the numpy-floor
optimisations: the single env of every challenge over many seeds (the scenarios of
``test_step_regression.py``: noise, zero actions, both similarities, both elicitation methods, Predict's
k, 19 dims), the native vector env in exact mode across autoresets (every challenge), and in fast mode
where its draws are meant to stay the same (Follow and Predict on the fixed history, whose answers come
from the binomial table; Coevolve's fast mode draws from the grid sampler since, tested by distribution).

Digests compare bits, and tanh/log/exp kernels may round differently on another CPU or numpy build:
the fixture also holds the digest of those kernels on a fixed input, and where this machine's differs
the test skips (``test_step_regression.py`` then still compares values to 1e-12 there).

Re-record only after a deliberate change of the envs' numbers: ``python tests/test_step_digests.py --record``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_step_regression import actions_for, scenarios  # noqa: E402

import progressgym_env  # noqa: E402,F401  (registers the ids)

FIXTURE = Path(__file__).parent / "data" / "step_digests_v0.json"
SINGLE_SEEDS = 20
"""Seeded episodes per single-env scenario (each followed by one unseeded episode)."""
VECTOR_STEPS = 30
"""Vector steps per run (three episodes and their autoresets)."""


def kernel_digest() -> str:
    """The bits of numpy's transcendental kernels on a fixed input (what differs between CPUs)."""
    x = np.linspace(-30.0, 30.0, 20_001)
    digest = hashlib.sha256()
    for values in (np.tanh(x), np.log(np.abs(x) + 1e-3), np.exp(x / 3.0), np.log1p(np.abs(x)), np.sqrt(np.abs(x))):
        digest.update(values.tobytes())
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    """Hash a returned value exactly: arrays by dtype, shape and bytes; dicts by sorted key."""
    if isinstance(value, dict):
        for key in sorted(value):
            digest.update(str(key).encode())
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        for item in value:
            _feed(digest, item)
    elif isinstance(value, (np.ndarray, np.generic)) and value.dtype != object:
        array = np.asarray(value)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    elif isinstance(value, np.ndarray):
        _feed(digest, value.tolist())
    elif isinstance(value, float):
        digest.update(b"f" + np.float64(value).tobytes())
    else:
        digest.update(repr(value).encode())


def single_digest(name: str) -> str:
    """All outputs of SINGLE_SEEDS seeded (and as many unseeded) episodes of scenario ``name``."""
    env_id, kwargs = scenarios()[name]
    env = gym.make(env_id, record_in_info=True, **kwargs)
    dim = env.action_space.shape[0]
    base_actions = actions_for(name, dim)
    digest = hashlib.sha256()
    for seed in range(SINGLE_SEEDS):
        actions = iter(base_actions * 4)
        for episode_seed in (seed, None):
            _feed(digest, env.reset(seed=episode_seed))
            terminated = False
            while not terminated:
                step = env.step(next(actions))
                _feed(digest, step)
                terminated = bool(step[2])
    env.close()
    return digest.hexdigest()


VECTOR_RUNS: dict[str, tuple[str, dict[str, Any]]] = {
    "follow-exact": ("PG-Follow-v0", {"rng_mode": "exact"}),
    "predict-k2-exact": ("PG-Predict-v0", {"rng_mode": "exact", "timesteps_ahead": 2}),
    "coevolve-exact": ("PG-Coevolve-v0", {"rng_mode": "exact"}),
    "coevolve-exact-centered": ("PG-Coevolve-v0", {"rng_mode": "exact", "similarity": "centered"}),
    "follow-procedural-exact": ("PG-Follow-v0", {"rng_mode": "exact", "history": "procedural"}),
    "follow-fast": ("PG-Follow-v0", {}),
    "predict-fast": ("PG-Predict-v0", {}),
    "follow-fast-records": ("PG-Follow-v0", {"record_in_info": True}),
}


def vector_digest(name: str, num_envs: int = 16) -> str:
    """All outputs of VECTOR_STEPS steps of vector run ``name`` (some rows with all-zero actions)."""
    env_id, kwargs = VECTOR_RUNS[name]
    envs = gym.make_vec(env_id, num_envs=num_envs, **kwargs)
    rng = np.random.default_rng(7)
    digest = hashlib.sha256()
    _feed(digest, envs.reset(seed=3))
    for step in range(VECTOR_STEPS):
        actions = rng.uniform(-1.0, 1.0, (num_envs, envs.single_action_space.shape[0])).astype(np.float32)
        if step % 3 == 1:
            actions[::5] = 0.0  # rows that do not update (the merge path)
        _feed(digest, envs.step(actions))
    envs.close()
    return digest.hexdigest()


def record_all() -> dict[str, Any]:
    return {
        "kernels": kernel_digest(),
        "single": {name: single_digest(name) for name in sorted(scenarios())},
        "vector": {name: vector_digest(name) for name in sorted(VECTOR_RUNS)},
    }


def _recorded() -> dict[str, Any]:
    recorded = json.loads(FIXTURE.read_text(encoding="utf-8"))
    if recorded["kernels"] != kernel_digest():
        pytest.skip("numpy's tanh/log/exp round differently on this machine than where the digests were recorded")
    return recorded


@pytest.mark.parametrize("name", sorted(scenarios()))
def test_single_env_outputs_are_bit_for_bit_the_recorded_ones(name: str) -> None:
    assert single_digest(name) == _recorded()["single"][name], f"{name}: the single env's output changed"


@pytest.mark.parametrize("name", sorted(VECTOR_RUNS))
def test_vector_env_outputs_are_bit_for_bit_the_recorded_ones(name: str) -> None:
    assert vector_digest(name) == _recorded()["vector"][name], f"{name}: the vector env's output changed"


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_step_digests.py --record   (only after a deliberate change of the numbers)")
    FIXTURE.write_text(json.dumps(record_all(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE}")
