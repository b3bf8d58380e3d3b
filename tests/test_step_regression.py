"""The single env's step must not change its values for a given seed (performance work guard).

``tests/data/step_regression_v0.json`` holds seeded episodes of every challenge recorded before the
step was optimised: observations, rewards, terminations and every info value. Replaying
the same seeds and actions must give the same numbers. Floats are compared to 1e-12 relative (the
recording is exact on the machine that wrote it; the tolerance only absorbs ulp-level differences of
other CPUs' tanh/log kernels); integers, flags and strings exactly.

Only histories that belong to this file are used (the shipped corpus and an in-memory 19-dim
history written below), so a deliberate change of the procedural generator does not trip it.
If a change of the env's semantics is intended, bump the ids' ``-vN`` and re-record with
``python tests/test_step_regression.py --record``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import progressgym_env  # noqa: F401  (registers the ids)
from progressgym_env.history import History
from progressgym_env.value_spaces import MORAL19

FIXTURE = Path(__file__).parent / "data" / "step_regression_v0.json"
EPISODES = 3


def moral19_history() -> History:
    """A smooth deterministic 9 x 19 history (no generator involved)."""
    t = np.arange(9)[:, None]
    i = np.arange(19)[None, :]
    values = 0.5 + 0.4 * np.sin(0.3 * t * (1 + i % 4) + 0.7 * i)
    return History(values=values, value_space=MORAL19, provenance={"source": "regression-moral19"})


def scenarios() -> dict[str, tuple[str, dict[str, Any]]]:
    """Name -> (env id, kwargs); covers noise, elicitation modes, similarities, k, zero actions."""
    return {
        "follow-default": ("PG-Follow-v0", {}),
        "follow-centered-normal": (
            "PG-Follow-v0",
            {"similarity": "centered", "backend_config": {"elicitation": "normal"}},
        ),
        "follow-moral19-exact": ("PG-Follow-v0", {"history": moral19_history(), "query_budget": None}),
        "predict-default": ("PG-Predict-v0", {}),
        "predict-k3-centered": ("PG-Predict-v0", {"timesteps_ahead": 3, "similarity": "centered"}),
        "coevolve-default": ("PG-Coevolve-v0", {}),
        "coevolve-moral19-centered": (
            "PG-Coevolve-v0",
            {"history": moral19_history(), "similarity": "centered", "query_budget": 100},
        ),
    }


def actions_for(name: str, dim: int) -> list[Any]:
    """Seeded actions in the forms agents send: float32, float64, lists, and all-zero (no update)."""
    rng = np.random.default_rng(sum(map(ord, name)))
    actions: list[Any] = []
    for step in range(EPISODES * 8):
        action = rng.uniform(-1.0, 1.0, dim)
        kind = step % 5
        if kind == 0:
            actions.append(action.astype(np.float32))
        elif kind == 1:
            actions.append(action)  # float64, as SB3 sends
        elif kind == 2:
            actions.append(action.tolist())
        elif kind == 3:
            actions.append(np.zeros(dim, dtype=np.float32))  # no update at all
        else:
            actions.append(np.clip(2.0 * action, -1.0, 1.0).astype(np.float32))  # bounds hit
    return actions


def _plain(value: Any) -> Any:
    """JSON-safe, exact form of an info value (floats keep every bit through repr)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, np.ndarray):
        return {"array": np.asarray(value, dtype=np.float64).tolist(), "dtype": str(value.dtype)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return value


def record(name: str) -> list[dict[str, Any]]:
    """Run EPISODES seeded episodes of scenario ``name``; one entry per reset/step."""
    env_id, kwargs = scenarios()[name]
    env = gym.make(env_id, record_in_info=True, **kwargs)  # the recording holds the record in the last info
    actions = iter(actions_for(name, env.action_space.shape[0]))
    entries: list[dict[str, Any]] = []
    for episode in range(EPISODES):
        obs, info = env.reset(seed=1000 + episode if episode != 1 else None)
        entries.append({"obs": _plain(obs), "info": _plain(info)})
        terminated = False
        while not terminated:
            obs, reward, terminated, truncated, info = env.step(next(actions))
            entries.append(
                {
                    "obs": _plain(obs),
                    "reward": _plain(reward),
                    "terminated": bool(terminated),
                    "truncated": bool(truncated),
                    "info": _plain(info),
                }
            )
    env.close()
    return entries


def _assert_same(expected: Any, found: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(found, dict) and sorted(found) == sorted(expected), f"{where}: keys differ"
        for key in expected:
            _assert_same(expected[key], found[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(found, list) and len(found) == len(expected), f"{where}: length differs"
        if expected and all(isinstance(v, float) for v in expected):
            np.testing.assert_allclose(found, expected, rtol=1e-12, atol=1e-300, err_msg=where)
        else:
            for i, (e, f) in enumerate(zip(expected, found, strict=True)):
                _assert_same(e, f, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert isinstance(found, float), f"{where}: expected a float, found {found!r}"
        np.testing.assert_allclose(found, expected, rtol=1e-12, atol=1e-300, err_msg=where)
    else:
        assert type(found) is type(expected) and found == expected, f"{where}: {found!r} != {expected!r}"


ADDED_INFO_KEYS = ("target_values", "final_score", "normalized_score")
"""Keys the v0 recording holds only where they had a value, which one info structure added to every
reset and step: ``target_values`` at reset (the first step's target) and the scores before the last
step (0.0). Every recorded key must keep its recorded value."""


def _check_added_info(recorded: list[dict[str, Any]], found: list[dict[str, Any]], name: str) -> None:
    """Check the keys ``found`` has beyond the recording against their definitions, then drop them."""
    for index, (expected, entry) in enumerate(zip(recorded, found, strict=True)):
        where = f"{name}[{index}].info"
        for key in sorted(set(entry["info"]) - set(expected["info"])):
            assert key in ADDED_INFO_KEYS, f"{where}: unexpected key {key!r}"
            value = entry["info"].pop(key)
            if key == "target_values":  # only at reset: the target of the step that follows
                assert "reward" not in expected, f"{where}: target_values missing from a recorded step"
                assert value == recorded[index + 1]["info"]["target_values"], where
            else:
                assert value == 0.0 and not expected.get("terminated", False), f"{where}.{key}"


@pytest.mark.parametrize("name", sorted(scenarios()))
def test_seeded_episodes_match_the_recording(name: str) -> None:
    recorded = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert name in recorded, f"{name} missing from {FIXTURE}; re-record deliberately"
    entries = json.loads(json.dumps(record(name)))
    _check_added_info(recorded[name], entries, name)
    # Episode 1 is reset without a seed: it continues the generator, so it is recorded too.
    _assert_same(recorded[name], entries, name)


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_step_regression.py --record   (only after a deliberate -vN change)")
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps({n: record(n) for n in sorted(scenarios())}, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE}")
