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


RANDOM_KILL = """
import sys
from progressgym_env.benchmark import BenchmarkConfig, run_benchmark, store
from progressgym_env.benchmark import executors
store.ROW_GROUP_RUNS = 25
import time
real = executors.EpisodeWorker.run_group
def paced(self, group, batch_size=25):  # 64 parts over >= 2 s, so the kill lands mid-run on any machine
    for finished in real(self, group, batch_size=25):
        time.sleep(0.03)
        yield finished
executors.EpisodeWorker.run_group = paced
run_benchmark(BenchmarkConfig(agents=["lifelong", "random"], challenges=["follow", "coevolve"], seeds=400,
              out=sys.argv[1], plots=False, progress=False, wandb=False))
"""


@pytest.mark.slow
def test_a_benchmark_killed_at_a_random_moment_reruns_only_what_is_missing(tmp_path: Path) -> None:
    """Parts of 25 runs: a SIGKILL at a random moment loses at most the part in flight; the re-run plays
    exactly the runs the store lacks, and the folder ends equal (scores bit for bit) to an uninterrupted run."""
    import os
    import random
    import signal
    import subprocess
    import sys
    import time
    import warnings

    from progressgym_env.benchmark import BenchmarkConfig, run_benchmark
    from progressgym_env.benchmark.results import load_results
    from progressgym_env.benchmark.store import ResultsStore

    out, root = tmp_path / "killed", Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-c", RANDOM_KILL, str(out)], cwd=root,
                            env={**os.environ, "PYTHONPATH": str(root)})
    deadline = time.monotonic() + 120
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while time.monotonic() < deadline and proc.poll() is None and not ResultsStore(out).count():
            time.sleep(0.01)
    time.sleep(random.Random(29).uniform(0.0, 0.5))  # somewhere among the next parts
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store = ResultsStore(out)
        before = list(store.runs())
        assert not [p for p in store.problems if "move it aside" in p]  # nothing corrupt
    assert 25 <= len(before) < 1600 and len(before) % 25 == 0  # whole parts only
    config = dict(agents=["lifelong", "random"], challenges=["follow", "coevolve"], seeds=400, plots=False,
                  progress=False, wandb=False)
    summary = run_benchmark(BenchmarkConfig(out=str(out), **config))
    assert (summary.new_runs, summary.skipped_runs) == (1600 - len(before), len(before))
    reference = tmp_path / "whole"
    run_benchmark(BenchmarkConfig(out=str(reference), **config))

    def scores(runs: list[dict]) -> dict[tuple[str, str, int], tuple[float, list[float]]]:
        return {(r["agent"], r["challenge"], r["seed"]): (r["final_score"], r["rewards"]) for r in runs}

    resumed = load_results(out / "results.json")
    assert scores(resumed) == scores(load_results(reference / "results.json"))
    kept = {(r["agent"], r["challenge"], r["seed"]): r for r in resumed}
    assert all(kept[(r["agent"], r["challenge"], r["seed"])] == r for r in before)  # stored runs untouched
