"""Sim-to-real transfer of a calibration: do agents rank alike on the surrogates and on the real backend?

Three measurements, written to ``--json`` (re-running resumes: finished agents are kept, LLM episodes
are checkpointed century by century under ``--run-dir``):

1. **real**: PG-Follow on the llm backend (SmolLM2-135M-Instruct on CPU, ``humans="history"``, the
   settings of ``benchmarks/smollm2_calibrate.py``) on a short moral19 history (``--centuries``
   time steps of procedural-moral19 history ``--history-seed``: what a loaded CPU affords), one
   episode per agent;
2. **surrogates** on the same history: the default surrogate and the calibrated one
   (``--calibration``), ``--surrogate-seeds`` episodes per agent;
3. **ranking on full histories**: the default and the calibrated surrogate on ``--test-seeds`` fresh
   procedural-moral19 test histories (seeds from 100000, never trained or selected on).

Agents: the six baselines and any ``<algo>:<model.zip>`` given with ``--policies`` (e.g. a PPO
trained on the calibrated surrogate and one trained on the default surrogate). Reported: each
agent's mean ``final_score`` per backend, the gap surrogate - real, and the Spearman and Kendall rank
correlations of the agents between each pair of backends with 95% bootstrap CIs over agents.

    python benchmarks/calibration_transfer.py --run-dir runs/transfer --calibration smollm2-135m-instruct \\
        --policies ppo:runs/ppo-calibrated/model.zip --json transfer.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

BASELINES = ("static", "lifelong", "extrapolative-1", "extrapolative-2", "random", "oracle")
TEST_FIRST_SEED = 100_000


def short_history(path: Path, centuries: int, seed: int) -> str:
    """Write the first ``centuries`` steps of procedural-moral19 history ``seed`` to ``path`` (JSON)."""
    from progressgym_env.history import resolve_history
    from progressgym_env.trajectory import History, save_history

    full = resolve_history("procedural-moral19").sample(np.random.default_rng(seed))
    history = History(np.array(full.values[:centuries]), full.value_space, tuple(full.centuries[:centuries]),
                      {"source": f"procedural-moral19 seed {seed}, first {centuries} centuries"})
    save_history(history, path)
    return str(path)


def episode(env: Any, agent_name: str, seed: int) -> float:
    """One episode of ``agent_name``; its final_score."""
    from agents.registry import make_agent

    agent = make_agent(agent_name, env.unwrapped)
    obs, _ = env.reset(seed=seed)
    agent.reset(seed=seed)
    while True:
        obs, _, terminated, _, info = env.step(agent.act(obs))
        if terminated:
            return float(info["final_score"])


def surrogate_scores(agent: str, history: str, config: Any, seeds: range) -> list[float]:
    import gymnasium as gym

    env = gym.make("PG-Follow-v0", history=history, backend_config=config)
    try:
        return [episode(env, agent, seed) for seed in seeds]
    finally:
        env.close()


def real_score(agent: str, history: str, run_dir: Path) -> dict[str, Any]:
    import gymnasium as gym

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from smollm2_calibrate import smollm2_config

    from progressgym_env.llm.config import LLMConfig

    safe = agent.replace(":", "_").replace("/", "_")
    config = LLMConfig.from_any({**smollm2_config(1), "run_dir": str(run_dir / safe)})
    env = gym.make("PG-Follow-v0", history=history, backend="llm", backend_config=config)
    started = time.perf_counter()
    try:
        score = episode(env, agent, 0)
    finally:
        env.close()
    return {"final_score": score, "seconds": time.perf_counter() - started}


def rank_correlations(a: list[float], b: list[float], reps: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Spearman and Kendall of two score lists over the same agents, with 95% bootstrap CIs over agents."""
    from scipy.stats import kendalltau, spearmanr

    x, y = np.asarray(a), np.asarray(b)
    out: dict[str, Any] = {}
    rng = np.random.default_rng(seed)
    for name, fn in (("spearman", spearmanr), ("kendall", kendalltau)):
        point = float(fn(x, y)[0])
        draws = []
        for _ in range(reps):
            idx = rng.integers(0, len(x), len(x))
            if np.ptp(x[idx]) > 0 and np.ptp(y[idx]) > 0:
                draws.append(float(fn(x[idx], y[idx])[0]))
        low, high = (np.nanpercentile(draws, [2.5, 97.5]) if draws else (np.nan, np.nan))
        out[name] = {"value": point, "ci95": [float(low), float(high)]}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--calibration", default="smollm2-135m-instruct")
    parser.add_argument("--policies", nargs="*", default=[], help="extra agents, e.g. ppo:runs/x/model.zip")
    parser.add_argument("--labels", nargs="*", default=[], help="names of --policies in the report")
    parser.add_argument("--centuries", type=int, default=3)
    parser.add_argument("--history-seed", type=int, default=0)
    parser.add_argument("--surrogate-seeds", type=int, default=50)
    parser.add_argument("--test-seeds", type=int, default=100)
    parser.add_argument("--skip-real", action="store_true", help="surrogates only (no llm episodes)")
    parser.add_argument("--skip-surrogates", action="store_true", help="llm episodes only (no calibration needed)")
    parser.add_argument("--agents", nargs="*", default=None,
                        help="run only these (names or --labels; default: the baselines and --policies)")
    parser.add_argument("--real-from", nargs="*", default=[],
                        help="reports of parallel --skip-surrogates runs whose llm episodes to take over")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", required=True)
    args = parser.parse_args(argv)
    import torch

    import progressgym_env  # noqa: F401
    from progressgym_env.common.atomic import atomic_write_text

    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    history = short_history(run_dir / "history.json", args.centuries, args.history_seed)
    labels = dict(zip(args.policies, args.labels or args.policies, strict=False))
    agents = list(BASELINES) + list(args.policies)
    if args.agents is not None:
        wanted = set(args.agents)
        agents = [a for a in agents if a in wanted or labels.get(a) in wanted]
    out = Path(args.json)
    report: dict[str, Any] = json.loads(out.read_text()) if out.is_file() else {}
    report["args"] = vars(args)
    results: dict[str, Any] = report.setdefault("agents", {})
    for other in args.real_from:  # llm episodes run in parallel processes
        for name, row in json.loads(Path(other).read_text()).get("agents", {}).items():
            if "real" in row:
                results.setdefault(name, {"agent": row["agent"]})["real"] = row["real"]
    calibrated = {"calibration": args.calibration}
    for agent in agents:
        row = results.setdefault(labels.get(agent, agent), {"agent": agent})
        if "default_short" not in row and not args.skip_surrogates:
            started = time.process_time()
            row["default_short"] = float(np.mean(surrogate_scores(agent, history, None, range(args.surrogate_seeds))))
            row["calibrated_short"] = float(np.mean(surrogate_scores(agent, history, calibrated,
                                                                     range(args.surrogate_seeds))))
            test = range(TEST_FIRST_SEED, TEST_FIRST_SEED + args.test_seeds)
            row["default_full"] = float(np.mean(surrogate_scores(agent, "procedural-moral19", None, test)))
            row["calibrated_full"] = float(np.mean(surrogate_scores(agent, "procedural-moral19", calibrated, test)))
            row["surrogate_cpu_s"] = time.process_time() - started
            atomic_write_text(out, json.dumps(report, indent=2))
        if not args.skip_real and "real" not in row:
            print(f"{agent}: llm episode", flush=True)
            row["real"] = real_score(agent, history, run_dir)
            atomic_write_text(out, json.dumps(report, indent=2))
        print(f"{agent}: {json.dumps({k: v for k, v in row.items() if k != 'agent'})}", flush=True)
    names = [n for n in results if "default_short" in results[n]]
    if not names:
        return 0
    column = {key: [results[n][key] for n in names] for key in ("default_short", "calibrated_short",
                                                                "default_full", "calibrated_full")}
    correlations: dict[str, Any] = {
        "default_vs_calibrated_full": rank_correlations(column["default_full"], column["calibrated_full"]),
    }
    real_names = [n for n in names if "real" in results[n]]
    if len(real_names) >= 3:
        real = [results[n]["real"]["final_score"] for n in real_names]
        for key in ("default_short", "calibrated_short"):
            scores = [results[n][key] for n in real_names]
            correlations[f"{key.split('_')[0]}_vs_real"] = rank_correlations(scores, real)
            for n, s, r in zip(real_names, scores, real, strict=True):
                results[n][f"gap_{key.split('_')[0]}"] = s - r
    report["correlations"] = correlations
    atomic_write_text(out, json.dumps(report, indent=2))
    print(markdown(results, correlations))
    return 0


