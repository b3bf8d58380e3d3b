"""The shared utilities of ``progressgym_env.common``: atomic writes, cache root, path rule, fingerprints, bars."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from progressgym_env.common import atomic as atomic_module
from progressgym_env.common.atomic import (
    SymlinkTargetError,
    atomic_folder,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
)
from progressgym_env.common.cache import CACHE_ENV_VAR, cache_root
from progressgym_env.common.fingerprint import (
    array_fingerprint,
    file_fingerprint,
    json_fingerprint,
    questions_fingerprint,
)
from progressgym_env.common.paths import looks_like_path
from progressgym_env.common.progress import ProgressBar, track


@pytest.fixture
def umask_022() -> Iterator[None]:
    """Run with the common umask 0o022, whatever the test process had."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- atomic files ---------------------------------------------------------------------------------


def test_text_and_bytes_round_trip_and_create_parents(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "results.json"
    assert atomic_write_text(target, "héllo\nworld\n") == target
    assert target.read_bytes() == "héllo\nworld\n".encode()  # utf-8, no newline translation
    atomic_write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert _siblings(target.parent) == ["results.json"]  # no temporary file left behind


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "results.json"
    atomic_write_text(target, "old")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_module.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert _siblings(tmp_path) == ["results.json"]


def test_a_failing_writer_in_atomic_path_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "probs.npz"
    np.savez(target, x=np.arange(3))
    with pytest.raises(RuntimeError, match="writer died"), atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("writer died")
    with np.load(target) as data:
        assert data["x"].tolist() == [0, 1, 2]
    assert _siblings(tmp_path) == ["probs.npz"]


def test_atomic_path_keeps_the_suffix_for_libraries(tmp_path: Path) -> None:
    target = tmp_path / "probs.npz"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".npz") and tmp.exists()
        np.savez(tmp, key=np.array("k"), probs=np.eye(2))  # np.savez would append .npz otherwise
    with np.load(target) as data:
        assert str(data["key"]) == "k"
        np.testing.assert_array_equal(data["probs"], np.eye(2))
    assert _siblings(tmp_path) == ["probs.npz"]


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_get_the_umask_permissions(tmp_path: Path, umask: int, expected: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        with atomic_path(tmp_path / "b.npz") as tmp:
            np.savez(tmp, x=np.zeros(1))
        with atomic_folder(tmp_path / "folder") as staged:
            (staged.path / "weights.bin").write_bytes(b"w")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a.txt") == expected
    assert _mode(tmp_path / "b.npz") == expected
    assert _mode(tmp_path / "folder") == expected | (0o111 & ~umask)  # folders add the x bits the umask allows
    assert _mode(tmp_path / "folder" / "weights.bin") == expected


def test_replacing_a_private_file_gives_umask_permissions(tmp_path: Path, umask_022: None) -> None:
    target = tmp_path / "results.json"
    target.write_text("old")
    target.chmod(0o600)
    atomic_write_text(target, "new")
    assert _mode(target) == 0o644


def test_a_symlink_is_refused_and_left_alone(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("original")
    link = tmp_path / "results.json"
    link.symlink_to(real)
    for write in (
        lambda: atomic_write_text(link, "new"),
        lambda: atomic_write_bytes(link, b"new"),
        lambda: atomic_path(link).__enter__(),
    ):
        with pytest.raises(SymlinkTargetError, match="symbolic link"):
            write()
    assert link.is_symlink() and real.read_text() == "original"
    assert _siblings(tmp_path) == ["real.json", "results.json"]
    assert issubclass(SymlinkTargetError, OSError)


def test_a_folder_in_the_way_of_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "results.json").mkdir()
    with pytest.raises(IsADirectoryError, match="a folder of that name exists"):
        atomic_write_text(tmp_path / "results.json", "x")


# --- atomic folders -------------------------------------------------------------------------------


def test_folder_appears_whole_and_replaces_an_old_one(tmp_path: Path) -> None:
    target = tmp_path / "C013"
    target.mkdir()
    (target / "stale.txt").write_text("crash leftovers")
    with atomic_folder(target) as staged:
        assert staged.path.parent == tmp_path and staged.path != target
        (staged.path / "century.json").write_text("{}")
        assert (target / "stale.txt").exists()  # the old folder stays until the new one is complete
    assert _siblings(target) == ["century.json"]
    assert _siblings(tmp_path) == ["C013"]


def test_a_failed_or_discarded_folder_leaves_the_old_one(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "config.json").write_text("old")
    with pytest.raises(ValueError, match="conversion failed"), atomic_folder(target) as staged:
        (staged.path / "config.json").write_text("new")
        raise ValueError("conversion failed")
    with atomic_folder(target) as staged:
        (staged.path / "config.json").write_text("new")
        staged.discard()
    assert (target / "config.json").read_text() == "old"
    assert _siblings(tmp_path) == ["model"]


def test_folder_symlink_and_file_targets_are_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(SymlinkTargetError), atomic_folder(tmp_path / "link"):
        pass
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="a file of that name exists"), atomic_folder(tmp_path / "file"):
        pass
    assert _siblings(tmp_path) == ["file", "link", "real"]


