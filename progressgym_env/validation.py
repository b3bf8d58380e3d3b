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


_FLOAT32 = np.dtype(np.float32)
"""numpy's float32 dtype object (native arrays of float32 share it)."""

BOUND_TOLERANCE = 1e-6
"""Actions this far outside [-1, 1] are float rounding (e.g. 1.0000001 from a wrapper), accepted and clipped."""


COMMON_KWARGS: tuple[str, ...] = (
    "history",
    "similarity",
    "query_budget",
    "backend",
    "backend_config",
    "render_mode",
    "obs_history",
    "clip_actions",
    "record_in_info",
    "interface",
)
"""The kwargs every challenge's env takes; a challenge adds its judge's parameters."""


def validate_action(action: Any, shape: tuple[int, ...], clip: bool = False) -> np.ndarray:
    """Return ``action`` as float32 of ``shape`` after checking dtype, finiteness and [-1, 1] bounds.

    Accepts any real-valued array-like (SB3 sends float64, some agents Python lists or ints). Values
    within :data:`BOUND_TOLERANCE` of the bounds are clipped onto them; with ``clip`` every finite
    value is clipped into [-1, 1] (the env's ``clip_actions=True``). NaN and inf are always errors.
    """
    array = action if type(action) is np.ndarray else _as_array(action, shape)
    dtype = array.dtype
    if dtype is not _FLOAT32 and dtype.kind not in "fiu":  # (an identity test first: the usual float32 costs ~20 ns)
        raise InvalidActionError(
            f"action must be real-valued numbers, found dtype {array.dtype} "
            f"({type(action).__name__}); pass a float array of shape {shape}"
        )
    if array.shape != shape:
        raise InvalidActionError(f"action has shape {array.shape}, expected {shape} (one entry per value dimension)")
    if clip:  # clip in the given precision first, so a finite 1e39 (inf in float32) is clipped too
        if not np.isfinite(array).all():
            _raise_bad_values(array)
        return np.clip(array, -1.0, 1.0).astype(np.float32, copy=False)
    original = array
    if dtype is not _FLOAT32 and dtype != np.float32:
        with np.errstate(over="ignore"):  # a finite 1e39 becomes inf: reported from ``original`` below
            array = array.astype(np.float32)
    if array.size <= _SMALL:
        # One env's action: Python's min/max/sum over a list beat numpy's reduction machinery.
        # A NaN or inf anywhere makes the sum non-finite, so the bounds test below stays exact.
        values = (array if array.ndim == 1 else array.ravel()).tolist()
        if not values:
            return array
        if not math.isfinite(sum(values)):
            _raise_bad_values(original)
        low, high = min(values), max(values)
        if -1.0 <= low and high <= 1.0:
            return array
    else:
        high = float(np.max(array))
        low = float(np.min(array))
        if not (math.isfinite(high) and math.isfinite(low)):  # max/min propagate NaN
            _raise_bad_values(original)
        if -1.0 <= low and high <= 1.0:
            return array
    if not (-1.0 - BOUND_TOLERANCE <= low and high <= 1.0 + BOUND_TOLERANCE):
        _raise_bad_values(original)
    return np.clip(array, -1.0, 1.0)


def _as_array(action: Any, shape: tuple[int, ...]) -> np.ndarray:
    """``action`` as a plain numpy array, or an :class:`InvalidActionError` saying why it cannot be one.

    Masked arrays are refused (their mask would be dropped silently); torch tensors are converted
    whatever their dtype (bfloat16) or autograd state, without importing torch.
    """
    if isinstance(action, np.ma.MaskedArray):
        raise InvalidActionError(
            "action is a masked array: its mask would be ignored; pass action.filled(value) or a plain array"
        )
    if type(action).__module__.startswith("torch") and hasattr(action, "detach"):
        try:
            return action.detach().cpu().double().numpy()
        except (RuntimeError, TypeError, ValueError) as exc:
            raise InvalidActionError(f"action tensor could not be converted to numbers ({exc})") from None
    try:
        return np.asarray(action)
    except (ValueError, TypeError) as exc:  # ragged lists, objects numpy cannot read
        raise InvalidActionError(
            f"action must be a real-valued array of shape {shape}; {type(action).__name__} could not be read as "
            f"one ({exc})"
        ) from None


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
    if not message.endswith("."):  # a full stop before what gymnasium.make appends ("... was raised from ...")
        message += "."
    raise UnknownKwargError(message)
