"""Environment throughput: env-steps per second of every way to step the surrogate envs.

One run measures, for each challenge id: the single env (``env.unwrapped`` and ``gym.make`` with its
default wrappers), the native vector env (``gym.make_vec``, fast mode) at several N and in exact mode
at the baseline N, Gymnasium's ``SyncVectorEnv`` and SB3's ``DummyVecEnv`` over the same single env at
the baseline N (64), their ratios, and peak traced memory. Used by ``benchmarks/perf.py`` and
``progressgym perf``.

Method: actions are drawn up front (uniform in [-1, 1], float32) and the timed loop only steps (the
single env and DummyVecEnv reset on termination inside the loop, as an RL loop does; the vector envs
autoreset). Each configuration runs ``warmup`` steps, then ``repeats`` timed runs of at least
``min_seconds`` each; the best run counts (the least disturbed by other processes). Both the wall
clock and the process CPU time are recorded; ``clock`` picks the one the headline numbers use (CPU
time is the robust figure on a shared machine). Peak memory is measured in a separate untimed pass
with ``tracemalloc`` (numpy reports its buffers to it), since tracing slows the steps down.
"""

from __future__ import annotations

import os
import platform
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

CLOCKS = ("wall", "cpu")


@dataclass
class PerfConfig:
    """Settings of one throughput run (saved in the JSON output)."""

    env_ids: tuple[str, ...] = field(
        default=("PG-Follow-v0", "PG-Predict-v0", "PG-Coevolve-v0"), metadata={"help": "Env ids to measure."}
    )
    vector_sizes: tuple[int, ...] = field(
        default=(1, 64, 1024, 4096), metadata={"help": "N values for the native vector env."}
    )
    baseline_envs: int = field(default=64, metadata={"help": "N for SyncVectorEnv, DummyVecEnv and exact mode."})
    min_seconds: float = field(default=0.5, metadata={"help": "Least duration of one timed run."})
    repeats: int = field(default=3, metadata={"help": "Timed runs per configuration; the best counts."})
    warmup: int = field(default=18, metadata={"help": "Untimed steps before timing (two episodes)."})
    clock: str = field(default="cpu", metadata={"help": "Clock of the headline numbers: 'cpu' or 'wall'."})
    seed: int = field(default=0, metadata={"help": "Seed of envs and of the pre-drawn actions."})
    env_kwargs: dict[str, Any] = field(default_factory=dict, metadata={"help": "Extra kwargs for every env."})
    reference: str = field(
        default="CartPole-v1",
        metadata={"help": "A tiny numpy env timed in the same run (its single env unwrapped and its own vector env "
                  "at every N): each PG figure is also given as a ratio to it. Empty: none."},
    )

    def __post_init__(self) -> None:
        if self.clock not in CLOCKS:
            raise ValueError(f"clock must be one of {CLOCKS}, found {self.clock!r}")
        if self.repeats < 1 or self.min_seconds <= 0:
            raise ValueError(f"repeats must be >= 1 and min_seconds > 0, found {self.repeats}, {self.min_seconds}")


@dataclass
class Timing:
    """One configuration's best run: env-steps per second by each clock, and traced peak memory."""

    name: str
    num_envs: int
    wall_steps_per_s: float
    cpu_steps_per_s: float
    peak_mib: float | None = None

    def steps_per_s(self, clock: str) -> float:
        return self.wall_steps_per_s if clock == "wall" else self.cpu_steps_per_s


def machine_info() -> dict[str, Any]:
    """CPU model, cores, load and library versions (what a throughput number depends on)."""
    import gymnasium

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu_model": cpu,
        "cpu_cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "gymnasium": gymnasium.__version__,
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")},
    }
    try:
        import stable_baselines3

        info["stable_baselines3"] = stable_baselines3.__version__
    except ImportError:
        info["stable_baselines3"] = None
    if hasattr(os, "getloadavg"):
        info["load_average_1m"] = round(os.getloadavg()[0], 2)
    return info


