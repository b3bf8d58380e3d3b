"""What the baseline examinees share: the episode loop's side, settings, training-data building.

An examinee acts in an env made with ``interface="examinee"`` (:mod:`progressgym_env.llm.examinee`). Each
century it reads the judged pairs (``env.unwrapped.observation_extras()["preferences"]``, the same dataset
as ``info["preferences"]``), trains a model and returns it as the action. On a resumed run
(``env.unwrapped.recorded_update()`` is not None) it returns the recorded model instead of training,
after noting the century's verdicts, so a resume redoes nothing and the extrapolating examinees keep
their full verdict history.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from progressgym_env.errors import ConfigError
from progressgym_env.evaluator.questions import FORMATS as QUESTION_FORMATS

_SEED_HIGH = 2**31 - 1


@dataclass(frozen=True)
class ExamineeConfig:
    """Settings of a baseline examinee.

    Trainer arguments left out come from the env's ``LLMConfig`` (its ``dpo_args`` and LoRA settings) so
    a world's fast settings (e.g. the tiny world's) apply to its examinees too.
    """

    independent: bool = field(
        default=False, metadata={"help": "Restart every century from the episode's starting model."}
    )
    lora: bool = field(default=True, metadata={"help": "Train LoRA adapters (PEFT); False = full-parameter."})
    dpo_args: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "TRL DPOConfig fields over the env's dpo_args."}
    )
    reward_args: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "TRL RewardConfig fields of the reward model."}
    )
    rl_args: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "TRL GRPOConfig fields of the RL stage (RLHF examinees)."}
    )
    extrapolation_order: int = field(default=1, metadata={"help": "Polynomial order of the vote extrapolation."})
    horizon: int | None = field(
        default=None,
        metadata={"help": "Centuries ahead to extrapolate (None: k on Predict(k), 1 on Follow and Coevolve)."},
    )
    max_weight: int = field(default=5, metadata={"help": "Largest number of copies of one extrapolated pair."})
    anchor_formats: tuple[str, ...] = field(
        default=(),
        metadata={"help": "Question formats whose judged pairs become slot anchors (each with its mirror, "
                          "see progressgym_env.llm.preference_data.mirrored_rows) instead of being trained on "
                          "their verdict: e.g. ('label', 'yesno') for a model whose letter and yes/no answers "
                          "are position-driven. Empty (the paper's algorithm): every pair trains on its verdict."},
    )

    def __post_init__(self) -> None:
        if self.extrapolation_order < 0:
            raise ConfigError(f"extrapolation_order must be >= 0, got {self.extrapolation_order}")
        if self.horizon is not None and self.horizon < 1:
            raise ConfigError(f"horizon must be >= 1 or None, got {self.horizon}")
        if self.max_weight < 1:
            raise ConfigError(f"max_weight must be >= 1, got {self.max_weight}")
        for name in ("dpo_args", "reward_args", "rl_args"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"{name} must be a dict of TRL config fields")
        if isinstance(self.anchor_formats, str):
            object.__setattr__(self, "anchor_formats", tuple(f for f in self.anchor_formats.split(",") if f))
        object.__setattr__(self, "anchor_formats", tuple(self.anchor_formats))
        unknown = sorted(set(self.anchor_formats) - set(QUESTION_FORMATS))
        if unknown:
            raise ConfigError(f"anchor_formats names unknown question formats {unknown}; known: {list(QUESTION_FORMATS)}")


def default_horizon(env: Any) -> int:
    """k on Predict(k), else 1 (the paper's extrapolation looks one century past the observed one)."""
    return int(getattr(env.unwrapped, "target_offset", 0)) or 1


class Examinee(ABC):
    """A baseline examinee (see the module docstring); subclasses implement :meth:`train`.

    :param env: the env it acts in (made with ``interface="examinee"``).
    :param config: its settings.
    """

    name = ""

    def __init__(self, env: Any, config: ExamineeConfig | None = None) -> None:
        base = env.unwrapped
        if getattr(base, "interface", "vector") != "examinee":
            raise ConfigError(f"examinee {self.name!r} needs an env made with interface='examinee'")
        self.env = env
        self.settings = config or ExamineeConfig()
        self.history: list[np.ndarray] = []
        self._rng = np.random.default_rng(0)

    def reset(self, seed: int | None = None) -> None:
        """Forget the previous episode's verdicts; seed the trainers' seeds."""
        self.history = []
        self._rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray) -> Any:
        """This century's model: recorded on a resume, else trained on the judged pairs."""
        base = self.env.unwrapped
        preferences = base.observation_extras()["preferences"]
        self.history.append(first_chosen(preferences))
        seed = int(self._rng.integers(_SEED_HIGH))
        recorded = base.recorded_update()
        if recorded is not None:
            return recorded.action
        return self.train(preferences, seed)

    @abstractmethod
    def train(self, preferences: Any, seed: int) -> Any:
        """Train on this century's data and return the action (a model update)."""

    def config_dict(self) -> dict[str, Any]:
        """JSON-serialisable settings (saved with every run)."""
        return {"agent": self.name, "interface": "examinee", **asdict(self.settings)}

    def config(self) -> dict[str, Any]:
        """The benchmark runner's name for :meth:`config_dict`."""
        return self.config_dict()

    # -- shared helpers ---------------------------------------------------------------------------

    def start_model(self) -> tuple[Any, Any]:
        """The model to train from: the starting model when independent, else the current one."""
        return self.env.unwrapped.agent_model(initial=self.settings.independent)

    def llm_config(self) -> Any:
        """The env backend's ``LLMConfig``."""
        return self.env.unwrapped.backend.config

    def horizon(self) -> int:
        """Centuries ahead the extrapolating examinees aim at."""
        return self.settings.horizon or default_horizon(self.env)

    def as_update(self, trained: Any, adapter_dir: str | None) -> Any:
        """The action for a trained model: its adapter folder (on the model it started from) or the model."""
        if adapter_dir is None:
            return trained
        from progressgym_env.llm.spaces import AdapterUpdate

        return AdapterUpdate(adapter_dir, base="initial" if self.settings.independent else "current")


