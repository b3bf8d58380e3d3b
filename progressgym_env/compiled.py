"""Optional compiled loops (numba, the ``fast`` extra) beside the numpy code they stand in for.

A kernel is used only where numba imports, the batch is large enough to repay a call's set-up
(:data:`MIN_SIZE` entries) and the environment variable ``PROGRESSGYM_COMPILED`` is not ``0``;
otherwise the numpy path runs. The numpy path stays the reference: a kernel makes the same
comparisons on the same numbers and only IEEE-exact arithmetic (+, -, *, / and truncation, which
numba and numpy round alike; no transcendental function), so its answers are the numpy path's bit for bit and a seed gives the same episode with or without numba. numba is imported
on the first large call, never by ``import progressgym_env``; compiled code is cached on disk.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

MIN_SIZE = 4096
"""Fewest entries for which a kernel is called (below, the numpy path is as fast)."""
ENV_VAR = "PROGRESSGYM_COMPILED"


@functools.cache
def guided_search_kernel() -> Callable[..., Any] | None:
    """The compiled guide-table search (see :class:`~progressgym_env.elicitation.GuidedSearch`), or None."""
    if os.environ.get(ENV_VAR, "1") == "0":
        return None
    try:
        from progressgym_env._numba_kernels import guided_search
    except ImportError:  # numba not installed
        return None
    return guided_search


@functools.cache
def grid_binomial_kernel() -> Callable[..., Any] | None:
    """The compiled first stage of :class:`~progressgym_env.elicitation.GridBinomial`, or None."""
    if guided_search_kernel() is None:
        return None
    from progressgym_env._numba_kernels import grid_binomial_first

    return grid_binomial_first
