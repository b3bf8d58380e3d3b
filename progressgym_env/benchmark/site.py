"""The leaderboard as a static web page: one self-contained ``index.html`` (Plotly's JavaScript inlined).

:func:`build_site` reads a benchmark folder (or ProgressGym result files), recomputes every score
with the judges exactly as ``progressgym leaderboard`` does, and writes ``SITE_DIR/index.html``
(atomically). No CDN and no server: the file opens from the file system. Per challenge the page has

- the leaderboard table (rank, agent, final score, normalised and centred scores with 95% CIs,
  seeds, backend, history), each number also in a ``data-value`` attribute (full precision);
- a bar chart of normalised scores with 95% CI error bars, reference lines at 0 (lock-in) and 1
  (reference), its axis cut to the non-outlier agents (an outlier's bar hatched and labelled);
- the value trajectories of every agent, one panel per value dimension (human history, every
  seed's model, the scored target on Predict, the simulated human on Coevolve), an agent chosen
  from a drop-down menu;
- the run configs (env kwargs and agent settings) and the wandb run of each seed (a link to the
  offline run folder, to upload with ``wandb sync``).
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from progressgym_env.benchmark.challenges import challenge_title
from progressgym_env.benchmark.interop import load_any_results
from progressgym_env.benchmark.leaderboard import (
    LeaderboardRow,
    challenge_spans,
    label_settings,
    latest_models_only,
    leaderboard_rows,
    normalization_note,
    ratio_of_means_note,
    records_by_challenge,
    score_runs,
)
from progressgym_env.common.atomic import atomic_write_text, remove_stale_temp_files
from progressgym_env.errors import MissingExtraError
from progressgym_env.judges import target_curve

SITE_FILE = "index.html"
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


@dataclass(frozen=True)
class SiteConfig:
    """Options of ``progressgym site``."""

    results: str = field(
        metadata={"help": "Benchmark output folder (holding results.json), or ProgressGym result files.",
                  "positional": True}
    )
    out: str = field(default="results/site", metadata={"help": "Folder to write index.html into."})
    title: str = field(default="ProgressGym leaderboard", metadata={"help": "Page title."})


def _plotly() -> Any:
    try:
        import plotly
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        raise MissingExtraError("building the leaderboard site", "site", "plotly") from None
    return plotly, go, make_subplots


def _fmt(mean: float, half: float, digits: int, sign: bool = False) -> str:
    if math.isnan(mean):
        return "n/a"
    text = f"{mean:+.{digits}f}" if sign else f"{mean:.{digits}f}"
    return text if math.isnan(half) else f"{text} ± {half:.{digits}f}"


def _cell(value: float, half: float, digits: int, sign: bool = False, name: str = "") -> str:
    data = "" if math.isnan(value) else f' data-value="{value!r}"'
    return f'<td class="num {name}"{data}>{html.escape(_fmt(value, half, digits, sign))}</td>'


def _table(rows: list[LeaderboardRow], runs: list[dict[str, Any]]) -> str:
    lines = [('<table class="leaderboard"><thead><tr><th>rank</th><th>agent</th><th>final_score</th>'
              "<th>normalized</th><th>centered</th><th>seeds</th><th>backend</th><th>history</th></tr></thead><tbody>")]
    for row in rows:
        mine = [r for r in runs if r["agent"] == row.agent and r["challenge"] == row.challenge]
        backend = sorted({str(r.get("kwargs", {}).get("backend") or "") for r in mine} - {""}) or ["—"]
        history = sorted({str(r.get("history") or "") for r in mine} - {""}) or ["—"]
        label = row.agent + (" †" if row.privileged else "") + (
            f" ‡ (= {', '.join(row.identical_to)})" if row.identical_to else "")
        lines.append(
            f'<tr data-agent="{html.escape(row.agent)}"><td class="rank">{"†" if row.rank is None else row.rank}</td>'
            f'<td class="agent">{html.escape(label)}</td>'
            + _cell(row.final_mean, row.final_ci, 4, name="final")
            + _cell(row.normalized_mean, row.normalized_ci, 3, True, name="normalized")
            + _cell(row.centered_mean, row.centered_ci, 3, True, name="centered")
            + f'<td class="num seeds">{row.seeds}</td><td>{html.escape(", ".join(backend))}</td>'
            f"<td>{html.escape(', '.join(history))}</td></tr>"
        )
    lines.append("</tbody></table>")
    return "\n".join(lines)


OUTLIER_FENCE = 1.5
"""Bars whose mean lies further than this many spreads outside the quartiles are drawn clipped (Tukey's fence)."""


def robust_axis_range(values: Sequence[float], fence: float = OUTLIER_FENCE) -> tuple[float, float]:
    """The y range of a normalised-score chart: every non-outlier mean, 0 and 1, with 10% padding.

    A mean is an outlier when it lies more than ``fence`` spreads below the first or above the third
    quartile of all means; the spread is the interquartile range, at least 1 (the lock-in-to-reference
    span), so agents within a few spans of each other are never clipped. Without this, the ``random``
    agent (about -4 on Follow, -12 on Coevolve) stretches the axis until the other bars look alike.
    """
    finite = [float(v) for v in values if math.isfinite(v)]
    if not finite:
        return -0.1, 1.1
    q1, q3 = (float(q) for q in np.percentile(finite, [25, 75]))
    spread = max(q3 - q1, 1.0)
    low_fence, high_fence = q1 - fence * spread, q3 + fence * spread
    kept = [v for v in finite if low_fence <= v <= high_fence] + [0.0, 1.0]
    low, high = min(kept), max(kept)
    pad = 0.1 * (high - low)
    return low - pad, high + pad


def score_chart(rows: Sequence[LeaderboardRow], div_id: str) -> str:
    """A Plotly bar chart (HTML div) of the normalised scores with 95% CI error bars.

    Dotted reference lines mark 0 (value lock-in) and 1 (the reference). The y axis spans the
    non-outlier agents (:func:`robust_axis_range`); an outlier's bar is cut at the axis edge, hatched,
    labelled with its value, and the subtitle names it, so a far-off agent cannot hide the differences
    between the others.
    """
    _, go, _ = _plotly()
    shown = [r for r in rows if not math.isnan(r.normalized_mean)]
    low, high = robust_axis_range([r.normalized_mean for r in shown])
    clipped = [not low <= r.normalized_mean <= high for r in shown]
    figure = go.Figure(
        go.Bar(
            x=[r.agent + (" †" if r.privileged else "") for r in shown],
            y=[min(max(r.normalized_mean, low), high) for r in shown],
            customdata=[r.normalized_mean for r in shown],
            error_y={"type": "data", "array": [0.0 if cut or math.isnan(r.normalized_ci) else r.normalized_ci
                                               for r, cut in zip(shown, clipped, strict=True)], "visible": True},
            marker_color=["#999999" if r.privileged else COLORS[0] for r in shown],
            marker_pattern_shape=["/" if cut else "" for cut in clipped],
            text=[f"{r.normalized_mean:+.2f} (off scale)" if cut else "" for r, cut in zip(shown, clipped, strict=True)],
            textposition="inside",
            hovertemplate="%{x}: %{customdata:.3f} ± %{error_y.array:.3f}<extra></extra>",
        )
    )
    title = "normalized score, mean ± 95% CI over seeds"
    off_scale = [f"{html.escape(r.agent)} {r.normalized_mean:+.2f}"
                 for r, cut in zip(shown, clipped, strict=True) if cut]
    if off_scale:
        title += (f"<br><sub>axis cut at [{low:+.2f}, {high:+.2f}] so that outliers do not hide the others; "
                  f"off scale (hatched): {', '.join(off_scale)}</sub>")
    for y, label in ((0.0, "0 = lock-in"), (1.0, "1 = reference")):
        figure.add_hline(y=y, line_dash="dot", line_color="#555555", line_width=1, annotation_text=label,
                         annotation_position="top right", annotation_font_size=11)
    figure.update_layout(
        title=title, yaxis_title="normalized score (0 = lock-in, 1 = reference)", yaxis_range=[low, high],
        xaxis_title="agent", height=380, margin={"t": 70, "b": 60, "l": 70, "r": 20}, template="plotly_white",
    )
    return str(figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id))


