"""The results store: every run of a benchmark folder as Parquet part files, appended, never rewritten.

``results.json`` holds a benchmark's runs in one JSON document rewritten on every save: fine for a
few thousand runs, hopeless for millions (a 2.5 GB file re-encoded at every save, every run in memory).
The store keeps them in a columnar form instead (:data:`~.store_schema.SCHEMA`, one row per run)::

    <out>/store/part-000000-<8 hex>.parquet    committed parts, one row group each, in commit order
    <out>/store/staging/<32 hex>.parquet       parts written by Ray workers, not yet committed
    <out>/store/.<name>.<pid>-<hex>.tmp.parquet  a part being written (atomic write's temporary file)

Integrity rules:

- **append only**: a flush writes the runs that arrived since the last one as a new part file (one
  row group) and never touches stored parts, so saving costs what the new runs cost, whatever the
  store holds;
- **crash-safe**: a part is written to a temporary name, fsynced and renamed into place
  (:func:`~progressgym_env.common.atomic.atomic_path`), so a kill at any moment loses at most the runs
  not yet flushed and leaves every committed part whole;
- **workers write, the driver commits**: a Ray task writes its runs to ``staging/`` (when it can see the
  folder: one machine or shared storage) and hands the driver the file name; the driver renames it into
  a part (:meth:`StoreWriter.commit_staged`). A task on a machine without the folder hands back its
  table and the driver writes it;
- **reported, never used**: leftovers (temporary files of dead writers, staged parts never committed)
  and parts that cannot be read as the store's schema (truncated, another format) are listed in
  :attr:`ResultsStore.problems`, warned about, and left out of every read; a writer removes the
  leftovers when it opens the folder (it holds the folder's lock) and leaves unreadable parts for a
  person to look at;
- **keyed by the run identity** (``key``): resume reads that column alone (:meth:`ResultsStore.keys`).

``results.json`` stays the export and import format for small sets, ProgressGym interop and old
folders: :func:`import_results` copies a ``results.json`` folder into a store (the ``results.json``
is left as it was), and :meth:`ResultsStore.runs` yields run dicts equal to its entries.

pyarrow is a core dependency; nothing here imports DuckDB (``duckdb.sql("select ... from
read_parquet('<out>/store/part-*.parquet')")`` reads the parts directly, staged and temporary files
excluded by the pattern).
"""

from __future__ import annotations

import os
import re
import secrets
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from progressgym_env.benchmark.store_schema import SCHEMA, run_of_row, table_of_runs
from progressgym_env.common.atomic import atomic_path, is_temp_file, remove_stale_temp_files
from progressgym_env.errors import ResultsFileError

if TYPE_CHECKING:
    import pyarrow.dataset as ds

STORE_DIR = "store"
STAGING_DIR = "staging"
PART_GLOB = "part-*.parquet"
_PART = re.compile(r"^part-(\d{6,})-[0-9a-f]{8}\.parquet$")
_STAGED = re.compile(r"^[0-9a-f]{32}\.parquet$")
ROW_GROUP_RUNS = 32_768
"""A flush happens once this many runs are buffered (a kill loses at most this many)."""
FLUSH_SECONDS = 5.0
"""... or once runs have waited this long (slow episodes are saved as they finish)."""
_WRITE_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 1,
    "use_dictionary": [f.name for f in SCHEMA if pa.types.is_string(f.type)],
    "write_statistics": ["key", "settings_key", "agent", "challenge", "seed"],
    "write_page_checksum": True,
}
"""zstd level 1 and dictionaries for the string columns only: trying a dictionary on float vectors (random
values, never repeating) made writing 8x slower for no smaller file (``benchmarks/README.md``, the store)."""


class StoreProblem(UserWarning):
    """A file in a store folder that is not used: a leftover or an unreadable part."""


