"""Readers of the results store: the SQL leaderboard equals the in-memory one, reads only scalar columns,
keeps its derived-score sidecars honest, and plots/statistics read one group at a time."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("duckdb")
pa = pytest.importorskip("pyarrow")

from progressgym_env.benchmark.aggregates import aggregate_rows, connect, scored_table  # noqa: E402
from progressgym_env.benchmark.leaderboard import (  # noqa: E402
    SMALL_SPAN,
    ScoredRun,
    centered_normalized_score,
    leaderboard_markdown,
    leaderboard_rows,
    ratio_of_means_note,
)
from progressgym_env.benchmark.results import load_results  # noqa: E402
from progressgym_env.benchmark.store import ResultsStore, import_results  # noqa: E402
from progressgym_env.benchmark.store_readers import (  # noqa: E402
    STORE_SCORED_BY,
    derived_path,
    derived_score_columns,
    ensure_derived,
    group_runs,
    group_scores,
    score_matrices,
    store_leaderboard,
    store_leaderboard_markdown,
)
from progressgym_env.judges import judge_for_record  # noqa: E402


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A benchmark folder (results.json) converted into a store: three agents, three challenges, three seeds,
    plus ``static`` under a second query budget (two labelled settings rows)."""
    from progressgym_env.benchmark import BenchmarkConfig, run_benchmark

    out = tmp_path_factory.mktemp("store-bench")
    common = {"out": str(out), "wandb": False, "plots": False, "progress": False}
    run_benchmark(BenchmarkConfig(agents=["static", "lifelong", "oracle"], challenges=["follow", "predict1", "coevolve"],
                                  seeds=3, **common))
    run_benchmark(BenchmarkConfig(agents=["static"], challenges=["follow", "coevolve"], seeds=2, query_budget=64,
                                  **common))
    import_results(out, load_results(out / "results.json"))
    return out


def in_memory(runs: list[dict[str, Any]]) -> str:
    """The in-memory leaderboard of ``runs`` with the store's account of its scores in the header."""
    return leaderboard_markdown(runs).replace("scores recomputed from the episode records by the judges",
                                              STORE_SCORED_BY, 1)


def scored(agent: str, challenge: str, seed: int, final: float, lock_in: float = 0.9, reference: float = 1.0,
           **extra: Any) -> ScoredRun:
    normalized = (final - lock_in) / (reference - lock_in)
    return ScoredRun(agent, challenge, seed, "hand", final, normalized, extra.pop("centered", 0.5 * normalized),
                     lock_in_score=lock_in, reference_score=reference, **extra)


def hand_cases() -> list[ScoredRun]:
    """Ties (two agents with the same per-seed scores), a one-seed agent, a privileged agent, a NaN centred
    score, and a small-span challenge whose histories differ per seed (lock-in and reference vary)."""
    runs = []
    for seed, final in enumerate([0.95, 0.97, 0.96]):
        runs += [scored("a", "follow", seed, final), scored("twin", "follow", seed, final),
                 scored("b", "follow", seed, final - 0.01 * seed), scored("oracle", "follow", seed, 0.999)]
    runs.append(scored("solo", "follow", 0, 0.93, centered=math.nan))
    for seed, (final, lock_in, reference) in enumerate([(0.965, 0.960, 0.971), (0.950, 0.945, 0.950),
                                                        (0.970, 0.962, 0.975), (0.958, 0.957, 0.966)]):
        runs += [scored("a", "coevolve", seed, final, lock_in, reference),
                 scored("b", "coevolve", seed, final - 0.001, lock_in, reference)]
    return runs


def test_sql_rows_equal_the_in_memory_rows_on_hand_cases() -> None:
    runs = hand_cases()
    memory = leaderboard_rows(runs)
    con = connect()
    con.register("hand", scored_table(runs))
    sql = aggregate_rows(con, "hand").rows
    assert [(r.challenge, r.agent, r.rank, r.seeds, r.identical_to) for r in sql] == \
        [(r.challenge, r.agent, r.rank, r.seeds, r.identical_to) for r in memory]
    assert [r.identical_to for r in sql if r.agent in ("a", "twin") and r.challenge == "follow"] == [("twin",), ("a",)]
    for want, got in zip(memory, sql, strict=True):
        for name in ("final_mean", "final_ci", "normalized_mean", "normalized_ci", "centered_mean", "centered_ci",
                     "final_std", "normalized_std"):
            a, b = getattr(want, name), getattr(got, name)
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-15), (got.agent, name)


