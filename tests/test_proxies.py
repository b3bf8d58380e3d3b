"""The LLM elicitation pool (llm/proxies.py), model-free: answers are credited to a scenario's original
options whatever order the pool displays them in.

Moved from ``tests/test_pinning.py``; checked against the bug it is for (crediting displayed instead of
original options fails here).
"""

from __future__ import annotations

import numpy as np
import pytest


def test_llm_elicitation_credits_original_options_under_every_display_order() -> None:
    """A respondent that always picks a scenario's original first option, wherever it is displayed.

    Its share of dim-upholding answers is then known from the bank alone (does original option 0
    raise the dim?), independently of the pool's display-order bookkeeping.
    """
    from progressgym_env.evaluator.bank import load_question_bank
    from progressgym_env.llm.proxies import answer_shares, build_elicitation_pool, draw_queries

    bank = load_question_bank("train")
    pool = build_elicitation_pool(6, ("label", "yesno", "repeat"), bank=bank)
    scenarios = {s.scenario_id: s for s in bank}
    permuted = [q for q in pool.questions if q.order != tuple(range(q.n_options))]
    assert permuted, "the pool should display options in several orders"

    def first_option_position(question) -> int:  # type: ignore[no-untyped-def]
        scenario = scenarios[question.scenario_id]
        return question.options.index(scenario.options[0])  # found by content, not by `order`

    def probs_of(idx: np.ndarray) -> np.ndarray:
        out = np.full((len(idx), 4), np.nan)
        for row, i in enumerate(idx):
            question = pool.questions[int(i)]
            out[row, : question.n_options] = 0.0
            out[row, first_option_position(question)] = 1.0
        return out

    rng = np.random.default_rng(0)
    picks = draw_queries(rng, pool, np.full(19, 200))
    shares = answer_shares(np.random.default_rng(1), pool, picks, probs_of)
    for dim, chosen in enumerate(picks):
        questions = [pool.questions[int(i)] for i in pool.dim_questions[dim][chosen]]
        upholds = [scenarios[q.scenario_id].option_effects(dim)[0] > 0 for q in questions]
        assert shares[dim] == pytest.approx(np.mean(upholds), abs=1e-12), f"dim {dim}"
