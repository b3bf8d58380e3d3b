"""The RL recipe end to end: train each algorithm on procedural histories, select on validation, test, ship.

For every recipe x challenge x training seed this script

1. trains with :func:`agents.train.train` (procedural histories only; the best checkpoint on the
   procedural validation histories, env seeds 10000..10099, is kept; the validation curve goes to
   ``evaluations.json`` and, offline, to wandb, grouped ``<recipe>/<challenge>``);
2. tests the selected model on the corpus history (env seeds 1000..1009) and on held-out
   procedural histories (env seeds 100000..100099), with the batched exact-mode evaluator, which
   gives what ``progressgym benchmark --first-seed`` gives for those seeds;
3. writes ``OUT/runs/<recipe>__<challenge>__seed<k>.json`` (skipped when it exists: the script
   resumes).

It also scores the hand-written baselines on the same test seeds (``OUT/baselines.json``) and, with
``--ship``, copies per challenge the run with the best *validation* score (never a test score) into
``agents/trained/<challenge>/`` as the ``trained`` agent. ``benchmarks/rl_report.py`` turns the
JSON files into the table and the learning-curve figure of ``benchmarks/README.md``.

    nice -n 10 python benchmarks/rl_recipe.py --recipes ppo-hist4 --seeds 0,1,2 --ship ppo-hist4
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agents.sb3_agent import RECURRENT, algo_class, residual_scale_of
from agents.train import TEST_FIRST_SEED, VALIDATION_FIRST_SEED, TrainConfig, evaluate_policy_on_seeds, train
from progressgym_env.benchmark.challenges import CHALLENGES
from progressgym_env.common.atomic import atomic_write_text

CORPUS_FIRST_SEED = 1000
CORPUS_EPISODES = 10
PROCEDURAL_EPISODES = 100
BASELINES = ("static", "lifelong", "extrapolative-1", "extrapolative-2")
MAIN_CHALLENGES = ("follow", "predict1", "predict2", "coevolve")


@dataclass(frozen=True)
class Recipe:
    """One row of the results table: an algorithm, its observation and its training budget.

    :param label: the row's name. :param algo: the SB3 algorithm.
    :param env_kwargs: training-env kwargs over the YAML's (e.g. ``{"obs_history": 1}``).
    :param timesteps: env steps per training run.
    :param hyperparams: a zoo-style YAML other than ``agents/hyperparams/<algo>.yml``, or None.
    """

    label: str
    algo: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    timesteps: int = 500_000
    hyperparams: str | None = None


RECIPES: dict[str, Recipe] = {
    r.label: r
    for r in (
        Recipe("ppo-hist4", "ppo", {}, 1_000_000),
        Recipe("ppo-residual", "ppo", {}, 1_000_000, "agents/hyperparams/ppo_residual.yml"),
        Recipe("ppo", "ppo", {"obs_history": 1}, 1_000_000),
        Recipe("recurrentppo", "recurrentppo", {}, 300_000),
        Recipe("a2c", "a2c", {}, 1_000_000),
        Recipe("sac", "sac", {}, 60_000),
        Recipe("td3", "td3", {}, 60_000),
    )
}
"""The recipes of the table (PPO with and without the history in the observation, PPO with residual actions
on the lifelong baseline, RecurrentPPO, A2C, SAC, TD3) and their budgets, sized for a shared 2-core machine."""


def run_path(out: Path, label: str, challenge: str, seed: int) -> Path:
    """The result file of one run."""
    return out / "runs" / f"{label}__{challenge}__seed{seed}.json"


def test_scores(
    model_path: Path, algo: str, challenge: str, obs_history: int, residual_scale: float | None = None
) -> dict[str, list[float]]:
    """Normalised scores of the saved model on the corpus and the held-out procedural test seeds."""
    model = algo_class(algo).load(str(model_path), device="cpu")
    spec = CHALLENGES[challenge]
    kwargs = {**spec.kwargs, "obs_history": obs_history}
    scores = {}
    for history, first, count in (("corpus", CORPUS_FIRST_SEED, CORPUS_EPISODES),
                                  ("procedural", TEST_FIRST_SEED, PROCEDURAL_EPISODES)):
        seeds = list(range(first, first + count))
        _, normalized = evaluate_policy_on_seeds(model, spec.env_id, {**kwargs, "history": history}, seeds,
                                                 recurrent=algo in RECURRENT, residual_scale=residual_scale)
        scores[history] = [round(float(s), 6) for s in normalized]
    return scores


def run_one(recipe: Recipe, challenge: str, seed: int, out: Path, runs_dir: Path, scale: float, track: bool) -> dict:
    """Train, select and test one run; write and return its result dict."""
    timesteps = max(1024, int(recipe.timesteps * scale))
    config = TrainConfig(
        algo=recipe.algo, env=challenge, env_kwargs=dict(recipe.env_kwargs), total_timesteps=timesteps, seed=seed,
        label=recipe.label, hyperparams=recipe.hyperparams, track=track,
        out=str(runs_dir / recipe.label / challenge / f"seed{seed}"),
    )
    start = time.perf_counter()
    result = train(config)
    saved = json.loads(result.model_path.with_name("config.json").read_text(encoding="utf-8"))
    obs_history = int(saved["train_env_kwargs"].get("obs_history", 1) or 1)
    residual_scale = residual_scale_of(saved)
    record = {
        "recipe": recipe.label, "algo": recipe.algo, "challenge": challenge, "seed": seed,
        "total_timesteps": timesteps, "train_seconds": round(result.train_seconds, 1),
        "model_path": str(result.model_path), "obs_history": obs_history, "residual_scale": residual_scale,
        "validation": {k: v for k, v in result.validation.items() if k != "scores"},
        "test": test_scores(result.model_path, recipe.algo, challenge, obs_history, residual_scale),
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    path = run_path(out, recipe.label, challenge, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    return record


def baseline_scores(out: Path) -> dict:
    """The hand-written baselines on the same test seeds (``OUT/baselines.json``)."""
    import gymnasium as gym

    from agents import make_agent
    from progressgym_env.episode import run_episode

    table: dict[str, Any] = {}
    for challenge in MAIN_CHALLENGES:
        spec = CHALLENGES[challenge]
        for history, first, count in (("corpus", CORPUS_FIRST_SEED, CORPUS_EPISODES),
                                      ("procedural", TEST_FIRST_SEED, PROCEDURAL_EPISODES)):
            env = gym.make(spec.env_id, **spec.kwargs, history=history)
            for name in BASELINES:
                agent = make_agent(name, env)
                scores = [run_episode(env, agent, s).normalized_score for s in range(first, first + count)]
                table.setdefault(name, {}).setdefault(challenge, {})[history] = [round(float(s), 6) for s in scores]
                table[name]["label"] = agent.name
            env.close()
    atomic_write_text(out / "baselines.json", json.dumps(table, indent=1) + "\n")
    return table


def _scores_of(policy: Any, challenge: str, obs_history: int, history: str, first: int, count: int,
               residual_scale: float | None = None) -> list[float]:
    spec = CHALLENGES[challenge]
    kwargs = {**spec.kwargs, "obs_history": obs_history, "history": history}
    _, normalized = evaluate_policy_on_seeds(policy, spec.env_id, kwargs, list(range(first, first + count)),
                                             residual_scale=residual_scale)
    return [round(float(s), 6) for s in normalized]


def validation_median(record: dict[str, Any]) -> float:
    """Median over the validation histories of a run's selected checkpoint."""
    curve = json.loads(Path(record["model_path"]).with_name("evaluations.json").read_text(encoding="utf-8"))
    return float(np.median(curve["scores"][curve["timesteps"].index(curve["best_timestep"])]))


