"""``PROGRESSGYM_MAX_TIMESTEPS``: one cap on every training budget, for smoke runs of the documented commands.

README's training commands (``progressgym train``, ``agents.tuning``, ``progressgym tune``,
``benchmarks/rl_recipe.py``) train for minutes to hours. Set ``PROGRESSGYM_MAX_TIMESTEPS=N`` and each
training run stops after at most N env steps (its validation schedule shrunk to fit), so the commands
can be run as written in a few minutes (``tests/test_readme.py`` does). Unset, nothing changes.
"""

from __future__ import annotations

import os

from progressgym_env.errors import ConfigError

MAX_TIMESTEPS_ENV_VAR = "PROGRESSGYM_MAX_TIMESTEPS"


def timesteps_cap() -> int | None:
    """The cap from ``PROGRESSGYM_MAX_TIMESTEPS`` (None when unset or empty).

    :raises ConfigError: a value that is not a positive integer.
    """
    text = os.environ.get(MAX_TIMESTEPS_ENV_VAR, "").strip()
    if not text:
        return None
    try:
        cap = int(text)
    except ValueError:
        cap = 0
    if cap < 1:
        raise ConfigError(f"{MAX_TIMESTEPS_ENV_VAR} must be a positive integer (env steps), got {text!r}")
    return cap


def capped_timesteps(timesteps: int, eval_freq: int) -> tuple[int, int]:
    """``(timesteps, eval_freq)`` under the cap: at most the cap, and at least one validation in the run."""
    cap = timesteps_cap()
    if cap is None or timesteps <= cap:
        return timesteps, eval_freq
    return cap, max(1, min(eval_freq, cap // 2))
