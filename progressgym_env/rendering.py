"""Rendering of an episode: an ANSI table and a matplotlib plot of the value trajectories."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from progressgym_env.errors import MissingExtraError
from progressgym_env.records import EpisodeRecord

if TYPE_CHECKING:
    from progressgym_env.envs.base import ProgressGymEnv


def _fmt(vector: np.ndarray) -> str:
    return " ".join(f"{v:.3f}" for v in vector)


def render_ansi(env: "ProgressGymEnv") -> str:
    """A small table: one row per scored century with target, model (and simulated human) values."""
    record = env.episode_record()
    dims = ", ".join(record.dims)
    lines = [f"{env.env_id}  value space {record.value_space} [{dims}]"]
    header = f"{'century':>7} | {'target':<{6 * env.dim}} | {'model':<{6 * env.dim}} | reward"
    if record.simulated is not None:
        header += " | simulated human"
    lines += [header, "-" * len(header)]
    assert env.judge is not None
    for i, model in enumerate(record.model):
        t = i + 1
        row = (
            f"{record.centuries[t]:>7} | {_fmt(env.judge.target(t)):<{6 * env.dim}} | "
            f"{_fmt(model):<{6 * env.dim}} | {record.rewards[i]:.4f}"
        )
        if record.simulated is not None:
            row += f" | {_fmt(record.simulated[t])}"
        lines.append(row)
    if not len(record.model):
        lines.append("(no step taken yet)")
    return "\n".join(lines) + "\n"


def plot_record(record: EpisodeRecord | dict[str, Any], title: str = "") -> Any:
    """A matplotlib figure of the human, model and (Coevolve) simulated-human trajectories, one panel per dim."""
    record = EpisodeRecord.from_dict(record).to_dict()
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtraError("plotting trajectories", "render", "matplotlib") from None
    human = np.asarray(record["human"])
    centuries = np.asarray(record["centuries"])
    dims = record["dims"]
    cols = min(len(dims), 5)
    rows = int(np.ceil(len(dims) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.4 * rows), squeeze=False, sharex=True)
    models = np.asarray(record["model"])
    offset = 1 + int(record.get("timesteps_ahead") or 0)
    for k, ax in enumerate(axes.flat):
        if k >= len(dims):
            ax.axis("off")
            continue
        ax.plot(centuries, human[:, k], "o-", color="black", label="human (real)")
        if len(models):
            model_x = centuries[1 : 1 + len(models)]
            ax.plot(model_x, models[:, k], "s--", color="tab:blue", label="model")
        if "simulated" in record and len(record["simulated"]):
            sim = np.asarray(record["simulated"])
            ax.plot(centuries[: len(sim)], sim[:, k], "^:", color="tab:red", label="simulated human")
        ax.set_title(dims[k], fontsize=9)
        ax.set_ylim(0, 1)
        ax.tick_params(labelsize=7)
    if offset > 1:
        axes.flat[0].text(0.02, 0.02, f"model at t scored vs H(t+{offset - 1})", transform=axes.flat[0].transAxes, fontsize=6)
    axes.flat[0].legend(fontsize=6, loc="upper right")
    fig.suptitle(title or f"{record['challenge']} on {record['value_space']}", fontsize=10)
    fig.tight_layout()
    return fig


def render_rgb_array(env: "ProgressGymEnv") -> np.ndarray:
    """The trajectory plot as an (H, W, 3) uint8 array."""
    fig = plot_record(env.episode_record(), title=env.env_id)
    import matplotlib.pyplot as plt

    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image
