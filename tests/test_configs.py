"""Composed configs: LLMConfig nests EvaluatorConfig and passes dpo_args/sft_args through to TRL."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from progressgym_env.errors import ConfigError
from progressgym_env.evaluator import EvaluatorConfig, ValueEvaluator
from progressgym_env.llm.config import (
    DPO_DEFAULTS,
    RENAMED_KEYS,
    SFT_DEFAULTS,
    LLMConfig,
)

pytestmark = pytest.mark.filterwarnings("ignore::progressgym_env.evaluator.bank.BankDefectWarning")


@pytest.fixture(scope="module")
def trl_configs() -> tuple[object, object]:
    """The dpo_config / sft_config builders (they import TRL and transformers)."""
    pytest.importorskip("trl")
    from progressgym_env.llm.dpo_update import dpo_config
    from progressgym_env.llm.sft_update import sft_config

    return dpo_config, sft_config


# ------------------------------------------------------------------------- defaults and round trips


def test_default_numbers_are_the_former_flat_defaults() -> None:
    cfg = LLMConfig()
    assert cfg.dpo_args == {
        "per_device_train_batch_size": 8,
        "num_train_epochs": 1.0,
        "max_steps": -1,
        "learning_rate": 5e-5,
        "beta": 0.1,
        "max_length": 512,
    }
    assert cfg.sft_args == {
        "per_device_train_batch_size": 8,
        "learning_rate": 5e-5,
        "max_length": 512,
        "completion_only_loss": True,
        "packing": False,
    }
    assert cfg.evaluator == EvaluatorConfig(
        split="eval",
        formats=("label", "yesno", "repeat"),
        max_scenarios_per_dim=None,
        seed=0,
        batch_size=64,
    )


def test_partial_trainer_args_keep_the_other_defaults() -> None:
    cfg = LLMConfig(dpo_args={"beta": 0.3, "warmup_steps": 2})
    assert cfg.dpo_args == {**DPO_DEFAULTS, "beta": 0.3, "warmup_steps": 2}
    assert cfg.sft_args == SFT_DEFAULTS
    assert LLMConfig(dpo_args={"beta": 0.1}) == LLMConfig()  # spelling out a default changes nothing
    assert LLMConfig(dpo_args={"beta": 0.1}).fingerprint() == LLMConfig().fingerprint()


def test_json_round_trip_with_nested_evaluator(tmp_path: Path) -> None:
    cfg = LLMConfig.from_any(
        {
            "evaluator": {"split": "train", "seed": 7, "eval_fraction": 0.4, "formats": ["label", "repeat"]},
            "dpo_args": {"loss_type": "ipo", "gradient_accumulation_steps": 4},
            "sft_args": {"learning_rate": 1e-4},
        }
    )
    assert isinstance(cfg.evaluator, EvaluatorConfig) and cfg.evaluator.formats == ("label", "repeat")
    assert cfg.evaluator.batch_size == 64
    data = json.loads(json.dumps(cfg.to_dict()))
    assert data["evaluator"]["seed"] == 7 and data["dpo_args"]["loss_type"] == "ipo"
    assert LLMConfig.from_any(data) == cfg
    assert LLMConfig.from_json(cfg.save_json(tmp_path / "c.json")) == cfg


def test_evaluator_seed_and_eval_fraction_are_settable() -> None:
    cfg = LLMConfig.from_any({"evaluator": {"seed": 3, "eval_fraction": 0.3, "max_scenarios_per_dim": 1}})
    assert cfg.evaluator.seed == 3 and cfg.evaluator.eval_fraction == 0.3
    evaluator = ValueEvaluator(cfg.evaluator)
    other = ValueEvaluator(EvaluatorConfig(seed=4, eval_fraction=0.3, max_scenarios_per_dim=1, batch_size=64))
    assert evaluator.config is cfg.evaluator
    # the seed picks another subset, so the measurement (and its cache key) differs
    assert [q.key for q in evaluator.questions()] != [q.key for q in other.questions()]
    assert evaluator.fingerprint() != other.fingerprint()
    assert (
        LLMConfig(evaluator=EvaluatorConfig(seed=3, batch_size=64)).fingerprint() != LLMConfig().fingerprint()
    )
    # a nested dict keeps the backend's evaluator defaults for the keys it leaves out (batch 64)
    assert LLMConfig.from_any({"evaluator": {"seed": 3}}).evaluator == EvaluatorConfig(seed=3, batch_size=64)


def test_fingerprint_leaves_out_operational_settings() -> None:
    base = LLMConfig().fingerprint()
    assert (
        LLMConfig(run_dir="a", history_cache_dir="b", device="cpu", show_progress=True).fingerprint() == base
    )
    assert LLMConfig(dpo_args={"report_to": "none", "logging_steps": 5}).fingerprint() == base
    assert LLMConfig(dpo_args={"beta": 0.2}).fingerprint() != base
    assert LLMConfig(sft_args={"learning_rate": 1e-4}).fingerprint() != base
    assert LLMConfig(evaluator=EvaluatorConfig(formats=("label", "repeat"))).fingerprint() != base


# ------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("key", "value", "spelling"),
    [
        ("dpo_beta", 0.2, "dpo_args={'beta': 0.2}"),
        ("dpo_batch_size", 4, "dpo_args={'per_device_train_batch_size': 4}"),
        ("dpo_epochs", 2.0, "dpo_args={'num_train_epochs': 2.0}"),
        ("sft_learning_rate", 1e-3, "sft_args={'learning_rate': 0.001}"),
        ("eval_split", "train", "evaluator={'split': 'train'}"),
        ("eval_max_scenarios_per_dim", 2, "evaluator={'max_scenarios_per_dim': 2}"),
        ("max_length", 256, "dpo_args={'max_length': 256}"),
    ],
)
def test_old_flat_keys_name_the_new_spelling(key: str, value: object, spelling: str) -> None:
    with pytest.raises(
        ConfigError,
        match=f"key '{key}' was renamed: write {spelling}".replace("(", r"\("),
    ):
        LLMConfig.from_any({key: value})


def test_every_renamed_key_is_refused() -> None:
    for key in RENAMED_KEYS:
        with pytest.raises(ConfigError, match="was renamed"):
            LLMConfig.from_any({key: 1})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"evaluator": {"bogus": 1}},
            r"unknown llm backend_config evaluator key\(s\) \['bogus'\]",
        ),
        ({"evaluator": {"split": "test"}}, "split must be"),
        ({"dpo_args": {"seed": 1}}, r"dpo_args\['seed'\] is set by the backend"),
        (
            {"sft_args": {"num_train_epochs": 3}},
            r"sft_args\['num_train_epochs'\] is set by the backend",
        ),
        (
            {"dpo_args": {"learning_rate": 0}},
            r"dpo_args\['learning_rate'\] must be > 0",
        ),
        (
            {"dpo_args": {"per_device_train_batch_size": 0}},
            "per_device_train_batch_size.*positive integer",
        ),
        ({"dpo_args": "beta=0.1"}, "dpo_args must be a dict"),
        ({"dpo_args": {"callback": object()}}, "JSON-serialisable"),
        ({"pairs": 3}, r"unknown llm backend_config key\(s\) \['pairs'\]"),
    ],
)
def test_bad_composed_settings(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        LLMConfig.from_any(kwargs)


# --------------------------------------------------------------------------------- TRL pass-through


def test_dpo_args_reach_the_trl_config(trl_configs, tmp_path: Path) -> None:
    dpo_config, _ = trl_configs
    cfg = LLMConfig(
        dpo_args={
            "warmup_steps": 3,
            "loss_type": "ipo",
            "gradient_accumulation_steps": 2,
            "beta": 0.25,
        }
    )
    args = dpo_config(cfg, device="cpu", seed=11, output_dir=str(tmp_path))
    assert type(args).__name__ == "DPOConfig"
    assert args.warmup_steps == 3 and args.gradient_accumulation_steps == 2 and args.beta == 0.25
    assert args.loss_type in ("ipo", ["ipo"])
    # the package's defaults and the backend's own arguments are still there
    assert args.learning_rate == 5e-5 and args.per_device_train_batch_size == 8 and args.max_length == 512
    assert args.max_steps == -1 and args.num_train_epochs == 1.0
    assert args.seed == 11 and args.data_seed == 11 and args.use_cpu and args.output_dir == str(tmp_path)


def test_sft_args_and_pull_epochs_reach_the_trl_config(trl_configs, tmp_path: Path) -> None:
    _, sft_config = trl_configs
    cfg = LLMConfig(sft_args={"learning_rate": 2e-4, "lr_scheduler_type": "constant"})
    args = sft_config(cfg, epochs=2.0, device="cpu", seed=5, output_dir=str(tmp_path))
    assert type(args).__name__ == "SFTConfig"
    assert args.num_train_epochs == 2.0 and args.learning_rate == 2e-4
    assert getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type) == "constant"
    assert args.completion_only_loss is True and args.packing is False and args.max_length == 512


def test_unknown_trl_key_is_named(trl_configs, tmp_path: Path) -> None:
    dpo_config, sft_config = trl_configs
    with pytest.raises(
        ConfigError,
        match=r"dpo_args: DPOConfig has no field 'beat' \(did you mean 'beta'\?\)",
    ):
        dpo_config(
            LLMConfig(dpo_args={"beat": 0.2}),
            device="cpu",
            seed=0,
            output_dir=str(tmp_path),
        )
    with pytest.raises(ConfigError, match="sft_args: SFTConfig has no field 'no_such_option'"):
        sft_config(
            LLMConfig(sft_args={"no_such_option": 1}),
            epochs=1.0,
            device="cpu",
            seed=0,
            output_dir=str(tmp_path),
        )


def test_backend_checks_trl_keys_before_any_model_is_loaded(trl_configs) -> None:
    from progressgym_env.llm.backend import LLMBackend

    with pytest.raises(ConfigError, match="DPOConfig has no field 'warmup_ration'"):
        LLMBackend(
            {
                "dpo_args": {"warmup_ration": 0.1},
                "proxy_models": [f"/nonexistent/m{i}" for i in range(9)],
            }
        )


def test_a_missing_trl_names_the_llm_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from progressgym_env.errors import MissingExtraError
    from progressgym_env.llm.dpo_update import dpo_config

    monkeypatch.setitem(sys.modules, "trl", None)  # what a minimal install looks like to an import
    with pytest.raises(MissingExtraError, match=r"pip install 'progressgym_env\[llm\]'") as info:
        dpo_config(LLMConfig(), device="cpu", seed=0, output_dir=str(tmp_path))
    assert isinstance(info.value, ImportError) and info.value.extra == "llm"


def test_default_trainer_configs_equal_the_former_hand_mapped_ones(trl_configs, tmp_path: Path) -> None:
    """The TRL objects built from a default config are field for field what the flat config produced."""
    import trl

    from progressgym_env.llm.training import trainer_kwargs

    dpo_config, sft_config = trl_configs
    cfg = LLMConfig()
    common = {**trainer_kwargs(cfg, "cpu", 3, str(tmp_path)), "max_length": 512}
    former_dpo = trl.DPOConfig(
        **common,
        per_device_train_batch_size=8,
        num_train_epochs=1.0,
        max_steps=-1,
        learning_rate=5e-5,
        beta=0.1,
    )
    former_sft = trl.SFTConfig(
        **common,
        per_device_train_batch_size=8,
        num_train_epochs=2.0,
        learning_rate=5e-5,
        completion_only_loss=True,
        packing=False,
    )
    assert dpo_config(cfg, device="cpu", seed=3, output_dir=str(tmp_path)).to_dict() == former_dpo.to_dict()
    built_sft = sft_config(cfg, epochs=2.0, device="cpu", seed=3, output_dir=str(tmp_path))
    assert built_sft.to_dict() == former_sft.to_dict()
