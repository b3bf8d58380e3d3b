"""The surrogate's physics, written once: the model update and PG-Coevolve's pulls, in logit space.

Pure functions over arrays of shape (..., d): the single env's backend calls them with batch shape
``()`` (one model), the native vector env with ``(N,)``. Elementwise arithmetic only, so each entry
of a batched result has exactly the bits of the one-model call on that row.

- Update: ``M_t = sigmoid(logit(M_{t-1}) + capacity * a + noise)``; an all-zero action is no update
  at all (no noise is drawn for it either).
- Coevolve: ``S_t = AI-pull(history-pull(S_{t-1}, H_t), M_t)``: the simulated human closes the
  fraction ``history_pull`` of its logit gap to the century's values, then ``ai_pull`` of the gap to
  the agent's model.

The formulas themselves are :mod:`progressgym_env.kernels` (shared with the JAX twin); these are their
numpy entry points.
"""

from __future__ import annotations

import numpy as np

from progressgym_env import kernels
from progressgym_env.numerics import NUMPY_XP


def moves_model(action: np.ndarray) -> np.ndarray | bool:
    """Whether an action (..., d) updates the model: an all-zero action is no update at all.

    :return: a Python bool for one action (d,), else a bool array of the batch shape.
    """
    if action.ndim == 1:
        return bool(np.count_nonzero(action))
    nonzero = action != 0
    if action.shape[-1] > 32:
        return nonzero.any(axis=-1)
    moving = nonzero[..., 0].copy()
    for i in range(1, action.shape[-1]):  # column ORs: numpy reduces short rows one row at a time
        moving |= nonzero[..., i]
    return moving


def updated_logits(
    logits: np.ndarray, action: np.ndarray, capacity: float | np.ndarray, noise: np.ndarray | None = None
) -> np.ndarray:
    """The model's logits after one update: ``logits + capacity * action (+ noise)``, float64.

    :param logits: current model logits (..., d).
    :param action: the update strengths (..., d), any float dtype (computed in float64).
    :param capacity: logit shift at |a_i| = 1 (a float, or a 0-d float64 array: the same product, cheaper).
    :param noise: fine-tuning noise already scaled to logits (..., d), or None.
    :return: a new array (the inputs are not modified).
    """
    return kernels.updated_logits(logits, kernels.logit_shift(action, capacity, np.float64, NUMPY_XP), noise)


def pulled_logits(
    simulated: np.ndarray,
    history: np.ndarray,
    model: np.ndarray,
    history_pull: float | np.ndarray,
    ai_pull: float | np.ndarray,
) -> np.ndarray:
    """The simulated human's logits after one century: pulled toward the history, then the model.

    :param simulated: S_{t-1} in logits (..., d).
    :param history: H_t in logits (..., d).
    :param model: the agent's model M_t in logits (..., d).
    :param history_pull: fraction of the gap to H_t closed first.
    :param ai_pull: fraction of the remaining gap to M_t closed next.

    The pulls may be 0-d float64 arrays (the same products; numpy multiplies by them faster).
    """
    return kernels.pulled_logits(simulated, history, model, history_pull, ai_pull)


def steering_logits(
    simulated: np.ndarray, history: np.ndarray, goal: np.ndarray, history_pull: float, ai_pull: float
) -> np.ndarray:
    """The model logits for which :func:`pulled_logits` lands the simulated human on ``goal``.

    The inverse of the AI pull (``ai_pull`` must be > 0): ``pulled + (goal - pulled) / ai_pull``.
    """
    return kernels.steering_logits(simulated, history, goal, history_pull, ai_pull)
