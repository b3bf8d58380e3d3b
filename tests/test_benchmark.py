"""The main job: outputs, wandb runs, leaderboard recomputation, results integrity."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from progressgym_env.benchmark import BenchmarkConfig, ResultsFileError, load_results, run_benchmark
from progressgym_env.benchmark.leaderboard import leaderboard_markdown
from progressgym_env.cli import main
from progressgym_env.common.progress import ProgressEvent, record_progress
from progressgym_env.episode import run_episode
from progressgym_env.errors import ConfigError, EpisodeOrderError
from progressgym_env.judges import score_record

AGENTS = ["static", "lifelong", "oracle"]
CHALLENGES = ["follow", "predict2", "coevolve"]
SEEDS = 2
EVENTS: list[ProgressEvent] = []
"""The progress events of the module's benchmark (``benchmark_dir``)."""


@pytest.fixture(scope="module")
def benchmark_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    config = BenchmarkConfig(agents=AGENTS, challenges=CHALLENGES, seeds=SEEDS, out=str(out), progress=False)
    with record_progress() as events:
        summary = run_benchmark(config)
    EVENTS[:] = events
    assert summary.new_runs == len(AGENTS) * len(CHALLENGES) * SEEDS
    return out


def test_benchmark_writes_results_leaderboard_and_plots(benchmark_dir: Path) -> None:
    runs = load_results(benchmark_dir / "results.json")
    assert len(runs) == len(AGENTS) * len(CHALLENGES) * SEEDS
    assert {(r["agent"], r["challenge"], r["seed"]) for r in runs} == {
        (a, c, s) for a in AGENTS for c in CHALLENGES for s in range(SEEDS)
    }
    for run in runs:
        assert run["final_score"] == score_record(run["episode_record"])
        assert len(run["rewards"]) == len(run["episode_record"]["model"])
        assert run["kwargs"]["history"] == "corpus"
    predict2 = next(r for r in runs if r["challenge"] == "predict2")
    assert predict2["kwargs"]["timesteps_ahead"] == 2 and predict2["env_id"] == "PG-Predict-v0"
    table = (benchmark_dir / "leaderboard.md").read_text()
    assert "## PG-Predict (k=2)" in table and "oracle †" in table and "lifelong" in table
    plots = sorted(p.name for p in (benchmark_dir / "plots").glob("*.png"))
    assert plots == sorted([f"{c}__{a}.png" for c in CHALLENGES for a in AGENTS]
                           + [f"{c}__comparison.png" for c in CHALLENGES])
    config = json.loads((benchmark_dir / "benchmark_config.json").read_text())
    assert config["benchmarks"][0]["agents"] == AGENTS


def test_one_offline_wandb_run_per_agent_and_challenge(benchmark_dir: Path) -> None:
    run_dirs = sorted((benchmark_dir / "wandb").glob("offline-run-*"))
    assert len(run_dirs) == len(AGENTS) * len(CHALLENGES)
    runs = load_results(benchmark_dir / "results.json")
    assert {Path(r["wandb_dir"]).name for r in runs} == {d.name for d in run_dirs}
    for agent in AGENTS:  # the seeds of one agent on one challenge share a wandb run
        for challenge in CHALLENGES:
            dirs = {r["wandb_dir"] for r in runs if r["agent"] == agent and r["challenge"] == challenge}
            assert len(dirs) == 1
    for run_dir in run_dirs:
        assert list(run_dir.glob("run-*.wandb")), f"{run_dir} holds no wandb log"


def test_leaderboard_command_reproduces_the_table(benchmark_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["leaderboard", str(benchmark_dir)]) == 0
    assert capsys.readouterr().out == (benchmark_dir / "leaderboard.md").read_text()


