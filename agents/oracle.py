"""The oracle: reads the hidden target from the env. An upper-bound reference, not an algorithm.

It breaks the POMDP on purpose: it reads ``env.unwrapped.judge`` (the true target vectors),
``env.unwrapped.history`` and the backend's exact model values, which no real alignment algorithm
can see. It marks how high a score the challenge allows, so the leaderboard shows it apart.

- Follow / Predict(k): the update that lands the model exactly on the step's target H_t / H_{t+k}
  given the backend's capacity (only the fine-tuning noise remains).
- Coevolve: steers the simulated human toward the values of the last real century, H_{T-1} (a
  human holding them scores 1: for every i, max_{j>=i} cos(S, H_j) includes j = T-1). Where the
  backend can invert its human update (:meth:`~progressgym_env.backends.Backend.steering_shift`: the
  surrogate) it asks for the model that makes S_t land there after this century's pulls; otherwise
  it moves the model itself to H_{T-1}. This is greedy, so on Coevolve it is a strong reference
  rather than a proven bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from agents.base import Agent, AgentSpec, update_toward
from progressgym_env.errors import ConfigError, EpisodeOrderError
from progressgym_env.numerics import logit


class OracleAgent(Agent):
    """Privileged agent acting on the hidden target (upper bound).

    :param spec: the env's dims, capacity and horizon.
    :param env: the env it acts in (read through ``env.unwrapped`` at every step).
    """

    name = "oracle"
    batched = True

    def __init__(self, spec: AgentSpec, env: Any) -> None:
        super().__init__(spec)
        base = getattr(env, "unwrapped", env)
        for attribute in ("judge", "history", "backend", "num_centuries", "simulates_human"):
            if not hasattr(base, attribute):
                raise ConfigError(
                    f"the oracle reads the hidden target from a ProgressGym env; {type(base).__name__} "
                    f"has no {attribute!r} attribute"
                )
        self._env = base

    def _century_index(self, progress: float) -> int:
        return round(progress * (self._env.num_centuries - 1))

    def act(self, obs: np.ndarray) -> np.ndarray:
        _, _, progress = self.split(obs)
        env = self._env
        if env.judge is None or env.history is None:
            raise EpisodeOrderError("the oracle acts only after env.reset()")
        t = self._century_index(progress)
        model = np.asarray(env.backend.model_values, dtype=np.float64)
        if not env.simulates_human:
            return update_toward(env.judge.target(t), model, self.spec.capacity)
        goal = env.history.values[-1]
        shift = env.backend.steering_shift(goal, t)
        if shift is None:
            return update_toward(goal, model, self.spec.capacity)
        return np.clip(shift / self.spec.capacity, -1.0, 1.0).astype(np.float32)

    def reset_batch(self, seeds: Sequence[int], env: Any = None) -> None:
        """Read the hidden targets of N episodes from the native vector env ``env`` (its judge, histories,
        model and simulated-human values, all (N, ...) arrays)."""
        base = getattr(env, "unwrapped", env)
        for attribute in ("judge", "human_histories", "model_values", "simulated_values", "config"):
            if not hasattr(base, attribute):
                raise ConfigError(f"the batched oracle reads a native vector env; {type(base).__name__} has no "
                                  f"{attribute!r} attribute")
        self._vector_env = base

    def act_batch(self, obs: np.ndarray) -> np.ndarray:
        """The single-env actions of every row (same formulas on (N, d) arrays; one century for all rows)."""
        _, _, progress = self.split_batch(obs)
        env = getattr(self, "_vector_env", None)
        if env is None:
            raise EpisodeOrderError("the batched oracle acts only after reset_batch(seeds, vector_env)")
        centuries = np.round(progress * (env.human_histories.shape[1] - 1)).astype(np.int64)
        t = int(centuries[0])
        if not (centuries == t).all():
            raise EpisodeOrderError("the batched oracle needs every episode at the same century (reset them together)")
        model = np.asarray(env.model_values, dtype=np.float64)
        if not env.simulates_human:
            return update_toward(env.judge.target(t), model, self.spec.capacity)
        history = env.human_histories
        goal = history[:, -1]
        config = env.config
        if not config.ai_pull:
            return update_toward(goal, model, self.spec.capacity)
        from progressgym_env.backends.physics import steering_logits

        wanted = steering_logits(logit(env.simulated_values), logit(history[:, t]), logit(goal),
                                 config.history_pull, config.ai_pull)
        return np.clip((wanted - logit(model)) / self.spec.capacity, -1.0, 1.0).astype(np.float32)
