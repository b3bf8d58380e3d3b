"""Where the benchmark's episodes run: in this process, or as Ray tasks on a local or remote cluster.

The runner (:func:`~progressgym_env.benchmark.runner.run_benchmark`) plans the (agent, challenge,
seeds) runs still missing from the results store as :class:`EpisodeGroup` values and hands them, with
an :class:`EpisodeWorker` that knows how to build the envs and agents, to an :class:`Executor`. The
executor yields finished runs as :class:`Finished` batches (rows of the store,
:mod:`~progressgym_env.benchmark.store_schema`) as they arrive; the driver alone commits them to the
store (:mod:`~progressgym_env.benchmark.store`), so resume, skipping, locking and corruption handling
do not depend on where an episode ran.

The worker plays a group's seeds together through the challenge's native vector env where the
registry allows it (:mod:`~progressgym_env.benchmark.batched`: the backend's ``native_vector``, the
challenge's vector env, an agent with ``batched = True``), each episode equal to its single-env
episode; otherwise one episode at a time.

- :class:`LocalExecutor` (``--executor local``, the default): everything in this process, each batch
  (up to :data:`~progressgym_env.benchmark.batched.BATCH_SIZE` episodes) or single run yielded as it
  finishes (Ctrl-C loses none that finished: the driver saves whatever arrived); no optional dependency.
- :class:`RayExecutor` (``--executor ray``): each chunk of a group's seeds is one Ray task, about two
  per CPU of the cluster: batched chunks of up to :data:`~progressgym_env.benchmark.batched.BATCH_SIZE`
  seeds, one-at-a-time chunks of at most :data:`MAX_CHUNK` episodes (surrogate episodes take
  milliseconds, so results arrive steadily and the per-task scheduling cost does not dominate); on the
  llm backend every episode is its own task and declares ``ray_num_gpus`` GPUs. A task that can see the
  store's folder (one machine, or shared storage) writes its runs to a staged part itself and the driver
  only renames it into the store; a task elsewhere hands its rows back. A worker that dies (killed process, lost node) is
  retried by Ray (``ray_max_retries``); an episode that raises is reported with its error after every
  other run has been saved (deterministic errors would only fail again), and a re-run of the same
  command runs exactly the reported ones again.

**LLM episodes on a cluster.** With ``run_dir`` in the llm ``backend_config``, each episode gets its
own checkpoint folder ``<run_dir>/<challenge>/<agent>/seed-<seed>`` (with either executor) and a
fresh env, so its per-century journal (:mod:`progressgym_env.llm.checkpoint`) belongs to it alone. Put
``run_dir`` on storage every node mounts (NFS, a shared disk): an episode whose task dies after century
t is retried, on this node or another, replays the journal and trains from century t + 1, with the same
record as an uninterrupted run.

Ray is the optional extra ``progressgym_env[ray]``; it is imported only by :class:`RayExecutor`.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from progressgym_env.benchmark.batched import BATCH_SIZE, native_vector_env_id, play_batch
from progressgym_env.common.ray_cluster import connect_ray, import_ray
from progressgym_env.errors import ConfigError, ProgressGymError
from progressgym_env.registry import backend_spec

if TYPE_CHECKING:
    import pyarrow as pa

EXECUTORS = ("local", "ray")
"""The values of ``BenchmarkConfig.executor``."""
MAX_CHUNK = 50
"""At most this many surrogate episodes per Ray task (a quarter of a second or so), so a large job's results
(and its progress bar) arrive steadily: 8,000 runs on 2 CPUs come in 160 tasks of 50, not 4 of 2,000."""


class EpisodeTaskError(ProgressGymError, RuntimeError):
    """Some benchmark episodes failed on the cluster; every other run was saved.

    :param failures: ``(task, error text)`` per failed episode.
    """

    def __init__(self, failures: Sequence[tuple[EpisodeTask, str]], saved: int) -> None:
        listed = "; ".join(f"{task.describe()}: {error}" for task, error in failures[:5])
        more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
        super().__init__(
            f"{len(failures)} episode(s) failed: {listed}{more}. The {saved} runs that finished are saved in "
            "the results store; re-run the same command to run only the failed ones again"
        )
        self.failures = list(failures)


@dataclass(frozen=True)
class EpisodeTask:
    """One (agent, challenge, seed) run to execute.

    :param challenge: the challenge key. :param label: the agent's leaderboard label.
    :param spec: the agent spec with ``{challenge}`` expanded (``lifelong``, ``ppo:runs/x/model.zip``).
    :param seed: the env (and agent) seed. :param model_sha256: the model file's hash (``""`` for baselines).
    """

    challenge: str
    label: str
    spec: str
    seed: int
    model_sha256: str = ""

    def describe(self) -> str:
        """``label · challenge · seed N`` (progress and error messages)."""
        return f"{self.label} · {self.challenge} · seed {self.seed}"

    def folder_name(self) -> Path:
        """``<challenge>/<label>/seed-<seed>`` with the label made file-name safe (checkpoint folders)."""
        safe = re.sub(r"[^A-Za-z0-9_.+-]", "_", self.label)
        return Path(self.challenge) / safe / f"seed-{self.seed}"


@dataclass(frozen=True)
class EpisodeGroup:
    """Runs of one agent on one challenge that differ only in their seed (played together where they can be).

    :param challenge: the challenge key. :param label: the agent's leaderboard label.
    :param spec: the agent spec with ``{challenge}`` expanded. :param seeds: the seeds, in plan order.
    :param model_sha256: the model file's hash (``""`` for baselines).
    """

    challenge: str
    label: str
    spec: str
    seeds: tuple[int, ...]
    model_sha256: str = ""

    def task(self, seed: int) -> EpisodeTask:
        """The single run of ``seed``."""
        return EpisodeTask(self.challenge, self.label, self.spec, seed, self.model_sha256)

    def tasks(self) -> list[EpisodeTask]:
        """Every single run of the group."""
        return [self.task(seed) for seed in self.seeds]

    def chunks(self, size: int) -> list[EpisodeGroup]:
        """The group cut into groups of at most ``size`` seeds."""
        return [EpisodeGroup(self.challenge, self.label, self.spec, self.seeds[i:i + size], self.model_sha256)
                for i in range(0, len(self.seeds), max(1, size))]

    def describe(self) -> str:
        """``label · challenge · N seeds`` (progress and error messages)."""
        return f"{self.label} · {self.challenge} · {len(self.seeds)} seed(s)"


@dataclass
class Finished:
    """Runs that finished: rows of the store, in a table or in a part a Ray task staged.

    :param label: the agent. :param challenge: the challenge key. :param rows: how many runs.
    :param last_seed: the seed of the last run (progress text).
    :param table: the rows (:data:`~progressgym_env.benchmark.store_schema.SCHEMA`), or None when staged.
    :param staged: the staged part's path (the driver commits it), or None.
    """

    label: str
    challenge: str
    rows: int
    last_seed: int
    table: pa.Table | None = None
    staged: str | None = None

    def describe(self) -> str:
        """``label · challenge · seed N`` of the last run."""
        return f"{self.label} · {self.challenge} · seed {self.last_seed}"


@dataclass
class EpisodePlan:
    """What a worker needs to build envs and agents: small and picklable (shipped to Ray tasks).

    :param history: the history name, recorded in every run.
    :param backend: the backend name (``surrogate`` or ``llm``).
    :param envs: challenge key -> (env id, env kwargs as recorded in the runs).
    """

    history: str
    backend: str
    envs: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)

    def checkpoint_root(self, challenge: str) -> str | None:
        """The checkpoint folder of ``challenge``'s backend config (the backend's ``run_dir_key``), or None."""
        config = self.envs[challenge][1].get("backend_config")
        key = backend_spec(self.backend).run_dir_key
        if key is None or not isinstance(config, dict):
            return None
        root = config.get(key)
        return None if root in (None, "") else str(root)


class EpisodeWorker:
    """Runs :class:`EpisodeTask` values; builds each challenge's env and each agent once, on first use.

    An episode with an llm ``run_dir`` gets a fresh env whose ``run_dir`` is the episode's own folder
    (see the module docstring). Pickling keeps only the plan, so a Ray task rebuilds what it needs.

    :param plan: the envs to build and what every run records.
    """

    def __init__(self, plan: EpisodePlan) -> None:
        self.plan = plan
        self._envs: dict[str, Any] = {}
        self._vector_envs: dict[tuple[str, int], Any] = {}
        self._agents: dict[tuple[str, str], Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"plan": self.plan}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["plan"])  # type: ignore[misc]

    def _make_env(self, challenge: str, run_dir: str | None = None, interface: str = "vector") -> Any:
        import gymnasium as gym

        import progressgym_env  # noqa: F401  (registers the ids)

        env_id, kwargs = self.plan.envs[challenge]
        if interface != "vector":  # examinees hand back models: their env takes models as actions
            kwargs = {**kwargs, "interface": interface}
        if run_dir is not None:
            kwargs = {**kwargs, "backend_config": {**kwargs["backend_config"], "run_dir": run_dir}}
        return gym.make(env_id, **kwargs)

    def env(self, challenge: str, interface: str = "vector") -> Any:
        """The shared env of ``challenge`` for agents of ``interface`` (built on first use)."""
        key = challenge if interface == "vector" else f"{challenge}:{interface}"
        if key not in self._envs:
            self._envs[key] = self._make_env(challenge, interface=interface)
        return self._envs[key]

    def agent(self, task: EpisodeTask, env: Any = None) -> Any:
        """The agent of ``task`` for ``env`` (default: the challenge's shared env; cached for it)."""
        from agents.registry import agent_interface, make_agent

        if env is not None:
            return make_agent(task.spec, env)
        key = (task.challenge, task.label)
        if key not in self._agents:
            self._agents[key] = make_agent(task.spec, self.env(task.challenge, agent_interface(task.spec)))
        return self._agents[key]

    def build(self, tasks: Sequence[EpisodeTask]) -> None:
        """Build every env and agent ``tasks`` need (a bad spec fails here, before the first episode)."""
        for task in tasks:
            self.agent(task)

    def batchable(self, group: EpisodeGroup) -> bool:
        """Whether ``group``'s seeds can be played together: the registry allows it for the backend and the
        challenge (:func:`~progressgym_env.benchmark.batched.native_vector_env_id`), the agent acts on
        batches, and its episodes need no checkpoint folders of their own."""
        from agents.registry import agent_interface

        env_id = self.plan.envs[group.challenge][0]
        if agent_interface(group.spec) != "vector" or self.plan.checkpoint_root(group.challenge) is not None:
            return False
        if not native_vector_env_id(self.plan.backend, env_id):
            return False
        return bool(getattr(self.agent(group.task(group.seeds[0])), "batched", False))

    def run_group(self, group: EpisodeGroup, batch_size: int = BATCH_SIZE) -> Iterator[Finished]:
        """Play ``group``: batches of up to ``batch_size`` seeds through the native vector env where it can be
        batched (:meth:`batchable`), else one episode at a time; yields each batch's (or run's) rows."""
        from progressgym_env.benchmark.store_schema import table_of_runs

        if not group.seeds:
            return
        if self.batchable(group):
            for chunk in group.chunks(batch_size):
                yield Finished(group.label, group.challenge, len(chunk.seeds), chunk.seeds[-1], self._batch_rows(chunk))
            return
        for task in group.tasks():
            yield Finished(task.label, task.challenge, 1, task.seed, table_of_runs([self.run(task)]))

    def _batch_rows(self, group: EpisodeGroup) -> pa.Table:
        """The store rows of ``group``'s seeds, played together in one native vector env."""
        from progressgym_env.benchmark.identity import seed_identities, settings_identity
        from progressgym_env.benchmark.store_schema import batch_table, dumps

        env_id, kwargs = self.plan.envs[group.challenge]
        key = (group.challenge, len(group.seeds))
        if key not in self._vector_envs:
            from progressgym_env.benchmark.batched import make_vector_env

            self._vector_envs[key] = make_vector_env(env_id, len(group.seeds), kwargs)
        agent = self.agent(group.task(group.seeds[0]))
        episodes = play_batch(self._vector_envs[key], agent, group.seeds)
        fields = self._run_fields(group.task(group.seeds[0]), agent, "vector")
        constants = {
            "settings_key": settings_identity(fields),
            "agent": group.label,
            "agent_config": dumps(fields["agent_config"]),
            "challenge": group.challenge,
            "env_id": env_id,
            "kwargs": dumps(fields["kwargs"]),
            "history": self.plan.history,
            "model_sha256": group.model_sha256 or None,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        return batch_table(constants, seed_identities(fields, group.seeds), episodes.seeds, episodes.final_scores,
                           episodes.normalized_scores, episodes.rewards, episodes.record_meta, episodes.human,
                           episodes.model, episodes.simulated)

    def _run_fields(self, task: EpisodeTask, agent: Any, interface: str) -> dict[str, Any]:
        """The identity fields of ``task``'s run (what :meth:`run` stores besides the outcome)."""
        from progressgym_env.records import to_jsonable

        env_id, env_kwargs = self.plan.envs[task.challenge]
        fields = {
            "agent": task.label,
            "agent_config": to_jsonable(agent.config()),
            "challenge": task.challenge,
            "env_id": env_id,
            "kwargs": to_jsonable({**env_kwargs, **({"interface": interface} if interface != "vector" else {})}),
            "seed": task.seed,
            "history": self.plan.history,
        }
        if task.model_sha256:
            fields["model_sha256"] = task.model_sha256
        return fields

    def run(self, task: EpisodeTask) -> dict[str, Any]:
        """Run ``task`` and return its results.json entry."""
        from agents.registry import agent_interface

        root = self.plan.checkpoint_root(task.challenge)
        interface = agent_interface(task.spec)
        if root is None:
            return self._record(task, self.env(task.challenge, interface), self.agent(task))
        env = self._make_env(task.challenge, str(Path(root) / task.folder_name()), interface)
        try:
            return self._record(task, env, self.agent(task, env))
        finally:
            env.close()

    def _record(self, task: EpisodeTask, env: Any, agent: Any) -> dict[str, Any]:
        from progressgym_env.episode import run_episode

        result = run_episode(env, agent, task.seed)
        fields = self._run_fields(task, agent, getattr(env.unwrapped, "interface", "vector"))
        sha = fields.pop("model_sha256", None)
        run = {
            **fields,
            "final_score": result.final_score,
            "normalized_score": result.normalized_score,
            "rewards": result.rewards,
            "episode_record": result.episode_record,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        if sha:
            run["model_sha256"] = sha
        return run

    def close(self) -> None:
        """Close the shared envs."""
        for env in (*self._envs.values(), *self._vector_envs.values()):
            env.close()
        self._envs.clear()
        self._vector_envs.clear()
        self._agents.clear()


class Executor(Protocol):
    """Runs groups and yields finished runs in batches, as they arrive (the driver saves each batch)."""

    builds_in_driver: bool
    """The runner builds every env and agent in the driver first (fail fast, shared objects)."""

    def run(self, worker: EpisodeWorker, groups: Sequence[EpisodeGroup],
            staging: Path | None = None) -> Iterator[Finished]:
        """Yield :class:`Finished` batches until every group is done.

        :param staging: where workers may stage parts of the store for the driver to commit (executors whose
            workers run elsewhere); None = hand back tables.
        :raises EpisodeTaskError: after the last batch, when some episodes failed (executors that isolate tasks).
        """
        ...

    def close(self) -> None:
        """Release what the executor started (a local Ray cluster)."""
        ...


class LocalExecutor:
    """Everything in this process, group after group; an error stops the run.

    Each batch of a batched group, and each run of a group played one episode at a time, is yielded as
    it finishes; the driver's store writer buffers them into row groups.
    """

    builds_in_driver = True

    def run(self, worker: EpisodeWorker, groups: Sequence[EpisodeGroup],
            staging: Path | None = None) -> Iterator[Finished]:
        """Run ``groups`` in order, yielding each batch (or run) as soon as it finishes."""
        for group in groups:
            yield from worker.run_group(group)

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class RaySettings:
    """How the benchmark uses Ray (fields of ``BenchmarkConfig``; see its help texts).

    :param address: None = start a local cluster; ``auto`` or ``host:port`` / ``ray://...`` = join one.
    :param local_cpus: CPUs of a local cluster (None = every core of this machine).
    :param num_cpus: CPUs each task reserves. :param num_gpus: GPUs each task reserves (None = auto).
    :param chunk_size: episodes per task (0 = auto). :param max_retries: retries of a task whose worker died.
    """

    address: str | None = None
    local_cpus: int | None = None
    num_cpus: float = 1.0
    num_gpus: float | None = None
    chunk_size: int = 0
    max_retries: int = 3


def _run_chunk(
    worker: EpisodeWorker, group: EpisodeGroup, submission: str = "", staging: str | None = None,
) -> tuple[list[Finished], list[tuple[EpisodeTask, str]]]:
    """Body of one Ray task: the runs of ``group`` and ``(task, error)`` for the episodes that raised.

    The rows come back as one :class:`Finished`: staged in ``staging`` when this machine sees that folder
    (the driver then only renames the file), else as a table. The worker is cached per process for its
    ``submission`` (one :meth:`RayExecutor.run` call), so the chunks of one benchmark that a Ray worker
    process runs share envs and agents, and another benchmark starts afresh.
    """
    import pyarrow as pa

    from progressgym_env.benchmark.store import write_staged

    key = submission or str(id(worker))
    cached = _WORKERS.get(key)
    if cached is None:
        _WORKERS.clear()
        cached = _WORKERS[key] = worker
    if not group.seeds:
        return [], []
    tables: list[pa.Table] = []
    failures: list[tuple[EpisodeTask, str]] = []
    try:
        batched = cached.batchable(group)  # builds the agent: a bad spec fails here
        if batched:
            tables = [done.table for done in cached.run_group(group) if done.table is not None]
    except Exception as exc:  # noqa: BLE001  (reported with the group's seeds; other chunks go on)
        batched, failures = True, [(task, f"{type(exc).__name__}: {exc}") for task in group.tasks()]
    if not batched:
        for task in group.tasks():
            try:
                tables += [done.table for done in cached.run_group(replace(group, seeds=(task.seed,)))
                           if done.table is not None]
            except Exception as exc:  # noqa: BLE001  (one episode's error must not lose its chunk-mates' runs)
                failures.append((task, f"{type(exc).__name__}: {exc}"))
    if not tables:
        return [], failures
    table = pa.concat_tables(tables)
    last = int(table.column("seed")[-1].as_py())
    done = Finished(group.label, group.challenge, table.num_rows, last, table=table)
    if staging is not None and Path(staging).is_dir():
        done.staged, done.table = str(write_staged(table, Path(staging))), None
    return [done], failures


_WORKERS: dict[str, EpisodeWorker] = {}


class RayExecutor:
    """Each chunk of a group's seeds is one Ray task; runs come back as their tasks finish.

    :param settings: cluster address, resources per task, chunking, retries.
    :param backend: the benchmark's backend (a heavy one, llm: one episode per task, GPUs by default).
    """

    def __init__(self, settings: RaySettings, backend: str) -> None:
        import_ray()  # a missing extra fails before anything is written
        self.settings = settings
        self.backend = backend
        # A heavy backend's env may load or measure models: the driver leaves that to the tasks, so there a
        # bad agent spec is reported by its tasks rather than before the first episode.
        self.heavy = backend_spec(backend).heavy
        self.builds_in_driver = not self.heavy
        self._started = False

    def resources(self) -> dict[str, float]:
        """``num_cpus`` / ``num_gpus`` of each task (GPUs default to 1 per heavy-backend episode when the cluster has any).

        :raises ConfigError: a task would need more CPUs or GPUs than the whole cluster has (Ray would
            wait for them for ever).
        """
        import ray

        cluster = ray.cluster_resources()
        gpus = self.settings.num_gpus
        if gpus is None:
            gpus = 1.0 if self.heavy and cluster.get("GPU", 0) >= 1 else 0.0
        wanted = {"CPU": float(self.settings.num_cpus), "GPU": float(gpus)}
        for name, amount in wanted.items():
            if amount > cluster.get(name, 0.0):
                raise ConfigError(
                    f"each Ray task asks for {amount:g} {name}(s) but the cluster has {cluster.get(name, 0.0):g}; "
                    f"lower --ray-num-{name.lower()}s or add nodes that have them"
                )
        return {"num_cpus": wanted["CPU"], "num_gpus": wanted["GPU"]}

    def chunk_size(self, n_tasks: int, batched: bool = False) -> int:
        """Episodes per task: the setting, else 1 on a heavy backend, else about two tasks per cluster CPU and at
        most :data:`MAX_CHUNK` episodes played one at a time (a task costs milliseconds to schedule), or
        :data:`~progressgym_env.benchmark.batched.BATCH_SIZE` played together."""
        import ray

        if self.settings.chunk_size:
            return self.settings.chunk_size
        if self.heavy:
            return 1
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1) // max(self.settings.num_cpus, 1e-9)))
        return max(1, min(math.ceil(n_tasks / (2 * cpus)), BATCH_SIZE if batched else MAX_CHUNK))

    def run(self, worker: EpisodeWorker, groups: Sequence[EpisodeGroup],
            staging: Path | None = None) -> Iterator[Finished]:
        """Submit chunks of ``groups``; yield each chunk's runs as it finishes (failures raised at the end)."""
        import ray

        self._started = connect_ray(self.settings.address, self.settings.local_cpus) or self._started
        total = sum(len(group.seeds) for group in groups)
        if not total:
            return
        chunks: list[EpisodeGroup] = []
        for group in groups:
            batched = self.builds_in_driver and bool(group.seeds) and worker.batchable(group)
            chunks += group.chunks(self.chunk_size(total, batched))
        remote = ray.remote(_run_chunk).options(max_retries=self.settings.max_retries, **self.resources())
        worker_ref, submission = ray.put(worker), uuid.uuid4().hex
        where = None if staging is None else str(staging)
        pending = {remote.remote(worker_ref, chunk, submission, where): chunk  # type: ignore[call-arg]  # (ray types 3 arguments at most here)
                   for chunk in chunks}
        failures: list[tuple[EpisodeTask, str]] = []
        saved = 0
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                chunk = pending.pop(done[0])
                try:
                    finished, failed = ray.get(done[0])
                except ray.exceptions.RayError as exc:  # the task's worker died more often than max_retries
                    finished, failed = [], [(task, f"{type(exc).__name__}: {_first_line(exc)}") for task in chunk.tasks()]
                failures.extend(failed)
                for batch in finished:
                    saved += batch.rows
                    yield batch
        finally:
            for ref in pending:  # the driver stopped early (Ctrl-C, an error): cancel what is left
                ray.cancel(ref, force=True)
        if failures:
            raise EpisodeTaskError(failures, saved)

    def close(self) -> None:
        """Shut down the local cluster if this executor started it."""
        if self._started:
            import ray

            ray.shutdown()
            self._started = False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


def make_executor(name: str, backend: str, settings: RaySettings | None = None) -> Executor:
    """The executor called ``name`` (``local`` or ``ray``).

    :param name: one of :data:`EXECUTORS`. :param backend: the benchmark's backend.
    :param settings: Ray settings (``ray`` only).
    :raises ConfigError: an unknown name. :raises MissingExtraError: ``ray`` without the extra.
    """
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(settings or RaySettings(), backend)
    raise ConfigError(f"executor must be one of {EXECUTORS}, got {name!r}")

