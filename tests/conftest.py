"""Test-suite settings: offline hubs and wandb, a headless matplotlib, one torch thread, the slow/gpu markers.

One intra-op thread (``OMP_NUM_THREADS=1``, set before anything imports torch, inherited by
subprocesses): the tests' models have about 0.1 M parameters, so extra threads only add
synchronisation, and on a shared 2-core machine spinning OpenMP workers made the LLM tests several
times slower (building the nine synthetic proxies: 142 s wall / 51 s CPU with 2 threads against
20 s / 11 s with one, under a load average of 9). A value set in the environment wins.

Hypothesis runs under one of two profiles. ``default-tier`` (loaded here) is derandomised: each
property test draws the same examples on every run, so ``pytest -q`` gives the same result twice.
``fuzz`` draws fresh random examples, more of them; the slow tier runs every hypothesis test under it
(``tests/test_fuzz_random.py`` re-runs them with ``--hypothesis-profile fuzz``, the option of
hypothesis's pytest plugin, which also selects it by hand).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest
from hypothesis import settings

FUZZ_EXAMPLES = 200
"""Examples per property test in the randomised ``fuzz`` profile (the default tier draws 25)."""

settings.register_profile("default-tier", max_examples=25, derandomize=True, database=None, deadline=None)
settings.register_profile("fuzz", max_examples=FUZZ_EXAMPLES, derandomize=False, database=None, deadline=None,
                          print_blob=True)
settings.load_profile("default-tier")


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``gpu``-marked tests cleanly on machines without CUDA (torch is imported only if there are any)."""
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items or _cuda_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in gpu_items:
        item.add_marker(skip_gpu)


# -- moved from test_faults.py: a small valid results.json, shared by test_results, test_cli and test_plots --

from typing import Any


@pytest.fixture(scope="session")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The JSON of a small valid results.json (static and lifelong, Follow and Coevolve, 1 seed)."""
    import json

    from progressgym_env.benchmark import BenchmarkConfig, run_benchmark

    out = tmp_path_factory.mktemp("bench")
    run_benchmark(BenchmarkConfig(agents=["static", "lifelong"], challenges=["follow", "coevolve"], seeds=1,
                                  out=str(out), wandb=False, plots=False, progress=False))
    return json.loads((out / "results.json").read_text())
