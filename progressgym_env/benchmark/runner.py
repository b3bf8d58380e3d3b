"""The main job: every agent on every challenge over several seeds, logged, saved and tabulated.

:func:`run_benchmark` takes a :class:`BenchmarkConfig` and writes into ``config.out``::

    store/                 every run, as Parquet parts appended as runs finish (:mod:`progressgym_env.benchmark.store`)
    results.json           every run (see :mod:`progressgym_env.benchmark.results`): the store's export, written
                           while the folder holds at most RESULTS_JSON_MAX_RUNS runs
    leaderboard.md         recomputed from results.json by the judges after every benchmark
    plots/<challenge>__<agent>.png   human / model (/ simulated human) trajectories over all seeds
    plots/<challenge>__comparison.png   every agent's normalised score with 95% CIs
    benchmark_config.json  the configs of every benchmark written into this folder
    wandb/                 one offline wandb run per agent × challenge (its seeds as steps)

Command line: ``progressgym benchmark`` (:mod:`progressgym_env.cli.benchmark`).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from progressgym_env.benchmark.challenges import CHALLENGES, Challenge, default_challenges, get_challenge
from progressgym_env.benchmark.executors import (
    EXECUTORS,
    EpisodeGroup,
    EpisodePlan,
    EpisodeTask,
    EpisodeWorker,
    RaySettings,
    make_executor,
)
from progressgym_env.benchmark.identity import run_identity, seed_identities, settings_identity
from progressgym_env.benchmark.leaderboard import latest_models_only, leaderboard_markdown
from progressgym_env.benchmark.results import (
    RESULTS_FILE,
    ResultsFileError,
    folder_lock,
    load_results,
    write_results,
)
from progressgym_env.common.atomic import atomic_write_text, is_temp_file, remove_stale_temp_files
from progressgym_env.common.fingerprint import file_fingerprint, json_fingerprint
from progressgym_env.common.progress import ProgressBar
from progressgym_env.errors import ConfigError, MissingExtraError
from progressgym_env.registry import backend_names

LEADERBOARD_FILE = "leaderboard.md"
CONFIG_FILE = "benchmark_config.json"
_LABEL = re.compile(r"^[A-Za-z0-9_.+-]+$")


def default_agents() -> list[str]:
    """The agents a benchmark runs by default: :data:`agents.registry.BASELINES`, in leaderboard order."""
    from agents.registry import BASELINES  # agents are imported only when a benchmark needs them

    return list(BASELINES)


@dataclass
class BenchmarkConfig:
    """Settings of one benchmark (saved in ``benchmark_config.json`` next to the results)."""

    agents: list[str] = field(
        default_factory=default_agents,
        metadata={"help": "Agents: baseline names, '<algo>:<model.zip>' (the path may contain '{challenge}'), "
                  "or 'LABEL=<spec>' to name one."},
    )
    challenges: list[str] = field(
        default_factory=lambda: list(default_challenges()),
        metadata={"help": f"Challenge keys: {', '.join(CHALLENGES)}."},
    )
    seeds: int = field(default=3, metadata={"help": "Seeds per agent and challenge (0..seeds-1)."})
    first_seed: int = field(
        default=0,
        metadata={"help": "First env seed: runs seeds first_seed..first_seed+seeds-1 (choose test seeds away from "
                  "training and validation ones, e.g. 1000 on the corpus, 100000 on procedural histories)."},
    )
    history: str = field(default="corpus", metadata={"help": "History name or trajectory file path."})
    out: str = field(default="results/benchmark", metadata={"help": "Output folder (appended to if it exists)."})
    backend: str = field(default="surrogate", metadata={"help": f"Backend name: {' or '.join(backend_names())}."})
    backend_config: dict[str, Any] = field(default_factory=dict, metadata={"help": "Backend settings."})
    query_budget: int | None = field(default=512, metadata={"help": "Answers elicited per century."})
    wandb: bool = field(default=True, metadata={"help": "Log every run to wandb."})
    wandb_project: str = field(default="progressgym-benchmark", metadata={"help": "wandb project."})
    wandb_mode: str = field(default="offline", metadata={"help": "wandb mode: offline, online or disabled."})
    plots: bool = field(default=True, metadata={"help": "Write PNG trajectory plots per challenge and agent."})
    progress: bool = field(default=True, metadata={"help": "Show a rich progress bar."})
    executor: str = field(
        default="local",
        metadata={"help": "Where episodes run: local (this process, one after another) or ray (Ray tasks on a "
                  "cluster; needs the ray extra).", "choices": EXECUTORS},
    )
    address: str | None = field(
        default=None,
        metadata={"help": "Ray cluster to join with --executor ray: 'auto' (the one started by 'ray start "
                  "--head' on this machine) or HOST:PORT / ray://HOST:PORT; none = start a local cluster here."},
    )
    ray_local_cpus: int | None = field(
        default=None, metadata={"help": "CPUs of the local Ray cluster started when no --address is given "
                                "(none = every core)."},
    )
    ray_num_cpus: float = field(default=1.0, metadata={"help": "CPUs each Ray task reserves."})
    ray_num_gpus: float | None = field(
        default=None,
        metadata={"help": "GPUs each Ray task reserves; none = 1 per episode on a heavy backend (llm) when the cluster "
                  "has GPUs, else 0."},
    )
    ray_chunk_size: int = field(
        default=0,
        metadata={"help": "Episodes per Ray task; 0 = 1 on a heavy backend (llm), else about two tasks per cluster CPU, "
                  "at most 50 each (surrogate episodes take milliseconds, so one each would be mostly scheduling)."},
    )
    ray_max_retries: int = field(
        default=3, metadata={"help": "Times Ray re-runs a task whose worker died (killed, node lost)."},
    )

    def ray_settings(self) -> RaySettings:
        """The Ray fields as the executor's settings."""
        return RaySettings(self.address, self.ray_local_cpus, self.ray_num_cpus, self.ray_num_gpus,
                           self.ray_chunk_size, self.ray_max_retries)

    def __post_init__(self) -> None:
        if not self.agents:
            raise ConfigError("the benchmark needs at least one agent")
        if not self.challenges:
            raise ConfigError("the benchmark needs at least one challenge")
        for key in self.challenges:
            get_challenge(key)
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise ConfigError(f"seeds must be an int >= 1, got {self.seeds!r}")
        if self.executor not in EXECUTORS:
            raise ConfigError(f"executor must be one of {EXECUTORS}, got {self.executor!r}")
        if self.executor != "ray" and self.address is not None:
            raise ConfigError(f"address={self.address!r} applies to executor='ray' only (add --executor ray)")
        for name in ("ray_chunk_size", "ray_max_retries"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name} must be an int >= 0, got {value!r}")
        if self.ray_local_cpus is not None and (isinstance(self.ray_local_cpus, bool) or self.ray_local_cpus < 1):
            raise ConfigError(f"ray_local_cpus must be an int >= 1 or None, got {self.ray_local_cpus!r}")
        if not self.ray_num_cpus >= 0 or not (self.ray_num_gpus is None or self.ray_num_gpus >= 0):
            raise ConfigError(f"ray_num_cpus and ray_num_gpus must be >= 0, got {self.ray_num_cpus!r}, "
                              f"{self.ray_num_gpus!r}")
        if isinstance(self.first_seed, bool) or not isinstance(self.first_seed, int) or self.first_seed < 0:
            raise ConfigError(f"first_seed must be an int >= 0, got {self.first_seed!r}")
        labels = [parse_agent(spec)[0] for spec in self.agents]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ConfigError(
                f"agent label(s) {duplicates} appear twice; name them apart with LABEL=<spec>, "
                "e.g. ppo-a=ppo:runs/a/model.zip,ppo-b=ppo:runs/b/model.zip"
            )


