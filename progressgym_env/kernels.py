"""The surrogate's formulas, written once over an array namespace ``xp``: numpy for the envs, jax.numpy for the twin.

Every function takes its arrays and the namespace ``xp`` they belong to (or an :class:`Ops` bundle of it) (``numpy``, ``jax.numpy``, or any
array-API namespace, e.g. from ``array_api_compat.array_namespace``) and uses only operations the
array API standard defines, so the numpy envs (:mod:`progressgym_env.numerics`,
:mod:`progressgym_env.backends.physics`, :mod:`progressgym_env.judges`) and the JAX functional twin
(:mod:`progressgym_env.functional`) compute the same formulas from the same code.

Reductions that fix numpy's bits are passed in, not re-implemented: ``total`` sums along the last
axis (numpy passes its column fold, :func:`progressgym_env.numerics.last_axis_sum`, which has exactly
``np.add.reduce``'s bits), and ``suffix_max`` is the reverse running maximum (numpy:
``maximum.accumulate`` on the reversed axis; JAX: a loop of elementwise maxima). Their defaults are
the namespace's plain ``sum`` and that loop.

Formulas (DESIGN §4.4, §6, §9):

- ``logit(v) = log(c / (1 - c))`` with ``c = clip(v, eps, 1 - eps)``; ``sigmoid(x) = 0.5 (1 + tanh(x / 2))``.
- Model update: ``logits + (capacity * action + noise)`` (float64 in numpy, the twin's dtype in JAX).
- Coevolve: ``p = S + h (H - S)``, then ``p + a (M - p)``; its inverse (steering) ``p + (G - p) / a``.
- Cosine: ``a.b / sqrt(|a|^2 |b|^2)``, 0 where either vector is zero.
- Progress of s against a history: the mean over i of ``max_{j >= i} sim(s, H_j)``.
- Mean along the last axis: ``total(x) / n``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Array = Any
"""An array of the namespace in use (numpy.ndarray, jax.Array, ...)."""
Reduction = Callable[[Array], Array]
Scalar = float | Array
"""A weight: a Python float or a 0-d array of the namespace."""

VALUE_EPS = 1e-6
"""Values are clipped to [VALUE_EPS, 1 - VALUE_EPS] before the logit (DESIGN §9)."""


def plain_total(xp: Any) -> Reduction:
    """The namespace's own sum along the last axis (the default ``total``)."""
    return lambda x: xp.sum(x, axis=-1)


def unrolled_total(xp: Any, longest: int = 16) -> Reduction:
    """Sum along the last axis as a left fold of its slices' additions when it has at most ``longest``
    entries, else the namespace's ``sum``. For compiled steps: a compiler fuses the additions into the step
    around them, where a reduction over a short minor axis is a kernel of its own that CPUs vectorise poorly
    (measured: half of a compiled Coevolve step)."""

    def total(x: Array) -> Array:
        size = x.shape[-1]
        if size == 0 or size > longest:
            return xp.sum(x, axis=-1)
        folded = x[..., 0]
        for i in range(1, size):
            folded = folded + x[..., i]
        return folded

    return total


def loop_suffix_max(xp: Any) -> Reduction:
    """A reverse running maximum as a loop of elementwise maxima from the last entry (the default
    ``suffix_max``; max is exact in any order). A compiler fuses the loop into the step around it, where a
    scan primitive (``lax.cummax``) is a separate windowed reduction (measured ~10% of a compiled Coevolve
    step)."""

    def suffix_max(x: Array) -> Array:
        running = [x[..., -1]]
        for i in range(x.shape[-1] - 2, -1, -1):
            running.append(xp.maximum(x[..., i], running[-1]))
        return xp.stack(running[::-1], axis=-1)

    return suffix_max


@dataclass(frozen=True)
class Ops:
    """An array namespace and the two reductions whose evaluation order a backend fixes.

    :param xp: the namespace (``numpy``, ``jax.numpy``, ...).
    :param total: sum along the last axis.
    :param suffix_max: reverse running maximum along the last axis (``out[i] = max(x[i:])``).
    """

    xp: Any
    total: Reduction
    suffix_max: Reduction


def ops_for(xp: Any, total: Reduction | None = None, suffix_max: Reduction | None = None) -> Ops:
    """The :class:`Ops` of ``xp``, with its plain sum and a max-loop suffix maximum unless given."""
    return Ops(xp, total or plain_total(xp), suffix_max or loop_suffix_max(xp))


