"""The leaderboard site: self-contained HTML whose numbers are the judges' recomputation, checked in Chromium."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from progressgym_env.benchmark import BenchmarkConfig, load_results, run_benchmark
from progressgym_env.benchmark.leaderboard import latest_models_only, leaderboard_rows, score_runs
from progressgym_env.cli import main

pytest.importorskip("plotly")
pytest.importorskip("scipy")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
CHALLENGES = ["follow", "predict2", "coevolve"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    bench = tmp_path_factory.mktemp("bench")
    run_benchmark(BenchmarkConfig(agents=["static", "lifelong", "random", "oracle"], challenges=CHALLENGES, seeds=2,
                                  out=str(bench), progress=False, wandb=False, plots=False))
    data = json.loads((bench / "results.json").read_text())
    data["runs"][0]["wandb_dir"] = str(bench / "wandb" / "offline-run-x")  # one linked wandb run
    (bench / "results.json").write_text(json.dumps(data))
    out = tmp_path_factory.mktemp("site")
    assert main(["site", str(bench), "--out", str(out)]) == 0
    return bench, out / "index.html"


class _Cells(HTMLParser):
    """(challenge, agent, column) -> data-value of the leaderboard tables."""

    def __init__(self) -> None:
        super().__init__()
        self.section = self.agent = ""
        self.values: dict[tuple[str, str, str], float] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self.section = a.get("id") or ""
        if tag == "tr" and a.get("data-agent"):
            self.agent = a["data-agent"] or ""
        if tag == "td" and "data-value" in a:
            column = (a.get("class") or "").split()[-1]
            self.values[(self.section, self.agent, column)] = float(a["data-value"] or "nan")


def expected_values(bench: Path) -> dict[tuple[str, str, str], float]:
    rows = leaderboard_rows(score_runs(latest_models_only(load_results(bench / "results.json"))[0]))
    values = {}
    for r in rows:
        values[(r.challenge, r.agent, "final")] = r.final_mean
        values[(r.challenge, r.agent, "normalized")] = r.normalized_mean
        values[(r.challenge, r.agent, "centered")] = r.centered_mean
    return values


def test_the_page_is_self_contained_and_shows_the_recomputed_numbers(site: tuple[Path, Path]) -> None:
    bench, index = site
    text = index.read_text(encoding="utf-8")
    assert not re.search(r"<(script|img|link)[^>]+(src|href)=\"?https?:", text)  # no network
    assert not re.search(r"<script[^>]+src=", text)  # Plotly's JavaScript is inlined
    assert "Plotly" in text and text.count('class="leaderboard"') == len(CHALLENGES)
    parser = _Cells()
    parser.feed(text)
    assert parser.values == expected_values(bench)  # full precision, the judges' recomputation
    assert 'href="../' in text and "wandb sync" in text  # the linked offline wandb run
    assert "&quot;timesteps_ahead&quot;: 2" in text  # the run configs


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium browser installed (apt-get install chromium)")
def test_the_page_renders_in_headless_chromium(site: tuple[Path, Path], tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    bench, index = site
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(index.as_uri())
            page.wait_for_function(
                f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {2 * len(CHALLENGES)}",
                timeout=30_000,
            )
            bars = page.locator("#scores-coevolve .trace.bars .point").count()
            lines = page.locator("#trajectories-predict2 .scatterlayer .trace").count()
            shown = {}
            for challenge in CHALLENGES:
                for row in page.locator(f"#{challenge} table.leaderboard tbody tr").all():
                    agent = row.get_attribute("data-agent") or ""
                    shown[(challenge, agent)] = row.locator("td.final").inner_text()
            page.screenshot(path=str(tmp_path / "site.png"))
        finally:
            browser.close()
    assert errors == []
    assert bars == 4 and lines > 0  # one bar per agent; trajectories drawn
    rows = leaderboard_rows(score_runs(load_results(bench / "results.json")))
    assert shown == {(r.challenge, r.agent): f"{r.final_mean:.4f} ± {r.final_ci:.4f}" for r in rows}
    assert (tmp_path / "site.png").stat().st_size > 10_000


# ------------------------------------------------------------------ links, chart scale, reference lines, menu


def _figure(text: str, div_id: str) -> dict:
    """The data and layout Plotly is given for the chart ``div_id`` (parsed from its newPlot call)."""
    start = text.index(f'Plotly.newPlot(                        "{div_id}",')
    decoder = json.JSONDecoder()
    rest = text[text.index("[", start):]
    data, end = decoder.raw_decode(rest)
    layout, _ = decoder.raw_decode(rest[end:].lstrip(", \n"))
    return {"data": data, "layout": layout}


@pytest.mark.parametrize("url", ["javascript:alert(document.cookie)", " JavaScript:alert(1)", "java\tscript:alert(1)",
                                 "data:text/html,<script>alert(1)</script>", "vbscript:x", "//evil.example/x",
                                 "file:///etc/passwd", "https://wandb.ai/x\nonclick=alert(1)"])
def test_only_web_urls_become_links(url: str) -> None:
    from progressgym_env.benchmark.site import _wandb_link

    cell = _wandb_link({"wandb_url": url}, Path("."))
    assert "<a " not in cell and "href" not in cell and "<script" not in cell


def test_web_and_relative_links_stay_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from progressgym_env.benchmark.site import _wandb_link

    cell = _wandb_link({"wandb_url": "https://wandb.ai/team/project/runs/abc?x=1&y=2"}, tmp_path)
    assert 'href="https://wandb.ai/team/project/runs/abc?x=1&amp;y=2"' in cell
    monkeypatch.chdir(tmp_path)  # an offline run folder named like a URL scheme, beside the page
    cell = _wandb_link({"wandb_dir": "javascript:alert(1)"}, tmp_path)
    assert 'href="./javascript:alert(1)"' in cell


def test_a_javascript_wandb_url_in_results_is_not_a_link_on_the_page(tmp_path: Path) -> None:
    from progressgym_env.benchmark.site import render_site

    bench = tmp_path / "bench"
    run_benchmark(BenchmarkConfig(agents=["static"], challenges=["follow"], seeds=1, out=str(bench), progress=False,
                                  wandb=False, plots=False))
    runs = load_results(bench / "results.json")
    runs[0]["wandb_url"] = "javascript:alert(1)"
    text = render_site(runs, tmp_path / "site")
    assert not re.search(r"href=\"\s*javascript:", text, re.IGNORECASE)
    assert "javascript:alert(1)</span>" in text  # still shown, as text


def test_robust_axis_range_by_hand() -> None:
    from progressgym_env.benchmark.site import robust_axis_range

    # the golden Follow means: random at -3.79 is an outlier (quartiles -0.21, 0.715; spread 1 -> [-1.71, 2.21])
    low, high = robust_axis_range([1.0, 0.832, 0.374, 0.0, -0.276, -3.785])
    assert (low, high) == pytest.approx((-0.276 - 0.1276, 1.0 + 0.1276))
    # Coevolve: the oracle at 2.92 stays, random at -11.2 goes
    low, high = robust_axis_range([2.92, 0.3, 0.27, -0.42, -1.88, -11.22])
    assert (low, high) == pytest.approx((-1.88 - 0.48, 2.92 + 0.48))
    # agents within a few lock-in-to-reference spans of each other: nothing is cut, 0 and 1 always shown
    assert robust_axis_range([0.2, 0.4, -1.0, 2.0]) == pytest.approx((-1.3, 2.3))
    assert robust_axis_range([0.5]) == pytest.approx((-0.1, 1.1))
    assert robust_axis_range([float("nan")]) == pytest.approx((-0.1, 1.1))


def test_the_score_chart_cuts_the_outlier_says_so_and_draws_reference_lines(site: tuple[Path, Path]) -> None:
    bench, index = site
    text = index.read_text(encoding="utf-8")
    rows = {r.agent: r for r in leaderboard_rows(score_runs(load_results(bench / "results.json")))
            if r.challenge == "coevolve"}
    figure = _figure(text, "scores-coevolve")
    low, high = figure["layout"]["yaxis"]["range"]
    bar = figure["data"][0]
    shown = dict(zip(bar["x"], bar["y"], strict=True))
    assert shown["random"] == pytest.approx(low) and rows["random"].normalized_mean < low  # cut at the edge
    assert bar["customdata"][bar["x"].index("random")] == pytest.approx(rows["random"].normalized_mean)
    assert bar["marker"]["pattern"]["shape"][bar["x"].index("random")] == "/"
    assert f"{rows['random'].normalized_mean:+.2f} (off scale)" in bar["text"]
    assert f"off scale (hatched): random {rows['random'].normalized_mean:+.2f}" in figure["layout"]["title"]["text"]
    for agent in ("static", "lifelong"):  # the others keep their true heights, visibly apart
        assert shown[agent] == pytest.approx(rows[agent].normalized_mean)
    assert high - low < 8  # the random agent no longer sets the scale
    for challenge in CHALLENGES:
        layout = _figure(text, f"scores-{challenge}")["layout"]
        lines = sorted(s["y0"] for s in layout["shapes"] if s["type"] == "line" and s["y0"] == s["y1"])
        assert lines == [0.0, 1.0]
        labels = {a["text"] for a in layout["annotations"]}
        assert {"0 = lock-in", "1 = reference"} <= labels


def test_the_trajectory_menu_opens_on_the_best_non_privileged_agent(site: tuple[Path, Path]) -> None:
    bench, index = site
    text = index.read_text(encoding="utf-8")
    rows = leaderboard_rows(score_runs(load_results(bench / "results.json")))
    for challenge in CHALLENGES:
        best = next(r.agent for r in rows if r.challenge == challenge and not r.privileged and r.rank == 1)
        figure = _figure(text, f"trajectories-{challenge}")
        buttons = figure["layout"]["updatemenus"][0]["buttons"]
        assert buttons[0]["label"] == best and buttons[-1]["label"] == "oracle"
        visible = [trace.get("visible", True) for trace in figure["data"]]
        assert visible == buttons[0]["args"][0]["visible"]  # the page opens showing the first entry
