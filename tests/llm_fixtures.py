"""Session-wide tiny LLM fixtures for the evaluator and LLM-backend tests.

Import the fixtures into a test module with ``from llm_fixtures import tiny_model_dir, tiny_lm``.
The model is built once per test process (cached here), whichever modules import the fixtures, in
a session temp folder, through ``progressgym_env.llm.tiny.build_tiny_model`` and loaded back through
``from_pretrained`` like any real checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

_BUILT: dict[str, Path] = {}


def build_once(base: Path, name: str = "tiny-llama", **kwargs: Any) -> Path:
    """Build a tiny model under ``base/name`` the first time it is asked for in this process."""
    key = f"{name}:{sorted(kwargs.items())}"
    if key not in _BUILT:
        pytest.importorskip("transformers")
        from progressgym_env.llm.tiny import build_tiny_model

        _BUILT[key] = build_tiny_model(base / name, **kwargs)
    return _BUILT[key]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of a tiny random-init Llama + locally trained BPE tokenizer with a chat template."""
    return build_once(tmp_path_factory.getbasetemp(), seed=0)


@pytest.fixture(scope="session")
def tiny_lm(tiny_model_dir: Path) -> tuple[Any, Any]:
    """(model, tokenizer) loaded from :func:`tiny_model_dir` (shared: do not train it in place)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir)
