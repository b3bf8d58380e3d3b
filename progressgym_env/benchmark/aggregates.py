"""The leaderboard's numbers as grouped aggregations over a columnar table of runs (DuckDB SQL).

A results store can hold millions of runs (issue 29): ranking them must never load every vector, nor
even every run into Python. This module computes each leaderboard row — count, mean, 95% CI, the
identical-policy fingerprint — with one SQL statement over a table of one row per run whose scalar
columns carry the run dict's names (``agent``, ``challenge``, ``seed``, ``history``, ``model_sha256``,
``final_score``, ``normalized_score``, ...) plus ``seq``, the append order. Only those columns are
read (DuckDB pushes the projection into the Parquet scan: list columns such as ``rewards`` are never
decoded) and memory grows with the number of groups, not of runs.

Why DuckDB rather than pyarrow compute: DuckDB streams a hash aggregation over Parquet row groups with
projection pushdown, has ordered aggregates (``sum(x ORDER BY seq)``, so sums are deterministic and,
for the few seeds of the main job, bit-equal to the in-memory ``numpy`` computation) and ``arg_max``
for "the newest model of each agent", all in one statement; ``pyarrow.Table.group_by`` needs the
columns materialised as a table and has no ordered aggregates.

Numbers (what :func:`aggregate_rows` returns, equal to
:func:`~progressgym_env.benchmark.leaderboard.leaderboard_rows` on the same runs):

- mean = Σx / n summed in append order; half-width of the 95% CI = t · s / √n with the two-pass
  sample standard deviation s (NaN for n < 2 or any non-finite value), as :func:`t_interval`;
- ``normalized`` where the challenge's reference span (reference − lock-in score, mean over its runs)
  is below :data:`~progressgym_env.benchmark.leaderboard.SMALL_SPAN`: the *normalisation of the mean*,
  (mean final − mean lock-in) / (mean reference − mean lock-in), with the ratio estimator's CI
  (delta method: residuals z = (f − L) − r·(R − L)), instead of the mean of per-run ratios, which a
  tiny per-history span makes explode (issue 25). With one history both are the same number.
- identical policies: groups of one challenge with the same count and the same hash of their sorted
  (seed, final_score) pairs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
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
        raise MissingExtraError("aggregating a results store", "store", "duckdb") from None
    return duckdb.connect()


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


_GROUP_SQL = """
WITH k AS (SELECT * FROM {source}),
first AS (
  SELECT challenge, agent, count(*) AS n,
         sum(final_score ORDER BY seq) AS f_sum,
         sum(normalized_score ORDER BY seq) AS z_sum,
         sum(centered_score ORDER BY seq) AS c_sum,
         sum(lock_in_score ORDER BY seq) AS l_sum,
         sum(reference_score ORDER BY seq) AS r_sum,
         bool_and(isfinite(final_score)) AS f_ok,
         bool_and(isfinite(normalized_score)) AS z_ok,
         bool_and(isfinite(centered_score)) AS c_ok,
         bool_and(isfinite(lock_in_score) AND isfinite(reference_score)) AS lr_ok,
         hash(list(struct_pack(s := seed, f := final_score) ORDER BY seed, final_score)) AS fingerprint
  FROM k GROUP BY challenge, agent
),
means AS (
  SELECT *, f_sum / n AS f_mean, z_sum / n AS z_mean, c_sum / n AS c_mean,
         CASE WHEN r_sum - l_sum = 0 THEN 0.0 ELSE (f_sum - l_sum) / (r_sum - l_sum) END AS ratio
  FROM first
)
SELECT m.challenge, m.agent, m.n, m.f_mean, m.z_mean, m.c_mean, m.ratio, m.l_sum / m.n AS l_mean,
       m.r_sum / m.n AS r_mean, m.f_ok, m.z_ok, m.c_ok, m.lr_ok, m.fingerprint,
       sum((k.final_score - m.f_mean) * (k.final_score - m.f_mean) ORDER BY k.seq) AS f_ss,
       sum((k.normalized_score - m.z_mean) * (k.normalized_score - m.z_mean) ORDER BY k.seq) AS z_ss,
       sum((k.centered_score - m.c_mean) * (k.centered_score - m.c_mean) ORDER BY k.seq) AS c_ss,
       sum(power((k.final_score - k.lock_in_score) - m.ratio * (k.reference_score - k.lock_in_score), 2)
           ORDER BY k.seq) AS q_ss
FROM k JOIN means m ON k.challenge = m.challenge AND k.agent = m.agent
GROUP BY ALL
"""


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


def aggregate_rows(con: Any, source: str, small_span: float = SMALL_SPAN) -> Aggregation:
    """The leaderboard rows of the runs ``source`` yields, aggregated by DuckDB.

    :param con: a DuckDB connection (:func:`connect`) in which ``source`` is readable.
    :param source: a table, view or parenthesised query with the :data:`SCORE_COLUMNS` (one row per run,
        already labelled and restricted to the newest model, see
        :func:`~progressgym_env.benchmark.store_readers.kept_runs_sql`).
    :param small_span: challenges whose mean reference span is below this get the normalisation of the mean.
    """
    stats = con.sql(_GROUP_SQL.format(source=source)).fetchall()
    names = ["challenge", "agent", "n", "f_mean", "z_mean", "c_mean", "ratio", "l_mean", "r_mean", "f_ok", "z_ok",
             "c_ok", "lr_ok", "fingerprint", "f_ss", "z_ss", "c_ss", "q_ss"]
    groups = [dict(zip(names, values, strict=True)) for values in stats]
    spans = _challenge_spans(groups)
    ratio_challenges = frozenset(c for c, span in spans.items() if abs(span) < small_span)
    histories = sorted(h for (h,) in con.sql(f"SELECT DISTINCT history FROM {source} WHERE history <> ''").fetchall())
    rows = []
    for g in groups:
        n = int(g["n"])
        if g["challenge"] in ratio_challenges and g["lr_ok"]:
            span = g["r_mean"] - g["l_mean"]
            normalized_mean = float(g["ratio"])
            normalized_ci = _half_width(g["q_ss"], n, bool(g["f_ok"]), abs(span) if span else math.inf)
            normalized_std = _std(g["q_ss"], n) / abs(span) if span else 0.0
        else:
            normalized_mean = float(g["z_mean"])
            normalized_ci = _half_width(g["z_ss"], n, bool(g["z_ok"]))
            normalized_std = _std(g["z_ss"], n)
        twins = tuple(sorted(o["agent"] for o in groups if o["challenge"] == g["challenge"] and o["agent"] != g["agent"]
                             and o["n"] == g["n"] and o["fingerprint"] == g["fingerprint"]))
        rows.append(LeaderboardRow(
            g["challenge"], g["agent"], n, float(g["f_mean"]), _std(g["f_ss"], n), normalized_mean, normalized_std,
            _half_width(g["f_ss"], n, bool(g["f_ok"])), normalized_ci, float(g["c_mean"]),
            _half_width(g["c_ss"], n, bool(g["c_ok"])), identical_to=twins,
        ))
    return Aggregation(_ranked(rows), histories, ratio_challenges, spans)


def _challenge_spans(groups: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Mean (reference − lock-in) over every run of each challenge (NaN where a run lacks them)."""
    totals: dict[str, tuple[float, int]] = {}
    for g in groups:
        span = (g["r_mean"] - g["l_mean"]) if g["lr_ok"] else math.nan
        total, count = totals.get(g["challenge"], (0.0, 0))
        totals[g["challenge"]] = (total + span * g["n"], count + int(g["n"]))
    return {c: total / count for c, (total, count) in totals.items()}


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