def markdown(results: dict[str, Any], correlations: dict[str, Any]) -> str:
    """The transfer table and the rank correlations as markdown."""
    lines = ["| agent | default (short) | calibrated (short) | real: llm SmolLM2 | gap default - real | "
             "gap calibrated - real | llm wall s | default (full) | calibrated (full) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, row in results.items():
        real = row.get("real")
        cells = [f"{row['default_short']:.4f}", f"{row['calibrated_short']:.4f}",
                 f"{real['final_score']:.4f}" if real else "not run",
                 f"{row['gap_default']:+.4f}" if "gap_default" in row else "—",
                 f"{row['gap_calibrated']:+.4f}" if "gap_calibrated" in row else "—",
                 f"{real['seconds']:.0f}" if real else "—",
                 f"{row['default_full']:.4f}", f"{row['calibrated_full']:.4f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "| rank correlation of agents | Spearman [95% CI] | Kendall [95% CI] |", "|---|---|---|"]
    for key, value in correlations.items():
        sp, kd = value["spearman"], value["kendall"]
        lines.append(f"| {key} | {sp['value']:+.2f} [{sp['ci95'][0]:+.2f}, {sp['ci95'][1]:+.2f}] | "
                     f"{kd['value']:+.2f} [{kd['ci95'][0]:+.2f}, {kd['ci95'][1]:+.2f}] |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
