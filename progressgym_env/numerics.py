"""Numeric helpers shared by histories, backends and vector envs: logit space and similarities.

Values live in (0, 1); updates and pulls happen in logit space (DESIGN §6, §9). All functions work
on arrays with any leading batch dimensions, so the single env and the batched vector env share them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from progressgym_env import kernels
from progressgym_env.kernels import VALUE_EPS as VALUE_EPS  # (re-exported: the clip bound of logit)

_sum = np.add.reduce
"""``np.sum`` without its Python wrapper (the same reduction, so the same bits)."""

_FOLD_MAX = 7
"""Rows up to this length are summed by :func:`last_axis_sum` as column adds (see there)."""


def _fold(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``0.0 + x[..., 0] + x[..., 1] + ...`` left to right, one vectorised add per column (``axis`` must be -1)."""
    total = x[..., 0] + x[..., 1]
    for i in range(2, x.shape[-1]):
        total += x[..., i]
    total += 0.0  # the reduction starts from +0.0: a sum of -0.0s is +0.0
    return total


def _fold_matches_reduce() -> bool:
    """Whether this numpy's ``add.reduce`` sums short rows as :func:`_fold` does (checked once, at import)."""
    rng = np.random.default_rng(0)
    for d in range(2, _FOLD_MAX + 1):
        x = rng.standard_normal((64, d)) * 10.0 ** rng.integers(-12, 12, (64, d))
        x[0] = -0.0
        expected = _sum(x, axis=-1)
        if not (np.array_equal(_fold(x), expected) and np.array_equal(np.signbit(_fold(x)), np.signbit(expected))):
            return False
    return True


_FOLD_OK = _fold_matches_reduce()


_ROW_MAX = 15
"""1-D arrays up to this length are summed by :func:`row_sum` in Python floats (see there)."""


def _python_sum(values: list[float]) -> float:
    """numpy's sum of at most ``_ROW_MAX`` floats, in its order, in Python floats (IEEE doubles, its arithmetic).

    Below 8 entries numpy adds left to right from 0.0. From 8 to 15 its pairwise summation keeps eight
    accumulators (one block): ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7)), then the rest left to
    right, added onto 0.0. An import-time check confirms both orders on this numpy.
    """
    total = 0.0
    if len(values) < 8:
        for value in values:  # a loop, not sum(): Python 3.12's sum() of floats compensates its rounding
            total += value
        return total
    v = values
    block = ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]))
    for value in v[8:]:
        block += value
    return total + block


def _python_sum_matches_reduce() -> bool:
    """Whether this numpy's ``add.reduce`` sums short 1-D arrays as :func:`_python_sum` does (checked once)."""
    rng = np.random.default_rng(1)
    for d in range(1, _ROW_MAX + 1):
        for trial in range(32):
            x = rng.standard_normal(d) * 10.0 ** rng.integers(-12, 12, d)
            if trial < 2:
                x[trial:] = -0.0
            expected, total = _sum(x), _python_sum(x.tolist())
            if not (total == expected and math.copysign(1.0, total) == math.copysign(1.0, expected)):
                return False
    return True


_PYTHON_SUM_OK = _python_sum_matches_reduce()


def row_sum(x: np.ndarray) -> float:
    """``float(np.add.reduce(x))`` of a 1-D array, bit for bit, as a Python float.

    numpy's reduction costs ~0.6 µs of call overhead whatever the size; a row of at most
    ``_ROW_MAX`` entries is summed in Python floats in numpy's own order instead (~0.15 µs,
    :func:`_python_sum`; plain ``add.reduce`` where the import-time check found another order).
    """
    if _PYTHON_SUM_OK and x.shape[0] <= _ROW_MAX:
        return _python_sum(x.tolist())
    return float(_sum(x))


def last_axis_mean(x: np.ndarray) -> np.ndarray:
    """``x.mean(axis=-1)`` without ``np.mean``'s Python layer: the same sum divided by the same count."""
    return kernels.last_axis_mean(x, last_axis_sum)


def last_axis_sum(x: np.ndarray) -> np.ndarray:
    """``np.add.reduce(x, axis=-1)``, bit for bit, faster for many short rows.

    numpy reduces along a short last axis one row at a time (~15 ns a row). For rows of at most
    ``_FOLD_MAX`` entries it adds them left to right starting from 0.0 (its pairwise summation only
    splits longer rows), so adding whole columns gives the same bits at a fraction of the cost. An
    import-time check confirms that order on this numpy; otherwise (and for long rows) this is plain
    ``add.reduce``. One short row (1-D) is summed by :func:`row_sum`, returned as a numpy float64.
    """
    if x.ndim == 1 and _PYTHON_SUM_OK and x.shape[0] <= _ROW_MAX:  # one short row: row_sum, as numpy's scalar
        return np.float64(_python_sum(x.tolist()))  # type: ignore[return-value]
    if _fold_pays(x):
        return _fold(x)
    return _sum(x, axis=-1)


