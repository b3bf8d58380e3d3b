"""Tables and learning curves of the RL recipe from the JSON files of ``benchmarks/rl_recipe.py``.

Writes ``OUT/table.md`` (every recipe and baseline x challenge: mean normalised score on the corpus
test seeds and on the held-out procedural test histories with 95% CIs, env steps, wall time) and
``OUT/learning_curves.png`` (validation score against env steps, mean over training seeds with a
min-max band, one panel per challenge, lifelong's validation score as a dashed line).

CIs: for a recipe, a Student-t interval over its training seeds, each seed contributing its mean over
the test episodes (the seed-to-seed spread is what a re-run would see); with one seed, over that
seed's episodes. For a baseline (deterministic given the seed), over the test episodes.

``OUT/earlier_rows.md`` holds table rows of an earlier session whose per-run records were lost (a
``.gitignore`` rule kept them out of git); a row there is shown, marked "(earlier run)", only for a recipe
that has no run record now.

With ``--power``, the statistics of "Deep RL at the edge of the statistical precipice" (Agarwal et al.,
2021; the ``rliable`` library) on the per-episode scores of ``benchmarks/rl_power.py``
(``OUT/scores/<challenge>.json``; 1,000 episodes per split), written to ``OUT/power_table.md``,
``OUT/power_stats.json`` and ``OUT/performance_profiles.png``:

- **normalised mean**: the normalisation of the mean score
  (:func:`progressgym_env.benchmark.aggregate.normalized_mean`), not the mean of per-episode ratios,
  which Coevolve's small, history-dependent reference span makes ill-conditioned;
- **IQM**: the interquartile mean of the per-episode normalised scores (robust to those ratios' tails);
- **P(improvement)**: rliable's probability of improvement, P(X > Y) from the Mann-Whitney U
  statistic, over the best baseline of the challenge, the one with the highest normalised mean on the
  *validation* split (so the test splits choose nothing);
- 95% stratified bootstrap CIs (percentile; episodes resampled within each challenge, rliable's
  ``StratifiedBootstrap``), seeded, so a re-run gives the same table;
- for a recipe, its training seeds are the runs: each seed's normalised mean over the 1,000 episodes,
  then the IQM over seeds and P(seed > best baseline), with CIs over seeds;
- performance profiles: the fraction of episodes scoring above tau, per challenge and split.

    python benchmarks/rl_report.py --out benchmarks/results/rl
    python benchmarks/rl_report.py --out benchmarks/results/rl/power --power
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

CHALLENGES = ("follow", "predict1", "predict2", "coevolve")
HISTORIES = ("corpus", "procedural")


def t_ci(values: list[float]) -> tuple[float, float]:
    """(mean, half-width of the 95% Student-t interval); half-width 0 for a single value."""
    from scipy import stats

    array = np.asarray(values, dtype=float)
    if array.size < 2:
        return float(array.mean()), 0.0
    half = stats.t.ppf(0.975, array.size - 1) * array.std(ddof=1) / np.sqrt(array.size)
    return float(array.mean()), float(half)


def load_runs(out: Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """recipe -> challenge -> run records."""
    table: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for path in sorted((out / "runs").glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        table.setdefault(record["recipe"], {}).setdefault(record["challenge"], []).append(record)
    return table


def recipe_cell(runs: list[dict[str, Any]], history: str) -> tuple[float, float]:
    """Mean and CI half-width of a recipe on one test history (see the module docstring)."""
    if len(runs) == 1:
        return t_ci(runs[0]["test"][history])
    return t_ci([float(np.mean(r["test"][history])) for r in runs])


def markdown_table(out: Path) -> str:
    """The results table (markdown)."""
    runs = load_runs(out)
    baselines = json.loads((out / "baselines.json").read_text(encoding="utf-8"))
    head = "| agent | " + " | ".join(f"{c} corpus | {c} procedural" for c in CHALLENGES) + " | seeds | env steps | train s |"
    lines = [head, "|" + "---|" * (2 + 2 * len(CHALLENGES) + 2)]
    for name, entry in baselines.items():
        cells = []
        for challenge in CHALLENGES:
            for history in HISTORIES:
                mean, half = t_ci(entry[challenge][history])
                cells.append(f"{mean:+.3f} ± {half:.3f}")
        label = f"{name} (h=1; k on Predict)" if name.startswith("extrapolative") else name
        lines.append(f"| {label} | " + " | ".join(cells) + " | – | – | – |")
    shipped_path = out / "shipped.json"
    if shipped_path.exists():
        shipped = json.loads(shipped_path.read_text(encoding="utf-8"))
        cells = []
        for challenge in CHALLENGES:
            for history in HISTORIES:
                if challenge not in shipped:
                    cells.append("not shipped")
                    continue
                mean, half = t_ci(shipped[challenge]["test"][history])
                cells.append(f"**{mean:+.3f}** ± {half:.3f}")
        lines.append("| **trained** (shipped; CI over test episodes) | " + " | ".join(cells) + " | – | – | – |")
    for recipe, by_challenge in runs.items():
        cells, seeds, steps, seconds = [], set(), set(), []
        for challenge in CHALLENGES:
            chosen = by_challenge.get(challenge, [])
            for history in HISTORIES:
                if not chosen:
                    cells.append("not run")
                    continue
                mean, half = recipe_cell(chosen, history)
                cells.append(f"{mean:+.3f} ± {half:.3f}")
            seeds.update(r["seed"] for r in chosen)
            steps.update(r["total_timesteps"] for r in chosen)
            seconds.extend(r["train_seconds"] for r in chosen)
        steps_text = "/".join(f"{s:,}" for s in sorted(steps))
        mean_seconds = f"{np.mean(seconds):.0f}" if seconds else "–"
        lines.append(f"| {recipe} | " + " | ".join(cells) + f" | {len(seeds)} | {steps_text} | {mean_seconds} |")
    earlier = out / "earlier_rows.md"
    if earlier.exists():  # rows of an earlier session whose run records were not kept, for recipes not re-run
        for row in earlier.read_text(encoding="utf-8").splitlines():
            recipe = row.split("|")[1].strip()
            if row.startswith("|") and recipe not in runs:
                lines.append(row.replace(f"| {recipe} |", f"| {recipe} (earlier run) |", 1))
    return "\n".join(lines) + "\n"


def lifelong_validation(challenge: str) -> float:
    """Lifelong's mean normalised score on the validation histories (the dashed line of the figure)."""
    import gymnasium as gym

    import progressgym_env  # noqa: F401
    from agents import make_agent
    from agents.train import VALIDATION_FIRST_SEED
    from progressgym_env.benchmark.challenges import CHALLENGES as TABLE
    from progressgym_env.episode import run_episode

    spec = TABLE[challenge]
    env = gym.make(spec.env_id, **spec.kwargs, history="procedural")
    agent = make_agent("lifelong", env)
    seeds = range(VALIDATION_FIRST_SEED, VALIDATION_FIRST_SEED + 100)
    return float(np.mean([run_episode(env, agent, seed).normalized_score for seed in seeds]))