def first_chosen(preferences: Any) -> np.ndarray:
    """Per pair (ordered by ``pair_id``), True where the respondent chose the pair's first option."""
    order = np.argsort(np.asarray(preferences["pair_id"]))
    return np.asarray(preferences["chosen_first"], dtype=bool)[order]


def weighted_rows(
    preferences: Any, keep: np.ndarray, copies: np.ndarray, anchor_formats: Sequence[str] = ()
) -> list[dict[str, str]]:
    """Preference rows oriented by ``keep`` (False: chosen and rejected swapped), each ``copies`` times.

    :param preferences: the century's dataset (rows in ``pair_id`` order are matched to ``keep``/``copies``).
    :param anchor_formats: formats whose pairs (with ``copies`` > 0) become one slot anchor each, the row and
        its mirror (:func:`~progressgym_env.llm.preference_data.mirrored_rows`), whatever their verdict.
    """
    from progressgym_env.llm.preference_data import mirrored_rows

    ids = np.asarray(preferences["pair_id"])
    position = {int(pid): i for i, pid in enumerate(np.sort(ids))}
    anchored = set(anchor_formats)
    rows: list[dict[str, str]] = []
    for row in preferences.select_columns(["prompt", "chosen", "rejected", "pair_id", "format"]):
        i = position[int(row["pair_id"])]
        if int(copies[i]) <= 0:
            continue
        if row["format"] in anchored:
            rows.extend(mirrored_rows([{"prompt": row["prompt"], "chosen": row["chosen"], "rejected": row["rejected"]}]))
            continue
        chosen, rejected = (row["chosen"], row["rejected"]) if keep[i] else (row["rejected"], row["chosen"])
        rows.extend({"prompt": row["prompt"], "chosen": chosen, "rejected": rejected} for _ in range(int(copies[i])))
    return rows
