"""Hub models offline: a clear error within a second naming the offline options, or the cached copy, no retries."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from progressgym_env.common import hub
from progressgym_env.common.hub import hub_offline_reason, require_hub_model
from progressgym_env.errors import ModelLoadError

MODEL = "PKU-Alignment/ProgressGym-HistLlama3-8B-C013-instruct-v0.2"


@pytest.fixture
def online_flags_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY",
                     "all_proxy", "HF_ENDPOINT"):
        monkeypatch.delenv(variable, raising=False)
    hub._probe.cache_clear()
    yield
    hub._probe.cache_clear()


def test_offline_flag_and_no_cache_is_an_error_naming_the_offline_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "is_cached", lambda model_id: False)
    with pytest.raises(ModelLoadError) as caught:
        require_hub_model(MODEL)
    message = str(caught.value)
    assert MODEL in message and "HF_HUB_OFFLINE=1 is set" in message
    assert "tiny_world" in message and "smollm2-135m-instruct" in message and "humans='history'" in message


def test_no_network_is_one_probe_without_retries(online_flags_unset: None, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    def unreachable(address: tuple[str, int], timeout: float) -> socket.socket:
        calls.append((address, timeout))
        raise OSError(-2, "Name or service not known")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    monkeypatch.setattr(hub, "is_cached", lambda model_id: False)
    for _ in range(3):
        with pytest.raises(ModelLoadError, match=r"huggingface.co:443 cannot be reached"):
            require_hub_model(MODEL)
    assert calls == [(("huggingface.co", 443), hub.PROBE_TIMEOUT_S)]  # one attempt per process


def test_a_cached_copy_is_read_locally_when_the_hub_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "is_cached", lambda model_id: model_id == MODEL)
    assert require_hub_model(MODEL) is True


def test_online_nothing_changes(online_flags_unset: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "create_connection", lambda address, timeout: socket.socket())
    assert hub_offline_reason() is None
    assert require_hub_model(MODEL) is False
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")  # a direct probe would fail behind a proxy: skipped
    monkeypatch.setattr(socket, "create_connection", lambda address, timeout: pytest.fail("probed"))
    assert hub_offline_reason() is None


def test_loading_a_cached_hub_model_offline_passes_local_files_only(monkeypatch: pytest.MonkeyPatch) -> None:
    transformers = pytest.importorskip("transformers")
    from progressgym_env.evaluator.choosers.loading import load_model_and_tokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "is_cached", lambda model_id: True)
    seen: dict[str, dict[str, Any]] = {}

    def fake(kind: str) -> Any:
        return classmethod(lambda cls, source, **kwargs: seen.setdefault(kind, kwargs))

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fake("tokenizer"))
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", fake("model"))
    load_model_and_tokenizer(MODEL)
    assert seen == {"tokenizer": {"local_files_only": True}, "model": {"local_files_only": True}}


def test_the_llm_env_fails_in_a_second_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("transformers")
    import gymnasium as gym

    import progressgym_env  # noqa: F401

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "is_cached", lambda model_id: False)
    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match="tiny_world"):
        gym.make("PG-Follow-v0", backend="llm", history="models")
    assert time.perf_counter() - start < 5.0  # before the trainer imports and the question bank (11-15 s)