def test_leaderboard_recomputes_scores_and_ignores_stored_ones(benchmark_dir: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads((benchmark_dir / "results.json").read_text())
    for run in data["runs"]:
        run["final_score"] = 0.123  # tampered: the table must not change
        run["normalized_score"] = 9.9
    (tmp_path / "results.json").write_text(json.dumps(data))
    before = (tmp_path / "results.json").read_bytes()
    assert main(["leaderboard", str(tmp_path), "--write"]) == 1  # refused on load: a tampered file is not tabulated
    err = capsys.readouterr().err
    assert "run 0 stores final_score 0.123 but the judges recompute" in err and "Traceback" not in err
    assert (tmp_path / "results.json").read_bytes() == before and not (tmp_path / "leaderboard.md").exists()


def test_second_benchmark_appends_and_skips_runs_already_there(tmp_path: Path) -> None:
    base = dict(challenges=["follow"], seeds=2, out=str(tmp_path), progress=False, wandb=False)
    run_benchmark(BenchmarkConfig(agents=["static"], **base))
    first = load_results(tmp_path / "results.json")
    summary = run_benchmark(BenchmarkConfig(agents=["static", "lifelong"], **base))
    assert (summary.new_runs, summary.skipped_runs, summary.total_runs) == (2, 2, 4)
    after = load_results(tmp_path / "results.json")
    assert after[:2] == first  # earlier runs kept byte for byte
    again = run_benchmark(BenchmarkConfig(agents=["static", "lifelong"], **base))
    assert again.new_runs == 0 and len(load_results(tmp_path / "results.json")) == 4
    assert "lifelong" in (tmp_path / "leaderboard.md").read_text()


def test_corrupt_results_are_reported_and_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corrupt = '{"format": "progressgym-results", "version": 1, "runs": [{"agent": "static"'
    (tmp_path / "results.json").write_text(corrupt)
    config = BenchmarkConfig(agents=["static"], challenges=["follow"], seeds=1, out=str(tmp_path), progress=False,
                             wandb=False)
    with pytest.raises(ResultsFileError, match="not readable JSON.*left untouched"):
        run_benchmark(config)
    assert (tmp_path / "results.json").read_text() == corrupt
    assert not (tmp_path / "leaderboard.md").exists()
    assert main(["benchmark", "--agents", "static", "--challenges", "follow", "--seeds", "1",
                 "--out", str(tmp_path), "--no-wandb", "--no-progress"]) == 1
    assert "not readable JSON" in capsys.readouterr().err
    assert main(["leaderboard", str(tmp_path)]) == 1
    assert (tmp_path / "results.json").read_text() == corrupt


def test_results_of_the_wrong_shape_are_reported(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps({"format": "progressgym-results", "version": 1,
                                                       "runs": [{"agent": "x"}]}))
    with pytest.raises(ResultsFileError, match=r"run 0 lacks \['challenge'"):
        load_results(tmp_path / "results.json")


def test_a_folder_holds_one_history(tmp_path: Path) -> None:
    base = dict(agents=["static"], challenges=["follow"], seeds=1, out=str(tmp_path), progress=False, wandb=False)
    run_benchmark(BenchmarkConfig(**base))
    with pytest.raises(ResultsFileError, match="holds runs on history \\['corpus'\\]"):
        run_benchmark(BenchmarkConfig(history="procedural", **base))


def test_cli_benchmark_without_wandb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["benchmark", "--agents", "lifelong,extrapolative-1", "--challenges", "predict1", "--seeds", "1",
                 "--out", str(tmp_path), "--no-wandb", "--no-progress"])
    assert code == 0
    assert "## PG-Predict (k=1)" in capsys.readouterr().out
    assert not (tmp_path / "wandb").exists()
    runs = load_results(tmp_path / "results.json")
    assert leaderboard_markdown(runs) == (tmp_path / "leaderboard.md").read_text()


def test_config_errors_name_the_problem() -> None:
    with pytest.raises(ConfigError, match="unknown challenge 'predict9'"):
        BenchmarkConfig(challenges=["predict9"])
    with pytest.raises(ConfigError, match="appear twice"):
        BenchmarkConfig(agents=["ppo:a.zip", "ppo:b.zip"])
    with pytest.raises(ConfigError, match="seeds must be an int >= 1"):
        BenchmarkConfig(seeds=0)


def test_a_bad_agent_fails_before_any_run(tmp_path: Path) -> None:
    config = BenchmarkConfig(agents=["static", "ppo:/nonexistent/{challenge}/model.zip"], challenges=["follow"],
                             seeds=1, out=str(tmp_path), wandb=False, progress=False)
    with pytest.raises(ConfigError, match="/nonexistent/follow/model.zip' does not exist"):
        run_benchmark(config)
    assert not (tmp_path / "results.json").exists()


