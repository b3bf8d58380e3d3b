"""PG-Society throughput against PG-Coevolve's single env and a PettingZoo reference env, in one run.

MPE (``simple_spread``) left PettingZoo 1.27 for its own package (``mpe2``: ``import pettingzoo.mpe``
raises "MPE has been moved into its own package"), so the reference is PettingZoo's SISL
``pursuit_v5`` (8 pursuers, numpy dynamics; needs pygame, from the render extra). Measured, by process
CPU time (best of ``--repeats`` runs of at least ``--min-seconds``, :func:`progressgym_env.perf.best_run`):

- ``PG-Coevolve-v0`` (``gym.make``), random actions: the anchor (ratio 1);
- the PG-Society ``ParallelEnv`` at (M, G) = (1, 1), (2, 8), (4, 64), adaptive usage: parallel steps/s
  (one step = every AI acts) and agent-steps/s;
- :class:`~progressgym_env.society.batch.SocietyBatch`, B societies at (4, 64): society-steps/s;
- ``pursuit_v5.parallel_env()``: parallel steps/s and agent-steps/s.

Every figure is also given as a ratio to the anchor timed in the same run. The machine may be shared
(run under ``nice``; the load average is recorded).

Usage::

    nice -n 10 python benchmarks/society_throughput.py --json society_throughput.json
    python benchmarks/society_throughput.py --min-seconds 0.1 --repeats 1   # quick look
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

import progressgym_env  # noqa: F401  (registers the ids)
from progressgym_env import society
from progressgym_env.perf import PerfConfig, best_run, machine_info, single_stepper
from progressgym_env.society.batch import SocietyBatch

SHAPES: tuple[tuple[int, int], ...] = ((1, 1), (2, 8), (4, 64))
"""(M AIs, G groups) of the PettingZoo env measured."""


def parallel_stepper(env: Any, seed: int, count: int = 512) -> Callable[[int], None]:
    """``run(calls)``: ``calls`` parallel steps on pre-drawn per-agent actions, resetting at episode ends."""
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    agents = list(env.possible_agents)
    cycle = []
    for _ in range(count):
        actions = {}
        for agent in agents:
            space = env.action_space(agent)
            if isinstance(space, gym.spaces.Discrete):
                actions[agent] = int(rng.integers(space.n))
            else:
                actions[agent] = rng.uniform(-1, 1, space.shape).astype(space.dtype)
        cycle.append(actions)

    def run(calls: int) -> None:
        for i in range(calls):
            env.step(cycle[i % count])
            if not env.agents:
                env.reset()

    return run


def batch_stepper(batch: SocietyBatch, seed: int, count: int = 64) -> Callable[[int], None]:
    """``run(calls)``: ``calls`` batched steps of every society, resetting when the episodes end."""
    batch.reset(seed=seed)
    rng = np.random.default_rng(seed)
    cycle = rng.uniform(-1, 1, (count, *batch._shape)).astype(np.float32)

    def run(calls: int) -> None:
        for i in range(calls):
            if batch.step(cycle[i % count])[3]:
                batch.reset()

    return run


def measure(min_seconds: float, repeats: int, batch_size: int) -> dict[str, Any]:
    config = PerfConfig(min_seconds=min_seconds, repeats=repeats)
    rows: list[dict[str, Any]] = []

    def add(name: str, run: Callable[[int], None], steps_per_call: int, agents: int) -> None:
        _, cpu = best_run(run, steps_per_call, config)
        rows.append({"name": name, "steps_per_s": cpu, "agent_steps_per_s": cpu * agents})

    add("PG-Coevolve-v0 single env (gym.make)", single_stepper(gym.make("PG-Coevolve-v0"), config), 1, 1)
    for m, g in SHAPES:
        env = society.parallel_env(num_ais=m, num_groups=g, usage="adaptive")
        add(f"PG-Society ParallelEnv M={m} G={g}", parallel_stepper(env, config.seed), 1, m)
    batch = SocietyBatch(batch_size, num_ais=4, num_groups=64, usage="adaptive")
    add(f"PG-Society SocietyBatch B={batch_size} M=4 G=64", batch_stepper(batch, config.seed), batch_size, 4)
    from pettingzoo.sisl import pursuit_v5

    pursuit = pursuit_v5.parallel_env()
    add("pettingzoo sisl pursuit_v5 (8 agents)", parallel_stepper(pursuit, config.seed), 1, len(pursuit.possible_agents))
    anchor = rows[0]["steps_per_s"]
    for row in rows:
        row["ratio_to_coevolve"] = row["steps_per_s"] / anchor
    return {"machine": machine_info(), "load_average": os.getloadavg(), "clock": "cpu",
            "min_seconds": min_seconds, "repeats": repeats, "rows": rows}


def table(result: dict[str, Any]) -> str:
    lines = ["| env | steps/s | agent-steps/s | steps/s vs PG-Coevolve |", "|---|---:|---:|---:|"]
    lines += [f"| {r['name']} | {r['steps_per_s']:,.0f} | {r['agent_steps_per_s']:,.0f} | {r['ratio_to_coevolve']:.3f} |"
              for r in result["rows"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--min-seconds", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256, help="societies in the SocietyBatch row")
    parser.add_argument("--json", default=None, help="write the result here")
    args = parser.parse_args()
    result = measure(args.min_seconds, args.repeats, args.batch)
    print(table(result))
    print(f"load average: {result['load_average']}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
