"""Turn questions into token ids the same way for every model-backed chooser.

The prompt becomes a user message (through the tokenizer's chat template when it has one, so the
candidate is the start of the assistant reply) or, without a template, plain text ending in
``Answer:`` with the candidate after a space. Prompt and candidate are tokenised separately and
concatenated, so the candidate's tokens are exactly those scored, whatever the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from progressgym_env.evaluator.questions import Question

PLAIN_ANSWER_CUE = "\nAnswer:"
"""Appended to the prompt when no chat template is used; candidates then start with a space."""


@dataclass(frozen=True)
class ScoredSequence:
    """One prompt+candidate sequence to score.

    :param question: index of the question in the batch.
    :param candidate: index of the candidate within the question.
    :param ids: prompt ids followed by candidate ids.
    :param n_candidate: number of trailing candidate tokens (scored).
    """

    question: int
    candidate: int
    ids: tuple[int, ...]
    n_candidate: int


class PromptEncoder:
    """Tokenise prompts and candidates for a tokenizer, with caches for repeated strings.

    :param tokenizer: a Hugging Face tokenizer.
    :param use_chat_template: apply the chat template; ``None`` = when the tokenizer has one.
    """

    def __init__(self, tokenizer: Any, use_chat_template: bool | None = None) -> None:
        self.tokenizer = tokenizer
        has_template = bool(getattr(tokenizer, "chat_template", None))
        if use_chat_template and not has_template:
            raise ValueError("use_chat_template=True but the tokenizer has no chat_template")
        self.use_chat_template = has_template if use_chat_template is None else bool(use_chat_template)
        self._candidate_cache: dict[str, tuple[int, ...]] = {}

    def prompt_text(self, prompt: str) -> str:
        """The exact text the model sees before the answer."""
        if self.use_chat_template:
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
        return prompt + PLAIN_ANSWER_CUE

    def encode_prompt(self, prompt: str) -> tuple[int, ...]:
        """Token ids of the prompt (special tokens from the template, or the tokenizer's own)."""
        text = self.prompt_text(prompt)
        ids = list(self.tokenizer(text, add_special_tokens=not self.use_chat_template)["input_ids"])
        if not ids:
            bos = getattr(self.tokenizer, "bos_token_id", None)
            if bos is None:
                raise ValueError("the prompt encodes to no tokens and the tokenizer has no bos token")
            ids = [bos]
        return tuple(ids)

    def encode_candidate(self, candidate: str) -> tuple[int, ...]:
        """Token ids of one candidate answer (no special tokens)."""
        cached = self._candidate_cache.get(candidate)
        if cached is None:
            text = candidate if self.use_chat_template else " " + candidate
            cached = tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            if not cached:
                raise ValueError(f"candidate {candidate!r} encodes to no tokens")
            if len(self._candidate_cache) < 100_000:
                self._candidate_cache[candidate] = cached
        return cached

    def sequences(self, questions: Sequence[Question]) -> list[ScoredSequence]:
        """One :class:`ScoredSequence` per (question, candidate)."""
        out: list[ScoredSequence] = []
        for qi, question in enumerate(questions):
            prompt_ids = self.encode_prompt(question.prompt)
            for ci, candidate in enumerate(question.candidates):
                cand_ids = self.encode_candidate(candidate)
                out.append(ScoredSequence(qi, ci, prompt_ids + cand_ids, len(cand_ids)))
        return out
