"""vLLM chooser: the log-likelihood chooser's scores from vLLM's prompt log-probabilities (GPU only).

Each prompt+candidate sequence is sent as token ids with ``SamplingParams(max_tokens=1,
prompt_logprobs=0)``; vLLM then returns, for every prompt position, the log-probability of the
token actually there, and the candidate's score is the sum over its trailing tokens. The encoding is
shared with :class:`LogLikelihoodChooser`, so both engines score exactly the same tokens.

``vllm`` is imported only inside the constructor, after checking that CUDA is present: importing it
on a CPU-only machine fails or pulls in GPU libraries.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

import numpy as np

from progressgym_env.errors import DeviceUnavailableError, MissingExtraError
from progressgym_env.evaluator.choosers.encoding import PromptEncoder, ScoredSequence
from progressgym_env.evaluator.choosers.loglik import ScoringStats, group_scores, softmax_scores
from progressgym_env.evaluator.questions import Question


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


class VLLMChooser:
    """Log-likelihood choices computed by a vLLM engine.

    :param model: a model path / hub id (a ``vllm.LLM`` is built from it with ``llm_kwargs``), or a
        ready ``vllm.LLM``.
    :param tokenizer: a HF tokenizer for the prompt encoding; ``None`` = the engine's own.
    :param tokenizer_path: tokenizer location for a ``vllm.LLM`` built here (default: ``model``).
    :param use_chat_template: wrap prompts in the chat template; ``None`` = when the tokenizer has one.
    :param length_normalize: divide each candidate's score by its token count.
    :param llm_kwargs: passed to ``vllm.LLM`` (e.g. ``dtype="bfloat16"``, ``load_format="dummy"`` for
        random weights, ``gpu_memory_utilization``); ``enable_prefix_caching`` defaults to False.
    :raises MissingExtraError: vllm is not installed.
    :raises DeviceUnavailableError: no CUDA device.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        tokenizer_path: str | None = None,
        use_chat_template: bool | None = None,
        length_normalize: bool = False,
        **llm_kwargs: Any,
    ) -> None:
        if importlib.util.find_spec("vllm") is None:
            raise MissingExtraError("VLLMChooser", "vllm", "vllm")
        if not _cuda_available():
            raise DeviceUnavailableError(
                "VLLMChooser needs a CUDA GPU and none is available; use LogLikelihoodChooser (HF "
                "transformers, CPU or GPU) instead"
            )
        import vllm

        self._vllm = vllm
        if isinstance(model, str):
            # Prompt logprobs bypass the prefix cache, and some vLLM releases returned stale values
            # for cached positions (vllm-project/vllm#42019): keep it off unless asked for.
            llm_kwargs.setdefault("enable_prefix_caching", False)
            self.llm = vllm.LLM(model=model, tokenizer=tokenizer_path or model, **llm_kwargs)
        else:
            self.llm = model
        self.tokenizer = tokenizer if tokenizer is not None else self.llm.get_tokenizer()
        self.encoder = PromptEncoder(self.tokenizer, use_chat_template)
        self.length_normalize = bool(length_normalize)
        self.sampling_params = vllm.SamplingParams(max_tokens=1, prompt_logprobs=0)
        self.stats = ScoringStats()

    def __call__(self, questions: list[Question]) -> list[np.ndarray]:
        """One probability array per question over its displayed options."""
        sequences = self.encoder.sequences(questions)
        scores = self.score_sequences(sequences)
        if self.length_normalize:
            scores = [s / seq.n_candidate for s, seq in zip(scores, sequences, strict=True)]
        return [softmax_scores(s) for s in group_scores(len(questions), sequences, scores)]

    def score_sequences(self, sequences: Sequence[ScoredSequence]) -> list[float]:
        """Summed candidate-token log-probabilities of each sequence."""
        prompts = [{"prompt_token_ids": list(seq.ids)} for seq in sequences]
        outputs = self.llm.generate(prompts, self.sampling_params, use_tqdm=False)
        scores = []
        for seq, output in zip(sequences, outputs, strict=True):
            per_position = output.prompt_logprobs
            total = 0.0
            for pos in range(len(seq.ids) - seq.n_candidate, len(seq.ids)):
                entry = per_position[pos]
                total += float(entry[seq.ids[pos]].logprob)
            scores.append(total)
        self.stats.candidates += len(sequences)
        self.stats.tokens += sum(len(s.ids) for s in sequences)
        self.stats.padded_tokens += sum(len(s.ids) for s in sequences)
        self.stats.forward_passes += 1
        return scores