def best_run(step_chunk: Callable[[int], None], steps_per_call: int, config: PerfConfig) -> tuple[float, float]:
    """Best (wall, cpu) env-steps/s over ``repeats`` runs of at least ``min_seconds`` each.

    :param step_chunk: runs k calls (k pre-drawn actions) of the thing measured.
    :param steps_per_call: env-steps one call makes (N for a vector env).
    """
    step_chunk(config.warmup)
    calls = config.warmup
    while True:  # size a run to last min_seconds
        start = time.perf_counter()
        step_chunk(calls)
        elapsed = time.perf_counter() - start
        if elapsed >= config.min_seconds / 4 or calls >= 1 << 22:
            break
        calls *= 4
    calls = max(calls, int(calls * config.min_seconds / max(elapsed, 1e-9)))
    best_wall = best_cpu = 0.0
    for _ in range(config.repeats):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        step_chunk(calls)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        best_wall = max(best_wall, calls * steps_per_call / wall)
        best_cpu = max(best_cpu, calls * steps_per_call / max(cpu, 1e-9))
    return best_wall, best_cpu


class _ActionCycle:
    """Pre-drawn actions of ``space``, handed out in order (drawn once, outside every timed loop).

    A ``Box`` gets uniform floats in [-1, 1) of its shape and dtype float32 (the PG envs' actions);
    ``Discrete`` / ``MultiDiscrete`` (a reference env such as CartPole) uniform integers in range.
    """

    def __init__(self, space: Any, seed: int, count: int = 4096) -> None:
        from gymnasium import spaces

        rng = np.random.default_rng(seed)
        if isinstance(space, spaces.Discrete):
            self.actions: Any = rng.integers(space.start, space.start + space.n, size=count)
        elif isinstance(space, spaces.MultiDiscrete):
            self.actions = rng.integers(space.start, space.start + space.nvec, size=(count, *space.shape))
        else:
            self.actions = rng.random((count, *space.shape), dtype=np.float32)
            self.actions *= 2.0
            self.actions -= 1.0  # uniform in [-1, 1)
        self.count = count

    def chunks(self, calls: int) -> Iterator[Any]:
        full, rest = divmod(calls, self.count)
        for _ in range(full):
            yield from self.actions
        yield from self.actions[:rest]


