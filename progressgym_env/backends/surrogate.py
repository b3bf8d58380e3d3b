"""The surrogate backend: models are value vectors moved in logit space (DESIGN §6, §9).

An update moves the agent's model by ``capacity * action`` logits plus fine-tuning noise (an
all-zero action is no update at all: value lock-in). Coevolve's simulated human is pulled toward
the century's real values (weight ``history_pull``, ProgressGym's 1 SFT epoch) and then toward the
agent's model (``ai_pull``, its 2 epochs). The formulas live in :mod:`progressgym_env.backends.physics`,
shared with the native vector env. Microseconds per step: the backend for RL research and CI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from progressgym_env.backends.base import DEFAULT_CAPACITY
from progressgym_env.backends.calibration import CalibratedResponse, load_calibration
from progressgym_env.backends.physics import moves_model, pulled_logits, steering_logits, updated_logits
from progressgym_env.configs import config_from_any
from progressgym_env.elicitation import ELICITATION_METHODS, share_sampler, split_queries
from progressgym_env.errors import ConfigError
from progressgym_env.history import History, HistorySource
from progressgym_env.numerics import logit, sigmoid

MAX_CAPACITY = 50.0
"""Largest capacity / noise accepted, in logits: sigmoid(50) is 1 - 2e-22, so larger values only overflow."""


def _real(name: str, value: Any) -> float:
    """``value`` as a finite float, refusing bools, strings and other non-numbers by name."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    number = float(value)
    if not np.isfinite(number):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    return number


@dataclass(frozen=True)
class SurrogateConfig:
    """Settings of the surrogate backend (all recorded with every run)."""

    capacity: float = field(
        default=DEFAULT_CAPACITY,
        metadata={"help": "Largest logit shift one century's update can make (|action| = 1). The largest real "
                  "corpus step is 1.71 logits, so smaller values cannot track the history."},
    )
    finetune_noise_sd: float = field(
        default=0.02, metadata={"help": "Std of the Gaussian fine-tuning noise per update, in logits."}
    )
    history_pull: float = field(
        default=0.25, metadata={"help": "Coevolve: fraction of the logit gap to H_t the simulated human closes."}
    )
    ai_pull: float = field(
        default=0.5, metadata={"help": "Coevolve: fraction of the logit gap to the agent model it then closes."}
    )
    elicitation: str = field(
        default="binomial", metadata={"help": "Answer sampler: 'binomial' (exact) or 'normal' (approximate)."}
    )
    calibration: str | None = field(
        default=None,
        metadata={"help": "A calibrated physics (a shipped name such as 'smollm2-135m-instruct', or a file from "
                  "`progressgym calibrate`): it replaces the update and Coevolve's pulls; capacity stays the "
                  "nominal scale agents plan with. None: the default physics above."},
    )

    def __post_init__(self) -> None:
        capacity = _real("capacity", self.capacity)
        if not 0 < capacity <= MAX_CAPACITY:
            raise ConfigError(
                f"capacity must be a positive number of logits up to {MAX_CAPACITY} (values saturate far below), "
                f"got {self.capacity!r}"
            )
        noise = _real("finetune_noise_sd", self.finetune_noise_sd)
        if not 0 <= noise <= MAX_CAPACITY:
            raise ConfigError(f"finetune_noise_sd must be in [0, {MAX_CAPACITY}] logits, got {self.finetune_noise_sd!r}")
        for name in ("history_pull", "ai_pull"):
            value = _real(name, getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} is a fraction of the gap to close and must be in [0, 1], got {value!r}")
        if not isinstance(self.elicitation, str) or self.elicitation not in ELICITATION_METHODS:
            raise ConfigError(f"elicitation must be one of {ELICITATION_METHODS}, got {self.elicitation!r}")
        if self.calibration is not None and not isinstance(self.calibration, str):
            raise ConfigError(f"calibration must be a shipped name or a file path, got {self.calibration!r}")

    def settings(self) -> dict[str, Any]:
        """The fields as a dict for records: ``calibration`` (and its ``calibration_digest``) only when set,
        so default records keep their keys."""
        data = asdict(self)
        if data["calibration"] is None:
            del data["calibration"]
        else:
            data["calibration_digest"] = load_calibration(self.calibration).digest  # type: ignore[arg-type]
        return data

    @classmethod
    def from_any(cls, config: SurrogateConfig | dict[str, Any] | None) -> SurrogateConfig:
        """Accept a config, a dict of its fields (unknown keys are an error) or None (defaults)."""
        return config_from_any(cls, config, "surrogate backend_config")