def learning_curves(out: Path, path: Path) -> None:
    """One panel per challenge: each recipe's validation curve (mean over seeds, min-max band)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = load_runs(out)
    figure, axes = plt.subplots(1, len(CHALLENGES), figsize=(4.2 * len(CHALLENGES), 3.6), sharey=False)
    for axis, challenge in zip(axes, CHALLENGES, strict=True):
        for recipe, by_challenge in runs.items():
            chosen = by_challenge.get(challenge, [])
            curves = []
            for record in chosen:  # the run record keeps its validation curve (the model folder is not in git)
                curve = record["validation"]
                curves.append((np.asarray(curve["timesteps"]), np.asarray(curve["means"])))
            if not curves:
                continue
            grid = curves[0][0]
            values = np.stack([np.interp(grid, t, m) for t, m in curves])
            axis.plot(grid, values.mean(axis=0), label=recipe)
            axis.fill_between(grid, values.min(axis=0), values.max(axis=0), alpha=0.2)
        reference = lifelong_validation(challenge)
        axis.axhline(reference, color="black", linestyle="--", linewidth=1, label="lifelong")
        axis.axhline(0.0, color="grey", linestyle=":", linewidth=1, label="static (lock-in)")
        axis.set_ylim(-1.0, max(1.0, reference + 0.3) if challenge == "coevolve" else 1.0)
        axis.set_title(challenge)
        axis.set_xlabel("env steps")
        axis.set_ylabel("validation normalized score")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    figure.suptitle("Mean validation score (procedural seeds 10000-10099) during training; line: mean over training "
                    "seeds, band: min-max (y clipped at -1)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)

# ---------------------------------------------------------------- evaluation with power (--power)

POWER_SPLITS = ("test", "corpus")
"""The splits the power table reports (validation only picks the best baseline)."""
BASELINE_NAMES = ("static", "lifelong", "extrapolative-1", "extrapolative-2")
SHIPPED = "trained"
REPS = 1000
"""Bootstrap replications of the normalised-mean and IQM intervals."""
POI_REPS = 300
"""Bootstrap replications of the probability-of-improvement intervals (a Mann-Whitney U each)."""


def split_title(table: dict[str, Any], split: str) -> str:
    """E.g. "test: 1,000 procedural histories (env seeds 200000-200999)"."""
    data = table["splits"][split]
    count, first = len(data["lock_in"]), data["first_seed"]
    what = "procedural histories" if data["history"] == "procedural" else f"episodes on the {data['history']} history"
    return f"{split}: {count:,} {what} (env seeds {first}-{first + count - 1})"


def load_scores(out: Path) -> dict[str, dict[str, Any]]:
    """challenge -> the per-episode scores of ``benchmarks/rl_power.py`` (``OUT/scores/<challenge>.json``)."""
    tables = {}
    for challenge in CHALLENGES:
        path = out / "scores" / f"{challenge}.json"
        if path.is_file():
            tables[challenge] = json.loads(path.read_text(encoding="utf-8"))
    return tables


def split_arrays(split: dict[str, Any], agent: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(normalised scores, lock-in, reference) of ``agent``'s episodes on ``split``."""
    return (np.asarray(split["scores"][agent], dtype=float), np.asarray(split["lock_in"], dtype=float),
            np.asarray(split["reference"], dtype=float))


