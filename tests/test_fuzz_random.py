"""The slow tier's randomised fuzz run: every hypothesis test again, with fresh random examples.

The default tier runs the property tests derandomised (the ``default-tier`` profile of
``tests/conftest.py``), so it is deterministic; this test re-runs them in a child pytest under the
``fuzz`` profile (random seed, more examples), so new inputs keep being tried where time allows. A
failure prints hypothesis's falsifying example and the ``@reproduce_failure`` blob to replay it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def hypothesis_modules() -> list[str]:
    """The test modules that use hypothesis (this one excepted)."""
    return sorted(
        path.name
        for path in TESTS.glob("test_*.py")
        if path.name != Path(__file__).name and "from hypothesis import" in path.read_text(encoding="utf-8")
    )


def test_the_fuzz_run_finds_the_property_tests() -> None:
    assert "test_fuzz.py" in hypothesis_modules()


@pytest.mark.slow
def test_property_tests_pass_with_random_examples() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
         "--hypothesis-profile", "fuzz", "--hypothesis-show-statistics", *hypothesis_modules()],
        cwd=TESTS, capture_output=True, text=True, timeout=1800,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "fuzz" in result.stdout
