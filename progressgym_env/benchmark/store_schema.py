"""The columns of the results store, and the conversions between runs and Arrow tables.

One row per run. A run dict (a ``results.json`` entry, :mod:`~progressgym_env.benchmark.results`)
becomes a row and comes back equal (``==``) to what went in; :data:`SCHEMA` is the contract the
readers (leaderboard, site, plots, statistics) build on, documented for them in the store's section
of ``docs/design.md``.

Columns (nullable unless said otherwise):

=====================  =========================  =====================================================
column                 type                       meaning
=====================  =========================  =====================================================
``key``                string, not null           the run identity (:func:`~.identity.run_identity`)
``settings_key``       string, not null           the identity without the seed (:func:`~.identity.settings_identity`):
                                                  the runs one leaderboard row averages
``agent``              string, not null           the agent's label
``agent_config``       string, not null           JSON of the run's ``agent_config`` (the same settings give the same text)
``challenge``          string, not null           the challenge key (``follow``, ``predict2``, ...)
``env_id``             string, not null           the Gymnasium id
``kwargs``             string, not null           JSON of the env kwargs (history, backend, query budget, ...)
``history``            string                     the history name
``seed``               int64, not null            the env (and agent) seed
``model_sha256``       string                     the SB3 model file's hash (null: the run has none)
``final_score``        float64, not null          the judge's final score
``normalized_score``   float64, not null          0 = value lock-in, 1 = reference
``created``            string                     ISO time the run finished
``wandb_dir``          string                     the offline wandb run holding it, when logged
``rewards``            list<float64>, not null    per-step rewards
``record_meta``        string, not null           JSON of the episode record's non-array fields (challenge,
                                                  centuries, value space, dims, similarity, backend,
                                                  provenance, challenge parameters, schema version)
``human``              list<list<float64>>        the record's human values (T, d)
``model``              list<list<float64>>        the record's model values (steps, d)
``simulated``          list<list<float64>>        the record's simulated humans (T, d), Coevolve only
``record_rewards``     list<float64>              the record's rewards when they differ from ``rewards`` (else null)
``extra``              string                     JSON of any other top-level field of an imported run
=====================  =========================  =====================================================

JSON columns keep the run's own key order, so a run round-trips exactly; equal settings written by
this package give equal text (group by them in SQL, or by ``settings_key``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from progressgym_env.benchmark.identity import run_identity, settings_identity

STORE_SCHEMA_VERSION = 1
"""Bumped when :data:`SCHEMA` changes incompatibly (stored in each part file's metadata)."""

_VECTOR = pa.list_(pa.float64())
_MATRIX = pa.list_(_VECTOR)

SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("settings_key", pa.string(), nullable=False),
        pa.field("agent", pa.string(), nullable=False),
        pa.field("agent_config", pa.string(), nullable=False),
        pa.field("challenge", pa.string(), nullable=False),
        pa.field("env_id", pa.string(), nullable=False),
        pa.field("kwargs", pa.string(), nullable=False),
        pa.field("history", pa.string()),
        pa.field("seed", pa.int64(), nullable=False),
        pa.field("model_sha256", pa.string()),
        pa.field("final_score", pa.float64(), nullable=False),
        pa.field("normalized_score", pa.float64(), nullable=False),
        pa.field("created", pa.string()),
        pa.field("wandb_dir", pa.string()),
        pa.field("rewards", _VECTOR, nullable=False),
        pa.field("record_meta", pa.string(), nullable=False),
        pa.field("human", _MATRIX),
        pa.field("model", _MATRIX),
        pa.field("simulated", _MATRIX),
        pa.field("record_rewards", _VECTOR),
        pa.field("extra", pa.string()),
    ],
    metadata={"progressgym_store_version": str(STORE_SCHEMA_VERSION)},
)
"""The store's columns (see the module docstring)."""

RUN_ORDER = ("agent", "agent_config", "challenge", "env_id", "kwargs", "seed", "history", "final_score",
             "normalized_score", "rewards", "episode_record", "created", "model_sha256", "wandb_dir")
