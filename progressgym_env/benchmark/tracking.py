"""wandb logging of benchmark runs: one offline run per agent × challenge (its seeds as steps).

Each run: ``group`` = challenge key, ``job_type`` = agent label, ``config`` = env kwargs + agent
settings + seeds; one step per seed with ``final_score`` and ``normalized_score``, the per-century
similarities of every seed as a ``wandb.Table``, the trajectory plot over the seeds as a
``wandb.Image``, and the means in the summary. Runs live in ``<out>/wandb/``; the mode is offline
unless asked otherwise (no login): ``wandb sync <out>/wandb/offline-run-*`` uploads them later.
One run per agent × challenge rather than per seed keeps wandb's comparison views (group by
challenge, colour by agent) at a third of the start-up cost of per-seed runs.

Each saved result is logged once, even across interrupted benchmarks: the runner logs only runs that
results.json does not mark as logged, after they are saved; a wandb run's id is derived from the keys
of the runs it holds (:func:`wandb_run_id`), a finished one is marked by :data:`LOGGED_MARKER` in its
folder, so a re-run finds it (and reuses it) instead of logging a duplicate, and an unfinished one
(killed mid-log) is deleted before the group is logged again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from progressgym_env.common.fingerprint import json_fingerprint
from progressgym_env.common.wandb_setup import silence_weave_hint
from progressgym_env.errors import ConfigError, MissingExtraError
from progressgym_env.judges import judge_for_record

WANDB_MODES = ("offline", "online", "disabled")
LOGGED_MARKER = "progressgym-logged.json"
"""Written into a wandb run's folder once the run has finished: it lists the results it holds."""


def wandb_run_id(runs: list[dict[str, Any]]) -> str:
    """A wandb run id determined by the results a run holds (their identities: settings, seed, model hash)."""
    from progressgym_env.benchmark.results import run_key

    return wandb_run_id_of_keys(run_key(r) for r in runs)


def wandb_run_id_of_keys(keys: Any) -> str:
    """:func:`wandb_run_id` from the run identities alone (a store's ``key`` column: no run dicts needed)."""
    return "pg-" + json_fingerprint(sorted(keys))[:24]


