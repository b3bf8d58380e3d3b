"""The shipped trained agents: one SB3 model per challenge under ``agents/trained/<challenge>/``.

Like rl-baselines3-zoo's trained agents, each folder holds the model and the record of how it was
made::

    agents/trained/<challenge>/model.zip     the SB3 model (a few hundred kB)
    agents/trained/<challenge>/config.json   algo, training command, seeds, env steps, validation scores
    agents/trained/<challenge>/model-seed<k>.zip   when ``config.json`` names an ensemble: its members

``make_agent("trained", env)`` (``--agents trained`` in ``progressgym benchmark``) loads the model of
the challenge ``env`` runs: ``follow``, ``predict1``, ``predict2`` or ``coevolve``. The models were
trained on procedural histories and selected on held-out procedural validation histories only
(:mod:`agents.train`); the corpus history never entered training or selection.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from agents.base import AgentSpec
from agents.sb3_agent import EnsembleAgent, SB3Agent, obs_history_of, saved_config
from progressgym_env.errors import ConfigError

MODEL_FILE = "model.zip"
CONFIG_FILE = "config.json"


def trained_dir() -> Path:
    """The folder of the shipped models (``agents/trained``)."""
    return Path(str(resources.files("agents") / "trained"))


def trained_model_path(key: str) -> Path:
    """The shipped ``model.zip`` of challenge ``key``; the error lists what is shipped.

    :param key: a challenge key (``follow``, ``predict1``, ``predict2``, ``coevolve``).
    """
    path = trained_dir() / key / MODEL_FILE
    if not path.is_file():
        shipped = sorted(p.parent.name for p in trained_dir().glob(f"*/{MODEL_FILE}"))
        raise ConfigError(
            f"no shipped trained agent for challenge {key!r} (looked for {path}); shipped: "
            f"{', '.join(shipped) or 'none'}. Train one with 'progressgym train --algo ppo --env {key} --out runs/train/{key}' "
            f"and run it as 'ppo:runs/train/{key}/model.zip', or use another '<algo>:<path/model.zip>'"
        )
    return path


def trained_agent(spec: AgentSpec, **kwargs: Any) -> SB3Agent | EnsembleAgent:
    """The shipped agent of the challenge ``spec`` describes, named ``trained``.

    :param spec: the env's spec; its ``challenge`` (the benchmark key) picks the shipped model.
    :param kwargs: passed to :class:`~agents.sb3_agent.SB3Agent` (e.g. ``deterministic``).
    """
    if not spec.challenge:
        raise ConfigError("the 'trained' agent needs a ProgressGym env (its challenge picks the shipped model)")
    key = spec.challenge
    path = trained_model_path(key)
    config = saved_config(path)
    members = (config.get("shipped") or {}).get("ensemble")
    agent: SB3Agent | EnsembleAgent
    if members:  # the mean action of several seeds' models, chosen on validation over the best single one
        obs_history = obs_history_of(config)
        agent = EnsembleAgent(spec, [path.parent / name for name in members], config["algo"], obs_history)
    else:
        agent = SB3Agent(spec, path, algo=config.get("algo"), **kwargs)
    agent.name = "trained"
    return agent
