"""numba kernels for :mod:`progressgym_env.compiled` (imported only through it, and only when numba is installed)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _search_one(u: float, cell: int, guide: np.ndarray, flat_cdf: np.ndarray, guide_size: int, width: int) -> int:  # pragma: no cover
    """#{cdf[cell] <= u}: one step from the guide's bucket start, or a binary search in a wide bucket."""
    start = cell * width
    hit = guide[cell * guide_size + np.intp(u * guide_size)]
    if hit >= 0:
        if flat_cdf[start + hit] <= u:
            hit += 1
        return hit
    low, high = 0, width - 2  # the row's last entry is the +inf pad
    while low < high:
        middle = (low + high) >> 1
        if flat_cdf[start + middle] <= u:
            low = middle + 1
        else:
            high = middle
    return low


@numba.njit(cache=True, nogil=True)
def grid_binomial_first(
    values: np.ndarray, u_first: np.ndarray, u_again: np.ndarray, grid: int, distinct: int, count_index: np.ndarray,
    counts: np.ndarray, guide: np.ndarray, flat_cdf: np.ndarray, guide_size: int, width: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """``GridBinomial.first_stage`` as one loop: the table draws, thinning probabilities and the flat
    indices where a thinning draw may be > 0."""
    rows, dims = values.shape
    first = np.empty((rows, dims), dtype=np.int64)
    again = np.empty((rows, dims), dtype=np.float64)
    going = np.empty(rows * dims, dtype=np.int64)
    count = 0
    for i in range(rows):
        for j in range(dims):
            v = values[i, j]
            point = np.intp(v * grid)
            below = point / grid
            hit = _search_one(u_first[i, j], point * distinct + count_index[j], guide, flat_cdf, guide_size, width)
            first[i, j] = hit
            s = (v - below) / (1.0 - below) if below < 1.0 else 0.0
            again[i, j] = s
            if u_again[i, j] >= 1.0 - (counts[j] - hit) * s:
                going[count] = i * dims + j
                count += 1
    return first, again, going[:count]


@numba.njit(cache=True, nogil=True)
def guided_search(
    uniforms: np.ndarray, cells: np.ndarray, guide: np.ndarray, flat_cdf: np.ndarray, guide_size: int, width: int
) -> np.ndarray:  # pragma: no cover - compiled
    """``GuidedSearch.search`` as one loop: #{cdf[cell] <= u} for uniforms (rows, d).

    ``cells`` is (rows, d), or (1, d) when every row uses the same cells (one compiled signature for both).
    """
    rows, dims = uniforms.shape
    per_row = cells.shape[0] > 1
    out = np.empty((rows, dims), dtype=np.int64)
    for i in range(rows):
        for j in range(dims):
            out[i, j] = _search_one(uniforms[i, j], cells[i if per_row else 0, j], guide, flat_cdf, guide_size, width)
    return out
