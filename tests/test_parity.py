"""``aggregation="progressgym"`` and joint normalisation against hand computations of the original formulas.

A bank of eight hand-made scenarios and fake choosers whose answers are known: every expected number
below is written out from ProgressGym's ``quantify.py`` formulas (block sums over n + 1), not
computed with the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest

from progressgym_env.errors import ChooserOutputError, ConfigError
from progressgym_env.evaluator import EvaluatorConfig, Question, QuestionBank, Scenario, ValueEvaluator


def _mc(sid: str, signs: dict[int, int]) -> Scenario:
    return Scenario("moralchoice", sid, sid, 2, f"context {sid}", (f"{sid} one", f"{sid} two"),
                    signs=tuple(signs.get(i, 0) for i in range(10)), stratum="r")


def _f(sid: str, dim: int) -> Scenario:
    return Scenario("foundations", sid, sid, 2, f"context {sid}", (f"{sid} one", f"{sid} two"),
                    foundation_dim=dim, stratum="t")


def _v(sid: str) -> Scenario:
    return Scenario("worldviews", sid, sid, 2, f"context {sid}", tuple(f"{sid} view {k}" for k in range(4)),
                    stratum="w")


SCENARIOS = (
    _mc("H1", {0: 1, 1: -1}),
    _mc("H2", {1: 1}),
    _mc("H3", {}),  # feeds no rule: still counts in the original's n_mc
    _f("F1", 10),
    _f("F2", 10),
    _f("F3", 12),
    _v("V1"),
    _v("V2"),
)
P_ACTION1 = {"H1": 0.8, "H2": 0.3, "H3": 0.6, "F1": 0.9, "F2": 0.5, "F3": 0.2}
WORLDVIEW = {"V1": (0.4, 0.3, 0.2, 0.1), "V2": (0.1, 0.1, 0.6, 0.2)}


@pytest.fixture(scope="module")
def bank() -> QuestionBank:
    return QuestionBank(SCENARIOS, "all")


def content_chooser(questions: list[Question]) -> list[np.ndarray]:
    """Answers by content only: P(original option) fixed per scenario, shown through the display order."""
    out = []
    for q in questions:
        original = np.array(WORLDVIEW[q.scenario_id]) if q.n_options == 4 else np.array(
            [P_ACTION1[q.scenario_id], 1 - P_ACTION1[q.scenario_id]])
        out.append(original[list(q.order)])
    return out


def test_progressgym_aggregation_is_the_original_formula(bank: QuestionBank) -> None:
    ev = ValueEvaluator(EvaluatorConfig(split="all", aggregation="progressgym"), bank=bank)
    result = ev.evaluate_detailed(content_chooser)
    expected = np.zeros(19)
    # dims 0-9: sum over all 3 moralchoice scenarios of sign * P(action1), over (3 + 1)
    expected[0] = (+1 * 0.8) / 4
    expected[1] = (-1 * 0.8 + 1 * 0.3) / 4
    # dims 10-14: sum over the theme's scenarios of P(action1), over (3 foundations + 1)
    expected[10] = (0.9 + 0.5) / 4
    expected[12] = 0.2 / 4
    # dims 15-18: sum of the worldview distributions, over (2 + 1)
    expected[15:] = (np.array(WORLDVIEW["V1"]) + np.array(WORLDVIEW["V2"])) / 3
    np.testing.assert_allclose(result.values, expected, atol=1e-12)
    np.testing.assert_allclose(ev.evaluate(content_chooser), expected, atol=1e-12)
    np.testing.assert_allclose(result.vectors["progressgym"], expected, atol=1e-12)
    assert result.counts.tolist() == [3] * 10 + [3] * 5 + [2] * 4


def test_default_vector_is_unchanged_and_carried_beside(bank: QuestionBank) -> None:
    result = ValueEvaluator(EvaluatorConfig(split="all"), bank=bank).evaluate_detailed(content_chooser)
    assert result.aggregation == "default"
    assert result.values[0] == pytest.approx(0.8)  # H1 upholds rule 0 with action1
    assert result.values[1] == pytest.approx(((1 - 0.8) + 0.3) / 2)  # H1 upholds rule 1 with action2
    assert result.values[10] == pytest.approx((0.9 + 0.5) / 2)
    assert np.isnan(result.values[2])
    np.testing.assert_allclose(result.vectors["default"], result.values)
    assert result.vectors["progressgym"][10] == pytest.approx(1.4 / 4)


def test_standard_errors_by_hand(bank: QuestionBank) -> None:
    result = ValueEvaluator(EvaluatorConfig(split="all"), bank=bank).evaluate_detailed(content_chooser)
    # default, dim 10: mean of (0.9, 0.5); sd (ddof 1) = 0.4 / sqrt(2); se = sd / sqrt(2) = 0.2
    assert result.stderr[10] == pytest.approx(0.2)
    assert np.isnan(result.stderr[12])  # one scenario: no error estimate
    # progressgym, dim 10: contributions over the foundations block (0.9, 0.5, 0); se = sqrt(3) sd / 4
    sd = np.std([0.9, 0.5, 0.0], ddof=1)
    assert result.stderrs["progressgym"][10] == pytest.approx(np.sqrt(3) * sd / 4)


def order_weighted_chooser(questions: list[Question]) -> list[np.ndarray]:
    """Unnormalised likelihoods: in the file's order the options weigh (3, 1), reversed they weigh (1, 1)."""
    out = []
    for q in questions:
        if q.n_options == 4:
            out.append(np.array([4.0, 2.0, 1.0, 1.0]) if q.order[0] == 0 else np.ones(4))
        else:
            out.append(np.array([3.0, 1.0]) if q.order == (0, 1) else np.array([1.0, 1.0]))
    return out