# --- the cache root -------------------------------------------------------------------------------


def test_cache_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CACHE_ENV_VAR, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "progressgym_env"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "progressgym_env"
    monkeypatch.setenv(CACHE_ENV_VAR, "")  # empty means unset
    assert cache_root() == tmp_path / "xdg" / "progressgym_env"
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert cache_root("~/c") == tmp_path / "home" / "c"
    assert CACHE_ENV_VAR == "PROGRESSGYM_CACHE"


def test_model_sources_and_llm_config_share_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from progressgym_env.common.model_sources import model_cache_dir
    from progressgym_env.llm.config import LLMConfig

    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path))
    assert LLMConfig().cache_dir() == tmp_path
    assert model_cache_dir("smollm2-135m-instruct") == tmp_path / "models" / "smollm2-135m-instruct"


# --- path or hub id -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["/abs/model", "~/models/x", ".", "..", "./ckpt", "../ckpt", ".cache/x", "a\\b", "runs/follow/model",
     "ckpt/", "org/name/"],
)
def test_paths(text: str) -> None:
    assert looks_like_path(text)


@pytest.mark.parametrize("text", ["gpt2", "HuggingFaceTB/SmolLM2-135M", "ckpt", "org/name-v1.5", ""])
def test_hub_ids(text: str) -> None:
    assert not looks_like_path(text)


def test_model_resolution_and_loading_agree_on_the_rule(tmp_path: Path) -> None:
    from progressgym_env.common.model_sources import resolve_model
    from progressgym_env.errors import ModelLoadError
    from progressgym_env.evaluator.choosers.loading import resolve_model_source

    missing = "./no-such-model"
    for resolve in (resolve_model, resolve_model_source):
        with pytest.raises(ModelLoadError, match="does not exist"):
            resolve(missing)  # type: ignore[operator]
    assert resolve_model("org/name") == "org/name"
    assert resolve_model_source("org/name") == ("org/name", "org/name")


# --- fingerprints ---------------------------------------------------------------------------------


def test_json_fingerprint_is_key_order_free_and_pinned() -> None:
    assert json_fingerprint({"b": 1, "a": [1, 2]}) == json_fingerprint({"a": [1, 2], "b": 1})
    assert json_fingerprint({"a": 1}) != json_fingerprint({"a": 2})
    # the byte layout is fixed (existing cache keys depend on it): sha256 of '{"a": [1, 2], "b": 1}'
    expected = hashlib.sha256(b'{"a": [1, 2], "b": 1}').hexdigest()
    assert json_fingerprint({"b": 1, "a": [1, 2]}) == expected
    assert json_fingerprint({"p": Path("/x")}) == hashlib.sha256(b'{"p": "/x"}').hexdigest()


def test_identities_key_and_config_fingerprint_keep_their_values() -> None:
    from progressgym_env.llm.model_loading import identities_key

    ids = [{"model": "m", "sha256": "ab"}]
    legacy = hashlib.sha256(json.dumps([ids, ["fp"]], sort_keys=True, default=str).encode()).hexdigest()
    assert identities_key(ids, "fp") == legacy


def test_array_fingerprint_fixes_the_dtype() -> None:
    action = np.array([0.5, -1.0], dtype=np.float32)
    assert array_fingerprint(action, np.float32) == hashlib.sha256(action.tobytes()).hexdigest()
    assert array_fingerprint(action.astype(np.float64), np.float32) == array_fingerprint(action, np.float32)
    assert array_fingerprint(action, np.float64) != array_fingerprint(action, np.float32)
    values = np.arange(6.0).reshape(3, 2)
    legacy = hashlib.sha256(values.tobytes())
    legacy.update(json.dumps([[13, 14, 15], ["a", "b"]]).encode())
    assert array_fingerprint(values, np.float64, extra=[[13, 14, 15], ["a", "b"]]) == legacy.hexdigest()
    assert array_fingerprint(values.T.copy().T, np.float64) == array_fingerprint(values, np.float64)  # C order


