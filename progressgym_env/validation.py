"""Input validation shared by the single and vector envs: actions and env kwargs.

Errors name the problem and the expected form; nothing is silently clipped (DESIGN §4, §9).
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from progressgym_env.errors import InvalidActionError, UnknownKwargError


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
    peak = np.max(np.abs(array)) if array.size else 0.0
    if not peak <= 1.0:  # also catches NaN
        _raise_bad_values(array)
    return array


def _raise_bad_values(array: np.ndarray) -> None:
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


def reject_unknown_kwargs(env_id: str, unknown: dict[str, Any], valid: Iterable[str], hint: str = "") -> None:
    """Raise an :class:`UnknownKwargError` (a TypeError) naming every unknown kwarg and listing the valid ones."""
    if not unknown:
        return
    names = ", ".join(repr(k) for k in sorted(unknown))
    message = f"{env_id} got unknown kwarg(s) {names}; valid kwargs: {', '.join(sorted(valid))}"
    if hint:
        message += f". {hint}"
    raise UnknownKwargError(message)