"""The top-level fields of a run dict, in the order the runner writes them."""
_OPTIONAL = ("history", "created", "model_sha256", "wandb_dir")
"""Top-level fields a run may lack (stored as null, left out again when read)."""
RECORD_ARRAYS = ("human", "model", "simulated")
"""Episode-record fields stored in their own list columns; the rest go to ``record_meta``."""
_RECORD_ORDER = ("challenge", "human", "model", "rewards")
"""The record's leading fields (the order ``EpisodeRecord.to_json_dict`` writes); ``simulated`` goes last
but one, before ``schema_version``."""


def dumps(value: Any) -> str:
    """The JSON text a JSON column stores (compact, the value's own key order).

    NaN and infinities are written as ``results.json`` writes them (Python's ``NaN``/``Infinity`` tokens):
    an LLM record's not-yet-measured fields are NaN, and a run must read back as it was written.
    """
    return json.dumps(value, separators=(",", ":"))


def row_of(run: Mapping[str, Any]) -> dict[str, Any]:
    """The column values of one run dict (``key``/``settings_key`` computed from its fields)."""
    record = dict(run["episode_record"])
    rewards = [float(r) for r in run["rewards"]]
    record_rewards = record.pop("rewards", None)
    arrays = {name: record.pop(name, None) for name in RECORD_ARRAYS}
    known = set(RUN_ORDER)
    extra = {k: v for k, v in run.items() if k not in known}
    return {
        "key": run_identity(run),
        "settings_key": settings_identity(run),
        "agent": run["agent"],
        "agent_config": dumps(run["agent_config"]),
        "challenge": run["challenge"],
        "env_id": run["env_id"],
        "kwargs": dumps(run["kwargs"]),
        **{name: run.get(name) for name in _OPTIONAL},
        "seed": int(run["seed"]),
        "final_score": float(run["final_score"]),
        "normalized_score": float(run["normalized_score"]),
        "rewards": rewards,
        "record_meta": dumps(record),
        **arrays,
        "record_rewards": None if record_rewards is None or list(record_rewards) == rewards else list(record_rewards),
        "extra": dumps(extra) if extra else None,
    }


def table_of_runs(runs: Iterable[Mapping[str, Any]]) -> pa.Table:
    """An Arrow table (:data:`SCHEMA`) of run dicts: the import path (``results.json``, single episodes)."""
    return pa.Table.from_pylist([row_of(run) for run in runs], schema=SCHEMA)


def runs_of(batch: pa.RecordBatch | pa.Table) -> list[dict[str, Any]]:
    """The run dicts of a batch of full rows: each equal to the run dict it was made from."""
    return [run_of_row(row) for row in batch.to_pylist()]


def run_of_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """One run dict from a full row (as ``to_pylist`` gives it)."""
    meta: dict[str, Any] = json.loads(row["record_meta"])
    record: dict[str, Any] = {"challenge": meta.pop("challenge")} if "challenge" in meta else {}
    for name in ("human", "model"):
        if row[name] is not None:
            record[name] = row[name]
    record["rewards"] = row["record_rewards"] if row["record_rewards"] is not None else list(row["rewards"])
    version = meta.pop("schema_version", None)
    record.update(meta)
    if row["simulated"] is not None:
        record["simulated"] = row["simulated"]
    if version is not None:
        record["schema_version"] = version
    run: dict[str, Any] = {
        "agent": row["agent"],
        "agent_config": json.loads(row["agent_config"]),
        "challenge": row["challenge"],
        "env_id": row["env_id"],
        "kwargs": json.loads(row["kwargs"]),
        "seed": row["seed"],
        "history": row["history"],
        "final_score": row["final_score"],
        "normalized_score": row["normalized_score"],
        "rewards": row["rewards"],
        "episode_record": record,
    }
    for name in _OPTIONAL:
        if row[name] is not None:
            run[name] = row[name]
    if row["history"] is None:
        del run["history"]
    if row["extra"]:
        run.update(json.loads(row["extra"]))
    return run


def numeric_array(values: np.ndarray) -> pa.Array:
    """An Arrow array over a 1-d int64/int32/float64 numpy array's buffer.

    Built from buffers rather than with ``pa.array``, which imports pandas (a second of start-up on a
    quiet machine) to check whether its input is a pandas object.
    """
    values = np.ascontiguousarray(values)
    kind = {np.dtype(np.float64): pa.float64(), np.dtype(np.int64): pa.int64(), np.dtype(np.int32): pa.int32()}
    return pa.Array.from_buffers(kind[values.dtype], len(values), [None, pa.py_buffer(values)])


