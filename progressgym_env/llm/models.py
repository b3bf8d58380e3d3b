"""The models of an ``llm`` episode, kept as what rebuilds them: a base checkpoint plus adapters, in order.

:class:`ModelStore` owns the agent's model, the simulated human's model (PG-Coevolve) and, in examinee
mode, the century's human proxy answering free-form questions. A model is loaded when first asked for
and rebuilt from its base and the adapters recorded so far, so a resumed episode (see
:mod:`progressgym_env.llm.checkpoint`) rebuilds exactly the model an uninterrupted run would hold. The
timeline (:class:`~progressgym_env.llm.backend.LLMBackend`) says what happened; the store only keeps
the recipe and the loaded weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from progressgym_env.llm.config import LLMConfig
from progressgym_env.llm.model_loading import apply_adapters, load_causal_lm

Loaded = tuple[Any, Any]
"""A loaded ``(model, tokenizer)`` pair."""


class ModelStore:
    """The episode's agent, simulated-human and respondent models (see the module docstring).

    :param config: the backend's settings (sources, dtype, evaluator batch size).
    :param device: where models are loaded.
    """

    def __init__(self, config: LLMConfig, device: str) -> None:
        self.config = config
        self.device = device
        self._agent: Loaded | None = None
        self._sim: Loaded | None = None
        self._agent_base: str | None = None
        self._agent_adapters: list[Path] = []
        self._sim_adapters: list[Path] = []
        self._respondent: tuple[int, Loaded] | None = None
        self._tokenizer: Any = None

    def reset(self) -> None:
        """Back to the starting checkpoints: no adapters, nothing loaded (the tokenizer is kept)."""
        self._agent = self._sim = None
        self._agent_base = None
        self._agent_adapters, self._sim_adapters = [], []
        self._respondent = None

    # -- loading ------------------------------------------------------------------------------

    def load(self, source: str, adapters: Sequence[Path] = ()) -> Loaded:
        """Load ``source`` on the store's device and merge ``adapters`` into it, in order."""
        model, tokenizer = load_causal_lm(source, device=self.device, dtype=self.config.dtype)
        if adapters:
            model = apply_adapters(model, list(adapters))
        return model, tokenizer

    @property
    def agent_base(self) -> str:
        """The folder (or id) the agent's current model is rebuilt from, before its adapters."""
        return self._agent_base or self.config.agent_id()

    def agent(self) -> Loaded:
        """The agent's current model, loading its base and merging its adapters when needed."""
        if self._agent is None:
            self._agent = self.load(self.agent_base, self._agent_adapters)
        return self._agent

    def initial_agent(self) -> Loaded:
        """A fresh load of the agent's starting checkpoint."""
        return self.load(self.config.agent_id())

    def simulated(self) -> Loaded:
        """The simulated human's model: its starting checkpoint plus its adapters."""
        if self._sim is None:
            cfg = self.config
            start = cfg.proxy_ids()[0] if cfg.humans == "proxies" else cfg.agent_id()
            self._sim = self.load(start, self._sim_adapters)
        return self._sim

    def proxy(self, t: int) -> Loaded:
        """Proxy ``t`` (kept until another century's proxy is asked for or :meth:`drop_proxy`)."""
        if self._respondent is None or self._respondent[0] != t:
            self._respondent = None
            self._respondent = (t, self.load(self.config.proxy_ids()[t]))
        return self._respondent[1]

    def drop_proxy(self) -> None:
        """Forget the loaded proxy (a new century asks for its own)."""
        self._respondent = None

    def agent_tokenizer(self) -> Any:
        """The agent's tokenizer (loaded once, without the weights; a pad token set when it has none)."""
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            from progressgym_env.evaluator.choosers.loading import resolve_model_source

            # A registered name (smollm2-135m-instruct) resolves to its cached folder first.
            _, source = resolve_model_source(self.config.agent_id())
            self._tokenizer = AutoTokenizer.from_pretrained(source)
            if self._tokenizer.pad_token is None:
                self._tokenizer.pad_token = self._tokenizer.eos_token
        return self._tokenizer

    # -- what happened to the models ------------------------------------------------------------

    def set_agent(self, loaded: Loaded) -> None:
        """The agent's model is now ``loaded`` (trained or handed back in memory)."""
        self._agent = loaded

    def set_simulated(self, loaded: Loaded) -> None:
        """The simulated human's model is now ``loaded``."""
        self._sim = loaded

    def add_agent_adapter(self, folder: Path) -> None:
        """Record an adapter merged into the agent's model (the loaded model already holds it)."""
        self._agent_adapters.append(folder)

    def add_simulated_adapter(self, folder: Path) -> None:
        """Record an adapter merged into the simulated human's model."""
        self._sim_adapters.append(folder)

    def replayed_agent_adapters(self, folders: Sequence[Path]) -> None:
        """A replayed update trained ``folders``: record them and drop the loaded model (rebuilt when needed)."""
        self._agent_adapters += list(folders)
        if folders:
            self._agent = None

    def replayed_simulated_adapters(self, folders: Sequence[Path]) -> None:
        """A replayed update trained ``folders`` on the simulated human: record them, drop the loaded model."""
        self._sim_adapters += list(folders)
        if folders:
            self._sim = None

    def rebase_agent(self, base: str | None, adapters: Sequence[Path]) -> None:
        """The agent's model is now ``base`` (None: the starting checkpoint) plus ``adapters``; the loaded
        model is kept (the caller set it, or drops it with :meth:`forget_agent`)."""
        self._agent_base, self._agent_adapters = base, list(adapters)

    def forget_agent(self) -> None:
        """Drop the agent's loaded model; it is rebuilt from its base and adapters when next needed."""
        self._agent = None

    def close(self) -> None:
        """Drop every loaded model and free the accelerator memory they held."""
        from progressgym_env.llm.proxies import _free_accelerator_memory, model_weight_bytes

        held = [pair for pair in (self._agent, self._sim) if pair is not None]
        if self._respondent is not None:
            held.append(self._respondent[1])
        dropped = sum(model_weight_bytes(pair[0]) for pair in held)
        self._agent = self._sim = None
        self._respondent = None
        _free_accelerator_memory(dropped)