def trajectory_chart(runs: Sequence[dict[str, Any]], div_id: str) -> str:
    """A Plotly figure (HTML div): per value dimension, every agent's trajectories; a menu picks the agent."""
    _, go, make_subplots = _plotly()
    by_agent: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        if run.get("episode_record") is not None:
            by_agent.setdefault(str(run["agent"]), []).append(run)
    if not by_agent:
        return "<p>No trajectories: these results carry no full episode records.</p>"
    first = next(iter(by_agent.values()))[0]["episode_record"]
    human = np.asarray(first["human"], dtype=np.float64)
    dims = list(first.get("dims") or [f"dim {i}" for i in range(human.shape[1])])
    centuries = list(first.get("centuries") or range(len(human)))
    cols = min(len(dims), 5)
    rows = math.ceil(len(dims) / cols)
    figure = make_subplots(rows=rows, cols=cols, subplot_titles=[d.replace("_", " ") for d in dims],
                           horizontal_spacing=0.05, vertical_spacing=0.12)
    owners: list[str | None] = []  # the agent each trace belongs to (None: shown for every agent)
    target_label, targets = target_curve(first)
    for k in range(len(dims)):
        position = {"row": k // cols + 1, "col": k % cols + 1}
        figure.add_trace(go.Scatter(x=centuries, y=human[:, k], mode="lines+markers", name="human H_t",
                                    line={"color": "black"}, legendgroup="human", showlegend=k == 0), **position)
        owners.append(None)
        steps = len(first["model"])
        if target_label and steps:
            figure.add_trace(go.Scatter(x=centuries[1 : 1 + steps], y=targets[:steps, k],
                                        mode="lines+markers", name=f"scored target {target_label}",
                                        line={"color": "#2ca02c", "dash": "dot"}, legendgroup="target",
                                        showlegend=k == 0), **position)
            owners.append(None)
        for agent, members in by_agent.items():
            for i, run in enumerate(members):
                record = run["episode_record"]
                models = np.asarray(record["model"], dtype=np.float64)
                if len(models):
                    figure.add_trace(go.Scatter(
                        x=centuries[1 : 1 + len(models)], y=models[:, k], mode="lines+markers",
                        name=f"model M_t (seed {run['seed']})", line={"color": COLORS[i % len(COLORS)], "dash": "dash"},
                        legendgroup=f"model{i}", showlegend=k == 0, visible=agent == next(iter(by_agent))), **position)
                    owners.append(agent)
                if record.get("simulated") is not None:
                    simulated = np.asarray(record["simulated"], dtype=np.float64)
                    figure.add_trace(go.Scatter(
                        x=centuries[: len(simulated)], y=simulated[:, k], mode="lines+markers",
                        name=f"simulated human S_t (seed {run['seed']})",
                        line={"color": COLORS[(i + 3) % len(COLORS)]}, legendgroup=f"sim{i}", showlegend=k == 0,
                        visible=agent == next(iter(by_agent))), **position)
                    owners.append(agent)
    buttons = [
        {"label": agent, "method": "update",
         "args": [{"visible": [owner is None or owner == agent for owner in owners]}]}
        for agent in by_agent
    ]
    height, top, bottom = 330 * rows + 130, 120, 50
    figure.update_layout(
        updatemenus=[{"buttons": buttons, "direction": "down", "x": 0.06, "xanchor": "left",
                      "y": 1 + 75 / (height - top - bottom), "yanchor": "bottom", "showactive": True}],
        annotations=[*figure.layout.annotations, {"text": "agent:", "showarrow": False, "xref": "paper",
                                                  "yref": "paper", "x": 0.0, "xanchor": "left",
                                                  "y": 1 + 85 / (height - top - bottom), "yanchor": "bottom"}],
        height=height, margin={"t": top, "b": bottom, "l": 50, "r": 20}, template="plotly_white",
        legend={"orientation": "h", "y": -0.2},
    )
    figure.update_xaxes(title_text="century")
    figure.update_yaxes(title_text="value")
    return str(figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id))


