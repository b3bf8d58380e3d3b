"""``results.json`` (benchmark/results.py): a corrupt file is refused naming the problem and left untouched,
a symlinked file is not replaced, files are written with the user's umask, and one writer at a time holds
the folder (its lock).

Moved from ``tests/test_faults.py`` (the fault audit's results-file cases); the ``saved`` fixture (a small
valid results.json) is in ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from progressgym_env.benchmark import BenchmarkConfig, run_benchmark
from progressgym_env.benchmark.results import RESULTS_FILE, ResultsFileError, folder_lock, load_results


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


# -- the folder lock (one writer at a time) --

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from progressgym_env.benchmark.results import folder_lock
    with folder_lock(sys.argv[1]):
        print("held", flush=True)
        sys.stdin.readline()  # hold until the parent says so
    """
)


def test_a_second_writer_is_refused_while_another_process_holds_the_folder(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(ResultsFileError, match="another process is writing benchmark results") as caught:
            with folder_lock(tmp_path):
                pytest.fail("the lock was taken twice")
        assert f"{RESULTS_FILE}.lock is held" in str(caught.value) and str(tmp_path) in str(caught.value)
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(timeout=60) == 0
    with folder_lock(tmp_path):  # released when the holder left its block: the next writer gets it
        pass


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait(timeout=60)
    with folder_lock(tmp_path):
        pass


def test_writers_in_turn_each_get_the_lock_and_it_is_released_on_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with folder_lock(tmp_path / "new"):
            raise RuntimeError("a failed run")
    with folder_lock(tmp_path / "new"):
        pass
    assert (tmp_path / "new").is_dir()


def test_a_file_in_place_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("x")
    with pytest.raises(ResultsFileError, match="is a file, not a folder"):
        with folder_lock(tmp_path / "out"):
            pass


def test_the_lock_holds_where_fcntl_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows has no ``fcntl``; the old lock then locked nothing and let a second writer in."""
    import filelock  # noqa: F401 - imported first, as a real process would have it

    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        monkeypatch.setitem(sys.modules, "fcntl", None)  # `import fcntl` now raises ImportError
        with pytest.raises(ResultsFileError, match="another process is writing"):
            with folder_lock(tmp_path):
                pass
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=60)
