"""History sources: which history an episode runs on.

A :class:`HistorySource` produces the history of each episode: :class:`FixedHistory` always returns
the same one (the real corpus trajectory, a file, an in-memory object), while
:class:`~progressgym_env.procedural.ProceduralHistory` draws a fresh one from the env's seeded
generator at every reset (train on procedural, evaluate on the real one). :func:`resolve_history`
turns an env's ``history`` kwarg into a source.

The :class:`History` type itself, the shipped corpus trajectory and the trajectory file format live in
:mod:`progressgym_env.trajectory` and are re-exported here, so ``from progressgym_env.history import
History, load_history_file`` keeps working.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from progressgym_env.errors import HistoryFormatError
from progressgym_env.procedural import ProceduralHistory
from progressgym_env.trajectory import (
    FIRST_CENTURY,
    MIN_CENTURIES,
    TRAJECTORY_FORMAT,
    TRAJECTORY_VERSION,
    History,
    corpus_history,
    load_history_file,
    logit_steps,
    save_history,
)
from progressgym_env.value_spaces import ValueSpace

# ---------------------------------------------------------------------------------------------
# Sources


@runtime_checkable
class HistorySource(Protocol):
    """Produces the history an episode runs on; ``sample`` may use the env's generator."""

    @property
    def value_space(self) -> ValueSpace: ...

    @property
    def num_centuries(self) -> int: ...

    def sample(self, rng: np.random.Generator) -> History: ...


@dataclass(frozen=True)
class FixedHistory:
    """A source that returns the same history every episode (draws nothing from the generator)."""

    history: History

    @property
    def value_space(self) -> ValueSpace:
        return self.history.value_space

    @property
    def num_centuries(self) -> int:
        return self.history.num_centuries

    def sample(self, rng: np.random.Generator) -> History:
        return self.history


def resolve_history(spec: Any) -> HistorySource:
    """Turn an env's ``history`` kwarg into a source.

    Accepted: ``"corpus"`` (default, the real trajectory), ``"procedural"`` (a fresh seeded
    history in the corpus5 space each episode), ``"procedural-moral19"`` (the same in the 19-dim
    evaluator space), a path to a ``.json``/``.csv`` trajectory file, a :class:`History` or any
    :class:`HistorySource`.
    """
    if isinstance(spec, History):
        return FixedHistory(spec)
    if isinstance(spec, (str, os.PathLike)):
        name = os.fspath(spec)
        if name == "corpus":
            return FixedHistory(corpus_history())
        if name == "procedural":
            return ProceduralHistory()
        if name.startswith("procedural-"):
            return ProceduralHistory(value_space=name[len("procedural-"):])
        if name.lower().endswith((".json", ".csv")) or os.path.exists(name):
            return FixedHistory(load_history_file(name))
        raise HistoryFormatError(
            f"unknown history {name!r}: use 'corpus', 'procedural', 'procedural-<space>' "
            "(e.g. 'procedural-moral19'), or a path to a .json/.csv trajectory file"
        )
    if isinstance(spec, HistorySource):
        return spec
    raise HistoryFormatError(
        f"history must be a name, a path, a History or a HistorySource, found {type(spec).__name__}"
    )



__all__ = [
    "FIRST_CENTURY",
    "MIN_CENTURIES",
    "TRAJECTORY_FORMAT",
    "TRAJECTORY_VERSION",
    "FixedHistory",
    "History",
    "HistorySource",
    "corpus_history",
    "load_history_file",
    "logit_steps",
    "resolve_history",
    "save_history",
]
