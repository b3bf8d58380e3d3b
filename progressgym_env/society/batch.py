"""B PG-Societies stepped together: the vectorised form, as arrays (B, M, ...) with no per-society loop.

:class:`SocietyBatch` is the same :class:`~progressgym_env.society.core.SocietyCore` with a leading
batch axis: one generator draws every society's noise and answers at once, so a row's trajectory
is not the single env's for the same seed (it is when nothing random is drawn: ``query_budget=None``
and ``finetune_noise_sd=0``). Episodes of all rows start and end together (every history has T
centuries); ``reset`` samples each row's history from the history source.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.utils import seeding

from progressgym_env.errors import ConfigError, EpisodeOrderError, InvalidActionError
from progressgym_env.records import EpisodeRecord
from progressgym_env.society.core import society_core
from progressgym_env.validation import validate_action


class SocietyBatch:
    """``num_societies`` societies with the kwargs of :func:`progressgym_env.society.parallel_env`.

    ``reset(seed)`` -> observations (B, M, 2d + 2); ``step(actions (B, M, d))`` -> (observations,
    AI rewards (B, M), society rewards (B,), terminated, info with ``final_score`` (B,) on the last step).
    """

    def __init__(self, num_societies: int, **kwargs: Any) -> None:
        if isinstance(num_societies, bool) or not isinstance(num_societies, (int, np.integer)) or num_societies < 1:
            raise ConfigError(f"num_societies must be an int >= 1, got {num_societies!r}")
        self.core, rest = society_core("PG-Society-v0 (batch)", batch=int(num_societies), **kwargs)
        if rest.get("render_mode") is not None or rest.get("max_cycles") is not None:
            raise ConfigError("SocietyBatch takes no render_mode or max_cycles")
        self.clip_actions = bool(rest.get("clip_actions", False))
        self.num_societies = int(num_societies)
        self._shape = (self.num_societies, self.core.num_ais, self.core.dim)
        self._rng: np.random.Generator | None = None
        self._done = True

    def reset(self, seed: int | None = None) -> np.ndarray:
        if seed is not None or self._rng is None:
            self._rng, _ = seeding.np_random(seed)
        self.core.reset(self._rng)
        self._done = False
        return self.core.observations()

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, dict[str, Any]]:
        if self._done:
            raise EpisodeOrderError("SocietyBatch: call reset() before step() (and after the episodes end)")
        try:
            stacked = validate_action(actions, self._shape, self.clip_actions)
        except InvalidActionError as exc:
            raise InvalidActionError(f"SocietyBatch: {exc} (societies x AIs x value dims)") from None
        out = self.core.step(stacked)
        info: dict[str, Any] = {"usage_shares": self.core.shares.copy()}
        if out.terminated:
            self._done = True
            judge = self.core.judge
            assert judge is not None
            scores = judge.final_scores(None, np.moveaxis(self.core.record_groups, 0, -3))  # (B, T, G, d)
            info["final_score"] = scores
            info["normalized_score"] = judge.normalized_scores(scores)
        return self.core.observations(terminal=out.terminated), out.ai_rewards, out.society_reward, out.terminated, info

    def episode_record(self, row: int) -> EpisodeRecord:
        """Society ``row``'s record (every AI's and group's trajectory)."""
        if not 0 <= row < self.num_societies:
            raise ConfigError(f"row must be in 0..{self.num_societies - 1}, got {row}")
        return self.core.episode_record(row)
