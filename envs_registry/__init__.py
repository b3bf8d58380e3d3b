"""The table of registered ProgressGym ids: one declarative list generating every id.

``import progressgym_env`` calls :func:`register_envs`. To add a variant (new kwargs or a new
version), add one row to ``ENV_TABLE``; bump ``-vN`` whenever an id's semantics change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym


@dataclass(frozen=True)
class EnvRow:
    """One registered id.

    :param id: the Gymnasium id.
    :param entry_point: ``module:Class`` of the single env.
    :param vector_entry_point: ``module:Class`` of a native vector env, or None (Gymnasium's
        sync/async vectorisation is used).
    :param kwargs: default kwargs of the id.
    :param nondeterministic: whether same seed may not give the same episode.
    """

    id: str
    entry_point: str
    vector_entry_point: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    nondeterministic: bool = False


ENV_TABLE: tuple[EnvRow, ...] = (
    EnvRow(
        "PG-Follow-v0",
        "progressgym_env.envs.follow:FollowEnv",
        vector_entry_point="progressgym_env.envs.vector:FollowVectorEnv",
    ),
    EnvRow(
        "PG-Predict-v0",
        "progressgym_env.envs.predict:PredictEnv",
        vector_entry_point="progressgym_env.envs.vector:PredictVectorEnv",
        kwargs={"timesteps_ahead": 1},
    ),
    EnvRow(
        "PG-Coevolve-v0",
        "progressgym_env.envs.coevolve:CoevolveEnv",
        vector_entry_point="progressgym_env.envs.vector:CoevolveVectorEnv",
    ),
)


def register_envs() -> None:
    """Register every row of ``ENV_TABLE`` with Gymnasium (idempotent)."""
    for row in ENV_TABLE:
        if row.id in gym.registry:
            continue
        gym.register(
            id=row.id,
            entry_point=row.entry_point,
            vector_entry_point=row.vector_entry_point,
            kwargs=dict(row.kwargs),
            nondeterministic=row.nondeterministic,
            # The envs validate every input themselves (errors that name the problem). Gymnasium's
            # passive checker adds nothing to that, and an env whose first reset() it saw refused
            # is broken for good (its later step() raises TypeError); gym.make(..., disable_env_checker=False)
            # still adds it on request.
            disable_env_checker=True,
            # No max_episode_steps: the end of history is a termination, not a time limit (DESIGN §9).
        )


ENV_IDS: tuple[str, ...] = tuple(row.id for row in ENV_TABLE)