def _code(text: str) -> str:
    """``text`` escaped for HTML, with Markdown's `code` spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


_WEB_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)


def safe_href(url: str) -> str | None:
    """``url`` escaped for an ``href`` when it is an http(s) URL, else None (no link).

    A results file is data that anyone may have written: a ``javascript:`` or ``data:`` URL placed in
    an ``<a href>`` would run script when clicked, so only web links are made links.
    """
    return html.escape(url, quote=True) if _WEB_URL.fullmatch(url) else None


def _relative_href(target: Path, site_dir: Path) -> str:
    """A relative link from ``site_dir`` to ``target``; ``./`` in front so no part reads as a URL scheme."""
    relative = Path(os.path.relpath(target.resolve(), site_dir.resolve())).as_posix()
    if not relative.startswith(("./", "../")):
        relative = "./" + relative
    return html.escape(relative, quote=True)


def _wandb_link(run: dict[str, Any], site_dir: Path) -> str:
    url = run.get("wandb_url")
    if url:
        href = safe_href(str(url))
        if href is None:
            return f'<span class="unsafe-url" title="not an http(s) link">{html.escape(str(url))}</span>'
        return f'<a href="{href}" rel="noopener noreferrer">wandb</a>'
    directory = run.get("wandb_dir")
    if not directory:
        return "—"
    return (f'<a href="{_relative_href(Path(str(directory)), site_dir)}" '
            f'title="offline run: wandb sync {html.escape(str(directory))}">{html.escape(Path(str(directory)).name)}</a>')


def _configs(runs: Iterable[dict[str, Any]], site_dir: Path) -> str:
    lines = [('<table class="configs"><thead><tr><th>agent</th><th>seed</th><th>env</th><th>config</th>'
              "<th>wandb run</th></tr></thead><tbody>")]
    for run in runs:
        config = {"kwargs": run.get("kwargs", {}), "agent_config": run.get("agent_config", {})}
        if run.get("model_sha256"):
            config["model_sha256"] = run["model_sha256"]
        lines.append(
            f"<tr><td>{html.escape(str(run['agent']))}</td><td>{int(run['seed'])}</td>"
            f"<td>{html.escape(str(run.get('env_id', '')))}</td>"
            f"<td><pre>{html.escape(json.dumps(config, sort_keys=True))}</pre></td>"
            f"<td>{_wandb_link(run, site_dir)}</td></tr>"
        )
    lines.append("</tbody></table>")
    return "\n".join(lines)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 14px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top; }
td.num, td.rank { text-align: right; font-variant-numeric: tabular-nums; }
table.configs pre { margin: 0; white-space: pre-wrap; font-size: 12px; max-width: 800px; }
p.note { color: #555; font-size: 14px; max-width: 1100px; }
section { margin-bottom: 2.5em; }
"""


