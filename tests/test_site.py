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
