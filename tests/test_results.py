"""The results folder's lock (:func:`~progressgym_env.benchmark.results.folder_lock`): one writer at a time."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from progressgym_env.benchmark.results import RESULTS_FILE, ResultsFileError, folder_lock

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
