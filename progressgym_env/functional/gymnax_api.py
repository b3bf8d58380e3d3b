"""A gymnax-compatible face of the twin: ``reset(key, params)`` / ``step(key, state, action, params)``.

gymnax's ``Environment`` contract (and what PureJaxRL's loops and wrappers call): ``reset`` returns
``(obs, state)``, ``step`` returns ``(obs, state, reward, done, info)`` and resets a finished env in
the same call (the returned observation and state are then the new episode's; ``info`` keeps the
finished episode's ``final_score``/``normalized_score``), ``default_params``, ``observation_space(params)``
and ``action_space(params)`` (Boxes with ``shape``, ``low``, ``high``). gymnax itself is not imported
(it pins an older Gymnasium); this class re-states its small interface over :class:`ProgressGymFuncEnv`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from gymnasium import spaces

from progressgym_env.functional.twin import ProgressGymFuncEnv, TwinParams, TwinState


class GymnaxEnv:
    """gymnax's env interface over a functional twin (all methods pure; jit and vmap them freely)."""

    def __init__(self, func_env: ProgressGymFuncEnv) -> None:
        self.func_env = func_env

    @property
    def default_params(self) -> TwinParams:
        return self.func_env.params_or_default(None)

    @property
    def name(self) -> str:
        return f"PG-{self.func_env.judge_class.challenge}-twin"

    @property
    def num_actions(self) -> int:
        return self.func_env.dim

    def observation_space(self, params: TwinParams | None = None) -> spaces.Space[Any]:
        return self.func_env.observation_space

    def action_space(self, params: TwinParams | None = None) -> spaces.Space[Any]:
        return self.func_env.action_space

    def reset(self, key: jax.Array, params: TwinParams | None = None) -> tuple[jax.Array, TwinState]:
        """A new episode's first observation and state."""
        params = self.default_params if params is None else params
        state = self.func_env.initial(key, params)
        return self.func_env.observation(state, None, params), state

    def step(
        self, key: jax.Array, state: TwinState, action: Any, params: TwinParams | None = None
    ) -> tuple[jax.Array, TwinState, jax.Array, jax.Array, dict[str, Any]]:
        """One step; a finished episode is reset in the same call (gymnax's auto-reset)."""
        params = self.default_params if params is None else params
        env = self.func_env
        words = env.words(key, env.step_words)  # one draw: a reset's history, the noise, the estimate
        noise_end = 1 + env.noise_words
        moved = env.advance(state, action, words[1:noise_end], params)
        reward = env.reward(state, action, moved, None, params)
        done = env.terminal(moved, None, params)
        info = env.transition_info(state, action, moved, params)
        info["discount"] = jnp.where(done, 0.0, 1.0)
        fresh = env.start(words[0], params)
        chosen = jax.tree_util.tree_map(lambda new, old: jnp.where(done, new, old), fresh, moved)
        next_state = env.observe(chosen, words[noise_end:], params, done)  # one estimate drawn either way
        return env.observation(next_state, None, params), next_state, reward, done, info
