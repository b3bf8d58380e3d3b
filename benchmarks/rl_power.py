"""Evaluation with power: every agent on 1,000 validation, 1,000 fresh test and 1,000 corpus episodes.

The splits (env seeds; a procedural history is drawn from its env seed):

============  =====================  ================================================================
split         env seeds              used for
============  =====================  ================================================================
validation    procedural 10000+      re-selecting the shipped agent (training's checkpoint selection
                                     used the first 100 of them)
test          procedural 200000+     the table only: fresh, no training run, selection or earlier
                                     report used them
corpus        the corpus, 1000+      the table only (the real history: never in training/selection)
============  =====================  ================================================================

Training histories come from one generator per run seeded by the run seed (``agents.vec_env``, seeds
0..9 here), a stream of its own. The agents:

- the hand-written baselines (``static``, ``lifelong``, ``extrapolative-1``, ``extrapolative-2``),
  one :func:`~progressgym_env.episode.run_episode` per seed;
- ``trained``: the shipped agent of ``agents/trained/<challenge>/`` (its model, or its ensemble's mean
  action), batched through the native vector env in exact mode (:func:`agents.train.evaluate_policy_on_seeds`,
  the episodes ``progressgym benchmark`` runs for those seeds);
- ``<recipe>/seed<k>``: every training run recorded by ``benchmarks/rl_recipe.py`` under ``--runs``
  whose model is still on disk, and ``<recipe>/ensemble``: the mean action of a recipe's seeds.

It writes ``OUT/scores/<challenge>.json`` (per split: the seeds, each episode's lock-in and
reference scores, each agent's normalised score per episode) and, for re-selection, ``OUT/selection.json``:
per challenge every candidate's validation score (normalisation of the mean,
:func:`progressgym_env.benchmark.aggregate.normalized_mean`), the winner, and the paired bootstrap CI
of its margin over the shipped agent. ``--ship`` replaces the shipped agent only when that CI lies above
0. ``benchmarks/rl_report.py --power`` turns the scores into the rliable table and figures.

    python benchmarks/rl_power.py --runs benchmarks/results/rl/power --out benchmarks/results/rl/power --ship
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from agents.sb3_agent import (
    RECURRENT,
    EnsemblePolicy,
    algo_class,
    obs_history_of,
    residual_scale_of,
    saved_config,
)
from agents.train import TEST_FIRST_SEED, VALIDATION_FIRST_SEED, evaluate_policy_on_seeds
from progressgym_env.benchmark.aggregate import final_scores_of, normalized_mean
from progressgym_env.benchmark.challenges import CHALLENGES
from progressgym_env.common.atomic import atomic_write_text
from progressgym_env.common.fingerprint import file_fingerprint, json_fingerprint
from progressgym_env.errors import ConfigError

EPISODES = 1000
POWER_TEST_FIRST_SEED = 200_000
"""First env seed of the fresh procedural test histories (after the earlier reports' 100000..100099)."""
CORPUS_FIRST_SEED = 1000
SPLITS: dict[str, tuple[str, int]] = {
    "validation": ("procedural", VALIDATION_FIRST_SEED),
    "test": ("procedural", POWER_TEST_FIRST_SEED),
    "corpus": ("corpus", CORPUS_FIRST_SEED),
}
"""split -> (history, first env seed); each split has EPISODES consecutive seeds."""
SELECTION_SPLITS = ("validation",)
"""The only split selection reads."""
BASELINES = ("static", "lifelong", "extrapolative-1", "extrapolative-2")
MAIN_CHALLENGES = ("follow", "predict1", "predict2", "coevolve")
SHIPPED = "trained"


EARLIER_TEST_SEEDS = range(TEST_FIRST_SEED, TEST_FIRST_SEED + 100)
"""The procedural test seeds of the earlier reports (``rl_recipe.py``, ``progressgym benchmark --first-seed``)."""


def split_seeds(split: str, episodes: int = EPISODES) -> list[int]:
    """The env seeds of ``split``."""
    first = SPLITS[split][1]
    return list(range(first, first + episodes))


def check_split_seeds(episodes: int = EPISODES) -> None:
    """Refuse procedural splits that share an env seed (so a history), or a test split that reuses earlier test seeds."""
    seen: dict[int, str] = {}
    for split, (history, _) in SPLITS.items():
        if history != "procedural":
            continue
        for seed in split_seeds(split, episodes):
            if seed in seen:
                raise ConfigError(f"the {split} and {seen[seed]} splits share env seed {seed}: use fewer episodes "
                                  f"(got {episodes}) or move a split's first seed")
            seen[seed] = split
        if split != "validation" and set(split_seeds(split, episodes)) & set(EARLIER_TEST_SEEDS):
            raise ConfigError(f"the {split} split reuses the earlier reports' test seeds {EARLIER_TEST_SEEDS}: "
                              "they are not fresh")


def references(challenge: str, history: str, seeds: list[int]) -> tuple[list[float], list[float]]:
    """Each episode's (lock-in, reference) scores: they depend on its history (its env seed) only."""
    import gymnasium as gym

    import progressgym_env  # noqa: F401

    spec = CHALLENGES[challenge]
    env = gym.make(spec.env_id, **spec.kwargs, history=history)
    lock, ref = [], []
    for seed in seeds:
        env.reset(seed=seed)
        lock_in, reference = env.unwrapped.judge.reference_scores()  # type: ignore[attr-defined]
        lock.append(lock_in)
        ref.append(reference)
    env.close()
    return lock, ref


def baseline_episode_scores(name: str, challenge: str, history: str, seeds: list[int]) -> list[float]:
    """A hand-written baseline's normalised scores, one :func:`run_episode` per seed."""
    import gymnasium as gym

    from agents import make_agent
    from progressgym_env.episode import run_episode

    spec = CHALLENGES[challenge]
    env = gym.make(spec.env_id, **spec.kwargs, history=history)
    agent = make_agent(name, env)
    scores = [run_episode(env, agent, seed).normalized_score for seed in seeds]
    env.close()
    return scores


class Candidate:
    """A trained policy to score: an SB3 model or an ensemble, with its observation and action transform."""

    def __init__(self, name: str, policy: Any, obs_history: int, residual_scale: float | None, recurrent: bool,
                 source: dict[str, Any], files: list[Path]) -> None:
        self.name, self.policy, self.obs_history = name, policy, obs_history
        self.residual_scale, self.recurrent, self.source = residual_scale, recurrent, source
        self.key = json_fingerprint({"models": [file_fingerprint(f) for f in files], "obs_history": obs_history,
                                     "residual_scale": residual_scale})
        """What changes its scores: its model files' bytes and how it observes and acts."""

    def scores(self, challenge: str, history: str, seeds: list[int]) -> list[float]:
        spec = CHALLENGES[challenge]
        kwargs = {**spec.kwargs, "obs_history": self.obs_history, "history": history}
        _, normalized = evaluate_policy_on_seeds(self.policy, spec.env_id, kwargs, seeds, recurrent=self.recurrent,
                                                 residual_scale=self.residual_scale)
        return [float(s) for s in normalized]


def shipped_candidate(folder: Path) -> Candidate:
    """The agent shipped in ``folder`` (``model.zip`` + ``config.json``, maybe an ensemble)."""
    config = saved_config(folder / "model.zip")
    algo = config["algo"]
    members = (config.get("shipped") or {}).get("ensemble")
    paths = [folder / name for name in members] if members else [folder / "model.zip"]
    models = [algo_class(algo).load(str(p), device="cpu") for p in paths]
    policy = EnsemblePolicy(models) if members else models[0]
    return Candidate(SHIPPED, policy, obs_history_of(config), residual_scale_of(config), algo in RECURRENT,
                     {"shipped": config.get("shipped", {}).get("recipe"), "ensemble": members}, paths)


def run_candidates(runs_dir: Path, challenge: str) -> list[Candidate]:
    """Every recorded run of ``challenge`` whose model is on disk, and per recipe the ensemble of its seeds."""
    by_recipe: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    for path in sorted((runs_dir / "runs").glob(f"*__{challenge}__seed*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if not Path(record["model_path"]).is_file():
            print(f"skipped {path.name}: its model {record['model_path']} is not here", flush=True)
            continue
        model = algo_class(record["algo"]).load(record["model_path"], device="cpu")
        by_recipe.setdefault(record["recipe"], []).append((record, model))
    candidates = []
    for recipe, runs in by_recipe.items():
        first = runs[0][0]
        recurrent = first["algo"] in RECURRENT
        for record, model in runs:
            candidates.append(Candidate(f"{recipe}/seed{record['seed']}", model, record["obs_history"],
                                        record["residual_scale"], recurrent,
                                        {"model_path": record["model_path"], "recipe": recipe, "seed": record["seed"]},
                                        [Path(record["model_path"])]))
        if len(runs) > 1 and not recurrent:
            candidates.append(Candidate(f"{recipe}/ensemble", EnsemblePolicy([m for _, m in runs]), first["obs_history"],
                                        first["residual_scale"], False,
                                        {"recipe": recipe, "seeds": [r["seed"] for r, _ in runs],
                                         "model_paths": [r["model_path"] for r, _ in runs]},
                                        [Path(r["model_path"]) for r, _ in runs]))
    return candidates


def cached_scores(path: Path) -> dict[str, dict[str, tuple[str, list[float]]]]:
    """split -> agent -> (key, scores) of an earlier ``OUT/scores/<challenge>.json``; empty when absent or unreadable."""
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
        return {split: {agent: (data["keys"][agent], data["scores"][agent]) for agent in data["keys"]}
                for split, data in table["splits"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def score_challenge(challenge: str, runs_dir: Path, trained: Path, episodes: int,
                    cache: dict[str, dict[str, tuple[str, list[float]]]] | None = None) -> dict[str, Any]:
    """Every agent's per-episode normalised scores on every split of ``challenge``.

    :param cache: earlier scores (:func:`cached_scores`): an agent whose key (its model files' bytes, or the
        baseline's name, with the split's history and seeds) is unchanged is not run again.
    """
    candidates = [shipped_candidate(trained / challenge), *run_candidates(runs_dir, challenge)]
    table: dict[str, Any] = {"challenge": challenge, "episodes": episodes, "splits": {}, "sources": {}}
    for split, (history, _) in SPLITS.items():
        seeds = split_seeds(split, episodes)
        where = {"challenge": challenge, "history": history, "seeds": [seeds[0], len(seeds)]}
        old = (cache or {}).get(split, {})
        lock, ref = references(challenge, history, seeds)
        scores: dict[str, list[float]] = {}
        keys: dict[str, str] = {}
        runs: list[tuple[str, Any]] = [(name, name) for name in BASELINES] + [(c.name, c) for c in candidates]
        for name, agent in runs:
            keys[name] = json_fingerprint({**where, "agent": agent if isinstance(agent, str) else agent.key})
            if name in old and old[name][0] == keys[name]:
                scores[name] = old[name][1]
            elif isinstance(agent, str):
                scores[name] = baseline_episode_scores(agent, challenge, history, seeds)
            else:
                scores[name] = agent.scores(challenge, history, seeds)
        table["splits"][split] = {
            "history": history, "first_seed": seeds[0], "lock_in": lock, "reference": ref, "keys": keys,
            "scores": {name: [round(v, 6) for v in values] for name, values in scores.items()},
        }
    table["sources"] = {c.name: c.source for c in candidates}
    return table


def split_normalized_mean(split: dict[str, Any], agent: str) -> float:
    """An agent's normalisation of the mean over a split's episodes."""
    lock, ref = np.asarray(split["lock_in"]), np.asarray(split["reference"])
    return normalized_mean(final_scores_of(split["scores"][agent], lock, ref), lock, ref)


def paired_margin_ci(split: dict[str, Any], agent: str, other: str, reps: int = 2000) -> tuple[float, float, float]:
    """(margin, low, high) of ``agent``'s normalised mean over ``other``'s (:func:`rl_report.paired_margin`)."""
    from rl_report import paired_margin

    return paired_margin(split, agent, other, reps)


def select(table: dict[str, Any], reps: int = 2000) -> dict[str, Any]:
    """The best trained candidate on validation, and whether it beats the shipped agent there (CI above 0).

    :param reps: bootstrap replications of the margin's CI.
    """
    split = table["splits"]["validation"]
    trained_names = [n for n in split["scores"] if n not in BASELINES]
    values = {name: split_normalized_mean(split, name) for name in split["scores"]}
    best = max(trained_names, key=lambda n: values[n])
    best_baseline = max(BASELINES, key=lambda n: values[n])
    margin, low, high = paired_margin_ci(split, best, SHIPPED, reps) if best != SHIPPED else (0.0, 0.0, 0.0)
    return {
        "criterion": "normalisation of the mean over the validation histories (env seeds "
                     f"{split['first_seed']}..{split['first_seed'] + len(split['lock_in']) - 1})",
        "validation": {k: round(v, 6) for k, v in values.items()},
        "best": best, "best_baseline": best_baseline,
        "margin_over_shipped": [round(margin, 6), round(low, 6), round(high, 6)],
        "replace": best != SHIPPED and low > 0.0,
        "source": table["sources"].get(best, {}),
    }


def ship(challenge: str, choice: dict[str, Any], trained: Path) -> str:
    """Copy the re-selected run (or ensemble) into ``trained/<challenge>/`` with a config saying how it won."""
    source = choice["source"]
    paths = source.get("model_paths") or [source["model_path"]]
    folder = trained / challenge
    config = json.loads(Path(paths[0]).with_name("config.json").read_text(encoding="utf-8"))
    staging = folder.with_name(f".{challenge}.new")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    shutil.copyfile(paths[0], staging / "model.zip")
    shipped: dict[str, Any] = {
        "selected_by": choice["criterion"], "recipe": source["recipe"],
        "seed": source.get("seed"), "candidates": choice["validation"],
        "margin_over_previous": choice["margin_over_shipped"],
    }
    if len(paths) > 1:
        names = []
        for seed, path in zip(source["seeds"], paths, strict=True):
            name = f"model-seed{seed}.zip"
            shutil.copyfile(path, staging / name)
            names.append(name)
        shipped["ensemble"] = names
    config["shipped"] = shipped
    atomic_write_text(staging / "config.json", json.dumps(config, indent=2, default=str) + "\n")
    if folder.exists():
        shutil.rmtree(folder)
    staging.rename(folder)
    return f"{challenge}: shipped {choice['best']} (validation margin {choice['margin_over_shipped']})"


def record_earlier_tests(challenge: str, trained: Path, shipped_json: Path, what: str) -> None:
    """Score the newly shipped agent on the earlier reports' test seeds into ``shipped_json`` (``rl_recipe.py``'s
    ``shipped.json``: corpus 1000..1009, procedural 100000..100099), so that table's ``trained`` row stays true."""
    candidate = shipped_candidate(trained / challenge)
    test = {"corpus": candidate.scores(challenge, "corpus", list(range(CORPUS_FIRST_SEED, CORPUS_FIRST_SEED + 10))),
            "procedural": candidate.scores(challenge, "procedural", list(EARLIER_TEST_SEEDS))}
    table = json.loads(shipped_json.read_text(encoding="utf-8")) if shipped_json.is_file() else {}
    table[challenge] = {"what": what, "test": {k: [round(v, 6) for v in values] for k, values in test.items()}}
    atomic_write_text(shipped_json, json.dumps(table, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default="benchmarks/results/rl/power", help="folder with runs/*.json of rl_recipe.py")
    parser.add_argument("--out", default="benchmarks/results/rl/power")
    parser.add_argument("--challenges", default=",".join(MAIN_CHALLENGES))
    parser.add_argument("--episodes", type=int, default=EPISODES, help="episodes per split")
    parser.add_argument("--trained", default="agents/trained", help="the shipped agents")
    parser.add_argument("--ship", action="store_true", help="replace a shipped agent its re-selection beats")
    parser.add_argument("--earlier-shipped", default="benchmarks/results/rl/shipped.json",
                        help="the earlier table's record of the shipped agents, updated when one is replaced")
    args = parser.parse_args(argv)
    out, trained = Path(args.out), Path(args.trained)
    check_split_seeds(args.episodes)
    (out / "scores").mkdir(parents=True, exist_ok=True)
    selection: dict[str, Any] = {}
    for challenge in [c for c in args.challenges.split(",") if c]:
        cache = cached_scores(out / "scores" / f"{challenge}.json")
        table = score_challenge(challenge, Path(args.runs), trained, args.episodes, cache)
        atomic_write_text(out / "scores" / f"{challenge}.json", json.dumps(table) + "\n")
        selection[challenge] = select(table)
        choice = selection[challenge]
        print(f"{challenge}: best on validation {choice['best']} {choice['validation'][choice['best']]:+.4f}, "
              f"shipped {choice['validation'][SHIPPED]:+.4f}, margin {choice['margin_over_shipped']}", flush=True)
        if args.ship and choice["replace"]:
            print(ship(challenge, choice, trained), flush=True)
            record_earlier_tests(challenge, trained, Path(args.earlier_shipped),
                                 f"{choice['best']} (re-selected on validation by benchmarks/rl_power.py)")
    previous = json.loads((out / "selection.json").read_text()) if (out / "selection.json").exists() else {}
    atomic_write_text(out / "selection.json", json.dumps({**previous, **selection}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
