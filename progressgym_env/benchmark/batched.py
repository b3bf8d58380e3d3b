"""Many seeds of one (agent, challenge, settings) at once, through the challenge's native vector env.

The benchmark's runs of one agent on one challenge differ only in their seed. Where the backend can be
batched (its registry entry says ``native_vector``) and the challenge has a native vector env, the
runner plays N of those seeds together: one ``gym.make_vec(..., rng_mode="exact")`` env whose sub-env
i is seeded with seed i exactly as a single env would be, and an agent acting on (N, obs) arrays
(:meth:`agents.base.Agent.act_batch`). Every episode is then the single-env episode of its seed, bit
for bit (``tests/test_batched_runner.py``), at a fraction of the cost: the env's arithmetic, the
agent's and the conversion to the results store's columns are array operations over N episodes.
What cannot be batched (an LLM backend, a checkpointed episode, an agent with ``batched = False``) is
played one episode at a time by :class:`~progressgym_env.benchmark.executors.EpisodeWorker`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from progressgym_env.errors import EpisodeOrderError
from progressgym_env.registry import backend_spec, challenge_specs

BATCH_SIZE = 4_096
"""Episodes played together at most (memory grows with N; the speed-up is flat beyond a few thousand)."""


def native_vector_env_id(backend: str, env_id: str) -> bool:
    """Whether episodes of ``env_id`` on ``backend`` can be batched: the registry says so for both
    (the backend's ``native_vector`` flag, the challenge's ``vector_entry_point``)."""
    if not backend_spec(backend).native_vector:
        return False
    return any(spec.env_id == env_id and spec.vector_entry_point is not None for spec in challenge_specs())


@dataclass
class BatchEpisodes:
    """The outcome of N episodes played together (row i: the episode of ``seeds[i]``).

    :param seeds: (N,) ints. :param final_scores: (N,). :param normalized_scores: (N,).
    :param rewards: (N, steps). :param human: (N, T, d). :param model: (N, steps, d).
    :param simulated: (N, T, d) where the judge simulates a human, else None.
    :param record_meta: the episode records' non-array fields, as JSON (one text for all rows, or one per row).
    """

    seeds: np.ndarray
    final_scores: np.ndarray
    normalized_scores: np.ndarray
    rewards: np.ndarray
    human: np.ndarray
    model: np.ndarray
    simulated: np.ndarray | None
    record_meta: str | list[str]


def make_vector_env(env_id: str, num_envs: int, kwargs: dict[str, Any]) -> Any:
    """The native vector env of ``env_id`` with N sub-envs that each equal the single env of their seed."""
    import gymnasium as gym

    import progressgym_env  # noqa: F401  (registers the ids)

    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", rng_mode="exact",
                        record_in_info=True, **kwargs)


def play_batch(env: Any, agent: Any, seeds: Sequence[int], max_steps: int = 10_000) -> BatchEpisodes:
    """Play one episode per seed in the native vector env ``env`` (``num_envs == len(seeds)``).

    :param agent: an agent with ``batched = True`` (:meth:`~agents.base.Agent.reset_batch`, ``act_batch``).
    :raises EpisodeOrderError: an episode that does not end within ``max_steps`` steps, or episodes that end
        at different steps (the challenge's episodes all have the judge's length).
    """
    from progressgym_env.envs.vector import episode_record_at
    from progressgym_env.envs.vector.settings import RECORD_ARRAYS
    from progressgym_env.records import EpisodeRecord

    seed_list = [int(s) for s in seeds]
    obs, _ = env.reset(seed=seed_list)
    agent.reset_batch(seed_list, env)
    rewards: list[np.ndarray] = []
    for _ in range(max_steps):
        obs, reward, terminated, truncated, info = env.step(agent.act_batch(obs))
        rewards.append(reward)
        if terminated.any() or truncated.any():
            break
    else:
        raise EpisodeOrderError(f"the episodes did not end within {max_steps} steps")
    if not terminated.all():
        raise EpisodeOrderError("the batched episodes did not all terminate at the same step (truncated or uneven)")
    record = info["episode_record"]

    def meta(i: int) -> str:
        plain = EpisodeRecord.from_dict(episode_record_at(info, i)).to_json_dict()
        return json.dumps({k: v for k, v in plain.items() if k not in (*RECORD_ARRAYS, "rewards")},
                          separators=(",", ":"), allow_nan=False)

    shared = env.unwrapped.settings.record_constants is not None
    return BatchEpisodes(
        seeds=np.asarray(seed_list, dtype=np.int64),
        final_scores=np.asarray(info["final_score"], dtype=np.float64),
        normalized_scores=np.asarray(info["normalized_score"], dtype=np.float64),
        rewards=np.stack(rewards, axis=1),
        human=np.asarray(record["human"], dtype=np.float64),
        model=np.asarray(record["model"], dtype=np.float64),
        simulated=np.asarray(record["simulated"], dtype=np.float64) if "simulated" in record else None,
        record_meta=meta(0) if shared else [meta(i) for i in range(len(seed_list))],
    )


__all__ = ["BATCH_SIZE", "BatchEpisodes", "make_vector_env", "native_vector_env_id", "play_batch"]
