"""wandb logging of benchmark runs: one offline run per agent × challenge × seed.

Each run: ``group`` = env id, ``job_type`` = agent label, ``config`` = env kwargs + seed (+ agent
settings), per-step ``similarity`` (the reward) and ``century`` as metrics, the per-century
similarities as a ``wandb.Table``, the trajectory plot as a ``wandb.Image``, and the scores in the
summary. Runs live in ``<out>/wandb/``; the mode is offline unless asked otherwise (no login).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from progressgym_env.errors import ConfigError, MissingExtraError

WANDB_MODES = ("offline", "online", "disabled")


def silence_weave_hint() -> None:
    """Stop wandb from suggesting Weave at every ``init``.

    wandb mistakes this project's top-level ``agents`` package for the OpenAI Agents SDK and prints
    "Detected [agents] in use ... install Weave" on each run. ``setdefault`` keeps a user's choice.
    """
    os.environ.setdefault("WANDB_DISABLE_WEAVE", "true")


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

    def log_run(self, run: dict[str, Any], image: Any | None = None) -> str | None:
        """Log one finished benchmark run; return the wandb run directory (None when disabled).

        :param run: the results.json record of the run.
        :param image: the run's trajectory plot (an RGB array or a matplotlib figure), logged as a
            ``wandb.Image``.
        """
        wandb = self._wandb
        silence_weave_hint()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        config = {**run["kwargs"], "seed": run["seed"], "challenge": run["challenge"], "agent": run["agent_config"]}
        wb_run = wandb.init(
            project=self.project,
            dir=str(self.out_dir),
            mode=self.mode,
            group=run["env_id"],
            job_type=run["agent"],
            name=f"{run['agent']}-{run['challenge']}-seed{run['seed']}",
            config=config,
            reinit="create_new",
            settings=wandb.Settings(console="off", silent=True, x_disable_stats=True, save_code=False),
        )
        try:
            centuries = run["episode_record"]["centuries"]
            table = wandb.Table(columns=["step", "century", "similarity"])
            for step, reward in enumerate(run["rewards"]):
                century = centuries[step + 1]
                wb_run.log({"similarity": reward, "century": century}, step=step)
                table.add_data(step, century, reward)
            payload: dict[str, Any] = {"per_century_similarity": table}
            if image is not None:
                payload["trajectory"] = wandb.Image(image)
            wb_run.log(payload)
            wb_run.summary["final_score"] = run["final_score"]
            wb_run.summary["normalized_score"] = run["normalized_score"]
            directory = getattr(wb_run, "dir", None)
        finally:
            wb_run.finish()
        if self.mode == "disabled" or not directory:
            return None
        return str(Path(directory).parent)
