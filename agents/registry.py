"""Agents by name: ``make_agent("lifelong", env)``, ``make_agent("ppo:path/model.zip", env)``.

Names: ``static``, ``lifelong``, ``extrapolative-1``, ``extrapolative-2`` (any ``extrapolative-<k>``,
aiming at the default horizon: k on Predict(k), 1 on Follow and Coevolve; ``extrapolative-<k>-h<h>``
for another horizon h), ``random``, ``oracle`` (privileged upper bound), ``trained`` (the shipped
trained model of the challenge being run, :mod:`agents.shipped`), the examinees of
:mod:`agents.examinees` (``lifelong-dpo``, ``extrapolative-dpo-1``, ..., for ``interface="examinee"``
envs), and ``<algo>:<path>`` for a saved SB3 model (algo = ppo, sac, td3, a2c, recurrentppo, or ``sb3``
to read it from the ``config.json``
beside the model), and ``jax:<path>`` for a policy of the compiled PPO (:mod:`agents.jax_ppo`, a ``model.npz``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from agents.actors import ActorsAgent
from agents.base import Agent, AgentSpec, spec_from_env
from agents.baselines import ExtrapolativeAgent, LifelongAgent, RandomAgent, StaticAgent
from agents.examinees import EXAMINEES, Examinee, is_examinee, make_examinee
from agents.oracle import OracleAgent
from agents.sb3_agent import ALGO_NAMES, SB3Agent
from agents.shipped import trained_agent
from progressgym_env.errors import ConfigError

AgentFactory = Callable[..., Agent]

BASELINES: tuple[str, ...] = ("static", "lifelong", "extrapolative-1", "extrapolative-2", "random", "oracle")
"""The baseline agents a benchmark runs by default, in leaderboard order."""

PRIVILEGED: frozenset[str] = frozenset({"oracle"})
"""Agents that read hidden state: upper bounds, marked as such on the leaderboard."""

_FACTORIES: dict[str, AgentFactory] = {
    "static": lambda spec, env, **kw: StaticAgent(spec, **kw),
    "lifelong": lambda spec, env, **kw: LifelongAgent(spec, **kw),
    "random": lambda spec, env, **kw: RandomAgent(spec, **kw),
    "oracle": lambda spec, env, **kw: OracleAgent(spec, env, **kw),
    "trained": lambda spec, env, **kw: trained_agent(spec, **kw),
}
_EXTRAPOLATIVE = re.compile(r"^extrapolative-(\d+)(?:-h(\d+))?$")


def register_agent(name: str, factory: AgentFactory) -> None:
    """Add an agent: ``factory(spec, env, **kwargs)`` returns an :class:`Agent`."""
    if name in _FACTORIES or ":" in name:
        raise ConfigError(f"agent name {name!r} is taken or contains ':' (reserved for '<algo>:<path>')")
    _FACTORIES[name] = factory


def agent_interface(name: str) -> str:
    """The env interface agent ``name`` acts through: ``examinee`` for the examinees, else ``vector``."""
    return "examinee" if is_examinee(name) else "vector"


def agent_names() -> tuple[str, ...]:
    """Every registered name (examinees too), plus the ``<algo>:<path>`` forms."""
    return (*_FACTORIES, *EXAMINEES, *(f"{e}-independent" for e in EXAMINEES), "extrapolative-<k>",
            "extrapolative-<k>-h<h>",
            *(f"{algo}:<path>" for algo in (*ALGO_NAMES, "sb3", "jax")))


def make_agent(name: str, env: Any, timesteps_ahead: int | None = None, **kwargs: Any) -> Agent | Examinee | ActorsAgent:
    """Build agent ``name`` for ``env``.

    :param name: a registered name, ``extrapolative-<k>`` or ``<algo>:<path to model.zip>``.
    :param env: the env it will act in (dims, backend capacity, horizon are read from it).
    :param timesteps_ahead: override the horizon the agent's spec records (default from the env, see
        :func:`agents.base.spec_from_env`); for ``extrapolative-<k>`` it is also the extrapolation
        horizon (default :func:`agents.baselines.default_horizon`).
    :param kwargs: passed to the agent's constructor (e.g. ``seed`` for ``random``).
    """
    if is_examinee(name):  # hands back models: needs an interface="examinee" env, not a Box spec
        return make_examinee(name, env, **kwargs)
    base = getattr(env, "unwrapped", env)
    views = getattr(base, "actor_views", None)
    if views is not None:  # a multi-actor env (agents.actors): one agent per actor, each from its actor's view
        return ActorsAgent([make_agent(name, view, timesteps_ahead, **kwargs) for view in views])  # type: ignore[misc]
    spec = spec_from_env(env, timesteps_ahead)
    if ":" in name:
        algo, _, path = name.partition(":")
        if algo == "jax" and path:  # a compiled-PPO policy (agents.jax_ppo); runs with numpy alone
            from agents.jax_policy import JaxPolicyAgent

            return JaxPolicyAgent(spec, path, **kwargs)
        if algo not in (*ALGO_NAMES, "sb3") or not path:
            raise ConfigError(
                f"agent {name!r}: expected '<algo>:<path to model.zip>' with algo in {(*ALGO_NAMES, 'sb3')}"
            )
        return SB3Agent(spec, path, algo=None if algo == "sb3" else algo, **kwargs)
    match = _EXTRAPOLATIVE.match(name)
    if match:
        horizon = int(match.group(2)) if match.group(2) is not None else timesteps_ahead
        return ExtrapolativeAgent(spec, order=int(match.group(1)), horizon=horizon, **kwargs)
    if name not in _FACTORIES:
        raise ConfigError(f"unknown agent {name!r}; known agents: {', '.join(agent_names())}")
    return _FACTORIES[name](spec, env, **kwargs)


__all__ = ["BASELINES", "PRIVILEGED", "AgentSpec", "agent_interface", "agent_names", "make_agent", "register_agent"]