def _cycle_count(num_envs: int) -> int:
    """How many distinct actions to pre-draw: enough variety, at most ~64 MiB."""
    return max(16, min(4096, (1 << 22) // max(num_envs, 1)))


def single_stepper(env: Any, config: PerfConfig, count: int | None = None) -> Callable[[int], None]:
    """A ``run(calls)`` that steps one env ``calls`` times on pre-drawn actions, resetting at episode ends.

    :param env: a single Gymnasium env (reset here with ``config.seed``).
    :param count: how many distinct actions to pre-draw (default 4096).
    """
    env.reset(seed=config.seed)
    cycle = _ActionCycle(env.action_space, config.seed, count or 4096)

    def run(calls: int) -> None:
        step, reset = env.step, env.reset
        for action in cycle.chunks(calls):
            _, _, terminated, truncated, _ = step(action)
            if terminated or truncated:
                reset()

    return run


def vector_stepper(envs: Any, config: PerfConfig, count: int | None = None) -> Callable[[int], None]:
    """A ``run(calls)`` that steps a Gymnasium vector env ``calls`` times on pre-drawn batched actions.

    :param envs: a vector env (reset here with ``config.seed``; it autoresets itself).
    :param count: how many distinct batched actions to pre-draw (default: enough, at most ~64 MiB).
    """
    envs.reset(seed=config.seed)
    cycle = _ActionCycle(envs.action_space, config.seed, count or _cycle_count(envs.num_envs))

    def run(calls: int) -> None:
        step = envs.step
        for action in cycle.chunks(calls):
            step(action)

    return run


def _sb3(venv: Any, config: PerfConfig, shape: tuple[int, ...], count: int | None = None) -> Callable[[int], None]:
    venv.seed(config.seed)
    venv.reset()
    from gymnasium import spaces

    cycle = _ActionCycle(spaces.Box(-1.0, 1.0, shape), config.seed, count or _cycle_count(shape[0]))

    def run(calls: int) -> None:
        step = venv.step
        for action in cycle.chunks(calls):
            step(action)

    return run


def _peak_mib(build: Callable[[int | None], Any], steps: int = 18) -> float:
    """Peak traced memory (MiB) of building a configuration and taking ``steps`` calls.

    Only ``steps`` actions are pre-drawn here, so the figure is the env's own memory.
    """
    tracemalloc.start()
    try:
        run = build(steps)
        run(steps)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def measure_env(env_id: str, config: PerfConfig) -> dict[str, Any]:
    """Every configuration of one env id; returns the JSON block of that id."""
    import gymnasium as gym

    import progressgym_env  # noqa: F401  (registers the ids)

    kwargs = dict(config.env_kwargs)
    if env_id != "PG-Predict-v0":
        kwargs.pop("timesteps_ahead", None)
    base = config.baseline_envs
    Builder = Callable[[int | None], Callable[[int], None]]  # (actions to pre-draw) -> run(calls)
    builders: list[tuple[str, int, Builder]] = [
        ("single (env.unwrapped)", 1, lambda c: single_stepper(gym.make(env_id, **kwargs).unwrapped, config, c)),
        ("single (gym.make)", 1, lambda c: single_stepper(gym.make(env_id, **kwargs), config, c)),
    ]
    def native(n: int) -> Builder:
        return lambda c: vector_stepper(gym.make_vec(env_id, num_envs=n, **kwargs), config, c)

    for n in config.vector_sizes:
        builders.append((f"native vector, N={n}", n, native(n)))
    builders.append(
        (f"native vector exact rng, N={base}", base,
         lambda c: vector_stepper(gym.make_vec(env_id, num_envs=base, rng_mode="exact", **kwargs), config, c))
    )
    builders.append(
        (f"gymnasium SyncVectorEnv, N={base}", base,
         lambda c: vector_stepper(gym.make_vec(env_id, num_envs=base, vectorization_mode="sync", **kwargs), config, c))
    )
    try:
        from stable_baselines3.common.vec_env import DummyVecEnv

        def dummy(count: int | None) -> Callable[[int], None]:
            venv = DummyVecEnv([lambda: gym.make(env_id, **kwargs) for _ in range(base)])
            return _sb3(venv, config, (base, *(venv.action_space.shape or ())), count)

        builders.append((f"SB3 DummyVecEnv, N={base}", base, dummy))
    except ImportError:
        pass

    timings: list[Timing] = []
    for name, n, build in builders:
        wall, cpu = best_run(build(None), n, config)
        timings.append(Timing(name, n, wall, cpu, _peak_mib(build)))
    return summarise(timings, config)


def measure_reference(config: PerfConfig) -> dict[str, Any]:
    """The reference env's single env (``env.unwrapped``) and own vector env at every N (env-steps/s)."""
    import gymnasium as gym

    env_id = config.reference
    single = best_run(single_stepper(gym.make(env_id).unwrapped, config), 1, config)
    vector = {}
    for n in config.vector_sizes:
        envs = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point")
        vector[str(n)] = best_run(vector_stepper(envs, config), n, config)
    clock = 0 if config.clock == "wall" else 1
    return {"env_id": env_id, "single_steps_per_s": single[clock], "vector_steps_per_s": {k: v[clock] for k, v in vector.items()}}


def reference_ratios(block: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """A PG env's figures over the reference's: the single env (unwrapped against unwrapped) and the vector env at each N."""
    single, ref = block["single_steps_per_s"], reference["single_steps_per_s"]
    return {
        "single": None if not (single and ref) else single / ref,
        "vector": {
            n: (None if not (rate and reference["vector_steps_per_s"].get(n)) else rate / reference["vector_steps_per_s"][n])
            for n, rate in block["vector_steps_per_s"].items()
        },
    }


def summarise(timings: list[Timing], config: PerfConfig) -> dict[str, Any]:
    """The JSON block of one env id from its timings (headline numbers by ``config.clock``)."""
    clock, base = config.clock, config.baseline_envs
    by_name = {t.name: t for t in timings}

    def rate(name: str) -> float | None:
        timing = by_name.get(name)
        return None if timing is None else timing.steps_per_s(clock)

    vector = {str(n): rate(f"native vector, N={n}") for n in config.vector_sizes}
    sync = rate(f"gymnasium SyncVectorEnv, N={base}")
    dummy = rate(f"SB3 DummyVecEnv, N={base}")
    native_base = rate(f"native vector, N={base}")
    single = rate("single (env.unwrapped)")
    exact = rate(f"native vector exact rng, N={base}")
    block: dict[str, Any] = {
        "single_steps_per_s": single,
        "single_us_per_step": None if not single else 1e6 / single,
        "single_make_steps_per_s": rate("single (gym.make)"),
        "vector_steps_per_s": vector,
        f"vector_exact_steps_per_s_{base}": exact,
        f"sync_vector_steps_per_s_{base}": sync,
        f"dummy_vec_steps_per_s_{base}": dummy,
        f"ratio_vector_vs_sync_{base}": None if not (native_base and sync) else native_base / sync,
        f"ratio_vector_vs_dummy_{base}": None if not (native_base and dummy) else native_base / dummy,
        f"ratio_exact_vs_sync_{base}": None if not (exact and sync) else exact / sync,
        "peak_mib": {t.name: round(t.peak_mib, 2) for t in timings if t.peak_mib is not None},
        "timings": [asdict(t) for t in timings],
    }
    return block


def run_perf(config: PerfConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measure every id of ``config``; the result is the JSON document of ``--json``.

    Top level: ``machine``, ``config``, one block per env id, and the first id's (Follow's) headline
    numbers repeated under their plain keys (``single_steps_per_s``, ``vector_steps_per_s``,
    ``sync_vector_steps_per_s_64``, ``ratio_vector_vs_sync_64``, ...).
    """
    import resource

    result: dict[str, Any] = {"machine": machine_info(), "config": asdict(config)}
    reference = None
    if config.reference:
        if progress is not None:
            progress(f"measuring the reference {config.reference} ...")
        reference = result["reference"] = measure_reference(config)
    for env_id in config.env_ids:
        if progress is not None:
            progress(f"measuring {env_id} ...")
        result[env_id] = measure_env(env_id, config)
        if reference is not None:
            result[env_id]["ratio_vs_reference"] = reference_ratios(result[env_id], reference)
    first = result[config.env_ids[0]]
    for key, value in first.items():
        if key not in ("timings", "peak_mib", "ratio_vs_reference"):
            result[key] = value
    result["max_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["machine"]["load_average_1m_end"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    return result


def format_table(result: dict[str, Any]) -> str:
    """A Markdown table of every configuration of every env id."""
    config = result["config"]
    clock = config["clock"]
    other_clock = "wall" if clock == "cpu" else "cpu"
    header = (
        f"| env | configuration | env-steps/s ({clock}) | us/env-step | env-steps/s ({other_clock}) "
        f"| vs SyncVectorEnv N={config['baseline_envs']} | peak MiB |"
    )
    lines = [header, "|---|---|---:|---:|---:|---:|---:|"]
    for env_id in config["env_ids"]:
        block = result[env_id]
        sync = block[f"sync_vector_steps_per_s_{config['baseline_envs']}"]
        for timing in block["timings"]:
            main = timing["cpu_steps_per_s" if clock == "cpu" else "wall_steps_per_s"]
            other = timing["wall_steps_per_s" if clock == "cpu" else "cpu_steps_per_s"]
            ratio = f"{main / sync:.1f}x" if sync else "-"
            peak = timing["peak_mib"]
            lines.append(
                f"| {env_id} | {timing['name']} | {main:,.0f} | {1e6 / main:.3f} | {other:,.0f} | {ratio} | "
                f"{'-' if peak is None else f'{peak:.1f}'} |"
            )
    reference = result.get("reference")
    if reference:
        lines += ["", f"| env | vs {reference['env_id']}: single (unwrapped) | "
                  + " | ".join(f"vector N={n}" for n in reference["vector_steps_per_s"]) + " |",
                  "|---|---:|" + "---:|" * len(reference["vector_steps_per_s"])]
        for env_id in config["env_ids"]:
            ratios = result[env_id]["ratio_vs_reference"]
            cells = [ratios["single"], *ratios["vector"].values()]
            lines.append(f"| {env_id} | " + " | ".join("-" if c is None else f"{c:.3f}" for c in cells) + " |")
        lines.append(f"| {reference['env_id']} (env-steps/s) | {reference['single_steps_per_s']:,.0f} | "
                     + " | ".join(f"{v:,.0f}" for v in reference["vector_steps_per_s"].values()) + " |")
    return "\n".join(lines) + "\n"