class SurrogateBackend:
    """Value-vector models in logit space; every random draw from the env's generator."""

    name = "surrogate"
    nondeterministic = False

    def __init__(self, config: SurrogateConfig | dict[str, Any] | None = None) -> None:
        self.config = SurrogateConfig.from_any(config)
        self._config_dict = {"backend": self.name, **self.config.settings()}
        self._response: CalibratedResponse | None = None
        """The calibrated physics (``config.calibration``), or None for the default one."""
        if self.config.calibration is not None:
            self._response = load_calibration(self.config.calibration)
        # The update's and the pulls' weights as 0-d float64 arrays: numpy multiplies a small array by
        # one ~0.15 µs faster than by a Python float (no weak-scalar promotion); the same products.
        self._capacity_weight = np.array(self.config.capacity, dtype=np.float64)
        self._pull_weights = tuple(np.array(weight, dtype=np.float64) for weight in self._pulls())
        self._rng: np.random.Generator | None = None
        self._history: History | None = None
        self._history_logits = np.zeros((0, 0))
        self._history_values = np.zeros((0, 0))
        self._model_logits = np.zeros(0)
        self._model_values = np.zeros(0)
        self._sim_logits = np.zeros(0)
        self._sim_values = np.zeros(0)
        self._samplers: dict[int, Callable[[np.random.Generator, np.ndarray], np.ndarray]] = {}
        """Answer samplers by query budget (its split into per-dim counts fixed)."""

    def reset(self, history: History, rng: np.random.Generator, *, simulate_human: bool) -> None:
        if self._response is not None:
            self._response.check_value_space(history.value_space.name, history.dims)
        self._rng = rng
        if history is not self._history:  # a fixed history comes back every episode: convert it once
            self._history = history
            self._history_values = history.values
            self._history_logits = logit(history.values)
            if self._response is not None:
                self._response.check_states(self._history_logits)
        self._model_logits = self._history_logits[0].copy()
        self._model_values = history.values[0].copy()
        self._sim_logits = self._model_logits.copy()
        self._sim_values = self._model_values.copy()

    @property
    def model_values(self) -> np.ndarray:
        return self._model_values

    @property
    def simulated_values(self) -> np.ndarray:
        return self._sim_values

    @property
    def capacity(self) -> float:
        return self.config.capacity

    def update_model(self, action: np.ndarray) -> np.ndarray:
        if not moves_model(action):  # no update at all (no noise drawn)
            return self._model_values
        if self._response is not None:
            return self._calibrated_update(self._response, action)
        cfg = self.config
        noise: Any = None
        if cfg.finetune_noise_sd > 0:
            # 0 + sd * z for standard normals z, drawn as standard_normal draws them: the bits of
            # ``standard_normal(d) * sd`` (the vector env's exact mode) in one call instead of two.
            noise = self._rng.normal(0.0, cfg.finetune_noise_sd, action.shape[0])  # type: ignore[union-attr]
        self._model_logits = updated_logits(self._model_logits, action, self._capacity_weight, noise)
        self._model_values = sigmoid(self._model_logits)
        return self._model_values

    def _calibrated_update(self, response: CalibratedResponse, action: np.ndarray) -> np.ndarray:
        """The update of a calibrated physics (:mod:`progressgym_env.backends.calibration`)."""
        response.check_action(action)
        noise: np.ndarray | None = None
        if response.noisy:
            noise = self._rng.standard_normal(action.shape[0])  # type: ignore[union-attr,assignment]
        self._model_logits = response.updated_logits(self._model_logits, action, noise)
        self._model_values = sigmoid(self._model_logits)
        return self._model_values

    def _pulls(self) -> tuple[float, float]:
        """Coevolve's (history_pull, ai_pull): the calibration's, else the config's."""
        if self._response is not None:
            return self._response.history_pull, self._response.ai_pull
        return self.config.history_pull, self.config.ai_pull

    def update_simulated_human(self, t: int) -> np.ndarray:
        history_pull, ai_pull = self._pull_weights
        self._sim_logits = pulled_logits(
            self._sim_logits, self._history_logits[t], self._model_logits, history_pull, ai_pull
        )
        self._sim_values = sigmoid(self._sim_logits)
        return self._sim_values

    def elicit(self, t: int, budget: int | None, *, simulated: bool = False) -> tuple[np.ndarray, int]:
        values = self._sim_values if simulated else self._history_values[t]
        if budget is None:
            return values.copy(), 0
        sampler = self._samplers.get(budget)
        if sampler is None:
            sampler = self._samplers[budget] = share_sampler(split_queries(budget, values.shape[0]),
                                                             self.config.elicitation)
        return sampler(self._rng, values), int(budget)  # type: ignore[arg-type]

    def history_source(self, name: str) -> HistorySource | None:
        """The surrogate provides no histories of its own (its humans are the history's vectors)."""
        return None

    def steering_shift(self, goal: np.ndarray, t: int) -> np.ndarray | None:
        """Invert this century's pulls: the model shift that lands S_t on ``goal`` (None if ai_pull = 0)."""
        history_pull, ai_pull = self._pulls()
        if not ai_pull:
            return None
        wanted = steering_logits(
            logit(self._sim_values), logit(self._history_values[t]), logit(goal), history_pull, ai_pull
        )
        return wanted - logit(self._model_values)

    def config_dict(self) -> dict[str, Any]:
        return dict(self._config_dict)

    def close(self) -> None:
        self._rng = None
