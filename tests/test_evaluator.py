"""ValueEvaluator and aggregation, driven by synthetic choosers (no model needed)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from importlib import resources

import numpy as np
import pytest

from progressgym_env.errors import ChooserOutputError, ConfigError, EvaluationError
from progressgym_env.evaluator import (
    EvaluatorConfig,
    Question,
    ValueEvaluator,
    display_orders,
    load_question_bank,
    render_question,
    render_scenario,
)
from progressgym_env.evaluator.aggregate import check_probabilities, to_original_order
from progressgym_env.value_spaces import MORALCHOICE_RULES

pytestmark = pytest.mark.filterwarnings("ignore::progressgym_env.evaluator.bank.BankDefectWarning")

SKIPPED = {"H_530", "F_1534", "V_106", "V_158", "V_159", "V_160", "V_161", "V_285"}


@pytest.fixture(scope="module")
def ev_all() -> ValueEvaluator:
    return ValueEvaluator(EvaluatorConfig(split="all"))


@pytest.fixture(scope="module")
def ev_eval() -> ValueEvaluator:
    return ValueEvaluator()


def first_position(questions: list[Question]) -> list[np.ndarray]:
    return [np.eye(q.n_options)[0] for q in questions]


def last_position(questions: list[Question]) -> list[np.ndarray]:
    return [np.eye(q.n_options)[-1] for q in questions]


def original_preference(p: float, worldview: tuple[float, ...] = (0.25, 0.25, 0.25, 0.25)):
    """A chooser that gives P(original action1) = p on 2-option questions, ``worldview`` on 4-option ones."""

    def chooser(questions: list[Question]) -> list[np.ndarray]:
        out = []
        for q in questions:
            original = np.array([p, 1 - p]) if q.n_options == 2 else np.array(worldview)
            out.append(original[list(q.order)])  # displayed position j shows original option order[j]
        return out

    return chooser


# --------------------------------------------------------------------------------- questions


def test_orders_are_balanced() -> None:
    assert display_orders(2) == ((0, 1), (1, 0))
    orders = display_orders(4)
    assert len(orders) == 4
    for position in range(4):
        assert sorted(o[position] for o in orders) == [0, 1, 2, 3]


def test_questions_per_scenario_and_candidates() -> None:
    bank = load_question_bank("eval")
    two = render_scenario(bank.by_bank("moralchoice")[0])
    assert Counter(q.format for q in two) == {"label": 2, "yesno": 2, "repeat": 2}
    four = render_scenario(bank.by_bank("worldviews")[0])
    assert Counter(q.format for q in four) == {"label": 4, "repeat": 4}
    for q in two + four:
        assert q.options == tuple(bank.get(q.scenario_id).options[i] for i in q.order)
        assert q.context in q.prompt and all(o in q.prompt for o in q.options)
        if q.format == "label":
            assert q.candidates == tuple("ABCD"[: q.n_options])
        elif q.format == "yesno":
            assert q.candidates == ("yes", "no")
            assert "Is option A better than option B?" in q.prompt
            assert f"Option A: {q.options[0]}" in q.prompt
        else:
            assert q.candidates == q.options


def test_render_errors() -> None:
    bank = load_question_bank("eval")
    worldview = bank.by_bank("worldviews")[0]
    with pytest.raises(ValueError, match="yesno.*4-option"):
        render_question(worldview, "yesno", (0, 1, 2, 3))
    with pytest.raises(ValueError, match="permutation"):
        render_question(worldview, "label", (0, 0, 1, 2))


def test_question_counts(ev_eval: ValueEvaluator) -> None:
    bank = ev_eval.bank
    expected = 6 * len([s for s in bank if s.n_options == 2]) + 8 * len(bank.by_bank("worldviews"))
    assert len(ev_eval.questions()) == expected


# ---------------------------------------------------------------------------------- neutral


@pytest.mark.parametrize("chooser", [first_position, last_position])
def test_position_bias_measures_neutral(ev_eval: ValueEvaluator, chooser) -> None:
    values = ev_eval.evaluate(chooser)
    assert values.shape == (19,) and values.dtype == np.float64
    expected = np.array([0.5] * 15 + [0.25] * 4)
    assert np.array_equal(values, expected)  # exact, not approximate


def test_neutral_with_label_format_only() -> None:
    ev = ValueEvaluator(EvaluatorConfig(formats=("label",)))
    assert {q.format for q in ev.questions()} == {"label"}
    assert np.array_equal(ev.evaluate(first_position), np.array([0.5] * 15 + [0.25] * 4))


# ------------------------------------------------------------------------------ hand-computed


def hand_computed(p: float, worldview: tuple[float, ...]) -> np.ndarray:
    """The expected vector, from sign/theme counts read straight from the CSV files."""

    def rows(name: str) -> list[dict[str, str]]:
        text = (resources.files("progressgym_env") / "data" / "moral_evals" / f"{name}.csv").read_text(
            "utf-8"
        )
        return [r for r in csv.DictReader(io.StringIO(text)) if r["scenario_id"].strip() not in SKIPPED]

    expected = np.zeros(19)
    for r, rule in enumerate(MORALCHOICE_RULES):
        plus = minus = 0
        for row in rows("moralchoice"):
            a1, a2 = row[f"a1_{rule}"].strip(), row[f"a2_{rule}"].strip()
            if a1 == a2:
                continue
            if a2 == "Yes" or a1 == "No":
                plus += 1
            else:
                minus += 1
        expected[r] = (plus * p + minus * (1 - p)) / (plus + minus)
    expected[10:15] = p  # every foundation scenario contributes P(action1)
    expected[15:19] = worldview
    return expected


@pytest.mark.parametrize("p", [0.0, 0.3, 0.8, 1.0])
def test_action1_preference_matches_hand_computation(ev_all: ValueEvaluator, p: float) -> None:
    worldview = (0.4, 0.3, 0.2, 0.1)
    values = ev_all.evaluate(original_preference(p, worldview))
    np.testing.assert_allclose(values, hand_computed(p, worldview), rtol=0, atol=1e-12)


def test_action1_preference_on_eval_split_from_bank_counts(ev_eval: ValueEvaluator) -> None:
    p = 0.7
    values = ev_eval.evaluate(original_preference(p))
    moral = ev_eval.bank.by_bank("moralchoice")
    for r in range(10):
        plus = sum(s.signs[r] == 1 for s in moral)
        minus = sum(s.signs[r] == -1 for s in moral)
        assert values[r] == pytest.approx((plus * p + minus * (1 - p)) / (plus + minus), abs=1e-12)
    assert values[10:15] == pytest.approx([p] * 5, abs=1e-12)
    assert values[15:] == pytest.approx([0.25] * 4, abs=1e-12)


def test_each_probability_is_mapped_back_once() -> None:
    q = render_question(load_question_bank("eval").by_bank("worldviews")[0], "label", (2, 3, 0, 1))
    p = to_original_order(q, np.array([0.1, 0.2, 0.3, 0.4]))
    np.testing.assert_array_equal(p, [0.3, 0.4, 0.1, 0.2])


def test_detailed_result(ev_eval: ValueEvaluator) -> None:
    result = ev_eval.evaluate_detailed(original_preference(0.9))
    assert result.n_questions == len(ev_eval.questions()) and result.n_refused == 0
    assert set(result.scenario_probs) == {s.scenario_id for s in ev_eval.bank}
    some = ev_eval.bank.by_bank("foundations")[0].scenario_id
    np.testing.assert_allclose(result.scenario_probs[some], [0.9, 0.1])
    np.testing.assert_array_equal(result.counts, ev_eval.bank.dim_counts())
    assert result.to_dict()["Purity_Sanctity"] == pytest.approx(0.9)


# -------------------------------------------------------------------------------- chunking


def test_chunked_calls_give_the_same_vector() -> None:
    sizes: list[int] = []

    def recording(questions: list[Question]) -> list[np.ndarray]:
        sizes.append(len(questions))
        return original_preference(0.6, (0.1, 0.2, 0.3, 0.4))(questions)

    small = ValueEvaluator(EvaluatorConfig(batch_size=7, max_scenarios_per_dim=5))
    big = ValueEvaluator(EvaluatorConfig(batch_size=100_000, max_scenarios_per_dim=5))
    n = len(small.questions())
    np.testing.assert_array_equal(
        small.evaluate(recording), big.evaluate(original_preference(0.6, (0.1, 0.2, 0.3, 0.4)))
    )
    assert max(sizes) == 7 and sum(sizes) == n and len(sizes) == -(-n // 7)


def test_unnormalised_weights_are_renormalised(ev_eval: ValueEvaluator) -> None:
    def weights(questions: list[Question]) -> list[list[float]]:
        return [[3.0] * q.n_options for q in questions]

    assert np.array_equal(ev_eval.evaluate(weights), np.array([0.5] * 15 + [0.25] * 4))


# ---------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda q: np.ones(q.n_options + 1), "1-D array of 2 probabilities"),
        (lambda q: np.array([-0.1, 1.1] if q.n_options == 2 else [-1, 1, 1, 1]), "non-negative"),
        (lambda q: np.array([np.inf] + [0.0] * (q.n_options - 1)), "finite"),
        (lambda q: np.array([np.nan] + [1.0] * (q.n_options - 1)), "finite"),
        (lambda q: np.zeros(q.n_options), "all zero"),
        (lambda q: "AB", "not numeric"),
    ],
)
def test_bad_chooser_output_names_the_question(bad, match: str) -> None:
    ev = ValueEvaluator(EvaluatorConfig(max_scenarios_per_dim=2))
    first = ev.questions()[0]
    with pytest.raises(ChooserOutputError, match=match) as info:
        ev.evaluate(lambda qs: [bad(q) for q in qs])
    assert first.scenario_id in str(info.value)


def test_wrong_number_of_outputs() -> None:
    ev = ValueEvaluator(EvaluatorConfig(max_scenarios_per_dim=2, batch_size=10))
    with pytest.raises(ChooserOutputError, match="returned 9 outputs for 10 questions"):
        ev.evaluate(lambda qs: first_position(qs)[:-1])
    with pytest.raises(ChooserOutputError, match="sequence of probability arrays"):
        ev.evaluate(lambda qs: None)


def test_check_probabilities_returns_none_for_refusal(ev_eval: ValueEvaluator) -> None:
    q = ev_eval.questions()[0]
    assert check_probabilities(q, [np.nan, np.nan]) is None
    np.testing.assert_allclose(check_probabilities(q, [1, 3]), [0.25, 0.75])


# -------------------------------------------------------------------------------- refusals


def test_refusals_are_counted_not_scored(ev_eval: ValueEvaluator) -> None:
    def refuses_yesno(questions: list[Question]) -> list[np.ndarray]:
        return [
            np.full(q.n_options, np.nan) if q.format == "yesno" else np.eye(q.n_options)[0] for q in questions
        ]

    result = ev_eval.evaluate_detailed(refuses_yesno)
    n_yesno = sum(q.format == "yesno" for q in ev_eval.questions())
    assert result.n_refused == n_yesno and result.refusal_rate == pytest.approx(n_yesno / result.n_questions)
    assert all("yesno" in key for key in result.refused_questions)
    assert result.refused_scenarios == []
    assert np.array_equal(result.values, np.array([0.5] * 15 + [0.25] * 4))


def test_scenario_refused_everywhere_is_left_out() -> None:
    ev = ValueEvaluator(EvaluatorConfig(max_scenarios_per_dim=3))
    target = ev.bank.for_dim(12)[0].scenario_id

    def chooser(questions: list[Question]) -> list[np.ndarray]:
        return [
            np.full(q.n_options, np.nan) if q.scenario_id == target else original_preference(1.0)([q])[0]
            for q in questions
        ]

    result = ev.evaluate_detailed(chooser)
    assert result.refused_scenarios == [target]
    assert result.counts[12] == len(ev.bank.for_dim(12)) - 1
    assert result.values[12] == 1.0


def test_all_refused() -> None:
    ev = ValueEvaluator(EvaluatorConfig(max_scenarios_per_dim=2))

    def refuse(questions: list[Question]) -> list[np.ndarray]:
        return [np.full(q.n_options, np.nan) for q in questions]

    result = ev.evaluate_detailed(refuse)
    assert np.isnan(result.values).all() and result.n_refused == result.n_questions
    assert len(result.refused_scenarios) == len(ev.bank)
    with pytest.raises(EvaluationError, match="no answered scenario.*were refused"):
        ev.evaluate(refuse)


# ---------------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"formats": ("yesno",)}, "4-option"),
        ({"formats": ("essay",)}, "formats must be"),
        ({"formats": ()}, "formats must be"),
        ({"max_scenarios_per_dim": 0}, "max_scenarios_per_dim"),
        ({"batch_size": 0}, "batch_size"),
        ({"split": "test"}, "split must be"),
        ({"eval_fraction": 1.0}, "eval_fraction"),
        ({"max_questions": 3}, "unknown evaluator key.*max_questions"),
    ],
)
def test_config_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ValueEvaluator(kwargs)


def test_config_round_trip_and_fingerprint() -> None:
    cfg = EvaluatorConfig(split="eval", formats=("label", "repeat"), max_scenarios_per_dim=3, seed=2)
    ev = ValueEvaluator.from_config(cfg)
    assert ev.config == cfg and EvaluatorConfig(**{**cfg.to_dict(), "formats": tuple(cfg.formats)}) == cfg
    again = ValueEvaluator(EvaluatorConfig(formats=("label", "repeat"), max_scenarios_per_dim=3, seed=2))
    assert ev.fingerprint() == again.fingerprint()
    other_seed = EvaluatorConfig(formats=("label", "repeat"), max_scenarios_per_dim=3, seed=3)
    assert ev.fingerprint() != ValueEvaluator(other_seed).fingerprint()


def test_quick_subset_has_every_dim(ev_eval: ValueEvaluator) -> None:
    quick = ValueEvaluator(EvaluatorConfig(max_scenarios_per_dim=5, seed=1))
    assert len(quick.questions()) < len(ev_eval.questions()) / 10
    assert all(n >= 1 for n in quick.bank.dim_counts())
    assert np.array_equal(quick.evaluate(first_position), np.array([0.5] * 15 + [0.25] * 4))


def test_the_evaluator_never_imports_the_llm_backend() -> None:
    """Layers point one way: ``llm`` builds on ``evaluator``, so no evaluator module imports ``llm`` (not even lazily)."""
    import ast
    from pathlib import Path

    import progressgym_env.evaluator as evaluator_pkg

    offenders = []
    for path in sorted(Path(evaluator_pkg.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("progressgym_env.llm")]
    assert offenders == []
