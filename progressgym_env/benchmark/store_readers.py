"""Everything that reads a results store, in bounded memory: leaderboard, plots' groups, export, statistics.

The store (:mod:`~progressgym_env.benchmark.store`) holds one row per run. Readers never load every
run: ranking agents is a grouped SQL aggregation (:mod:`~progressgym_env.benchmark.aggregates`) over
the scalar columns; a plot, a wandb run or a statistic reads the one group it needs; an export streams
runs batch by batch.

**Derived scores.** Ranking needs three per-run numbers the store's schema does not carry: the
``centered`` score and the lock-in and reference scores of the run's history (for the normalisation
of the mean). They are computed once per committed part, from its vectors in a batch
(:func:`derived_score_columns`, the judges' own formulas on (N, T, d) arrays), and kept beside it as a
small sidecar ``store/derived/<part>.parquet`` (:data:`DERIVED_SCHEMA`: ``seq`` and the three scores,
row for row with the part). A sidecar is an index, not data: it is written atomically, checked against
its part (row count, and the part's size and modification time in its metadata) and recomputed when
it does not match — never used stale. A leaderboard therefore reads the vectors of each part once in
the part's life, and only the scalar columns afterwards.

``seq`` is a run's append order: ``part number << 32 | row in part`` (parts are numbered in commit
order), so "the newest model of an agent" and "the first record of a challenge" mean what they mean
in ``results.json``, whose file order is its append order.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from progressgym_env.benchmark.aggregates import Aggregation, aggregate_rows, connect
from progressgym_env.benchmark.leaderboard import SMALL_SPAN, label_settings, render_markdown
from progressgym_env.benchmark.store import ResultsStore
from progressgym_env.common.atomic import atomic_path

DERIVED_DIR = "derived"
DERIVED_SCHEMA = pa.schema([
    pa.field("seq", pa.int64(), nullable=False),
    pa.field("centered_score", pa.float64()),
    pa.field("lock_in_score", pa.float64()),
    pa.field("reference_score", pa.float64()),
])
"""A part's sidecar: its runs' append order and the three derived scores (NaN where not computable)."""
DERIVED_INPUTS = ("challenge", "record_meta", "human", "model", "simulated")
"""The only columns :func:`derived_score_columns` reads."""
RANK_COLUMNS = ("agent", "challenge", "env_id", "history", "seed", "model_sha256", "settings_key", "final_score",
                "normalized_score")
"""The only columns of the parts a leaderboard reads (besides the sidecars)."""
DERIVED_CHUNK = 4_096
"""Rows scored per batch (Coevolve's batch holds (N, T, T, d) similarities: ~13 MB at this size)."""
STORE_SCORED_BY = ("aggregated in the results store from the judges' scores stored with each run (the centred, "
                   "lock-in and reference scores from its saved vectors)")
"""The header's account of where a store leaderboard's scores come from."""
MAX_TRAJECTORIES = 200
"""A plot draws at most this many runs of a group (evenly spaced in seed order); its title says so."""
_SOURCE_VERSION = "1"


def part_number(part: Path) -> int:
    """The commit number in a part's file name (``part-000012-<hex>.parquet`` -> 12)."""
    return int(part.name.split("-")[1])


def derived_score_columns(table: pa.Table) -> dict[str, np.ndarray]:
    """``centered_score``, ``lock_in_score`` and ``reference_score`` of every row of ``table`` (store rows).

    Rows are grouped by their record's non-array fields (one challenge, history length, value space
    and parameters per group) and each group is scored as one batch by its challenge's judge
    (:meth:`~progressgym_env.judges.Judge.scores_under` with the centred similarity,
    :meth:`~progressgym_env.judges.Judge.reference_scores`): the same numbers as
    :func:`~progressgym_env.benchmark.leaderboard.centered_normalized_score` and
    ``judge_for_record(record).reference_scores()`` run by run. Rows without vectors get NaN.
    Reads only :data:`DERIVED_INPUTS`.
    """
    from progressgym_env.judges import make_judge, make_similarity
    from progressgym_env.records import EpisodeRecord

    n = table.num_rows
    out = {name: np.full(n, math.nan) for name in ("centered_score", "lock_in_score", "reference_score")}
    if n == 0:
        return out
    metas = table.column("record_meta").to_pylist()
    has_human = np.asarray(pc.is_valid(table.column("human")).to_numpy(zero_copy_only=False), dtype=bool)
    groups: dict[str, list[int]] = {}
    for index, meta in enumerate(metas):
        if has_human[index]:
            groups.setdefault(meta, []).append(index)
    chunks = [(meta, indices[i:i + DERIVED_CHUNK]) for meta, indices in groups.items()
              for i in range(0, len(indices), DERIVED_CHUNK)]
    for meta_text, indices in chunks:
        rows = table.take(pa.array(indices, pa.int64()))
        meta = json.loads(meta_text)
        human = _matrices(rows.column("human"))
        models = _matrices(rows.column("model")) if rows.column("model").null_count == 0 else None
        simulated = _matrices(rows.column("simulated")) if rows.column("simulated").null_count == 0 else None
        record = EpisodeRecord.from_dict({**meta, "human": human[0]})  # its challenge and parameters
        judge = make_judge(record.challenge, human, **record.params)
        lock_in, reference = judge.reference_scores()
        batch = {"model": models, "simulated": simulated}
        try:
            score, c_lock, c_ref = judge.scores_under(batch, make_similarity("centered", human))
        except (ValueError, TypeError):  # no vectors of the kind this judge scores (an imported run)
            score = c_lock = c_ref = np.full(len(indices), math.nan)
        span = np.asarray(c_ref) - np.asarray(c_lock)
        tiny = np.abs(span) < 1e-12
        centered = np.where(tiny, 0.0, (np.asarray(score) - c_lock) / np.where(tiny, 1.0, span))
        where = np.asarray(indices)
        out["centered_score"][where] = centered
        out["lock_in_score"][where] = lock_in
        out["reference_score"][where] = reference
    return out


def _matrices(column: pa.ChunkedArray) -> np.ndarray:
    """An (N, T, d) float array from a ``list<list<float64>>`` column of equal-shape rows."""
    array = column.combine_chunks()
    n = len(array)
    inner = pc.list_flatten(array)
    flat = pc.list_flatten(inner).to_numpy(zero_copy_only=False)
    rows = len(inner) // n if n else 0
    return np.asarray(flat, dtype=np.float64).reshape(n, rows, -1)


def derived_path(part: Path) -> Path:
    """The sidecar of ``part``: ``store/derived/<part name>``."""
    return part.parent / DERIVED_DIR / part.name


def _part_stamp(part: Path) -> str:
    stat = part.stat()
    return f"{_SOURCE_VERSION}:{stat.st_size}:{stat.st_mtime_ns}"


def _sidecar_ok(part: Path, sidecar: Path, rows: int) -> bool:
    try:
        meta = pq.read_metadata(sidecar)
        stamp = (meta.metadata or {}).get(b"progressgym_part", b"").decode()
        return (meta.num_rows == rows and stamp == _part_stamp(part)
                and meta.schema.to_arrow_schema().remove_metadata().equals(DERIVED_SCHEMA))
    except (OSError, pa.ArrowException):
        return False


def ensure_derived(store: ResultsStore, parts: Sequence[Path] | None = None) -> list[Path]:
    """The sidecar of every committed part, computing those missing or not matching their part.

    Reads only :data:`DERIVED_INPUTS` of a part whose sidecar must be (re)computed; writes each
    sidecar atomically. :returns: the sidecars, in the parts' order.
    """
    parts = store.parts() if parts is None else list(parts)
    sidecars = []
    for part in parts:
        sidecar = derived_path(part)
        rows = pq.read_metadata(part).num_rows
        if not _sidecar_ok(part, sidecar, rows):
            table = pq.read_table(part, columns=list(DERIVED_INPUTS))
            scores = derived_score_columns(table)
            seq = (np.int64(part_number(part)) << np.int64(32)) + np.arange(rows, dtype=np.int64)
            out = pa.table({"seq": seq, **scores}, schema=DERIVED_SCHEMA).replace_schema_metadata(
                {"progressgym_part": _part_stamp(part)})
            sidecar.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(sidecar) as tmp:
                pq.write_table(out, tmp, compression="zstd")
        sidecars.append(sidecar)
    return sidecars


def _sql_list(paths: Sequence[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def runs_view(con: Any, store: ResultsStore, columns: Sequence[str] = RANK_COLUMNS) -> int:
    """Create the DuckDB view ``runs``: ``columns`` of every committed part beside its sidecar's scores.

    Parts and sidecars are read row for row (a positional join: both list the same runs in the same
    order); only the named columns are decoded. :returns: the number of parts.
    """
    parts = store.parts()
    if not parts:
        raise FileNotFoundError(f"{store.path}: no committed parts")
    sidecars = ensure_derived(store, parts)
    selected = ", ".join(f'p."{c}"' for c in columns)
    con.execute(
        f"CREATE OR REPLACE VIEW runs AS SELECT {selected}, d.seq, d.centered_score, d.lock_in_score, "
        f"d.reference_score FROM read_parquet({_sql_list(parts)}) p "
        f"POSITIONAL JOIN read_parquet({_sql_list(sidecars)}) d"
    )
    return len(parts)


@dataclass(frozen=True)
class StoreLeaderboard:
    """A leaderboard aggregated from a store.

    :param aggregation: rows, histories, spans (:class:`~progressgym_env.benchmark.aggregates.Aggregation`).
    :param superseded: runs of older model files left out. :param other_settings: runs left out by the filter.
    :param first_seq: per challenge, the ``seq`` of its first tabulated run (its record defines the header).
    :param labels: the tabulated settings groups: settings key -> (challenge, row label).
    """

    aggregation: Aggregation
    superseded: int
    other_settings: int
    first_seq: Mapping[str, int]
    labels: Mapping[str, tuple[str, str]]

    def settings_of(self, challenge: str, label: str) -> list[str]:
        """The settings keys a row (``challenge``, ``label``) averages."""
        return sorted(k for k, row in self.labels.items() if row == (challenge, label))


def _settings(con: Any) -> list[dict[str, Any]]:
    """One representative run dict (no seed, no vectors) per settings group of the view ``runs``, with its
    run count and first and last ``seq`` (in append order of first runs)."""
    found = con.sql(
        "SELECT settings_key, any_value(agent), any_value(challenge), any_value(env_id), any_value(history), "
        "any_value(kwargs), any_value(agent_config), any_value(model_sha256), count(*), min(seq), max(seq) "
        "FROM runs GROUP BY settings_key ORDER BY min(seq)"
    ).fetchall()
    groups = []
    for key, agent, challenge, env_id, history, kwargs, agent_config, sha, count, first, last in found:
        run = {"agent": agent, "challenge": challenge, "env_id": env_id, "kwargs": json.loads(kwargs),
               "agent_config": json.loads(agent_config), "seed": 0, "model_sha256": sha or "", "settings_key": key,
               "count": int(count), "first": int(first), "last": int(last)}
        if history is not None:
            run["history"] = history
        groups.append(run)
    return groups


def tabulated_groups(groups: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The settings groups a leaderboard tabulates, labelled; and the run count of superseded models.

    ``label_settings`` names groups that differ in settings other than the model file; of each
    (label, challenge), only the groups of the newest model (the one of the last run appended) are kept,
    as :func:`~progressgym_env.benchmark.leaderboard.latest_models_only` keeps a results.json's runs.
    """
    labelled = label_settings(list(groups))
    newest: dict[tuple[str, str], tuple[int, str]] = {}
    for group in labelled:
        row = (group["agent"], group["challenge"])
        newest[row] = max(newest.get(row, (-1, "")), (group["last"], group["model_sha256"]))
    kept = [g for g in labelled if g["model_sha256"] == newest[(g["agent"], g["challenge"])][1]]
    return kept, sum(g["count"] for g in labelled) - sum(g["count"] for g in kept)


def store_leaderboard(
    store: ResultsStore,
    keep: Callable[[Mapping[str, Any]], bool] | None = None,
    small_span: float = SMALL_SPAN,
    con: Any = None,
) -> StoreLeaderboard:
    """The leaderboard of a store, aggregated by DuckDB (the numbers of ``leaderboard_rows`` on its runs).

    As for ``results.json``: an agent run under several settings gets one labelled row per settings group
    (:func:`~progressgym_env.benchmark.leaderboard.label_settings`) and only the newest model file's runs
    of each (agent, challenge) are tabulated (:func:`tabulated_groups`). Both are decided on one row per
    settings group; the runs are then aggregated per settings group in two scans of the scalar columns
    (:func:`~progressgym_env.benchmark.aggregates.aggregate_rows`). Memory grows with the number of settings
    groups, not runs.

    :param keep: which settings groups to tabulate, given a representative run dict of each (agent,
        agent_config, challenge, env_id, kwargs, history, model_sha256); None keeps all.
    """
    con = con or connect()
    runs_view(con, store, RANK_COLUMNS + ("kwargs", "agent_config"))
    groups = _settings(con)
    wanted = [g for g in groups if keep is None or keep(g)]
    other = sum(g["count"] for g in groups) - sum(g["count"] for g in wanted)
    kept, superseded = tabulated_groups(wanted)
    labels = {g["settings_key"]: (g["challenge"], g["agent"]) for g in kept}
    source = "runs"
    if len(kept) < len(groups):
        con.register("tabulated", pa.table({"settings_key": sorted(labels)}))
        con.execute("CREATE OR REPLACE VIEW kept AS SELECT * FROM runs WHERE settings_key IN "
                    "(SELECT settings_key FROM tabulated)")
        source = "kept"
    aggregation = aggregate_rows(con, source, labels, key="settings_key", small_span=small_span)
    first: dict[str, int] = {}
    for g in kept:
        first[g["challenge"]] = min(first.get(g["challenge"], g["first"]), g["first"])
    histories = sorted({str(g.get("history") or "") for g in kept} - {""})
    return StoreLeaderboard(replace(aggregation, histories=histories), superseded, other, first, labels)


def reads_store(folder: str | os.PathLike[str]) -> bool:
    """Whether the readers take ``folder``'s runs from its results store: a folder with committed parts and no
    ``results.json``. A folder small enough for ``results.json`` (the runner writes it up to
    ``RESULTS_JSON_MAX_RUNS`` runs) keeps the in-memory path, which re-judges every run from its vectors."""
    from progressgym_env.benchmark.results import RESULTS_FILE

    path = Path(folder)
    return path.is_dir() and not (path / RESULTS_FILE).is_file() and bool(ResultsStore(path).parts())


def tabulated_runs(store: ResultsStore, board: StoreLeaderboard, batch_size: int = 4_096) -> Iterator[dict[str, Any]]:
    """The runs a leaderboard tabulates (its settings groups, newest models), labelled as its rows, streamed
    ``batch_size`` at a time in append order (exports, site configs)."""
    if not board.labels:
        return
    where = pc.field("settings_key").isin(sorted(board.labels))
    for run in store.runs(filter=where, batch_size=batch_size):
        from progressgym_env.benchmark.identity import settings_identity

        run["agent"] = board.labels[settings_identity(run)][1]
        yield run


def run_at(store: ResultsStore, seq: int, columns: Sequence[str] | None = None) -> dict[str, Any]:
    """The row stored at append position ``seq`` (reads the one part that holds it): the run dict, or with
    ``columns`` just those columns' values."""
    from progressgym_env.benchmark.store_schema import run_of_row

    number, row = int(seq) >> 32, int(seq) & 0xFFFFFFFF
    (part,) = [p for p in store.parts() if part_number(p) == number]
    values = pq.read_table(part, columns=list(columns) if columns else None).slice(row, 1).to_pylist()[0]
    return dict(values) if columns else run_of_row(values)


def header_record(store: ResultsStore, seq: int) -> dict[str, Any]:
    """The episode-record fields a leaderboard header needs (challenge, parameters, history) of run ``seq``."""
    row = run_at(store, seq, ["record_meta", "human"])
    return {**json.loads(row["record_meta"]), "human": row["human"]}


def store_markdown(store: ResultsStore, board: StoreLeaderboard) -> str:
    """The Markdown of a store's leaderboard (the text ``leaderboard_markdown`` gives for the same runs in a
    results.json)."""
    records = {c: header_record(store, seq) for c, seq in board.first_seq.items()}
    agg = board.aggregation
    return render_markdown(agg.rows, agg.histories, records, board.superseded, board.other_settings, agg.spans,
                           STORE_SCORED_BY)


def store_leaderboard_markdown(
    folder: str | os.PathLike[str], keep: Callable[[Mapping[str, Any]], bool] | None = None
) -> str:
    """The Markdown leaderboard of a benchmark folder's store (see :func:`store_leaderboard`)."""
    store = ResultsStore(folder)
    return store_markdown(store, store_leaderboard(store, keep))


WANDB_MAX_SEEDS = 1_000
"""A store group logged to wandb logs at most this many of its seeds as steps (evenly spaced); the
summary holds the whole group's means."""


def log_store_groups(tracker: Any, store: ResultsStore, board: StoreLeaderboard,
                     images: Mapping[tuple[str, str], Path] | None = None, progress: bool = False,
                     console: Any = None) -> int:
    """Log each tabulated settings group of a store not yet logged as one wandb run; return how many were.

    A group's wandb id comes from its runs' identities (the ``key`` column,
    :func:`~progressgym_env.benchmark.tracking.wandb_run_id_of_keys`), so a group already logged (its
    finished wandb folder found) is not logged again and a group that gained runs is logged anew.
    Reads one group at a time: its keys, and at most :data:`WANDB_MAX_SEEDS` of its runs.
    """
    from progressgym_env.benchmark.tracking import wandb_run_id_of_keys
    from progressgym_env.common.progress import ProgressBar

    rows = {(r.challenge, r.agent): r for r in board.aggregation.rows}
    logged = 0
    with ProgressBar(len(board.labels), "wandb runs", enabled=progress, console=console) as bar:
        for key, (challenge, label) in sorted(board.labels.items(), key=lambda item: item[1]):
            run_id = wandb_run_id_of_keys(group_keys(store, [key]))
            if tracker.find_logged(run_id) is None:
                runs, total = group_runs(store, challenge, label, WANDB_MAX_SEEDS, [key])
                row = rows[(challenge, label)]
                tracker.log_runs(runs, (images or {}).get((challenge, label)), run_id, total,
                                 (row.final_mean, row.normalized_mean))
                logged += 1
            bar.advance(f"{label} · {challenge}")
    return logged


def group_runs(
    store: ResultsStore, challenge: str, agent: str, limit: int | None = MAX_TRAJECTORIES,
    settings_keys: Sequence[str] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """The runs of one (challenge, agent) group as run dicts, at most ``limit`` of them; and the group's size.

    Reads the group's rows only (a filter pushed into the scan). A group larger than ``limit`` is
    subsampled evenly in seed order (deterministic), for a plot that says "n of N runs drawn".

    :param settings_keys: the settings groups of a leaderboard row (whose label may differ from the stored
        agent: ``static [query_budget=64]``), whose runs come back under the row's label; None: every run
        stored under ``agent``.
    """
    from progressgym_env.benchmark.store_schema import run_of_row

    where = (pc.field("challenge") == challenge) & (
        pc.field("agent") == agent if settings_keys is None else pc.field("settings_key").isin(list(settings_keys)))
    if not store.parts():
        return [], 0
    dataset = store.dataset()  # filters pushed into the scan: parts whose statistics exclude the group are skipped
    seeds = dataset.to_table(columns=["seed"], filter=where).column("seed").to_numpy()
    total = len(seeds)
    if limit is not None and total > limit:
        chosen = np.sort(seeds)[np.linspace(0, total - 1, limit).round().astype(np.int64)]
        where &= pc.field("seed").isin(chosen.tolist())
    runs = [run_of_row(row) for row in dataset.to_table(filter=where).to_pylist()]
    if settings_keys is not None:
        runs = [{**run, "agent": agent} for run in runs]
    return sorted(runs, key=lambda r: int(r["seed"])), total


def group_scores(store: ResultsStore, challenge: str, column: str = "normalized_score") -> dict[str, np.ndarray]:
    """Per agent, the ``column`` scores of every run on ``challenge`` (ordered by seed): rliable's input.

    Reads three columns of one challenge's rows; memory is one float per run of that challenge.
    """
    where = pc.field("challenge") == challenge
    table = store.dataset().to_table(columns=["agent", "seed", column], filter=where)
    table = table.sort_by([("agent", "ascending"), ("seed", "ascending")])
    agents = table.column("agent").to_numpy(zero_copy_only=False)
    values = table.column(column).to_numpy()
    return {str(a): values[agents == a] for a in dict.fromkeys(agents.tolist())}


def score_matrices(store: ResultsStore, challenges: Sequence[str], column: str = "normalized_score",
                   agents: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Per agent, an (n runs, n challenges) matrix of ``column``: rliable's ``score_dict`` layout.

    A row is one seed, kept where the agent has a run of that seed on every challenge (rliable's tasks);
    rows in seed order. Reads three columns of one challenge at a time.

    :param agents: only these agents (default all).
    :raises ValueError: an agent has two runs of one seed on a challenge (runs under several settings:
        pass ``agents`` or read a folder of one settings).
    """
    per_challenge = []
    for challenge in challenges:
        where = pc.field("challenge") == challenge
        if agents is not None:
            where &= pc.field("agent").isin(list(agents))
        table = store.dataset().to_table(columns=["agent", "seed", column], filter=where)
        scores: dict[tuple[str, int], float] = {}
        for a, seed, value in zip(table.column("agent").to_pylist(), table.column("seed").to_pylist(),
                                  table.column(column).to_pylist(), strict=True):
            if (a, seed) in scores:
                raise ValueError(f"{a!r} has several runs of seed {seed} on {challenge!r} (several settings); "
                                 "choose one settings group per agent")
            scores[(a, int(seed))] = float(value)
        per_challenge.append(scores)
    out = {}
    for agent in sorted({a for scores in per_challenge for a, _ in scores}):
        seeds = sorted(set.intersection(*({s for a, s in scores if a == agent} for scores in per_challenge)))
        out[agent] = np.array([[scores[(agent, s)] for scores in per_challenge] for s in seeds]).reshape(
            len(seeds), len(per_challenge))
    return out


def group_keys(store: ResultsStore, settings_keys: Sequence[str]) -> list[str]:
    """The run identities of the given settings groups (one column of their rows): a wandb run's id."""
    where = pc.field("settings_key").isin(list(settings_keys))
    return [str(k) for k in store.dataset().to_table(columns=["key"], filter=where).column("key").to_pylist()]
