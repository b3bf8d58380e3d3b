"""The Ray executor and Ray Tune sweeps on a local two-CPU cluster, and per-episode llm checkpoints.

- ``--executor ray`` writes the same results.json runs, in the same order and with the same scores bit
  for bit, as ``--executor local``; chunking does not change them;
- an episode that fails inside a Ray worker is reported after the others are saved, and a re-run runs
  exactly the failed ones;
- a driver killed with SIGKILL mid-run (a subprocess joining the test cluster by ``--address``) leaves a
  valid results store (the parts its workers staged and it committed), and the re-run redoes none of the
  runs it holds;
- a tiny ``progressgym tune`` sweep finishes and writes the winning zoo-style YAML;
- an llm benchmark episode interrupted mid-century resumes from its own checkpoint folder
  (``<run_dir>/<challenge>/<agent>/seed-<k>``) without retraining finished centuries.

One Ray cluster (``ray.init(num_cpus=2)``) is shared by the module's tests; the tests are skipped when
the ``ray`` extra is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from progressgym_env.benchmark import BenchmarkConfig, load_results, run_benchmark
from progressgym_env.benchmark.executors import EpisodeTaskError
from progressgym_env.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def _config(out: Path, **overrides: Any) -> BenchmarkConfig:
    settings: dict[str, Any] = {
        "agents": ["static", "lifelong", "random", "oracle"], "challenges": ["follow", "coevolve"], "seeds": 2,
        "out": str(out), "wandb": False, "plots": False, "progress": False,
    }
    settings.update(overrides)
    return BenchmarkConfig(**settings)


def _without_timestamps(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in run.items() if k != "created"} for run in runs]


@pytest.fixture(scope="module")
def ray_cluster() -> Any:
    """A local Ray cluster with two CPUs for the whole module; yields its GCS address."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The runs of :func:`_config` with the local executor."""
    out = tmp_path_factory.mktemp("local")
    run_benchmark(_config(out))
    return load_results(out / "results.json")


def test_bad_executor_settings_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="executor must be one of"):
        _config(tmp_path, executor="dask")
    with pytest.raises(ConfigError, match="applies to executor='ray' only"):
        _config(tmp_path, address="auto")
    with pytest.raises(ConfigError, match="ray_chunk_size must be an int >= 0"):
        _config(tmp_path, executor="ray", ray_chunk_size=-1)