def test_joint_normalisation_pools_likelihoods_across_orders(bank: QuestionBank) -> None:
    per_prompt = ValueEvaluator(EvaluatorConfig(split="all"), bank=bank).evaluate_detailed(order_weighted_chooser).values
    joint_cfg = EvaluatorConfig(split="all", normalization="joint", aggregation="progressgym")
    joint = ValueEvaluator(joint_cfg, bank=bank).evaluate_detailed(order_weighted_chooser)
    # per prompt: mean(3/4, 1/2) = 0.625; joint: (3 + 1) / (3 + 1 + 1 + 1) = 2/3 (in every format)
    assert per_prompt[10] == pytest.approx(0.625)
    assert joint.vectors["default"][10] == pytest.approx(2 / 3)
    assert joint.values[10] == pytest.approx(2 * (2 / 3) / 4)
    assert joint.values[0] == pytest.approx((2 / 3) / 4)
    # worldviews: rotation 0 weighs (4, 2, 1, 1), the other three rotations 1 each:
    # option 0 gets 4 + 1 + 1 + 1 = 7 of a total 8 + 4 + 4 + 4 = 20
    assert joint.vectors["default"][15] == pytest.approx(7 / 20)
    assert joint.values[15] == pytest.approx(2 * (7 / 20) / 3)


class ScoringChooser:
    """Exposes ``score`` (log-likelihoods), as the log-likelihood chooser does; calling it is an error."""

    def score(self, questions: list[Question]) -> list[list[float]]:
        return [np.log(w).tolist() for w in order_weighted_chooser(questions)]

    def __call__(self, questions: list[Question]) -> list[np.ndarray]:
        raise AssertionError("joint normalisation must use score(), not the normalised outputs")


def test_joint_normalisation_uses_a_choosers_log_likelihoods(bank: QuestionBank) -> None:
    cfg = EvaluatorConfig(split="all", normalization="joint")
    result = ValueEvaluator(cfg, bank=bank).evaluate_detailed(ScoringChooser())
    assert result.values[10] == pytest.approx(2 / 3)


def test_bad_settings_and_scores_are_named(bank: QuestionBank) -> None:
    with pytest.raises(ConfigError, match="aggregation"):
        EvaluatorConfig(aggregation="mean")
    with pytest.raises(ConfigError, match="normalization"):
        EvaluatorConfig(normalization="global")

    class Broken(ScoringChooser):
        def score(self, questions: list[Question]) -> list[list[float]]:
            return [[float("nan")] * q.n_options for q in questions]

    with pytest.raises(ChooserOutputError, match="log-likelihoods"):
        ValueEvaluator(EvaluatorConfig(split="all", normalization="joint"), bank=bank).evaluate_detailed(Broken())


def test_new_settings_keep_old_fingerprints() -> None:
    """Defaults stay out of to_dict, so vectors cached before the settings existed keep their keys."""
    assert "aggregation" not in EvaluatorConfig().to_dict()
    cfg = EvaluatorConfig(aggregation="progressgym", normalization="joint")
    assert cfg.to_dict()["aggregation"] == "progressgym"
    assert EvaluatorConfig.from_any(cfg.to_dict()) == cfg


def _summary(vector: np.ndarray) -> dict:
    return {"aggregation": "default", "vectors": {"default": vector.tolist(), "progressgym": (vector**2).tolist()}}


def test_a_record_is_rescored_with_the_original_vectors() -> None:
    from progressgym_env.benchmark.leaderboard import score_runs
    from progressgym_env.judges import score_record
    from progressgym_env.llm.measure import record_in_aggregation
    from progressgym_env.value_spaces import MORAL19

    rng = np.random.default_rng(0)
    human, model = rng.uniform(0.1, 0.9, (9, 19)), rng.uniform(0.1, 0.9, (8, 19))
    record = {
        "challenge": "follow", "human": human, "model": model, "rewards": np.zeros(8),
        "centuries": list(range(13, 22)), "value_space": MORAL19.name, "dims": list(MORAL19.dims),
        "history_provenance": {"measurements": [_summary(h) for h in human]},
        "backend": {"backend": "llm", "measurements": {"model": [_summary(m) for m in model]}},
    }
    original = record_in_aggregation(record, "progressgym")
    np.testing.assert_allclose(original["human"], human**2)  # the fake "original" reading squares each value
    np.testing.assert_allclose(original["model"], model**2)
    assert original["history_provenance"]["aggregation"] == "progressgym"
    run = {"agent": "a", "seed": 0, "episode_record": record}
    assert score_runs([run], "progressgym")[0].final_score == pytest.approx(score_record(original))
    assert score_runs([run])[0].final_score == pytest.approx(score_record(record))
    assert score_record(original) != pytest.approx(score_record(record))
    bare = {**record, "history_provenance": {}}
    with pytest.raises(ValueError, match="no 'progressgym' vectors for its human history"):
        record_in_aggregation(bare, "progressgym")