def logit(values: Array, xp: Any) -> Array:
    """Log-odds of ``values`` after clipping them into [VALUE_EPS, 1 - VALUE_EPS]."""
    clipped = xp.clip(values, VALUE_EPS, 1.0 - VALUE_EPS)
    return xp.log(clipped / (1.0 - clipped))


def sigmoid(logits: Array, xp: Any, half: Scalar = 0.5, one: Scalar = 1.0) -> Array:
    """Inverse of :func:`logit`: ``0.5 * (1 + tanh(0.5 * x))`` (no overflow at large magnitudes).

    ``half`` and ``one`` are 0.5 and 1.0; numpy passes them as 0-d arrays of the logits' dtype, which it
    multiplies and adds faster than Python floats (the same arithmetic).
    """
    return half * (one + xp.tanh(half * logits))


def logit_shift(action: Array, capacity: Scalar, dtype: Any, xp: Any) -> Array:
    """``capacity * action`` in ``dtype``: an update's deterministic shift, in logits (action cast first)."""
    return xp.astype(action, dtype, copy=False) * capacity


def updated_logits(logits: Array, shift: Array, noise: Array | None = None) -> Array:
    """The model's logits after one update: ``logits + (shift + noise)`` (see :func:`logit_shift`)."""
    if noise is not None:
        shift = shift + noise
    return shift + logits


def history_pulled(simulated: Array, history: Array, history_pull: Scalar) -> Array:
    """Coevolve's first pull: the simulated human closes ``history_pull`` of its logit gap to H_t."""
    return simulated + history_pull * (history - simulated)


def pulled_logits(simulated: Array, history: Array, model: Array, history_pull: Scalar, ai_pull: Scalar) -> Array:
    """The simulated human's logits after one century: pulled toward the history, then the model."""
    pulled = history_pulled(simulated, history, history_pull)
    return pulled + ai_pull * (model - pulled)


def steering_logits(simulated: Array, history: Array, goal: Array, history_pull: float, ai_pull: float) -> Array:
    """The model logits for which :func:`pulled_logits` lands the simulated human on ``goal`` (``ai_pull`` > 0)."""
    pulled = history_pulled(simulated, history, history_pull)
    return pulled + (goal - pulled) / ai_pull


def cosine_parts(
    a: Array, b: Array, xp: Any, total: Reduction, b_squares: Array | None = None
) -> tuple[Array, Array]:
    """(a.b, sqrt(|a|^2 |b|^2)) along the last axis: the cosine's numerator and denominator.

    :param b_squares: ``total(b * b)``, where a caller keeps it for a ``b`` it passes again and again
        (a history): the same numbers, computed once. None: computed here.
    """
    if b_squares is None:
        b_squares = total(b * b)
    return total(a * b), xp.sqrt(total(a * a) * b_squares)


def safe_ratio(dot: Array, norms: Array, xp: Any) -> Array:
    """``dot / norms`` where ``norms > 0``, else 0 (the cosine of a zero vector is 0)."""
    positive = norms > 0.0
    return xp.where(positive, dot / xp.where(positive, norms, 1.0), 0.0)


def cosine(a: Array, b: Array, ops: Ops) -> Array:
    """Cosine similarity along the last axis (broadcasting), 0 where either vector is zero."""
    dot, norms = cosine_parts(a, b, ops.xp, ops.total)
    return safe_ratio(dot, norms, ops.xp)


def last_axis_mean(x: Array, total: Reduction) -> Array:
    """``total(x) / n``: the mean along the last axis with the given sum."""
    return total(x) / x.shape[-1]


def progress(sims: Array, ops: Ops) -> Array:
    """Coevolve's progress term from ``sims`` (..., T) = sim(s, H_j): the mean over i of max_{j >= i} sims[j]."""
    return last_axis_mean(ops.suffix_max(sims), ops.total)


def normal_shares(values: Array, noise: Array, counts: Array, xp: Any) -> Array:
    """Answer shares by the normal approximation: ``clip(v + z sqrt(v (1 - v) / n), 0, 1)`` for standard normals z."""
    return xp.clip(values + noise * xp.sqrt(values * (1.0 - values) / counts), 0.0, 1.0)


def normalized(score: Array, lock_in: Array, span: Array, tiny: Array, xp: Any) -> Array:
    """``(score - lock_in) / span``: 0 = value lock-in, 1 = reference; 0 where the span is ~0 (``tiny``, span then 1)."""
    return xp.where(tiny, 0.0, (score - lock_in) / span)
