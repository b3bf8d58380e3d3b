"""Fault injection: corrupt files, unsafe model files, bad CLI input, killed benchmarks.

Each test names one fault and checks the outcome the fault audit asks for: a clear error (a
:class:`~progressgym_env.errors.ProgressGymError` whose message names the problem), nothing written
over a refused file, and, for kills, no run lost and none duplicated (results and wandb runs).
The random corruptions are in ``tests/test_fuzz.py``.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from progressgym_env.benchmark import BenchmarkConfig, run_benchmark
from progressgym_env.benchmark.results import ResultsFileError, load_results, run_key
from progressgym_env.cli import main
from progressgym_env.errors import HistoryFormatError, UnsafeFileError
from progressgym_env.trajectory import corpus_history, load_history_file, save_history

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------ results.json

@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The JSON of a small valid results.json (static and lifelong, Follow and Coevolve, 1 seed)."""
    out = tmp_path_factory.mktemp("bench")
    run_benchmark(BenchmarkConfig(agents=["static", "lifelong"], challenges=["follow", "coevolve"], seeds=1,
                                  out=str(out), wandb=False, plots=False, progress=False))
    return json.loads((out / "results.json").read_text())


def _set(path: list[Any], value: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["runs"].append(dict(d["runs"][0])), "runs 0 and 4 are the same run"),
        (_set(["runs", 0, "seed"], 0.0), "seed 0.0, not an int >= 0"),
        (_set(["runs", 0, "seed"], -1), "seed -1, not an int >= 0"),
        (_set(["runs", 0, "seed"], True), "seed true, not an int >= 0"),
        (_set(["runs", 0, "seed"], "0"), "not an int >= 0"),
        (_set(["runs", 1, "final_score"], float("nan")), "final_score nan, not a finite number"),
        (_set(["runs", 1, "final_score"], 0.99), "stores final_score 0.99 but the judges recompute"),
        (_set(["runs", 1, "normalized_score"], 0.5), "stores normalized_score 0.5 but the judges recompute"),
        (_set(["runs", 1, "episode_record", "model", 3, 1], 0.25), "stores final_score"),
        (_set(["runs", 2, "rewards", 0], 0.5), "rewards that differ from its episode record"),
        (_set(["runs", 0, "challenge"], "coevolve"), "episode record is a 'follow' episode"),
        (_set(["runs", 0, "episode_record", "human"], "x"), "episode_record the judges cannot score"),
        (_set(["runs", 0, "kwargs"], [1]), "kwargs [1], not an object"),
        (_set(["runs", 0, "model_sha256"], "abc"), "not a hex SHA-256"),
        (_set(["runs", 0, "env_id"], "PG-Folgow-v0"), "a 'follow' run is made with 'PG-Follow-v0'"),
        (lambda d: d["runs"][0]["kwargs"].__setitem__("hestory", d["runs"][0]["kwargs"].pop("history")),
         "kwargs ['hestory'] that PG-Follow-v0 does not take"),
        (_set(["runs", 0, "kwargs", "history"], "c!rpus"), "is filed under 'corpus'"),
        (_set(["runs", 0, "kwargs", "backend"], "surrogatu"), "but its episode record ran on 'surrogate'"),
        (_set(["runs", 0, "episode_record", "similarity"], "co'ine"), "has similarity \"co'ine\" in its episode"),
        (_set(["runs", 0, "episode_record", "centuries", 5], 119), "not one per history row counting up by one"),
        (_set(["runs", 0, "episode_record", "value_space"], "corpZs5"), "but its dims are those of 'corpus5'"),
        (lambda d: d["runs"][0].pop("normalized_score"), "lacks ['normalized_score']"),
    ],
)
def test_a_corrupt_results_file_is_refused_and_left_untouched(tmp_path: Path, saved: dict[str, Any], change: Any,
                                                              message: str) -> None:
    data = json.loads(json.dumps(saved))
    change(data)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    before = path.read_bytes()
    with pytest.raises(ResultsFileError, match="left untouched") as caught:
        load_results(path)
    assert message in str(caught.value) and str(path) in str(caught.value)
    with pytest.raises(ResultsFileError):
        run_benchmark(BenchmarkConfig(agents=["static"], challenges=["follow"], seeds=1, out=str(tmp_path),
                                      wandb=False, plots=False, progress=False))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json", "results.json.lock"]


def test_a_symlinked_results_file_is_not_replaced(tmp_path: Path, saved: dict[str, Any]) -> None:
    from progressgym_env.benchmark.results import write_results
    from progressgym_env.common.atomic import SymlinkTargetError

    real = tmp_path / "real.json"
    real.write_text(json.dumps(saved))
    (tmp_path / "results.json").symlink_to(real)
    with pytest.raises(SymlinkTargetError):
        write_results(tmp_path / "results.json", saved["runs"])
    assert (tmp_path / "results.json").is_symlink() and json.loads(real.read_text()) == saved


