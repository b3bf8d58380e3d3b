"""SB3 model files: opened once, the open file checked (owner, mode, type), and loaded from that same handle."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from agents import sb3_agent
from agents.base import AgentSpec
from agents.sb3_agent import TRUST_ENV_VAR, SB3Agent, check_model_file_trusted, open_model_file
from progressgym_env.benchmark import BenchmarkConfig, run_benchmark
from progressgym_env.errors import ConfigError, UnsafeFileError


def _model(tmp_path: Path, content: bytes = b"PK original") -> Path:
    folder = tmp_path / "models"
    folder.mkdir(mode=0o755, exist_ok=True)
    model = folder / "model.zip"
    model.write_bytes(content)
    model.chmod(0o644)
    return model


def _as_another_user(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``model`` owned by a user who is neither the current user nor root."""
    if os.getuid() == 0:
        os.chown(model, 4343, -1)  # root may hand the file to another uid
    else:
        monkeypatch.setattr(os, "getuid", lambda: os.stat(model).st_uid + 1)


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="file owners are a POSIX notion")
def test_a_model_owned_by_another_user_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model(tmp_path)
    check_model_file_trusted(model)  # yours, 0644, private folder
    _as_another_user(model, monkeypatch)
    with pytest.raises(UnsafeFileError, match=r"owned by another user \(uid \d+; you are uid \d+\)"):
        check_model_file_trusted(model)


# -- world-writable model files (moved from test_faults.py) --

def test_world_writable_model_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agents.sb3_agent import check_model_file_trusted

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


def test_a_model_owned_by_root_is_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model(tmp_path)
    real = os.fstat

    def owned_by_root(fd: int) -> os.stat_result:
        info = real(fd)
        return os.stat_result((info.st_mode, info.st_ino, info.st_dev, info.st_nlink, 0, info.st_gid,
                               info.st_size, info.st_atime, info.st_mtime, info.st_ctime))

    monkeypatch.setattr(os, "fstat", owned_by_root)
    monkeypatch.setattr(os, "getuid", lambda: 4242)
    check_model_file_trusted(model)  # a system-installed model (root's) is fine


def test_a_group_writable_model_is_refused_unless_the_group_is_your_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _model(tmp_path)
    model.chmod(0o664)
    monkeypatch.setattr(sb3_agent, "_own_private_group", lambda gid: False)
    with pytest.raises(UnsafeFileError, match=r"group-writable \(mode -rw-rw-r--\)"):
        check_model_file_trusted(model)
    monkeypatch.setattr(sb3_agent, "_own_private_group", lambda gid: True)  # umask 002 with a user-private group
    check_model_file_trusted(model)


def test_a_symlink_or_a_fifo_is_refused(tmp_path: Path) -> None:
    model = _model(tmp_path)
    link = model.with_name("link.zip")
    link.symlink_to(model)
    with pytest.raises(UnsafeFileError, match="is a symbolic link .* pass the file's real path"):
        check_model_file_trusted(link)
    fifo = model.with_name("fifo.zip")
    os.mkfifo(fifo)
    with pytest.raises(UnsafeFileError, match="not a regular file"):  # refused at once, not a hang
        check_model_file_trusted(fifo)
    with pytest.raises(ConfigError, match="cannot open SB3 model file"):
        check_model_file_trusted(model.with_name("absent.zip"))


def test_the_handle_checked_is_the_file_read_even_if_the_path_is_swapped(tmp_path: Path) -> None:
    model = _model(tmp_path, b"PK checked")
    with open_model_file(model) as handle:
        swapped = model.with_name("swapped.zip")
        swapped.write_bytes(b"PK swapped in after the check")
        os.replace(swapped, model)  # the path now names another file
        assert handle.read() == b"PK checked"


def test_the_agent_loads_from_the_checked_handle_not_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model(tmp_path, b"PK model bytes")
    seen: list[Any] = []

    class FakeAlgo:
        def __init__(self, source: Any) -> None:
            seen.append(source)
            self.content = source.read()
            self.observation_space = type("S", (), {"shape": (3,)})()
            self.action_space = type("S", (), {"shape": (1,)})()

        @classmethod
        def load(cls, source: Any, device: str = "cpu") -> FakeAlgo:
            return cls(source)

    monkeypatch.setattr(sb3_agent, "algo_class", lambda name: FakeAlgo)
    agent = SB3Agent(AgentSpec(dim=1), model, algo="ppo", obs_history=1)
    assert isinstance(seen[0], io.BufferedIOBase) and not isinstance(seen[0], (str, os.PathLike))
    assert agent.model.content == b"PK model bytes"
    assert seen[0].closed  # closed once loaded
    model.chmod(0o666)
    with pytest.raises(UnsafeFileError, match=r"world-writable \(mode -rw-rw-rw-\)"):
        SB3Agent(AgentSpec(dim=1), model, algo="ppo", obs_history=1)
    assert len(seen) == 1  # never loaded
    assert stat.S_IMODE(model.stat().st_mode) == 0o666