def render_site(runs: list[dict[str, Any]], site_dir: Path, title: str = "ProgressGym leaderboard") -> str:
    """The page's HTML for ``runs`` (a results.json's runs or imported ProgressGym results)."""
    kept, superseded = latest_models_only(label_settings(runs))
    scored = score_runs(kept)
    rows = leaderboard_rows(scored)
    histories = sorted({s.history for s in scored if s.history})
    by_challenge: dict[str, list[dict[str, Any]]] = {}
    for run in kept:
        by_challenge.setdefault(str(run["challenge"]), []).append(run)
    return _page(rows, by_challenge, records_by_challenge(kept), histories, len(scored), superseded, site_dir, title,
                 spans=challenge_spans(scored))


def render_store_site(store: Any, site_dir: Path, title: str = "ProgressGym leaderboard") -> str:
    """The page's HTML for a results store: the table aggregated in the store, and per row at most
    :data:`~progressgym_env.benchmark.store_readers.MAX_TRAJECTORIES` runs (evenly spaced seeds) for the
    trajectories and configs, read one group at a time (a note says how many are shown)."""
    from progressgym_env.benchmark.store_readers import (
        MAX_TRAJECTORIES,
        group_runs,
        header_record,
        store_leaderboard,
    )

    board = store_leaderboard(store)
    rows = board.aggregation.rows
    by_challenge: dict[str, list[dict[str, Any]]] = {}
    shown = 0
    for row in rows:
        runs, _ = group_runs(store, row.challenge, row.agent, MAX_TRAJECTORIES, board.settings_of(row.challenge, row.agent))
        by_challenge.setdefault(row.challenge, []).extend(runs)
        shown += len(runs)
    records = {c: header_record(store, seq) for c, seq in board.first_seq.items()}
    total = sum(r.seeds for r in rows)
    note = "" if shown == total else (
        f"Trajectories and configs show {shown} of the {total} runs (at most {MAX_TRAJECTORIES} evenly spaced seeds "
        "per row); the table aggregates all of them.")
    return _page(rows, by_challenge, records, board.aggregation.histories, total, board.superseded, site_dir, title,
                 note, board.aggregation.spans)