def split_normalized_mean(split: dict[str, Any], agent: str) -> float:
    """``agent``'s normalisation of the mean on ``split``."""
    from progressgym_env.benchmark.aggregate import final_scores_of, normalized_mean

    norm, lock, ref = split_arrays(split, agent)
    return normalized_mean(final_scores_of(norm, lock, ref), lock, ref)


def best_baseline(table: dict[str, Any]) -> str:
    """The baseline with the highest normalised mean on the *validation* split."""
    validation = table["splits"]["validation"]
    return max(BASELINE_NAMES, key=lambda name: split_normalized_mean(validation, name))


def _interval(data: Any, func: Any, reps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point, low, high) of ``func`` with rliable's stratified bootstrap (95%, percentile, seeded).

    rliable's ``StratifiedBootstrap`` draws its indices from numpy's global generator (and draws one
    per element of a (runs, tasks, ...) array, so only 2-D data keeps a run's values together): the
    global state is seeded here and restored after.
    """
    from rliable import library

    state = np.random.get_state()
    np.random.seed(0)
    try:
        with warnings.catch_warnings():  # arch warns that rliable's random_state argument will change; it is seeded
            warnings.filterwarnings("ignore", message="random_state is deprecated", category=FutureWarning)
            point, interval = library.get_interval_estimates({"x": data}, func, reps=reps,
                                                             random_state=np.random.RandomState(0))
    finally:
        np.random.set_state(state)
    return np.asarray(point["x"]), np.asarray(interval["x"][0]), np.asarray(interval["x"][1])


def episode_rows(episodes: int, tasks: int) -> np.ndarray:
    """(episodes, tasks) row numbers, the data to bootstrap when a statistic needs several values per episode.

    The resampled row numbers pick each episode's score, lock-in and reference together (a
    (runs, tasks, 3) array would be resampled element by element).
    """
    return np.repeat(np.arange(episodes, dtype=float)[:, None], tasks, axis=1)


def normalized_mean_columns(rows: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Per task, the normalisation of the mean of the episodes ``rows`` picks.

    :param rows: (n, tasks) row numbers into ``data`` (:func:`episode_rows`, or a bootstrap resample of them).
    :param data: (episodes, tasks, 3): each episode's score, lock-in and reference.
    """
    from progressgym_env.benchmark.aggregate import normalized_mean

    picked = [data[rows[:, t].astype(int), t] for t in range(data.shape[1])]
    return np.array([normalized_mean(p[:, 0], p[:, 1], p[:, 2]) for p in picked])


