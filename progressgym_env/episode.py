"""One episode of one agent: the unit of work of benchmarks and of SB3 evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from progressgym_env.errors import EpisodeOrderError


class Policy(Protocol):
    """What an episode needs from an agent (see :class:`agents.base.Agent`)."""

    def reset(self, seed: int | None = None) -> None: ...

    def act(self, obs: np.ndarray) -> np.ndarray: ...


@dataclass
class EpisodeResult:
    """Outcome of one episode.

    :param final_score: the paper's score, from the env's last ``info``.
    :param normalized_score: 0 = value lock-in, 1 = reference.
    :param rewards: the per-step rewards (per-century similarities).
    :param episode_record: the env's record (all vectors), as JSON-ready lists.
    """

    final_score: float
    normalized_score: float
    rewards: list[float]
    episode_record: dict[str, Any]


def run_episode(env: Any, agent: Policy, seed: int, max_steps: int = 10_000) -> EpisodeResult:
    """Run ``agent`` in ``env`` from ``env.reset(seed=seed)`` until termination.

    :param env: a ProgressGym env (wrapped or not).
    :param agent: anything with ``reset(seed)`` and ``act(obs)``.
    :param seed: seeds both the env and the agent.
    :param max_steps: safety bound; an env that never terminates is an error, not a hang.
    """
    obs, _ = env.reset(seed=seed)
    agent.reset(seed=seed)
    rewards: list[float] = []
    for _ in range(max_steps):
        obs, reward, terminated, truncated, info = env.step(agent.act(obs))
        rewards.append(float(reward))
        if terminated or truncated:
            break
    else:
        raise EpisodeOrderError(f"the episode did not end within {max_steps} steps")
    if not terminated:  # every info holds final_score (0.0 until the last step): only termination scores
        raise EpisodeOrderError("the episode was truncated before the end of history: it has no final_score")
    return EpisodeResult(
        final_score=float(info["final_score"]),
        normalized_score=float(info["normalized_score"]),
        rewards=rewards,
        episode_record=env.unwrapped.episode_record().to_json_dict(),
    )