def _page(rows: list[LeaderboardRow], runs_by_challenge: Mapping[str, list[dict[str, Any]]],
          records: Mapping[str, Mapping[str, Any]], histories: Sequence[str], total: int, superseded: int,
          site_dir: Path, title: str, note: str = "", spans: Mapping[str, float] | None = None) -> str:
    plotly, _, _ = _plotly()
    challenges = list(dict.fromkeys(r.challenge for r in rows))
    body = [
        f"<h1>{html.escape(title)}</h1>",
        (f'<p class="note">History: {html.escape(", ".join(histories) or "unknown")} · {total} runs · scores '
        "recomputed from the saved episode vectors by the judges (the same numbers as <code>progressgym "
        "leaderboard</code>). <code>final_score</code>: the paper's score (plain cosine). ± is a 95% confidence "
        "interval over seeds (Student t). Equal mean scores share a rank; † reads the hidden target (an upper "
        "bound, not ranked); ‡ the same score as another agent on every seed.</p>"),
    ]
    ratio_note = ratio_of_means_note(spans if spans is not None else {})
    if ratio_note:
        body.append(f'<p class="note">{_code(ratio_note)}</p>')
    if note:
        body.append(f'<p class="note">{html.escape(note)}</p>')
    if superseded:
        body.append(f'<p class="note">{superseded} runs of older model files are superseded by the newest ones.</p>')
    body.append("<nav>" + " · ".join(f'<a href="#{c}">{html.escape(challenge_title(c))}</a>' for c in challenges)
                + "</nav>")
    for challenge in challenges:
        mine = [r for r in rows if r.challenge == challenge]
        # leaderboard order, privileged agents (†, the oracle) last: the menu opens on the best competitor
        order = {r.agent: i for i, r in enumerate(sorted(mine, key=lambda r: r.privileged))}
        challenge_runs = sorted(runs_by_challenge.get(challenge, []),
                                key=lambda r: (order.get(str(r["agent"]), len(order)), int(r["seed"])))
        body += [
            f'<section id="{challenge}"><h2>{html.escape(challenge_title(challenge))}</h2>',
            f'<p class="note">{_code(normalization_note(challenge, records.get(challenge)))}</p>',
            _table(mine, challenge_runs),
            score_chart(mine, f"scores-{challenge}"),
            "<h3>Value trajectories</h3>",
            trajectory_chart(challenge_runs, f"trajectories-{challenge}"),
            "<details><summary>Run configs and wandb runs</summary>",
            _configs(challenge_runs, site_dir),
            "</details></section>",
        ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
        f"<script>{plotly.offline.get_plotlyjs()}</script></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def build_site(config: SiteConfig) -> Path:
    """Write ``config.out/index.html`` for ``config.results``; return its path.

    :raises ResultsFileError: the results cannot be read.
    """
    from progressgym_env.benchmark.store import ResultsStore
    from progressgym_env.benchmark.store_readers import reads_store

    out = Path(config.out)
    if reads_store(config.results):  # a large folder: aggregated in its store
        page = render_store_site(ResultsStore(config.results), out, config.title)
    else:
        page = render_site(load_any_results(config.results), out, config.title)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(out)
    return atomic_write_text(out / SITE_FILE, page)
