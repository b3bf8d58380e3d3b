"""Measure checkpoints into a ``models`` history (the ``measure-history`` command) and the proxy panel.

:func:`measure_history` evaluates a list of checkpoints (nine century proxies, century 13 first) one
at a time with a progress bar and returns the trajectory; :class:`ProxyPanel` is what the ``llm``
backend uses: the same measurement, plus the proxies' probabilities on the elicitation pool, both
cached on disk (see :mod:`progressgym_env.llm.proxies`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from progressgym_env.common.progress import track
from progressgym_env.errors import ConfigError
from progressgym_env.history import History, save_history
from progressgym_env.llm.config import LLMConfig
from progressgym_env.llm.model_loading import (
    check_model_source,
    identities_key,
    model_identity,
    resolve_device,
)
from progressgym_env.llm.proxies import (
    ElicitationPool,
    history_from_vectors,
    history_provenance,
    load_cached_history,
    load_cached_probs,
    measure_model,
    save_probs,
)


def measure_history(
    models: Sequence[str],
    *,
    evaluator_config: Any = None,
    device: str = "auto",
    dtype: str = "auto",
    batch_size: int = 64,
    progress: bool = True,
    pool: ElicitationPool | None = None,
) -> tuple[History, np.ndarray | None]:
    """Evaluate each checkpoint and return the history of their vectors (century 13 first).

    :param models: checkpoints (local folders or hub ids), one per time step (at least 3).
    :param evaluator_config: an :class:`~progressgym_env.evaluator.EvaluatorConfig` (default: eval split).
    :param device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    :param dtype: ``auto``, ``float32``, ``bfloat16`` or ``float16``.
    :param batch_size: sequences per forward pass of the log-likelihood chooser.
    :param progress: show a progress bar over the models (on stderr).
    :param pool: also measure each model's probabilities on this elicitation pool.
    :return: (history with provenance: models, identities, evaluator config; pool probabilities
        (n_models, n_pool, 4) or None).
    :raises ModelLoadError: a missing path or a folder without a tokenizer (checked for every model
        before the first is loaded).
    """
    from progressgym_env.evaluator import EvaluatorConfig, ValueEvaluator

    models = [str(m) for m in models]
    if len(models) < 3:
        raise ConfigError(f"a history needs at least 3 checkpoints (one per century), got {len(models)}")
    for m in models:
        check_model_source(m)
    evaluator = ValueEvaluator(config=evaluator_config or EvaluatorConfig())
    identities = [model_identity(m) for m in models]
    key = identities_key(identities, evaluator.fingerprint())
    device = resolve_device(device)
    vectors: list[np.ndarray] = []
    probs: list[np.ndarray] = []
    for m in track(models, "measuring models", enabled=progress):
        v, p = measure_model(m, evaluator, device=device, dtype=dtype, batch_size=batch_size, pool=pool)
        vectors.append(v)
        if p is not None:
            probs.append(p)
    history = history_from_vectors(np.array(vectors), history_provenance(models, identities, evaluator, key))
    return history, (np.stack(probs) if pool is not None else None)


class ProxyPanel:
    """The nine century proxies of an :class:`LLMConfig`: their history and pool probabilities, cached.

    :param config: the backend config (proxies, evaluator settings, cache folder, device).
    :param pool: the elicitation pool (train split).
    """

    def __init__(self, config: LLMConfig, pool: ElicitationPool) -> None:
        from progressgym_env.evaluator import ValueEvaluator

        self.config = config
        self.models = config.proxy_ids()
        for m in self.models:
            check_model_source(m)
        self.pool = pool
        self.evaluator = ValueEvaluator(config.evaluator)
        self.identities = [model_identity(m) for m in self.models]
        self.history_key = identities_key(self.identities, self.evaluator.fingerprint())
        self.probs_key = identities_key(self.identities, pool.fingerprint())
        cache = config.cache_dir()
        self.history_path = cache / f"models-history-{self.history_key[:16]}.json"
        self.probs_path = cache / f"elicit-probs-{self.probs_key[:16]}.npz"
        self._history: History | None = None
        self._probs: np.ndarray | None = None

    def _measure(self, need_history: bool) -> None:
        history, probs = measure_history(
            self.models,
            evaluator_config=self.evaluator.config,
            device=resolve_device(self.config.device),
            dtype=self.config.dtype,
            batch_size=self.config.evaluator.batch_size,
            progress=self.config.show_progress,
            pool=self.pool,
        )
        assert probs is not None
        save_probs(self.probs_path, self.probs_key, probs)
        self._probs = probs
        if need_history:
            save_history(history, self.history_path)
            self._history = history

    def history(self) -> History:
        """The ``models`` history (measured once, then read from the cache)."""
        if self._history is None:
            self._history = load_cached_history(self.history_path, self.history_key)
            if self._history is None:
                self._measure(need_history=True)
        assert self._history is not None
        return self._history

    def probs(self) -> np.ndarray:
        """(9, n_pool, 4) choice probabilities of each proxy on the pool (measured once, then cached)."""
        if self._probs is None:
            self._probs = load_cached_probs(self.probs_path, self.probs_key, len(self.models), len(self.pool.questions))
            if self._probs is None:
                self._measure(need_history=load_cached_history(self.history_path, self.history_key) is None)
        assert self._probs is not None
        return self._probs


def write_measured_history(history: History, out: str | Path) -> Path:
    """Save a measured history as a trajectory file (``.json`` keeps the provenance)."""
    return save_history(history, out)
