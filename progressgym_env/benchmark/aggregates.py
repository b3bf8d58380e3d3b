"""The leaderboard's numbers as grouped aggregations over a columnar table of runs (DuckDB SQL).

A results store can hold millions of runs (issue 29): ranking them must never load every vector, nor
even every run into Python. This module computes each leaderboard row — count, mean, 95% CI, the
identical-policy fingerprint — with one SQL statement over a table of one row per run whose scalar
columns carry the run dict's names (``agent``, ``challenge``, ``seed``, ``history``, ``model_sha256``,
``final_score``, ``normalized_score``, ...) plus ``seq``, the append order. Only those columns are
read (DuckDB pushes the projection into the Parquet scan: list columns such as ``rewards`` are never
decoded) and memory grows with the number of groups, not of runs.

Why DuckDB rather than pyarrow compute: DuckDB streams a parallel hash aggregation over Parquet row
groups with projection pushdown, sums in exact ``DECIMAL`` (deterministic whatever the thread
schedule), and has ``arg_max`` for "the newest model of each agent" and joins for the settings labels,
all in SQL; ``pyarrow.Table.group_by`` needs the columns materialised as one table in memory.

Numbers (what :func:`aggregate_rows` returns, equal to
:func:`~progressgym_env.benchmark.leaderboard.leaderboard_rows` on the same runs):

- mean = Σx / n with Σ an exact fixed-point sum (``DECIMAL(38, 18)``: the same whatever order DuckDB's
  threads add rows in; NaN where any run's value is not finite); half-width of the 95% CI = t · s / √n with the two-pass
  sample standard deviation s (NaN for n < 2 or any non-finite value), as :func:`t_interval`;
- ``normalized`` where the challenge's reference span (reference − lock-in score, mean over its runs)
  is below :data:`~progressgym_env.benchmark.leaderboard.SMALL_SPAN`: the *normalisation of the mean*,
  (mean final − mean lock-in) / (mean reference − mean lock-in), with the ratio estimator's CI
  (delta method: residuals z = (f − L) − r·(R − L)), instead of the mean of per-run ratios, which a
  tiny per-history span makes explode (issue 25). With one history both are the same number.
- identical policies: groups of one challenge with the same count and the same order-free fingerprint of
  their (seed, final_score) pairs (XOR and sum of the pairs' 64-bit hashes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from functools import lru_cache
from typing import Any

from progressgym_env.benchmark.leaderboard import (
    CONFIDENCE,
    PRIVILEGED_AGENTS,
    SMALL_SPAN,
    LeaderboardRow,
    ScoredRun,
    competition_ranks,
    rank_order,
)
from progressgym_env.common.student_t import t_ppf
from progressgym_env.errors import MissingExtraError

SCORE_COLUMNS = ("seq", "agent", "challenge", "seed", "history", "model_sha256", "final_score", "normalized_score",
                 "centered_score", "lock_in_score", "reference_score")
"""The columns a leaderboard reads from a runs table (nothing else is decoded)."""


def connect() -> Any:
    """A fresh in-process DuckDB connection (DuckDB is imported here only: it never loads with the package)."""
    try:
        import duckdb
    except ImportError:
        raise MissingExtraError("aggregating a results store", "cli", "duckdb") from None
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    return con


@dataclass(frozen=True)
class Aggregation:
    """What a leaderboard over a runs table found besides its rows.

    :param rows: the ranked rows. :param histories: the histories of the tabulated runs.
    :param ratio_of_means: challenges whose ``normalized`` is the normalisation of the mean.
    :param spans: mean reference span (reference − lock-in) per challenge.
    """

    rows: list[LeaderboardRow]
    histories: list[str]
    ratio_of_means: frozenset[str]
    spans: Mapping[str, float]


_EXACT = "DECIMAL(38, 18)"
"""Sums run in this fixed-point type: exact, so a sum does not depend on the order rows arrive in (DuckDB
aggregates in parallel), partial sums of several groups add up exactly, and equal multisets of scores
give equal means (ties stay ties)."""

_SCORES = {"f": "final_score", "z": "normalized_score", "c": "centered_score", "l": "lock_in_score",
           "r": "reference_score"}

_FIRST_SQL = """
SELECT {key} AS gk, count(*) AS n,
       {sums},
       {finite},
       bit_xor(hash(seed, final_score)) AS fingerprint,
       sum(hash(seed, final_score)::HUGEINT) AS fingerprint_sum
FROM {source} GROUP BY {key}
"""

_SECOND_SQL = """
SELECT k.{key} AS gk, {squares}
FROM {source} k JOIN group_means m ON k.{key} = m.gk
GROUP BY k.{key}
"""
_DEVIATIONS = {"f": "k.final_score - m.f", "z": "k.normalized_score - m.z", "c": "k.centered_score - m.c",
               "q": "(k.final_score - k.lock_in_score) - m.q * (k.reference_score - k.lock_in_score)"}
"""Pass 2's deviations from the row's mean: of each score, and the ratio estimator's residual."""


