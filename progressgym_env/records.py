"""The episode record: every vector of one episode, enough for a judge to recompute its score.

:class:`EpisodeRecord` is the one typed form of a record. Envs build it (``env.unwrapped.episode_record()``),
judges score it (:func:`~progressgym_env.judges.score_record`), rendering plots it and the benchmark
saves it. Its plain form (:meth:`EpisodeRecord.to_dict`) is what ``info["episode_record"]`` holds and
what ``results.json`` stores (as JSON lists); :meth:`EpisodeRecord.from_dict` reads both back,
including files written before the schema version existed (version 1).

Fields (T centuries, n scored steps, d value dimensions):

| field                | type            | meaning                                                  |
|----------------------|-----------------|----------------------------------------------------------|
| `challenge`          | str             | the registered challenge (`follow`, `predict`, `coevolve`, a plugin's) |
| `human`              | (T, d) float64  | the real history H                                       |
| `model`              | (n, d) float64  | the model after each step (M_1..M_n)                     |
| `rewards`            | (n,) float64    | the per-step rewards                                     |
| `centuries`          | list[int]       | the century number of each history row                   |
| `value_space`        | str             | name of the value space                                  |
| `dims`               | list[str]       | names of the d dimensions                                |
| `similarity`         | str             | the reward similarity (scores always use plain cosine)   |
| `backend`            | dict            | the backend's settings                                   |
| `history_provenance` | dict            | where the history came from                              |
| (parameters)         | per challenge   | the judge's parameters, one top-level field each (Predict: `timesteps_ahead`) |
| `simulated`          | (s, d) or None  | Coevolve: S_0..S_{s-1} (s = n + 1); None elsewhere        |
| (extra arrays)       | per challenge   | arrays the judge names in ``record_arrays``, one top-level field each (PG-Society: every AI's models, every group's values) |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from progressgym_env.errors import HistoryFormatError

SCHEMA_VERSION = 1
"""Version of the record's plain form; bump it (and read the old one) whenever the fields change."""



def _params(data: Mapping[str, Any], num_centuries: int) -> dict[str, Any]:
    """The challenge parameters a plain record holds (its judge's parameter names, top-level fields)."""
    from progressgym_env.errors import ConfigError
    from progressgym_env.registry import judge_class

    try:
        names = judge_class(str(data["challenge"])).param_defaults
    except ConfigError as exc:
        raise HistoryFormatError(f"episode record: {exc}") from None
    given = {name: data[name] for name in names if name in data}
    try:  # the judge's own checks, so a record holds only parameters its judge accepts
        return judge_class(str(data["challenge"])).resolve_params(given, num_centuries)
    except ConfigError as exc:
        raise HistoryFormatError(f"episode record: {exc}") from None


