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

from progressgym_env.common.atomic import is_temp_file
from progressgym_env.common.fingerprint import json_fingerprint
from progressgym_env.common.hub import require_hub_model
from progressgym_env.errors import ModelLoadError

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


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


LOAD_MARGIN = 1.2
"""Memory asked for per byte of weights when placing a model (buffers, the KV cache of a forward pass)."""

_GIB = 2**30


def parameter_count(config: Any) -> int:
    """Parameters of a decoder-only transformer (Llama, Mistral, Qwen2, SmolLM2 shapes) from its HF config.

    Embeddings, per layer the attention projections (grouped-query k/v) and the gated MLP (3 matrices)
    and two norms, the final norm, and the LM head unless tied. Biases (rare in these families) are
    left out: under 0.1% of the weights.

    :param config: a ``transformers.PretrainedConfig`` (or anything with its attribute names).
    :raises ModelLoadError: the config lacks a field the count needs.
    """
    try:
        vocab, hidden = int(config.vocab_size), int(config.hidden_size)
        layers, inner = int(config.num_hidden_layers), int(config.intermediate_size)
        heads = int(config.num_attention_heads)
        kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    except (AttributeError, TypeError) as exc:
        raise ModelLoadError(f"cannot count the parameters of this model config ({exc})") from None
    head_dim = int(getattr(config, "head_dim", None) or hidden // heads)
    attention = hidden * heads * head_dim * 2 + hidden * kv_heads * head_dim * 2
    per_layer = attention + 3 * hidden * inner + 2 * hidden
    tied = bool(getattr(config, "tie_word_embeddings", False))
    return vocab * hidden * (1 if tied else 2) + layers * per_layer + hidden


def available_memory(device: str) -> dict[str, int]:
    """Free bytes where a model could go: ``device`` (one GPU, or CPU RAM), all visible GPUs, CPU RAM.

    :param device: ``cpu``, ``cuda`` or ``cuda:N``.
    :return: ``{"device": ..., "gpus": ..., "n_gpus": ..., "cpu": ...}`` (0 where unknown).
    """
    cpu = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                cpu = int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    out = {"device": cpu, "gpus": 0, "n_gpus": 0, "cpu": cpu}
    if device.startswith("cuda"):
        import torch

        n = torch.cuda.device_count()
        free = [int(torch.cuda.mem_get_info(i)[0]) for i in range(n)]
        index = int(device.split(":", 1)[1]) if ":" in device else torch.cuda.current_device()
        out.update(device=free[index] if free else 0, gpus=sum(free), n_gpus=n)
    return out


def plan_placement(
    config: Any, *, device: str, dtype_bytes: int, memory: dict[str, int] | None = None
) -> tuple[str | None, int]:
    """Where a model goes: on ``device`` as it is, sharded over the GPUs (``"auto"``), or a clear error.

    The need is computed from the config's parameter count before anything is loaded: weights times
    ``dtype_bytes`` times :data:`LOAD_MARGIN`. On CUDA a model that fits the one GPU is loaded there;
    one that only fits all visible GPUs together is sharded across them by accelerate
    (``device_map="auto"``); on CPU it must fit the free RAM.

    :param config: the model's HF config.
    :param device: ``cpu``, ``cuda`` or ``cuda:N``.
    :param dtype_bytes: bytes per weight (2 for bfloat16, 4 for float32).
    :param memory: :func:`available_memory` of ``device`` (measured when None; tests pass their own).
    :return: (device_map for ``from_pretrained`` or None, bytes needed).
    :raises ModelLoadError: the model fits nowhere; the message gives the memory it needs and what is free.
    """
    params = parameter_count(config)
    need = int(params * dtype_bytes * LOAD_MARGIN)
    memory = memory if memory is not None else available_memory(device)
    what = (
        f"{params / 1e9:.1f} B parameters at {dtype_bytes} bytes each need about {need / _GIB:.0f} GiB "
        f"({params * dtype_bytes / _GIB:.0f} GiB of weights, x{LOAD_MARGIN} for buffers)"
    )
    if not device.startswith("cuda"):
        if memory["cpu"] and need > memory["cpu"]:
            raise ModelLoadError(
                f"the model does not fit in CPU memory: {what}, but {memory['cpu'] / _GIB:.1f} GiB is free; "
                "use a GPU machine (device='cuda') or a smaller model"
            )
        return None, need
    if need <= memory["device"]:
        return None, need
    if need <= memory["gpus"]:
        return "auto", need
    raise ModelLoadError(
        f"the model does not fit on the GPUs: {what}, but the {memory['n_gpus']} visible GPU(s) have "
        f"{memory['gpus'] / _GIB:.0f} GiB free together ({memory['device'] / _GIB:.0f} GiB on {device}); "
        "give it more (or larger) GPUs"
    )


def _placement_for(path_or_id: str, device: str, torch_dtype: Any) -> str | None:
    """The device_map for :func:`load_causal_lm` (None when the config cannot be read: let loading report it)."""
    from transformers import AutoConfig

    from progressgym_env.evaluator.choosers.loading import resolve_model_source

    try:
        source, _ = resolve_model_source(path_or_id)
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError, ModelLoadError):
        return None
    try:
        dtype_bytes = int(torch_dtype.itemsize)
    except AttributeError:  # pragma: no cover - old torch
        dtype_bytes = 4
    try:
        return plan_placement(config, device=device, dtype_bytes=dtype_bytes)[0]
    except ModelLoadError as exc:
        raise ModelLoadError(f"cannot load {path_or_id!r}: {exc}") from None


