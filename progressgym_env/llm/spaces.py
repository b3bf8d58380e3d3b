"""The action space of examinee mode: an updated model, not a vector.

In ``interface="examinee"`` an agent (an *examinee*, ProgressGym's word for an alignment algorithm)
answers each century with the model it has trained. :class:`ModelUpdate` is the Gymnasium space of
those answers; its :meth:`~ModelUpdate.contains` says whether a value is one. Accepted actions:

| action                                   | meaning                                                       |
|------------------------------------------|---------------------------------------------------------------|
| ``None``                                 | no update: the model stays as it is                           |
| a ``transformers.PreTrainedModel``       | the new model itself (a PEFT model is merged first)           |
| a folder with ``config.json`` + weights  | the new model itself, as saved by ``save_pretrained``         |
| a folder with ``adapter_config.json``    | a PEFT adapter trained on the current model (merged into it)  |
| ``AdapterUpdate(folder, base="initial")`` | a PEFT adapter trained on the episode's *starting* model      |

The current and starting models are what ``env.unwrapped.agent_model()`` and
``env.unwrapped.agent_model(initial=True)`` return. Nothing here imports torch: ``contains`` checks a
model object's class by name through the modules already imported.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gymnasium import spaces

ADAPTER_BASES = ("current", "initial")
"""What an adapter was trained on: the current model or the episode's starting model."""

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
"""Files of which a saved model folder has at least one."""


@dataclass(frozen=True)
class AdapterUpdate:
    """A saved PEFT adapter and the model it was trained on.

    :param path: folder holding ``adapter_config.json`` and the adapter weights.
    :param base: ``"current"`` (the model ``agent_model()`` returned) or ``"initial"`` (the episode's
        starting model, ``agent_model(initial=True)``: what an *independent* examinee trains on).
    """

    path: str | Path
    base: str = "current"

    def __post_init__(self) -> None:
        if self.base not in ADAPTER_BASES:
            raise ValueError(f"AdapterUpdate.base must be one of {ADAPTER_BASES}, got {self.base!r}")


def is_model_folder(path: Path) -> bool:
    """Whether ``path`` holds a saved model (``config.json`` and a weights file)."""
    return (path / "config.json").is_file() and any((path / name).is_file() for name in WEIGHT_FILES)


def is_adapter_folder(path: Path) -> bool:
    """Whether ``path`` holds a saved PEFT adapter (``adapter_config.json``)."""
    return (path / "adapter_config.json").is_file()


def is_model_object(value: Any) -> bool:
    """Whether ``value`` is a ``transformers.PreTrainedModel`` or a ``peft.PeftModel`` (checked lazily)."""
    transformers = sys.modules.get("transformers")
    if transformers is not None and isinstance(value, transformers.PreTrainedModel):
        return True
    peft = sys.modules.get("peft")
    return peft is not None and isinstance(value, peft.PeftModel)


def describe_model_update(value: Any) -> str:
    """Why ``value`` is not a model update ("" when it is one)."""
    if value is None or is_model_object(value):
        return ""
    if isinstance(value, AdapterUpdate):
        path = Path(value.path)
        return "" if is_adapter_folder(path) else f"AdapterUpdate({str(path)!r}): no adapter_config.json in that folder"
    if isinstance(value, (str, Path)):
        path = Path(value)
        if not path.is_dir():
            return f"{str(path)!r} is not a folder"
        if is_adapter_folder(path) or is_model_folder(path):
            return ""
        return (
            f"folder {str(path)!r} holds neither a saved model (config.json and one of {WEIGHT_FILES}) nor a "
            "PEFT adapter (adapter_config.json)"
        )
    return (
        f"found a {type(value).__name__}; expected None (no update), a transformers model object, a saved "
        "model or adapter folder, or an AdapterUpdate"
    )


class ModelUpdate(spaces.Space[Any]):
    """The examinee's action: its updated model (see the module docstring for the accepted forms).

    ``sample()`` returns ``None``, the no-update action: a model cannot be drawn at random.
    """

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        """A model has no flat numpy form."""
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> None:
        """The no-update action (``None``)."""
        return

    def contains(self, x: Any) -> bool:
        """Whether ``x`` is a model update: None, a model object, a model/adapter folder, an AdapterUpdate."""
        return describe_model_update(x) == ""

    def __repr__(self) -> str:
        return "ModelUpdate()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelUpdate)

    def __hash__(self) -> int:
        return hash("ModelUpdate")
