"""The paper's baseline *examinees*: alignment algorithms that hand back whole models each century.

They act in envs made with ``interface="examinee"`` on the ``llm`` backend (see
:mod:`progressgym_env.llm.examinee`); :func:`make_examinee` builds one by name, and the agent registry
(:mod:`agents.registry`) and ``progressgym benchmark --backend llm --agents lifelong-dpo,...`` use it.

Names (:data:`EXAMINEES`): ``lifelong-dpo``, ``extrapolative-dpo-1``, ``extrapolative-dpo-2``,
``lifelong-rlhf``, ``extrapolative-rlhf``, each also as ``<name>-independent`` (restart every century
from the starting model), and ``extrapolative-dpo-<p>`` / ``extrapolative-rlhf-<p>`` for any order p.
"""

from __future__ import annotations

import re
from typing import Any

from agents.examinees.base import Examinee, ExamineeConfig
from progressgym_env.errors import ConfigError

EXAMINEES: tuple[str, ...] = (
    "lifelong-dpo", "extrapolative-dpo-1", "extrapolative-dpo-2", "lifelong-rlhf", "extrapolative-rlhf",
)
"""The paper's examinee baselines (each also ``-independent``)."""

_NAME = re.compile(r"^(lifelong|extrapolative)-(dpo|rlhf)(?:-(\d+))?(-independent)?$")


def is_examinee(name: str) -> bool:
    """Whether ``name`` names a baseline examinee (so it needs an ``interface="examinee"`` env)."""
    match = _NAME.match(name)
    return bool(match) and not (match.group(1) == "lifelong" and match.group(3))  # type: ignore[union-attr]


def make_examinee(name: str, env: Any, **kwargs: Any) -> Examinee:
    """Build examinee ``name`` for ``env``.

    :param kwargs: :class:`ExamineeConfig` fields (``independent``, ``lora``, ``dpo_args``, ...); the
        ``-independent`` suffix sets ``independent=True``.
    """
    from agents.examinees.algorithms import DPOExaminee, RLHFExaminee

    match = _NAME.match(name)
    if not match or not is_examinee(name):
        raise ConfigError(f"unknown examinee {name!r}; known: {', '.join(EXAMINEES)} (each also -independent)")
    family, method, order, independent = match.groups()
    settings = dict(kwargs)
    if independent:
        settings["independent"] = True
    if order is not None:
        settings["extrapolation_order"] = int(order)
    config = ExamineeConfig(**settings)
    cls = DPOExaminee if method == "dpo" else RLHFExaminee
    return cls(env, config, extrapolate=family == "extrapolative")


__all__ = ["EXAMINEES", "Examinee", "ExamineeConfig", "is_examinee", "make_examinee"]
