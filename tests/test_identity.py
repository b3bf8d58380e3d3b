"""A run's identity: one canonical hash of everything that changes its numbers (issue 24.1)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from progressgym_env.benchmark.identity import canonical, canonical_hash, run_identity, settings_identity

FIXTURE = Path(__file__).parent / "data" / "results_before_identity.json"


def _run(**changes: object) -> dict[str, object]:
    run = json.loads(FIXTURE.read_text())["runs"][0]
    run.update(changes)
    return run


def test_canonical_form_normalises_types_not_values() -> None:
    @dataclass
    class Config:
        capacity: float
        names: tuple[str, ...]

    assert canonical(Config(2.0, ("a",))) == {"capacity": 2, "names": ["a"]}
    assert canonical({"b": np.float32(0.5), "a": np.int64(3), 1: np.array([1.5, 2.0])}) == \
        {"b": 0.5, "a": 3, "1": [1.5, 2]}
    assert canonical([float("nan"), float("inf"), True, None]) == ["nan", "inf", True, None]
    assert canonical_hash({"x": 1, "y": [1.0]}) == canonical_hash({"y": [1], "x": 1.0})  # order, 1 == 1.0
    assert canonical_hash({"x": 0.1}) != canonical_hash({"x": 0.1 + 1e-16})  # floats compared exactly
    assert canonical_hash({"x": True}) != canonical_hash({"x": 1})
    with pytest.raises(TypeError, match="no canonical"):
        canonical({"x": object()})
    deep: list[object] = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(TypeError, match="nesting"):
        canonical(deep)


def test_every_setting_that_changes_the_numbers_changes_the_identity() -> None:
    base = _run()
    kwargs = dict(base["kwargs"])  # type: ignore[call-overload]
    changed = [
        _run(kwargs={**kwargs, "query_budget": 64}),
        _run(kwargs={**kwargs, "backend_config": {"capacity": 0.5}}),
        _run(kwargs={**kwargs, "similarity": "centered"}),
        _run(kwargs={**kwargs, "backend": "llm"}),
        _run(agent_config={**base["agent_config"], "capacity": 0.5}),  # type: ignore[dict-item]
        _run(agent="lifelong-b"), _run(challenge="predict1"), _run(env_id="PG-Predict-v0"),
        _run(history="procedural"), _run(seed=7), _run(model_sha256="ab" * 32),
    ]
    identities = {run_identity(base)} | {run_identity(r) for r in changed}
    assert len(identities) == len(changed) + 1
    # scores, timestamps and wandb folders are results, not settings
    assert run_identity(_run(final_score=0.0, created="x", wandb_dir="y")) == run_identity(base)
    assert settings_identity(_run(seed=7)) == settings_identity(base)
    assert run_identity(_run(model_sha256=None)) == run_identity(_run(model_sha256=""))


def test_the_identity_of_a_stored_run_is_pinned() -> None:
    """The definition must not drift silently: a changed identity makes every stored run count as new."""
    assert run_identity(_run()) == "19bddde5e5d1ce3af3ce4fa9bd9d13c7bb987afa12a5548d7a2bf714af8745c4"