def parse_agent(spec: str) -> tuple[str, str]:
    """(label, agent spec) of an ``--agents`` entry: ``[LABEL=]name`` or ``[LABEL=]<algo>:<path>``."""
    label, sep, rest = spec.partition("=")
    if sep and ":" not in label and _LABEL.match(label):
        return label, rest
    if ":" in spec:
        return spec.partition(":")[0], spec
    return spec, spec


@dataclass
class BenchmarkSummary:
    """What a benchmark did.

    :param out: the output folder. :param new_runs: runs executed now.
    :param skipped_runs: runs already in results.json (not repeated). :param total_runs: runs in the file.
    :param other_settings_runs: runs in the file under other settings (kept, not in this leaderboard).
    """

    out: Path
    new_runs: int
    skipped_runs: int
    total_runs: int
    other_settings_runs: int = 0

    @property
    def results_path(self) -> Path:
        """``results.json``, or the results store's folder where the folder is too large for the export."""
        path = self.out / RESULTS_FILE
        return path if path.exists() or not (self.out / "store").is_dir() else self.out / "store"

    @property
    def leaderboard_path(self) -> Path:
        return self.out / LEADERBOARD_FILE


class BenchmarkInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a benchmark; its message says how many runs were kept and that re-running resumes.

    :param kept: new runs saved before the interruption. :param planned: new runs the benchmark had planned.
    :param total: runs in the results file now. :param results_path: the results file.
    """

    def __init__(self, kept: int, planned: int, total: int, results_path: Path) -> None:
        done = (f"all {planned} new runs were saved (not yet their plots, wandb runs and leaderboard)"
                if kept == planned else f"{kept} of {planned} new runs were saved")
        super().__init__(
            f"interrupted (Ctrl-C); {done} in {results_path} ({total} runs in all); re-run the same command to "
            "resume (runs already there are skipped)"
        )
        self.kept, self.planned, self.total = kept, planned, total


def _check_history(histories: set[str], history: str, path: Path) -> None:
    found = sorted(histories - {history})
    if found:
        raise ResultsFileError(
            f"{path} holds runs on history {found}, not {history!r}; a leaderboard compares one history. "
            "Write to another --out folder"
        )


def run_benchmark(config: BenchmarkConfig, console: Any = None) -> BenchmarkSummary:
    """Run ``config``: each agent on each challenge for seeds first_seed.., then write the outputs.

    Runs are saved in the folder's results store (:mod:`~progressgym_env.benchmark.store`) as they
    finish; runs already stored are skipped (resume); Ctrl-C raises :class:`BenchmarkInterrupted` (a
    ``KeyboardInterrupt`` saying what was kept). The episodes run on ``config.executor``
    (:mod:`~progressgym_env.benchmark.executors`), many seeds at once through the native vector env
    where the registry allows it. A folder of at most :data:`RESULTS_JSON_MAX_RUNS` runs also gets its
    ``results.json`` (the export; new runs in plan order whatever order they finished in), plots,
    wandb runs and leaderboard exactly as before the store existed; an old folder with only a
    ``results.json`` is converted into a store first (its ``results.json`` is kept).
    """
    try:
        from progressgym_env.benchmark.store import ResultsStore, import_results
    except ImportError as exc:
        if exc.name != "pyarrow":
            raise
        raise MissingExtraError("the benchmark's results store", "cli", "pyarrow") from None

    out = Path(config.out)
    results_path = out / RESULTS_FILE
    with folder_lock(out):
        legacy = load_results(results_path)  # raises on a corrupt file before anything is written
        remove_stale_temp_files(out)  # what a killed writer left here (its process gone)
        store = ResultsStore(out)
        if legacy:
            import_results(out, legacy)  # an old folder, or runs a previous export holds that the store lacks
        _check_history(_stored_histories(store), config.history, results_path)
        del legacy
        tracker = None
        if config.wandb:
            from progressgym_env.benchmark.tracking import WandbTracker

            tracker = WandbTracker(out, config.wandb_project, config.wandb_mode)
        agents = [parse_agent(spec) for spec in config.agents]
        challenges = [get_challenge(key) for key in config.challenges]
        hashes = {(c.key, label): model_sha256(spec, c.key) for c in challenges for label, spec in agents}
        seeds = tuple(range(config.first_seed, config.first_seed + config.seeds))
        specs = dict(agents)
        plan = EpisodePlan(config.history, config.backend,
                           {c.key: (c.env_id, _env_kwargs(config, c)) for c in challenges})
        planned = [EpisodeGroup(c.key, label, specs[label].replace("{challenge}", c.key), seeds, hashes[(c.key, label)])
                   for c in challenges for label, _ in agents]
        executor = make_executor(config.executor, config.backend, config.ray_settings())
        worker = EpisodeWorker(plan)
        kept, planned_count, new_keys = 0, 0, []
        identity_of = _identity_function(executor.builds_in_driver)
        try:
            # A run is skipped only if a stored run has its whole identity (settings included): the agents'
            # configs are part of it, known here when the agents are built in this process; on Ray with the
            # llm backend they are not, and runs are matched on every other field.
            configs_known = executor.builds_in_driver
            if configs_known:
                # Build every agent before the first episode, so a bad spec (e.g. a missing model file)
                # fails at once rather than after minutes of runs.
                worker.build([EpisodeTask(c.key, label, spec.replace("{challenge}", c.key), 0)
                              for c in challenges for label, spec in agents])
            group_fields = [_planned_fields(plan, group.task(0), worker if configs_known else None)
                            for group in planned]
            groups = _missing(store, planned, group_fields, configs_known)
            new_keys = _new_keys(groups, group_fields, configs_known)
            planned_count = sum(len(group.seeds) for group in groups)
            _append_config(out, config)
            try:
                with ProgressBar(planned_count, "benchmark", enabled=config.progress, console=console) as bar, \
                        store.writer() as writer:
                    if groups and config.executor != "local":
                        bar.status(f"starting the {config.executor} executor, waiting for the first results")
                    for finished in executor.run(worker, groups, store.staging()):
                        if finished.staged is not None:
                            writer.commit_staged(Path(finished.staged), finished.rows)
                        elif finished.table is not None:
                            writer.add_table(finished.table)
                        kept += finished.rows
                        bar.advance(finished.describe(), steps=finished.rows)
            finally:
                if kept and store.count() <= RESULTS_JSON_MAX_RUNS:  # an interrupted small job: export what is kept
                    write_results(results_path, _ordered_runs(store, new_keys, identity_of))
        except KeyboardInterrupt:  # (after the writer flushed every finished run)
            raise BenchmarkInterrupted(kept, planned_count, store.count(), _saved_where(store, results_path)) from None
        finally:
            worker.close()
            executor.close()
        # The table holds the requested settings' runs only; runs of an older model file at the same path are
        # kept among them here, for the leaderboard to report as superseded (latest_models_only).
        requested = set(_new_keys(planned, [{**fields, "model_sha256": ""} for fields in group_fields], configs_known))
        total = store.count()
        if total > RESULTS_JSON_MAX_RUNS:
            other = _write_large_outputs(out, store, results_path, group_fields, configs_known, config.plots, tracker,
                                         config.progress, console)
            return BenchmarkSummary(out, planned_count, len(planned) * len(seeds) - planned_count, total, other)
        runs = _ordered_runs(store, new_keys, identity_of)
        fresh = set(new_keys)
        new_runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for run in runs:
            if identity_of(run) in fresh:
                new_runs.setdefault((run["challenge"], run["agent"]), []).append(run)
        shown = [run for run in runs if identity_of({**run, "model_sha256": ""}) in requested]
        try:
            _plot_and_log(out, runs, new_runs, config.plots, tracker, shown, config.progress, console)
        except KeyboardInterrupt:
            raise BenchmarkInterrupted(planned_count, planned_count, len(runs), results_path) from None
        write_results(results_path, runs)
        atomic_write_text(out / LEADERBOARD_FILE, leaderboard_markdown(shown, other_settings=len(runs) - len(shown)))
    return BenchmarkSummary(out, planned_count, len(planned) * len(seeds) - planned_count, len(runs),
                            len(runs) - len(shown))


RESULTS_JSON_MAX_RUNS = 10_000
"""A folder of at most this many runs also gets ``results.json`` (the export of its store), its plots, wandb
runs and the judges' leaderboard from run dicts, as before the store existed. Above it the store alone holds
the runs (a ``results.json`` of 10,000 runs is about 25 MB and takes seconds to write; of 10⁶, 2.5 GB)."""


def _identity_function(configs_known: bool) -> Any:
    def identity(run: dict[str, Any]) -> str:
        return run_identity(run, agent_config=configs_known)

    return identity


def _stored_histories(store: Any) -> set[str]:
    """The distinct ``history`` values of the stored runs (one column read)."""
    import pyarrow.compute as pc

    values: set[str] = set()
    for batch in store.scan(columns=["history"]):
        values.update(str(v) for v in pc.unique(batch.column(0)).to_pylist())
    return values


def _missing(store: Any, planned: list[EpisodeGroup], fields: list[dict[str, Any]],
             configs_known: bool) -> list[EpisodeGroup]:
    """The planned groups cut down to the seeds whose runs the store lacks (reads the key column only)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from progressgym_env.benchmark.store_schema import string_array

    if configs_known:
        chunks = store.keys().chunks
        stored = pa.concat_arrays(chunks) if chunks else None
        out = []
        for group, group_fields in zip(planned, fields, strict=True):
            keys = string_array(seed_identities(group_fields, group.seeds))
            have = np.zeros(len(keys), dtype=bool) if stored is None else \
                pc.is_in(keys, value_set=stored).to_numpy(zero_copy_only=False)
            out.append(replace(group, seeds=tuple(s for s, h in zip(group.seeds, have, strict=True) if not h)))
        return [group for group in out if group.seeds]
    # Agent configs unknown (Ray, heavy backend): match stored runs on every other identity field.
    done = {run_identity(run, agent_config=False) for run in store.runs()}
    out = []
    for group, group_fields in zip(planned, fields, strict=True):
        seeds = tuple(s for s in group.seeds if run_identity({**group_fields, "seed": s}, agent_config=False) not in done)
        if seeds:
            out.append(replace(group, seeds=seeds))
    return out