def _second_sql(source: str, key: str) -> str:
    squares = ",\n       ".join(
        f"sum(CASE WHEN isfinite({d}) THEN (({d}) ** 2)::{_EXACT} END) AS {a}_ss" for a, d in _DEVIATIONS.items())
    return _SECOND_SQL.format(source=source, key=key, squares=squares)


def group_sql(source: str, key: str = "gk") -> str:
    """The first pass :func:`aggregate_rows` runs over ``source``: exact sums per group key."""
    sums = ",\n       ".join(f"sum(CASE WHEN isfinite({c}) THEN {c}::{_EXACT} END) AS {a}_sum" for a, c in _SCORES.items())
    finite = ",\n       ".join(f"bool_and(isfinite({c})) AS {a}_ok" for a, c in _SCORES.items())
    return _FIRST_SQL.format(source=source, key=key, sums=sums, finite=finite)


@lru_cache(maxsize=256)
def _t_quantile(df: int) -> float:
    """The CI's t quantile, once per degrees of freedom (``t_ppf`` costs O(df): ~0.1 s at 42,000 seeds)."""
    return t_ppf((1.0 + CONFIDENCE) / 2.0, df=df)


def _half_width(ss: float, n: int, ok: bool, scale: float = 1.0) -> float:
    """t · s / √n from the sum of squared deviations (NaN for n < 2 or non-finite values), as ``t_interval``."""
    if n < 2 or not ok or not math.isfinite(ss):
        return math.nan
    return _t_quantile(n - 1) * math.sqrt(ss / (n - 1)) / math.sqrt(n) / scale


def _std(ss: float, n: int) -> float:
    return math.sqrt(ss / (n - 1)) if n > 1 else 0.0


def _mean(total: Decimal | None, n: int, ok: bool) -> float:
    return float(total / n) if ok and total is not None and n else math.nan


def aggregate_rows(
    con: Any, source: str, rows_of: Mapping[str, tuple[str, str]] | None = None, key: str = "gk",
    small_span: float = SMALL_SPAN,
) -> Aggregation:
    """The leaderboard rows of the runs ``source`` yields, aggregated by DuckDB in two scans.

    Pass 1 sums each group key's scores exactly; the groups are combined into rows here (exact sums add);
    pass 2 sums the squared deviations from each row's mean (the two-pass variance). Memory holds one
    row of sums per group key.

    :param con: a DuckDB connection (:func:`connect`) in which ``source`` is readable.
    :param source: a table or view with the :data:`SCORE_COLUMNS` and the column ``key``, one row per run.
    :param rows_of: group key -> (challenge, row label); None: the key is ``challenge || '/' || agent``'s row.
    :param key: the group key column (a store's ``settings_key``: one settings group each).
    :param small_span: challenges whose mean reference span is below this get the normalisation of the mean.
    """
    cursor = con.sql(group_sql(source, key))
    names = [d[0] for d in cursor.description]
    partial = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    if rows_of is None:
        rows_of = {k: (c, a) for k, c, a in con.sql(f"SELECT DISTINCT {key}, challenge, agent FROM {source}").fetchall()}
    with localcontext() as exact:
        exact.prec = 80  # Decimal arithmetic on the exact sums stays exact (38 digits each)
        rows = _combine(partial, rows_of)
    means = [(k, r["f_mean"], r["z_mean"], r["c_mean"], r["ratio"]) for r in rows.values() for k in r["keys"]]
    import pyarrow as pa

    con.register("group_means", pa.table({name: list(column) for name, column in
                                          zip(("gk", "f", "z", "c", "q"), zip(*means, strict=True), strict=True)}))
    second = {k: (f, z, c, q) for k, f, z, c, q in con.sql(_second_sql(source, key)).fetchall()}
    con.unregister("group_means")
    for row in rows.values():
        for index, a in enumerate(("f", "z", "c", "q")):
            parts = [second[k][index] for k in row["keys"]]
            row[f"{a}_ss"] = float(sum(parts)) if all(p is not None for p in parts) else math.nan
    spans = _challenge_spans(rows)
    ratio_challenges = frozenset(c for c, span in spans.items() if abs(span) < small_span)
    out = []
    for (challenge, agent), g in rows.items():
        n = g["n"]
        if challenge in ratio_challenges and g["lr_ok"]:
            span = g["r_mean"] - g["l_mean"]
            normalized_mean = g["ratio"]
            normalized_ci = _half_width(g["q_ss"], n, g["f_ok"], abs(span) if span else math.inf)
            normalized_std = _std(g["q_ss"], n) / abs(span) if span else 0.0
        else:
            normalized_mean = g["z_mean"]
            normalized_ci = _half_width(g["z_ss"], n, g["z_ok"])
            normalized_std = _std(g["z_ss"], n) if g["z_ok"] else math.nan
        twins = tuple(sorted(other for (c, other), o in rows.items() if c == challenge and other != agent
                             and (o["n"], o["fingerprint"], o["fingerprint_sum"]) ==
                             (n, g["fingerprint"], g["fingerprint_sum"])))
        out.append(LeaderboardRow(
            challenge, agent, n, g["f_mean"], _std(g["f_ss"], n) if g["f_ok"] else math.nan, normalized_mean,
            normalized_std, _half_width(g["f_ss"], n, g["f_ok"]), normalized_ci, g["c_mean"],
            _half_width(g["c_ss"], n, g["c_ok"]), identical_to=twins,
        ))
    return Aggregation(_ranked(out), [], ratio_challenges, spans)