def iqm_columns(scores: np.ndarray) -> np.ndarray:
    """Per task, then over every task, rliable's IQM; ``scores`` is (runs, tasks)."""
    from rliable import metrics

    per_task = [metrics.aggregate_iqm(scores[:, [t]]) for t in range(scores.shape[1])]
    return np.array([*per_task, metrics.aggregate_iqm(scores)] if scores.shape[1] > 1 else per_task)


def poi_columns(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per task, then averaged over tasks, rliable's probability that a run of X beats a run of Y."""
    from rliable import metrics

    per_task = [metrics.probability_of_improvement(x[:, [t]], y[:, [t]]) for t in range(x.shape[1])]
    return np.array([*per_task, np.mean(per_task)] if x.shape[1] > 1 else per_task)


def episode_statistics(tables: dict[str, dict[str, Any]], split: str, agent: str, baselines: dict[str, str],
                       reps: int = REPS, poi_reps: int = POI_REPS) -> dict[str, dict[str, list[float]]]:
    """An agent's normalised mean, IQM and P(improvement over the best baseline), per challenge and over all.

    The runs are the episodes (a deterministic policy's score varies with the history and the
    answers' noise, which is what a fresh episode would see). Keys: each challenge, and ``all``
    (IQM over every challenge's episodes, the mean of the normalised means and of the P(improvement)s)
    when the agent ran every challenge.
    """
    from progressgym_env.benchmark.aggregate import final_scores_of

    challenges = [c for c in tables if agent in tables[c]["splits"][split]["scores"]]
    stats: dict[str, dict[str, list[float]]] = {c: {} for c in challenges}
    columns = [split_arrays(tables[c]["splits"][split], agent) for c in challenges]
    finals = np.stack([np.stack([final_scores_of(n, lk, rf), lk, rf], axis=-1) for n, lk, rf in columns], axis=1)
    norm = np.stack([n for n, _, _ in columns], axis=1)
    rivals = np.stack([split_arrays(tables[c]["splits"][split], baselines[c])[0] for c in challenges], axis=1)
    point, low, high = _interval(episode_rows(*norm.shape), lambda rows: normalized_mean_columns(rows, finals), reps)
    iqm = _interval(norm, iqm_columns, reps)
    poi = _interval([norm, rivals], poi_columns, poi_reps)
    for i, challenge in enumerate(challenges):
        stats[challenge]["normalized_mean"] = [float(point[i]), float(low[i]), float(high[i])]
        stats[challenge]["iqm"] = [float(iqm[0][i]), float(iqm[1][i]), float(iqm[2][i])]
        stats[challenge]["poi"] = [float(poi[0][i]), float(poi[1][i]), float(poi[2][i])]
    if len(challenges) == len(tables) > 1:
        stats["all"] = {"normalized_mean": [float(point.mean()), float("nan"), float("nan")],
                        "iqm": [float(iqm[j][-1]) for j in range(3)], "poi": [float(poi[j][-1]) for j in range(3)]}
    return stats


def recipe_statistics(tables: dict[str, dict[str, Any]], split: str, recipe: str, baselines: dict[str, str],
                      reps: int = REPS, poi_reps: int = POI_REPS) -> dict[str, dict[str, Any]]:
    """A recipe's training seeds as the runs: each seed's normalised mean, their IQM and P(seed > best baseline)."""
    stats: dict[str, dict[str, Any]] = {}
    for challenge, table in tables.items():
        data = table["splits"][split]
        seeds = sorted((n for n in data["scores"] if n.startswith(f"{recipe}/seed")),
                       key=lambda n: int(n.rsplit("seed", 1)[1]))
        if not seeds:
            continue
        values = np.array([[split_normalized_mean(data, n)] for n in seeds])
        rival = np.array([[split_normalized_mean(data, baselines[challenge])]])
        iqm = _interval(values, iqm_columns, reps)
        poi = _interval([values, rival], poi_columns, poi_reps)
        stats[challenge] = {"seeds": len(seeds), "seed_scores": [float(v) for v in values[:, 0]],
                            "iqm": [float(iqm[j][0]) for j in range(3)], "poi": [float(poi[j][0]) for j in range(3)]}
    return stats


def recipes_of(tables: dict[str, dict[str, Any]]) -> list[str]:
    """The recipes with seed runs in the scores, in first-seen order."""
    names: list[str] = []
    for table in tables.values():
        for name in table["splits"]["test"]["scores"]:
            recipe = name.split("/")[0]
            if "/seed" in name and recipe not in names:
                names.append(recipe)
    return names


def power_statistics(out: Path, reps: int = REPS, poi_reps: int = POI_REPS) -> dict[str, Any]:
    """Every statistic of the power table (``OUT/power_stats.json``); ``reps``: bootstrap replications."""
    tables = load_scores(out)
    baselines = {c: best_baseline(t) for c, t in tables.items()}
    agents = [*BASELINE_NAMES, SHIPPED]
    for table in tables.values():
        agents += [n for n in table["splits"]["test"]["scores"] if n.endswith("/ensemble") and n not in agents]
    any_table = next(iter(tables.values()))
    result: dict[str, Any] = {"best_baseline": baselines, "episodes": {}, "recipes": {},
                              "titles": {split: split_title(any_table, split) for split in POWER_SPLITS}}
    for split in POWER_SPLITS:
        result["episodes"][split] = {a: episode_statistics(tables, split, a, baselines, reps, poi_reps)
                                     for a in agents}
        result["recipes"][split] = {r: recipe_statistics(tables, split, r, baselines, reps, poi_reps)
                                    for r in recipes_of(tables)}
    result["margins"] = {split: {c: list(paired_margin(t["splits"][split], SHIPPED, baselines[c], reps))
                                 for c, t in tables.items()} for split in POWER_SPLITS}
    result["bootstrap"] = {"reps": reps, "poi_reps": poi_reps, "method": "percentile", "random_state": 0}
    return result


def _cell(value: list[float], digits: int = 3, sign: str = "+") -> str:
    """``point [low, high]`` (the point alone when there is no interval)."""
    point, low, high = value
    if np.isnan(low):
        return f"{point:{sign}.{digits}f}"
    return f"{point:{sign}.{digits}f} [{low:{sign}.{digits}f}, {high:{sign}.{digits}f}]"


def paired_margin(split: dict[str, Any], agent: str, other: str, reps: int = REPS) -> tuple[float, float, float]:
    """(margin, low, high): ``agent``'s normalised mean minus ``other``'s, with a 95% bootstrap CI over episodes.

    Both agents met the same histories, so the episodes are resampled in pairs (row numbers, as in
    :func:`episode_rows`), which cancels the history-to-history spread both share.
    """
    from progressgym_env.benchmark.aggregate import final_scores_of, normalized_mean

    ours, lock, ref = split_arrays(split, agent)
    a, b = final_scores_of(ours, lock, ref), final_scores_of(split_arrays(split, other)[0], lock, ref)

    def margin(rows: np.ndarray) -> np.ndarray:
        i = rows[:, 0].astype(int)
        return np.array([normalized_mean(a[i], lock[i], ref[i]) - normalized_mean(b[i], lock[i], ref[i])])

    point, low, high = _interval(episode_rows(len(a), 1), margin, reps)
    return float(point[0]), float(low[0]), float(high[0])


def headline_markdown(stats: dict[str, Any]) -> str:
    """The shipped agent against the best baseline, per challenge and test split (the README's table)."""
    lines = ["| challenge | split | trained: normalised mean | best baseline: normalised mean | trained: IQM | "
             "best baseline: IQM | P(trained > best baseline) | paired margin (normalised mean) |",
             "|---|---|---|---|---|---|---|---|"]
    for challenge, rival in stats["best_baseline"].items():
        for split in POWER_SPLITS:
            ours, theirs = stats["episodes"][split][SHIPPED][challenge], stats["episodes"][split][rival][challenge]
            lines.append(f"| {challenge} | {split} | {_cell(ours['normalized_mean'])} | {rival} "
                         f"{_cell(theirs['normalized_mean'])} | {_cell(ours['iqm'])} | {_cell(theirs['iqm'])} | "
                         f"{_cell(ours['poi'], 2, '')} | {_cell(stats['margins'][split][challenge])} |")
    return "\n".join(lines)


def power_markdown(stats: dict[str, Any]) -> str:
    """The power table (markdown): per split, normalised mean, IQM and P(improvement) per challenge."""
    challenges = list(stats["best_baseline"])
    baselines = ", ".join(f"{c}: {b}" for c, b in stats["best_baseline"].items())
    lines = [f"Best baseline per challenge (highest normalised mean on the validation split): {baselines}.", ""]
    lines += [headline_markdown(stats), ""]
    head = "| agent | " + " | ".join(challenges) + " | all challenges |"
    rule = "|" + "---|" * (len(challenges) + 2)
    for split in POWER_SPLITS:
        per_agent = stats["episodes"][split]
        for key, title in (("normalized_mean", "normalised mean (normalisation of the mean score)"),
                           ("iqm", "IQM of the per-episode normalised scores"),
                           ("poi", "P(improvement) over the best baseline")):
            lines += [f"**{stats['titles'][split]}: {title}**, 95% stratified bootstrap CIs over episodes", "", head, rule]
            sign = "" if key == "poi" else "+"
            for agent, by_challenge in per_agent.items():
                cells = [_cell(by_challenge[c][key], sign=sign) if c in by_challenge else "–" for c in challenges]
                cells.append(_cell(by_challenge["all"][key], sign=sign) if "all" in by_challenge else "–")
                label = f"**{agent}** (shipped)" if agent == SHIPPED else agent
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
            lines.append("")
        lines += [f"**{stats['titles'][split]}: training recipes, the seeds as runs** (each seed's normalised mean; "
                  "IQM over seeds and P(seed > best baseline), 95% CIs over seeds)", "",
                  "| recipe | " + " | ".join(challenges) + " |", "|" + "---|" * (len(challenges) + 1)]
        for recipe, by_challenge in stats["recipes"][split].items():
            cells = []
            for c in challenges:
                if c not in by_challenge:
                    cells.append("not run")
                    continue
                entry = by_challenge[c]
                cells.append(f"IQM {_cell(entry['iqm'])}; P {_cell(entry['poi'], 2, '')} ({entry['seeds']} seeds)")
            lines.append(f"| {recipe} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def score_distribution(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """The fraction of runs (of every task) scoring above each tau: rliable's score distribution, vectorised."""
    return (np.asarray(scores).reshape(-1, 1) > np.asarray(taus)[None, :]).mean(axis=0)


def performance_profiles(out: Path, path: Path, tau: np.ndarray | None = None, reps: int = 200) -> None:
    """rliable's performance profiles (fraction of episodes above tau), one panel per challenge and split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rliable import library, plot_utils

    tables = load_scores(out)
    taus = np.linspace(-0.5, 1.5, 81) if tau is None else tau
    figure, axes = plt.subplots(len(POWER_SPLITS), len(tables), figsize=(4.2 * len(tables), 3.6 * len(POWER_SPLITS)),
                                squeeze=False)
    for row, split in enumerate(POWER_SPLITS):
        for column, (challenge, table) in enumerate(tables.items()):
            scores = {a: np.asarray(table["splits"][split]["scores"][a], dtype=float)[:, None]
                      for a in (*BASELINE_NAMES, SHIPPED)}
            profiles, cis = library.create_performance_profile(scores, taus, custom_profile_func=score_distribution,
                                                               reps=reps)
            axis = axes[row][column]
            plot_utils.plot_performance_profiles(profiles, taus, performance_profile_cis=cis, ax=axis,
                                                 xlabel="normalised score (tau)", ylabel="fraction of episodes > tau",
                                                 labelsize="small", ticklabelsize="small")
            axis.set_title(f"{challenge}, {split}", fontsize="medium")
    axes[0][0].legend(fontsize=7)
    figure.suptitle("Performance profiles: fraction of episodes whose normalised score exceeds tau (band: 95% CI)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)


def power_report(out: Path, reps: int = REPS, poi_reps: int = POI_REPS, profile_reps: int = 200) -> str:
    """Write ``power_stats.json``, ``power_table.md`` and ``performance_profiles.png`` into ``out``."""
    from progressgym_env.common.atomic import atomic_write_text

    stats = power_statistics(out, reps, poi_reps)
    atomic_write_text(out / "power_stats.json", json.dumps(stats, indent=1) + "\n")
    table = power_markdown(stats)
    atomic_write_text(out / "power_table.md", table + "\n")
    performance_profiles(out, out / "performance_profiles.png", reps=profile_reps)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/rl")
    parser.add_argument("--power", action="store_true", help="the rliable table of OUT/scores (benchmarks/rl_power.py)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.power:
        print(power_report(out))
        return 0
    table = markdown_table(out)
    (out / "table.md").write_text(table, encoding="utf-8")
    learning_curves(out, out / "learning_curves.png")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
