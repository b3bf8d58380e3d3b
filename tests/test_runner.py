"""The benchmark runner (benchmark/runner.py) resumes after a SIGKILL at any point: re-run, it loses no
saved run, duplicates none, and logs every result to wandb exactly once (slow tier).

Moved from ``tests/test_faults.py``; the kill-and-resume helpers are in ``tests/helpers.py`` (the fault
audit in ``tests/test_fuzz.py`` uses them too).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import KILL_POINTS, check_kill_and_resume


@pytest.mark.slow
@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_a_killed_benchmark_resumes_without_loss_or_duplicates(tmp_path: Path, point: str) -> None:
    pytest.importorskip("wandb")
    check_kill_and_resume(tmp_path / "out", point)