class ResultsStore:
    """The store of a benchmark folder: read API (writers: :meth:`writer`).

    Reading never changes the folder and uses committed parts only. Each part is checked once (its
    footer read and its schema compared with :data:`~.store_schema.SCHEMA`); what fails is listed in
    :attr:`problems` and warned about.

    :param folder: the benchmark's output folder (the store is its ``store/`` subfolder).
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / STORE_DIR
        self._checked: dict[Path, tuple[float, int, int | None]] = {}  # path -> (mtime, size, rows or None)
        self._damaged: set[Path] = set()  # parts whose footer reads but whose data does not
        self.problems: list[str] = []

    # -- what is stored -----------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the folder has a store (committed parts or not)."""
        return self.path.is_dir()

    def parts(self) -> list[Path]:
        """The committed, readable part files, in commit order (problems recorded in :attr:`problems`)."""
        if not self.path.is_dir():
            return []
        problems: list[str] = []
        good: list[Path] = []
        for entry in sorted(self.path.iterdir(), key=_commit_order):
            if entry.is_dir():
                if entry.name == STAGING_DIR:
                    problems += [f"{p}: a part staged by a worker and never committed (not used)"
                                 for p in sorted(entry.iterdir())]
                continue
            if is_temp_file(entry):
                problems.append(f"{entry}: the temporary file of a write that did not finish (not used)")
                continue
            if not _PART.match(entry.name):
                problems.append(f"{entry}: not a part file of the store (not used)")
                continue
            rows = self._rows(entry)
            if entry in self._damaged:
                problems += [p for p in self.problems if p.startswith(f"{entry}: damaged data")]
            elif isinstance(rows, str):
                problems.append(f"{entry}: {rows} (not used; move it aside)")
            else:
                good.append(entry)
        if problems != self.problems:
            for problem in problems:
                if problem not in self.problems:
                    warnings.warn(problem, StoreProblem, stacklevel=2)
        self.problems = problems
        return good

    def _rows(self, path: Path) -> int | str:
        """The row count of part ``path``, or what is wrong with it (cached per mtime and size)."""
        stat = path.stat()
        cached = self._checked.get(path)
        if cached is not None and cached[:2] == (stat.st_mtime, stat.st_size) and cached[2] is not None:
            return cached[2]
        try:
            meta = pq.read_metadata(path)
            schema = meta.schema.to_arrow_schema()
        except (OSError, pa.ArrowException) as exc:
            return f"not a readable Parquet file ({type(exc).__name__}: {exc})"
        if not schema.remove_metadata().equals(SCHEMA.remove_metadata()):
            return "a Parquet file whose columns are not the store's"
        self._checked[path] = (stat.st_mtime, stat.st_size, meta.num_rows)
        return int(meta.num_rows)

    def count(self) -> int:
        """The number of stored runs (from the parts' footers; no data read)."""
        return sum(int(self._rows(p)) for p in self.parts())

    def dataset(self) -> ds.Dataset:
        """A ``pyarrow.dataset`` of the committed parts (lazy: filter and project before reading).

        Fastest for whole-store queries; a part damaged behind an intact footer raises there, where
        :meth:`scan` skips and reports it. (``pyarrow.dataset`` is imported here, on first use: it costs
        about a second of import time that a small benchmark need not pay.)
        """
        import pyarrow.dataset as ds

        read_format = ds.ParquetFileFormat(default_fragment_scan_options=ds.ParquetFragmentScanOptions(
            page_checksum_verification=True))
        return ds.dataset([str(p) for p in self.parts()], schema=SCHEMA, format=read_format)

    def scan(
        self, columns: Sequence[str] | None = None, filter: ds.Expression | None = None, batch_size: int = 65_536
    ) -> Iterator[pa.RecordBatch]:
        """Record batches of ``columns`` (default all) of the runs matching ``filter``, part by part.

        Memory stays bounded by one part's chosen columns (a part is one row group, at most
        :data:`ROW_GROUP_RUNS` runs). A part whose data turns out unreadable (a page checksum that fails,
        a damaged page behind an intact footer) is skipped whole, added to :attr:`problems` and warned about.

        :param columns: column names of :data:`~.store_schema.SCHEMA`.
        :param filter: a ``pyarrow.dataset`` expression, e.g. ``pc.field("seed") < 100``.
        """
        for part in self.parts():
            try:
                table = pq.ParquetFile(part, page_checksum_verification=True).read(
                    columns=None if filter is not None or not columns else list(columns))
                if filter is not None:
                    table = table.filter(filter)
                    if columns:
                        table = table.select(list(columns))
            except (OSError, pa.ArrowException) as exc:
                problem = f"{part}: damaged data ({type(exc).__name__}: {exc}) (not used; move it aside)"
                if problem not in self.problems:
                    self.problems.append(problem)
                    warnings.warn(problem, StoreProblem, stacklevel=2)
                self._checked.pop(part, None)
                self._damaged.add(part)
                continue
            yield from table.to_batches(max_chunksize=batch_size)

    def runs(self, filter: ds.Expression | None = None, batch_size: int = 4_096) -> Iterator[dict[str, Any]]:
        """The stored runs as ``results.json`` run dicts (equal to them), in commit order."""
        for batch in self.scan(filter=filter, batch_size=batch_size):
            for row in batch.to_pylist():
                yield run_of_row(row)

    def keys(self) -> pa.ChunkedArray:
        """Every stored run identity (the ``key`` column alone), as one chunked Arrow string array."""
        return pa.chunked_array([batch.column(0) for batch in self.scan(columns=["key"])], pa.string())

    # -- writing ------------------------------------------------------------------------------------

    def writer(self, row_group_runs: int | None = None, flush_seconds: float | None = None) -> StoreWriter:
        """A writer appending parts (hold the folder's lock, :func:`~.results.folder_lock`, while writing).

        :param row_group_runs: runs per part (default :data:`ROW_GROUP_RUNS`).
        :param flush_seconds: longest wait of a buffered run (default :data:`FLUSH_SECONDS`).
        """
        return StoreWriter(self, ROW_GROUP_RUNS if row_group_runs is None else row_group_runs,
                           FLUSH_SECONDS if flush_seconds is None else flush_seconds)

    def staging(self) -> Path:
        """The folder Ray workers write their parts to before the driver commits them."""
        return self.path / STAGING_DIR


