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


BOUND_TOLERANCE = 1e-6
"""Actions this far outside [-1, 1] are float rounding (e.g. 1.0000001 from a wrapper), accepted and clipped."""


def validate_action(action: Any, shape: tuple[int, ...], clip: bool = False) -> np.ndarray:
    """Return ``action`` as float32 of ``shape`` after checking dtype, finiteness and [-1, 1] bounds.

    Accepts any real-valued array-like (SB3 sends float64, some agents Python lists or ints). Values
    within :data:`BOUND_TOLERANCE` of the bounds are clipped onto them; with ``clip`` every finite
    value is clipped into [-1, 1] (the env's ``clip_actions=True``). NaN and inf are always errors.
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
        if not values:
            return array
        if not math.isfinite(sum(values)):
            _raise_bad_values(array)
        low, high = min(values), max(values)
        if -1.0 <= low and high <= 1.0:
            return array
    else:
        high = float(np.max(array))
        low = float(np.min(array))
        if not (math.isfinite(high) and math.isfinite(low)):  # max/min propagate NaN
            _raise_bad_values(array)
        if -1.0 <= low and high <= 1.0:
            return array
    if not clip and not (-1.0 - BOUND_TOLERANCE <= low and high <= 1.0 + BOUND_TOLERANCE):
        _raise_bad_values(array)
    return np.clip(array, -1.0, 1.0)


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
        f"hold {array[outside].tolist()}. Rescale the action, or build the env with clip_actions=True"
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
            f"are outside: {rows}. Rescale the actions, or build the env with clip_actions=True"
        )


def reject_unknown_kwargs(env_id: str, unknown: dict[str, Any], valid: Iterable[str], hint: str = "") -> None:
    """Raise an :class:`UnknownKwargError` (a TypeError) in Python's own wording, then the valid kwargs.

    The message starts like Python's (``X.__init__() got an unexpected keyword argument 'name'``) so
    that clients recognising that wording (torchrl drops ``frameskip`` on it) work unchanged.
    """
    if not unknown:
        return
    names = sorted(unknown)
    message = f"{env_id}.__init__() got an unexpected keyword argument {names[0]!r}"
    if len(names) > 1:
        message += f" (also {', '.join(repr(k) for k in names[1:])})"
    message += f"; valid kwargs: {', '.join(sorted(valid))}"
    if hint:
        message += f". {hint}"
    raise UnknownKwargError(message)
