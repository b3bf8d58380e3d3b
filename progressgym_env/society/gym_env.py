"""PG-Society as one Gymnasium env for the benchmark: all M AIs act in one step, one agent instance each.

``gym.make("PG-Society-v0", num_ais=M, num_groups=G)`` (registered with
:func:`progressgym_env.register_challenge`) returns :class:`SocietyGymEnv`: observations (M, 2d + 2),
actions (M, d) and the society's step term as the reward, over the same
:class:`~progressgym_env.society.core.SocietyCore` as the PettingZoo env (no pettingzoo needed). It
declares ``actor_views``, so :func:`agents.registry.make_agent` plays it with one
copy of the benchmark agent per AI (:mod:`agents.actors`); the episode record keeps every AI's and
every group's trajectory. Multi-agent RL libraries should use :func:`progressgym_env.society.parallel_env`.
"""

from __future__ import annotations

from typing import Any, ClassVar, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from progressgym_env.backends.physics import steering_logits
from progressgym_env.envs.base import ChallengeIdentity
from progressgym_env.errors import ConfigError, EpisodeOrderError, InvalidActionError
from progressgym_env.numerics import logit
from progressgym_env.records import EpisodeRecord
from progressgym_env.society.core import SocietyCore, society_core
from progressgym_env.society.judge import SocietyJudge
from progressgym_env.validation import validate_action


class ActorView:
    """What AI ``index`` of the society sees: the per-actor spaces and what agents read from an env.

    Privileged agents (the oracle) read ``history``, ``judge`` and ``backend`` here: ``backend`` is
    :class:`ActorBackend`, this AI's model and the inverse of its users' pull.

    :param env: the society env it belongs to. :param index: the AI.
    """

    extra_observations = 1
    """The usage share after [estimate, model, progress]."""
    agent_horizon = 1
    """As on PG-Coevolve: the model shapes the *next* humans."""
    simulates_human = True

    def __init__(self, env: SocietyGymEnv, index: int) -> None:
        d = env.dim
        self.action_space = spaces.Box(-1.0, 1.0, shape=(d,), dtype=np.float32)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(2 * d + 2,), dtype=np.float32)
        self.update_capacity = env.update_capacity
        self.challenge_key = env.challenge_key
        self.num_centuries = env.num_centuries
        self.backend = ActorBackend(env.core, index)
        self._core = env.core
        self.unwrapped = self

    @property
    def history(self) -> Any:
        return self._core.histories[0] if self._core.histories else None

    @property
    def judge(self) -> Any:
        return self._core.judge


class ActorBackend:
    """One AI's side of the society's surrogate: its model values and :meth:`steering_shift`."""

    def __init__(self, core: SocietyCore, index: int) -> None:
        self._core, self._index = core, index

    @property
    def model_values(self) -> np.ndarray:
        return self._core.ai_values[self._index]

    def steering_shift(self, goal: np.ndarray, t: int) -> np.ndarray | None:
        """The model shift that would land this AI's users' mean on ``goal`` were it the only AI they used
        (PG-Coevolve's inverse pull; with one AI and one group exactly PG-Coevolve's)."""
        core, cfg = self._core, self._core.config
        if not cfg.ai_pull:
            return None
        wanted = steering_logits(
            logit(core.users_values[self._index]), logit(core.human[t]), logit(goal), cfg.history_pull, cfg.ai_pull
        )
        return wanted - logit(self.model_values)


class SocietyGymEnv(ChallengeIdentity, gym.Env[np.ndarray, np.ndarray]):
    """PG-Society-v0 for single-policy tools: see :class:`~progressgym_env.society.parallel.SocietyParallelEnv`
    for the dynamics, spaces per AI, rewards and arguments (the same kwargs, ``max_cycles`` aside).

    Observation ``Box(0, 1, (M, 2d + 2))``: row i is AI i's observation. Action ``Box(-1, 1, (M, d))``:
    row i is AI i's update. Reward: the society's step term (the group-weighted mean progress);
    ``info["ai_rewards"]`` (M,) holds each AI's, ``info["usage_shares"]`` (M,) the shares,
    ``info["final_score"]``/``["normalized_score"]`` the society score on the last step (0 before),
    plus ``final_spread`` and ``mean_lag`` (lock-in diagnostics, 0 before).
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012
    judge_class: ClassVar[type[SocietyJudge]] = SocietyJudge
    env_id: ClassVar[str] = "PG-Society-v0"

    def __init__(self, **kwargs: Any) -> None:
        self.core, rest = society_core(self.env_id, **kwargs)
        for name in ("render_mode", "max_cycles"):
            if rest.pop(name, None) is not None:
                raise ConfigError(f"{self.env_id} (Gymnasium form) takes no {name}; use progressgym_env.society.parallel_env")
        self.clip_actions = bool(rest.pop("clip_actions", False))
        self.params = self.core.params
        self.dim = d = self.core.dim
        self.num_ais = m = self.core.num_ais
        self.num_centuries = self.core.num_centuries
        self.observation_space = spaces.Box(0.0, 1.0, shape=(m, 2 * d + 2), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(m, d), dtype=np.float32)
        self.actor_views = [ActorView(self, i) for i in range(m)]
        self._done = True

    @property
    def update_capacity(self) -> float:
        return float(self.core.config.capacity)

    @property
    def episode_length(self) -> int:
        return self.num_centuries - 1

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if options:
            raise ConfigError(f"{self.env_id}.reset takes no options, got {sorted(options)}")
        self.core.reset(self.np_random)
        self._done = False
        zeros = np.zeros(self.num_ais)
        return self.core.observations(), self._info(zeros, 0.0, None)

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._done:
            raise EpisodeOrderError(f"{self.env_id}: call reset() before step() (and after the episode ends)")
        try:
            actions = validate_action(action, (self.num_ais, self.dim), self.clip_actions)
        except InvalidActionError as exc:
            raise InvalidActionError(f"{self.env_id}: {exc} (one row of d updates per AI)") from None
        out = self.core.step(actions)
        final = None
        if out.terminated:
            self._done = True
            judge = self.core.judge
            assert judge is not None
            record = self.core.episode_record()
            score = judge.final_score(record)
            final = (score, judge.normalized_score(score), judge.diagnostics(record))
        obs = self.core.observations(terminal=out.terminated)
        return obs, float(out.society_reward), bool(out.terminated), False, self._info(out.ai_rewards, float(out.society_reward), final)

    def _info(self, ai_rewards: np.ndarray, society: float, final: tuple[float, float, dict[str, Any]] | None) -> dict[str, Any]:
        core = self.core
        score, normalized, diagnostics = final if final is not None else (0.0, 0.0, {"final_spread": 0.0, "mean_lag": 0.0})
        return {
            "ai_rewards": np.asarray(ai_rewards, dtype=np.float64).copy(),
            "usage_shares": core.shares.copy(),
            "group_values": core.group_values.copy(),
            "century": np.int64(core.histories[0].centuries[core.t]),
            "society_reward": np.float64(society),
            "final_score": np.float64(score),
            "normalized_score": np.float64(normalized),
            "final_spread": np.float64(diagnostics["final_spread"]),
            "mean_lag": np.float64(diagnostics["mean_lag"]),
        }

    def episode_record(self) -> EpisodeRecord:
        """The episode so far, every AI's and group's trajectory included."""
        if self.core.judge is None:
            raise EpisodeOrderError(f"{self.env_id}: no episode yet; call reset() first")
        return self.core.episode_record()