class StoreWriter:
    """Appends runs to a store: buffered, flushed as one new part file per row group.

    Opening removes what dead writers left (temporary files, uncommitted staged parts; reported as a
    warning). Use as a context manager: leaving it flushes what is buffered, also on an exception or
    Ctrl-C. Only one writer per folder at a time (the runner holds the folder lock).

    :param store: the store to append to.
    :param row_group_runs: flush when this many runs are buffered.
    :param flush_seconds: flush when buffered runs have waited this long.
    """

    def __init__(self, store: ResultsStore, row_group_runs: int = ROW_GROUP_RUNS,
                 flush_seconds: float = FLUSH_SECONDS) -> None:
        self.store = store
        self.row_group_runs = row_group_runs
        self.flush_seconds = flush_seconds
        store.path.mkdir(parents=True, exist_ok=True)
        removed = remove_stale_temp_files(store.path, min_age_s=0.0)
        staging = store.staging()
        if staging.is_dir():
            for leftover in sorted(staging.iterdir()):
                leftover.unlink()
                removed.append(leftover)
        staging.mkdir(exist_ok=True)  # workers that see it stage their parts there
        if removed:
            warnings.warn(f"{store.path}: removed {len(removed)} file(s) an interrupted writer left "
                          f"({', '.join(p.name for p in removed[:3])}{' ...' if len(removed) > 3 else ''})",
                          StoreProblem, stacklevel=2)
        numbers = [int(m.group(1)) for p in store.path.iterdir() if (m := _PART.match(p.name))]
        self._next = max(numbers, default=-1) + 1
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._since = time.monotonic()
        self.written = 0
        """Runs committed by this writer."""

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()

    def add_table(self, table: pa.Table) -> None:
        """Buffer rows of :data:`~.store_schema.SCHEMA`; flush when the buffer is full or old."""
        if table.num_rows == 0:
            return
        if not self._buffer:
            self._since = time.monotonic()
        self._buffer.append(table)
        self._buffered += table.num_rows
        if self._buffered >= self.row_group_runs or time.monotonic() - self._since >= self.flush_seconds:
            self.flush()

    def add_runs(self, runs: Iterable[Mapping[str, Any]]) -> None:
        """Buffer run dicts (``results.json`` entries)."""
        self.add_table(table_of_runs(runs))

    def flush(self) -> None:
        """Write what is buffered as one new part (atomically); nothing if the buffer is empty."""
        if not self._buffer:
            return
        table = pa.concat_tables(self._buffer).combine_chunks()
        self._buffer, self._buffered = [], 0
        with atomic_path(self._next_part()) as tmp:
            pq.write_table(table, tmp, row_group_size=max(table.num_rows, 1), **_WRITE_OPTIONS)
        self.written += table.num_rows

    def commit_staged(self, staged: Path, rows: int) -> None:
        """Commit a part a worker wrote to :meth:`ResultsStore.staging` (a rename; flushes the buffer first,
        so parts keep the order runs arrived in)."""
        self.flush()
        if not _STAGED.match(staged.name) or staged.parent != self.store.staging():
            raise ResultsFileError(f"{staged} is not a staged part of {self.store.path}")
        os.replace(staged, self._next_part())
        self.written += rows

    def _next_part(self) -> Path:
        path = self.store.path / f"part-{self._next:06d}-{secrets.token_hex(4)}.parquet"
        self._next += 1
        return path


def _commit_order(path: Path) -> tuple[int, str]:
    """Parts by their number (names sort wrongly past a million parts), then anything else by name."""
    match = _PART.match(path.name)
    return (int(match.group(1)), path.name) if match else (-1, path.name)


def write_staged(table: pa.Table, staging: Path) -> Path:
    """Write ``table`` as a staged part in ``staging`` (a worker's side of :meth:`StoreWriter.commit_staged`).

    Atomic: the staged file is complete or absent. :return: its path.
    """
    path = staging / f"{secrets.token_hex(16)}.parquet"
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, row_group_size=max(table.num_rows, 1), **_WRITE_OPTIONS)
    return path


def import_results(folder: str | os.PathLike[str], runs: Sequence[Mapping[str, Any]]) -> int:
    """Append the ``runs`` (validated ``results.json`` entries) not yet in ``folder``'s store; returns how many.

    The convert path ``results.json -> store``: runs already stored (same identity) are skipped, so
    converting twice adds nothing. The caller holds the folder lock.
    """
    store = ResultsStore(folder)
    table = table_of_runs(runs)
    stored = store.keys()
    if len(stored):
        import pyarrow.compute as pc

        table = table.filter(pc.invert(pc.is_in(table.column("key"), value_set=stored.combine_chunks())))
    with store.writer(row_group_runs=max(table.num_rows, 1)) as writer:
        writer.add_table(table)
    return table.num_rows


__all__ = [
    "FLUSH_SECONDS",
    "PART_GLOB",
    "ROW_GROUP_RUNS",
    "STORE_DIR",
    "ResultsStore",
    "StoreProblem",
    "StoreWriter",
    "import_results",
    "write_staged",
]
