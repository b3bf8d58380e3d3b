"""Agents for the ProgressGym envs: the paper's baselines, an oracle upper bound, and SB3 policies.

Every agent has the same small interface (:class:`agents.base.Agent`: ``reset(seed)``,
``act(obs) -> action``) and is built by name with :func:`make_agent`::

    import gymnasium as gym
    import progressgym_env  # noqa: F401
    from agents import make_agent

    env = gym.make("PG-Predict-v0", timesteps_ahead=2)
    agent = make_agent("extrapolative-2", env)
    obs, info = env.reset(seed=0)
    agent.reset(seed=0)
    done = False
    while not done:
        obs, reward, done, truncated, info = env.step(agent.act(obs))
    print(info["final_score"])

SB3 training lives in :mod:`agents.train` (procedural training, selection on procedural validation
histories), tuning in :mod:`agents.tuning` (Optuna); ``make_agent("trained", env)`` loads the shipped
trained agent of the env's challenge (:mod:`agents.shipped`). Heavy imports stay in those modules.
"""

from __future__ import annotations

from agents.base import Agent, AgentSpec, backend_capacity, spec_from_env, update_toward
from agents.baselines import ExtrapolativeAgent, LifelongAgent, RandomAgent, StaticAgent, extrapolate
from agents.oracle import OracleAgent
from agents.registry import BASELINES, PRIVILEGED, agent_names, make_agent, register_agent
from agents.sb3_agent import EnsembleAgent, SB3Agent

__all__ = [
    "Agent",
    "AgentSpec",
    "BASELINES",
    "EnsembleAgent",
    "PRIVILEGED",
    "ExtrapolativeAgent",
    "LifelongAgent",
    "OracleAgent",
    "RandomAgent",
    "SB3Agent",
    "StaticAgent",
    "agent_names",
    "backend_capacity",
    "extrapolate",
    "make_agent",
    "register_agent",
    "spec_from_env",
    "update_toward",
]