def load_causal_lm(path_or_id: str, *, device: str = "cpu", dtype: str = "auto") -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer, in eval mode, on ``device``, with a pad token set.

    Before loading, the memory the weights need is computed from the model's config
    (:func:`plan_placement`): a model too large for one GPU (the 70B proxies) is sharded over all
    visible GPUs by accelerate (``device_map="auto"``), and one that fits nowhere is refused with the
    memory it needs.

    :param path_or_id: a local folder saved with ``save_pretrained`` or a hub id.
    :param device: ``cpu``, ``cuda`` or ``cuda:N`` (resolve ``auto`` first with :func:`resolve_device`).
    :param dtype: ``auto``, ``float32``, ``bfloat16`` or ``float16``.
    :raises ModelLoadError: missing path, a folder without tokenizer, a hub id that cannot be fetched, or
        a model larger than the memory available.
    """
    from transformers.utils import logging as hf_logging

    from progressgym_env.evaluator.choosers.loading import load_model_and_tokenizer

    torch_dtype = resolve_dtype(dtype, device)
    device_map = _placement_for(path_or_id, device, torch_dtype)
    bars_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a "Loading weights" bar per century would drown the env's output
    try:
        model, tokenizer = load_model_and_tokenizer(
            path_or_id, device=device, dtype=torch_dtype, device_map=device_map
        )
    finally:
        if bars_on:
            hf_logging.enable_progress_bar()
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ModelLoadError(f"the tokenizer of {path_or_id!r} has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    return model, tokenizer


def check_hub_source(path_or_id: str) -> None:
    """Offline, fail at once on a hub id that is not cached (no imports, no retries); local paths pass.

    Runs before anything slow (the trainer imports take seconds), so an offline run without the hub
    model ends in well under a second with the offline options named.
    """
    from progressgym_env.common.model_sources import resolve_model
    from progressgym_env.common.paths import looks_like_path

    text = str(path_or_id)
    if looks_like_path(text) or Path(text).expanduser().exists():
        return  # local: check_model_source reports what is wrong with it
    try:
        name = str(resolve_model(text))  # a registered source name becomes its cached folder
    except ModelLoadError:
        return
    if not Path(name).expanduser().exists():
        require_hub_model(name)


def check_model_source(path_or_id: str) -> None:
    """Fail early, before any loading, on a missing local path, a folder without a tokenizer, or a hub id
    that is neither cached nor reachable (offline: :func:`~progressgym_env.common.hub.require_hub_model`)."""
    from progressgym_env.evaluator.choosers.loading import hub_sources, resolve_model_source

    for source in hub_sources(*resolve_model_source(path_or_id)):
        require_hub_model(source)


_IDENTITY_FILES = ("config.json", "adapter_config.json", "generation_config.json")
_HASH_MEMO = "file-sha256.json"


def _file_sha256(file: Path, memo: dict[str, Any]) -> str:
    """Whole-file SHA-256, reused from ``memo`` while the file's size and mtime are unchanged."""
    from progressgym_env.common.fingerprint import file_fingerprint

    stat = file.stat()
    key = str(file.resolve())
    seen = memo.get(key)
    if isinstance(seen, dict) and seen.get("size") == stat.st_size and seen.get("mtime_ns") == stat.st_mtime_ns:
        return str(seen["sha256"])
    digest = file_fingerprint(file)
    memo[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
    return digest


def _load_memo(cache_dir: str | Path | None) -> tuple[Path, dict[str, Any]]:
    import json

    from progressgym_env.common.cache import cache_root

    path = cache_root(cache_dir) / _HASH_MEMO
    try:
        memo = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}
    return path, memo if isinstance(memo, dict) else {}