def test_the_local_executor_never_imports_ray(tmp_path: Path) -> None:
    """A fresh interpreter: ``import progressgym_env`` and a local benchmark leave ``ray`` unimported."""
    code = textwrap.dedent(
        f"""
        import sys
        import progressgym_env
        from progressgym_env.benchmark import BenchmarkConfig, run_benchmark
        run_benchmark(BenchmarkConfig(agents=["static"], challenges=["follow"], seeds=1, out={str(tmp_path)!r},
                                      wandb=False, plots=False, progress=False))
        print(sorted(m for m in sys.modules if m == "ray" or m.startswith("ray.")))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_ray_executor_without_the_extra_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from progressgym_env.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as when it is not installed
    with pytest.raises(MissingExtraError, match=r"progressgym_env\[ray\]"):
        run_benchmark(_config(tmp_path, executor="ray"))
    assert not (tmp_path / "results.json").exists()
    from agents.ray_tune import RayTuneConfig, tune_sweep

    with pytest.raises(MissingExtraError, match=r"progressgym_env\[ray\]"):
        tune_sweep(RayTuneConfig(out=str(tmp_path / "tune")))


@pytest.mark.slow
@pytest.mark.parametrize("chunk_size", [0, 1])
def test_ray_executor_writes_the_local_runs_bit_for_bit(
    ray_cluster: str, local_reference: list[dict[str, Any]], tmp_path: Path, chunk_size: int
) -> None:
    summary = run_benchmark(_config(tmp_path, executor="ray", ray_chunk_size=chunk_size))
    runs = load_results(tmp_path / "results.json")
    assert summary.new_runs == len(local_reference) == 4 * 2 * 2
    assert _without_timestamps(runs) == _without_timestamps(local_reference)  # same order, same floats
    assert [r["final_score"] for r in runs] == [r["final_score"] for r in local_reference]
    again = run_benchmark(_config(tmp_path, executor="ray", ray_chunk_size=chunk_size))
    assert (again.new_runs, again.skipped_runs) == (0, 16)


@pytest.mark.slow
def test_a_failed_episode_is_reported_and_rerun_alone(ray_cluster: str, tmp_path: Path) -> None:
    """An agent registered only in the driver cannot be built in the Ray workers: its runs fail there."""
    from agents.baselines import StaticAgent
    from agents.registry import _FACTORIES, register_agent

    register_agent("driver-only", lambda spec, env, **kw: StaticAgent(spec, **kw))
    try:
        config = _config(tmp_path, agents=["lifelong", "driver-only"], challenges=["follow"], executor="ray",
                         ray_chunk_size=1)
        with pytest.raises(EpisodeTaskError, match=r"2 episode\(s\) failed: driver-only · follow · seed [01]") as info:
            run_benchmark(config)
        assert "unknown agent 'driver-only'" in str(info.value)
        saved = load_results(tmp_path / "results.json")
        assert sorted((r["agent"], r["seed"]) for r in saved) == [("lifelong", 0), ("lifelong", 1)]
        rerun = run_benchmark(_config(tmp_path, agents=["lifelong", "driver-only"], challenges=["follow"]))
        assert (rerun.new_runs, rerun.skipped_runs) == (2, 2)
    finally:
        _FACTORIES.pop("driver-only", None)


@pytest.mark.slow
def test_task_resources_and_chunks(ray_cluster: str) -> None:
    """GPUs per llm episode only where the cluster has GPUs; chunks of about two tasks per CPU on the surrogate."""
    from progressgym_env.benchmark.executors import RayExecutor, RaySettings

    llm = RayExecutor(RaySettings(), "llm")
    assert llm.resources() == {"num_cpus": 1.0, "num_gpus": 0.0} and llm.chunk_size(40) == 1  # this cluster: no GPU
    surrogate = RayExecutor(RaySettings(num_cpus=0.5), "surrogate")
    assert surrogate.chunk_size(40) == 5 and surrogate.chunk_size(3) == 1  # 4 task slots -> 8 tasks of 5
    assert RayExecutor(RaySettings(chunk_size=7), "surrogate").chunk_size(40) == 7
    with pytest.raises(ConfigError, match="asks for 1 GPU.* but the cluster has 0"):
        RayExecutor(RaySettings(num_gpus=1), "llm").resources()
    with pytest.raises(ConfigError, match="asks for 3 CPU.* but the cluster has 2"):
        RayExecutor(RaySettings(num_cpus=3), "surrogate").resources()


def _dying_worker_class(marker: Path) -> type:
    """An :class:`EpisodeWorker` whose process dies (``os._exit``) on its first task, once per ``marker``."""
    from progressgym_env.benchmark.executors import EpisodeWorker

    class DyingOnce(EpisodeWorker):
        def run_group(self, group: Any, batch_size: int = 4096) -> Any:
            try:  # created atomically: of two workers starting together only one dies
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return super().run_group(group, batch_size)
            os._exit(1)  # the worker process dies, as on an OOM kill or a lost node

    return DyingOnce


@pytest.mark.slow
def test_a_task_whose_worker_dies_is_retried_or_reported(ray_cluster: str, tmp_path: Path) -> None:
    import ray.cloudpickle

    from progressgym_env.benchmark.executors import (
        EpisodeGroup,
        EpisodePlan,
        EpisodeWorker,
        RayExecutor,
        RaySettings,
    )
    from progressgym_env.benchmark.store_schema import runs_of

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this module
    plan = EpisodePlan("corpus", "surrogate", {"follow": ("PG-Follow-v0", {"history": "corpus"})})
    group = EpisodeGroup("follow", "lifelong", "lifelong", (0, 1, 2, 3))
    local = EpisodeWorker(plan)
    reference = [_without_timestamps([local.run(task)]) for task in group.tasks()]

    def runs(batches: Any, into: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for batch in batches:
            into.extend(runs_of(batch.table))
        return into

    retried = RayExecutor(RaySettings(chunk_size=2, max_retries=1), "surrogate")
    done = runs(retried.run(_dying_worker_class(tmp_path / "died-once")(plan), [group]), [])
    assert (tmp_path / "died-once").exists()  # a worker did die, and its chunk was run again
    assert sorted((_without_timestamps([r]) for r in done), key=lambda r: r[0]["seed"]) == reference

    not_retried = RayExecutor(RaySettings(chunk_size=2, max_retries=0), "surrogate")
    saved: list[dict[str, Any]] = []
    with pytest.raises(EpisodeTaskError, match=r"2 episode\(s\) failed: .*(WorkerCrashedError|died)") as info:
        runs(not_retried.run(_dying_worker_class(tmp_path / "dies-again")(plan), [group]), saved)
    assert len(saved) == 2 and len(info.value.failures) == 2  # the other chunk's runs came back
    assert {r["seed"] for r in saved} | {t.seed for t, _ in info.value.failures} == {0, 1, 2, 3}


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from progressgym_env.benchmark import BenchmarkConfig, run_benchmark
    from progressgym_env.benchmark.store import StoreWriter

    out, address, kill_after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    original, commits = StoreWriter.commit_staged, []

    def commit_then_die(self, staged, rows):
        original(self, staged, rows)
        commits.append(rows)
        if len(commits) == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)  # the driver dies right after a commit, tasks in flight

    StoreWriter.commit_staged = commit_then_die
    run_benchmark(BenchmarkConfig(agents=["static", "lifelong"], challenges=["follow"], seeds=4, out=out,
                                  wandb=False, plots=False, progress=False, executor="ray", address=address,
                                  ray_chunk_size=1))
    """
)