def test_small_span_challenges_normalise_the_mean_not_the_ratios() -> None:
    runs = [r for r in hand_cases() if r.challenge == "coevolve" and r.agent == "a"]
    finals = np.array([r.final_score for r in runs])
    lock_in = np.array([r.lock_in_score for r in runs])
    reference = np.array([r.reference_score for r in runs])
    (row,) = leaderboard_rows(runs)
    ratio = (finals.mean() - lock_in.mean()) / (reference.mean() - lock_in.mean())
    assert row.normalized_mean == pytest.approx(ratio, rel=1e-12)
    assert row.normalized_mean != pytest.approx(np.mean((finals - lock_in) / (reference - lock_in)), rel=1e-3)
    # delta method by hand: residuals z = (f - L) - r (R - L), s_z / sqrt(n) / mean span, t(0.975, 3) = 3.182446
    z = (finals - lock_in) - ratio * (reference - lock_in)
    half = 3.182446305284263 * math.sqrt((z**2).sum() / 3) / 2 / (reference.mean() - lock_in.mean())
    assert row.normalized_ci == pytest.approx(half, rel=1e-9)
    # a wide span (Follow's ~0.05 and up) keeps the mean of per-seed ratios
    wide = [scored("a", "follow", s, f, lock_in=0.9 + 0.01 * s) for s, f in enumerate([0.95, 0.97, 0.96])]
    (wide_row,) = leaderboard_rows(wide)
    assert wide_row.normalized_mean == pytest.approx(np.mean([w.normalized_score for w in wide]), rel=1e-12)


def test_header_says_where_the_mean_is_normalised() -> None:
    note = ratio_of_means_note({"follow": 0.049, "coevolve": 0.0111})
    assert note.startswith("`normalized` on PG-Coevolve (span 0.0111) is a normalisation of the mean, not a mean of "
                           "per-seed ratios")
    assert "Follow" not in note and f"below {SMALL_SPAN:g} of cosine" in note
    assert ratio_of_means_note({"follow": 0.049}) == ""


def test_store_leaderboard_is_byte_identical_to_the_results_json_one(bench: Path) -> None:
    runs = load_results(bench / "results.json")
    text = store_leaderboard_markdown(bench)
    assert text == in_memory(runs)
    assert "| static [query_budget=64] |" in text and "normalisation of the mean" in text
    # the requested settings only, as the runner tabulates them
    board = store_leaderboard(ResultsStore(bench), keep=lambda run: run["kwargs"]["query_budget"] == 512)
    assert board.other_settings == 4
    assert {r.agent for r in board.aggregation.rows} == {"static", "lifelong", "oracle"}


def test_the_leaderboard_reads_only_scalar_columns(bench: Path) -> None:
    import re

    from progressgym_env.benchmark.aggregates import group_sql

    store = ResultsStore(bench)
    con = connect()
    store_leaderboard(store, con=con)  # creates the views the aggregation reads
    plan = "\n".join(str(row[1]) for row in con.sql("EXPLAIN " + group_sql("runs", "settings_key")).fetchall())
    assert "READ_PARQUET" in plan and re.search(r"\bfinal_score\b", plan), plan
    for vector in ("rewards", "human", "model", "simulated", "record_meta", "record_rewards", "extra"):
        assert not re.search(rf"\b{vector}\b", plan), f"the leaderboard decodes {vector!r}:\n{plan}"


def test_derived_scores_match_the_judges_run_by_run(bench: Path) -> None:
    store = ResultsStore(bench)
    parts = [derived_score_columns(pa.parquet.read_table(part)) for part in store.parts()]
    derived = {name: np.concatenate([d[name] for d in parts]) for name in parts[0]}
    runs = list(store.runs())
    assert len(runs) == len(derived["centered_score"]) == 31
    for index, run in enumerate(runs):
        lock_in, reference = judge_for_record(run["episode_record"]).reference_scores()
        assert derived["lock_in_score"][index] == pytest.approx(lock_in, rel=1e-13)
        assert derived["reference_score"][index] == pytest.approx(reference, rel=1e-13)
        assert derived["centered_score"][index] == pytest.approx(centered_normalized_score(run["episode_record"]),
                                                                 rel=1e-9, abs=1e-12)


def test_sidecars_are_reused_and_recomputed_when_stale_or_corrupt(bench: Path) -> None:
    store = ResultsStore(bench)
    sidecars = ensure_derived(store)
    assert sidecars == [derived_path(part) for part in store.parts()]
    stamps = [s.stat().st_mtime_ns for s in sidecars]
    assert ensure_derived(store) == sidecars and [s.stat().st_mtime_ns for s in sidecars] == stamps  # reused
    sidecars[0].write_bytes(b"not parquet")
    ensure_derived(store)
    assert pa.parquet.read_metadata(sidecars[0]).num_rows == pa.parquet.read_metadata(store.parts()[0]).num_rows
    assert [s.stat().st_mtime_ns for s in sidecars][1:] == stamps[1:]  # only the broken one was recomputed