def test_checkpoint_digests_are_stable() -> None:
    from progressgym_env.history import corpus_history
    from progressgym_env.llm.checkpoint import action_digest, history_digest

    action = np.array([0.25, -0.5, 1.0], dtype=np.float32)
    assert action_digest(action) == hashlib.sha256(action.tobytes()).hexdigest()
    history = corpus_history()
    assert history_digest(history) == history_digest(corpus_history())
    other = type(history)(history.values[::-1].copy(), history.value_space, history.centuries)
    assert history_digest(other) != history_digest(history)


class _Q:
    def __init__(self, prompt: str, candidates: tuple[str, ...]) -> None:
        self.prompt, self.candidates = prompt, candidates


def test_questions_fingerprint_layout_and_order() -> None:
    qs = [_Q("Which?", ("A", "B")), _Q("Why?", ("yes", "no", "maybe"))]
    legacy = hashlib.sha256()
    for q in qs:
        legacy.update(q.prompt.encode())
        legacy.update("\x00".join(q.candidates).encode())
    assert questions_fingerprint(qs) == legacy.hexdigest()
    assert questions_fingerprint(qs[::-1]) != questions_fingerprint(qs)
    header = {"split": "eval", "formats": ["label"]}
    with_header = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    for q in qs:
        with_header.update(q.prompt.encode())
        with_header.update("\x00".join(q.candidates).encode())
    assert questions_fingerprint(qs, header=header) == with_header.hexdigest()
    # "AB" + "" and "A" + "B" must not collide within one question: candidates are NUL-separated
    assert questions_fingerprint([_Q("p", ("AB",))]) != questions_fingerprint([_Q("p", ("A", "B"))])


def test_file_fingerprint_streams_the_whole_file(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)  # several chunks plus a remainder
    path = tmp_path / "model.zip"
    path.write_bytes(data)
    assert file_fingerprint(path) == hashlib.sha256(data).hexdigest()


# --- progress bars --------------------------------------------------------------------------------


def _console() -> tuple[object, io.StringIO]:
    from rich.console import Console

    buffer = io.StringIO()
    return Console(file=buffer, width=120, force_terminal=False, color_system=None), buffer


def test_progress_bar_counts_and_shows_status() -> None:
    pytest.importorskip("rich")
    console, buffer = _console()
    with ProgressBar(3, "synthetic proxies", console=console) as bar:
        bar.status("C013: training [not markup]")
        bar.advance()
        bar.advance("C014: done", steps=2)
        task = bar._bar.tasks[0]
        assert (task.completed, task.total) == (3, 3)
    text = buffer.getvalue()
    assert "synthetic proxies" in text and "3/3" in text and "C014: done" in text
    bar.close()  # a second close is harmless


def test_disabled_bar_and_track_are_transparent() -> None:
    pytest.importorskip("rich")
    console, buffer = _console()
    with ProgressBar(2, "quiet", enabled=False, console=console) as bar:
        bar.status("x")
        bar.advance()
    assert buffer.getvalue() == ""
    assert list(track([1, 2, 3], "models", enabled=False)) == [1, 2, 3]
    assert list(track(iter("ab"), "letters", total=2, console=console)) == ["a", "b"]
    assert "2/2" in buffer.getvalue()
    with pytest.raises(TypeError, match="total="):
        list(track(iter("ab"), "letters"))


# -- interruptions and leftover temporary files (issue 24.6) -------------------------------------------


def test_the_temp_file_test_knows_every_temporary_name_and_no_result(tmp_path: Path) -> None:
    from progressgym_env.common.atomic import _temp_name, is_temp_file, split_temp_files

    made = [_temp_name(tmp_path / name, "tmp") for name in ("follow__a__seed0.json", "x.png", "adapter", "results.json")]
    assert all(is_temp_file(p) for p in made)
    assert is_temp_file(tmp_path / ".model.old-123-1700000000000000000")  # a replaced folder renamed aside
    results = ["follow__a__seed0.json", "results.json", ".hidden.json", "a.tmp.json", "x.123-abcdef12.tmp.json"]
    assert not any(is_temp_file(tmp_path / name) for name in results)
    kept, temporary = split_temp_files([tmp_path / "a.json", made[0]])
    assert (kept, temporary) == ([tmp_path / "a.json"], [made[0]])