def _new_keys(groups: list[EpisodeGroup], fields: list[dict[str, Any]], configs_known: bool) -> list[str]:
    """The identities of the runs ``groups`` plan (the new runs of this benchmark)."""
    by_group = {(f["challenge"], f["agent"]): f for f in fields}
    keys: list[str] = []
    for group in groups:
        group_fields = by_group[(group.challenge, group.label)]
        if configs_known:
            keys += seed_identities(group_fields, group.seeds)
        else:
            keys += [run_identity({**group_fields, "seed": s}, agent_config=False) for s in group.seeds]
    return keys


def _ordered_runs(store: Any, new_keys: list[str], identity_of: Any) -> list[dict[str, Any]]:
    """Every stored run as a dict: the runs of earlier benchmarks in store order, then this one's (``new_keys``,
    identities in plan order) in plan order, whatever order they finished in."""
    order = {key: i for i, key in enumerate(new_keys)}
    old: list[dict[str, Any]] = []
    fresh: list[tuple[int, dict[str, Any]]] = []
    for run in store.runs():
        at = order.get(identity_of(run))
        if at is None:
            old.append(run)
        else:
            fresh.append((at, run))
    fresh.sort(key=lambda item: item[0])
    return old + [run for _, run in fresh]


def _planned_fields(plan: EpisodePlan, task: EpisodeTask, worker: EpisodeWorker | None) -> dict[str, Any]:
    """The identity fields the run of ``task`` will store (its agent config only when ``worker`` built it)."""
    from agents.registry import agent_interface
    from progressgym_env.records import to_jsonable

    env_id, env_kwargs = plan.envs[task.challenge]
    interface = agent_interface(task.spec)
    return {
        "agent": task.label,
        "agent_config": None if worker is None else to_jsonable(worker.agent(task).config()),
        "challenge": task.challenge,
        "env_id": env_id,
        "kwargs": to_jsonable({**env_kwargs, **({"interface": interface} if interface != "vector" else {})}),
        "history": plan.history,
        "seed": task.seed,
        "model_sha256": task.model_sha256,
    }


