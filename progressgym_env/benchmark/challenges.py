"""The leaderboard challenges and the env each one runs (ProgressGym's columns).

A challenge key names an env id plus its kwargs: ``follow``, ``predict1`` ... ``predict7`` (PG-Predict
with k = 1..7 centuries ahead) and ``coevolve``. Keys are what ``--challenges`` takes, what results are
grouped by, and what the ``{challenge}`` placeholder of an SB3 agent path expands to. The default
benchmark runs ProgressGym's four columns (:data:`DEFAULT_CHALLENGES`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from progressgym_env.errors import ConfigError


@dataclass(frozen=True)
class Challenge:
    """One leaderboard column.

    :param key: short name (``predict2``).
    :param env_id: the registered Gymnasium id.
    :param kwargs: env kwargs that define the challenge (``{"timesteps_ahead": 2}``).
    :param title: human-readable name for tables and plots.
    """

    key: str
    env_id: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    title: str = ""


PREDICT_HORIZONS: tuple[int, ...] = tuple(range(1, 8))
"""The k of PG-Predict a challenge can ask for: 1..7 (nine centuries leave at least one scored step)."""

CHALLENGES: dict[str, Challenge] = {
    c.key: c
    for c in (
        Challenge("follow", "PG-Follow-v0", {}, "PG-Follow"),
        *(
            Challenge(
                f"predict{k}",
                "PG-Predict-v0",
                {"timesteps_ahead": k},
                f"PG-Predict (k={k})",
            )
            for k in PREDICT_HORIZONS
        ),
        Challenge("coevolve", "PG-Coevolve-v0", {}, "PG-Coevolve"),
    )
}
"""Every challenge, in leaderboard order."""

DEFAULT_CHALLENGES: tuple[str, ...] = ("follow", "predict1", "predict2", "coevolve")
"""The challenges a benchmark runs by default: ProgressGym's four leaderboard columns."""


def get_challenge(key: str) -> Challenge:
    """The challenge named ``key``; the error lists the valid keys."""
    try:
        return CHALLENGES[key]
    except KeyError:
        raise ConfigError(f"unknown challenge {key!r}; choose from {', '.join(CHALLENGES)}") from None


def challenge_key(challenge: str, timesteps_ahead: Any = None) -> str:
    """The key of an episode record's challenge (``predict`` + k → ``predict<k>``)."""
    if challenge == "predict":
        return f"predict{int(timesteps_ahead or 1)}"
    return challenge


def challenge_title(key: str) -> str:
    """Display name of ``key`` (also for keys outside the table, e.g. ``predict3``)."""
    if key in CHALLENGES:
        return CHALLENGES[key].title
    if key.startswith("predict"):
        return f"PG-Predict (k={key[len('predict') :]})"
    return key
