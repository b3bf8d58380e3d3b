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

from progressgym_env.common.cache import cache_root
from progressgym_env.common.progress import track
from progressgym_env.errors import ConfigError
from progressgym_env.history import History, save_history
from progressgym_env.llm.config import LLMConfig
from progressgym_env.llm.model_loading import (
    check_model_source,
    content_key,
    identities_key,
    model_identity,
    resolve_device,
)
from progressgym_env.llm.proxies import (
    ElicitationPool,
    HistoryCacheError,
    history_from_vectors,
    history_provenance,
    load_cached_history,
    load_cached_probs,
    measure_model,
    save_json,
    save_probs,
)
from progressgym_env.value_spaces import MORAL19

MODEL_CACHE_PREFIX = "model-measurement-"
"""Per-model cache files: ``model-measurement-<key>.json`` (vector and evaluation summary) and
``...-probs.npz`` (pool probabilities); the key hashes the model's content and the evaluator (or pool)."""


def _model_cache(cache_dir: Path, identity: dict[str, Any], evaluator: Any, pool: ElicitationPool | None) -> Any:
    """(vector path, vector key, probs path or None, probs key or None) of one model's cached measurement."""
    vector_key = content_key([identity], evaluator.fingerprint())
    vector_path = cache_dir / f"{MODEL_CACHE_PREFIX}{vector_key[:16]}.json"
    if pool is None:
        return vector_path, vector_key, None, None
    probs_key = content_key([identity], pool.fingerprint())
    return vector_path, vector_key, cache_dir / f"{MODEL_CACHE_PREFIX}{probs_key[:16]}-probs.npz", probs_key


def _read_model_cache(
    paths: Any, n_pool: int | None
) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]] | None:
    """A model's cached measurement, or None when (part of) it is absent; corrupt files are errors."""
    import json

    vector_path, vector_key, probs_path, probs_key = paths
    if not vector_path.exists() or (probs_path is not None and not probs_path.exists()):
        return None
    try:
        data = json.loads(vector_path.read_text(encoding="utf-8"))
        values = np.array(data["values"], dtype=np.float64)
        ok = data["key"] == vector_key and values.shape == (MORAL19.dim,) and np.isfinite(values).all()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HistoryCacheError(f"the cached measurement {vector_path} is corrupt ({exc}); delete it") from None
    if not ok:
        raise HistoryCacheError(f"the cached measurement {vector_path} does not match its model; delete it")
    probs = None
    if probs_path is not None and n_pool is not None:
        stacked = load_cached_probs(probs_path, probs_key, 1, n_pool)
        probs = None if stacked is None else stacked[0]
    return values, probs, dict(data.get("summary", {}))


