"""The normalisation of the mean, on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from progressgym_env.benchmark.aggregate import final_scores_of, normalized_mean


def test_one_shared_history_gives_the_plain_mean_of_ratios() -> None:
    # lock-in 0.5, reference 1.0: ratios 0.4, 0.8 -> 0.6; mean score 0.8 -> (0.8 - 0.5) / 0.5 = 0.6
    assert normalized_mean([0.7, 0.9], 0.5, 1.0) == pytest.approx(0.6)


def test_a_tiny_span_does_not_dominate() -> None:
    # history A: lock-in 0.9, reference 0.901 (span 0.001), score 0.911 -> ratio 11
    # history B: lock-in 0.5, reference 1.0   (span 0.5),   score 0.75  -> ratio 0.5
    scores, lock, ref = [0.911, 0.75], [0.9, 0.5], [0.901, 1.0]
    ratios = (np.array(scores) - lock) / (np.array(ref) - lock)
    assert ratios.mean() == pytest.approx(5.75)  # the mean of ratios follows history A
    # mean score 0.8305, mean lock-in 0.7, mean reference 0.9505: 0.1305 / 0.2505
    assert normalized_mean(scores, lock, ref) == pytest.approx(0.1305 / 0.2505)
    # the span-weighted mean of the ratios
    spans = np.array(ref) - lock
    assert normalized_mean(scores, lock, ref) == pytest.approx(float((ratios * spans).sum() / spans.sum()))


def test_no_span_scores_zero_and_bad_input_is_refused() -> None:
    assert normalized_mean([0.3, 0.4], 0.5, 0.5) == 0.0
    with pytest.raises(ValueError, match="at least one episode"):
        normalized_mean([], 0.0, 1.0)
    with pytest.raises(ValueError, match="non-finite"):
        normalized_mean([0.1, np.nan], 0.0, 1.0)
    with pytest.raises(ValueError):
        normalized_mean([0.1, 0.2, 0.3], [0.0, 0.1], 1.0)


def test_final_scores_round_trip() -> None:
    lock, ref = np.array([0.2, 0.9]), np.array([1.0, 0.95])
    scores = np.array([0.6, 0.93])
    normalized = (scores - lock) / (ref - lock)
    np.testing.assert_allclose(final_scores_of(normalized, lock, ref), scores)
    assert normalized_mean(final_scores_of(normalized, lock, ref), lock, ref) == pytest.approx(
        (scores.mean() - lock.mean()) / (ref.mean() - lock.mean()))


def test_exact_normalized_mean_is_order_free_and_agrees_with_the_numpy_path() -> None:
    rng = np.random.default_rng(3)
    scores, lock, ref = rng.random(257) * 1e3, rng.random(257) * 1e-3, 1.0 + rng.random(257) * 1e-2
    exact = normalized_mean(scores, lock, ref, exact=True)
    order = rng.permutation(257)
    assert normalized_mean(scores[order], lock[order], ref[order], exact=True) == exact  # bit for bit
    assert exact == pytest.approx(normalized_mean(scores, lock, ref), rel=1e-12)
