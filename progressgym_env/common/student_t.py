"""The Student t distribution's CDF and quantile for integer degrees of freedom, in plain ``math``.

The leaderboard needs one number per row, the t quantile of its confidence interval; importing
``scipy.stats`` for it cost most of a benchmark's CPU time. For an integer ``df`` the two-sided
probability ``A(t | df) = P(|T| <= t)`` is a finite sum (Abramowitz & Stegun 26.7.3-4, with
``θ = atan(t / √df)``)::

    df odd:   A = (2/π) (θ + sin θ (cos θ + 2/3 cos³θ + ... + (2·4···(df-3))/(1·3···(df-2)) cos^(df-2) θ))
    df even:  A = sin θ (1 + 1/2 cos²θ + (1·3)/(2·4) cos⁴θ + ... + (1·3···(df-3))/(2·4···(df-2)) cos^(df-2) θ)

and :func:`t_ppf` inverts it by safeguarded Newton steps (the density is closed-form), to within a
few units in the last place of ``scipy.stats.t.ppf`` (checked in ``tests/test_common.py``).
"""

from __future__ import annotations

import math


def _check_df(df: int) -> int:
    if isinstance(df, bool) or int(df) != df or df < 1:
        raise ValueError(f"degrees of freedom must be an integer >= 1, got {df!r}")
    return int(df)


def t_two_sided(t: float, df: int) -> float:
    """``P(|T| <= t)`` for ``T`` Student t with ``df`` degrees of freedom (``t >= 0``)."""
    df = _check_df(df)
    if t <= 0.0:
        return 0.0
    if math.isinf(t):
        return 1.0
    theta = math.atan(t / math.sqrt(df))
    sin, cos2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2 == 1:
        if df == 1:
            return 2.0 * theta / math.pi
        term, total = math.cos(theta), math.cos(theta)
        for k in range(3, df - 1, 2):  # term_k = term_{k-2} · (k-1)/k · cos²θ, up to cos^(df-2)θ
            term *= (k - 1) / k * cos2
            total += term
        return 2.0 / math.pi * (theta + sin * total)
    term, total = 1.0, 1.0
    for k in range(2, df - 1, 2):  # term_k = term_{k-2} · (k-1)/k · cos²θ, up to cos^(df-2)θ
        term *= (k - 1) / k * cos2
        total += term
    return sin * total


def t_cdf(t: float, df: int) -> float:
    """``P(T <= t)`` for ``T`` Student t with ``df`` (an integer >= 1) degrees of freedom."""
    half = 0.5 * t_two_sided(abs(t), df)
    return 0.5 + half if t >= 0 else 0.5 - half


def t_pdf(t: float, df: int) -> float:
    """The density of the Student t distribution with ``df`` degrees of freedom at ``t``."""
    df = _check_df(df)
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_norm - (df + 1) / 2 * math.log1p(t * t / df))


def t_ppf(q: float, df: int) -> float:
    """The ``q`` quantile of the Student t distribution with ``df`` (an integer >= 1) degrees of freedom.

    :param q: a probability in (0, 1). :param df: degrees of freedom.
    :raises ValueError: ``q`` outside (0, 1) or ``df`` not an integer >= 1.
    """
    df = _check_df(df)
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must lie in (0, 1), got {q!r}")
    if q == 0.5:
        return 0.0
    if q < 0.5:
        return -t_ppf(1.0 - q, df)
    if df == 1:
        return math.tan(math.pi * (q - 0.5))
    if df == 2:
        return (2.0 * q - 1.0) / math.sqrt(2.0 * q * (1.0 - q))
    target = 2.0 * q - 1.0  # P(|T| <= t) at the quantile
    low, high = 0.0, 1.0
    while t_two_sided(high, df) < target:  # bracket the root
        low, high = high, high * 2.0
    t = 0.5 * (low + high)
    for _ in range(200):
        error = t_two_sided(t, df) - target
        if error > 0:
            high = t
        else:
            low = t
        step = error / (2.0 * t_pdf(t, df))
        candidate = t - step
        if not low < candidate < high:  # Newton left the bracket: bisect instead
            candidate = 0.5 * (low + high)
        if abs(candidate - t) <= 1e-15 * max(1.0, abs(t)):
            return candidate
        t = candidate
    return t


__all__ = ["t_cdf", "t_pdf", "t_ppf", "t_two_sided"]