def test_results_are_written_with_the_users_umask(tmp_path: Path) -> None:
    from progressgym_env.benchmark.results import write_results

    old = os.umask(0o022)
    try:
        write_results(tmp_path / "results.json", [])
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "results.json").stat().st_mode) == 0o644


# -------------------------------------------------------------------------------- trajectory files

def test_trajectory_files_strict(tmp_path: Path) -> None:
    csv_text = save_history(corpus_history(), tmp_path / "h.csv").read_text()
    lines = csv_text.splitlines(keepends=True)

    bom = tmp_path / "excel.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + csv_text.replace("\n", "\r\n").encode())  # Excel: BOM + CRLF
    np.testing.assert_array_equal(load_history_file(bom).values, corpus_history().values)

    cases = {
        "dup.csv": (lines[0].rstrip("\n") + ",religion\n" + "".join(line.rstrip("\n") + ",0.5\n" for line in lines[1:]),
                    "lists 'religion' twice"),
        "cut.csv": (csv_text[:-8], "looks cut short"),  # a cut mid-row: a field missing
        "gap.csv": (lines[0] + "".join(lines[1:4] + lines[5:]), "13 is followed by"),
        "space.csv": (csv_text.replace("0.438", "0.43 ", 1), "not a number"),
        "under.csv": (csv_text.replace("0.438", "0.4_38", 1), "not a number"),
    }
    cases["gap.csv"] = (lines[0] + "".join(lines[1:3] + lines[4:]), "14 is followed by 16")
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text, newline="")
        with pytest.raises(HistoryFormatError, match=message):
            load_history_file(tmp_path / name)

    good = corpus_history().to_dict()
    for change, message in [
        (lambda d: d["values"][1].__setitem__(0, "0.5"), r"values\[1\]\[0\] is '0.5', not a numeric value"),
        (lambda d: d["values"][2].__setitem__(3, True), r"values\[2\]\[3\] is True"),
        (lambda d: d.__setitem__("centuries", "13-21"), "'centuries' must be a list of ints"),
        (lambda d: d.__setitem__("centuries", [13.0 + i for i in range(9)]), r"centuries\[0\] is 13.0, not an int"),
        (lambda d: d.__setitem__("centuries", list(range(13, 22))[::-1]), "count up by one"),
        (lambda d: d.__setitem__("provenance", ["a"]), "'provenance' must be an object"),
        (lambda d: d.__setitem__("provenance", {"a": [[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}), "nested more than"),
        (lambda d: d.__setitem__("value_space", 5), "'value_space' must be a name"),
        (lambda d: d.__setitem__("value_space", "corpus"), "those of the built-in value space 'corpus5'"),
        (lambda d: d.__setitem__("dims", [*d["dims"][:4], d["dims"][0]]), "twice"),
    ]:
        data = json.loads(json.dumps(good))
        change(data)
        (tmp_path / "h.json").write_text(json.dumps(data))
        with pytest.raises(HistoryFormatError, match=message):
            load_history_file(tmp_path / "h.json")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(HistoryFormatError, match="nested too deeply"):
        load_history_file(tmp_path / "deep.json")
    (tmp_path / "dupkey.json").write_text(json.dumps(good)[:-1] + ', "values": [[0.5]]}')
    with pytest.raises(HistoryFormatError, match="key 'values' appears twice"):
        load_history_file(tmp_path / "dupkey.json")


# --------------------------------------------------------------------------------- sb3 model files

def test_world_writable_model_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agents.sb3_agent import TRUST_ENV_VAR, check_model_file_trusted

    folder = tmp_path / "models"
    folder.mkdir(mode=0o755)
    model = folder / "model.zip"
    model.write_bytes(b"PK")
    model.chmod(0o644)
    check_model_file_trusted(model)  # a private file in a private folder
    model.chmod(0o666)
    with pytest.raises(UnsafeFileError, match="world-writable .* runs the code stored in it"):
        check_model_file_trusted(model)
    model.chmod(0o644)
    folder.chmod(0o777)
    with pytest.raises(UnsafeFileError, match=f"its folder {folder} is world-writable"):
        check_model_file_trusted(model)
    folder.chmod(0o777 | stat.S_ISVTX)  # like /tmp: others cannot replace your file
    check_model_file_trusted(model)
    folder.chmod(0o777)
    monkeypatch.setenv(TRUST_ENV_VAR, "1")
    check_model_file_trusted(model)


def test_the_benchmark_refuses_a_world_writable_model_before_loading_it(tmp_path: Path) -> None:
    model = tmp_path / "model.zip"
    model.write_bytes(b"not even a zip: never unpickled")
    model.chmod(0o666)
    with pytest.raises(UnsafeFileError, match="refusing to load SB3 model"):
        run_benchmark(BenchmarkConfig(agents=[f"ppo:{model}"], challenges=["follow"], seeds=1,
                                      out=str(tmp_path / "out"), wandb=False, plots=False, progress=False))


# ------------------------------------------------------------------------------------ CLI, one line

def _exit_code(argv: list[str]) -> int:
    """``progressgym argv``'s exit status (argparse errors exit through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--history", "missing.csv"], "history file 'missing.csv' does not exist"),
        (["--backend-config", "{bad"], "expected a JSON object"),
        (["--backend-config", '{"capacity": "2"}'], "capacity must be a number"),
        (["--out", "FILE"], "is a file, not a folder"),
        (["--out", "FILE/sub"], "cannot write benchmark results in"),
    ],
)
def test_benchmark_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                           message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("")
    argv = ["benchmark", "--agents", "static", "--challenges", "follow", "--seeds", "1", "--no-wandb",
            "--no-progress", *(["--out", "out"] if "--out" not in args else []), *args]
    assert _exit_code(argv) in (1, 2)
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    assert main(["benchmark", "--agents", "static", "--challenges", "follow", "--seeds", "1", "--no-wandb",
                 "--no-progress", "--out", str(out)]) == 1
    assert "cannot write benchmark results" in capsys.readouterr().err


def test_a_bad_seed_in_results_is_one_line(tmp_path: Path, saved: dict[str, Any],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(json.dumps(saved))
    data["runs"][0]["seed"] = 1.5
    (tmp_path / "results.json").write_text(json.dumps(data))
    for argv in (["leaderboard", str(tmp_path)],
                 ["benchmark", "--agents", "static", "--challenges", "follow", "--seeds", "1", "--no-wandb",
                  "--no-progress", "--out", str(tmp_path)]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "run 0 has seed 1.5, not an int >= 0" in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------ plots

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


# ------------------------------------------------------------------------------------------ kills

KILL_SCRIPT = """
import sys
from progressgym_env.benchmark import BenchmarkConfig, run_benchmark
run_benchmark(BenchmarkConfig(agents=["static", "lifelong", "random"], challenges=["follow", "coevolve"],
              seeds=40, out=sys.argv[1], plots=False, progress=False, wandb=True))
"""


def _saved_runs(out: Path) -> int:
    try:
        return len(load_results(out / "results.json"))
    except ResultsFileError:
        return 0  # not written yet (an atomic write never shows half a file)


def _kill_when(out: Path, ready: Any) -> None:
    """Start a benchmark subprocess (offline wandb) and SIGKILL it as soon as ``ready(out)`` holds."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DISABLE_WEAVE": "true"}
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(out), "1"], cwd=ROOT, env=env)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None and not ready(out):
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()