def test_a_retrained_model_at_the_same_path_is_run_again(tmp_path: Path) -> None:
    sb3 = pytest.importorskip("stable_baselines3")
    import gymnasium as gym

    from progressgym_env.common.fingerprint import file_fingerprint

    env = gym.make("PG-Follow-v0")
    path = tmp_path / "model.zip"
    sb3.PPO("MlpPolicy", env, seed=0, device="cpu").save(path)
    config = BenchmarkConfig(agents=[f"ppo:{path}"], challenges=["follow"], seeds=1, out=str(tmp_path / "out"),
                             progress=False, wandb=False, plots=False)
    assert run_benchmark(config).new_runs == 1
    again = run_benchmark(config)  # same file: the run is already there
    assert (again.new_runs, again.skipped_runs) == (0, 1)
    sb3.PPO("MlpPolicy", env, seed=1, device="cpu").save(path)  # "retrained": new weights, same path
    retrained = run_benchmark(config)
    assert (retrained.new_runs, retrained.total_runs) == (1, 2)
    runs = load_results(tmp_path / "out" / "results.json")
    assert runs[0]["model_sha256"] != runs[1]["model_sha256"] == file_fingerprint(path)
    table = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "1 runs of older model files" in table
    assert f"| 1 | ppo | {score_record(runs[1]['episode_record']):.4f} |" in table


def test_run_episode_refuses_a_truncated_episode() -> None:
    # Every info holds final_score (0.0 before the last step), so termination alone says it was scored.
    class Zero:
        def reset(self, seed: int) -> None: ...

        def act(self, obs: np.ndarray) -> np.ndarray:
            return np.zeros(5, dtype=np.float32)

    env = gym.wrappers.TimeLimit(gym.make("PG-Follow-v0"), max_episode_steps=3)
    with pytest.raises(EpisodeOrderError, match="truncated before the end of history"):
        run_episode(env, Zero(), seed=0)
    result = run_episode(gym.make("PG-Follow-v0"), Zero(), seed=0)
    assert result.final_score > 0.9 and len(result.rewards) == 8


def _bench(out: Path, *extra: str) -> int:
    return main(["benchmark", "--agents", "lifelong", "--challenges", "follow", "--seeds", "2", "--out", str(out),
                 "--no-wandb", "--no-plots", "--no-progress", *extra])


def _lifelong_row(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("| 1 | lifelong"))


@pytest.mark.parametrize("other", [["--query-budget", "64"], ["--backend-config", '{"capacity": 0.5}']],
                         ids=["query-budget", "backend-config"])
def test_other_settings_into_the_same_folder_run_and_show_only_their_numbers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], other: list[str]) -> None:
    """Issue 24.1: settings are part of a run's identity; the old runs are neither reused nor shown."""
    assert _bench(tmp_path / "fresh", *other) == 0
    fresh = _lifelong_row((tmp_path / "fresh" / "leaderboard.md").read_text())
    out = tmp_path / "mixed"
    assert _bench(out) == 0  # the default settings (query budget 512, no backend config) first
    default = _lifelong_row((out / "leaderboard.md").read_text())
    assert default != fresh
    capsys.readouterr()
    assert _bench(out, *other) == 0
    printed = capsys.readouterr().out
    assert "2 runs in" in printed and "(0 already in" in printed
    assert "2 runs in" in printed.splitlines()[-2] and "were made with other settings" in printed
    assert len(load_results(out / "results.json")) == 4  # stored beside the old runs
    table = (out / "leaderboard.md").read_text()
    assert _lifelong_row(table) == fresh  # the requested settings' numbers, as in a fresh folder
    assert default not in table and "2 runs under other settings" in table
    # the same command again resumes (skips), and the default settings still show their own numbers
    assert _bench(out, *other) == 0 and "(2 already in" in capsys.readouterr().out
    assert _bench(out) == 0 and "(2 already in" in capsys.readouterr().out
    assert _lifelong_row((out / "leaderboard.md").read_text()) == default