def model_identity(path_or_id: str, *, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """What identifies a checkpoint in cache keys: a hash of its *content*, not of its name.

    A local folder (a full model or a PEFT adapter) is identified by the SHA-256 of its config files
    (``config.json``, ``adapter_config.json``, ``generation_config.json``) and of every weight file
    (``.safetensors``, ``.bin``, ``.pt``, ``.gguf``), each hashed whole. Two copies of one model in two
    folders get the same identity, so they are measured once; a retrained model with the same name
    gets a new one. Whole-file hashes of a 16 GB checkpoint take a minute, so each is remembered (by
    path, size and modification time) in ``file-sha256.json`` of the cache folder. A hub id that is
    not a local folder is identified by the id itself (its files are not here to hash).

    :param path_or_id: a local folder or a hub id.
    :param cache_dir: the cache folder of the hash memo (None: ``$PROGRESSGYM_CACHE`` or the default).
    :return: ``{"model": str, "sha256": hex digest}``.
    """
    path = Path(str(path_or_id)).expanduser()
    digest = hashlib.sha256()
    if not path.is_dir():
        digest.update(str(path_or_id).encode())
        return {"model": str(path_or_id), "sha256": digest.hexdigest()}
    memo_path, memo = _load_memo(cache_dir)
    before = dict(memo)
    for file in sorted(path.iterdir()):
        if file.is_file() and not is_temp_file(file) and (
                file.name in _IDENTITY_FILES or file.name.endswith(_WEIGHT_SUFFIXES)):
            digest.update(f"{file.name}:{_file_sha256(file, memo)}\n".encode())
    if memo != before:
        import json

        from progressgym_env.common.atomic import atomic_write_text

        try:
            atomic_write_text(memo_path, json.dumps(memo, indent=1, sort_keys=True) + "\n")
        except OSError:  # a read-only cache only costs re-hashing next time
            pass
    return {"model": str(path.resolve()), "sha256": digest.hexdigest()}


def content_key(identities: Sequence[dict[str, Any]], *extra: Any) -> str:
    """SHA-256 over the models' content hashes (not their names) and JSON-able extras: the measurement cache key.

    :param identities: :func:`model_identity` results, in order.
    :param extra: further JSON-able parts of the key (e.g. an evaluator fingerprint).
    """
    return json_fingerprint([[identity["sha256"] for identity in identities], list(extra)])


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