def _extra_arrays(data: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The extra arrays a plain record holds: those its judge names in ``record_arrays`` (finite numbers)."""
    from progressgym_env.registry import judge_class

    out = {}
    for name in judge_class(str(data["challenge"])).record_arrays:
        if name not in data:
            continue
        try:
            array = np.array(data[name], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise HistoryFormatError(f"episode record: {name!r} must be an array of numbers ({exc})") from None
        if not np.all(np.isfinite(array)):
            raise HistoryFormatError(f"episode record: {name!r} holds non-finite values")
        out[name] = array
    return out


def to_jsonable(value: Any) -> Any:
    """``value`` with numpy arrays and scalars turned into lists and Python numbers (recursively)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def _matrix(value: Any, name: str, columns: int | None = None) -> np.ndarray:
    """A finite float64 2-D array, or a :class:`HistoryFormatError` naming the field."""
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise HistoryFormatError(f"episode record: {name!r} must be a matrix of numbers ({exc})") from None
    if array.ndim != 2 or (columns is not None and array.shape[1] != columns):
        want = f"(rows, {columns})" if columns is not None else "(rows, d)"
        raise HistoryFormatError(f"episode record: {name!r} must have shape {want}, found {array.shape}")
    if not np.all(np.isfinite(array)):
        raise HistoryFormatError(f"episode record: {name!r} holds non-finite values")
    return array


@dataclass(frozen=True, eq=False)
class EpisodeRecord:
    """Every vector of one episode (see the module docstring for the fields).

    Arrays are owned by the record (``from_dict`` copies); treat them as read-only.
    """

    schema_version: ClassVar[int] = SCHEMA_VERSION

    challenge: str
    human: np.ndarray
    model: np.ndarray
    rewards: np.ndarray
    centuries: list[int] = field(default_factory=list)
    value_space: str = ""
    dims: list[str] = field(default_factory=list)
    similarity: str = "cosine"
    backend: dict[str, Any] = field(default_factory=dict)
    history_provenance: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    simulated: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    """Arrays a challenge's judge adds (its ``record_arrays``), stored as top-level fields."""

    @property
    def timesteps_ahead(self) -> int | None:
        """Predict's k (None on challenges without that parameter)."""
        k = self.params.get("timesteps_ahead")
        return None if k is None else int(k)

    @property
    def num_steps(self) -> int:
        """n, the number of steps taken."""
        return int(self.model.shape[0])

    def to_dict(self) -> dict[str, Any]:
        """The plain form (arrays stay numpy arrays; optional fields only where they apply)."""
        out: dict[str, Any] = {
            "challenge": self.challenge,
            "human": self.human,
            "model": self.model,
            "rewards": self.rewards,
            "centuries": list(self.centuries),
            "value_space": self.value_space,
            "dims": list(self.dims),
            "similarity": self.similarity,
            "backend": dict(self.backend),
            "history_provenance": dict(self.history_provenance),
        }
        out.update(self.params)
        if self.simulated is not None:
            out["simulated"] = self.simulated
        out.update(self.extras)
        return out

    @classmethod
    def from_dict(cls, data: EpisodeRecord | Mapping[str, Any]) -> EpisodeRecord:
        """Read a plain record (from ``info``, or JSON lists from ``results.json``), validating it.

        :raises HistoryFormatError: a missing field, a wrong shape, a non-finite value or a newer
            schema version, named in the message.
        """
        if isinstance(data, EpisodeRecord):
            return data
        if not isinstance(data, Mapping):
            raise HistoryFormatError(f"episode record must be a mapping, found {type(data).__name__}")
        version = data.get("schema_version", 1)
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
            raise HistoryFormatError(
                f"episode record has schema_version {version!r}; this version of progressgym_env reads 1..{SCHEMA_VERSION}"
            )
        for key in ("challenge", "human"):
            if key not in data:
                raise HistoryFormatError(f"episode record is missing {key!r}")
        human = _matrix(data["human"], "human")
        d = human.shape[1]
        model = _matrix(data["model"], "model", d) if "model" in data else np.zeros((0, d))
        rewards = np.array(data.get("rewards", np.zeros(model.shape[0])), dtype=np.float64).reshape(-1)
        simulated = data.get("simulated")
        params = _params(data, human.shape[0])
        extras = _extra_arrays(data)
        known = ({f.name for f in fields(cls)} - {"params", "extras"}) | {"schema_version"} | set(params) | set(extras)
        extra = sorted(str(key) for key in data if key not in known)
        if extra:
            raise HistoryFormatError(f"episode record has unknown fields {extra}; known: {sorted(known)}")
        return cls(
            challenge=str(data["challenge"]),
            human=human,
            model=model,
            rewards=rewards,
            centuries=[int(c) for c in data.get("centuries", [])],
            value_space=str(data.get("value_space", "")),
            dims=[str(x) for x in data.get("dims", [])],
            similarity=str(data.get("similarity", "cosine")),
            backend=dict(data.get("backend") or {}),
            history_provenance=dict(data.get("history_provenance") or {}),
            params=params,
            simulated=None if simulated is None else _matrix(simulated, "simulated", d),
            extras=extras,
        )

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready plain form with the schema version (what ``results.json`` stores)."""
        plain = to_jsonable(self.to_dict())
        plain["schema_version"] = SCHEMA_VERSION
        return plain