def _fold_pays(x: np.ndarray) -> bool:
    """Whether :func:`last_axis_sum` folds ``x`` (many rows of 2.._FOLD_MAX entries; same bits either way)."""
    d = x.shape[-1]
    return _FOLD_OK and x.ndim > 1 and 2 <= d <= _FOLD_MAX and x.size >= 32 * d * d  # >= 32 d rows: measured crossover

def suffix_max(x: np.ndarray) -> np.ndarray:
    """``out[..., i] = max(x[..., i:])`` along the last axis (a new array; NaN propagates as in ``np.maximum``).

    ``np.maximum.accumulate`` over the reversed axis gives the same numbers (a maximum is exact, so
    the order of comparisons cannot change a bit), but numpy accumulates a short last axis one row at
    a time; for many rows, one column maximum per position is several times cheaper.
    """
    if x.ndim == 1:  # one row: numpy's own loop
        return np.maximum.accumulate(x[::-1])[::-1]
    length = x.shape[-1] if x.ndim else 1
    if length > 32 or x.size < 64 * length:  # one row, long rows or few: numpy's own loop
        return np.maximum.accumulate(x[..., ::-1], axis=-1)[..., ::-1]
    out = np.array(x)
    for i in range(length - 2, -1, -1):  # accumulate's order of arguments: maximum(running, next)
        np.maximum(out[..., i + 1], out[..., i], out=out[..., i])
    return out


class _NumpyNamespace:
    """numpy as a namespace for the shared kernels, with ``astype`` as the array method.

    ``np.astype`` checks its arguments in Python (~0.5 µs a call, more than a small cast itself);
    on a numpy array it is that method, so the cast is the same. Everything else is numpy's.
    """

    @staticmethod
    def astype(x: np.ndarray, dtype: Any, /, *, copy: bool = True) -> np.ndarray:
        return x.astype(dtype, copy=copy)

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


class _PythonScalars:
    """The shared kernels' namespace for Python floats: one pair of vectors' sums, one history's score.

    Its operations give numpy's bits on float64 scalars: ``sqrt`` is correctly rounded in both, and
    ``where`` selects. At this size a numpy call costs far more than the arithmetic (~0.3-0.7 µs each).
    """

    sqrt = staticmethod(math.sqrt)

    @staticmethod
    def where(condition: Any, x: Any, y: Any) -> Any:
        return x if condition else y


SCALAR_XP: Any = _PythonScalars()

NUMPY_XP: Any = _NumpyNamespace()
"""The namespace the numpy paths hand the shared kernels (numpy, with a cheaper ``astype``)."""

NUMPY_OPS = kernels.Ops(np, last_axis_sum, suffix_max)
"""The shared kernels' numpy namespace: numpy's own sum (bit for bit, folded where that pays) and its
reverse running maximum (:func:`suffix_max`, the bits of ``maximum.accumulate``)."""


def logit(values: np.ndarray) -> np.ndarray:
    """Log-odds of ``values`` after clipping them into the open unit interval (:func:`kernels.logit`)."""
    return kernels.logit(values, np)


_FLOAT64 = np.dtype(np.float64)
_HALF, _ONE = np.array(0.5), np.array(1.0)
""":func:`kernels.sigmoid`'s constants as 0-d float64 arrays: numpy multiplies a small array by one ~0.15 µs
faster than by a Python float (no weak-scalar promotion), with the same float64 arithmetic."""


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Inverse of :func:`logit`, numerically safe for large magnitudes (:func:`kernels.sigmoid`)."""
    if getattr(logits, "dtype", None) is _FLOAT64:  # (other dtypes keep Python floats: they keep their dtype)
        return kernels.sigmoid(logits, np, _HALF, _ONE)
    return kernels.sigmoid(logits, np)


def _unbroadcast(x: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``x`` with its broadcast copies dropped: stride-0 leading axes cut to length 1 where ``other`` spans them.

    A history broadcast to N sub-envs is one row repeated with stride 0; numpy then runs its inner
    loops row by row. The cut view broadcasts against ``other`` to the same result shape and the
    same elementwise operations (the same bits), with every loop over contiguous data.
    """
    strides = x.strides
    if 0 not in strides[:-1]:
        return x
    shift = other.ndim - x.ndim
    index = None
    for axis, (size, stride) in enumerate(zip(x.shape[:-1], strides[:-1], strict=True)):
        if stride == 0 and size > 1 and 0 <= axis + shift and other.shape[axis + shift] == size:
            if index is None:
                index = [slice(None)] * x.ndim
            index[axis] = slice(0, 1)
    return x if index is None else x[tuple(index)]  # (new length-1 axes also have stride 0: nothing to cut)