def ship(out: Path, labels: list[str], challenges: list[str], target: Path) -> list[str]:
    """Ship per challenge the candidate with the best *validation* median into ``target/<challenge>/``.

    Candidates: every run of ``labels``, and for a non-recurrent recipe with several seeds the
    ensemble of its seeds' models (mean action, :class:`agents.sb3_agent.EnsemblePolicy`), scored on
    the same validation histories. Candidates are ranked by the median of their validation scores,
    not the mean: Coevolve's normalised score is heavy-tailed (one validation history gives TD3
    +2876), so its mean ranks a policy whose median is -9.7 first. The shipped agent's test scores go
    to ``OUT/shipped.json``.
    """
    from agents.sb3_agent import EnsemblePolicy

    lines, shipped_scores = [], {}
    for challenge in challenges:
        candidates = []
        for path in sorted((out / "runs").glob(f"*__{challenge}__seed*.json")):
            record = json.loads(path.read_text(encoding="utf-8"))
            if record["recipe"] in labels:
                candidates.append(record)
        if not candidates:
            lines.append(f"{challenge}: no run of {labels} to ship")
            continue
        for record in candidates:
            record["validation_median"] = validation_median(record)
        best = max(candidates, key=lambda r: r["validation_median"])
        members = [r for r in candidates if r["recipe"] == best["recipe"]]
        choice: dict[str, Any] = {f"{r['recipe']}/seed{r['seed']}": r["validation_median"] for r in candidates}
        ensemble = None
        if len(members) > 1 and best["algo"] not in RECURRENT:
            ensemble = EnsemblePolicy([algo_class(best["algo"]).load(r["model_path"], device="cpu") for r in members])
            first, count = VALIDATION_FIRST_SEED, 100
            value = float(np.median(_scores_of(ensemble, challenge, best["obs_history"], "procedural", first, count,
                                               best.get("residual_scale"))))
            choice[f"{best['recipe']}/ensemble-of-{len(members)}-seeds"] = value
            if value <= best["validation_median"]:
                ensemble = None
        folder = target / challenge
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        model = Path(best["model_path"])
        shutil.copyfile(model, folder / "model.zip")
        config = json.loads(model.with_name("config.json").read_text(encoding="utf-8"))
        config["shipped"] = {
            "selected_by": "best median normalized score on the procedural validation histories (env seeds "
                           f"{VALIDATION_FIRST_SEED}..{VALIDATION_FIRST_SEED + 99})",
            "candidates": choice, "recipe": best["recipe"], "seed": best["seed"],
        }
        policy: Any = algo_class(best["algo"]).load(str(folder / "model.zip"), device="cpu")
        what = f"{best['recipe']} seed {best['seed']}"
        if ensemble is not None:
            names = []
            for r in members:
                name = f"model-seed{r['seed']}.zip"
                shutil.copyfile(r["model_path"], folder / name)
                names.append(name)
            config["shipped"]["ensemble"] = names
            config["shipped"]["seed"] = None
            policy, what = ensemble, f"{best['recipe']} ensemble of seeds {[r['seed'] for r in members]}"
        atomic_write_text(folder / "config.json", json.dumps(config, indent=2, default=str) + "\n")
        test = {history: _scores_of(policy, challenge, best["obs_history"], history, first, count,
                                    best.get("residual_scale"))
                for history, first, count in (("corpus", CORPUS_FIRST_SEED, CORPUS_EPISODES),
                                              ("procedural", TEST_FIRST_SEED, PROCEDURAL_EPISODES))}
        shipped_scores[challenge] = {"what": what, "validation_median": max(choice.values()), "candidates": choice,
                                     "test": test}
        lines.append(f"{challenge}: shipped {what} (validation median {max(choice.values()):+.3f}; test corpus "
                     f"{np.mean(test['corpus']):+.3f}, procedural {np.mean(test['procedural']):+.3f})")
    previous = json.loads((out / "shipped.json").read_text()) if (out / "shipped.json").exists() else {}
    atomic_write_text(out / "shipped.json", json.dumps({**previous, **shipped_scores}, indent=1) + "\n")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", default="ppo-hist4", help=f"comma-separated, from {', '.join(RECIPES)}")
    parser.add_argument("--challenges", default=",".join(MAIN_CHALLENGES))
    parser.add_argument("--seeds", default="0,1,2", help="training seeds")
    parser.add_argument("--out", default="benchmarks/results/rl", help="result folder (JSON, kept in git)")
    parser.add_argument("--runs-dir", default="runs/rl", help="training outputs (models, wandb; not in git)")
    parser.add_argument("--timesteps-scale", type=float, default=1.0, help="multiply every recipe's budget")
    parser.add_argument("--no-track", action="store_true", help="no wandb runs")
    parser.add_argument("--baselines", action="store_true", help="(re)compute baselines.json")
    parser.add_argument("--ship", default="", help="recipes to ship from (best validation run per challenge)")
    parser.add_argument("--ship-to", default="agents/trained")
    args = parser.parse_args(argv)
    out, runs_dir = Path(args.out), Path(args.runs_dir)
    out.mkdir(parents=True, exist_ok=True)
    challenges = [c for c in args.challenges.split(",") if c]
    if args.baselines or not (out / "baselines.json").exists():
        baseline_scores(out)
    for label in [r for r in args.recipes.split(",") if r]:
        recipe = RECIPES[label]
        for challenge in challenges:
            for seed in [int(s) for s in args.seeds.split(",") if s]:
                if run_path(out, label, challenge, seed).exists():
                    continue
                record = run_one(recipe, challenge, seed, out, runs_dir, args.timesteps_scale, not args.no_track)
                print(f"{label} {challenge} seed {seed}: {record['total_timesteps']} steps {record['train_seconds']} s, "
                      f"validation {record['validation']['best_mean']:+.3f}, corpus "
                      f"{np.mean(record['test']['corpus']):+.3f}, procedural {np.mean(record['test']['procedural']):+.3f}",
                      flush=True)
    if args.ship:
        for line in ship(out, [s for s in args.ship.split(",") if s], challenges, Path(args.ship_to)):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
