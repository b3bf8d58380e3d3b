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

    python benchmarks/rl_report.py --out benchmarks/results/rl
"""

from __future__ import annotations

import argparse
import json
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/rl")
    args = parser.parse_args(argv)
    out = Path(args.out)
    table = markdown_table(out)
    (out / "table.md").write_text(table, encoding="utf-8")
    learning_curves(out, out / "learning_curves.png")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
