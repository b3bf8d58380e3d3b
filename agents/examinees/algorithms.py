"""The paper's baseline examinees: lifelong and extrapolative DPO, lifelong and extrapolative RLHF.

| name                    | training data each century                            | trainer                       |
|-------------------------|-------------------------------------------------------|-------------------------------|
| ``lifelong-dpo``        | the century's judged pairs                            | DPO                           |
| ``extrapolative-dpo-p`` | the pairs re-oriented and weighted by extrapolating   | DPO                           |
|                         | each pair's votes with an order-p polynomial          |                               |
| ``lifelong-rlhf``       | the century's judged pairs                            | reward model, then GRPO       |
| ``extrapolative-rlhf``  | the extrapolated pairs (order 1)                      | reward model, then GRPO       |

Each trains on the current model (lifelong in the model sense too) or, with ``independent=True``
(names ending ``-independent``), restarts from the episode's starting model every century.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import Any

import numpy as np

from agents.examinees.base import Examinee, ExamineeConfig, weighted_rows
from agents.examinees.extrapolation import extrapolated_weights


class _Scratch:
    """A temporary folder per examinee for the adapters it hands back (the env copies what it keeps)."""

    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="progressgym-examinee-")

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = tempfile.mkdtemp(prefix="progressgym-examinee-")


class DPOExaminee(Examinee):
    """Lifelong DPO (``extrapolation_order=None``) or extrapolative DPO of a given order."""

    def __init__(self, env: Any, config: ExamineeConfig | None = None, *, extrapolate: bool = False) -> None:
        super().__init__(env, config)
        self.extrapolate = extrapolate
        order = self.settings.extrapolation_order
        self.name = f"extrapolative-dpo-{order}" if extrapolate else "lifelong-dpo"
        if self.settings.independent:
            self.name += "-independent"
        self._scratch = _Scratch()

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._scratch.clear()

    def rows(self, preferences: Any) -> list[dict[str, str]]:
        """This century's DPO data: the judged pairs, or their extrapolation."""
        n = len(preferences)
        if not self.extrapolate:
            return weighted_rows(preferences, np.ones(n, dtype=bool), np.ones(n, dtype=np.int64),
                                 self.settings.anchor_formats)
        keep, copies = extrapolated_weights(self.history, self.settings.extrapolation_order, self.horizon(),
                                            self.settings.max_weight)
        return weighted_rows(preferences, keep, copies, self.settings.anchor_formats)

    def train(self, preferences: Any, seed: int) -> Any:
        from agents.examinees.training import train_dpo

        rows = self.rows(preferences)
        if not rows:
            return None
        model, tokenizer = self.start_model()
        trained, adapter = train_dpo(model, tokenizer, rows, self.llm_config(), self.settings.dpo_args,
                                     lora=self.settings.lora, seed=seed, scratch_root=self._scratch.root)
        return self.as_update(trained, adapter)


class RLHFExaminee(DPOExaminee):
    """Lifelong or extrapolative RLHF: a reward model on the (extrapolated) pairs, then GRPO against it."""

    def __init__(self, env: Any, config: ExamineeConfig | None = None, *, extrapolate: bool = False) -> None:
        super().__init__(env, config, extrapolate=extrapolate)
        order = self.settings.extrapolation_order
        self.name = ("extrapolative-rlhf" + (f"-{order}" if order != 1 else "")) if extrapolate else "lifelong-rlhf"
        if self.settings.independent:
            self.name += "-independent"

    def train(self, preferences: Any, seed: int) -> Any:
        from agents.examinees.training import train_grpo, train_reward_model

        rows = self.rows(preferences)
        if not rows:
            return None
        llm = self.llm_config()
        model, tokenizer = self.start_model()
        from progressgym_env.evaluator.choosers.loading import resolve_model_source

        source, _ = resolve_model_source(llm.agent_id())  # a registered name resolves to its cached folder
        reward = train_reward_model(source, tokenizer, rows, llm, self.settings.reward_args,
                                    lora=self.settings.lora, seed=seed)
        prompts = list(dict.fromkeys(r["prompt"] for r in rows))
        trained, adapter = train_grpo(model, tokenizer, prompts, reward, llm, self.settings.rl_args,
                                      lora=self.settings.lora, seed=seed, scratch_root=self._scratch.root)
        return self.as_update(trained, adapter)
