"""Saved SB3 models (agents/sb3_agent.py) are unpickled only from files others cannot write: a
world-writable model or folder is refused (a sticky folder like /tmp is fine), by the benchmark too, before loading.

Moved from ``tests/test_faults.py`` (the fault audit's model-file cases).
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from progressgym_env.benchmark import BenchmarkConfig, run_benchmark
from progressgym_env.errors import UnsafeFileError


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
