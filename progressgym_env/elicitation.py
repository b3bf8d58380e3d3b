"""Preference elicitation: how an agent sees human values only through a finite sample of answers.

A per-century query budget is split evenly across the d dimensions; the estimate of dimension i is
the share of "upholds value i" answers among its n_i queries. ``binomial`` samples that share
exactly; ``normal`` is an explicit faster approximation (clipped to [0, 1]). A budget of ``None``
gives the agent the exact vector (no noise, 0 queries): useful for debugging, not for benchmarks.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from progressgym_env.errors import ConfigError

ElicitationMethod = Literal["binomial", "normal"]
ELICITATION_METHODS: tuple[str, ...] = ("binomial", "normal")


def split_queries(budget: int, dim: int) -> np.ndarray:
    """Per-dimension query counts: ``budget // dim`` each, the remainder to the first dims."""
    base, extra = divmod(int(budget), dim)
    counts = np.full(dim, base, dtype=np.int64)
    counts[:extra] += 1
    return counts


def validate_query_budget(budget: int | None, dim: int) -> None:
    """A budget is ``None`` (exact observation) or an int with at least one query per dimension."""
    if budget is None:
        return
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise ConfigError(f"query_budget must be an int or None, found {budget!r}")
    if budget < dim:
        raise ConfigError(
            f"query_budget={budget} is too small: it is split across {dim} value dimensions, "
            f"so it must be at least {dim} (or None for exact observations)"
        )


def sample_shares(
    rng: np.random.Generator, values: np.ndarray, counts: np.ndarray, method: str = "binomial"
) -> np.ndarray:
    """Observed share of value-upholding answers per dim (broadcasts over leading batch dims)."""
    if method == "binomial":
        return rng.binomial(counts, values) / counts
    if method == "normal":
        noise = rng.standard_normal(np.shape(values))
        return np.clip(values + noise * np.sqrt(values * (1.0 - values) / counts), 0.0, 1.0)
    raise ConfigError(f"unknown elicitation method {method!r}; choose one of {ELICITATION_METHODS}")
