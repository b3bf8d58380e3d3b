"""Load a model and tokenizer from a folder or hub id, with errors that say what is missing.

``from_pretrained`` errors on a bad path are long and generic (a missing folder is reported as a
failed hub lookup; a folder without tokenizer files as a missing ``vocab_file``). These helpers check
the folder first and raise :class:`~progressgym_env.errors.ModelLoadError` naming the problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from progressgym_env.common.hub import require_hub_model
from progressgym_env.common.paths import looks_like_path
from progressgym_env.errors import MissingExtraError, ModelLoadError

TOKENIZER_FILES: tuple[str, ...] = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "vocab.json",
    "spiece.model",
)
"""Any of these in a model folder means it carries a tokenizer."""

CHOOSER_KINDS: tuple[str, ...] = ("loglik", "generation", "vllm")


def resolve_model_source(
    model_path_or_id: str | Path, tokenizer_path: str | Path | None = None
) -> tuple[str, str]:
    """Check a model reference and return (model source, tokenizer source) for ``from_pretrained``.

    :param model_path_or_id: a local model folder, a hub id, or a registered model source name such as
        ``smollm2-135m-instruct`` (converted once into a local cache, see
        :mod:`progressgym_env.common.model_sources`).
    :param tokenizer_path: where the tokenizer lives, when not beside the weights.
    :raises ModelLoadError: a path that does not exist, is not a model folder, or has no tokenizer.
    """
    from progressgym_env.common.model_sources import resolve_model  # registered names -> cached folder

    name = str(resolve_model(model_path_or_id))
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"model path {path} is a file; expected a folder saved with save_pretrained")
        if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
            raise ModelLoadError(
                f"model folder {path} has no config.json; expected a folder saved with save_pretrained"
            )
        model_source = str(path)
        if tokenizer_path is None:
            if not any((path / f).is_file() for f in TOKENIZER_FILES):
                raise ModelLoadError(
                    f"model folder {path} has no tokenizer (none of {list(TOKENIZER_FILES)}); save the "
                    f"tokenizer there with tokenizer.save_pretrained(...) or pass tokenizer_path="
                )
            return model_source, model_source
    elif looks_like_path(name):
        raise ModelLoadError(f"model path {path} does not exist")
    else:
        model_source = name
    if tokenizer_path is None:
        return model_source, model_source
    tok = Path(str(tokenizer_path)).expanduser()
    if tok.exists():
        if not any((tok / f).is_file() for f in TOKENIZER_FILES):
            raise ModelLoadError(f"tokenizer folder {tok} has none of {list(TOKENIZER_FILES)}")
        return model_source, str(tok)
    if looks_like_path(str(tokenizer_path)):
        raise ModelLoadError(f"tokenizer path {tok} does not exist")
    return model_source, str(tokenizer_path)


def hub_sources(*sources: str) -> list[str]:
    """The distinct ``sources`` (from :func:`resolve_model_source`) that are hub ids, not local folders."""
    return [s for s in dict.fromkeys(sources) if not Path(s).expanduser().exists()]


def load_model_and_tokenizer(
    model_path_or_id: str | Path,
    *,
    tokenizer_path: str | Path | None = None,
    device: Any = None,
    dtype: Any = None,
    device_map: Any = None,
) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer via ``AutoModelForCausalLM`` / ``AutoTokenizer``.

    :param model_path_or_id: a local folder or a hub id (hub ids need network or a local cache).
    :param tokenizer_path: tokenizer location when not beside the weights.
    :param device: device to move the model to (default: leave on CPU); ignored with ``device_map``.
    :param dtype: torch dtype (or "auto"); default: as saved.
    :param device_map: passed to ``from_pretrained`` (e.g. ``"auto"``: accelerate shards the layers over
        the visible GPUs); the model is then left where accelerate placed it.
    :raises ModelLoadError: missing path, no tokenizer, or a hub id that cannot be fetched.
    """
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - the test env has the extra
        raise MissingExtraError("loading a model", "llm", "transformers") from exc
    model_source, tokenizer_source = resolve_model_source(model_path_or_id, tokenizer_path)
    # Offline, a hub id is read from the local cache without a hub request, or refused at once.
    cache_only = {source: require_hub_model(source) for source in hub_sources(model_source, tokenizer_source)}
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            tokenizer_source, **({"local_files_only": True} if cache_only.get(tokenizer_source) else {}))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not load a tokenizer from {tokenizer_source!r}: {exc}") from exc
    kwargs: dict[str, Any] = {"local_files_only": True} if cache_only.get(model_source) else {}
    if dtype is not None:
        kwargs["dtype"] = dtype
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        model = AutoModelForCausalLM.from_pretrained(model_source, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"could not load a causal LM from {model_source!r} (not a local folder; as a hub id it needs "
            f"network or a cached copy, and HF_HUB_OFFLINE may be set): {exc}"
        ) from exc
    if device is not None and device_map is None:
        model.to(device)
    return model, tokenizer


def load_chooser(
    model_path_or_id: str | Path,
    *,
    kind: str = "loglik",
    tokenizer_path: str | Path | None = None,
    device: Any = None,
    dtype: Any = None,
    **chooser_kwargs: Any,
) -> Any:
    """Build a chooser for a saved model.

    :param model_path_or_id: a local folder or a hub id.
    :param kind: "loglik" (:class:`LogLikelihoodChooser`, default), "generation"
        (:class:`GenerationChooser`) or "vllm" (:class:`VLLMChooser`, GPU only).
    :param tokenizer_path: tokenizer location when not beside the weights.
    :param device: device for the HF choosers.
    :param dtype: torch dtype for the HF choosers (vLLM: pass ``dtype=`` as a string, it goes to
        ``vllm.LLM``).
    :param chooser_kwargs: passed to the chooser's constructor.
    :raises ModelLoadError: see :func:`load_model_and_tokenizer`.
    """
    if kind not in CHOOSER_KINDS:
        raise ValueError(f"kind must be one of {CHOOSER_KINDS}, got {kind!r}")
    if kind == "vllm":
        from progressgym_env.evaluator.choosers.vllm_chooser import VLLMChooser

        model_source, tokenizer_source = resolve_model_source(model_path_or_id, tokenizer_path)
        if dtype is not None:
            chooser_kwargs.setdefault("dtype", str(dtype).replace("torch.", ""))
        return VLLMChooser(model_source, tokenizer_path=tokenizer_source, **chooser_kwargs)
    model, tokenizer = load_model_and_tokenizer(
        model_path_or_id, tokenizer_path=tokenizer_path, device=device, dtype=dtype
    )
    if kind == "generation":
        from progressgym_env.evaluator.choosers.generation import GenerationChooser

        return GenerationChooser(model, tokenizer, **chooser_kwargs)
    from progressgym_env.evaluator.choosers.loglik import LogLikelihoodChooser

    return LogLikelihoodChooser(model, tokenizer, **chooser_kwargs)