def _interrupt(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Make ``atomic_module.<name>`` raise KeyboardInterrupt (Ctrl-C mid-write)."""

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic_module, name, interrupted)


def test_ctrl_c_mid_write_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out" / "x.png"
    atomic_write_text(target, "old")
    _interrupt(monkeypatch, "_commit_file")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("new")
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, "new")
    assert [p.name for p in target.parent.iterdir()] == ["x.png"] and target.read_text() == "old"


def test_ctrl_c_between_the_folder_renames_keeps_the_old_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Interrupted after the old folder was renamed aside: it is put back, nothing is lost or left."""
    target = tmp_path / "model"
    target.mkdir()
    (target / "weights").write_text("old")
    real_rename = Path.rename

    def rename(self: Path, new: Path) -> Path:
        if Path(new) == target and ".tmp" in self.name:  # the new folder's move into place
            raise KeyboardInterrupt
        return real_rename(self, new)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(KeyboardInterrupt), atomic_folder(target) as staged:
        (staged.path / "weights").write_text("new")
    assert [p.name for p in tmp_path.iterdir()] == ["model"] and (target / "weights").read_text() == "old"


def test_sigterm_cleans_up_like_ctrl_c(tmp_path: Path) -> None:
    """A `progressgym` command killed with SIGTERM mid-write leaves no temporary file (it used to die at once)."""
    import subprocess
    import sys

    script = (
        "import os, signal, sys\n"
        "from progressgym_env.common import atomic\n"
        "real = atomic._commit_file\n"
        "def commit(tmp, path):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    real(tmp, path)\n"
        "atomic._commit_file = commit\n"
        "from progressgym_env.cli import main\n"
        "sys.exit(main(['export', sys.argv[1], '--out', sys.argv[2]]))\n"
    )
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "results.json").write_bytes((Path(__file__).parent / "data" / "results_before_identity.json").read_bytes())
    out = tmp_path / "export"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", script, str(bench), str(out)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")], "a temporary file was left behind"


def test_stale_temporary_files_of_dead_writers_are_swept(tmp_path: Path) -> None:
    from progressgym_env.common.atomic import remove_stale_temp_files

    dead = tmp_path / ".x.png.999999999-abcdef12.tmp.png"  # pid above any pid_max: no such process
    fresh = tmp_path / ".y.png.999999999-abcdef12.tmp.png"
    live = tmp_path / f".z.png.{os.getpid()}-abcdef12.tmp.png"
    result = tmp_path / "x.png"
    for path in (dead, fresh, live, result):
        path.write_bytes(b"")
    os.utime(dead, (0, 0))
    os.utime(live, (0, 0))
    assert remove_stale_temp_files(tmp_path) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (fresh, live, result))


def test_bars_report_events_to_listeners_drawn_or_not() -> None:
    from progressgym_env.common.progress import ProgressEvent, listen, record_progress

    seen: list[ProgressEvent] = []
    with record_progress() as events, listen(seen.append):
        with ProgressBar(3, "quiet", enabled=False) as bar:
            bar.status("warming up")
            bar.advance("one")
            bar.advance(steps=2)
        list(track([1, 2], "items", enabled=False))
    assert seen == events
    assert [(e.label, e.kind, e.completed, e.total, e.status) for e in events[:5]] == [
        ("quiet", "start", 0, 3, ""),
        ("quiet", "status", 0, 3, "warming up"),
        ("quiet", "advance", 1, 3, "one"),
        ("quiet", "advance", 3, 3, "one"),
        ("quiet", "close", 3, 3, "one"),
    ]
    assert [(e.kind, e.completed) for e in events[5:]] == [("start", 0), ("advance", 1), ("advance", 2), ("close", 2)]
    with ProgressBar(1, "after") as bar:  # the listeners are gone after their blocks
        bar.advance()
    assert len(events) == 9


def test_the_bar_shows_an_eta() -> None:
    pytest.importorskip("rich")
    console, buffer = _console()
    with ProgressBar(4, "plots", console=console) as bar:
        bar.advance()
    assert "eta" in buffer.getvalue() and "1/4" in buffer.getvalue()
