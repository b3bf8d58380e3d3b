"""Offline RL end to end: datasets of a behaviour policy, BC and IQL trained from them, tested like the RL table.

For every challenge this script

1. writes the Minari dataset ``progressgym/<challenge>/<policy>-v0`` (``--episodes`` episodes of
   ``--policy`` on procedural training histories, env seeds 0..N-1) into ``--data-root`` and times it
   against an anchor timed in the same run: the same policy playing the same seeds without recording
   (write speed in episodes/s, and the ratio recording/plain);
2. trains each of ``--algos`` (bc, iql, cql) for each ``--seeds`` with :func:`agents.offline.training.train_offline`
   (selection on the dataset's validation histories, env seeds 10000..10099);
3. tests the selected actor on the corpus (env seeds 1000..1009) and the held-out procedural test histories
   (env seeds 100000..100099) with the batched exact-mode evaluator, exactly as ``benchmarks/rl_recipe.py``
   tests the online recipes, and scores the behaviour policy itself on the same test seeds;
4. writes ``OUT/datasets.json``, ``OUT/behaviour.json``, ``OUT/runs/offline-<algo>__<challenge>__seed<k>.json``
   (skipped when present: the script resumes) and ``OUT/table.md``: each cell the mean normalised score with
   the 95% CI of ``benchmarks/rl_report.py`` (over training seeds for a trained agent, over test episodes for a
   fixed policy), beside the online baselines and the shipped trained agent from ``benchmarks/results/rl``.

    nice -n 10 python benchmarks/offline_recipe.py --challenges follow,predict2 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from rl_recipe import CORPUS_EPISODES, CORPUS_FIRST_SEED, PROCEDURAL_EPISODES
from rl_report import recipe_cell, t_ci

from agents.train import TEST_FIRST_SEED
from progressgym_env.common.atomic import atomic_write_text

TEST_SETS = (("corpus", CORPUS_FIRST_SEED, CORPUS_EPISODES), ("procedural", TEST_FIRST_SEED, PROCEDURAL_EPISODES))


def write_timed_dataset(challenge: str, policy: str, episodes: int) -> dict[str, Any]:
    """Write the challenge's dataset (if absent) and time it against plain rollouts of the same episodes."""
    import gymnasium as gym
    import minari

    from agents.offline.behaviour import make_behaviour_policy
    from agents.offline.datasets import DatasetConfig, dataset_path, write_dataset

    config = DatasetConfig(challenge=challenge, policy=policy, episodes=episodes, progress=False)
    assert config.dataset_id is not None
    env_id, kwargs = config.env_spec()
    env = gym.make(env_id, **kwargs)
    agent = make_behaviour_policy(policy, env)
    start = time.perf_counter()
    for seed in config.seeds():  # the anchor: the same episodes, not recorded
        obs, _ = env.reset(seed=seed)
        agent.reset(seed=seed)
        done = False
        while not done:
            obs, _, terminated, truncated, _ = env.step(agent.act(obs))
            done = terminated or truncated
    plain = time.perf_counter() - start
    config.overwrite = True
    start = time.perf_counter()
    path = write_dataset(config)
    seconds = time.perf_counter() - start
    dataset = minari.load_dataset(config.dataset_id)
    size = sum(f.stat().st_size for f in dataset_path(config.dataset_id).rglob("*") if f.is_file())
    return {"dataset_id": config.dataset_id, "path": str(path), "episodes": episodes,
            "transitions": int(dataset.total_steps), "bytes": size, "write_seconds": round(seconds, 2),
            "episodes_per_s": round(episodes / seconds, 1), "plain_rollout_seconds": round(plain, 2),
            "recording_over_plain": round(seconds / plain, 1)}