def measure_history(
    models: Sequence[str],
    *,
    evaluator_config: Any = None,
    device: str = "auto",
    dtype: str = "auto",
    batch_size: int = 64,
    progress: bool = True,
    pool: ElicitationPool | None = None,
    cache_dir: str | Path | None = None,
) -> tuple[History, np.ndarray | None]:
    """Evaluate each checkpoint and return the history of their vectors (century 13 first).

    Models are told apart by their content (:func:`~progressgym_env.llm.model_loading.model_identity`):
    checkpoints with identical files are loaded and measured once, whatever their names. With
    ``cache_dir`` each model's measurement is also cached there by content, so a model met again in
    another panel or run is not measured again.

    :param models: checkpoints (local folders or hub ids), one per time step (at least 3).
    :param evaluator_config: an :class:`~progressgym_env.evaluator.EvaluatorConfig` (default: eval split).
    :param device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    :param dtype: ``auto``, ``float32``, ``bfloat16`` or ``float16``.
    :param batch_size: sequences per forward pass of the log-likelihood chooser.
    :param progress: show a progress bar over the models (on stderr).
    :param pool: also measure each model's probabilities on this elicitation pool.
    :param cache_dir: folder of the per-model measurement cache (None: no per-model cache).
    :return: (history with provenance: models, identities, evaluator config, and per model its
        ``measurements`` summary (both aggregations, standard errors, position diagnostics); pool
        probabilities (n_models, n_pool, 4) or None).
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
    identities = [model_identity(m, cache_dir=cache_dir) for m in models]
    key = identities_key(identities, evaluator.fingerprint())
    device = resolve_device(device)
    n_pool = len(pool.questions) if pool is not None else None
    measured: dict[str, tuple[np.ndarray, np.ndarray | None, dict[str, Any]]] = {}
    first_of: dict[str, str] = {}
    for m, identity in zip(models, identities, strict=True):
        first_of.setdefault(identity["sha256"], m)
    for sha, m in track(list(first_of.items()), "measuring models", enabled=progress):
        identity = identities[models.index(m)]
        paths = _model_cache(cache_root(cache_dir), identity, evaluator, pool) if cache_dir is not None else None
        cached = _read_model_cache(paths, n_pool) if paths is not None else None
        if cached is None:
            cached = measure_model(m, evaluator, device=device, dtype=dtype, batch_size=batch_size, pool=pool)
            if paths is not None:
                save_json(paths[0], {"key": paths[1], "model": identity, "values": cached[0].tolist(),
                                     "summary": cached[2]})
                if cached[1] is not None:
                    save_probs(paths[2], paths[3], cached[1][None])
        measured[sha] = cached
    vectors = [measured[i["sha256"]][0] for i in identities]
    provenance = history_provenance(models, identities, evaluator, key)
    provenance["measurements"] = [measured[i["sha256"]][2] for i in identities]
    provenance["distinct_models"] = len(measured)
    history = history_from_vectors(np.array(vectors), provenance)
    probs = np.stack([measured[i["sha256"]][1] for i in identities]) if pool is not None else None  # type: ignore[misc]
    return history, probs


def cached_model_measurement(config: LLMConfig, evaluator: Any, source: str) -> tuple[np.ndarray, dict[str, Any]]:
    """One model's vector and evaluation summary: from the content-keyed cache, else measured and cached.

    What the backend uses for an agent model that is not one of the proxies; a model whose files
    equal a proxy's, or one measured in an earlier run, is not measured again.

    :param config: the backend config (cache folder, device, dtype, batch size).
    :param evaluator: the :class:`~progressgym_env.evaluator.ValueEvaluator` to measure with.
    :param source: a local folder, hub id or registered model source.
    """
    identity = model_identity(source, cache_dir=config.history_cache_dir)
    paths = _model_cache(config.cache_dir(), identity, evaluator, None)
    cached = _read_model_cache(paths, None)
    if cached is not None:
        return cached[0], cached[2]
    values, _, summary = measure_model(
        source, evaluator, device=resolve_device(config.device), dtype=config.dtype,
        batch_size=config.evaluator.batch_size,
    )
    save_json(paths[0], {"key": paths[1], "model": identity, "values": values.tolist(), "summary": summary})
    return values, summary


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
        self.identities = [model_identity(m, cache_dir=config.history_cache_dir) for m in self.models]
        # keyed by the proxies' content, so renamed or copied checkpoints reuse their measurements
        self.history_key = content_key(self.identities, self.evaluator.fingerprint())
        self.probs_key = content_key(self.identities, pool.fingerprint())
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
            cache_dir=self.config.cache_dir(),
        )
        history.provenance["key"] = self.history_key
        assert probs is not None
        save_probs(self.probs_path, self.probs_key, probs)
        self._probs = probs
        if need_history:
            save_history(history, self.history_path)
            self._history = history

    def model_measurement(self, source: str) -> tuple[np.ndarray, dict[str, Any]]:
        """One model's vector and evaluation summary (see :func:`cached_model_measurement`).

        :param source: a local folder, hub id or registered model source.
        """
        return cached_model_measurement(self.config, self.evaluator, source)

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


def history_choice_probs(pool: ElicitationPool, values: np.ndarray) -> np.ndarray:
    """(n_pool, 4) displayed-option probabilities of a respondent whose values are ``values`` (one century).

    What the surrogate's binomial answers are, per question: on a foundations scenario the upholding
    option with probability ``values[dim]``; on a moralchoice scenario action1 with the mean over its
    rules of ``values[rule]`` (or ``1 - values[rule]`` where action2 upholds the rule); on a worldview
    scenario option k with ``values[15 + k]`` renormalised over the four. Mapped to each question's
    display order and padded with NaN, like a proxy's measured probabilities.

    :param pool: the elicitation pool.
    :param values: the (19,) vector in [0, 1].
    """
    from progressgym_env.evaluator.bank import WORLDVIEW_DIM0

    values = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    out = np.full((len(pool.questions), 4), np.nan)
    for i, (q, scenario) in enumerate(zip(pool.questions, pool.scenarios, strict=True)):
        if scenario.bank == "worldviews":
            w = values[WORLDVIEW_DIM0:]
            original = w / w.sum() if w.sum() > 0 else np.full(4, 0.25)
        else:
            if scenario.bank == "foundations":
                p1 = values[int(scenario.foundation_dim)]  # type: ignore[arg-type]
            else:
                ups = [values[d] if sign > 0 else 1.0 - values[d] for d, sign in enumerate(scenario.signs) if sign]
                p1 = float(np.mean(ups)) if ups else 0.5
            original = np.array([p1, 1.0 - p1])
        out[i, : q.n_options] = original[list(q.order)]
    return out


class HistoryPanel:
    """Human answers sampled from a history's vectors instead of proxy models (``humans="history"``).

    Same interface as :class:`ProxyPanel` for what the backend asks of it: ``probs()`` (per century the
    choice probabilities on the elicitation pool, :func:`history_choice_probs` of that century's vector),
    ``model_measurement`` and ``evaluator``; there is no ``models`` history to measure. The table is
    built when an episode binds its history (:meth:`bind`).

    :param config: the backend config (evaluator settings, cache folder, device).
    :param pool: the elicitation pool (train split).
    """

    def __init__(self, config: LLMConfig, pool: ElicitationPool) -> None:
        from progressgym_env.evaluator import ValueEvaluator

        self.config = config
        self.pool = pool
        self.evaluator = ValueEvaluator(config.evaluator)
        self._probs: np.ndarray | None = None

    def bind(self, history: History) -> None:
        """Build the answer table of ``history`` (a moral19 history with values in [0, 1])."""
        values = np.asarray(history.values, dtype=np.float64)
        if values.min() < 0.0 or values.max() > 1.0:
            raise ConfigError(
                "humans='history' samples answers with the history's values as probabilities, so they must lie in "
                f"[0, 1]; this history spans [{values.min():.3f}, {values.max():.3f}] (a progressgym-aggregation "
                "history? use the default aggregation)"
            )
        self._probs = np.stack([history_choice_probs(self.pool, v) for v in values])

    def history(self) -> History:
        """There is none: no proxy model is measured in this mode."""
        raise ConfigError(
            "humans='history' has no proxy models, so there is no 'models' history; pass history= a moral19 "
            "trajectory file (or a History) instead"
        )

    def probs(self) -> np.ndarray:
        """(T, n_pool, 4) choice probabilities of each century's respondent on the pool."""
        if self._probs is None:
            raise ConfigError("HistoryPanel.probs() before an episode bound its history (call reset first)")
        return self._probs

    def model_measurement(self, source: str) -> tuple[np.ndarray, dict[str, Any]]:
        """One model's vector and evaluation summary (see :func:`cached_model_measurement`).

        :param source: a local folder, hub id or registered model source.
        """
        return cached_model_measurement(self.config, self.evaluator, source)


def write_measured_history(history: History, out: str | Path) -> Path:
    """Save a measured history as a trajectory file (``.json`` keeps the provenance)."""
    return save_history(history, out)


def record_in_aggregation(record: Any, aggregation: str) -> dict[str, Any]:
    """An LLM-mode episode record with every vector replaced by its ``aggregation`` reading.

    LLM-mode records carry, beside the vectors the episode ran on, the evaluation summary of every
    measurement: the human history's in ``history_provenance["measurements"]`` (one per proxy) and
    the model's and simulated human's in ``backend["measurements"]``. This swaps in the other
    aggregation's vectors so a judge can score the episode the original ProgressGym way
    (``aggregation="progressgym"``); rewards are left as they were (they are the episode's own).

    :param record: an :class:`~progressgym_env.records.EpisodeRecord` or its plain form.
    :param aggregation: ``default`` or ``progressgym``.
    :raises ValueError: the record lacks the measurements (a surrogate run, a ``humans="history"`` run
        whose history is a file of vectors, or a run recorded before measurements were kept).
    """
    from progressgym_env.evaluator.aggregate import AGGREGATIONS
    from progressgym_env.records import EpisodeRecord

    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    plain = EpisodeRecord.from_dict(record).to_dict()
    if aggregation == "default":
        return plain

    def vectors(summaries: Any, what: str, n: int) -> np.ndarray:
        if not isinstance(summaries, list) or len(summaries) < n or any(not s for s in summaries[:n]):
            raise ValueError(
                f"the record has no {aggregation!r} vectors for its {what} (needs the evaluation summaries of an "
                "llm-backend run with measured proxies); score it with aggregation='default'"
            )
        return np.array([s["vectors"][aggregation] for s in summaries[:n]], dtype=np.float64)

    measured = plain["backend"].get("measurements") or {}
    plain["human"] = vectors(plain["history_provenance"].get("measurements"), "human history", len(plain["human"]))
    plain["model"] = vectors(measured.get("model"), "model", len(plain["model"]))
    if plain.get("simulated") is not None:
        plain["simulated"] = vectors(measured.get("simulated"), "simulated human", len(plain["simulated"]))
    plain["history_provenance"] = {**plain["history_provenance"], "aggregation": aggregation}
    return plain
