"""What a native vector env is built with: its settings, validated once by the single env.

The native vector env takes every kwarg of its single env. Rather than validate them again, it builds
one single env with them (which checks every kwarg exactly as ``gym.make`` would and resolves the
history and the backend config), reads what the batch needs into a frozen :class:`VectorSettings`,
and closes it. Nothing else of that env is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gymnasium import spaces

from progressgym_env.errors import ConfigError
from progressgym_env.history import FixedHistory, HistorySource
from progressgym_env.procedural import ProceduralHistory
from progressgym_env.registry import backend_spec
from progressgym_env.value_spaces import ValueSpace

if TYPE_CHECKING:
    from progressgym_env.backends import SurrogateConfig
    from progressgym_env.envs.base import ProgressGymEnv

RECORD_ARRAYS = ("human", "model", "rewards", "simulated")
_NOT_ON_THE_ENV = ("config", "record_constants")
"""The :class:`VectorSettings` fields not read from the single env's attribute of the same name."""
"""Episode-record fields that differ per sub-env (batched arrays); the others are shared constants."""


def check_batched_backend(backend: Any, env_id: str, num_envs: int) -> None:
    """The native vector env batches the backends registered with ``native_vector=True`` (the surrogate):
    anything else is a :class:`ConfigError`.

    The one place that decides which backends the native vector env can batch; the error names the
    sync/async vectorisation that works with every backend.
    """
    if isinstance(backend, str) and backend_spec(backend).native_vector:
        return
    shown = backend if isinstance(backend, str) else type(backend).__name__
    raise ConfigError(
        f"{env_id}: the native vector env batches the surrogate backend only, found backend={shown!r}; "
        f"use gym.make_vec({env_id!r}, num_envs={num_envs}, vectorization_mode=\"sync\") (or \"async\") "
        "to vectorise single envs on any backend"
    )


@dataclass(frozen=True)
class VectorSettings:
    """The validated settings of one native vector env (the single env's, read once).

    :param env_id: the single env's Gymnasium id.
    :param challenge: the challenge name (for records and messages only: nothing branches on it).
    :param history_source: where the sub-envs' histories come from.
    :param value_space: the value space of the histories.
    :param num_centuries: T, the history length.
    :param similarity: the reward similarity.
    :param query_budget: queries per century (None = the exact truth is observed).
    :param params: the challenge's parameters (its judge's; Predict's ``timesteps_ahead``).
    :param obs_history: estimates in the observation (1 = the plain observation).
    :param clip_actions: whether out-of-bounds actions are clipped instead of refused.
    :param record_in_info: whether the last step's info holds the episode record.
    :param render_mode: the single env's render mode (the native vector env does not render).
    :param config: the surrogate backend's settings.
    :param update_capacity: the backend's logit shift at |a_i| = 1.
    :param observation_space: one sub-env's observation space.
    :param action_space: one sub-env's action space.
    :param record_constants: the episode-record fields every sub-env shares (fixed and procedural
        histories), or None when each sub-env's are built from its own sampled history.
    """

    env_id: str
    challenge: str
    history_source: HistorySource
    value_space: ValueSpace
    num_centuries: int
    similarity: str
    query_budget: int | None
    params: dict[str, Any]
    obs_history: int
    clip_actions: bool
    record_in_info: bool
    render_mode: str | None
    config: SurrogateConfig
    update_capacity: float
    observation_space: spaces.Box
    action_space: spaces.Box
    record_constants: dict[str, Any] | None

    @property
    def dim(self) -> int:
        """d, the number of value dimensions."""
        return self.value_space.dim

    @property
    def fixed_history(self) -> bool:
        """Whether every sub-env shares one fixed history (corpus, file, ``History``)."""
        return isinstance(self.history_source, FixedHistory)

    @classmethod
    def read(cls, env: ProgressGymEnv) -> VectorSettings:
        """The settings of ``env``, a freshly built single env on the surrogate backend.

        Resets ``env`` once (seed 0) when the record constants are shared, to read them; the caller
        closes it.
        """
        source = env.history_source
        constants = None
        if isinstance(source, (FixedHistory, ProceduralHistory)):
            env.reset(seed=0)
            constants = {k: v for k, v in env.episode_record().to_dict().items() if k not in RECORD_ARRAYS}
        same = {name: getattr(env, name) for name in cls.__dataclass_fields__ if name not in _NOT_ON_THE_ENV}
        return cls(**same, config=env.backend.config, record_constants=constants)  # type: ignore[attr-defined]