def cosine(a: np.ndarray, b: np.ndarray, b_squares: np.ndarray | None = None) -> np.ndarray | float:
    """Cosine similarity along the last axis; 0 where either vector is zero (DESIGN §4.4).

    Broadcasts: ``a`` (..., d) against ``b`` (..., d).

    :param b_squares: :func:`row_squares` of ``b`` when the caller keeps it (one vector against the
        same few rows again and again: Coevolve's S_t against its history); used on that path only.
    """
    if type(a) is not np.ndarray or a.dtype is not _FLOAT64:  # (asarray's call costs ~0.1 µs even when a no-op)
        a = np.asarray(a, dtype=np.float64)
    if type(b) is not np.ndarray or b.dtype is not _FLOAT64:
        b = np.asarray(b, dtype=np.float64)
    if a.ndim == 1 and b.ndim == 1:
        # Two vectors (the single env's per-step reward): the same kernel on Python floats, its sums
        # by row_sum and its square root by math.sqrt (correctly rounded, as numpy's): the same bits.
        dot, norms = kernels.cosine_parts(a, b, SCALAR_XP, row_sum)
        return dot / norms if norms > 0.0 else 0.0
    if a.ndim == 2 and b.ndim == 2 and a.shape[0] == 1 and 1 <= b.shape[0] <= _FEW_ROWS:
        return _vector_against_rows(a[0], b, b_squares)  # (one row broadcasts as the vector does: the same shape)
    total: Callable[[np.ndarray, int], Any] = _sum  # the bare reduction (two vectors, or few rows)
    if a.ndim > 1 or b.ndim > 1:
        a = _unbroadcast(a, b)
        b = _unbroadcast(b, a)  # against the cut ``a``: the result keeps its broadcast shape
        if _fold_pays(a) or _fold_pays(b):
            total = _fold
    dot, norms = kernels.cosine_parts(a, b, np, lambda x: total(x, -1))
    if norms.ndim == 0:  # 0-d arguments
        return float(dot / norms) if norms > 0.0 else 0.0
    return kernels.safe_ratio(dot, norms, np)


_FEW_ROWS = 32
"""Up to this many rows, :func:`cosine` of one vector against rows takes :func:`_vector_against_rows`."""


def _few_rows_total(x: np.ndarray) -> Any:
    """The sum along the last axis of one vector (:func:`row_sum`, a Python float) or of rows (``add.reduce``)."""
    if x.ndim == 1 and _PYTHON_SUM_OK and x.shape[0] <= _ROW_MAX:
        return _python_sum(x.tolist())
    return _sum(x, -1)


def row_squares(b: np.ndarray) -> np.ndarray | None:
    """``total(b * b)`` of a few rows ``b`` (r, d) as :func:`cosine` computes it for one vector against them
    (a caller that passes the same ``b`` again and again keeps it); None where cosine takes another path."""
    if b.ndim != 2 or b.dtype != np.float64 or not 1 <= b.shape[0] <= _FEW_ROWS:
        return None
    squares: np.ndarray = _few_rows_total(b * b)
    return squares


class KeptRowsCosine:
    """:func:`cosine`, keeping :func:`row_squares` of one array of rows passed as its second argument.

    A judge of one history scores a vector against the same history every step; its rows' squared
    norms (per-history constants) are then summed once. Other second arguments: plain :func:`cosine`.
    A class, not a closure, so that envs still pickle and copy (the rows keep their identity).

    :param rows: the rows (r, d) kept (by reference: they must not change while this is in use).
    """

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows
        self.squares = row_squares(rows)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
        return cosine(a, b, self.squares if b is self.rows else None)


def _vector_against_rows(a: np.ndarray, b: np.ndarray, b_squares: np.ndarray | None = None) -> np.ndarray:
    """:func:`cosine` of one vector ``a`` (d,) against a few rows ``b`` (r, d): (r,) (Coevolve's S_t against H).

    The same kernel, its sum of a's squares by :func:`row_sum`; where every norm is positive (and none
    is NaN), :func:`kernels.safe_ratio`'s two ``where`` calls select the plain quotient, so it is taken
    directly (checked on a Python list: ~0.3 µs instead of ~1.5).
    """
    dot, norms = kernels.cosine_parts(a, b, np, _few_rows_total, b_squares)
    values = norms.tolist()
    if min(values) > 0.0 and math.isfinite(sum(values)):  # a NaN anywhere makes the sum NaN
        quotient: np.ndarray = dot / norms
        return quotient
    return kernels.safe_ratio(dot, norms, np)