def test_the_leaderboard_command_labels_each_settings_group(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert _bench(out) == 0 and _bench(out, "--query-budget", "64") == 0
    capsys.readouterr()
    assert main(["leaderboard", str(out)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("| 1 | lifelong", "| 2 | lifelong"))]
    assert sorted(r.split("|")[2].strip() for r in rows) == ["lifelong [query_budget=512]", "lifelong [query_budget=64]"]
    assert all(r.rstrip().endswith("| 2 |") for r in rows)  # two seeds each: never averaged together


def test_results_written_before_identities_load_and_resume(tmp_path: Path) -> None:
    """A results.json written by the code before run identities: it loads, and the same settings are skipped."""
    out = tmp_path / "old"
    out.mkdir()
    fixture = Path(__file__).parent / "data" / "results_before_identity.json"
    (out / "results.json").write_bytes(fixture.read_bytes())
    assert len(load_results(out / "results.json")) == 2
    config = BenchmarkConfig(agents=["lifelong"], challenges=["follow"], seeds=2, out=str(out), wandb=False,
                             plots=False, progress=False)
    old_runs = load_results(out / "results.json")
    summary = run_benchmark(config)
    assert (summary.new_runs, summary.skipped_runs, summary.other_settings_runs) == (0, 2, 0)
    from progressgym_env.benchmark.store import ResultsStore

    assert list(ResultsStore(out).runs()) == old_runs  # converted into the store, run for run
    assert load_results(out / "results.json") == old_runs  # and the export holds them unchanged
    again = run_benchmark(BenchmarkConfig(**{**config.__dict__, "query_budget": 64}))
    assert (again.new_runs, again.total_runs, again.other_settings_runs) == (2, 4, 2)
    assert load_results(out / "results.json")[:2] == old_runs and ResultsStore(out).count() == 4


def test_extrapolative_agents_are_shown_as_readme_says(tmp_path: Path) -> None:
    config = BenchmarkConfig(agents=["extrapolative-1"], challenges=["predict2"], seeds=1, out=str(tmp_path),
                             wandb=False, plots=False, progress=False)
    run_benchmark(config)
    (run,) = load_results(tmp_path / "results.json")
    assert run["agent"] == "extrapolative-1" and run["agent_config"]["agent"] == "extrapolative-1-h2"
    table = (tmp_path / "leaderboard.md").read_text(encoding="utf-8")
    assert "extrapolative-1 " in table or "extrapolative-1|" in table or "extrapolative-1\n" in table
    assert "extrapolative-1-h" not in table
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8").split())
    assert "the leaderboard shows the name asked for, `extrapolative-1`" in readme
    assert "their names say it, `extrapolative-1-h1`" not in readme


def test_ctrl_c_keeps_the_finished_runs_and_says_how_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from progressgym_env.benchmark import executors

    real_run_group = executors.EpisodeWorker.run_group
    calls = {"n": 0}

    def run_then_interrupt(self: executors.EpisodeWorker, group: executors.EpisodeGroup, batch_size: int = 1) -> Any:
        for finished in real_run_group(self, group, batch_size=1):  # one run per batch
            calls["n"] += 1
            if calls["n"] == 4:  # mid-challenge: the first challenge has 4 runs
                raise KeyboardInterrupt
            yield finished

    monkeypatch.setattr(executors.EpisodeWorker, "run_group", run_then_interrupt)
    argv = ["benchmark", "--agents", "static,lifelong", "--challenges", "follow,predict1", "--seeds", "2",
            "--out", str(tmp_path), "--no-wandb", "--no-plots", "--no-progress"]
    assert main(argv) == 130
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "Traceback" not in err[0]
    assert f"3 of 8 new runs were saved in {tmp_path / 'results.json'} (3 runs in all)" in err[0]
    assert "re-run the same command to resume" in err[0]
    assert len(load_results(tmp_path / "results.json")) == 3
    monkeypatch.setattr(executors.EpisodeWorker, "run_group", real_run_group)
    assert main(argv) == 0
    assert "5 runs in" in capsys.readouterr().out and len(load_results(tmp_path / "results.json")) == 8


def test_every_long_phase_reports_progress_run_by_run(benchmark_dir: Path) -> None:
    def advances(label: str) -> list[tuple[int, int]]:
        return [(e.completed, e.total) for e in EVENTS if e.label == label and e.kind == "advance"]

    runs, groups = len(AGENTS) * len(CHALLENGES) * SEEDS, len(AGENTS) * len(CHALLENGES)
    # one step per batch: a group's seeds are played together (one batch per agent and challenge here)
    assert advances("benchmark") == [(i * SEEDS, runs) for i in range(1, groups + 1)]
    assert advances("plots") == [(i, groups + len(CHALLENGES)) for i in range(1, groups + len(CHALLENGES) + 1)]
    assert advances("wandb runs") == [(i, groups) for i in range(1, groups + 1)]
    phases = [e.label for e in EVENTS if e.kind == "start"]
    assert phases == ["benchmark", "plots", "wandb runs"]
    assert [e.label for e in EVENTS if e.kind == "close"] == phases
    last = [e for e in EVENTS if e.label == "wandb runs" and e.kind == "advance"][-1]
    assert " · " in last.status and "runs)" in last.status
