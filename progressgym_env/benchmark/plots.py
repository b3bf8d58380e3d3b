"""Benchmark figures for a paper: value trajectories over all seeds, and one comparison per challenge.

- :func:`trajectory_figure`: one agent on one challenge, one panel per value dimension (x = century,
  y = value): the real human history, the model's values as the mean over seeds with a min–max band,
  on Predict the scored target H_{t+k} drawn at century t, on Coevolve the simulated human (mean and
  band); the title carries the recomputed scores with their 95% CIs.
- :func:`comparison_figure`: every agent on one challenge, normalised score with 95% CI error bars.
- :func:`save_figure`: a PNG written atomically (:func:`~progressgym_env.common.atomic.atomic_path`),
  with the title in its metadata.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot state, nothing to close,
safe in threads) with the Agg canvas.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from progressgym_env.benchmark.challenges import challenge_title
from progressgym_env.benchmark.leaderboard import LeaderboardRow, leaderboard_rows, score_runs
from progressgym_env.common.atomic import atomic_path, remove_stale_temp_files
from progressgym_env.errors import MissingExtraError
from progressgym_env.judges import target_curve

PLOT_DPI = 100
HUMAN_COLOR, MODEL_COLOR, TARGET_COLOR, SIMULATED_COLOR = "black", "tab:blue", "tab:green", "tab:red"


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError("plotting benchmark results", "render", "matplotlib") from None
    figure = Figure(figsize=(width, height), dpi=PLOT_DPI)
    FigureCanvasAgg(figure)
    return figure


def _band(ax: Any, x: np.ndarray, values: np.ndarray, color: str, label: str, style: str) -> None:
    """Mean line with a min–max band over the first axis (seeds) of ``values`` (seeds, steps)."""
    ax.plot(x, values.mean(axis=0), style, color=color, label=label, markersize=3, linewidth=1.4)
    if len(values) > 1:
        ax.fill_between(x, values.min(axis=0), values.max(axis=0), color=color, alpha=0.2, linewidth=0)


def _score_text(row: LeaderboardRow) -> str:
    def pm(mean: float, half: float, digits: int, sign: bool = False) -> str:
        text = f"{mean:+.{digits}f}" if sign else f"{mean:.{digits}f}"
        return text if math.isnan(half) else f"{text} ± {half:.{digits}f}"

    return (f"final_score {pm(row.final_mean, row.final_ci, 4)}, normalized "
            f"{pm(row.normalized_mean, row.normalized_ci, 3, True)} (95% CI, {row.seeds} seeds)")


def trajectory_figure(runs: Sequence[dict[str, Any]], row: LeaderboardRow | None = None,
                      total: int | None = None) -> Any:
    """The value trajectories of one agent on one challenge over all its seeds (a matplotlib Figure).

    :param runs: results.json runs of a single agent and challenge, all on the same history.
    :param row: the group's leaderboard row (its scores in the title); None: computed from ``runs``.
    :param total: the group's run count when ``runs`` is a subsample of it (a store's large group): the
        title says how many of them are drawn.
    """
    if not runs:
        raise ValueError("trajectory_figure needs at least one run")
    records = [r["episode_record"] for r in runs]
    first = records[0]
    human = np.asarray(first["human"], dtype=np.float64)
    centuries = np.asarray(first.get("centuries") or range(len(human)))
    dims = list(first.get("dims") or [f"dim {i}" for i in range(human.shape[1])])
    models = np.stack([np.asarray(r["model"], dtype=np.float64) for r in records]) if len(first["model"]) else None
    simulated = (np.stack([np.asarray(r["simulated"], dtype=np.float64) for r in records])
                 if first.get("simulated") is not None else None)
    target_label, targets = target_curve(first)
    if row is None:
        (row,) = leaderboard_rows(score_runs(runs))
    drawn = f" · trajectories of {len(runs)} of {total} runs (evenly spaced seeds)" if total and total > len(runs) else ""
    cols = min(len(dims), 5)
    rows = math.ceil(len(dims) / cols)
    from matplotlib.ticker import MaxNLocator

    figure = _figure(2.6 * cols, 2.3 * rows + 0.9)
    axes = np.atleast_1d(figure.subplots(rows, cols, squeeze=False, sharex=True)).ravel()
    for k, ax in enumerate(axes):
        if k >= len(dims):
            ax.set_axis_off()
            continue
        ax.plot(centuries, human[:, k], "o-", color=HUMAN_COLOR, label="human history H_t", markersize=3, linewidth=1)
        if models is not None:
            steps = models.shape[1]
            x = centuries[1 : 1 + steps]
            if target_label:
                ax.plot(x, targets[:steps, k], "D:", color=TARGET_COLOR, markersize=3,
                        label=f"scored target {target_label} (at t)")
            _band(ax, x, models[:, :, k], MODEL_COLOR, f"model M_t (mean, min–max of {len(runs)})", "s--")
        if simulated is not None:
            _band(ax, centuries[: simulated.shape[1]], simulated[:, :, k], SIMULATED_COLOR,
                  f"simulated human S_t (mean, min–max of {len(runs)})", "^-")
        ax.set_title(dims[k].replace("_", " "), fontsize=9)
        ax.set_xlabel("century", fontsize=8)
        ax.set_ylabel("value", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.yaxis.set_major_locator(MaxNLocator(5))
        ax.grid(alpha=0.3)
    height = figure.get_figheight()
    figure.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=4, fontsize=7, frameon=False,
                  bbox_to_anchor=(0.5, 1 - 0.28 / height))
    figure.suptitle(f"{row.agent} on {challenge_title(row.challenge)}: {_score_text(row)}{drawn}", fontsize=9,
                    y=1 - 0.06 / height)
    figure.subplots_adjust(left=0.05, right=0.99, bottom=0.5 / height, top=1 - 0.85 / height, wspace=0.32,
                           hspace=0.45)
    return figure


def comparison_figure(rows: Iterable[LeaderboardRow]) -> Any:
    """Every agent's normalised score on one challenge, with 95% CI error bars (a matplotlib Figure)."""
    rows = [r for r in rows if not math.isnan(r.normalized_mean)]
    if not rows or len({r.challenge for r in rows}) != 1:
        raise ValueError("comparison_figure needs the rows of exactly one challenge with normalised scores")
    rows.sort(key=lambda r: (r.privileged, -r.normalized_mean))
    figure = _figure(6.4, 0.45 * len(rows) + 1.5)
    ax = figure.subplots()
    y = np.arange(len(rows))[::-1]
    means = np.array([r.normalized_mean for r in rows])
    errors = np.array([0.0 if math.isnan(r.normalized_ci) else r.normalized_ci for r in rows])
    colors = ["0.6" if r.privileged else MODEL_COLOR for r in rows]
    ax.barh(y, means, xerr=errors, color=colors, capsize=3, height=0.6, error_kw={"linewidth": 1})
    ax.set_yticks(y, [f"{r.agent} †" if r.privileged else r.agent for r in rows], fontsize=8)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.axvline(1.0, color="black", linewidth=0.8, linestyle=":")
    ax.set_xlabel("normalized score (0 = lock-in, 1 = reference)", fontsize=8)
    ax.set_ylabel("agent", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    seeds = sorted({r.seeds for r in rows})
    figure.subplots_adjust(left=0.2, right=0.97, bottom=0.9 / figure.get_figheight(), top=1 - 0.45 / figure.get_figheight())
    ax.set_title(f"{challenge_title(rows[0].challenge)}: normalized score, mean ± 95% CI over "
                 f"{'/'.join(map(str, seeds))} seeds († reads the target)", fontsize=9)
    return figure


def save_figure(figure: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``figure`` as a PNG at ``path`` atomically (a crash never leaves a partial file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    title = figure.get_suptitle() or (figure.axes[0].get_title() if figure.axes else "")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=PLOT_DPI, metadata={"Title": title, "Software": "progressgym_env"})
    return path


def safe_name(label: str) -> str:
    """``label`` made file-name safe."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", label)


def trajectory_path(out: str | os.PathLike[str], challenge: str, agent: str) -> Path:
    """``plots/<challenge>__<agent>.png``."""
    return Path(out) / "plots" / f"{challenge}__{safe_name(agent)}.png"


def comparison_path(out: str | os.PathLike[str], challenge: str) -> Path:
    """``plots/<challenge>__comparison.png``."""
    return Path(out) / "plots" / f"{challenge}__comparison.png"


def is_complete_png(path: Path) -> bool:
    """Whether ``path`` is a whole PNG file (signature first, the IEND chunk last): a cut-short one is redrawn."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            handle.seek(0, os.SEEK_END)
            if handle.tell() < 20:
                return False
            handle.seek(-12, os.SEEK_END)
            tail = handle.read(12)
    except OSError:
        return False
    return head == b"\x89PNG\r\n\x1a\n" and tail[4:8] == b"IEND"


def write_plots(out: str | os.PathLike[str], runs: list[dict[str, Any]], changed: Iterable[tuple[str, str]] | None = None,
                progress: bool = False, console: Any = None) -> dict[tuple[str, str], Path]:
    """Write the trajectory PNG of each (challenge, agent) and one comparison PNG per challenge.

    :param runs: the tabulated runs (newest model per label, see
        :func:`~progressgym_env.benchmark.leaderboard.latest_models_only`).
    :param changed: only these (challenge, agent) groups (and their challenges' comparisons) are
        redrawn, plus any whose PNG is missing or incomplete; None redraws all.
    :param progress: show a progress bar counting the figures (a figure takes about a second).
    :param console: the bar's rich console (see :class:`~progressgym_env.common.progress.ProgressBar`).
    :returns: the trajectory PNG of every group drawn.
    """
    from progressgym_env.common.progress import ProgressBar

    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        if run.get("episode_record") is not None:
            groups.setdefault((str(run["challenge"]), str(run["agent"])), []).append(run)
    remove_stale_temp_files(Path(out) / "plots")  # a killed plot's temporary PNG does not stay forever
    todo = set(groups) if changed is None else set(changed) & set(groups)
    todo |= {key for key in groups if not is_complete_png(trajectory_path(out, *key))}
    comparisons = [challenge for challenge in sorted({c for c, _ in groups})
                   if any(c == challenge for c, _ in todo) or not is_complete_png(comparison_path(out, challenge))]
    written = {}
    with ProgressBar(len(todo) + len(comparisons), "plots", enabled=progress, console=console) as bar:
        for challenge, agent in sorted(todo):
            written[(challenge, agent)] = save_figure(trajectory_figure(groups[(challenge, agent)]),
                                                      trajectory_path(out, challenge, agent))
            bar.advance(f"{challenge} · {agent}")
        for challenge in comparisons:
            members = [run for (c, _), group in groups.items() if c == challenge for run in group]
            save_figure(comparison_figure(leaderboard_rows(score_runs(members))), comparison_path(out, challenge))
            bar.advance(f"{challenge} · comparison")
    return written


def write_store_plots(out: str | os.PathLike[str], board: Any, store: Any,
                      changed: Iterable[tuple[str, str]] | None = None, progress: bool = False,
                      console: Any = None) -> dict[tuple[str, str], Path]:
    """:func:`write_plots` for a results store: each figure reads only the group it draws.

    :param board: the store's leaderboard (:func:`~progressgym_env.benchmark.store_readers.store_leaderboard`):
        its rows give the titles and the comparison charts, its settings groups which runs a row holds.
    :param store: the :class:`~progressgym_env.benchmark.store.ResultsStore`.
    :param changed: only these (challenge, agent) groups are redrawn (plus missing or incomplete PNGs).
    A trajectory figure draws at most :data:`~progressgym_env.benchmark.store_readers.MAX_TRAJECTORIES`
    runs of its group (evenly spaced seeds) and says so in its title.
    """
    from progressgym_env.benchmark.store_readers import MAX_TRAJECTORIES, group_runs
    from progressgym_env.common.progress import ProgressBar

    rows = {(r.challenge, r.agent): r for r in board.aggregation.rows}
    remove_stale_temp_files(Path(out) / "plots")
    todo = set(rows) if changed is None else set(changed) & set(rows)
    todo |= {key for key in rows if not is_complete_png(trajectory_path(out, *key))}
    comparisons = [c for c in sorted({c for c, _ in rows})
                   if any(t == c for t, _ in todo) or not is_complete_png(comparison_path(out, c))]
    written = {}
    with ProgressBar(len(todo) + len(comparisons), "plots", enabled=progress, console=console) as bar:
        for challenge, agent in sorted(todo):
            runs, total = group_runs(store, challenge, agent, MAX_TRAJECTORIES, board.settings_of(challenge, agent))
            figure = trajectory_figure(runs, rows[(challenge, agent)], total)
            written[(challenge, agent)] = save_figure(figure, trajectory_path(out, challenge, agent))
            bar.advance(f"{challenge} · {agent}")
        for challenge in comparisons:
            members = [r for (c, _), r in rows.items() if c == challenge]
            save_figure(comparison_figure(members), comparison_path(out, challenge))
            bar.advance(f"{challenge} · comparison")
    return written
