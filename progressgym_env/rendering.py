"""Rendering of an episode: an ANSI table, fast ``rgb_array`` frames, and a matplotlib plot of a record.

``rgb_array`` frames (:class:`FrameRenderer`) are built for video: the static part is drawn once by
matplotlib, each frame's trajectories in numpy (milliseconds), so Gymnasium's ``RecordVideo`` and
``HumanRendering`` (the ``render`` extra brings pygame for it) keep up with an episode.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from progressgym_env.errors import MissingExtraError
from progressgym_env.judges import target_curve
from progressgym_env.records import EpisodeRecord

if TYPE_CHECKING:
    from progressgym_env.envs.base import ProgressGymEnv


def _fmt(vector: np.ndarray) -> str:
    return " ".join(f"{v:.3f}" for v in vector)


def render_ansi(env: ProgressGymEnv) -> str:
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


FRAME_DPI = 80
PANEL_SIZE = (3.0, 2.6)
"""Inches per value dimension (at :data:`FRAME_DPI`: 240 x 208 pixels), five panels per row."""
_MODEL_RGB = (31, 119, 180)
_SIMULATED_RGB = (214, 39, 40)
_CURRENT_RGB = (150, 150, 150)


class FrameRenderer:
    """Fast ``rgb_array`` frames of one env: a static background drawn once, the episode drawn in numpy.

    The background (one panel per value dimension with its title, axes labelled *century* and
    *value*, the real human history, on Predict the scored target H_{t+k} at century t, a legend
    and the env id) is drawn by matplotlib once per history and kept as an array together with each
    panel's data-to-pixel mapping. A frame copies it and draws the model's trajectory so far (blue
    squares), the simulated human's (red triangles, Coevolve) and a grey line at the current
    century with plain numpy indexing: a few milliseconds per frame, so ``RecordVideo`` and
    ``HumanRendering`` keep up. Frames of one env always have the same shape.

    :param record: the episode record whose history defines the background.
    :param title: the figure title (the env id).
    """

    def __init__(self, record: EpisodeRecord, title: str) -> None:
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:
            raise MissingExtraError("rendering rgb_array frames", "render", "matplotlib") from None
        human = np.asarray(record.human, dtype=np.float64)
        self.key = _renderer_key(record)
        self.centuries = np.asarray(record.centuries, dtype=np.float64)
        dims = list(record.dims)
        cols = min(len(dims), 5)
        rows = -(-len(dims) // cols)
        figure = Figure(figsize=(PANEL_SIZE[0] * cols, PANEL_SIZE[1] * rows + 0.5), dpi=FRAME_DPI)
        canvas = FigureCanvasAgg(figure)
        axes = np.atleast_1d(figure.subplots(rows, cols, squeeze=False)).ravel()
        target_label, targets = target_curve(record)
        steps = len(targets)
        for k, ax in enumerate(axes):
            if k >= len(dims):
                ax.set_axis_off()
                continue
            ax.plot(self.centuries, human[:, k], "o-", color="black", markersize=3, linewidth=1, label="human H_t")
            if target_label:
                ax.plot(self.centuries[1 : 1 + steps], targets[:, k], "D:",
                        color="tab:green", markersize=3, label=f"scored target {target_label}")
            ax.plot([], [], "s-", color="tab:blue", markersize=3, label="model M_t")
            if record.simulated is not None:
                ax.plot([], [], "^-", color="tab:red", markersize=3, label="simulated human S_t")
            ax.set_xlim(self.centuries[0] - 0.5, self.centuries[-1] + 0.5)
            ax.set_ylim(0.0, 1.0)
            ax.set_title(dims[k].replace("_", " "), fontsize=9)
            ax.set_xlabel("century", fontsize=8)
            ax.set_ylabel("value", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        height = figure.get_figheight()
        figure.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=4, fontsize=7, frameon=False,
                      bbox_to_anchor=(0.5, 1 - 0.2 / height))
        figure.suptitle(title, fontsize=9, y=1 - 0.02 / height)
        figure.subplots_adjust(left=0.05, right=0.99, bottom=0.45 / height, top=1 - 0.75 / height, wspace=0.3,
                               hspace=0.5)
        canvas.draw()
        self.background = np.asarray(canvas.buffer_rgba())[..., :3].copy()
        self.height = self.background.shape[0]
        # per panel: pixel x = ax0 + sx * century, pixel row = ay0 - sy * value (rows count downwards)
        self.panels = []
        for ax in axes[: len(dims)]:
            (x0, y0), (x1, y1) = ax.transData.transform([(0.0, 0.0), (1.0, 1.0)])
            bbox = ax.get_window_extent()
            clip = (int(self.height - bbox.y1) + 1, int(self.height - bbox.y0) - 1, int(bbox.x0) + 1, int(bbox.x1) - 1)
            self.panels.append((x0, x1 - x0, self.height - y0, y1 - y0, clip))

    def frame(self, record: EpisodeRecord) -> np.ndarray:
        """The (H, W, 3) uint8 frame of ``record`` (the episode so far)."""
        image = self.background.copy()
        models = np.asarray(record.model, dtype=np.float64).reshape(-1, len(self.panels))
        n = len(models)
        simulated = None if record.simulated is None else np.asarray(record.simulated, dtype=np.float64)
        for k, (x0, sx, y0, sy, clip) in enumerate(self.panels):
            if n:
                current = x0 + sx * self.centuries[n]
                _vline(image, current, clip, _CURRENT_RGB)
                _polyline(image, x0 + sx * self.centuries[1 : 1 + n], y0 - sy * models[:, k], clip, _MODEL_RGB)
            if simulated is not None and len(simulated):
                xs = x0 + sx * self.centuries[: len(simulated)]
                _polyline(image, xs, y0 - sy * simulated[:, k], clip, _SIMULATED_RGB, marker=2)
        return image


def _stamp(image: np.ndarray, rows: np.ndarray, cols: np.ndarray, clip: tuple[int, int, int, int],
           color: tuple[int, int, int], radius: int) -> None:
    """Paint squares of half-width ``radius`` centred on the pixels (rows, cols), clipped to the panel."""
    top, bottom, left, right = clip
    offsets = np.arange(-radius, radius + 1)
    r = (rows[:, None, None] + offsets[None, :, None]).repeat(len(offsets), axis=2).ravel()
    c = (cols[:, None, None] + offsets[None, None, :]).repeat(len(offsets), axis=1).ravel()
    keep = (r >= top) & (r <= bottom) & (c >= left) & (c <= right)
    image[r[keep], c[keep]] = color


def _polyline(image: np.ndarray, xs: np.ndarray, ys: np.ndarray, clip: tuple[int, int, int, int],
              color: tuple[int, int, int], marker: int = 2) -> None:
    """A 2-pixel polyline through (xs, ys) (pixel coordinates, rows downwards) with square markers."""
    if len(xs) > 1:
        lengths = np.maximum(np.abs(np.diff(xs)), np.abs(np.diff(ys))).astype(int) + 1
        fractions = np.concatenate([np.linspace(0.0, 1.0, m) for m in lengths])
        starts = np.repeat(np.arange(len(lengths)), lengths)
        px = xs[starts] + fractions * (xs[starts + 1] - xs[starts])
        py = ys[starts] + fractions * (ys[starts + 1] - ys[starts])
        _stamp(image, np.rint(py).astype(int), np.rint(px).astype(int), clip, color, 1)
    _stamp(image, np.rint(ys).astype(int), np.rint(xs).astype(int), clip, color, marker + 1)


def _vline(image: np.ndarray, x: float, clip: tuple[int, int, int, int], color: tuple[int, int, int]) -> None:
    top, bottom, left, right = clip
    column = round(x)
    if left <= column <= right:
        image[top : bottom + 1, column] = color


_RENDERERS: weakref.WeakKeyDictionary[Any, FrameRenderer] = weakref.WeakKeyDictionary()


def _renderer_key(record: EpisodeRecord) -> tuple[Any, ...]:
    """What a frame's background depends on: the history and the challenge with its parameters."""
    human = np.asarray(record.human, dtype=np.float64).tobytes()
    return (human, record.challenge, tuple(sorted(record.params.items())))


def render_rgb_array(env: ProgressGymEnv) -> np.ndarray:
    """The env's frame as an (H, W, 3) uint8 array (see :class:`FrameRenderer`).

    The renderer is kept per env and rebuilt only when the history changes (a procedural history's
    new episode), so only that episode's first frame pays for matplotlib.
    """
    record = env.episode_record()
    renderer = _RENDERERS.get(env)
    key = _renderer_key(record)
    if renderer is None or renderer.key != key:
        renderer = FrameRenderer(record, title=env.env_id)
        _RENDERERS[env] = renderer
    return renderer.frame(record)
