"""Numeric helpers shared by histories, backends and vector envs: logit space and similarities.

Values live in (0, 1); updates and pulls happen in logit space (DESIGN §6, §9). All functions work
on arrays with any leading batch dimensions, so the single env and the batched vector env share them.
"""

from __future__ import annotations

import numpy as np

VALUE_EPS = 1e-6
"""Values are clipped to [VALUE_EPS, 1 - VALUE_EPS] before the logit (DESIGN §9)."""


def logit(values: np.ndarray) -> np.ndarray:
    """Log-odds of ``values`` after clipping them into the open unit interval."""
    clipped = np.clip(values, VALUE_EPS, 1.0 - VALUE_EPS)
    return np.log(clipped / (1.0 - clipped))


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Inverse of :func:`logit` (numerically safe for large magnitudes)."""
    return 0.5 * (1.0 + np.tanh(0.5 * logits))


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """Cosine similarity along the last axis; 0 where either vector is zero (DESIGN §4.4).

    Broadcasts: ``a`` (..., d) against ``b`` (..., d).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    dot = np.sum(a * b, axis=-1)
    norms = np.sqrt(np.sum(a * a, axis=-1) * np.sum(b * b, axis=-1))
    safe = np.where(norms > 0.0, norms, 1.0)
    result = np.where(norms > 0.0, dot / safe, 0.0)
    return float(result) if result.ndim == 0 else result
