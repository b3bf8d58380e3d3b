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

Parsing is strict, because a file that is read as *other* data is worse than one that is refused:
numbers must be numbers (a JSON string or boolean is refused, not coerced; a CSV field must be a plain
decimal number, with no inner or trailing spaces or ``_`` separators), column names and JSON keys must
be unique, centuries must be ints counting up by one (a lost or duplicated row shows as a gap), every
CSV row must have every field (a file cut short mid-row is refused; the last line may lack its line
end, as RFC 4180 allows, but then its last field must be a whole number: ``0.`` or ``1e-`` reads as a cut),
CSV column names are plain text (a stray or unbalanced quote in the header is refused, never read as
part of a name), an Excel byte-order mark is skipped, and nesting is bounded (``provenance`` at most
:data:`MAX_NESTING` levels deep). Every problem is a :class:`~progressgym_env.errors.HistoryFormatError`
naming the file and the place.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from progressgym_env.common.atomic import atomic_write_text
from progressgym_env.errors import HistoryFormatError
from progressgym_env.numerics import logit
from progressgym_env.value_spaces import VALUE_SPACES, ValueSpace, get_value_space, infer_value_space

TRAJECTORY_FORMAT = "progressgym-trajectory"
TRAJECTORY_VERSION = 1
FIRST_CENTURY = 13
MIN_CENTURIES = 3
_CSV_META_COLUMNS = ("century", "year_start", "year_end")
MAX_NESTING = 16
"""Deepest nesting of lists/objects accepted in a trajectory file's ``provenance``."""
_DECIMAL = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_NON_FINITE = re.compile(r"^[+-]?(nan|inf|infinity)$", re.IGNORECASE)
_INTEGER = re.compile(r"^[+-]?\d+$")



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
        centuries = _validated_centuries(self.centuries, source) or tuple(
            range(FIRST_CENTURY, FIRST_CENTURY + values.shape[0])
        )
        if len(centuries) != values.shape[0]:
            raise HistoryFormatError(
                f"{source}: {len(centuries)} centuries given for {values.shape[0]} time steps"
            )
        if not isinstance(self.provenance, dict):
            raise HistoryFormatError(
                f"{source}: 'provenance' must be an object (dict), found {type(self.provenance).__name__}"
            )
        values.setflags(write=False)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "centuries", centuries)

    @property
    def num_centuries(self) -> int:
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
        _check_unique(dims, f"{source}: 'dims'")
        name = data.get("value_space")
        if name is not None and not isinstance(name, str):
            raise HistoryFormatError(f"{source}: 'value_space' must be a name (string), found {name!r}")
        space = _space_for(name, dims, source)
        provenance = data.get("provenance")
        if provenance is None:
            provenance = {}
        if not isinstance(provenance, dict):
            raise HistoryFormatError(
                f"{source}: 'provenance' must be an object, found {type(provenance).__name__} {_short(provenance)}"
            )
        _check_nesting(provenance, f"{source}: 'provenance'")
        provenance = {**provenance}
        provenance.setdefault("source", source)
        centuries = data.get("centuries")
        if centuries is None:
            centuries = []
        if not isinstance(centuries, list):
            raise HistoryFormatError(
                f"{source}: 'centuries' must be a list of ints, found {type(centuries).__name__} {_short(centuries)}"
            )
        return cls(
            values=_json_table(data["values"], len(dims), source),
            value_space=space,
            centuries=tuple(centuries),
            provenance=provenance,
        )


