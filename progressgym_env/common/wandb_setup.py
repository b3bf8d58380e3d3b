"""wandb process settings shared by the benchmark's tracker and ``progressgym train --track``."""

from __future__ import annotations

import os


def silence_weave_hint() -> None:
    """Stop wandb from suggesting Weave at every ``init``.

    wandb mistakes this project's top-level ``agents`` package for the OpenAI Agents SDK and prints
    "Detected [agents] in use ... install Weave" on each run. ``setdefault`` keeps a user's choice.
    """
    os.environ.setdefault("WANDB_DISABLE_WEAVE", "true")