def _combine(partial: Sequence[Mapping[str, Any]], rows_of: Mapping[str, tuple[str, str]]
             ) -> dict[tuple[str, str], dict[str, Any]]:
    """Pass-1 sums of group keys added up per leaderboard row (exactly), with each row's means."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for g in partial:
        row = rows.setdefault(rows_of[g["gk"]], {"n": 0, "fingerprint": 0, "fingerprint_sum": 0, "keys": [],
                                                 **{f"{a}_sum": Decimal(0) for a in _SCORES},
                                                 **{f"{a}_ok": True for a in _SCORES}})
        row["n"] += int(g["n"])
        row["keys"].append(g["gk"])
        row["fingerprint"] ^= int(g["fingerprint"])
        row["fingerprint_sum"] += int(g["fingerprint_sum"])
        for a in _SCORES:
            row[f"{a}_sum"] += g[f"{a}_sum"] if g[f"{a}_sum"] is not None else Decimal(0)
            row[f"{a}_ok"] = row[f"{a}_ok"] and bool(g[f"{a}_ok"])
    for row in rows.values():
        n = row["n"]
        row["lr_ok"] = row["l_ok"] and row["r_ok"]
        for a in ("f", "z", "c", "l", "r"):
            row[f"{a}_mean"] = _mean(row[f"{a}_sum"], n, row[f"{a}_ok"])
        span_sum = row["r_sum"] - row["l_sum"]
        row["ratio"] = (float((row["f_sum"] - row["l_sum"]) / span_sum) if row["lr_ok"] and span_sum else 0.0)
    return rows


def _challenge_spans(rows: Mapping[tuple[str, str], Mapping[str, Any]]) -> dict[str, float]:
    """Mean (reference − lock-in) over every run of each challenge (NaN where a run lacks them)."""
    totals: dict[str, tuple[Decimal, int, bool]] = {}
    for (challenge, _), g in rows.items():
        total, count, ok = totals.get(challenge, (Decimal(0), 0, True))
        totals[challenge] = (total + g["r_sum"] - g["l_sum"], count + g["n"], ok and g["lr_ok"])
    return {c: float(total / count) if ok else math.nan for c, (total, count, ok) in totals.items()}


def _ranked(rows: list[LeaderboardRow]) -> list[LeaderboardRow]:
    ranked = []
    for challenge in {r.challenge for r in rows}:
        competitors = {r.agent: r.final_mean for r in rows if r.challenge == challenge and r.agent not in PRIVILEGED_AGENTS}
        ranks = competition_ranks(competitors)
        ranked += [r if r.privileged else LeaderboardRow(**{**r.__dict__, "rank": ranks[r.agent]})
                   for r in rows if r.challenge == challenge]
    return sorted(ranked, key=rank_order)


def scored_table(scored: Iterable[ScoredRun]) -> Any:
    """A pyarrow table with the :data:`SCORE_COLUMNS` of in-memory scored runs (``seq`` = their order)."""
    import pyarrow as pa

    runs = list(scored)
    return pa.table({
        "gk": [f"{r.challenge}/{r.agent}" for r in runs],
        "seq": pa.array(range(len(runs)), pa.int64()),
        "agent": [r.agent for r in runs],
        "challenge": [r.challenge for r in runs],
        "seed": pa.array([r.seed for r in runs], pa.int64()),
        "history": [r.history for r in runs],
        "model_sha256": [r.model_sha256 for r in runs],
        "final_score": pa.array([r.final_score for r in runs], pa.float64()),
        "normalized_score": pa.array([r.normalized_score for r in runs], pa.float64()),
        "centered_score": pa.array([r.centered_score for r in runs], pa.float64()),
        "lock_in_score": pa.array([r.lock_in_score for r in runs], pa.float64()),
        "reference_score": pa.array([r.reference_score for r in runs], pa.float64()),
    })