def _space_for(name: Any, dims: list[str], source: str) -> ValueSpace:
    inferred = infer_value_space(dims)
    if name is None or name == inferred.name:
        return inferred
    if inferred.name in VALUE_SPACES:  # the dims of a built-in space under another name: a typo?
        raise HistoryFormatError(
            f"{source}: the dims are those of the built-in value space {inferred.name!r}, but 'value_space' "
            f"says {name!r}; write {inferred.name!r} (or leave 'value_space' out)"
        )
    try:
        named = get_value_space(str(name))
    except KeyError:
        return ValueSpace(name=str(name), dims=tuple(dims))
    if named.dims != tuple(dims) and not named.name.startswith("generic"):
        raise HistoryFormatError(
            f"{source}: value_space {name!r} has dims {list(named.dims)}, but the file lists {dims}"
        )
    return ValueSpace(name=str(name), dims=tuple(dims))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_unique(names: list[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise HistoryFormatError(f"{where} lists {name!r} twice (each dim needs its own name)")
        seen.add(name)


def _check_nesting(value: Any, where: str, depth: int = 0) -> None:
    """Refuse lists/objects nested deeper than :data:`MAX_NESTING` (without recursing past it)."""
    if depth > MAX_NESTING:
        raise HistoryFormatError(f"{where} is nested more than {MAX_NESTING} levels deep")
    if isinstance(value, dict):
        for item in value.values():
            _check_nesting(item, where, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_nesting(item, where, depth + 1)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_table(values: Any, dim: int, source: str) -> np.ndarray:
    """A JSON ``values`` table as floats: a list of rows, each a list of ``dim`` numbers (no strings, bools)."""
    if not isinstance(values, list):
        raise HistoryFormatError(f"{source}: 'values' must be a list of rows, found {type(values).__name__}")
    for t, row in enumerate(values):
        if not isinstance(row, list):
            raise HistoryFormatError(f"{source}: values[{t}] must be a list of {dim} numbers, found {_short(row)}")
        if len(row) != len(values[0]):
            raise HistoryFormatError(f"{source}: values[{t}] has {len(row)} entries, values[0] has {len(values[0])}")
        for i, cell in enumerate(row):
            if not _is_number(cell):
                raise HistoryFormatError(
                    f"{source}: values[{t}][{i}] is {_short(cell)}, not a numeric value (strings and booleans are "
                    "refused, not converted)"
                )
    try:
        return np.array(values, dtype=np.float64).reshape(len(values), len(values[0]) if values else dim)
    except OverflowError:
        raise HistoryFormatError(f"{source}: 'values' holds an integer too large for a float") from None


def _validated_centuries(centuries: Any, source: str) -> tuple[int, ...]:
    """Centuries as ints counting up by one (a gap or repeat means a lost or duplicated row)."""
    out: list[int] = []
    for k, c in enumerate(centuries):
        if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, np.integer)):
            raise HistoryFormatError(f"{source}: centuries[{k}] is {_short(c)}, not an int")
        out.append(int(c))
    for k in range(1, len(out)):
        if out[k] != out[k - 1] + 1:
            raise HistoryFormatError(
                f"{source}: centuries must count up by one, but {out[k - 1]} is followed by {out[k]} "
                "(a missing, repeated or reordered row?)"
            )
    return tuple(out)


def _validated_values(values: Any, source: str) -> np.ndarray:
    raw = values if isinstance(values, np.ndarray) else None
    try:
        if raw is None:
            raw = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise HistoryFormatError(f"{source}: values are not a numeric T x d table ({exc})") from None
    if raw.dtype.kind not in "iuf":
        raise HistoryFormatError(
            f"{source}: values must be numbers, found an array of dtype {raw.dtype} (strings, booleans and "
            "objects are refused, not converted)"
        )
    try:
        array = np.array(raw, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise HistoryFormatError(f"{source}: values are not a numeric T x d table ({exc})") from None
    if array.ndim != 2:
        raise HistoryFormatError(f"{source}: values must be a T x d table, found shape {array.shape}")
    if array.shape[0] < MIN_CENTURIES or array.shape[1] < 1:
        raise HistoryFormatError(
            f"{source}: a history needs at least {MIN_CENTURIES} centuries and 1 dim, found shape {array.shape}"
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
        text = path.read_text(encoding="utf-8-sig")  # -sig: skips the byte-order mark Excel writes
    except (OSError, UnicodeDecodeError) as exc:
        raise HistoryFormatError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(text, object_pairs_hook=_unique_keys(str(path)))
        except json.JSONDecodeError as exc:
            raise HistoryFormatError(f"{path}: not valid JSON ({exc})") from None
        except RecursionError:
            raise HistoryFormatError(f"{path}: JSON nested too deeply to be a trajectory file") from None
        return History.from_dict(data, source=str(path))
    if suffix == ".csv":
        return _history_from_csv(text, source=str(path))
    raise HistoryFormatError(f"{path}: unknown history file type {suffix!r}; use .json or .csv")


def _unique_keys(source: str) -> Any:
    """A ``json.loads`` object hook that refuses an object with a repeated key (JSON keeps the last)."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise HistoryFormatError(f"{source}: the JSON object key {key!r} appears twice")
            out[key] = value
        return out

    return hook


def _csv_number(cell: str, source: str, line_no: int, column: str) -> float:
    """A CSV field as a float: a plain decimal (leading spaces allowed), or nan/inf (refused later as such)."""
    text = cell.lstrip(" ")
    if _DECIMAL.match(text) or _NON_FINITE.match(text):
        return float(text)
    raise HistoryFormatError(
        f"{source}: line {line_no} has a non-numeric field: column {column!r} is {cell!r}, not a number"
    )


def _csv_int(cell: str, source: str, line_no: int, column: str) -> int:
    text = cell.lstrip(" ")
    if not _INTEGER.match(text):
        raise HistoryFormatError(
            f"{source}: line {line_no} has a non-numeric field: column {column!r} is {cell!r}, not an integer"
        )
    return int(text)


def _history_from_csv(text: str, source: str) -> History:
    text = text.removeprefix("\ufeff")
    unterminated = bool(text.strip()) and not text.endswith(("\n", "\r"))
    first_line = text.lstrip("\r\n").splitlines()[0] if text.strip() else ""
    if first_line.count('"') % 2:
        raise HistoryFormatError(
            f"{source}: the CSV header has a stray or unbalanced quote ({_short(first_line)}); close the quote "
            "or remove it"
        )
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = list(reader)
    except csv.Error as exc:
        where = "the CSV header (line 1)" if reader.line_num <= 1 else f"line {reader.line_num}"
        hint = "; the last line has no line end, so the file looks cut short" if unterminated else ""
        raise HistoryFormatError(f"{source}: not a valid CSV file: {where}: {exc}{hint}") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise HistoryFormatError(f"{source}: the CSV file is empty")
    header = [cell.strip() for cell in rows[0]]
    _check_header_text(header, source)
    if "century" not in header:
        raise HistoryFormatError(f"{source}: the CSV header needs a 'century' column, found {header}")
    _check_unique(header, f"{source}: the CSV header")
    if "" in header:
        raise HistoryFormatError(f"{source}: the CSV header has an empty column name: {header}")
    if unterminated and len(rows) > 1:
        _check_last_row_complete(rows[-1], len(header), len(rows), source)
    dims = [name for name in header if name not in _CSV_META_COLUMNS]
    if not dims:
        raise HistoryFormatError(f"{source}: the CSV header has no value columns besides {header}")
    century_col = header.index("century")
    dim_cols = [header.index(name) for name in dims]
    year_cols = [header.index(name) for name in ("year_start", "year_end") if name in header]
    centuries: list[int] = []
    values: list[list[float]] = []
    for line_no, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise HistoryFormatError(
                f"{source}: line {line_no} has {len(row)} fields, the header has {len(header)}"
            )
        centuries.append(_csv_int(row[century_col], source, line_no, "century"))
        years = [_csv_int(row[c], source, line_no, header[c]) for c in year_cols]
        if len(years) == 2 and years[0] > years[1]:
            raise HistoryFormatError(f"{source}: line {line_no}: year_start {years[0]} is after year_end {years[1]}")
        values.append([_csv_number(row[c], source, line_no, header[c]) for c in dim_cols])
    return History(
        values=np.array(values, dtype=np.float64),
        value_space=infer_value_space(dims),
        centuries=tuple(centuries),
        provenance={"source": source},
    )


def _check_header_text(header: list[str], source: str) -> None:
    """Refuse a header name holding a quote: a stray quote, not part of a name.

    Python's ``csv`` keeps a quote inside an unquoted field as text (``r"ligion``), so it would otherwise
    become a value-space dim; an odd number of quotes on the header line is refused before parsing.
    """
    for column, name in enumerate(header, start=1):
        if '"' in name:
            raise HistoryFormatError(
                f"{source}: the CSV header has a stray quote in column {column} ({name!r}); a column name "
                'may be quoted as a whole ("name") but may not contain a quote character'
            )


def _check_last_row_complete(row: list[str], width: int, line_no: int, source: str) -> None:
    """A last line without a line end must be a whole row; otherwise the file was cut short.

    Our own writers are atomic (a partial file never appears under its name), so a cut file comes from
    elsewhere (an interrupted copy or download). A cut shows as a missing field or a number that stops
    before its digits (``0.``, ``1e-``). A cut between two digits of the very last number leaves a valid
    shorter number, which no reader can tell from real data without a checksum.
    """
    cut = f"{source}: line {line_no}, the last line, has no line end and "
    if len(row) != width:
        raise HistoryFormatError(
            cut + f"has {len(row)} fields where the header has {width}: the file looks cut short"
        )
    last = row[-1].strip()
    if not last or not last[-1].isdigit():
        raise HistoryFormatError(
            cut + f"ends in {row[-1]!r}, a partial number: the file looks cut short"
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
        for century, row in zip(history.centuries, history.values, strict=True):
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
    "MIN_CENTURIES",
    "TRAJECTORY_FORMAT",
    "TRAJECTORY_VERSION",
    "History",
    "corpus_history",
    "load_history_file",
    "logit_steps",
    "save_history",
]
