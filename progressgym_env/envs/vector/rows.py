"""A selection of sub-envs (rows of the batched arrays), and per-row indexing by century."""

from __future__ import annotations

import functools

import numpy as np

Century = int | np.ndarray
"""The century index of a selection: one int when every row is at the same century, else one per row."""


class Rows:
    """A selection of sub-envs: ``index`` (sorted ints) and ``sel`` (a slice when all are selected)."""

    __slots__ = ("count", "full", "index", "num_envs", "sel")

    def __init__(self, index: np.ndarray, num_envs: int) -> None:
        self.index = index
        self.num_envs = num_envs
        self.count = int(index.shape[0])
        self.full = self.count == num_envs
        self.sel: slice | np.ndarray = slice(None) if self.full else index

    @classmethod
    @functools.cache
    def all(cls, num_envs: int) -> Rows:
        """Every sub-env (one shared object per N: treat a selection as read-only)."""
        return cls(np.arange(num_envs), num_envs)

    @classmethod
    def of(cls, mask: np.ndarray) -> Rows:
        """The sub-envs where the (N,) bool array ``mask`` is True."""
        return cls(np.flatnonzero(mask), mask.shape[0])

    def subset(self, local: np.ndarray) -> Rows:
        """The rows of this selection where the (count,) bool array ``local`` is True."""
        return Rows(self.index[local], self.num_envs)


def lockstep(t_rows: np.ndarray) -> Century:
    """The rows' century: one int when they all share it (the usual case), else the array itself."""
    return int(t_rows[0]) if (t_rows == t_rows[0]).all() else t_rows


def at(array: np.ndarray, rows: Rows, t: Century) -> np.ndarray:
    """``array[i, t_i]`` for the rows (a view when every sub-env is at the same century)."""
    if isinstance(t, int):
        return array[rows.sel, t]
    return array[rows.index, t]


def store(array: np.ndarray, rows: Rows, t: Century, values: np.ndarray) -> None:
    """``array[i, t_i] = values`` for the rows."""
    if isinstance(t, int):
        array[rows.sel, t] = values
    else:
        array[rows.index, t] = values
