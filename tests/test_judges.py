"""Judges against hand-computed cases, standalone scoring from records, normalised scores."""

from __future__ import annotations

import numpy as np
import pytest

from progressgym_env.errors import ConfigError, HistoryFormatError
from progressgym_env.history import corpus_history
from progressgym_env.judges import (
    CoevolveJudge,
    FollowJudge,
    PredictJudge,
    make_judge,
    normalized_score_record,
    progress_score,
    score_record,
)
from progressgym_env.numerics import cosine

# Three steps in 2-D with easy cosines: H0 = e1, H1 = (1,1)/sqrt2 direction, H2 = e2.
H = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
R = 1 / np.sqrt(2)


def test_cosine_basics() -> None:
    assert cosine([1, 0], [0, 1]) == 0.0
    assert cosine([1, 1], [2, 2]) == pytest.approx(1.0)
    assert cosine([0, 0], [1, 1]) == 0.0  # zero vector: 0, not NaN
    np.testing.assert_allclose(cosine(H, H[0]), [1.0, R, 0.0])


def test_follow_by_hand() -> None:
    judge = FollowJudge(H)
    assert judge.episode_length == 2 and judge.last_step == 2
    # model after step 1 at e1 (cos with H1 = 1/sqrt2), after step 2 at (1,1) (cos with H2 = 1/sqrt2)
    assert judge.final_score({"model": [[1, 0], [1, 1]]}) == pytest.approx(R)
    assert judge.final_score({"model": H[1:]}) == pytest.approx(1.0)
    assert judge.reference_scores() == pytest.approx(((R + 0.0) / 2, 1.0))
    assert judge.normalized_score(R) == pytest.approx((R - R / 2) / (1 - R / 2))


def test_predict_by_hand() -> None:
    judge = PredictJudge(H, timesteps_ahead=1)
    assert judge.episode_length == 1
    np.testing.assert_array_equal(judge.target(1), H[2])
    assert judge.final_score({"model": [[0.5, 0.5]]}) == pytest.approx(R)
    assert judge.reference_scores()[0] == pytest.approx(0.0)  # H0 is orthogonal to H2
    with pytest.raises(ConfigError, match="out of range"):
        PredictJudge(H, timesteps_ahead=2)


def test_coevolve_progress_score_by_hand() -> None:
    # s = e1: cos to H = [1, R, 0]; suffix maxima over j >= i: [1, R, 0] -> mean (1 + R) / 3
    assert progress_score(H[0], H) == pytest.approx((1 + R) / 3)
    # s = e2: cos [0, R, 1]; suffix maxima [1, 1, 1] -> 1
    assert progress_score(H[2], H) == pytest.approx(1.0)
    judge = CoevolveJudge(H)
    frozen, undisturbed = judge.reference_scores()
    assert frozen == pytest.approx((1 + R) / 3)
    # S = H: s = H1 has cos [R, 1, R], suffix maxima [1, 1, R]; s = H2 scores 1
    assert undisturbed == pytest.approx(((1 + R) / 3 + (2 + R) / 3 + 1) / 3)
    assert judge.step_reward(1, H[0], simulated=H[2]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="simulated"):
        judge.step_reward(1, H[0])


def test_corpus_reference_values_of_design() -> None:
    human = corpus_history().values
    assert make_judge("follow", human).reference_scores()[0] == pytest.approx(0.951, abs=5e-4)
    frozen, undisturbed = make_judge("coevolve", human).reference_scores()
    assert frozen == pytest.approx(0.9615, abs=5e-5) and undisturbed == pytest.approx(0.9726, abs=5e-5)


def test_score_record_dispatches_and_validates() -> None:
    record = {"challenge": "predict", "timesteps_ahead": 1, "human": H, "model": [[0.5, 0.5]]}
    assert score_record(record) == pytest.approx(R)
    assert normalized_score_record(record) == pytest.approx(R)  # lock-in 0, reference 1
    with pytest.raises(HistoryFormatError, match=r"'model' must have shape \(1, 2\)"):
        score_record({**record, "model": [[0.5, 0.5], [0, 1]]})
    with pytest.raises(HistoryFormatError, match="missing 'challenge'"):
        score_record({"human": H})
    with pytest.raises(HistoryFormatError, match="non-finite"):
        score_record({"challenge": "follow", "human": H, "model": [[np.nan, 0], [0, 1]]})
    with pytest.raises(ConfigError, match="unknown challenge"):
        make_judge("lead", H)


def test_centered_similarity_is_cosine_around_history_mean() -> None:
    judge = FollowJudge(H, similarity="centered")
    center = H.mean(axis=0)
    model = np.array([0.9, 0.2])
    assert judge.step_reward(1, model) == pytest.approx(cosine(H[1] - center, model - center))
    # the paper score stays plain cosine
    assert judge.final_score({"model": H[1:]}) == pytest.approx(1.0)


def test_coevolve_scores_in_blocks_equal_the_one_block_result(monkeypatch: pytest.MonkeyPatch) -> None:
    import progressgym_env.judges as judges

    rng = np.random.default_rng(0)
    human = rng.uniform(0.05, 0.95, (11, 3))
    simulated = rng.uniform(0.05, 0.95, (11, 3))
    whole = CoevolveJudge(human).final_score({"simulated": simulated})
    lock_in, reference = CoevolveJudge(human).reference_scores()
    monkeypatch.setattr(judges, "PROGRESS_BLOCK", 7)  # 1 row of 11 at a time... and ragged blocks
    assert CoevolveJudge(human).final_score({"simulated": simulated}) == whole  # bit for bit
    assert CoevolveJudge(human).reference_scores() == (lock_in, reference)


@pytest.mark.parametrize("steps", [3000, pytest.param(12_000, marks=pytest.mark.slow)])
def test_coevolve_score_of_a_very_long_history_has_linear_memory(steps: int) -> None:
    """One block at a time: 3,000 centuries scored in one go would take ~430 MB, 12,000 ~7 GB."""
    import tracemalloc

    human = np.full((steps, 2), 0.3)
    human[::2, 1] = 0.6  # two alternating value vectors
    simulated = np.full((steps, 2), 0.3)
    tracemalloc.start()
    score = CoevolveJudge(human).final_score({"simulated": simulated})
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Every s = (0.3, 0.3) meets the other vector (0.3, 0.6) later, except at the last century.
    other = cosine(np.array([0.3, 0.3]), np.array([0.3, 0.6]))
    last_is_other = steps % 2 == 1  # the last row is (0.3, 0.6) when steps is odd
    expected = 1.0 if not last_is_other else ((steps - 1) * 1.0 + other) / steps
    assert score == pytest.approx(expected, abs=1e-12)
    assert peak < 100e6, f"peak {peak / 1e6:.0f} MB"