def _saved_where(store: Any, results_path: Path) -> Path:
    """Where an interrupted benchmark's runs are: ``results.json`` for a small folder, else the store."""
    return results_path if store.count() <= RESULTS_JSON_MAX_RUNS else store.path


def _write_large_outputs(out: Path, store: Any, results_path: Path, fields: list[dict[str, Any]],
                         configs_known: bool = True, plots: bool = False, tracker: Any = None, progress: bool = False,
                         console: Any = None) -> int:
    """The outputs of a folder above :data:`RESULTS_JSON_MAX_RUNS` runs, read from the store in bounded memory.

    ``results.json`` would be a stale partial export there, so an old one is removed (every run in it was
    imported into the store first). The leaderboard is aggregated in the store
    (:func:`~progressgym_env.benchmark.store_readers.store_leaderboard`: the requested settings' rows, older
    models reported as superseded), each plot reads the one group it draws (subsampled), and each settings
    group not yet logged gets its wandb run. Returns how many stored runs have other settings than the
    ones requested.
    """
    from progressgym_env.benchmark.identity import canonical_hash, identity_fields
    from progressgym_env.benchmark.store_readers import log_store_groups, store_leaderboard, store_markdown

    if results_path.exists():
        results_path.unlink()

    def settings(run: dict[str, Any]) -> str:  # settings but the model file (an older model is superseded)
        return canonical_hash(identity_fields({**run, "model_sha256": ""}, seed=False, agent_config=configs_known))

    requested = {settings(f) for f in fields}
    board = store_leaderboard(store, keep=lambda group: settings(dict(group)) in requested)
    images: dict[tuple[str, str], Path] = {}
    if plots:
        from progressgym_env.benchmark.plots import write_store_plots

        images = write_store_plots(out, board, store, progress=progress, console=console)
    if tracker is not None:
        log_store_groups(tracker, store, board, images, progress, console)
    atomic_write_text(out / LEADERBOARD_FILE, store_markdown(store, board))
    return board.other_settings


