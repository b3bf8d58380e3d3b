"""Model-backed choosers on tiny locally built models (CPU), model loading errors, vLLM (GPU only)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from llm_fixtures import tiny_lm, tiny_model_dir  # noqa: E402,F401

from progressgym_env.errors import DeviceUnavailableError, MissingExtraError, ModelLoadError  # noqa: E402
from progressgym_env.evaluator import EvaluatorConfig, Question, ValueEvaluator  # noqa: E402
from progressgym_env.evaluator.choosers import (  # noqa: E402
    GenerationChooser,
    LogLikelihoodChooser,
    PromptEncoder,
    VLLMChooser,
    load_chooser,
    load_model_and_tokenizer,
    parse_answer,
)

pytestmark = pytest.mark.filterwarnings("ignore::progressgym_env.evaluator.bank.BankDefectWarning")


@pytest.fixture(scope="module")
def quick() -> ValueEvaluator:
    return ValueEvaluator(EvaluatorConfig(max_scenarios_per_dim=2, seed=0))


@pytest.fixture(scope="module")
def mixed_questions(quick: ValueEvaluator) -> list[Question]:
    """Questions of every bank and format, with very different lengths."""
    qs = quick.questions()
    picked: list[Question] = []
    for bank in ("moralchoice", "foundations", "worldviews"):
        for fmt in ("label", "yesno", "repeat"):
            picked.extend([q for q in qs if q.bank == bank and q.format == fmt][:1])
    return picked


def reference_logprob(model: Any, prompt_ids: tuple[int, ...], cand_ids: tuple[int, ...]) -> float:
    """Summed candidate log-prob from one unpadded forward pass, computed independently."""
    ids = torch.tensor([list(prompt_ids) + list(cand_ids)])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
    n = len(prompt_ids)
    return float(sum(logp[n - 1 + k, t] for k, t in enumerate(cand_ids)))


# ------------------------------------------------------------------------------ tiny model


def test_tiny_model_round_trips_through_from_pretrained(tiny_model_dir: Path) -> None:  # noqa: F811
    model, tokenizer = load_model_and_tokenizer(tiny_model_dir)
    assert model.config.model_type == "llama" and model.config.num_hidden_layers == 2
    assert sum(p.numel() for p in model.parameters()) < 500_000
    assert tokenizer.chat_template and tokenizer.pad_token_id is not None
    text = "You are a soldier in a war."
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text


def test_tiny_model_is_seeded(tmp_path: Path, tiny_model_dir: Path) -> None:  # noqa: F811
    from progressgym_env.llm.tiny import build_tiny_model

    same = build_tiny_model(tmp_path / "again", seed=0)
    other = build_tiny_model(tmp_path / "other", seed=1)
    a, _ = load_model_and_tokenizer(tiny_model_dir)
    b, _ = load_model_and_tokenizer(same)
    c, _ = load_model_and_tokenizer(other)
    wa, wb, wc = (m.model.embed_tokens.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_tiny_builder_rejects_bad_shapes(tmp_path: Path) -> None:
    from progressgym_env.llm.tiny import build_tiny_model, build_tokenizer

    with pytest.raises(ValueError, match="vocab_size must be at least"):
        build_tokenizer(100)
    with pytest.raises(ValueError, match="multiple of num_heads"):
        build_tiny_model(tmp_path / "bad", hidden_size=30)


# --------------------------------------------------------------------------- log-likelihood


@pytest.mark.parametrize("share_prompt_cache", [False, True], ids=["plain", "prefix-cache"])
def test_scores_match_an_independent_forward_pass(
    tiny_lm,  # noqa: F811
    mixed_questions,
    share_prompt_cache: bool,
) -> None:
    model, tokenizer = tiny_lm
    chooser = LogLikelihoodChooser(model, tokenizer, batch_size=8, share_prompt_cache=share_prompt_cache)
    scores = chooser.score(mixed_questions)
    encoder = PromptEncoder(tokenizer)
    for q, q_scores in zip(mixed_questions, scores, strict=True):
        prompt = encoder.encode_prompt(q.prompt)
        for cand, score in zip(q.candidates, q_scores, strict=True):
            assert score == pytest.approx(
                reference_logprob(model, prompt, encoder.encode_candidate(cand)), abs=1e-4
            )


@pytest.mark.parametrize("share_prompt_cache", [False, True], ids=["plain", "prefix-cache"])
def test_batched_equals_unbatched(tiny_lm, mixed_questions, share_prompt_cache: bool) -> None:  # noqa: F811
    model, tokenizer = tiny_lm
    kwargs = {"share_prompt_cache": share_prompt_cache}
    batched = LogLikelihoodChooser(model, tokenizer, batch_size=16, **kwargs).score(mixed_questions)
    single = LogLikelihoodChooser(model, tokenizer, batch_size=1, **kwargs).score(mixed_questions)
    flat_b = np.concatenate([np.asarray(s) for s in batched])
    flat_s = np.concatenate([np.asarray(s) for s in single])
    assert flat_b.shape == flat_s.shape == (sum(q.n_options for q in mixed_questions),)
    np.testing.assert_allclose(flat_b, flat_s, atol=1e-4, rtol=0)


def test_probabilities_are_a_softmax_over_candidates(tiny_lm, mixed_questions) -> None:  # noqa: F811
    model, tokenizer = tiny_lm
    chooser = LogLikelihoodChooser(model, tokenizer)
    probs = chooser(mixed_questions)
    scores = chooser.score(mixed_questions)
    for q, p, s in zip(mixed_questions, probs, scores, strict=True):
        assert p.shape == (q.n_options,) and p.sum() == pytest.approx(1.0)
        e = np.exp(np.asarray(s) - max(s))
        np.testing.assert_allclose(p, e / e.sum(), atol=1e-9)
    assert chooser.stats.candidates == 2 * sum(q.n_options for q in mixed_questions)


def test_chat_template_use(tiny_lm, mixed_questions) -> None:  # noqa: F811
    model, tokenizer = tiny_lm
    q = mixed_questions[0]
    with_template = LogLikelihoodChooser(model, tokenizer)
    assert with_template.use_chat_template
    assert with_template.encoder.prompt_text(q.prompt).endswith("<|assistant|>\n")
    plain = LogLikelihoodChooser(model, tokenizer, use_chat_template=False)
    assert plain.encoder.prompt_text(q.prompt).endswith("Answer:")
    assert plain.encoder.encode_candidate("A") != with_template.encoder.encode_candidate("A")  # " A" vs "A"
    p = plain(mixed_questions[:4])
    assert all(np.isfinite(x).all() for x in p)


def test_evaluate_with_the_tiny_model(tiny_lm) -> None:  # noqa: F811
    model, tokenizer = tiny_lm
    model.train()
    small = ValueEvaluator(EvaluatorConfig(max_scenarios_per_dim=1, formats=("label",)))
    values = small.evaluate(LogLikelihoodChooser(model, tokenizer, batch_size=32))
    assert model.training  # the chooser restores the caller's mode
    model.eval()
    assert values.shape == (19,) and np.isfinite(values).all()
    assert ((values >= 0) & (values <= 1)).all()
    assert values[15:].sum() == pytest.approx(1.0)


def test_lora_wrapped_model_scores_like_its_base(tiny_lm, mixed_questions) -> None:  # noqa: F811
    peft = pytest.importorskip("peft")
    model, tokenizer = tiny_lm
    base_scores = LogLikelihoodChooser(model, tokenizer, batch_size=16).score(mixed_questions[:6])
    import copy

    wrapped = peft.get_peft_model(
        copy.deepcopy(model), peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    )
    lora_scores = LogLikelihoodChooser(wrapped, tokenizer, batch_size=16).score(mixed_questions[:6])
    np.testing.assert_allclose(np.concatenate(lora_scores), np.concatenate(base_scores), atol=1e-4)


# ---------------------------------------------------------------------------------- loading


def test_load_chooser_from_folder(tiny_model_dir: Path, mixed_questions) -> None:  # noqa: F811
    chooser = load_chooser(tiny_model_dir, batch_size=4)
    assert isinstance(chooser, LogLikelihoodChooser) and chooser.batch_size == 4
    assert len(chooser(mixed_questions[:3])) == 3
    assert isinstance(load_chooser(str(tiny_model_dir), kind="generation"), GenerationChooser)


def test_missing_model_path(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_chooser(tmp_path / "no-such-model")


def test_model_folder_without_tokenizer(tmp_path: Path, tiny_model_dir: Path) -> None:  # noqa: F811
    bare = tmp_path / "weights-only"
    bare.mkdir()
    for name in ("config.json", "model.safetensors", "generation_config.json"):
        shutil.copy(tiny_model_dir / name, bare / name)
    with pytest.raises(ModelLoadError, match="has no tokenizer"):
        load_chooser(bare)
    # ... and pointing at the tokenizer separately fixes it
    assert isinstance(load_chooser(bare, tokenizer_path=tiny_model_dir), LogLikelihoodChooser)


def test_folder_that_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_chooser(tmp_path / "empty")
    (tmp_path / "file.bin").write_text("x")
    with pytest.raises(ModelLoadError, match="is a file"):
        load_chooser(tmp_path / "file.bin")


def test_uncached_hub_id_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="could not load"):
        load_chooser("progressgym-test/definitely-not-cached-model")


def test_unknown_chooser_kind(tiny_model_dir: Path) -> None:  # noqa: F811
    with pytest.raises(ValueError, match="kind must be one of"):
        load_chooser(tiny_model_dir, kind="beam")


# ------------------------------------------------------------------------------- generation


def _question(quick: ValueEvaluator, bank: str, fmt: str) -> Question:
    return next(q for q in quick.questions() if q.bank == bank and q.format == fmt)


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("B", 1),
        ("A.", 0),
        ("(B) because", 1),
        ("Answer: B", 1),
        ("Option A", 0),
        ("a", 0),
        ("a person should", None),
        ("C", None),
        ("I cannot answer that.", None),
        ("", None),
    ],
)
def test_parse_label(quick: ValueEvaluator, answer: str, expected: int | None) -> None:
    assert parse_answer(_question(quick, "moralchoice", "label"), answer) == expected


def test_parse_yesno_and_repeat(quick: ValueEvaluator) -> None:
    yn = _question(quick, "foundations", "yesno")
    assert parse_answer(yn, "Yes, definitely") == 0
    assert parse_answer(yn, "no.") == 1
    assert parse_answer(yn, "Maybe") is None
    rep = _question(quick, "worldviews", "repeat")
    assert parse_answer(rep, rep.options[2]) == 2
    assert parse_answer(rep, f'"{rep.options[3].upper()}."') == 3
    assert parse_answer(rep, f"I choose: {rep.options[1]}") == 1
    assert parse_answer(rep, " ".join(rep.options[:2])) is None  # names two options
    assert parse_answer(rep, "none of these") is None


def test_generation_refusals_are_reported(tiny_lm, quick: ValueEvaluator) -> None:  # noqa: F811
    model, tokenizer = tiny_lm
    chooser = GenerationChooser(model, tokenizer, max_new_tokens=4, batch_size=16)
    canned = {"label": "A", "yesno": "I would rather not say", "repeat": "no idea"}
    chooser.generate = lambda qs: [canned[q.format] for q in qs]  # type: ignore[method-assign]
    result = quick.evaluate_detailed(chooser)
    expected_refused = sum(q.format != "label" for q in quick.questions())
    assert result.n_refused == expected_refused
    assert np.array_equal(result.values, np.array([0.5] * 15 + [0.25] * 4))  # "A" = first position


def test_generation_runs_on_the_tiny_model(tiny_lm, mixed_questions) -> None:  # noqa: F811
    model, tokenizer = tiny_lm
    greedy = GenerationChooser(model, tokenizer, max_new_tokens=3)
    out = greedy(mixed_questions[:4])
    assert len(out) == 4 and len(greedy.last_answers) == 4
    for q, p in zip(mixed_questions[:4], out, strict=True):
        assert p.shape == (q.n_options,)
        assert np.isnan(p).all() or (np.sort(p) == np.eye(q.n_options)[-1]).all()
    assert greedy.generate(mixed_questions[:4]) == greedy.last_answers  # greedy is deterministic
    sampler = GenerationChooser(model, tokenizer, max_new_tokens=3, seed=5)
    assert sampler.generate(mixed_questions[:4]) == sampler.generate(mixed_questions[:4])


# ------------------------------------------------------------------------------------- vLLM


def test_vllm_chooser_refuses_cleanly_without_cuda_or_vllm() -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA present: the GPU test below covers VLLMChooser")
    with pytest.raises((MissingExtraError, DeviceUnavailableError)):
        VLLMChooser("any-model")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_vllm_matches_hf_scores(tiny_model_dir: Path, mixed_questions) -> None:  # noqa: F811
    pytest.importorskip("vllm")
    model, tokenizer = load_model_and_tokenizer(tiny_model_dir)
    hf = LogLikelihoodChooser(model.to("cuda"), tokenizer).score(mixed_questions)
    chooser = VLLMChooser(
        str(tiny_model_dir), tokenizer=tokenizer, dtype="float32", gpu_memory_utilization=0.3
    )
    sequences = chooser.encoder.sequences(mixed_questions)
    vllm_scores = chooser.score_sequences(sequences)
    np.testing.assert_allclose(vllm_scores, np.concatenate([np.asarray(s) for s in hf]), atol=1e-2)
