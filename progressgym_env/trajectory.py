"""Value trajectories: the :class:`History` type, its validation, and the trajectory file format.

A :class:`History` is immutable data: a T x d array of human value vectors (each in [0, 1]) with its
value space, its century numbers and its provenance. This module holds the type, the shipped real
corpus trajectory (:func:`corpus_history`) and the file format; *where* an episode's history comes
from (a fixed one, or a fresh procedural one per reset) is :mod:`progressgym_env.history`, which
re-exports everything here. Keeping the type apart lets :mod:`progressgym_env.procedural` build
histories without importing the module that chooses between sources.

The trajectory file format (JSON or CSV) is shared with the LLM path, which writes model-measured
histories in it:

- JSON: ``{"format": "progressgym-trajectory", "version": 1, "value_space": "corpus5",
  "dims": [...], "centuries": [13, ...], "values": [[...], ...], "provenance": {...}}``
- CSV: a header ``century[,year_start,year_end],<dim>,...`` then one row per century (the shipped
  corpus file is itself a valid trajectory CSV).
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from progressgym_env.common.atomic import atomic_write_text
from progressgym_env.errors import HistoryFormatError
from progressgym_env.numerics import logit
from progressgym_env.value_spaces import ValueSpace, get_value_space, infer_value_space

TRAJECTORY_FORMAT = "progressgym-trajectory"
TRAJECTORY_VERSION = 1
FIRST_CENTURY = 13
MIN_STEPS = 3
_CSV_META_COLUMNS = ("century", "year_start", "year_end")



@dataclass(frozen=True)
class History:
    """A trajectory of human values: ``values[t]`` is the value vector of time step ``t``.

    :param values: array of shape (T, d), T >= 3, every entry finite and in [0, 1].
    :param value_space: names of the d dimensions.
    :param centuries: century number of each step (default 13, 14, ...).
    :param provenance: where the numbers come from (kept with every result that uses them).
    """

    values: np.ndarray
    value_space: ValueSpace
    centuries: tuple[int, ...] = ()
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        source = str(self.provenance.get("source", "in-memory history"))
        values = _validated_values(self.values, source)
        if values.shape[1] != self.value_space.dim:
            raise HistoryFormatError(
                f"{source}: values have {values.shape[1]} dims but value space "
                f"{self.value_space.name!r} has {self.value_space.dim} ({list(self.value_space.dims)})"
            )
        centuries = tuple(int(c) for c in self.centuries) or tuple(
            range(FIRST_CENTURY, FIRST_CENTURY + values.shape[0])
        )
        if len(centuries) != values.shape[0]:
            raise HistoryFormatError(
                f"{source}: {len(centuries)} centuries given for {values.shape[0]} time steps"
            )
        values.setflags(write=False)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "centuries", centuries)

    @property
    def num_steps(self) -> int:
        """T, the number of time steps (centuries)."""
        return int(self.values.shape[0])

    @property
    def dim(self) -> int:
        """d, the number of value dimensions."""
        return int(self.values.shape[1])

    @property
    def dims(self) -> tuple[str, ...]:
        """Dimension names."""
        return self.value_space.dims

    def to_dict(self) -> dict[str, Any]:
        """The JSON trajectory-file representation."""
        return {
            "format": TRAJECTORY_FORMAT,
            "version": TRAJECTORY_VERSION,
            "value_space": self.value_space.name,
            "dims": list(self.dims),
            "centuries": list(self.centuries),
            "values": self.values.tolist(),
            "provenance": dict(self.provenance),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "in-memory dict") -> History:
        """Build a history from the JSON trajectory-file representation (validated)."""
        if not isinstance(data, dict):
            raise HistoryFormatError(f"{source}: expected a JSON object, found {type(data).__name__}")
        if data.get("format") != TRAJECTORY_FORMAT:
            raise HistoryFormatError(
                f"{source}: 'format' must be {TRAJECTORY_FORMAT!r}, found {data.get('format')!r}"
            )
        if data.get("version") != TRAJECTORY_VERSION:
            raise HistoryFormatError(
                f"{source}: unsupported trajectory version {data.get('version')!r} "
                f"(this package reads version {TRAJECTORY_VERSION})"
            )
        for key in ("dims", "values"):
            if key not in data:
                raise HistoryFormatError(f"{source}: missing required key {key!r}")
        dims = data["dims"]
        if not isinstance(dims, list) or not all(isinstance(d, str) for d in dims) or not dims:
            raise HistoryFormatError(f"{source}: 'dims' must be a non-empty list of names")
        space = _space_for(data.get("value_space"), dims, source)
        provenance = dict(data.get("provenance") or {})
        provenance.setdefault("source", source)
        return cls(
            values=data["values"],
            value_space=space,
            centuries=tuple(data.get("centuries") or ()),
            provenance=provenance,
        )


def _space_for(name: Any, dims: list[str], source: str) -> ValueSpace:
    inferred = infer_value_space(dims)
    if name is None or name == inferred.name:
        return inferred
    try:
        named = get_value_space(str(name))
    except KeyError:
        return ValueSpace(name=str(name), dims=tuple(dims))
    if named.dims != tuple(dims) and not named.name.startswith("generic"):
        raise HistoryFormatError(
            f"{source}: value_space {name!r} has dims {list(named.dims)}, but the file lists {dims}"
        )
    return ValueSpace(name=str(name), dims=tuple(dims))


def _validated_values(values: Any, source: str) -> np.ndarray:
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise HistoryFormatError(f"{source}: values are not a numeric T x d table ({exc})") from None
    if array.ndim != 2:
        raise HistoryFormatError(f"{source}: values must be a T x d table, found shape {array.shape}")
    if array.shape[0] < MIN_STEPS or array.shape[1] < 1:
        raise HistoryFormatError(
            f"{source}: a history needs at least {MIN_STEPS} time steps and 1 dim, found shape {array.shape}"
        )
    bad = np.argwhere(~np.isfinite(array))
    if bad.size:
        t, i = bad[0]
        raise HistoryFormatError(f"{source}: value at step {t}, dim {i} is not finite ({array[t, i]})")
    outside = np.argwhere((array < 0.0) | (array > 1.0))
    if outside.size:
        t, i = outside[0]
        raise HistoryFormatError(
            f"{source}: value at step {t}, dim {i} is {array[t, i]}, outside [0, 1] "
            "(value scores are probabilities)"
        )
    return array


# ---------------------------------------------------------------------------------------------
# Files


def load_history_file(path: str | os.PathLike[str]) -> History:
    """Read a trajectory file (``.json`` or ``.csv``), validating it; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise HistoryFormatError(f"history file {str(path)!r} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HistoryFormatError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise HistoryFormatError(f"{path}: not valid JSON ({exc})") from None
        return History.from_dict(data, source=str(path))
    if suffix == ".csv":
        return _history_from_csv(text, source=str(path))
    raise HistoryFormatError(f"{path}: unknown history file type {suffix!r}; use .json or .csv")


def _history_from_csv(text: str, source: str) -> History:
    rows = list(csv.reader(io.StringIO(text)))
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise HistoryFormatError(f"{source}: the CSV file is empty")
    header = [cell.strip() for cell in rows[0]]
    if "century" not in header:
        raise HistoryFormatError(f"{source}: the CSV header needs a 'century' column, found {header}")
    dims = [name for name in header if name not in _CSV_META_COLUMNS]
    if not dims:
        raise HistoryFormatError(f"{source}: the CSV header has no value columns besides {header}")
    century_col = header.index("century")
    dim_cols = [header.index(name) for name in dims]
    centuries: list[int] = []
    values: list[list[float]] = []
    for line_no, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise HistoryFormatError(
                f"{source}: line {line_no} has {len(row)} fields, the header has {len(header)}"
            )
        try:
            centuries.append(int(row[century_col]))
            values.append([float(row[c]) for c in dim_cols])
        except ValueError:
            raise HistoryFormatError(f"{source}: line {line_no} has a non-numeric field: {row}") from None
    return History(
        values=np.array(values, dtype=np.float64),
        value_space=infer_value_space(dims),
        centuries=tuple(centuries),
        provenance={"source": source},
    )


def save_history(history: History, path: str | os.PathLike[str]) -> Path:
    """Write ``history`` as a trajectory file (format from the suffix), atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = json.dumps(history.to_dict(), indent=2) + "\n"
    elif suffix == ".csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["century", *history.dims])
        for century, row in zip(history.centuries, history.values):
            writer.writerow([century, *(repr(float(v)) for v in row)])
        text = buffer.getvalue()
    else:
        raise HistoryFormatError(f"{path}: unknown history file type {suffix!r}; use .json or .csv")
    atomic_write_text(path, text)
    return path


# ---------------------------------------------------------------------------------------------
# The shipped real history


def corpus_history() -> History:
    """The real corpus value trajectory (9 centuries x 5 dims) shipped as package data."""
    resource = resources.files("progressgym_env") / "data" / "history" / "corpus_value_trajectory.csv"
    history = _history_from_csv(resource.read_text(encoding="utf-8"), source="corpus_value_trajectory.csv")
    provenance = {
        "source": "corpus",
        "file": "progressgym_env/data/history/corpus_value_trajectory.csv",
        "description": (
            "ProgressGym-HistText corpus value scores, centuries 13-21, digitised from the "
            "'Value embeddings across centuries' figure of ProgressGym (Qiu et al. 2024); "
            "see data/NOTICE.md"
        ),
    }
    return History(history.values, history.value_space, history.centuries, provenance)


def logit_steps(history: History) -> np.ndarray:
    """Per-century changes in logit space, shape (T-1, d): what the procedural generator mimics."""
    return np.diff(logit(history.values), axis=0)


__all__ = [
    "FIRST_CENTURY",
    "MIN_STEPS",
    "TRAJECTORY_FORMAT",
    "TRAJECTORY_VERSION",
    "History",
    "corpus_history",
    "load_history_file",
    "logit_steps",
    "save_history",
]