def model_sha256(spec: str, challenge: str) -> str:
    """sha256 of the model file of an ``<algo>:<path>`` agent spec (``""`` for a baseline name).

    Part of each run's key, so a model retrained to the same path is run again, not reused.
    :param spec: the agent spec (``ppo:runs/{challenge}/model.zip``). :param challenge: the challenge key.
    """
    if spec == "trained":  # the shipped model(s) of the challenge: every file of agents/trained/<challenge>/
        from agents.shipped import trained_dir

        folder = trained_dir() / challenge
        files = sorted(p for p in folder.glob("*") if p.is_file() and not is_temp_file(p)) if folder.is_dir() else []
        return json_fingerprint({p.name: file_fingerprint(p) for p in files}) if files else ""
    if ":" not in spec:
        return ""
    path = Path(spec.partition(":")[2].replace("{challenge}", challenge))
    return file_fingerprint(path) if path.is_file() else ""


def _env_kwargs(config: BenchmarkConfig, challenge: Challenge) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        **challenge.kwargs,
        "history": config.history,
        "backend": config.backend,
        "query_budget": config.query_budget,
    }
    if config.backend_config:
        kwargs["backend_config"] = dict(config.backend_config)
    return kwargs


def _plot_and_log(
    out: Path, runs: list[dict[str, Any]], new_runs: dict[tuple[str, str], list[dict[str, Any]]], plots: bool,
    tracker: Any, shown: list[dict[str, Any]] | None = None, progress: bool = False, console: Any = None,
) -> None:
    """Redraw the plots of the (challenge, agent) groups that gained runs, then log each group's saved
    runs not yet logged as one wandb run (with its trajectory PNG); the wandb folder is recorded in each run.

    :param shown: the runs the plots draw (the requested settings'; default every run)."""
    # Every saved run not yet logged to wandb (incl. runs saved by an interrupted benchmark) is logged
    # once: a group's wandb id comes from its runs' keys, and a finished wandb run with that id is reused.
    pending: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    if tracker is not None:
        for run in runs:
            if not run.get("wandb_dir"):
                pending.setdefault((run["challenge"], run["agent"], settings_identity(run)), []).append(run)
    images: dict[tuple[str, str], Path] = {}
    if plots:
        from progressgym_env.benchmark.plots import write_plots

        changed = set(new_runs) | {(challenge, agent) for challenge, agent, _ in pending}
        if shown is not None and len(shown) != len(runs):  # other settings may have drawn the last plots
            changed |= {(run["challenge"], run["agent"]) for run in shown}
        images = write_plots(out, latest_models_only(runs if shown is None else shown)[0], changed=changed,
                             progress=progress, console=console)
    if tracker is not None:
        from progressgym_env.benchmark.tracking import wandb_run_id

        with ProgressBar(len(pending), "wandb runs", enabled=progress, console=console) as bar:
            for (challenge, agent, _), group in pending.items():
                run_id = wandb_run_id(group)
                directory = tracker.find_logged(run_id) or tracker.log_runs(group, images.get((challenge, agent)), run_id)
                for run in group:
                    run["wandb_dir"] = directory
                bar.advance(f"{agent} · {challenge} ({len(group)} runs)")


def _append_config(out: Path, config: BenchmarkConfig) -> None:
    path = out / CONFIG_FILE
    entries: list[Any] = []
    if path.exists():
        try:
            entries = json.loads(path.read_text(encoding="utf-8")).get("benchmarks", [])
        except (json.JSONDecodeError, AttributeError):
            raise ResultsFileError(f"{path} is not valid JSON; it was left untouched (move it aside)") from None
    entries.append({**asdict(config), "started": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    atomic_write_text(path, json.dumps({"benchmarks": entries}, indent=2) + "\n")
