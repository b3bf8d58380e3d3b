"""Synthetic century proxies (make-proxies) on a tiny local model: outputs, resume, bad settings."""

from __future__ import annotations

import itertools
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")

from llm_fixtures import tiny_model_dir  # noqa: F401

from progressgym_env.errors import ConfigError, HistoryFormatError
from progressgym_env.history import load_history_file
from progressgym_env.llm import synthetic_proxies as sp

pytestmark = pytest.mark.filterwarnings("ignore::progressgym_env.evaluator.bank.BankDefectWarning")

CENTURIES = list(range(13, 22))


def _config(base: Path, out: Path, **kw: Any) -> sp.SyntheticProxyConfig:
    settings: dict[str, Any] = {
        "base": str(base),
        "out": str(out),
        "eval_max_scenarios_per_dim": 1,
        "pairs_per_unit": 2,
        "dpo_max_steps": 1,
        "dpo_batch_size": 2,
        "lora_r": 2,
        "progress": False,
        "device": "cpu",
    }
    settings.update(kw)
    return sp.SyntheticProxyConfig(**settings)


@pytest.fixture(scope="module")
def built_real(
    tiny_model_dir: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[sp.SyntheticProxyConfig, Any, list]:
    """Nine proxies by real chained DPO and real measurement (slow tier)."""
    config = _config(tiny_model_dir, tmp_path_factory.mktemp("proxies") / "out")
    history, records = sp.build_synthetic_proxies(config)
    return config, history, records


@pytest.fixture(scope="module")
def built(
    tiny_model_dir: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[sp.SyntheticProxyConfig, Any, list]:
    """Nine proxies through the real pipeline (models loaded from the previous century's folder, saved
    atomically, records and histories written) with the DPO step and the measurement stubbed out: the
    orchestration tests do not need training. Real DPO is covered by ``built_real`` (slow) and by
    ``test_llm_backend.py::test_dpo_update_raises_the_pushed_dimension``; the stubs are active only
    while this fixture builds, so later calls (resume, interruption) run the real update.
    """
    from progressgym_env.llm.dpo_update import DPOStats

    measured = iter(range(100))

    def fake_measure(model: Any, tokenizer: Any, evaluator: Any, batch_size: int) -> tuple[np.ndarray, float]:
        return np.full(19, 0.3 + 0.04 * next(measured)), 0.0

    def fake_dpo(model: Any, tokenizer: Any, rows: Any, config: Any, **kwargs: Any) -> tuple[Any, DPOStats]:
        return model, DPOStats(examples=len(rows), steps=1, seconds=0.0, loss=0.0, built=len(rows), trained=len(rows))

    config = _config(tiny_model_dir, tmp_path_factory.mktemp("proxies-stubbed") / "out")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sp, "_measure", fake_measure)
        patch.setattr("progressgym_env.llm.dpo_update.dpo_update", fake_dpo)
        history, records = sp.build_synthetic_proxies(config)
    return config, history, records


def test_century_action_is_the_clipped_logit_gap() -> None:
    target = np.full(19, 0.5)
    measured = np.full(19, 0.5)
    measured[0], measured[1] = 0.269, 0.99  # logit -1.0, +4.6
    a = sp.century_action(target, measured, capacity=2.0)
    assert a.dtype == np.float32 and a.shape == (19,)
    assert a[0] == pytest.approx(0.5, abs=1e-3) and a[1] == -1.0 and np.all(a[2:] == 0)


@pytest.mark.parametrize("which", ["built", pytest.param("built_real", marks=pytest.mark.slow)])
def test_nine_proxies_and_a_measured_history(which: str, request: pytest.FixtureRequest) -> None:
    config, _, records = request.getfixturevalue(which)
    out = Path(config.out)
    assert [r.century for r in records] == CENTURIES
    for century in CENTURIES:
        folder = out / f"C{century:03d}"
        assert (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file()
        assert (folder / sp.CENTURY_RECORD).is_file()
    on_disk = load_history_file(out / "history.json")
    assert on_disk.value_space.name == "moral19" and on_disk.values.shape == (9, 19)
    np.testing.assert_allclose(on_disk.values, [r.values for r in records])
    # the history records what was measured, not the targets
    targets = load_history_file(out / "targets.json")
    assert not np.allclose(on_disk.values, targets.values)
    np.testing.assert_allclose(on_disk.provenance["targets"], targets.values)
    assert on_disk.provenance["source"] == "synthetic-proxies"
    assert len(on_disk.provenance["models"]) == 9
    for record in records:
        assert record.pairs > 0 and record.dpo_steps == 1
    # chained: each century starts where the previous one was measured
    for before, after in itertools.pairwise(records):
        np.testing.assert_allclose(after.start_values, before.values)


def test_proxies_load_as_ordinary_checkpoints(built: Any) -> None:
    from progressgym_env.evaluator.choosers import load_chooser

    config, _, _ = built
    chooser = load_chooser(Path(config.out) / "C015")
    assert chooser.model.config.model_type == "llama"


def test_rerun_resumes_without_training(built: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config, history, _ = built

    def no_training(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a finished century was trained again")

    monkeypatch.setattr("progressgym_env.llm.dpo_update.dpo_update", no_training)
    again, _ = sp.build_synthetic_proxies(config)
    np.testing.assert_array_equal(again.values, history.values)


def test_interrupted_run_finishes_only_the_missing_centuries(
    built: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, history, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(config.out, copy)
    for century in (20, 21):
        shutil.rmtree(copy / f"C{century:03d}")
    (copy / "history.json").unlink()
    (copy / ".C020.tmp-crashed").mkdir()  # debris of a killed save
    import progressgym_env.llm.dpo_update as dpo_module

    calls: list[int] = []
    real = dpo_module.dpo_update

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(dpo_module, "dpo_update", counting)
    resumed, new_records = sp.build_synthetic_proxies(replace(config, out=str(copy)))
    assert len(calls) == 2
    np.testing.assert_array_equal(resumed.values[:7], history.values[:7])
    assert [r.century for r in new_records] == CENTURIES
    assert (copy / "history.json").is_file()


def test_other_settings_in_the_same_folder_are_refused(built: Any) -> None:
    config, _, _ = built
    with pytest.raises(ConfigError, match="other settings.*capacity"):
        sp.build_synthetic_proxies(replace(config, capacity=3.0))


def test_target_history_must_be_moral19(tiny_model_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    with pytest.raises(HistoryFormatError, match="moral19"):
        sp.build_synthetic_proxies(_config(tiny_model_dir, tmp_path / "x", history="corpus"))


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="capacity"):
        sp.SyntheticProxyConfig(capacity=0)
    with pytest.raises(ConfigError, match="dpo_max_steps"):
        sp.SyntheticProxyConfig(dpo_max_steps=0)


def test_cli_is_discovered() -> None:
    from progressgym_env.cli import build_parser
    from progressgym_env.cli.dataclass_args import dataclass_from_args

    args = build_parser().parse_args(
        ["make-proxies", "--out", "d", "--no-chain", "--eval-max-scenarios-per-dim", "none"]
    )
    args = dataclass_from_args(sp.SyntheticProxyConfig, args)  # the options parse into the config itself
    assert args.out == "d" and args.chain is False and args.eval_max_scenarios_per_dim is None
    assert args.base == "smollm2-135m-instruct" and args.history == "procedural-moral19"


def test_records_are_json(built: Any) -> None:
    config, _, _ = built
    data = json.loads((Path(config.out) / "C013" / sp.CENTURY_RECORD).read_text())
    assert set(data) >= {"century", "target", "action", "values", "dpo_seconds", "eval_seconds"}
