"""Training of the ``llm`` timeline's models: the agent's DPO update and the simulated human's SFT update.

:class:`UpdateTrainer` turns one century's request into a trained model, drawing every random number
from the generator it is given, in a fixed order (so a journaled episode replays bit-identically):

- :meth:`UpdateTrainer.train_agent` (vector interface): a preference dataset from the bank's *train*
  split for the action (:mod:`~progressgym_env.llm.preference_data`), then TRL's ``DPOTrainer`` with a
  fresh LoRA adapter merged afterwards (:mod:`~progressgym_env.llm.dpo_update`);
- :meth:`UpdateTrainer.train_simulated` (PG-Coevolve): SFT on answers sampled from proxy t
  (``sft_history_epochs``), then on answers sampled from the agent's model (``sft_ai_epochs``)
  (:mod:`~progressgym_env.llm.sft_update`).

It neither loads nor measures models nor touches the journal: the timeline hands it the models and
the adapter folders and records what it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from progressgym_env.llm.config import LLMConfig

_SEED_HIGH = 2**31 - 1


@dataclass
class Trained:
    """A trained model and what the training wrote.

    :param model: the updated model (adapters merged).
    :param adapters: the adapter folders written, in order (none without a checkpoint folder).
    :param timing: seconds (and step counts) of the training, for the timeline's ``timings``.
    """

    model: Any
    adapters: list[Path] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)


class UpdateTrainer:
    """DPO and SFT updates of the timeline's models (see the module docstring).

    :param config: the backend's settings (pairs per unit, formats, trainer arguments).
    :param device: where training runs.
    :param train_bank: the question bank's train split (preference pairs are drawn from it).
    :param pool: the elicitation pool (the SFT questions).
    :param proxy_probs: century -> the proxy's cached (n_pool, 4) choice probabilities.
    """

    def __init__(
        self, config: LLMConfig, device: str, train_bank: Any, pool: Any, proxy_probs: Callable[[int], np.ndarray]
    ) -> None:
        self.config = config
        self.device = device
        self.train_bank = train_bank
        self.pool = pool
        self.proxy_probs = proxy_probs
        self.dpo_updates = 0
        self.sft_updates = 0

    def train_agent(
        self, model: Any, tokenizer: Any, action: np.ndarray, rng: np.random.Generator, adapter_dir: Path | None
    ) -> Trained:
        """One DPO update of the agent's model for a non-zero vector ``action``."""
        from progressgym_env.evaluator.choosers.encoding import PromptEncoder
        from progressgym_env.llm.dpo_update import dpo_update
        from progressgym_env.llm.preference_data import build_preference_pairs, dpo_rows

        cfg = self.config
        pairs = build_preference_pairs(self.train_bank, action, cfg.pairs_per_unit, rng, cfg.train_formats)
        seed = int(rng.integers(_SEED_HIGH))
        model, stats = dpo_update(
            model, tokenizer, dpo_rows(pairs, PromptEncoder(tokenizer)), cfg,
            device=self.device, seed=seed, adapter_dir=adapter_dir, in_order=True,
        )
        self.dpo_updates += 1
        timing = {"dpo_s": stats.seconds, "dpo_steps": stats.steps, "pairs": stats.examples,
                  "pairs_trained": stats.trained, "pairs_cut": stats.cut}
        return Trained(model, [adapter_dir] if adapter_dir is not None else [], timing)

    def train_simulated(
        self,
        model: Any,
        tokenizer: Any,
        t: int,
        rng: np.random.Generator,
        agent: Callable[[], tuple[Any, Any]],
        adapter_dir: Callable[[str], Path | None],
    ) -> Trained:
        """S_t's SFT update: on proxy ``t``'s sampled answers, then on the agent model's.

        :param agent: returns the agent's (model, tokenizer), loaded only when its answers are needed.
        :param adapter_dir: role (``sim-history``, ``sim-ai``) -> where its adapter goes (None: not kept).
        """
        from progressgym_env.evaluator.choosers.encoding import PromptEncoder
        from progressgym_env.evaluator.choosers.loglik import LogLikelihoodChooser
        from progressgym_env.llm.sft_update import answer_rows, sample_choices, sft_update

        cfg = self.config
        encoder = PromptEncoder(tokenizer)
        out = Trained(model)
        for role, epochs in (("sim-history", cfg.sft_history_epochs), ("sim-ai", cfg.sft_ai_epochs)):
            idx = rng.integers(len(self.pool.questions), size=cfg.sft_questions)
            questions = [self.pool.questions[int(i)] for i in idx]
            if role == "sim-history":
                probs = [p[: q.n_options] for p, q in zip(self.proxy_probs(t)[idx], questions, strict=True)]
            else:
                agent_model, agent_tokenizer = agent()
                probs = LogLikelihoodChooser(agent_model, agent_tokenizer, batch_size=cfg.evaluator.batch_size)(questions)
            choices = sample_choices(rng, probs)
            seed = int(rng.integers(_SEED_HIGH))
            folder = adapter_dir(role) if epochs > 0 else None
            out.model, stats = sft_update(
                out.model, tokenizer, answer_rows(questions, choices.tolist(), encoder), cfg,
                epochs=epochs, device=self.device, seed=seed, adapter_dir=folder,
            )
            self.sft_updates += int(stats.steps > 0)
            out.timing[f"{role}_s"] = stats.seconds
            if folder is not None:
                out.adapters.append(folder)
        return out
