"""Numeric helpers shared by histories, backends and vector envs: logit space and similarities.

Values live in (0, 1); updates and pulls happen in logit space (DESIGN §6, §9). All functions work
on arrays with any leading batch dimensions, so the single env and the batched vector env share them.
"""

from __future__ import annotations

import numpy as np

_sum = np.add.reduce
"""``np.sum`` without its Python wrapper (the same reduction, so the same bits)."""

VALUE_EPS = 1e-6
"""Values are clipped to [VALUE_EPS, 1 - VALUE_EPS] before the logit (DESIGN §9)."""


def logit(values: np.ndarray) -> np.ndarray:
    """Log-odds of ``values`` after clipping them into the open unit interval."""
    clipped = np.clip(values, VALUE_EPS, 1.0 - VALUE_EPS)
    return np.log(clipped / (1.0 - clipped))


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Inverse of :func:`logit` (numerically safe for large magnitudes).

    Computes 0.5 * (1 + tanh(0.5 * x)) in one new array (same operations, fewer temporaries).
    """
    out = np.multiply(logits, 0.5)
    if not isinstance(out, np.ndarray):  # a scalar
        return 0.5 * (1.0 + np.tanh(out))
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """Cosine similarity along the last axis; 0 where either vector is zero (DESIGN §4.4).

    Broadcasts: ``a`` (..., d) against ``b`` (..., d).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    dot = _sum(a * b, axis=-1)
    norms = np.sqrt(_sum(a * a, axis=-1) * _sum(b * b, axis=-1))
    if norms.ndim == 0:  # two vectors: a Python float (the single env's per-step path)
        return float(dot / norms) if norms > 0.0 else 0.0
    positive = norms > 0.0
    return np.where(positive, dot / np.where(positive, norms, 1.0), 0.0)
