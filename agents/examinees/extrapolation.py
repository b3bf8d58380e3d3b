"""Extrapolating per-pair preference votes over the centuries with a finite-difference polynomial.

Each judged pair has a verdict every century. Relative to the latest verdict, a century votes +1 when it
agrees with it and -1 when it disagrees. The votes of the last ``p + 1`` centuries determine a polynomial
of degree ``p`` (order ``p``); assuming its (p+1)-th finite difference vanishes gives the next value

    v_{n+1} = sum_{i=0..p} C(p+1, i) (-1)^(p-i) v_{n-p+i}

(order 1: 2 v_n - v_{n-1}; order 2: 3 v_n - 3 v_{n-1} + v_{n-2}), applied ``horizon`` times. The sign of
the extrapolated vote orients the pair (negative: the latest verdict is reversed), its size weights it:
the pair is repeated ``min(|v|, max_weight)`` times in the training data. The coefficients sum to 1 and
the votes are odd, so an extrapolated vote is never 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

import numpy as np

MAX_WEIGHT = 5
"""Largest number of copies of one extrapolated pair (ProgressGym's cap)."""


def extrapolation_coefficients(order: int) -> np.ndarray:
    """The weights of the last ``order + 1`` values (oldest first) in the one-step extrapolation."""
    if order < 0:
        raise ValueError(f"the extrapolation order must be >= 0, got {order}")
    return np.array([comb(order + 1, i) * (-1) ** (order - i) for i in range(order + 1)], dtype=np.int64)


def extrapolate_votes(votes: np.ndarray, order: int, horizon: int) -> np.ndarray:
    """Extrapolate each pair's vote ``horizon`` centuries past the last one.

    :param votes: (centuries, pairs) of +1 / -1, oldest century first.
    :param order: polynomial order p; fewer than p + 1 centuries lower it to what there is.
    :param horizon: centuries ahead (>= 1; 0 returns the latest votes).
    :return: (pairs,) int extrapolated votes.
    """
    votes = np.asarray(votes, dtype=np.int64)
    if votes.ndim != 2 or votes.shape[0] < 1:
        raise ValueError(f"votes must be (centuries >= 1, pairs), found shape {votes.shape}")
    p = min(int(order), votes.shape[0] - 1)
    coef = extrapolation_coefficients(p)
    window = votes[-(p + 1) :].copy()
    for _ in range(int(horizon)):
        window = np.concatenate([window[1:], (coef @ window)[None]], axis=0)
    return window[-1]


def relative_votes(first_chosen: Sequence[np.ndarray]) -> np.ndarray:
    """Votes relative to the latest verdict: +1 where a century agrees with the last one, -1 where not.

    :param first_chosen: per century (oldest first), a bool array over the pairs (True = first option chosen).
    """
    history = np.asarray([np.asarray(f, dtype=bool) for f in first_chosen])
    return np.where(history == history[-1], 1, -1).astype(np.int64)


def extrapolated_weights(first_chosen: Sequence[np.ndarray], order: int, horizon: int,
                         max_weight: int = MAX_WEIGHT) -> tuple[np.ndarray, np.ndarray]:
    """(keep latest orientation?, copies) per pair from the verdict history.

    :return: a bool array (True: train on the latest verdict, False: on its reverse) and an int array of
        copies in 1..max_weight.
    """
    votes = extrapolate_votes(relative_votes(first_chosen), order, horizon)
    return votes > 0, np.minimum(np.abs(votes), max_weight)