def policy_test_scores(policy: Any, challenge: str, env_kwargs: dict[str, Any] | None = None) -> dict[str, list[float]]:
    """Normalised scores of a batched policy (``predict``) on the corpus and procedural test seeds."""
    from agents.train import evaluate_policy_on_seeds
    from progressgym_env.registry import variant

    spec = variant(challenge)
    scores = {}
    for history, first, count in TEST_SETS:
        kwargs = {**spec.kwargs, **(env_kwargs or {}), "history": history}
        _, normalized = evaluate_policy_on_seeds(policy, spec.env_id, kwargs, list(range(first, first + count)))
        scores[history] = [round(float(s), 6) for s in normalized]
    return scores


def behaviour_test_scores(policy: str, challenge: str) -> dict[str, list[float]]:
    """The behaviour policy's own normalised scores on the same test seeds (episode by episode)."""
    import gymnasium as gym

    from agents.offline.behaviour import make_behaviour_policy
    from progressgym_env.episode import run_episode
    from progressgym_env.registry import variant

    spec = variant(challenge)
    scores = {}
    for history, first, count in TEST_SETS:
        env = gym.make(spec.env_id, **spec.kwargs, history=history)
        agent = make_behaviour_policy(policy, env)
        scores[history] = [round(run_episode(env, agent, s).normalized_score, 6) for s in range(first, first + count)]
    return scores


def run_one(algo: str, challenge: str, seed: int, dataset_id: str, args: argparse.Namespace) -> dict[str, Any]:
    from agents.offline.training import ActorPolicy, OfflineConfig, build_actor, train_offline

    out = Path(args.runs_dir) / challenge / algo / f"seed{seed}"
    config = OfflineConfig(dataset=dataset_id, algo=algo, steps=args.steps, hidden=tuple(args.hidden), seed=seed,
                           eval_every=args.eval_every, out=str(out), progress=False)
    record = train_offline(config)
    import torch

    actor = build_actor(record["obs_dim"], record["act_dim"], tuple(record["hidden"]))
    actor.load_state_dict(torch.load(out / "policy.pt", map_location="cpu", weights_only=True))
    return {"recipe": f"offline-{algo}", "algo": algo, "challenge": challenge, "seed": seed, "dataset": dataset_id,
            "total_timesteps": args.steps, "train_seconds": record["train_seconds"], "model_path": str(out / "policy.pt"),
            "validation": record["validation"], "test": policy_test_scores(ActorPolicy(actor), challenge)}


def cell(values: list[float]) -> str:
    mean, half = t_ci(values)
    return f"{mean:+.3f} ± {half:.3f}"


