"""Several independent copies of one agent, one per actor of a multi-actor env (PG-Society's AIs).

An env that is played by several actors at once says so with ``actor_views``: one view per actor (what
that actor sees: a flat ``action_space`` (d,), ``observation_space`` and the attributes
:func:`agents.base.spec_from_env` reads, and what a privileged agent such as the oracle reads); its
observations are (n, k) and its actions (n, d).
:func:`agents.registry.make_agent` then builds one agent per actor and wraps them here, so every
baseline and saved SB3 policy plays each actor with its own state (an extrapolative agent keeps
each actor's own estimates).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.base import Agent
from progressgym_env.errors import ConfigError


class ActorsAgent:
    """n agents acting row by row: ``act(obs (n, k)) -> (n, d)``.

    :param agents: one agent per actor, in actor order.
    """

    def __init__(self, agents: list[Agent]) -> None:
        if not agents:
            raise ConfigError("ActorsAgent needs at least one agent")
        self.agents = agents
        self.name = agents[0].name
        self.spec = agents[0].spec

    def reset(self, seed: int | None = None) -> None:
        """Reset every actor's agent; actor i gets ``seed + i`` (distinct random streams, reproducible)."""
        for i, agent in enumerate(self.agents):
            agent.reset(None if seed is None else seed + i)

    def act(self, obs: np.ndarray) -> np.ndarray:
        rows = np.asarray(obs)
        if rows.ndim != 2 or rows.shape[0] != len(self.agents):
            raise ConfigError(
                f"{self.name} plays {len(self.agents)} actors and expected observations of shape "
                f"({len(self.agents)}, k), found {rows.shape}"
            )
        return np.stack([agent.act(row) for agent, row in zip(self.agents, rows, strict=True)])

    def config(self) -> dict[str, Any]:
        """The first actor's settings (every actor's agent is built alike) and the number of actors."""
        return {**self.agents[0].config(), "actors": len(self.agents)}
