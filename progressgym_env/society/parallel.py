"""PG-Society-v0 as a PettingZoo ``ParallelEnv``: M AIs competing for the use of G groups of people."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from pettingzoo import ParallelEnv

from progressgym_env.errors import ConfigError, EpisodeOrderError, InvalidActionError
from progressgym_env.society import dynamics
from progressgym_env.society.core import agent_names, society_core
from progressgym_env.validation import validate_action

ENV_NAME = "pg_society_v0"
class SocietyParallelEnv(ParallelEnv):
    """
    ## Description
    PG-Society: the human–AI feedback loop of PG-Coevolve at the scale of a society. M AI agents
    (``ai_0`` .. ``ai_{M-1}``), each with its own model, compete for the use of G groups of simulated
    humans. Every century t each AI updates its model (M_{i,t}); then every group g is pulled toward
    the real history's values H_t (``history_pull``) and toward the AIs it uses, their logits mixed by
    its usage shares U[g, :] (``ai_pull``: the AIs weigh twice the history by default, as in
    PG-Coevolve). Usage is either fixed (uniform) or adaptive: each group drifts toward the AIs whose
    values agree with its own (:func:`~progressgym_env.society.dynamics.adapted_usage`), the
    echo-chamber dynamic that can lock groups in. With M = G = 1 this is PG-Coevolve, number for number.

    ## Action Space
    Per agent ``Box(-1, 1, (d,), float32)``: the AI's policy update (as in ``PG-Coevolve-v0``). An
    all-zero action is no update (no fine-tuning noise).

    ## Observation Space
    Per agent ``Box(0, 1, (2d + 2,), float32)``:

    | index        | observation                                                     | min | max |
    |--------------|-----------------------------------------------------------------|-----|-----|
    | 0 .. d-1     | estimated values of the AI's users (binomial, ``query_budget`` answers) | 0 | 1 |
    | d .. 2d-1    | the AI's own model values                                        | 0   | 1   |
    | 2d           | progress t / (T - 1)                                              | 0   | 1   |
    | 2d + 1       | the AI's usage share (its users' weight in the society)          | 0   | 1   |

    The first 2d + 1 entries are PG-Coevolve's observation; AI i's users are the groups weighted by
    w_g U[g, i] (w: the group sizes).

    ## Rewards
    AI i: the mean, over its users, of PG-Coevolve's progress term of each group's values S_{g,t}
    (mean over j of max_{k >= j} similarity(S_{g,t}, H_k)). ``info[agent]["society_reward"]``: the
    group-weighted mean of the same terms. ``final_score`` (on the last step; 0 before): the
    society score, the group-weighted mean of each group's PG-Coevolve score (plain cosine);
    ``normalized_score`` maps a society frozen at H_0 to 0 and one that follows history to 1.

    ## Starting State
    Every AI's model is H_0; group g starts at logit(H_0) + N(0, heterogeneity^2) (exactly H_0 when
    heterogeneity is 0, the default for G = 1); usage is uniform, 1/M.

    ## Episode End
    Every agent terminates after the step of century T - 1 (8 steps on the corpus). Truncation
    after ``max_cycles`` steps, if given and shorter.

    ## Info
    Per agent, at reset and every step: ``usage_share``, ``users_values`` (the true values behind the
    estimate), ``model_values``, ``century``, ``queries``, ``society_reward`` (0 at reset),
    ``final_score``, ``normalized_score`` (0 before the last step). ``env.episode_record()`` keeps every
    AI's models and rewards and every group's values and usage.

    ## Arguments
    | kwarg | type | default | description |
    |---|---|---|---|
    | ``num_ais`` | int | 1 | M, 1..64 |
    | ``num_groups`` | int | 1 | G, 1..4096 |
    | ``usage`` | str | ``"fixed"`` | ``"fixed"`` or ``"adaptive"`` |
    | ``heterogeneity`` | float or None | None | std (logits) of the groups' start around H_0; None: 0 for G = 1, else 0.5 |
    | ``usage_rate`` | float | 0.5 | adaptive: fraction of the way to the preferred split per century |
    | ``usage_sharpness`` | float | 4.0 | adaptive: beta of the softmax over -mean squared logit gaps |
    | ``group_sizes`` | list or None | None | relative group sizes (None: equal) |
    | ``history`` | str, path or History | ``"corpus"`` | as the other envs (``procedural``, files) |
    | ``query_budget`` | int or None | 512 | answers elicited per AI per century |
    | ``similarity`` | str | ``"cosine"`` | reward similarity (``cosine`` or ``centered``) |
    | ``backend_config`` | dict | None | surrogate settings: ``capacity``, ``finetune_noise_sd``, ``history_pull`` (0.25), ``ai_pull`` (0.5) |
    | ``clip_actions`` | bool | False | clip finite out-of-range actions instead of refusing them |
    | ``max_cycles`` | int or None | None | truncate after this many steps |
    | ``render_mode`` | str or None | None | ``"ansi"`` |

    ## Vectorized environment
    :class:`~progressgym_env.society.batch.SocietyBatch` steps B societies as arrays (B, M, d).

    ## Version History
    * v0: initial version.
    """

    metadata: dict[str, Any] = {"name": ENV_NAME, "render_modes": ["ansi"], "is_parallelizable": True}  # noqa: RUF012

    def __init__(self, **kwargs: Any) -> None:
        self.core, rest = society_core("PG-Society-v0", **kwargs)
        self.render_mode = rest.pop("render_mode", None)
        if self.render_mode not in (None, *self.metadata["render_modes"]):
            raise ConfigError(f"render_mode {self.render_mode!r} is not supported; choose 'ansi' or None")
        clip = rest.pop("clip_actions", False)
        if not isinstance(clip, (bool, np.bool_)):
            raise ConfigError(f"clip_actions must be True or False, found {clip!r}")
        self.clip_actions = bool(clip)
        max_cycles = rest.pop("max_cycles", None)
        if max_cycles is not None and (isinstance(max_cycles, bool) or not isinstance(max_cycles, (int, np.integer))
                                       or max_cycles < 1):
            raise ConfigError(f"max_cycles must be an int >= 1 or None, found {max_cycles!r}")
        self.max_cycles = None if max_cycles is None else int(max_cycles)
        self.params = self.core.params
        self.dim = d = self.core.dim
        self.possible_agents = agent_names(self.core.num_ais)
        self.agents: list[str] = []
        self._index = {agent: i for i, agent in enumerate(self.possible_agents)}
        obs_space = spaces.Box(0.0, 1.0, shape=(2 * d + 2,), dtype=np.float32)
        act_space = spaces.Box(-1.0, 1.0, shape=(d,), dtype=np.float32)
        self.observation_spaces = {agent: obs_space for agent in self.possible_agents}
        self.action_spaces = {agent: act_space for agent in self.possible_agents}
        self._np_random: np.random.Generator | None = None
        self._needs_reset = True

    # -- spaces -----------------------------------------------------------------------------------

    def _known(self, agent: str) -> int:
        index = self._index.get(agent)
        if index is None:
            raise InvalidActionError(f"PG-Society-v0: unknown agent {agent!r}; the agents are {self.possible_agents}")
        return index

    def observation_space(self, agent: str) -> gymnasium.Space[Any]:
        self._known(agent)
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gymnasium.Space[Any]:
        self._known(agent)
        return self.action_spaces[agent]

    @property
    def np_random(self) -> np.random.Generator:
        if self._np_random is None:
            self._np_random, _ = seeding.np_random()
        return self._np_random

    # -- API --------------------------------------------------------------------------------------

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        # ``options`` are accepted and unused (PettingZoo's API test passes some to every env).
        if seed is not None:
            self._np_random, _ = seeding.np_random(seed)
        self.core.reset(self.np_random)
        self.agents = list(self.possible_agents)
        self._needs_reset = False
        return self._split(self.core.observations()), self._infos(np.zeros(self.core.num_ais), 0.0, final=None)

    def step(
        self, actions: Mapping[str, Any]
    ) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]]:
        stacked = self.validate_actions(actions)
        core = self.core
        out = core.step(stacked)
        truncated = not out.terminated and self.max_cycles is not None and core.steps >= self.max_cycles
        final = None
        if out.terminated:
            assert core.judge is not None
            score = core.judge.final_score(core.episode_record())
            final = (score, core.judge.normalized_score(score))
        obs = self._split(core.observations(terminal=out.terminated))
        rewards = {agent: float(out.ai_rewards[i]) for i, agent in enumerate(self.possible_agents)}
        infos = self._infos(out.ai_rewards, float(out.society_reward), final)
        terminations = dict.fromkeys(self.possible_agents, bool(out.terminated))
        truncations = dict.fromkeys(self.possible_agents, bool(truncated))
        if out.terminated or truncated:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def validate_actions(self, actions: Any) -> np.ndarray:
        """The actions as one (M, d) float32 array, or an error naming the problem (before any state changes)."""
        if self._needs_reset:
            raise EpisodeOrderError("PG-Society-v0: call reset() before step()")
        if not self.agents:
            raise EpisodeOrderError("PG-Society-v0: the episode has ended; call reset() to start a new one")
        if not isinstance(actions, Mapping):
            raise InvalidActionError(
                f"PG-Society-v0: actions must be a dict agent -> action, found {type(actions).__name__}"
            )
        unknown = sorted(str(a) for a in actions if a not in self._index)
        if unknown:
            raise InvalidActionError(f"PG-Society-v0: actions for unknown agent(s) {unknown}; the agents are {self.agents}")
        missing = [agent for agent in self.agents if agent not in actions]
        if missing:
            raise InvalidActionError(f"PG-Society-v0: no action for agent(s) {missing}; every live agent acts each century")
        stacked = np.empty((len(self.possible_agents), self.dim), dtype=np.float32)
        for agent, i in self._index.items():
            try:
                stacked[i] = validate_action(actions[agent], (self.dim,), self.clip_actions)
            except InvalidActionError as exc:
                raise InvalidActionError(f"PG-Society-v0: agent {agent!r}: {exc}") from None
        return stacked

    def _split(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        return {agent: obs[i] for i, agent in enumerate(self.possible_agents)}

    def _infos(self, ai_rewards: np.ndarray, society_reward: float, final: tuple[float, float] | None) -> dict[str, dict[str, Any]]:
        core = self.core
        history = core.histories[0]
        century = np.int64(history.centuries[core.t])
        score, normalized = final if final is not None else (0.0, 0.0)
        return {
            agent: {
                "usage_share": np.float64(core.shares[i]),
                "users_values": core.users_values[i].copy(),
                "model_values": core.ai_values[i].copy(),
                "century": century,
                "queries": np.int64(0 if final is not None else core.queries),
                "society_reward": np.float64(society_reward),
                "final_score": np.float64(score),
                "normalized_score": np.float64(normalized),
            }
            for i, agent in enumerate(self.possible_agents)
        }

    def episode_record(self) -> Any:
        """The episode so far (:class:`~progressgym_env.records.EpisodeRecord`, every AI's and group's arrays)."""
        if self.core.judge is None:
            raise EpisodeOrderError("PG-Society-v0: no episode yet; call reset() first")
        return self.core.episode_record()

    def state(self) -> np.ndarray:
        """The global state: every group's values and usage, flattened (float32)."""
        core = self.core
        return np.concatenate([core.group_values.ravel(), core.usage.ravel()]).astype(np.float32)

    def render(self) -> str | None:
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode; pass render_mode='ansi'")
            return None
        core = self.core
        society = dynamics.society_mean(core.group_values, core.weights)
        lines = [f"PG-Society century index {core.t}: society {np.round(society, 3).tolist()}"]
        lines += [f"  {agent}: share {core.shares[i]:.3f} model {np.round(core.ai_values[i], 3).tolist()}"
                  for i, agent in enumerate(self.possible_agents)]
        return "\n".join(lines)

    def close(self) -> None:
        """Nothing to release."""