def test_plots_read_one_group_subsampled(bench: Path) -> None:
    store = ResultsStore(bench)
    runs, total = group_runs(store, "follow", "lifelong", limit=2)
    assert total == 3 and [r["seed"] for r in runs] == [0, 2]
    every, _ = group_runs(store, "follow", "lifelong", limit=None)
    memory = [r for r in load_results(bench / "results.json") if r["challenge"] == "follow" and r["agent"] == "lifelong"]
    assert every == sorted(memory, key=lambda r: r["seed"])


def test_group_scores_are_rliable_input(bench: Path) -> None:
    scores = group_scores(ResultsStore(bench), "follow", "final_score")
    memory = load_results(bench / "results.json")
    static = sorted((r["seed"], r["final_score"]) for r in memory if r["challenge"] == "follow" and r["agent"] == "static")
    assert sorted(scores) == ["lifelong", "oracle", "static"]
    assert sorted(scores["static"].tolist()) == sorted(f for _, f in static)
    with pytest.raises(ValueError, match="several runs of seed 0"):  # static ran under two settings
        score_matrices(ResultsStore(bench), ["follow", "coevolve"], "final_score")
    matrices = score_matrices(ResultsStore(bench), ["follow", "coevolve"], "final_score", ["lifelong", "oracle"])
    assert sorted(matrices) == ["lifelong", "oracle"] and matrices["lifelong"].shape == (3, 2)
    by_run = {(r["agent"], r["challenge"], r["seed"]): r["final_score"] for r in memory}
    assert matrices["lifelong"][2, 1] == by_run[("lifelong", "coevolve", 2)]


def test_a_large_folder_gets_the_store_leaderboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above RESULTS_JSON_MAX_RUNS the runner writes no results.json and tabulates from the store: the same text
    the in-memory leaderboard gives for the same runs."""
    from progressgym_env.benchmark import BenchmarkConfig, run_benchmark, runner

    monkeypatch.setattr(runner, "RESULTS_JSON_MAX_RUNS", 4)
    out = tmp_path / "large"
    run_benchmark(BenchmarkConfig(agents=["static", "lifelong"], challenges=["follow", "coevolve"], seeds=3,
                                  out=str(out), wandb=False, plots=False, progress=False))
    assert not (out / "results.json").exists()
    runs = list(ResultsStore(out).runs())
    assert (out / "leaderboard.md").read_text(encoding="utf-8") == in_memory(runs)


@pytest.mark.slow
def test_a_large_folder_reads_its_store_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Above RESULTS_JSON_MAX_RUNS: plots (subsampled, said in the title), wandb (one run per settings group,
    not logged twice), `progressgym leaderboard`, `export` and `site` all read the store."""
    pytest.importorskip("matplotlib")
    pytest.importorskip("plotly")
    pytest.importorskip("wandb")
    import json

    from PIL import Image

    from progressgym_env.benchmark import BenchmarkConfig, run_benchmark, runner, store_readers
    from progressgym_env.benchmark.interop import to_progressgym
    from progressgym_env.cli import main

    monkeypatch.setattr(runner, "RESULTS_JSON_MAX_RUNS", 4)
    monkeypatch.setattr(store_readers, "MAX_TRAJECTORIES", 2)
    out = tmp_path / "large"
    config = BenchmarkConfig(agents=["static", "lifelong"], challenges=["coevolve"], seeds=3, out=str(out),
                             wandb=True, wandb_mode="offline", plots=True, progress=False)
    run_benchmark(config)
    title = Image.open(out / "plots" / "coevolve__lifelong.png").info["Title"]
    assert "trajectories of 2 of 3 runs" in title and "3 seeds" in title
    logged = sorted((out / "wandb").glob("offline-run-*"))
    assert len(logged) == 2
    run_benchmark(config)  # nothing new: no wandb run logged again
    assert sorted((out / "wandb").glob("offline-run-*")) == logged

    assert main(["leaderboard", str(out)]) == 0
    assert capsys.readouterr().out == (out / "leaderboard.md").read_text(encoding="utf-8")
    assert main(["export", str(out), "--out", str(tmp_path / "pg")]) == 0
    runs = list(ResultsStore(out).runs())
    exported = {p.name: json.loads(p.read_text()) for p in (tmp_path / "pg").glob("*.json")}
    assert len(exported) == 6
    for run in runs:
        name = f"coevolve__{run['agent']}__seed{run['seed']}.json"
        assert exported[name] == json.loads(json.dumps(to_progressgym(run)))
    assert main(["site", str(out), "--out", str(tmp_path / "site")]) == 0
    page = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "show 4 of the 6 runs" in page and "normalisation of the mean" in page
