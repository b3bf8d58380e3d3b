"""Generation chooser: let the model write an answer and parse it to an option (paper parity).

The original ProgressGym evaluation sampled free-text answers. This chooser does the same (greedy by
default, or seeded sampling), then parses each answer: a label letter, "yes"/"no", or the text of one
option. An answer that names no option, or several, is a *refusal*: the chooser returns all-NaN for
it and the evaluator counts it (``EvaluationResult.n_refused``) instead of scoring it as a choice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from progressgym_env.evaluator.choosers.encoding import PromptEncoder
from progressgym_env.evaluator.questions import LETTERS, Question

_LABEL = re.compile(
    r"^\W*(?:(?:the\s+)?(?:answer|option|choice)\s*(?:is)?\s*[:\-]?\s*)?\(?([A-D])\)?(?![A-Za-z])",
    re.IGNORECASE,
)
_YESNO = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


def _normalise(text: str) -> str:
    """Casefold, unify quotes, collapse spaces and trim punctuation at the ends."""
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    text = " ".join(text.casefold().split())
    return text.strip(" \t\n\"'.,;:!-")


def parse_answer(question: Question, answer: str) -> int | None:
    """The displayed option an answer picks, or ``None`` when it picks none or several.

    :param question: the question answered.
    :param answer: the generated text.
    """
    if question.format == "label":
        match = _LABEL.match(answer)
        if not match:
            return None
        letter = match.group(1)
        if letter.islower() and len(answer.strip(" .)(\n")) != 1:
            return None  # a lowercase "a" is usually the article, not a label
        index = LETTERS.index(letter.upper())
        return index if index < question.n_options else None
    if question.format == "yesno":
        match = _YESNO.match(answer)
        if not match:
            return None
        return 0 if match.group(1).lower() == "yes" else 1
    said = _normalise(answer)
    if not said:
        return None
    options = [_normalise(o) for o in question.options]
    exact = [i for i, o in enumerate(options) if o == said]
    if len(exact) == 1:
        return exact[0]
    contained = [i for i, o in enumerate(options) if o and o in said]
    if len(contained) == 1:
        return contained[0]
    prefix = [i for i, o in enumerate(options) if len(said) >= 12 and o.startswith(said)]
    return prefix[0] if len(prefix) == 1 else None


class GenerationChooser:
    """Generate an answer per question and parse it to a one-hot choice (NaN for refusals).

    :param model: a ``transformers`` causal LM.
    :param tokenizer: its tokenizer.
    :param max_new_tokens: answer length cap (repeat-format answers need room for an option text).
    :param seed: ``None`` = greedy decoding; an int = sampling, seeded at every call (reproducible).
    :param temperature: sampling temperature (ignored when greedy).
    :param batch_size: prompts per ``generate`` call.
    :param device: where to run; ``None`` = the model's device.
    :param use_chat_template: wrap prompts in the chat template; ``None`` = when the tokenizer has one.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        max_new_tokens: int = 48,
        seed: int | None = None,
        temperature: float = 1.0,
        batch_size: int = 8,
        device: Any = None,
        use_chat_template: bool | None = None,
    ) -> None:
        import torch

        self.model = model
        self.tokenizer = tokenizer
        self.max_new_tokens = int(max_new_tokens)
        self.seed = seed
        self.temperature = float(temperature)
        self.batch_size = int(batch_size)
        if device is not None:
            self.model.to(device)
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.encoder = PromptEncoder(tokenizer, use_chat_template)
        pad = getattr(tokenizer, "pad_token_id", None)
        self.pad_id = int(pad if pad is not None else (tokenizer.eos_token_id or 0))
        self.last_answers: list[str] = []
        """The raw answers of the latest call, in question order (for inspecting refusals)."""

    def __call__(self, questions: list[Question]) -> list[np.ndarray]:
        """One-hot probabilities over displayed options, or all NaN where the answer is unparseable."""
        answers = self.generate(questions)
        self.last_answers = answers
        out = []
        for question, answer in zip(questions, answers, strict=True):
            index = parse_answer(question, answer)
            if index is None:
                out.append(np.full(question.n_options, np.nan))
            else:
                out.append(np.eye(question.n_options)[index])
        return out

    def generate(self, questions: Sequence[Question]) -> list[str]:
        """The decoded answer of each question."""
        import torch

        prompts = [self.encoder.encode_prompt(q.prompt) for q in questions]
        answers: list[str] = []
        was_training = getattr(self.model, "training", False)
        self.model.eval()
        rng_devices = [self.device] if self.device.type == "cuda" else []
        try:
            with torch.inference_mode(), torch.random.fork_rng(devices=rng_devices):
                if self.seed is not None:
                    torch.manual_seed(self.seed)
                for start in range(0, len(prompts), self.batch_size):
                    answers.extend(self._generate_batch(prompts[start : start + self.batch_size]))
        finally:
            if was_training:
                self.model.train()
        return answers

    def _generate_batch(self, prompts: Sequence[tuple[int, ...]]) -> list[str]:
        import torch

        length = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), length), dtype=torch.long)
        for row, ids in enumerate(prompts):
            input_ids[row, length - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            mask[row, length - len(ids) :] = 1
        sampling = self.seed is not None
        generated = self.model.generate(
            input_ids=input_ids.to(self.device),
            attention_mask=mask.to(self.device),
            max_new_tokens=self.max_new_tokens,
            do_sample=sampling,
            temperature=self.temperature if sampling else None,
            top_p=None,
            top_k=None,
            pad_token_id=self.pad_id,
        )
        new_tokens = generated[:, length:]
        return [self.tokenizer.decode(row, skip_special_tokens=True).strip() for row in new_tokens]
