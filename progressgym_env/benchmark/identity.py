"""A run's identity: one canonical hash of everything that changes its numbers.

Two runs are the same run exactly when they share an identity, so a benchmark skips a planned run
only if a stored run has the same identity, and a folder may hold runs of several settings side by
side (a query-budget-64 run of ``lifelong`` on seed 0 beside the budget-512 one) without one
standing in for the other.

The identity hashes the fields a results.json run stores (:data:`IDENTITY_FIELDS`): agent label,
agent config (the agent's own settings, which depend on its spec and the env), challenge, env id,
env kwargs (history, backend, backend config, query budget, similarity, obs history, ...), history,
seed and model hash, plus :data:`IDENTITY_VERSION` and the results format version. It is derived from
the stored fields, never stored itself, so results files written before identities existed get theirs
the same way and keep resuming.

Canonical form (:func:`canonical`): dataclasses become dicts, tuples lists, numpy scalars and arrays
Python values, paths strings; a float that is a whole number becomes an int (``1.0`` and ``1`` give
the same env), other floats keep their exact ``repr``; non-finite floats become the strings
``"nan"``, ``"inf"``, ``"-inf"``; dict keys become strings. The hash is the SHA-256 of the
key-sorted compact JSON of that form.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

IDENTITY_VERSION = 1
"""Bumped when the identity's definition changes (every stored run then counts as another run)."""
IDENTITY_FIELDS = ("agent", "agent_config", "challenge", "env_id", "kwargs", "history", "seed", "model_sha256")
"""The stored run fields the identity covers (a missing one counts as ``None``; ``model_sha256`` as ``""``)."""
_MAX_DEPTH = 64


def canonical(value: Any, _depth: int = 0) -> Any:
    """``value`` in canonical JSON-able form (see the module docstring).

    :raises TypeError: a value with no canonical form (an arbitrary object), or nesting deeper than 64.
    """
    if _depth > _MAX_DEPTH:
        raise TypeError(f"nesting deeper than {_MAX_DEPTH} levels has no canonical form")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        return canonical(value.item(), _depth + 1)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return canonical({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, _depth + 1)
    if isinstance(value, Mapping):
        return {str(k): canonical(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [canonical(v, _depth + 1) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} value {value!r:.60} has no canonical JSON form")


def canonical_hash(value: Any) -> str:
    """SHA-256 hex digest of :func:`canonical` ``(value)`` as key-sorted compact JSON."""
    text = json.dumps(canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def identity_fields(run: Mapping[str, Any], *, seed: bool = True, agent_config: bool = True) -> dict[str, Any]:
    """The canonical fields a run's identity hashes (``seed``/``agent_config`` False: those left out)."""
    from progressgym_env.benchmark.results import RESULTS_VERSION

    fields: dict[str, Any] = {"identity_version": IDENTITY_VERSION, "results_version": RESULTS_VERSION}
    for name in IDENTITY_FIELDS:
        fields[name] = run.get(name)
    fields["model_sha256"] = run.get("model_sha256") or ""
    if not seed:
        del fields["seed"]
    if not agent_config:
        del fields["agent_config"]
    canonical_fields: dict[str, Any] = canonical(fields)
    return canonical_fields


def run_identity(run: Mapping[str, Any], *, agent_config: bool = True) -> str:
    """The identity of one run (a results.json entry): the hash of :func:`identity_fields`.

    :param agent_config: False leaves the agent config out, for a plan whose agents were not built in
        this process (Ray on the llm backend) and whose configs are therefore not known yet.
    """
    return canonical_hash(identity_fields(run, agent_config=agent_config))


_SEED_MARK = "\x00seed\x00"
"""Stands in for the seed while :func:`seed_identities` encodes the shared fields once."""


def seed_identities(run: Mapping[str, Any], seeds: Sequence[int]) -> list[str]:
    """:func:`run_identity` of ``run`` with each of ``seeds`` as its seed, encoding the other fields once.

    The canonical JSON of a run differs between seeds only in the seed's digits, so it is built once with a
    marker in the seed's place and each seed's text is spliced in before hashing: the same hashes as
    :func:`run_identity` (``tests/test_identity.py`` checks it), about a microsecond each, for the batched
    runner's millions of planned runs.
    """
    text = json.dumps(canonical({**identity_fields({**run, "seed": _SEED_MARK})}), sort_keys=True,
                      separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    marker = json.dumps(_SEED_MARK, ensure_ascii=True)
    head, found, tail = text.partition(marker)
    if not found or marker in tail:
        raise AssertionError("the seed marker must appear exactly once in a run's canonical form")
    return [hashlib.sha256(f"{head}{int(seed)}{tail}".encode("ascii")).hexdigest() for seed in seeds]


def settings_identity(run: Mapping[str, Any]) -> str:
    """The identity of a run's settings (every identity field but the seed): the runs a row averages."""
    return canonical_hash(identity_fields(run, seed=False))


def settings_difference(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per settings identity, the settings that differ between the ``runs``' settings (flattened, dotted).

    Used to label leaderboard rows when one agent was run under several settings:
    ``{"<settings id>": {"kwargs.query_budget": 64}, ...}``. Fields equal in every group are left out.
    """
    flat: dict[str, dict[str, Any]] = {}
    for run in runs:
        key = settings_identity(run)
        if key not in flat:
            flat[key] = _flatten(identity_fields(run, seed=False))
    names = sorted({name for fields in flat.values() for name in fields})
    differing = [n for n in names if len({json.dumps(f.get(n), sort_keys=True) for f in flat.values()}) > 1]
    return {key: {n: fields.get(n) for n in differing} for key, fields in flat.items()}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


__all__ = [
    "IDENTITY_FIELDS",
    "IDENTITY_VERSION",
    "canonical",
    "canonical_hash",
    "identity_fields",
    "run_identity",
    "seed_identities",
    "settings_difference",
    "settings_identity",
]