KILL_POINTS = {
    "before any run is saved": lambda out: (out / "benchmark_config.json").exists(),
    "first runs saved": lambda out: _saved_runs(out) >= 1,
    "most runs saved": lambda out: _saved_runs(out) >= 150,
    "mid wandb logging": lambda out: len(list((out / "wandb").glob("offline-run-*"))) >= 2,
}


def kill_and_resume(out: Path, point: str) -> str:
    """SIGKILL a benchmark at ``point``, re-run it; ``"accepted"`` if nothing was lost or duplicated, else
    ``"data_lost"`` (the fault audit's classes; the assertions of the test below say which check failed)."""
    try:
        check_kill_and_resume(out, point)
    except AssertionError:
        return "data_lost"
    return "accepted"


def check_kill_and_resume(out: Path, point: str) -> None:
    _kill_when(out, KILL_POINTS[point])
    saved = load_results(out / "results.json") if (out / "results.json").exists() else []
    finished = [f for f in (out / "wandb").glob("offline-run-*") if (f / "progressgym-logged.json").is_file()]
    assert len(saved) < 240 or len(finished) < 6, "the benchmark finished before the kill"
    subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(out), "1"], cwd=ROOT, check=True,
                   env={**os.environ, "WANDB_MODE": "offline", "WANDB_DISABLE_WEAVE": "true"})
    runs = load_results(out / "results.json")
    keys = [run_key(r) for r in runs]
    assert len(keys) == len(set(keys)) == 3 * 2 * 40  # every planned run, once
    for before in saved:  # nothing saved before the kill was lost or changed
        match = next(r for r in runs if run_key(r) == run_key(before))
        assert match["final_score"] == before["final_score"]
    dirs = sorted(d.name.rsplit("-", 1)[-1] for d in (out / "wandb").glob("offline-run-*"))
    assert len(dirs) == len(set(dirs))  # no wandb run id twice
    logged: dict[tuple[Any, ...], Path] = {}
    for folder in (out / "wandb").glob("offline-run-*"):
        marker = folder / "progressgym-logged.json"
        assert marker.is_file(), f"{folder} was left unfinished"
        for key in json.loads(marker.read_text())["runs"]:
            assert tuple(key) not in logged, f"run {key} logged twice"
            logged[tuple(key)] = folder
    assert set(logged) == {tuple(k) for k in keys}  # every saved result logged exactly once
    assert all(Path(r["wandb_dir"]).name in {f.name for f in logged.values()} for r in runs)


@pytest.mark.slow
@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_a_killed_benchmark_resumes_without_loss_or_duplicates(tmp_path: Path, point: str) -> None:
    pytest.importorskip("wandb")
    check_kill_and_resume(tmp_path / "out", point)
