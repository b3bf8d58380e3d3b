"""Human proxies: the ``models`` history, the elicitation pool, and their on-disk caches.

Two things are measured once per proxy checkpoint and cached (loading nine 8B models per episode
would dominate every run):

- the proxy's **value vector** on the evaluator's split: the nine vectors form the ``models`` history,
  cached as a trajectory file (``models-history-<key>.json``, the format of
  :mod:`progressgym_env.history`) with provenance naming the models, their identities and the
  evaluator config; ``key`` hashes the model identities
  (:func:`~progressgym_env.llm.model_loading.model_identity`) and the evaluator fingerprint;
- the proxy's **choice probabilities on the elicitation pool** (train-split questions), from which
  observations and Coevolve's SFT answers are sampled (``elicit-probs-<key>.npz``).

A cache file that cannot be read, or whose recorded key differs from its name's, is a
:class:`HistoryCacheError` naming the file: delete it to measure again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from progressgym_env.common.atomic import atomic_path, atomic_write_text
from progressgym_env.common.fingerprint import questions_fingerprint
from progressgym_env.errors import HistoryFormatError
from progressgym_env.evaluator.bank import QuestionBank, Scenario, load_question_bank
from progressgym_env.evaluator.questions import Question, render_scenario
from progressgym_env.history import History, load_history_file
from progressgym_env.value_spaces import MORAL19

POOL_SEED = 0
"""Seed of the stratified subset that forms the elicitation pool (fixed: the pool is part of the task)."""

MAX_OPTIONS = 4


class HistoryCacheError(HistoryFormatError):
    """A cached measurement (models history or elicitation probabilities) is corrupt or mismatched."""


# --------------------------------------------------------------------------------------- the pool


@dataclass(frozen=True)
class ElicitationPool:
    """The train-split questions observations are sampled from.

    :param questions: every rendered question of the pool.
    :param dim_questions: per dim, indices (into ``questions``) of the questions feeding it.
    :param upholds: per dim, a bool array (len(dim_questions[i]), 4) marking the *displayed* options
        whose choice upholds (raises) the dim (padded with False beyond a question's options).
    :param scenarios: the scenario of each question (what answers sampled from a vector need).
    """

    questions: tuple[Question, ...]
    dim_questions: tuple[np.ndarray, ...]
    upholds: tuple[np.ndarray, ...]
    scenarios: tuple[Scenario, ...] = ()

    def fingerprint(self) -> str:
        """SHA-256 of the pool's prompts and candidates."""
        return questions_fingerprint(self.questions)


def build_elicitation_pool(
    max_scenarios_per_dim: int | None, formats: Sequence[str], bank: QuestionBank | None = None
) -> ElicitationPool:
    """Render the train split (or a stratified subset of it) into the elicitation pool.

    :param max_scenarios_per_dim: subset cap per dim (None: the whole train split).
    :param formats: question formats to render.
    :param bank: a preloaded train-split bank (default: the package's).
    """
    bank = bank if bank is not None else load_question_bank("train")
    if bank.split == "eval":
        raise ValueError("the elicitation pool must come from the 'train' split, not 'eval'")
    if max_scenarios_per_dim is not None:
        bank = bank.subset(max_scenarios_per_dim, POOL_SEED)
    questions: list[Question] = []
    scenario_of: list[Any] = []
    for scenario in bank:
        for q in render_scenario(scenario, formats):
            questions.append(q)
            scenario_of.append(scenario)
    dim_questions, upholds = [], []
    for dim in range(MORAL19.dim):
        idx, marks = [], []
        for i, (q, s) in enumerate(zip(questions, scenario_of, strict=True)):
            effects = s.option_effects(dim)
            if not any(effects):
                continue
            row = np.zeros(MAX_OPTIONS, dtype=bool)
            row[: q.n_options] = [effects[original] > 0 for original in q.order]
            idx.append(i)
            marks.append(row)
        if not idx:
            raise ValueError(f"the elicitation pool has no question for dim {dim} ({MORAL19.dims[dim]})")
        dim_questions.append(np.array(idx, dtype=np.int64))
        upholds.append(np.array(marks, dtype=bool))
    return ElicitationPool(tuple(questions), tuple(dim_questions), tuple(upholds), tuple(scenario_of))


def pad_probs(probs: Sequence[np.ndarray]) -> np.ndarray:
    """Stack ragged per-question probabilities into (n, 4), NaN beyond each question's options."""
    out = np.full((len(probs), MAX_OPTIONS), np.nan)
    for i, p in enumerate(probs):
        out[i, : len(p)] = p
    return out


def draw_queries(rng: np.random.Generator, pool: ElicitationPool, counts: np.ndarray) -> list[np.ndarray]:
    """Per dim, ``counts[i]`` positions into ``pool.dim_questions[i]``, drawn with replacement."""
    return [rng.integers(len(pool.dim_questions[d]), size=int(n)) for d, n in enumerate(counts)]


def answer_shares(
    rng: np.random.Generator, pool: ElicitationPool, picks: list[np.ndarray], probs_of: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Sample one answer per drawn query and return the share of dim-upholding answers per dim.

    :param picks: from :func:`draw_queries`.
    :param probs_of: question indices -> (len, 4) padded choice probabilities of the respondent.
    """
    flat = np.concatenate([pool.dim_questions[d][p] for d, p in enumerate(picks)])
    unique, inverse = np.unique(flat, return_inverse=True)
    probs = np.nan_to_num(probs_of(unique), nan=0.0)[inverse]
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(len(flat))[:, None] * cdf[:, -1:]
    choices = np.minimum((cdf <= u).sum(axis=1), MAX_OPTIONS - 1)
    shares = np.empty(len(picks))
    start = 0
    for d, p in enumerate(picks):
        n = len(p)
        marks = pool.upholds[d][p]
        shares[d] = marks[np.arange(n), choices[start : start + n]].mean() if n else np.nan
        start += n
    return shares


# ------------------------------------------------------------------------------------ measurement


def measure_model(
    path_or_id: str,
    evaluator: Any,
    *,
    device: str,
    dtype: str,
    batch_size: int,
    pool: ElicitationPool | None = None,
) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """Load one checkpoint, measure its value vector and (optionally) its pool probabilities.

    :return: (19-dim vector, padded (n_pool, 4) probabilities or None, the evaluation's
        :meth:`~progressgym_env.evaluator.EvaluationResult.summary`: both aggregations, standard
        errors, position diagnostics).
    :raises EvaluationError: a dim without an answered scenario.
    """
    from progressgym_env.errors import EvaluationError
    from progressgym_env.evaluator.choosers.loglik import LogLikelihoodChooser
    from progressgym_env.llm.model_loading import load_causal_lm

    model, tokenizer = load_causal_lm(path_or_id, device=device, dtype=dtype)
    weight_bytes = model_weight_bytes(model)
    try:
        chooser = LogLikelihoodChooser(model, tokenizer, batch_size=batch_size)
        result = evaluator.evaluate_detailed(chooser)
        if not np.isfinite(result.values).all():
            raise EvaluationError(f"{path_or_id}: some dims have no answered scenario ({result.n_refused} refused)")
        probs = pad_probs(chooser(list(pool.questions))) if pool is not None else None
    finally:
        del model
        _free_accelerator_memory(weight_bytes)
    return np.asarray(result.values, dtype=np.float64), probs, result.summary()


#: A full garbage-collection pass costs about 0.3 s in a large process (a test session, a benchmark);
#: it is worth it only when the dropped weights are big enough that waiting for Python's own cycle
#: collection could run memory out (several models measured in a row) or when they sit on a GPU.
GC_ABOVE_BYTES = 64 * 2**20


def model_weight_bytes(model: Any) -> int:
    """Bytes held by a model's parameters and buffers (0 for objects without them)."""
    tensors = [*getattr(model, "parameters", list)(), *getattr(model, "buffers", list)()]
    return int(sum(t.numel() * t.element_size() for t in tensors))


def _free_accelerator_memory(weight_bytes: int | None = None) -> None:
    """Return a dropped model's memory: a full gc pass (and the CUDA cache) when it matters.

    :param weight_bytes: size of what was dropped; None (unknown) always collects.
    """
    import gc

    on_gpu = _cuda_available()
    if weight_bytes is None or on_gpu or weight_bytes > GC_ABOVE_BYTES:
        gc.collect()
    if on_gpu:
        import torch

        torch.cuda.empty_cache()


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return bool(torch.cuda.is_available())


def history_provenance(models: Sequence[str], identities: Sequence[dict], evaluator: Any, key: str) -> dict[str, Any]:
    """Provenance of a measured models history (models, identities, evaluator config, cache key)."""
    return {
        "source": "models",
        "proxy_models": list(models),
        "model_identities": list(identities),
        "evaluator": evaluator.config.to_dict(),
        "evaluator_fingerprint": evaluator.fingerprint(),
        "key": key,
    }


def history_from_vectors(values: np.ndarray, provenance: dict[str, Any]) -> History:
    """A moral19 :class:`History` of measured vectors (centuries 13, 14, ...)."""
    return History(values=np.asarray(values, dtype=np.float64), value_space=MORAL19, provenance=provenance)


def load_cached_history(path: Path, key: str) -> History | None:
    """The cached history at ``path`` (None when absent); a corrupt or mismatched file is an error."""
    if not path.exists():
        return None
    try:
        history = load_history_file(path)
    except HistoryFormatError as exc:
        raise HistoryCacheError(
            f"the cached models history {path} is corrupt ({exc}); delete it to measure the proxies again"
        ) from None
    if history.provenance.get("key") != key:
        raise HistoryCacheError(
            f"the cached models history {path} records key {history.provenance.get('key')!r}, expected {key!r} "
            "(models or evaluator changed?); delete it to measure the proxies again"
        )
    if history.value_space.name != MORAL19.name:
        raise HistoryCacheError(f"the cached models history {path} is in {history.value_space.name!r}, not moral19")
    return history


def load_cached_probs(path: Path, key: str, n_models: int, n_questions: int) -> np.ndarray | None:
    """Cached pool probabilities (n_models, n_questions, 4), None when absent; errors when corrupt."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            stored_key = str(data["key"])
            probs = np.array(data["probs"], dtype=np.float64)
    except Exception as exc:  # noqa: BLE001 - np.load raises many types for a damaged file
        raise HistoryCacheError(
            f"the cached elicitation probabilities {path} are corrupt ({type(exc).__name__}: {exc}); delete the file"
        ) from None
    if stored_key != key or probs.shape != (n_models, n_questions, MAX_OPTIONS):
        raise HistoryCacheError(
            f"the cached elicitation probabilities {path} do not match (key {stored_key[:12]}..., shape "
            f"{probs.shape}; expected key {key[:12]}..., shape {(n_models, n_questions, MAX_OPTIONS)}); delete the file"
        )
    return probs


def save_probs(path: Path, key: str, probs: np.ndarray) -> None:
    """Write pool probabilities atomically (``.npz`` with the key)."""
    with atomic_path(path) as tmp:
        np.savez(tmp, key=np.array(key), probs=probs)


def save_json(path: Path, data: dict[str, Any]) -> None:
    """JSON, atomically."""
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
