"""Log-likelihood chooser for any Hugging Face causal LM (CPU or GPU, batched, no sampling).

Each candidate answer is scored as the sum of the log-probabilities of its tokens given the prompt,
one forward pass per prompt+candidate; a softmax over a question's candidates gives its choice
probabilities. Sequences are sorted by length and left-padded with explicit position ids, so a batch
gives the same scores as one sequence at a time (only the candidate positions' logits are kept).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from progressgym_env.evaluator.choosers.encoding import PromptEncoder, ScoredSequence
from progressgym_env.evaluator.questions import Question


@dataclass
class ScoringStats:
    """Running counts of the work a chooser did (for throughput benchmarks).

    :param candidates: prompt+candidate sequences scored.
    :param tokens: real (non-pad) tokens fed to the model.
    :param padded_tokens: tokens fed including padding.
    :param forward_passes: model calls (batches).
    """

    candidates: int = 0
    tokens: int = 0
    padded_tokens: int = 0
    forward_passes: int = 0


def softmax_scores(scores: Sequence[float]) -> np.ndarray:
    """Numerically stable softmax over one question's candidate scores."""
    s = np.asarray(scores, dtype=np.float64)
    e = np.exp(s - s.max())
    return e / e.sum()


def group_scores(
    n_questions: int, sequences: Sequence[ScoredSequence], scores: Sequence[float]
) -> list[list[float]]:
    """Per question, its candidates' scores in candidate order."""
    grouped: list[dict[int, float]] = [{} for _ in range(n_questions)]
    for seq, score in zip(sequences, scores, strict=True):
        grouped[seq.question][seq.candidate] = score
    return [[g[i] for i in range(len(g))] for g in grouped]


class LogLikelihoodChooser:
    """Score candidates by log-likelihood with a HF causal LM.

    :param model: a ``transformers`` causal LM (``AutoModelForCausalLM``-compatible, PEFT models too).
    :param tokenizer: its tokenizer.
    :param batch_size: prompt+candidate sequences per forward pass.
    :param device: where to run; ``None`` = the model's current device (the model is moved otherwise).
    :param use_chat_template: wrap prompts in the chat template; ``None`` = when the tokenizer has one.
    :param length_normalize: divide each candidate's score by its token count (off by default: the
        evaluator's contract is the summed log-probability).
    :param share_prompt_cache: compute each shared prompt prefix once and continue its KV cache for
        the candidates (:mod:`progressgym_env.evaluator.cached_scoring`; same scores up to float
        rounding, several times fewer tokens). ``batch_size`` then caps the rows per forward pass.
        Falls back to one pass per prompt+candidate for models whose forward cannot continue a cache.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        batch_size: int = 16,
        device: Any = None,
        use_chat_template: bool | None = None,
        length_normalize: bool = False,
        share_prompt_cache: bool = True,
    ) -> None:
        import torch

        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = int(batch_size)
        if device is not None:
            self.model.to(device)
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.encoder = PromptEncoder(tokenizer, use_chat_template)
        self.length_normalize = bool(length_normalize)
        pad = getattr(tokenizer, "pad_token_id", None)
        if pad is None:
            pad = getattr(tokenizer, "eos_token_id", None)
        self.pad_id = int(pad) if pad is not None else 0
        # PEFT wrappers forward **kwargs to the base model: inspect the model that really runs.
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        params = inspect.signature(base.forward).parameters
        self._pass_positions = "position_ids" in params
        self._keep_logits = "logits_to_keep" in params
        self.stats = ScoringStats()
        self.share_prompt_cache = bool(share_prompt_cache)

    @property
    def use_chat_template(self) -> bool:
        """Whether prompts go through the chat template."""
        return self.encoder.use_chat_template

    def __call__(self, questions: list[Question]) -> list[np.ndarray]:
        """One probability array per question over its displayed options."""
        return [softmax_scores(s) for s in self.score(questions)]

    def score(self, questions: Sequence[Question]) -> list[list[float]]:
        """Per question, the (optionally length-normalised) log-likelihood of each candidate."""
        sequences = self.encoder.sequences(questions)
        scores = self.score_sequences(sequences)
        if self.length_normalize:
            scores = [s / seq.n_candidate for s, seq in zip(scores, sequences, strict=True)]
        return group_scores(len(questions), sequences, scores)

    def score_sequences(self, sequences: Sequence[ScoredSequence]) -> list[float]:
        """Summed candidate-token log-probabilities of each sequence, in input order."""
        import torch

        if self.share_prompt_cache:
            from progressgym_env.evaluator.cached_scoring import score_with_prefix_cache

            cached = score_with_prefix_cache(self, sequences)
            if cached is not None:
                return cached
            self.share_prompt_cache = False  # the model cannot continue a cache: plain path from now on
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i].ids), reverse=True)
        scores = [0.0] * len(sequences)
        was_training = getattr(self.model, "training", False)
        self.model.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(order), self.batch_size):
                    batch_idx = order[start : start + self.batch_size]
                    batch = [sequences[i] for i in batch_idx]
                    for i, value in zip(batch_idx, self._score_batch(batch), strict=True):
                        scores[i] = value
        finally:
            if was_training:
                self.model.train()
        return scores

    def _score_batch(self, batch: Sequence[ScoredSequence]) -> list[float]:
        """One forward pass over a left-padded batch; returns each sequence's candidate log-prob."""
        import torch

        length = max(len(s.ids) for s in batch)
        keep = max(s.n_candidate for s in batch) + 1
        input_ids = torch.full((len(batch), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), length), dtype=torch.long)
        for row, seq in enumerate(batch):
            input_ids[row, length - len(seq.ids) :] = torch.tensor(seq.ids, dtype=torch.long)
            mask[row, length - len(seq.ids) :] = 1
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask, "use_cache": False}
        if self._pass_positions:
            kwargs["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)
        if self._keep_logits:
            kwargs["logits_to_keep"] = keep
        logits = self.model(**kwargs).logits[:, -keep:, :]
        # logits[:, j] predicts the token at absolute position length - keep + j + 1.
        logprobs = torch.log_softmax(logits[:, :-1, :].float(), dim=-1)
        targets = input_ids[:, length - keep + 1 :]
        token_lp = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (batch, keep - 1)
        out = []
        for row, seq in enumerate(batch):
            out.append(float(token_lp[row, keep - 1 - seq.n_candidate :].sum()))
        self.stats.candidates += len(batch)
        self.stats.tokens += int(mask.sum())
        self.stats.padded_tokens += int(mask.numel())
        self.stats.forward_passes += 1
        return out
