"""Batched episodes (benchmark/batched.py, EpisodeWorker.run_group): each seed's run equals, bit for bit, the
run the single env plays for that seed; what cannot be batched falls back to one episode at a time."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agents.registry import BASELINES
from progressgym_env.benchmark.batched import native_vector_env_id
from progressgym_env.benchmark.challenges import default_challenges, get_challenge
from progressgym_env.benchmark.executors import EpisodeGroup, EpisodePlan, EpisodeWorker
from progressgym_env.benchmark.identity import run_identity
from progressgym_env.benchmark.store_schema import runs_of

SEEDS = (3, 0, 7)
"""Out of order and not from 0: sub-env i must get seed i's generator, not first_seed + i."""


def _plan(history: str = "corpus") -> EpisodePlan:
    return EpisodePlan(history, "surrogate", {
        key: (get_challenge(key).env_id, {**get_challenge(key).kwargs, "history": history, "backend": "surrogate",
                                          "query_budget": 512})
        for key in default_challenges()})


def _without_time(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if k != "created"}


def _batched_and_single(worker: EpisodeWorker, group: EpisodeGroup) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    assert worker.batchable(group)
    finished = list(worker.run_group(group, batch_size=2))  # two batches: 2 seeds, then 1
    assert [f.rows for f in finished] == [2, 1]
    batched = [run for f in finished for run in runs_of(f.table)]
    single = [worker.run(task) for task in group.tasks()]
    return batched, single


@pytest.mark.parametrize("challenge", default_challenges())
def test_every_baseline_batched_equals_its_single_env_runs(challenge: str) -> None:
    worker = EpisodeWorker(_plan())
    try:
        for agent in BASELINES:
            group = EpisodeGroup(challenge, agent, agent, SEEDS)
            batched, single = _batched_and_single(worker, group)
            assert [_without_time(r) for r in batched] == [_without_time(r) for r in single], f"{agent} on {challenge}"
            # the stored identity column is the single run's identity
            keys = [k.as_py() for f in worker.run_group(group) for k in f.table.column("key")]
            assert keys == [run_identity(r) for r in single]
    finally:
        worker.close()


def test_procedural_histories_batch_bit_for_bit_too() -> None:
    worker = EpisodeWorker(_plan("procedural"))
    try:
        for agent in ("extrapolative-2", "oracle"):
            batched, single = _batched_and_single(worker, EpisodeGroup("coevolve", agent, agent, SEEDS))
            assert [_without_time(r) for r in batched] == [_without_time(r) for r in single]
            assert batched[0]["episode_record"]["human"] != batched[1]["episode_record"]["human"]  # one history each
    finally:
        worker.close()


def test_an_agent_that_cannot_batch_plays_one_episode_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from agents.baselines import LifelongAgent

    monkeypatch.setattr(LifelongAgent, "batched", False)
    worker = EpisodeWorker(_plan())
    try:
        group = EpisodeGroup("follow", "lifelong", "lifelong", SEEDS)
        assert not worker.batchable(group)
        finished = list(worker.run_group(group))
        assert [f.rows for f in finished] == [1, 1, 1]
        runs = [run for f in finished for run in runs_of(f.table)]
        assert [_without_time(r) for r in runs] == [_without_time(worker.run(t)) for t in group.tasks()]
    finally:
        worker.close()


def test_whether_a_group_batches_is_the_registrys_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The backend's native_vector flag and the challenge's vector entry point decide, not their names."""
    import dataclasses

    from progressgym_env import registry

    assert native_vector_env_id("surrogate", "PG-Follow-v0")
    assert not native_vector_env_id("llm", "PG-Follow-v0")
    monkeypatch.setitem(registry._BACKENDS, "surrogate",
                        dataclasses.replace(registry.backend_spec("surrogate"), native_vector=False))
    assert not native_vector_env_id("surrogate", "PG-Follow-v0")
    monkeypatch.undo()
    follow = registry.challenge_spec("follow")
    monkeypatch.setitem(registry._CHALLENGES, "follow", dataclasses.replace(follow, vector_entry_point=None))
    assert not native_vector_env_id("surrogate", "PG-Follow-v0")


def test_batched_agents_check_shapes_and_others_refuse_batches() -> None:
    import gymnasium as gym

    from agents.base import Agent
    from agents.registry import make_agent
    from progressgym_env.errors import ConfigError

    env = gym.make("PG-Follow-v0")
    with pytest.raises(ConfigError, match=r"shape \(N, 11\)"):
        make_agent("lifelong", env).act_batch(np.zeros((4, 10)))

    class OneAtATime(Agent):
        def act(self, obs: np.ndarray) -> np.ndarray:
            return np.zeros(self.spec.dim, dtype=np.float32)

    agent = OneAtATime(make_agent("static", env).spec)
    with pytest.raises(NotImplementedError, match="one episode at a time"):
        agent.reset_batch([0])
    with pytest.raises(NotImplementedError, match="one episode at a time"):
        agent.act_batch(np.zeros((1, 11)))


@pytest.mark.slow
def test_sb3_policies_act_on_batches_but_the_runner_plays_them_alone() -> None:
    """(N, obs) -> (N, d) in one predict, within float32 rounding of the one-row actions; not bit for bit
    (torch's batched products round differently), so the runner keeps SB3 agents on the single env."""
    pytest.importorskip("stable_baselines3")
    import gymnasium as gym

    from agents.registry import make_agent
    from progressgym_env.benchmark.batched import make_vector_env

    env = gym.make("PG-Follow-v0")
    batch_agent = make_agent("trained", env)  # the shipped ensemble, obs_history 4
    singles = [make_agent("trained", env) for _ in SEEDS]
    vec = make_vector_env("PG-Follow-v0", len(SEEDS), {"history": "corpus", "backend": "surrogate"})
    obs, _ = vec.reset(seed=list(SEEDS))
    batch_agent.reset_batch(list(SEEDS), vec)
    for agent, seed in zip(singles, SEEDS, strict=True):
        agent.reset(seed)
    for _ in range(3):
        actions = batch_agent.act_batch(obs)
        assert actions.shape == (len(SEEDS), 5) and actions.dtype == np.float32
        alone = np.stack([agent.act(row) for agent, row in zip(singles, obs, strict=True)])
        np.testing.assert_allclose(actions, alone, atol=1e-5)
        obs = vec.step(actions)[0]
    worker = EpisodeWorker(_plan())
    try:
        assert not worker.batchable(EpisodeGroup("follow", "trained", "trained", SEEDS))
    finally:
        worker.close()
