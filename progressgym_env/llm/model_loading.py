"""Load, identify and restore the HF causal LMs of the ``llm`` backend.

Loading itself (clear errors for a missing path or a folder without a tokenizer) is the evaluator's
:func:`progressgym_env.evaluator.choosers.loading.load_model_and_tokenizer`; this module adds what the
backend needs around it: the device and dtype a config asks for, a *model identity* that keys the
measured-history cache, and rebuilding a model from its base plus the LoRA adapters of earlier
centuries (checkpoint resume).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from progressgym_env.common.fingerprint import json_fingerprint
from progressgym_env.errors import ModelLoadError

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
_SAMPLE_BYTES = 1 << 20


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; other values pass through."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str, device: str) -> Any:
    """The torch dtype for a config's ``dtype`` on ``device`` (auto: bfloat16 on CUDA, float32 on CPU)."""
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype)


def load_causal_lm(path_or_id: str, *, device: str = "cpu", dtype: str = "auto") -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer, in eval mode, on ``device``, with a pad token set.

    :param path_or_id: a local folder saved with ``save_pretrained`` or a hub id.
    :param device: ``cpu``, ``cuda`` or ``cuda:N`` (resolve ``auto`` first with :func:`resolve_device`).
    :param dtype: ``auto``, ``float32``, ``bfloat16`` or ``float16``.
    :raises ModelLoadError: missing path, a folder without tokenizer, or a hub id that cannot be fetched.
    """
    from transformers.utils import logging as hf_logging

    from progressgym_env.evaluator.choosers.loading import load_model_and_tokenizer

    bars_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a "Loading weights" bar per century would drown the env's output
    try:
        model, tokenizer = load_model_and_tokenizer(path_or_id, device=device, dtype=resolve_dtype(dtype, device))
    finally:
        if bars_on:
            hf_logging.enable_progress_bar()
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ModelLoadError(f"the tokenizer of {path_or_id!r} has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    return model, tokenizer


def check_model_source(path_or_id: str) -> None:
    """Fail early, before any loading, on a missing local path or a folder without a tokenizer."""
    from progressgym_env.evaluator.choosers.loading import resolve_model_source

    resolve_model_source(path_or_id)


def model_identity(path_or_id: str) -> dict[str, Any]:
    """What identifies a checkpoint in cache keys.

    A local folder is identified by its ``config.json`` and, for each weight file, its name, size and
    a hash of its first and last MiB (hashing whole 16 GB checkpoints would take minutes); a hub id by
    the id itself.

    :param path_or_id: a local folder or a hub id.
    :return: ``{"model": str, "sha256": hex digest}``.
    """
    path = Path(str(path_or_id)).expanduser()
    digest = hashlib.sha256()
    if path.is_dir():
        config = path / "config.json"
        if config.is_file():
            digest.update(config.read_bytes())
        for file in sorted(path.iterdir()):
            if file.is_file() and file.name.endswith(_WEIGHT_SUFFIXES):
                size = file.stat().st_size
                digest.update(f"{file.name}:{size}".encode())
                with file.open("rb") as handle:
                    digest.update(handle.read(_SAMPLE_BYTES))
                    if size > 2 * _SAMPLE_BYTES:
                        handle.seek(-_SAMPLE_BYTES, 2)
                        digest.update(handle.read(_SAMPLE_BYTES))
        return {"model": str(path.resolve()), "sha256": digest.hexdigest()}
    digest.update(str(path_or_id).encode())
    return {"model": str(path_or_id), "sha256": digest.hexdigest()}


def identities_key(identities: Sequence[dict[str, Any]], *extra: Any) -> str:
    """SHA-256 over model identities and any JSON-able extras (e.g. an evaluator fingerprint).

    :param identities: :func:`model_identity` results, in order.
    :param extra: further JSON-able parts of the key.
    """
    return json_fingerprint([list(identities), list(extra)])


def apply_adapters(model: Any, adapter_dirs: Sequence[str | Path]) -> Any:
    """Merge saved LoRA adapters into ``model`` one after the other (how a checkpoint is restored).

    Each century's update trains a fresh adapter on the model as it stood and merges it in, so a model
    after century t is the base with adapters 1..t merged in order.

    :param model: the base causal LM.
    :param adapter_dirs: folders written by ``PeftModel.save_pretrained``, oldest first.
    :raises ModelLoadError: a folder without ``adapter_config.json``.
    """
    from peft import PeftModel

    for folder in adapter_dirs:
        folder = Path(folder)
        if not (folder / "adapter_config.json").is_file():
            raise ModelLoadError(f"adapter folder {folder} has no adapter_config.json (incomplete checkpoint?)")
        model = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
    model.eval()
    return model
