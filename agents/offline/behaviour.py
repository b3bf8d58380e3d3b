"""Behaviour policies of offline datasets: any agent by name, mixtures of agents, ε-noisy agents.

The names extend :func:`agents.make_agent`'s (D4RL's datasets are made the same way: a policy, a noisy
policy, a mix of a good and a poor one):

- any agent name ``make_agent`` knows: ``lifelong``, ``random``, ``trained``, ``extrapolative-2``,
  ``ppo:<path>``, ``offline:<path>``, ...;
- ``<name>@eps=<ε>``: ε-noisy — at each step, with probability ε, a uniform random action instead of
  the agent's (the agent still sees every observation, so its memory stays consistent);
- ``<w1>*<name1>+<w2>*<name2>+...``: a mixture over episodes — each episode is played whole by one
  component, drawn with probability proportional to its weight (``lifelong+random`` = equal weights).
  Components may be ε-noisy (``0.8*lifelong@eps=0.1+0.2*random``).

Every random draw (component choice, noise) comes from the episode's seed and the policy seed, so the
same seeds give the same dataset.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from agents.base import Agent, AgentSpec, spec_from_env
from progressgym_env.errors import ConfigError

_NOISY = re.compile(r"^(?P<base>.+)@eps=(?P<eps>[0-9.eE+-]+)$")
_WEIGHTED = re.compile(r"^(?P<weight>[0-9.eE+-]+)\*(?P<name>.+)$")


class EpsilonNoisyAgent(Agent):
    """``agent``'s action, replaced by a uniform random one with probability ``epsilon`` at each step.

    :param agent: the policy that is made noisy. :param epsilon: probability in [0, 1].
    :param seed: seed of the noise (mixed with each episode's seed at :meth:`reset`).
    """

    def __init__(self, agent: Agent, epsilon: float, seed: int = 0) -> None:
        super().__init__(agent.spec)
        if not 0.0 <= epsilon <= 1.0:
            raise ConfigError(f"ε of an ε-noisy policy must be in [0, 1], got {epsilon}")
        self.agent, self.epsilon, self.seed = agent, float(epsilon), int(seed)
        self.name = f"{agent.name}@eps={epsilon:g}"
        self._rng = np.random.default_rng([self.seed])

    def reset(self, seed: int | None = None) -> None:
        self.agent.reset(seed)
        self._rng = np.random.default_rng([self.seed] if seed is None else [self.seed, int(seed)])

    def act(self, obs: np.ndarray) -> np.ndarray:
        action = self.agent.act(obs)
        if self._rng.random() < self.epsilon:
            return self._rng.uniform(-1.0, 1.0, self.spec.dim).astype(np.float32)
        return action

    def config(self) -> dict[str, Any]:
        return {"agent": self.name, "base": self.agent.config(), "epsilon": self.epsilon, "noise_seed": self.seed}


class MixtureAgent(Agent):
    """One component per episode, drawn with probability proportional to ``weights`` at :meth:`reset`.

    :param components: the policies. :param weights: positive weights, one per component.
    :param seed: seed of the draws (mixed with each episode's seed).
    """

    def __init__(self, components: list[Agent], weights: list[float], seed: int = 0) -> None:
        super().__init__(components[0].spec)
        if len(components) != len(weights) or not components:
            raise ConfigError("a mixture needs one weight per component and at least one component")
        if any(not np.isfinite(w) or w <= 0 for w in weights):
            raise ConfigError(f"mixture weights must be positive numbers, got {weights}")
        self.components, self.seed = components, int(seed)
        self.probabilities = np.asarray(weights, dtype=float) / float(np.sum(weights))
        self.name = "+".join(f"{p:g}*{c.name}" for p, c in zip(self.probabilities, components, strict=True))
        self.current = 0

    def reset(self, seed: int | None = None) -> None:
        rng = np.random.default_rng([self.seed] if seed is None else [self.seed, int(seed), 1])
        self.current = int(rng.choice(len(self.components), p=self.probabilities))
        self.components[self.current].reset(seed)

    @property
    def active_name(self) -> str:
        """The name of the component playing the current episode."""
        return self.components[self.current].name

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.components[self.current].act(obs)

    def config(self) -> dict[str, Any]:
        return {"agent": self.name, "components": [c.config() for c in self.components],
                "probabilities": self.probabilities.tolist(), "mixture_seed": self.seed}


def _number(text: str, what: str, policy: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"behaviour policy {policy!r}: {what} {text!r} is not a number") from None


def _single(name: str, env: Any, spec: AgentSpec, seed: int, policy: str) -> Agent:
    from agents.registry import make_agent

    match = _NOISY.match(name)
    if match:
        base = _single(match.group("base"), env, spec, seed, policy)
        return EpsilonNoisyAgent(base, _number(match.group("eps"), "ε", policy), seed=seed)
    agent = make_agent(name, env, **({"seed": seed} if name == "random" else {}))
    if not isinstance(agent, Agent):
        raise ConfigError(f"behaviour policy {policy!r}: {name!r} is an examinee (hands back models); datasets "
                          "record the action-vector interface, use a vector agent")
    return agent


def make_behaviour_policy(policy: str, env: Any, seed: int = 0) -> Agent:
    """Build behaviour policy ``policy`` (see the module docstring) for ``env``.

    :param policy: an agent name, ``<name>@eps=<ε>`` or a mixture ``<w>*<name>+...``.
    :param env: the env it acts in. :param seed: seed of its own randomness (random actions, noise, draws).
    :raises ConfigError: an unknown agent name, a bad weight or ε (the message lists the known agents).
    """
    text = policy.strip()
    if not text:
        raise ConfigError("the behaviour policy name is empty")
    spec = spec_from_env(env)
    parts = text.split("+")
    if len(parts) == 1 and not _WEIGHTED.match(text):
        return _single(text, env, spec, seed, policy)
    components, weights = [], []
    for part in parts:
        match = _WEIGHTED.match(part.strip())
        name, weight = (match.group("name"), _number(match.group("weight"), "weight", policy)) if match else (part, 1.0)
        components.append(_single(name.strip(), env, spec, seed, policy))
        weights.append(weight)
    return MixtureAgent(components, weights, seed=seed)


__all__ = ["EpsilonNoisyAgent", "MixtureAgent", "make_behaviour_policy"]