@pytest.mark.slow
def test_driver_killed_mid_run_redoes_nothing_finished(ray_cluster: str, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", KILLER, str(out), ray_cluster, "1"], check=False, cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    from progressgym_env.benchmark.store import ResultsStore

    assert not (out / "results.json").exists()  # exported at the end only
    before = list(ResultsStore(out).runs())  # whole parts: a commit is a rename of a complete staged file
    assert 1 <= len(before) < 8
    summary = run_benchmark(BenchmarkConfig(agents=["static", "lifelong"], challenges=["follow"], seeds=4,
                                            out=str(out), wandb=False, plots=False, progress=False,
                                            executor="ray"))
    assert (summary.new_runs, summary.skipped_runs) == (8 - len(before), len(before))
    after = load_results(out / "results.json")
    assert after[: len(before)] == before  # the saved runs are kept as they were (same timestamps)
    reference = tmp_path / "local"
    run_benchmark(BenchmarkConfig(agents=["static", "lifelong"], challenges=["follow"], seeds=4,
                                  out=str(reference), wandb=False, plots=False, progress=False))
    def key(run: dict[str, Any]) -> tuple[str, int]:
        return run["agent"], run["seed"]

    assert sorted(_without_timestamps(after), key=key) == sorted(
        _without_timestamps(load_results(reference / "results.json")), key=key
    )


@pytest.mark.slow
def test_tiny_tune_sweep_writes_the_winner(ray_cluster: str, tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")
    pytest.importorskip("wandb")
    import yaml

    from agents.ray_tune import RayTuneConfig, tune_sweep

    space = tmp_path / "space.yml"
    space.write_text("learning_rate: {type: float, low: 1.0e-4, high: 1.0e-3, log: true}\n"
                     "n_epochs: {type: int, low: 1, high: 2}\n")
    result = tune_sweep(RayTuneConfig(num_samples=2, timesteps=1024, n_evaluations=1, grace_period=1,
                                      validation_episodes=4, search_space=str(space), out=str(tmp_path / "tune")))
    assert len(result.trials) == 2 and all(t["error"] is None for t in result.trials)
    assert result.best_value == max(t["best_normalized_score"] for t in result.trials)
    entry = yaml.safe_load(result.best_yaml.read_text())["PG-Follow-v0"]
    assert entry["learning_rate"] == pytest.approx(result.best_params["learning_rate"])
    assert 1e-4 <= entry["learning_rate"] <= 1e-3 and entry["n_epochs"] in (1, 2)
    sweep = json.loads(result.sweep_json.read_text())
    assert sweep["metric"] == "best_normalized_score" and len(sweep["trials"]) == 2
    for trial in result.trials:  # every trial trained in its own folder and validated there
        validation = json.loads((tmp_path / "tune" / "trials" / trial["trial_id"] / "config.json").read_text())
        assert validation["validation_env_kwargs"]["history"] == "procedural"
        assert validation["validation"]["best_mean"] == pytest.approx(trial["best_normalized_score"])
    assert list((tmp_path / "tune" / "wandb").glob("offline-run-*"))


def test_bad_tune_settings_are_config_errors(tmp_path: Path) -> None:
    from agents.ray_tune import RayTuneConfig

    with pytest.raises(ConfigError, match="search must be one of"):
        RayTuneConfig(search="grid")
    with pytest.raises(ConfigError, match="reduction_factor must be >= 2"):
        RayTuneConfig(reduction_factor=1)


# --------------------------------------------------------------- llm episodes: per-episode checkpoints


@pytest.fixture(scope="module")
def tiny_llm_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An llm backend config over nine tiny proxies (the ones tests/test_llm_backend.py builds)."""
    pytest.importorskip("trl")
    pytest.importorskip("peft")
    import torch
    from transformers import AutoModelForCausalLM

    from progressgym_env.llm.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("proxies")
    base = build_tiny_model(root / "c13", seed=0)
    paths = [str(base)]
    for k in range(1, 9):
        model = AutoModelForCausalLM.from_pretrained(base)
        gen = torch.Generator().manual_seed(k)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=gen) * 0.02)
        model.save_pretrained(root / f"c{13 + k}")
        for f in base.iterdir():
            if f.name.startswith(("tokenizer", "special_tokens", "chat_template")):
                shutil.copy(f, root / f"c{13 + k}" / f.name)
        paths.append(str(root / f"c{13 + k}"))
    return {
        "proxy_models": paths, "evaluator": {"max_scenarios_per_dim": 1, "formats": ["repeat"], "batch_size": 64},
        "train_formats": ["repeat"], "elicit_max_scenarios_per_dim": 2, "pairs_per_unit": 4,
        "dpo_args": {"per_device_train_batch_size": 4, "learning_rate": 1e-2}, "lora_r": 4, "lora_alpha": 8,
        "history_cache_dir": str(tmp_path_factory.mktemp("history-cache")), "device": "cpu",
    }


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_llm_episode_resumes_from_its_own_checkpoint_folder(
    tiny_llm_config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Local executor semantics of a task that dies mid-episode: the re-run trains only the unfinished century."""
    import progressgym_env.llm.dpo_update as dpo_module
    from agents.baselines import StaticAgent
    from agents.registry import _FACTORIES, register_agent
    from progressgym_env.llm.backend import LLMBackend

    class TwoUpdates(StaticAgent):
        """Pushes one dimension at centuries 1 and 4 only (two DPO updates per episode)."""

        def reset(self, seed: int | None = None) -> None:
            self.step = 0

        def act(self, obs: np.ndarray) -> np.ndarray:
            action = np.zeros(19, dtype=np.float32)
            if self.step in (0, 3):
                action[10] = 1.0
            self.step += 1
            return action

    register_agent("two-updates", lambda spec, env, **kw: TwoUpdates(spec, **kw))
    trained: list[int] = []
    original_dpo = dpo_module.dpo_update

    def counting(*args: Any, **kwargs: Any) -> Any:
        trained.append(1)
        return original_dpo(*args, **kwargs)

    monkeypatch.setattr(dpo_module, "dpo_update", counting)

    def config(out: Path, run_dir: Path) -> BenchmarkConfig:
        return BenchmarkConfig(agents=["two-updates"], challenges=["follow"], seeds=1, first_seed=5,
                               history="models", backend="llm", query_budget=38, out=str(out),
                               backend_config={**tiny_llm_config, "run_dir": str(run_dir)},
                               wandb=False, plots=False, progress=False)

    try:
        run_benchmark(config(tmp_path / "reference", tmp_path / "reference-ckpt"))
        assert len(trained) == 2
        reference = load_results(tmp_path / "reference" / "results.json")

        original_update = LLMBackend.update_model

        def dies_in_century_4(self: LLMBackend, action: np.ndarray) -> np.ndarray:
            if self.century == 4:
                raise KeyboardInterrupt("simulated kill of the task during century 4")
            return original_update(self, action)

        monkeypatch.setattr(LLMBackend, "update_model", dies_in_century_4)
        with pytest.raises(KeyboardInterrupt):
            run_benchmark(config(tmp_path / "bench", tmp_path / "ckpt"))
        assert load_results(tmp_path / "bench" / "results.json") == []
        journal = tmp_path / "ckpt" / "follow" / "two-updates" / "seed-5" / "episode-0000" / "journal.json"
        assert journal.is_file()  # the episode's own folder, where any node can pick it up

        monkeypatch.setattr(LLMBackend, "update_model", original_update)
        trained.clear()
        summary = run_benchmark(config(tmp_path / "bench", tmp_path / "ckpt"))
        assert summary.new_runs == 1 and len(trained) == 1  # century 1 replayed, only century 4 trained
        (run,) = load_results(tmp_path / "bench" / "results.json")
        assert run["final_score"] == reference[0]["final_score"]
        def vectors(record: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in record.items() if k != "backend"}  # the backend config names run_dir

        assert vectors(run["episode_record"]) == vectors(reference[0]["episode_record"])
    finally:
        _FACTORIES.pop("two-updates", None)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_llm_episodes_on_ray_match_the_local_executor(
    ray_cluster: str, tiny_llm_config: dict[str, Any], tmp_path: Path
) -> None:
    """One task per llm episode, each checkpointing into its own folder; the same record as locally.

    The static agent keeps the run short (no DPO update; the proxies are still elicited every century
    and the model measured): the updates' resume is the test above.
    """

    def config(name: str, **fields: Any) -> BenchmarkConfig:
        return BenchmarkConfig(agents=["static"], challenges=["follow"], seeds=2, first_seed=3, history="models",
                               backend="llm", query_budget=38, out=str(tmp_path / name), wandb=False, plots=False,
                               backend_config={**tiny_llm_config, "run_dir": str(tmp_path / f"{name}-ckpt")},
                               progress=False, **fields)

    run_benchmark(config("local"))
    summary = run_benchmark(config("ray", executor="ray"))
    assert summary.new_runs == 2
    local, ray_runs = (load_results(tmp_path / name / "results.json") for name in ("local", "ray"))
    assert [r["final_score"] for r in ray_runs] == [r["final_score"] for r in local]
    assert [r["episode_record"]["model"] for r in ray_runs] == [r["episode_record"]["model"] for r in local]
    for seed in (3, 4):
        assert (tmp_path / "ray-ckpt" / "follow" / "static" / f"seed-{seed}" / "episode-0000" / "journal.json").is_file()



def test_a_large_surrogate_job_arrives_in_small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """8,000 runs on 2 CPUs: tasks of at most 50 runs (progress in steps of 50, not 2,000)."""
    ray = pytest.importorskip("ray")
    from progressgym_env.benchmark.executors import MAX_CHUNK, RayExecutor, RaySettings

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0})
    surrogate = RayExecutor(RaySettings(), "surrogate")
    assert surrogate.chunk_size(8000) == MAX_CHUNK == 50
    assert surrogate.chunk_size(40) == 10 and surrogate.chunk_size(3) == 1  # small jobs: two tasks per CPU
