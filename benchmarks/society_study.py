"""The first PG-Society study: does competition among AIs speed or stall moral progress, and when does
adaptive usage lock groups in?

Grid: M in {1, 2, 4} AIs x G in {1, 8, 64} groups x fixed / adaptive usage (with one AI adaptive usage is
fixed usage, so M = 1 runs fixed only: 15 cells). Agents, each playing every AI with its own copy
(:mod:`agents.actors`, as ``progressgym benchmark`` does): ``static``, ``lifelong``, ``extrapolative-1``
and one parameter-shared PPO policy.

The PPO policy: SuperSuit's ``pettingzoo_env_to_vec_env_v1`` + SB3 PPO, one policy shared by every AI, trained
on procedural histories in the cell M = 2, G = 8, adaptive (``--train-timesteps`` agent-steps per
training seed, evaluated every ``--chunk`` steps); the checkpoint with the best mean normalised society
score on held-out procedural *validation* seeds (10000..) is kept. Only then is everything tested, on
the corpus history (seeds 0..n-1: its elicitation noise and the groups' starts) and on fresh procedural
test seeds (100000..). Reported per cell, agent and test set: the normalised society score, the
groups' final spread (1 - cosine to the society mean, weighted) and the mean lag behind history (in
centuries), as means with 95% Student t intervals over seeds.

Usage::

    nice -n 10 python benchmarks/society_study.py --out benchmarks/results/society_study
    python benchmarks/society_study.py --out /tmp/study --seeds 3 --train-timesteps 2048 --chunk 1024   # quick
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import progressgym_env  # noqa: F401  (registers the ids)
from agents.registry import make_agent
from progressgym_env import society
from progressgym_env.benchmark.leaderboard import t_interval
from progressgym_env.common.atomic import atomic_write_text
from progressgym_env.episode import run_episode
from progressgym_env.judges import judge_for_record

AIS, GROUPS, USAGES = (1, 2, 4), (1, 8, 64), ("fixed", "adaptive")
BASELINES = ("static", "lifelong", "extrapolative-1")
TRAIN_CELL = {"num_ais": 2, "num_groups": 8, "usage": "adaptive"}
VALIDATION_SEED, TEST_SEED = 10_000, 100_000


def cells() -> list[dict[str, Any]]:
    return [{"num_ais": m, "num_groups": g, "usage": u}
            for m in AIS for g in GROUPS for u in (USAGES if m > 1 else ("fixed",))]


def evaluate(agent_spec: str, cell: dict[str, Any], history: str, seeds: range) -> list[dict[str, float]]:
    """One episode per seed of ``agent_spec`` playing every AI of ``cell`` on ``history``."""
    env = gym.make("PG-Society-v0", history=history, **cell)
    agent = make_agent(agent_spec, env)
    out = []
    for seed in seeds:
        result = run_episode(env, agent, seed)
        record = result.episode_record
        diagnostics = judge_for_record(record).diagnostics(record)  # type: ignore[attr-defined]
        out.append({"normalized": result.normalized_score, "final_score": result.final_score,
                    "spread": diagnostics["final_spread"], "lag": diagnostics["mean_lag"]})
    env.close()
    return out


def train_ppo(out: Path, train_seeds: int, timesteps: int, chunk: int, validation: int) -> dict[str, Any]:
    """Train parameter-shared PPO on procedural histories; keep the best checkpoint on validation seeds."""
    import supersuit as ss
    from stable_baselines3 import PPO
    from stable_baselines3.common.utils import set_random_seed

    best: dict[str, Any] = {"validation": -np.inf}
    curve = []
    start = time.perf_counter()
    for train_seed in range(train_seeds):
        env = society.parallel_env(history="procedural", **TRAIN_CELL)
        vec = ss.concat_vec_envs_v1(ss.pettingzoo_env_to_vec_env_v1(env), 4, num_cpus=0, base_class="stable_baselines3")
        set_random_seed(train_seed)
        vec.venv.reset(seed=train_seed)  # training histories: procedural draws from this seed on
        model = PPO("MlpPolicy", vec, n_steps=128, batch_size=256, n_epochs=4, learning_rate=3e-4, seed=None,
                    device="cpu", verbose=0)
        for done in range(chunk, timesteps + 1, chunk):
            model.learn(chunk, reset_num_timesteps=False)
            path = out / f"ppo-seed{train_seed}-{done}.zip"
            model.save(path)
            scores = evaluate(f"ppo:{path}", TRAIN_CELL, "procedural", range(VALIDATION_SEED, VALIDATION_SEED + validation))
            value = float(np.mean([s["normalized"] for s in scores]))
            curve.append({"train_seed": train_seed, "timesteps": done, "validation_normalized": value})
            print(f"  ppo seed {train_seed} at {done} steps: validation normalized {value:+.3f}", flush=True)
            if value > best["validation"]:
                best = {"validation": value, "path": str(path), "train_seed": train_seed, "timesteps": done}
        vec.close()
    best["curve"] = curve
    best["train_seconds"] = time.perf_counter() - start
    return best


def summarise(rows: list[dict[str, float]]) -> dict[str, list[float]]:
    return {key: list(t_interval([r[key] for r in rows])) for key in ("normalized", "final_score", "spread", "lag")}


def markdown(result: dict[str, Any]) -> str:
    lines = ["| M | G | usage | agent | corpus normalized | procedural normalized | corpus final spread | corpus mean lag |",
             "|---:|---:|---|---|---:|---:|---:|---:|"]
    for entry in result["table"]:
        c, p = entry["corpus"], entry["procedural"]
        lines.append(
            f"| {entry['num_ais']} | {entry['num_groups']} | {entry['usage']} | {entry['agent']} | "
            f"{c['normalized'][0]:+.2f} ± {c['normalized'][1]:.2f} | {p['normalized'][0]:+.2f} ± {p['normalized'][1]:.2f} | "
            f"{c['spread'][0]:.4f} ± {c['spread'][1]:.4f} | {c['lag'][0]:.2f} ± {c['lag'][1]:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/society_study")
    parser.add_argument("--seeds", type=int, default=16, help="test seeds per test set")
    parser.add_argument("--validation", type=int, default=16, help="validation seeds per checkpoint")
    parser.add_argument("--train-seeds", type=int, default=2)
    parser.add_argument("--train-timesteps", type=int, default=24_576)
    parser.add_argument("--chunk", type=int, default=8192)
    parser.add_argument("--no-ppo", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    agents = {name: name for name in BASELINES}
    ppo: dict[str, Any] = {}
    if not args.no_ppo:
        ppo = train_ppo(out, args.train_seeds, args.train_timesteps, args.chunk, args.validation)
        agents["ppo-shared"] = f"ppo:{ppo['path']}"
    table = []
    for cell in cells():
        for label, spec in agents.items():
            entry: dict[str, Any] = {**cell, "agent": label}
            for history, first in (("corpus", 0), ("procedural", TEST_SEED)):
                entry[history] = summarise(evaluate(spec, cell, history, range(first, first + args.seeds)))
            table.append(entry)
            print(f"  M={cell['num_ais']} G={cell['num_groups']} {cell['usage']:8s} {label:16s} "
                  f"corpus {entry['corpus']['normalized'][0]:+.3f} procedural {entry['procedural']['normalized'][0]:+.3f}",
                  flush=True)
    result = {"args": vars(args), "ppo": ppo, "table": table, "seconds": time.perf_counter() - start}
    atomic_write_text(out / "results.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(out / "table.md", markdown(result) + "\n")
    print(markdown(result))


if __name__ == "__main__":
    main()
