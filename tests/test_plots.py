"""Benchmark figures: labelled axes, scores in titles, all seeds, Predict's target, comparisons with CIs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from progressgym_env.benchmark import BenchmarkConfig, load_results, run_benchmark
from progressgym_env.benchmark.leaderboard import leaderboard_rows, score_runs, t_interval

pytest.importorskip("matplotlib")
pytest.importorskip("scipy")

from progressgym_env.benchmark.plots import (
    comparison_figure,
    comparison_path,
    save_figure,
    trajectory_figure,
    trajectory_path,
    write_plots,
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("plots")
    config = BenchmarkConfig(agents=["static", "lifelong", "oracle"], challenges=["predict2", "coevolve"], seeds=3,
                             out=str(out), progress=False, wandb=False, plots=False)
    run_benchmark(config)
    return load_results(out / "results.json")


def group(runs: list[dict], agent: str, challenge: str) -> list[dict]:
    return [r for r in runs if r["agent"] == agent and r["challenge"] == challenge]


def test_trajectory_figure_labels_axes_and_shows_every_seed_and_the_predict_target(runs: list[dict]) -> None:
    lifelong = group(runs, "lifelong", "predict2")
    figure = trajectory_figure(lifelong)
    dims = lifelong[0]["episode_record"]["dims"]
    panels = [ax for ax in figure.axes if ax.get_visible() and ax.axison]
    assert len(panels) == len(dims)
    for ax in panels:
        assert ax.get_xlabel() == "century" and ax.get_ylabel() == "value"
    ax = panels[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["human history H_t", "scored target H_{t+2} (at t)", "model M_t (mean, min–max of 3)"]
    human = np.asarray(lifelong[0]["episode_record"]["human"])
    target = ax.get_lines()[1]
    np.testing.assert_array_equal(target.get_xdata(), [14, 15, 16, 17, 18, 19])  # M_t at century t ...
    np.testing.assert_array_equal(target.get_ydata(), human[3:9, 0])  # ... is scored against H_{t+2}
    models = np.stack([np.asarray(r["episode_record"]["model"])[:, 0] for r in lifelong])
    np.testing.assert_allclose(ax.get_lines()[2].get_ydata(), models.mean(axis=0))
    assert len(ax.collections) == 1  # the min–max band over the 3 seeds
    mean, half = t_interval(r["final_score"] for r in lifelong)
    assert f"final_score {mean:.4f} ± {half:.4f}" in figure.get_suptitle()
    assert "lifelong on PG-Predict (k=2)" in figure.get_suptitle()


def test_coevolve_figure_shows_the_simulated_human(runs: list[dict]) -> None:
    figure = trajectory_figure(group(runs, "static", "coevolve"))
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert "simulated human S_t (mean, min–max of 3)" in labels


def test_comparison_figure_has_every_agent_with_95_percent_error_bars(runs: list[dict]) -> None:
    rows = leaderboard_rows(score_runs([r for r in runs if r["challenge"] == "coevolve"]))
    figure = comparison_figure(rows)
    (ax,) = figure.axes
    assert ax.get_xlabel().startswith("normalized score") and ax.get_ylabel() == "agent"
    assert {t.get_text() for t in ax.get_yticklabels()} == {"lifelong", "static", "oracle †"}
    assert ax.get_yticklabels()[-1].get_text() == "oracle †"  # the upper bound is drawn apart, last
    widths = sorted(round(p.get_width(), 12) for p in ax.patches)
    assert widths == sorted(round(r.normalized_mean, 12) for r in rows)
    errorbar = next(c for c in ax.containers if hasattr(c, "has_xerr"))  # the CI whiskers: mean ± half-width
    segments = errorbar.lines[2][0].get_segments()
    halves = sorted(round((s[1][0] - s[0][0]) / 2, 9) for s in segments)
    assert halves == sorted(round(r.normalized_ci, 9) for r in rows)
    assert "95% CI" in ax.get_title() and "PG-Coevolve" in ax.get_title()


def test_pngs_are_written_atomically_with_their_title(runs: list[dict], tmp_path: Path) -> None:
    from PIL import Image

    written = write_plots(tmp_path, runs)
    assert set(written) == {(c, a) for c in ("predict2", "coevolve") for a in ("static", "lifelong", "oracle")}
    for challenge in ("predict2", "coevolve"):
        assert comparison_path(tmp_path, challenge).is_file()
    png = trajectory_path(tmp_path, "predict2", "lifelong")
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size[0] > 600
        assert image.text["Title"].startswith("lifelong on PG-Predict (k=2): final_score")
    assert not [p for p in (tmp_path / "plots").iterdir() if p.name.startswith(".")]  # no temp files left
    before = png.stat().st_mtime_ns
    assert write_plots(tmp_path, runs, changed=[]) == {}  # nothing changed, nothing missing: nothing redrawn
    assert png.stat().st_mtime_ns == before
    save_figure(trajectory_figure(group(runs, "lifelong", "predict2")), png)
    assert png.stat().st_size > 0


# -- moved from test_faults.py: a truncated plot is redrawn --

from typing import Any


def test_a_truncated_plot_is_redrawn(tmp_path: Path, saved: dict[str, Any]) -> None:
    pytest.importorskip("matplotlib")
    from progressgym_env.benchmark.plots import is_complete_png, trajectory_path, write_plots

    runs = [r for r in saved["runs"] if r["challenge"] == "follow"]
    write_plots(tmp_path, runs)
    png = trajectory_path(tmp_path, "follow", "static")
    assert is_complete_png(png)
    png.write_bytes(png.read_bytes()[:100])  # a copy cut short
    assert not is_complete_png(png)
    written = write_plots(tmp_path, runs, changed=[])
    assert list(written) == [("follow", "static")] and is_complete_png(png)


def test_a_killed_plots_temporary_png_is_swept(runs: list[dict], tmp_path: Path) -> None:
    """Issue 24.6: a plot killed mid-save (SIGKILL) left ``plots/.X.png.<pid>-<hex>.tmp.png`` forever."""
    import os

    plots = tmp_path / "plots"
    plots.mkdir()
    leftover = plots / ".predict2__lifelong.png.999999999-abcdef12.tmp.png"  # its writer (no such pid) is gone
    leftover.write_bytes(b"\x89PNG\r\n")
    os.utime(leftover, (0, 0))
    write_plots(tmp_path, group(runs, "static", "predict2"))
    assert not leftover.exists()
    assert sorted(p.name for p in plots.iterdir()) == ["predict2__comparison.png", "predict2__static.png"]
