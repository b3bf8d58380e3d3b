"""Procedural histories: seeded, plausible value trajectories for training (DESIGN §3).

Each dimension moves in logit space by a per-dimension drift plus, each century, either an
ordinary heavy-tailed (Laplace) step or (rarely) a regime shift: a jump at least as large as the corpus's shift
threshold, like the 18th-century fall of the corpus religion score. The default parameters are
calibrated on the real corpus trajectory's per-century logit steps (:func:`corpus_calibration`):
steps beyond three robust (MAD) standard deviations are regime shifts (their frequency and their
mean excess over the threshold), the other steps give the ordinary step scale (Laplace, because the corpus's
ordinary steps are heavy-tailed: their median absolute step is 0.43 of their standard deviation, a
Gaussian's would be 0.67), the spread of
per-dimension mean steps the drift, and the corpus levels the starting points. Like Procgen
levels, a fresh history is drawn from the env's generator at every reset, so agents can be trained
on procedural histories and evaluated on the held-out real one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from progressgym_env.errors import ConfigError
from progressgym_env.numerics import logit, sigmoid
from progressgym_env.trajectory import MIN_CENTURIES, History, corpus_history, logit_steps
from progressgym_env.value_spaces import CORPUS5, ValueSpace, get_value_space

SHIFT_THRESHOLD_SCALES = 3.0
"""A corpus step larger than this many robust standard deviations counts as a regime shift."""


@dataclass(frozen=True)
class ProceduralCalibration:
    """Step statistics of a real history, in logit units.

    :param step_scale: Laplace scale b of ordinary (non-shift) steps (their std is b * sqrt(2)).
    :param shift_prob: probability that a (century, dim) step is a regime shift.
    :param shift_threshold: smallest regime-shift size: three robust standard deviations of all steps.
    :param shift_excess_mean: mean size of a shift beyond the threshold (exponentially distributed).
    :param drift_sd: spread of per-dimension mean steps (a dim's persistent trend).
    :param start_mean: mean starting level per corpus dim (logit), used for corpus5 histories.
    :param start_pooled_mean: mean level over all dims and steps, used for other spaces.
    :param start_sd: spread of levels across dims at the first step.
    """

    step_scale: float
    shift_prob: float
    shift_threshold: float
    shift_excess_mean: float
    drift_sd: float
    start_mean: tuple[float, ...]
    start_pooled_mean: float
    start_sd: float


@lru_cache(maxsize=1)
def corpus_calibration() -> ProceduralCalibration:
    """Calibrate the generator on the shipped real corpus trajectory."""
    history = corpus_history()
    steps = logit_steps(history)
    robust_sd = 1.4826 * float(np.median(np.abs(steps - np.median(steps))))
    threshold = SHIFT_THRESHOLD_SCALES * robust_sd
    is_shift = np.abs(steps) > threshold
    excess = np.abs(steps[is_shift]) - threshold
    ordinary = np.where(is_shift, np.nan, steps)
    levels = logit(history.values)
    return ProceduralCalibration(
        step_scale=float(np.nanstd(ordinary) / np.sqrt(2.0)),
        shift_prob=float(is_shift.mean()),
        shift_threshold=threshold,
        shift_excess_mean=float(excess.mean()) if excess.size else 0.0,
        drift_sd=float(np.nanstd(np.nanmean(ordinary, axis=0))),
        start_mean=tuple(float(v) for v in levels[0]),
        start_pooled_mean=float(levels.mean()),
        start_sd=float(levels.std(axis=0).mean()),
    )


def _value_space(space: ValueSpace | str | int) -> ValueSpace:
    """The :class:`ValueSpace` a ``value_space`` argument names (an int d means ``generic<d>``)."""
    if isinstance(space, (int, np.integer)) and not isinstance(space, bool):
        space = f"generic{int(space)}"
    if isinstance(space, str):
        try:
            return get_value_space(space)
        except KeyError as exc:
            raise ConfigError(str(exc)) from None
    if not isinstance(space, ValueSpace):
        raise ConfigError(
            f"value_space must be a name, a ValueSpace or an int number of dims, found {type(space).__name__}"
        )
    return space


@dataclass(frozen=True, init=False)
class ProceduralHistory:
    """A history source drawing a new seeded trajectory each episode.

    :param num_centuries: T, the number of centuries (>= 3; 9 matches the real timeline).
    :param value_space: the space of the generated vectors: a name (``"corpus5"``, ``"moral19"``,
        ``"generic<d>"``), a :class:`ValueSpace`, or an int d for ``generic<d>``; stored as the
        :class:`ValueSpace` it names.
    :param calibration: step statistics to mimic; ``None`` = :func:`corpus_calibration`.
    """

    num_centuries: int
    value_space: ValueSpace
    calibration: ProceduralCalibration

    def __init__(
        self,
        num_centuries: int = 9,
        value_space: ValueSpace | str | int = CORPUS5,
        calibration: ProceduralCalibration | None = None,
    ) -> None:
        if int(num_centuries) < MIN_CENTURIES:
            raise ConfigError(f"procedural history needs num_centuries >= {MIN_CENTURIES}, got {num_centuries}")
        object.__setattr__(self, "num_centuries", num_centuries)
        object.__setattr__(self, "value_space", _value_space(value_space))
        object.__setattr__(self, "calibration", calibration or corpus_calibration())

    @property
    def dim(self) -> int:
        return self.value_space.dim

    def sample(self, rng: np.random.Generator) -> History:
        """Draw one history; every random number comes from ``rng``."""
        return History(values=self.sample_values(rng), value_space=self.value_space, provenance=self.provenance())

    def provenance(self) -> dict:
        """The provenance every history of this source carries (a fresh dict)."""
        return {"source": "procedural", "calibration": asdict(self.calibration), "num_centuries": int(self.num_centuries)}

    def sample_values(self, rng: np.random.Generator, batch: tuple[int, ...] = ()) -> np.ndarray:
        """The values of ``batch`` independent histories, shape (*batch, T, d), from one draw per quantity.

        With ``batch=()`` the draws, and so the values, are exactly those of :meth:`sample`; the
        native vector env passes ``(N,)`` to draw the histories of N sub-envs at once.

        :param rng: the generator every random number comes from.
        :param batch: leading batch shape.
        """
        cal = self.calibration
        T, d = int(self.num_centuries), self.dim
        if self.value_space == CORPUS5:
            start_mean = np.asarray(cal.start_mean)
        else:
            start_mean = np.full(d, cal.start_pooled_mean)
        shape, steps_shape = (*batch, d), (*batch, T - 1, d)
        start = start_mean + cal.start_sd * rng.standard_normal(shape)
        drift = cal.drift_sd * rng.standard_normal(shape)
        ordinary = rng.laplace(0.0, cal.step_scale, steps_shape)
        is_shift = rng.random(steps_shape) < cal.shift_prob
        shift_size = cal.shift_threshold + rng.exponential(cal.shift_excess_mean or 1e-12, steps_shape)
        shift_sign = np.where(rng.random(steps_shape) < 0.5, -1.0, 1.0)
        steps = np.where(is_shift, shift_sign * shift_size, ordinary)
        start = start[..., None, :]
        logits = np.concatenate([start, start + np.cumsum(drift[..., None, :] + steps, axis=-2)], axis=-2)
        return sigmoid(logits)
