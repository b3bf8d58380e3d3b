"""numba kernels for :mod:`progressgym_env.compiled` (imported only through it, and only when numba is installed)."""

from __future__ import annotations

import numba
import numpy as np


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
            u = uniforms[i, j]
            cell = cells[i if per_row else 0, j]
            start = cell * width
            hit = guide[cell * guide_size + np.intp(u * guide_size)]
            if hit >= 0:  # one step from the bucket's start
                if flat_cdf[start + hit] <= u:
                    hit += 1
            else:  # a wide bucket: binary search of the row (its last entry is the +inf pad)
                low, high = 0, width - 2
                while low < high:
                    middle = (low + high) >> 1
                    if flat_cdf[start + middle] <= u:
                        low = middle + 1
                    else:
                        high = middle
                hit = low
            out[i, j] = hit
    return out