def markdown_table(out: Path, challenges: list[str], rl: Path) -> str:
    """Offline agents beside their behaviour policy, the online baselines and the shipped trained agent."""
    behaviour = json.loads((out / "behaviour.json").read_text(encoding="utf-8"))
    head = "| agent | " + " | ".join(f"{c} corpus | {c} procedural" for c in challenges) + " | seeds | grad steps | train s |"
    lines = [head, "|" + "---|" * (2 + 2 * len(challenges) + 2)]
    policy = next(iter(behaviour.values()))["policy"]
    lines.append(f"| behaviour policy `{policy}` (the data) | "
                 + " | ".join(cell(behaviour[c]["test"][h]) if c in behaviour else "–" for c in challenges
                              for h, _, _ in TEST_SETS) + " | – | – | – |")
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for path in sorted((out / "runs").glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        runs.setdefault(record["recipe"], {}).setdefault(record["challenge"], []).append(record)
    for recipe, by_challenge in runs.items():
        cells, seeds, seconds = [], set(), []
        for challenge in challenges:
            chosen = by_challenge.get(challenge, [])
            for history, _, _ in TEST_SETS:
                if not chosen:
                    cells.append("not run")
                    continue
                mean, half = recipe_cell(chosen, history)
                cells.append(f"**{mean:+.3f}** ± {half:.3f}")
            seeds.update(r["seed"] for r in chosen)
            seconds.extend(r["train_seconds"] for r in chosen)
        steps = sorted({r["total_timesteps"] for c in by_challenge.values() for r in c})
        lines.append(f"| {recipe} | " + " | ".join(cells) + f" | {len(seeds)} | {'/'.join(map(str, steps))} | "
                     f"{np.mean(seconds):.0f} |")
    baselines_path, shipped_path = rl / "baselines.json", rl / "shipped.json"
    if baselines_path.exists():
        baselines = json.loads(baselines_path.read_text(encoding="utf-8"))
        for name in ("static", "lifelong", "extrapolative-1", "extrapolative-2"):
            if name in baselines:
                lines.append(f"| {name} (online baseline) | " + " | ".join(
                    cell(baselines[name][c][h]) if c in baselines[name] else "–" for c in challenges
                    for h, _, _ in TEST_SETS) + " | – | – | – |")
    if shipped_path.exists():
        shipped = json.loads(shipped_path.read_text(encoding="utf-8"))
        lines.append("| trained (shipped online RL agent) | " + " | ".join(
            cell(shipped[c]["test"][h]) if c in shipped else "–" for c in challenges for h, _, _ in TEST_SETS)
            + " | – | – | – |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--challenges", default="follow,predict2")
    parser.add_argument("--policy", default="lifelong@eps=0.3", help="behaviour policy of the datasets")
    parser.add_argument("--episodes", type=int, default=500, help="episodes per dataset")
    parser.add_argument("--algos", default="bc,iql")
    parser.add_argument("--seeds", default="0,1,2", help="training seeds")
    parser.add_argument("--steps", type=int, default=3000, help="gradient steps per run")
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--hidden", default="64,64")
    parser.add_argument("--out", default="benchmarks/results/offline", help="result folder (JSON, kept in git)")
    parser.add_argument("--runs-dir", default="runs/offline", help="trained actors (not in git)")
    parser.add_argument("--data-root", default="runs/offline/minari", help="MINARI_DATASETS_PATH of the datasets")
    parser.add_argument("--rl", default="benchmarks/results/rl", help="the online RL table's results")
    args = parser.parse_args(argv)
    args.hidden = [int(h) for h in args.hidden.split(",") if h]
    os.environ["MINARI_DATASETS_PATH"] = str(Path(args.data_root).resolve())
    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    challenges = [c for c in args.challenges.split(",") if c]
    datasets = json.loads((out / "datasets.json").read_text()) if (out / "datasets.json").exists() else {}
    behaviour = json.loads((out / "behaviour.json").read_text()) if (out / "behaviour.json").exists() else {}
    for challenge in challenges:
        entry = datasets.get(challenge)
        if entry is None or entry.get("episodes") != args.episodes or not Path(entry["path"]).exists():
            datasets[challenge] = entry = write_timed_dataset(challenge, args.policy, args.episodes)
            atomic_write_text(out / "datasets.json", json.dumps(datasets, indent=1) + "\n")
        print(f"{challenge}: dataset {entry['dataset_id']} ({entry['transitions']} transitions, "
              f"{entry['bytes'] / 1e6:.1f} MB, {entry['episodes_per_s']} episodes/s)", flush=True)
        if challenge not in behaviour:
            behaviour[challenge] = {"policy": args.policy, "test": behaviour_test_scores(args.policy, challenge)}
            atomic_write_text(out / "behaviour.json", json.dumps(behaviour, indent=1) + "\n")
        for algo in [a for a in args.algos.split(",") if a]:
            for seed in [int(s) for s in args.seeds.split(",") if s]:
                path = out / "runs" / f"offline-{algo}__{challenge}__seed{seed}.json"
                if path.exists():
                    continue
                record = run_one(algo, challenge, seed, entry["dataset_id"], args)
                atomic_write_text(path, json.dumps(record, indent=1) + "\n")
                print(f"  {algo} seed {seed}: validation {record['validation']['best_mean']:+.3f}, corpus "
                      f"{np.mean(record['test']['corpus']):+.3f}, procedural {np.mean(record['test']['procedural']):+.3f}"
                      f" ({record['train_seconds']} s)", flush=True)
    table = markdown_table(out, challenges, Path(args.rl))
    atomic_write_text(out / "table.md", table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
