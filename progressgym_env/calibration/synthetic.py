"""Transitions from a known physics: what a calibration must recover (tests, and a check of the fit).

:func:`simulate_transitions` plays the designed actions (:func:`~progressgym_env.calibration.design.action_schedule`)
through a :class:`~progressgym_env.backends.calibration.CalibratedResponse` from random starting
logits and measures each model with Gaussian noise in logits, reporting that noise as the evaluator
would (a per-dim standard error in value units). The result has the layout of a collected
transitions document, so it goes through the same fit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from progressgym_env.backends.calibration import CalibratedResponse
from progressgym_env.calibration.collect import TRANSITIONS_FORMAT, TRANSITIONS_VERSION
from progressgym_env.calibration.design import action_schedule
from progressgym_env.numerics import sigmoid


def simulate_transitions(
    response: CalibratedResponse, count: int, seed: int, *, measurement_sd: float, start_sd: float = 1.5
) -> dict[str, Any]:
    """``count`` transitions of ``response`` (measurement noise ``measurement_sd`` logits per measurement)."""
    rng = np.random.default_rng(seed)
    d = response.dim
    actions, kinds = action_schedule(count, d, seed)
    rows = []
    for action, kind in zip(actions, kinds, strict=True):
        z0 = rng.normal(0.0, start_sd, d)
        moved = bool(np.any(action))
        z1 = response.updated_logits(z0, action, rng.standard_normal(d)) if moved else z0
        seen0 = z0 + rng.normal(0.0, measurement_sd, d)
        seen1 = z1 + rng.normal(0.0, measurement_sd, d) if moved else seen0
        p0, p1 = sigmoid(seen0), sigmoid(seen1)
        rows.append({
            "kind": kind, "action": action.astype(np.float64).tolist(),
            "before": p0.tolist(), "after": p1.tolist(),
            "stderr_before": (measurement_sd * p0 * (1 - p0)).tolist(),
            "stderr_after": (measurement_sd * p1 * (1 - p1)).tolist(),
        })
    return {
        "format": TRANSITIONS_FORMAT, "version": TRANSITIONS_VERSION,
        "provenance": {"backend": "synthetic", "truth": response.name, "value_space": response.value_space,
                       "dims": list(response.dims)},
        "transitions": rows,
    }
