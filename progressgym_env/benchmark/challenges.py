"""The leaderboard challenges: the benchmark's view of the registered challenge variants.

A challenge key names an env id plus its kwargs: ``follow``, ``predict1`` ... ``predict7`` (PG-Predict
with k = 1..7 centuries ahead), ``coevolve``, and the keys of plugin challenges. Keys are what
``--challenges`` takes, what results are grouped by, and what the ``{challenge}`` placeholder of an SB3
agent path expands to. They are registered with :func:`progressgym_env.register_challenge`
(:mod:`progressgym_env.registry`); this module only reads them. The default benchmark runs
ProgressGym's four columns (:func:`default_challenges`) plus any a plugin marks as default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from progressgym_env.registry import (
    ChallengeVariant,
    default_keys,
    judge_class,
    variant,
    variant_key,
    variants,
)

Challenge = ChallengeVariant
"""One leaderboard column (key, challenge name, env id, kwargs, title)."""

CHALLENGES: Mapping[str, Challenge] = variants()
"""Every challenge key -> its column, in leaderboard order (a live view: plugins' keys included)."""


def default_challenges() -> tuple[str, ...]:
    """The challenges a benchmark runs by default: ProgressGym's four leaderboard columns (and plugins' opt-ins)."""
    return default_keys()


def get_challenge(key: str) -> Challenge:
    """The challenge named ``key``; the error lists the valid keys."""
    return variant(key)


def record_challenge_key(record: Mapping[str, Any] | Any) -> str:
    """The key of an episode record's challenge and parameters (``predict`` with k = 2 -> ``predict2``)."""
    get = record.get if isinstance(record, Mapping) else lambda name: getattr(record, "params", {}).get(name)
    name = str(record["challenge"] if isinstance(record, Mapping) else record.challenge)
    params = {p: get(p) for p in judge_class(name).param_defaults if get(p) is not None}
    return variant_key(name, params)


def challenge_title(key: str) -> str:
    """Display name of ``key`` (the key itself for keys outside the registered variants)."""
    return CHALLENGES[key].title if key in CHALLENGES else key