class WandbTracker:
    """Opens and closes one wandb run per benchmark run.

    :param out_dir: the benchmark output folder (wandb writes ``<out_dir>/wandb/``).
    :param project: wandb project name.
    :param mode: ``offline`` (default), ``online`` or ``disabled``.
    """

    def __init__(self, out_dir: str | Path, project: str = "progressgym-benchmark", mode: str = "offline") -> None:
        if mode not in WANDB_MODES:
            raise ConfigError(f"wandb mode must be one of {WANDB_MODES}, got {mode!r}")
        try:
            import wandb
        except ImportError:
            raise MissingExtraError("logging benchmark runs to wandb (use --no-wandb to skip)", "wandb", "wandb") from None
        self._wandb = wandb
        self.out_dir = Path(out_dir)
        self.project = project
        self.mode = mode

    def find_logged(self, run_id: str) -> str | None:
        """The folder of a finished wandb run with id ``run_id`` (None if none); unfinished ones are deleted."""
        found = None
        for folder in sorted((self.out_dir / "wandb").glob(f"*run-*-{run_id}")):
            if (folder / LOGGED_MARKER).is_file():
                found = str(folder)
            elif folder.is_dir() and not folder.is_symlink():
                shutil.rmtree(folder, ignore_errors=True)  # killed mid-log: its partial log would duplicate
        return found

    def log_runs(self, runs: list[dict[str, Any]], image: Any | None = None, run_id: str | None = None,
                 total: int | None = None, means: tuple[float, float] | None = None) -> str | None:
        """Log the finished seeds of one agent on one challenge as one wandb run; return its directory.

        ``group`` = challenge key and ``job_type`` = agent label (wandb's "group by" views compare
        agents per challenge), ``config`` = env kwargs + agent settings + the seeds; each seed is one
        step (``seed``, ``final_score``, ``normalized_score``), the per-century similarities of every
        seed go into one ``wandb.Table``, and the summary holds the means over these seeds.

        :param runs: results.json records of one agent on one challenge (one per seed).
        :param image: the trajectory figure over these seeds (a PNG path, an RGB array or a
            matplotlib figure), logged as a ``wandb.Image``. Returns None when disabled.
        :param run_id: the wandb run id (default :func:`wandb_run_id` of ``runs``).
        :param total: the group's run count when ``runs`` is an evenly spaced subsample of a large store
            group (only those seeds are logged as steps; ``config.seeds_in_group`` says how many there are).
        :param means: the whole group's (mean final_score, mean normalized_score) for the summary; default
            the means over ``runs``.
        """
        if not runs:
            raise ValueError("log_runs needs at least one run")
        wandb = self._wandb
        silence_weave_hint()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        first = runs[0]
        seeds = [int(r["seed"]) for r in runs]
        config = {**first["kwargs"], "challenge": first["challenge"], "env_id": first["env_id"],
                  "agent": first["agent"], "agent_config": first["agent_config"], "seeds": seeds}
        if first.get("model_sha256"):
            config["model_sha256"] = first["model_sha256"]
        if total is not None and total > len(runs):
            config["seeds_in_group"] = total
        seed_text = f"seed{seeds[0]}" if len(seeds) == 1 else f"seeds{min(seeds)}-{max(seeds)}"
        run_id = run_id or wandb_run_id(runs)
        wb_run = wandb.init(
            id=run_id,
            project=self.project,
            dir=str(self.out_dir),
            mode=self.mode,
            group=first["challenge"],
            job_type=first["agent"],
            name=f"{first['agent']}-{first['challenge']}-{seed_text}",
            config=config,
            reinit="create_new",
            settings=wandb.Settings(console="off", silent=True, x_disable_stats=True, save_code=False,
                                    x_disable_meta=True, x_disable_machine_info=True, disable_git=True),
        )
        try:
            table = wandb.Table(columns=["seed", "step", "century", "similarity"])
            curve_table = wandb.Table(columns=["seed", "step", "century", "curve", "value"])
            for step, run in enumerate(runs):
                centuries = run["episode_record"]["centuries"]
                for index, reward in enumerate(run["rewards"]):
                    table.add_data(run["seed"], index, centuries[index + 1], reward)
                for name, values in judge_for_record(run["episode_record"]).step_curves(run["episode_record"]).items():
                    for index, value in enumerate(np.asarray(values).tolist()):
                        curve_table.add_data(run["seed"], index, centuries[index + 1], name, value)
                wb_run.log({"seed": run["seed"], "final_score": run["final_score"],
                            "normalized_score": run["normalized_score"]}, step=step)
            payload: dict[str, Any] = {"per_century_similarity": table}
            if curve_table.data:  # the challenge's own per-step curves (PG-Society: per AI, society lock-in)
                payload["per_century_curves"] = curve_table
            if image is not None:
                payload["trajectory"] = wandb.Image(str(image) if isinstance(image, Path) else image)
            wb_run.log(payload)
            final, normalized = means or (float(np.mean([r["final_score"] for r in runs])),
                                          float(np.mean([r["normalized_score"] for r in runs])))
            wb_run.summary["final_score"] = final
            wb_run.summary["normalized_score"] = normalized
            wb_run.summary["seeds"] = total or len(runs)
            directory = getattr(wb_run, "dir", None)
        finally:
            wb_run.finish()
        if self.mode == "disabled" or not directory:
            return None
        folder = Path(directory).parent
        from progressgym_env.benchmark.results import run_key
        from progressgym_env.common.atomic import atomic_write_text

        atomic_write_text(folder / LOGGED_MARKER, json.dumps({"id": run_id, "runs": [run_key(r) for r in runs]}) + "\n")
        return str(folder)
