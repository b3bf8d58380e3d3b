"""Input validation shared by the single and vector envs: actions and env kwargs.

Errors name the problem and the expected form; nothing is silently clipped (DESIGN §4, §9).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from progressgym_env.errors import InvalidActionError, UnknownKwargError

_SMALL = 64
"""Actions with at most this many entries are range-checked in plain Python (faster at that size)."""


def validate_action(action: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Return ``action`` as float32 of ``shape`` after checking dtype, finiteness and [-1, 1] bounds.

    Accepts any real-valued array-like (SB3 sends float64, some agents Python lists or ints).
    """
    array = action if isinstance(action, np.ndarray) else np.asarray(action)
    if array.dtype.kind not in "fiu":
        raise InvalidActionError(
            f"action must be real-valued numbers, found dtype {array.dtype} "
            f"({type(action).__name__}); pass a float array of shape {shape}"
        )
    if array.shape != shape:
        raise InvalidActionError(f"action has shape {array.shape}, expected {shape} (one entry per value dimension)")
    array = array.astype(np.float32, copy=False)
    if array.size <= _SMALL:
        # One env's action: Python's min/max/sum over a list beat numpy's reduction machinery.
        # A NaN or inf anywhere makes the sum non-finite, so the bounds test below stays exact.
        values = array.ravel().tolist()
        if values and not (math.isfinite(sum(values)) and -1.0 <= min(values) and max(values) <= 1.0):
            _raise_bad_values(array)
    elif not np.max(np.abs(array)) <= 1.0:  # also catches NaN
        _raise_bad_values(array)
    return array


def _raise_bad_values(array: np.ndarray) -> None:
    if array.ndim > 1:
        _raise_bad_batch(array)
    nan = np.flatnonzero(np.isnan(array))
    if nan.size:
        raise InvalidActionError(f"action holds NaN at index {nan.tolist()}: {array.tolist()}")
    inf = np.flatnonzero(np.isinf(array))
    if inf.size:
        raise InvalidActionError(f"action holds inf at index {inf.tolist()}: {array.tolist()}")
    outside = np.flatnonzero(np.abs(array) > 1.0)
    raise InvalidActionError(
        f"action values must lie in [-1, 1] (the update strength per dimension); index {outside.tolist()} "
        f"hold {array[outside].tolist()}. Rescale the action (nothing is clipped for you)"
    )


def _raise_bad_batch(actions: np.ndarray) -> None:
    """Like :func:`_raise_bad_values` for a batch (N, d): names (env, dim) positions and the first bad rows."""
    for mask, problem in ((np.isnan(actions), "NaN"), (np.isinf(actions), "inf"), (np.abs(actions) > 1.0, None)):
        if not mask.any():
            continue
        where = np.argwhere(mask)[:5].tolist()
        rows = "; ".join(f"env {env}: {actions[env].tolist()}" for env in sorted({e for e, _ in where})[:3])
        if problem is not None:
            raise InvalidActionError(f"actions hold {problem} at (env, dim) {where}: {rows}")
        raise InvalidActionError(
            f"action values must lie in [-1, 1] (the update strength per dimension); (env, dim) {where} "
            f"are outside: {rows}. Rescale the actions (nothing is clipped for you)"
        )


def reject_unknown_kwargs(env_id: str, unknown: dict[str, Any], valid: Iterable[str], hint: str = "") -> None:
    """Raise an :class:`UnknownKwargError` (a TypeError) naming every unknown kwarg and listing the valid ones."""
    if not unknown:
        return
    names = ", ".join(repr(k) for k in sorted(unknown))
    message = f"{env_id} got unknown kwarg(s) {names}; valid kwargs: {', '.join(sorted(valid))}"
    if hint:
        message += f". {hint}"
    raise UnknownKwargError(message)