def string_array(texts: Sequence[str]) -> pa.Array:
    """A string array of ``texts`` from one UTF-8 buffer and its offsets (no ``pa.array``, see :func:`numeric_array`)."""
    encoded = [text.encode("utf-8") for text in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return pa.StringArray.from_buffers(len(encoded), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded)))


def matrix_array(values: np.ndarray) -> pa.Array:
    """A ``list<list<float64>>`` array from an (N, T, d) float array, without Python objects."""
    n, t, d = values.shape
    flat = numeric_array(np.asarray(values, dtype=np.float64).reshape(-1))
    inner = pa.ListArray.from_arrays(numeric_array(np.arange(0, n * t * d + 1, d, dtype=np.int32)), flat)
    return pa.ListArray.from_arrays(numeric_array(np.arange(0, n * t + 1, t, dtype=np.int32)), inner)


def vector_array(values: np.ndarray) -> pa.Array:
    """A ``list<float64>`` array from an (N, T) float array."""
    n, t = values.shape
    flat = numeric_array(np.asarray(values, dtype=np.float64).reshape(-1))
    return pa.ListArray.from_arrays(numeric_array(np.arange(0, n * t + 1, t, dtype=np.int32)), flat)


def batch_table(
    constants: Mapping[str, Any],
    keys: Sequence[str],
    seeds: np.ndarray,
    final_scores: np.ndarray,
    normalized_scores: np.ndarray,
    rewards: np.ndarray,
    record_meta: str | Sequence[str],
    human: np.ndarray,
    model: np.ndarray,
    simulated: np.ndarray | None,
) -> pa.Table:
    """The rows of N runs of one (agent, challenge, settings) group, built from arrays (the batched runner).

    :param constants: the group's shared column values: ``settings_key``, ``agent``, ``agent_config``,
        ``challenge``, ``env_id``, ``kwargs``, ``history``, ``model_sha256``, ``created``.
    :param keys: each run's identity. :param seeds: (N,) ints.
    :param final_scores: (N,). :param normalized_scores: (N,). :param rewards: (N, steps).
    :param record_meta: the records' non-array fields as JSON (:func:`dumps`): one text all rows share, or
        one per row.
    :param human: (N, T, d). :param model: (N, steps, d). :param simulated: (N, T, d) or None.
    """
    n = len(keys)

    def same(name: str) -> pa.Array:
        value = constants.get(name)
        return pa.nulls(n, SCHEMA.field(name).type) if value is None else same_value(str(value), n)

    columns: dict[str, pa.Array] = {
        "key": string_array(keys),
        "seed": numeric_array(np.asarray(seeds, dtype=np.int64)),
        "final_score": numeric_array(np.asarray(final_scores, dtype=np.float64)),
        "normalized_score": numeric_array(np.asarray(normalized_scores, dtype=np.float64)),
        "rewards": vector_array(rewards),
        "record_meta": same_value(record_meta, n) if isinstance(record_meta, str) else string_array(record_meta),
        "human": matrix_array(human),
        "model": matrix_array(model),
        "simulated": pa.nulls(n, _MATRIX) if simulated is None else matrix_array(simulated),
        "record_rewards": pa.nulls(n, _VECTOR),
        "extra": pa.nulls(n, pa.string()),
        "wandb_dir": pa.nulls(n, pa.string()),
    }
    for name in SCHEMA.names:
        if name not in columns:
            columns[name] = same(name)
    return pa.Table.from_arrays([columns[name] for name in SCHEMA.names], schema=SCHEMA)


def same_value(value: str, n: int) -> pa.Array:
    """A string column holding ``value`` N times."""
    return pa.DictionaryArray.from_arrays(numeric_array(np.zeros(n, dtype=np.int32)),
                                          string_array([value])).cast(pa.string())


__all__ = [
    "RUN_ORDER",
    "SCHEMA",
    "STORE_SCHEMA_VERSION",
    "batch_table",
    "dumps",
    "matrix_array",
    "numeric_array",
    "row_of",
    "run_of_row",
    "runs_of",
    "string_array",
    "table_of_runs",
    "vector_array",
]
