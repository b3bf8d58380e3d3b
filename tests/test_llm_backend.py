"""The ``llm`` backend on tiny locally built models: DPO updates, full episodes, checkpoint/resume, errors.

Nine tiny proxies share one random-init Llama (``build_tiny_model``) whose weights are perturbed with
a different seed per century, so they measure slightly differently. Evaluations use a small subset
of the bank (the ``repeat`` format only: the format a tiny random model can learn from) to stay fast.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("trl")
pytest.importorskip("peft")

import gymnasium as gym  # noqa: E402

import progressgym_env  # noqa: E402,F401
from progressgym_env.errors import ConfigError, ModelLoadError  # noqa: E402
from progressgym_env.llm.checkpoint import CheckpointError, CheckpointMismatchError  # noqa: E402
from progressgym_env.llm.config import LLMConfig  # noqa: E402
from progressgym_env.llm.proxies import HistoryCacheError  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

N_PROXIES = 9


@pytest.fixture(scope="session")
def tiny_proxies(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Nine tiny proxy checkpoints (century 13 first)."""
    import torch
    from transformers import AutoModelForCausalLM

    from progressgym_env.llm.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("proxies")
    base = build_tiny_model(root / "c13", seed=0)
    paths = [str(base)]
    for k in range(1, N_PROXIES):
        model = AutoModelForCausalLM.from_pretrained(base)
        gen = torch.Generator().manual_seed(k)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=gen) * 0.02)
        folder = root / f"c{13 + k}"
        model.save_pretrained(folder)
        for f in base.iterdir():
            if f.name.startswith(("tokenizer", "special_tokens", "chat_template")):
                shutil.copy(f, folder / f.name)
        paths.append(str(folder))
    return paths


@pytest.fixture(scope="session")
def history_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("history-cache")


def tiny_config(proxies: list[str], cache: Path, **overrides: Any) -> LLMConfig:
    settings: dict[str, Any] = dict(
        proxy_models=tuple(proxies),
        evaluator={"max_scenarios_per_dim": 1, "formats": ("repeat",), "batch_size": 64},
        train_formats=("repeat",),
        elicit_max_scenarios_per_dim=2,
        pairs_per_unit=4,
        dpo_args={"per_device_train_batch_size": 4, "learning_rate": 1e-2},
        sft_questions=4,
        sft_args={"per_device_train_batch_size": 4, "learning_rate": 1e-2},
        lora_r=4,
        lora_alpha=8,
        history_cache_dir=str(cache),
        device="cpu",
    )
    settings.update(overrides)
    return LLMConfig(**settings)


def policy(obs: np.ndarray) -> np.ndarray:
    """A deterministic agent that depends on the observation (so replays must reproduce it exactly)."""
    action = np.zeros(19, dtype=np.float32)
    action[10] = 1.0 if obs[10] <= 0.95 else 0.5
    action[15] = -0.5
    return action


def run_episode(env: gym.Env, seed: int, act_on: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Run one episode; ``act_on`` limits updates to those step indices (zero actions elsewhere)."""
    obs, _ = env.reset(seed=seed)
    for step in range(8):
        action = policy(obs) if act_on is None or step in act_on else np.zeros(19, dtype=np.float32)
        obs, reward, terminated, truncated, info = env.step(action)
        assert np.isfinite(reward) and not truncated
        if terminated:
            return info
    raise AssertionError("the episode did not terminate after 8 steps")


# ----------------------------------------------------------------------------------- config, data


def test_config_dict_round_trip_and_errors(tmp_path: Path) -> None:
    cfg = LLMConfig.from_any({"proxy_models": [f"m{i}" for i in range(9)], "pairs_per_unit": 8})
    assert cfg.proxy_ids()[0] == "m0" and cfg.agent_id() == "m0"
    assert LLMConfig.from_json(cfg.save_json(tmp_path / "c.json")) == cfg
    assert LLMConfig(run_dir="a").fingerprint() == LLMConfig(run_dir="b", device="cpu").fingerprint()
    assert LLMConfig(dpo_args={"beta": 0.2}).fingerprint() != LLMConfig().fingerprint()
    assert LLMConfig().proxy_ids()[8].endswith("ProgressGym-HistLlama3-8B-C021-instruct-v0.2")
    with pytest.raises(ConfigError, match="unknown llm backend_config key"):
        LLMConfig.from_any({"pairs": 3})
    with pytest.raises(ConfigError, match="must list 9 checkpoints"):
        LLMConfig(proxy_models=("a", "b"))
    with pytest.raises(ConfigError, match="pairs_per_unit"):
        LLMConfig(pairs_per_unit=0)


def test_preference_pairs_follow_the_action_sign_and_size() -> None:
    from progressgym_env.evaluator import load_question_bank
    from progressgym_env.llm.preference_data import build_preference_pairs

    bank = load_question_bank("train")
    action = np.zeros(19)
    action[10], action[3], action[16] = 1.0, -0.5, 0.25
    pairs = build_preference_pairs(bank, action, 16, np.random.default_rng(0))
    counts = {d: sum(p.dim == d for p in pairs) for d in (10, 3, 16)}
    assert counts == {10: 16, 3: 8, 16: 4} and len(pairs) == 28
    for p in pairs:
        scenario = bank.get(p.question.scenario_id)
        effects = scenario.option_effects(p.dim)
        shown = {text: p.question.order[j] for j, text in enumerate(p.question.candidates)}
        chosen, rejected = effects[shown[p.chosen]], effects[shown[p.rejected]]
        assert p.direction * (chosen - rejected) > 0, p
    again = build_preference_pairs(bank, action, 16, np.random.default_rng(0))
    assert [(p.question.key, p.chosen) for p in again] == [(p.question.key, p.chosen) for p in pairs]
    assert build_preference_pairs(bank, np.zeros(19), 16, np.random.default_rng(0)) == []
    with pytest.raises(ConfigError, match="train"):
        build_preference_pairs(load_question_bank("eval"), action, 16, np.random.default_rng(0))


# ---------------------------------------------------------------------------------------- DPO


def test_dpo_update_raises_the_pushed_dimension(tiny_proxies: list[str]) -> None:
    """A strong positive update on Harm_Care (dim 10) raises its measured value more than any other.

    A tiny random model cannot generalise across scenarios reliably, so the update data and the
    measurement share the same 8 train-split scenarios here; the backend itself always measures on
    the held-out eval split (see the episode tests).
    """
    from progressgym_env.evaluator import ValueEvaluator, load_question_bank
    from progressgym_env.evaluator.choosers.encoding import PromptEncoder
    from progressgym_env.evaluator.choosers.loglik import LogLikelihoodChooser
    from progressgym_env.llm.dpo_update import dpo_update
    from progressgym_env.llm.model_loading import load_causal_lm
    from progressgym_env.llm.preference_data import build_preference_pairs, dpo_rows

    cfg = LLMConfig(pairs_per_unit=32, dpo_args={"num_train_epochs": 2, "learning_rate": 2e-2,
                    "per_device_train_batch_size": 8}, lora_r=8, lora_alpha=16, train_formats=("repeat",),
                    evaluator={"formats": ("repeat",), "split": "train", "max_scenarios_per_dim": 8, "batch_size": 64})
    evaluator = ValueEvaluator(cfg.evaluator, bank=load_question_bank("train"))
    model, tokenizer = load_causal_lm(tiny_proxies[0])
    before = evaluator.evaluate(LogLikelihoodChooser(model, tokenizer, batch_size=64))
    action = np.zeros(19)
    action[10] = 1.0
    pairs = build_preference_pairs(evaluator.bank, action, cfg.pairs_per_unit, np.random.default_rng(0),
                                   cfg.train_formats)
    assert {p.question.scenario_id for p in pairs} <= {s.scenario_id for s in evaluator.bank.for_dim(10)}
    updated, stats = dpo_update(model, tokenizer, dpo_rows(pairs, PromptEncoder(tokenizer)), cfg, device="cpu", seed=0)
    after = evaluator.evaluate(LogLikelihoodChooser(updated, tokenizer, batch_size=64))
    assert stats.steps == 8 and stats.examples == 32
    assert after[10] > before[10] + 0.1, (before[10], after[10])
    others = np.delete(np.arange(19), 10)
    assert np.abs(after[others] - before[others]).max() < after[10] - before[10]  # the pushed dim moves most


# ------------------------------------------------------------------------------------ episodes


@pytest.mark.slow  # the fast default run covers full Follow episodes in test_follow_kill_and_resume_redoes_nothing
def test_follow_episode_end_to_end(tiny_proxies: list[str], history_cache: Path) -> None:
    cfg = tiny_config(tiny_proxies, history_cache)
    env = gym.make("PG-Follow-v0", history="models", backend="llm", backend_config=cfg, query_budget=38, record_in_info=True)
    backend = env.unwrapped.backend
    obs, info = env.reset(seed=3)
    assert obs.shape == (39,) and info["queries"] == 38
    np.testing.assert_allclose(info["model_values"], env.unwrapped.history.values[0])
    info = run_episode(env, seed=3)
    record = info["episode_record"]
    assert record["model"].shape == (8, 19) and np.isfinite(info["final_score"])
    assert record["backend"]["backend"] == "llm" and record["history_provenance"]["source"] == "models"
    assert backend.stats["dpo_updates"] == 8 and backend.stats["replayed_calls"] == 0
    assert not np.allclose(record["model"][-1], record["human"][0])  # the updates changed the model
    zero_env = gym.make("PG-Follow-v0", history="models", backend="llm", backend_config=cfg, query_budget=None)
    zero_env.reset(seed=0)
    _, _, _, _, info = zero_env.step(np.zeros(19, dtype=np.float32))
    np.testing.assert_array_equal(info["model_values"], zero_env.unwrapped.history.values[0])  # no update
    assert zero_env.unwrapped.backend.stats["dpo_updates"] == 0
    env.close()
    zero_env.close()


@pytest.mark.slow  # a killed and a resumed LLM episode on tiny proxies: about 17 s of CPU
def test_follow_kill_and_resume_redoes_nothing(tiny_proxies: list[str], history_cache: Path, tmp_path: Path) -> None:
    """Fast variant on PG-Follow: updates at centuries 1 and 4, killed inside century 4's update, resumed."""
    act_on = (0, 3)

    def make(run_dir: Path, **overrides: Any) -> gym.Env:
        cfg = tiny_config(tiny_proxies, history_cache, run_dir=str(run_dir), **overrides)
        return gym.make("PG-Follow-v0", history="models", backend="llm", backend_config=cfg, query_budget=38, record_in_info=True)

    reference = run_episode(make(tmp_path / "reference"), seed=5, act_on=act_on)
    env = make(tmp_path / "run")
    backend = env.unwrapped.backend
    original = backend.update_model

    def crashing(action: np.ndarray) -> np.ndarray:
        if backend.century == 4:
            raise KeyboardInterrupt("simulated kill during century 4")
        return original(action)

    backend.update_model = crashing
    with pytest.raises(KeyboardInterrupt):
        run_episode(env, seed=5, act_on=act_on)
    resumed = make(tmp_path / "run")
    info = run_episode(resumed, seed=5, act_on=act_on)
    stats = resumed.unwrapped.backend.stats
    assert stats["dpo_updates"] == 1 and stats["replayed_calls"] == 1 + 3 * 2  # only century 4 is trained
    for key in ("model", "rewards", "human"):
        np.testing.assert_array_equal(info["episode_record"][key], reference["episode_record"][key])
    assert info["final_score"] == reference["final_score"]

    env = make(tmp_path / "run")
    with pytest.raises(CheckpointMismatchError, match="rng_at_reset"):
        env.reset(seed=6)  # another seed
    with pytest.raises(CheckpointMismatchError, match="config_fingerprint"):
        make(tmp_path / "run", dpo_args={"per_device_train_batch_size": 4, "learning_rate": 1e-2, "beta": 0.5}).reset(
            seed=5
        )
    env = make(tmp_path / "run")
    obs, _ = env.reset(seed=5)
    with pytest.raises(CheckpointMismatchError, match="agent or seed differs"):
        env.step(-policy(obs))  # another action than the recorded one
    shutil.rmtree(tmp_path / "run" / "episode-0000" / "century-01" / "agent")
    env = make(tmp_path / "run")
    with pytest.raises(CheckpointError, match="missing or incomplete"):
        env.reset(seed=5)
    (tmp_path / "run" / "episode-0000" / "journal.json").write_text('{"format": "progressgym-llm-journal", "vers')
    with pytest.raises(CheckpointError, match="corrupt"):
        env.reset(seed=5)  # a failed reset does not count as an episode: the same folder is checked again


@pytest.fixture(scope="module")
def coevolve_reference(tiny_proxies: list[str], history_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    """An uninterrupted, checkpointed PG-Coevolve episode (seed 7)."""
    run_dir = tmp_path_factory.mktemp("coevolve-reference")
    cfg = tiny_config(tiny_proxies, history_cache, run_dir=str(run_dir))
    env = gym.make("PG-Coevolve-v0", history="models", backend="llm", backend_config=cfg, query_budget=38, record_in_info=True)
    info = run_episode(env, seed=7)
    backend = env.unwrapped.backend
    stats = dict(backend.stats)
    env.close()
    return info, run_dir, cfg, stats


@pytest.mark.slow
def test_coevolve_episode_end_to_end(coevolve_reference) -> None:
    info, run_dir, _, stats = coevolve_reference
    record = info["episode_record"]
    assert record["simulated"].shape == (9, 19) and record["model"].shape == (8, 19)
    assert np.isfinite(info["final_score"]) and 0.0 < info["final_score"] <= 1.0
    assert stats["dpo_updates"] == 8 and stats["sft_updates"] == 16
    journal = json.loads((run_dir / "episode-0000" / "journal.json").read_text())
    calls = [e["call"] for e in journal["entries"]]
    assert calls.count("update_model") == 8 and calls.count("update_simulated_human") == 8
    np.testing.assert_array_equal(np.array(journal["record"]["model"]), record["model"])
    assert (run_dir / "episode-0000" / "century-08" / "agent" / "adapter_config.json").is_file()
    assert (run_dir / "llm_config.json").is_file()


@pytest.mark.slow
def test_kill_and_resume_gives_the_same_record(coevolve_reference, tmp_path: Path) -> None:
    """Crash during century 4 (after its DPO update, before the simulated human's SFT), then resume."""
    reference, _, cfg, _ = coevolve_reference
    run_cfg = LLMConfig.from_any({**cfg.to_dict(), "run_dir": str(tmp_path / "run")})
    env = gym.make("PG-Coevolve-v0", history="models", backend="llm", backend_config=run_cfg, query_budget=38, record_in_info=True)
    backend = env.unwrapped.backend
    original = backend.update_simulated_human

    def crashing(t: int) -> np.ndarray:
        if t == 4:
            raise KeyboardInterrupt("simulated kill during century 4")
        return original(t)

    backend.update_simulated_human = crashing
    with pytest.raises(KeyboardInterrupt):
        run_episode(env, seed=7)
    env.close()

    resumed_env = gym.make("PG-Coevolve-v0", history="models", backend="llm", backend_config=run_cfg, query_budget=38, record_in_info=True)
    info = run_episode(resumed_env, seed=7)
    stats = resumed_env.unwrapped.backend.stats
    assert stats["dpo_updates"] == 4  # centuries 5..8; century 4's DPO update was restored, not redone
    assert stats["sft_updates"] == 10  # centuries 4..8, two pulls each
    assert stats["replayed_calls"] == 1 + 3 * 3 + 1  # reset's elicit, centuries 1-3, century 4's update_model
    for key in ("model", "simulated", "rewards", "human"):
        np.testing.assert_array_equal(info["episode_record"][key], reference["episode_record"][key])
    assert info["final_score"] == reference["final_score"]
    resumed_env.close()


@pytest.mark.slow
def test_mismatched_and_corrupt_checkpoints_are_clear_errors(coevolve_reference, tmp_path: Path) -> None:
    _, run_dir, cfg, _ = coevolve_reference
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    base = {**cfg.to_dict(), "run_dir": str(copy)}

    env = gym.make("PG-Coevolve-v0", history="models", backend="llm", backend_config=base, query_budget=38)
    with pytest.raises(CheckpointMismatchError, match="rng_at_reset"):
        env.reset(seed=8)  # another seed
    other = gym.make("PG-Coevolve-v0", history="models", backend="llm", backend_config={**base, "dpo_args": {**base["dpo_args"], "beta": 0.5}},
                     query_budget=38)
    with pytest.raises(CheckpointMismatchError, match="config_fingerprint"):
        other.reset(seed=7)
    env = gym.make("PG-Coevolve-v0", history="models", backend="llm", backend_config=base, query_budget=38)
    obs, _ = env.reset(seed=7)
    with pytest.raises(CheckpointMismatchError, match="agent or seed differs"):
        env.step(-policy(obs))  # another action than the recorded one

    shutil.rmtree(copy / "episode-0000" / "century-03" / "agent")
    env = gym.make("PG-Coevolve-v0", history="models", backend="llm", backend_config=base, query_budget=38)
    with pytest.raises(CheckpointError, match="missing or incomplete"):
        env.reset(seed=7)
    (copy / "episode-0000" / "journal.json").write_text('{"format": "progressgym-llm-journal", "vers')
    with pytest.raises(CheckpointError, match="corrupt"):
        env.reset(seed=7)  # a failed reset does not count as an episode: the same folder is checked again


# ------------------------------------------------------------------------------------ bad input


def test_bad_models_and_histories_are_clear_errors(tiny_proxies: list[str], history_cache: Path, tmp_path: Path) -> None:
    missing = [*tiny_proxies[:8], str(tmp_path / "no-such-model")]
    with pytest.raises(ModelLoadError, match="does not exist"):
        gym.make("PG-Follow-v0", history="models", backend="llm", backend_config=tiny_config(missing, history_cache))
    no_tok = tmp_path / "no-tokenizer"
    no_tok.mkdir()
    for f in Path(tiny_proxies[1]).iterdir():
        if not f.name.startswith(("tokenizer", "special_tokens", "chat_template")):
            shutil.copy(f, no_tok / f.name)
    with pytest.raises(ModelLoadError, match="no tokenizer"):
        gym.make("PG-Follow-v0", history="models", backend="llm",
                 backend_config=tiny_config([*tiny_proxies[:8], str(no_tok)], history_cache))
    with pytest.raises(ConfigError, match="needs backend='llm'"):
        gym.make("PG-Follow-v0", history="models")

    env = gym.make("PG-Follow-v0", backend="llm", backend_config=tiny_config(tiny_proxies, history_cache))
    with pytest.raises(ConfigError, match="moral19"):
        env.reset(seed=0)  # the corpus5 history cannot be measured by the evaluator

    cache = tmp_path / "cache"
    shutil.copytree(history_cache, cache)
    cfg = tiny_config(tiny_proxies, cache)
    env = gym.make("PG-Follow-v0", history="models", backend="llm", backend_config=cfg)  # cached: no re-measuring
    history_file = next(cache.glob("models-history-*.json"))
    history_file.write_text(history_file.read_text()[:200])
    with pytest.raises(HistoryCacheError, match="corrupt"):
        gym.make("PG-Follow-v0", history="models", backend="llm", backend_config=cfg)
    assert env.unwrapped.history_source.num_centuries == 9


@pytest.mark.slow  # measures the nine tiny proxies twice (CLI, then the env's panel): about 5 s of CPU
def test_measure_history_command_writes_a_usable_history(tiny_proxies: list[str], tmp_path: Path,
                                                         history_cache: Path) -> None:
    from progressgym_env.cli import main
    from progressgym_env.history import load_history_file

    out = tmp_path / "models.json"
    code = main(["measure-history", "--models", *tiny_proxies, "--out", str(out), "--max-scenarios-per-dim", "1",
                 "--formats", "repeat", "--no-progress", "--device", "cpu"])
    assert code == 0
    history = load_history_file(out)
    assert history.values.shape == (9, 19) and history.value_space.name == "moral19"
    assert history.provenance["proxy_models"] == tiny_proxies
    assert history.provenance["evaluator"]["formats"] == ["repeat"]
    cfg = tiny_config(tiny_proxies, history_cache)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = gym.make("PG-Follow-v0", history=str(out), backend="llm", backend_config=cfg, query_budget=None)
        obs, _ = env.reset(seed=0)
    assert not [w for w in caught if "not the one measured" in str(w.message)]  # the proxies' own history
    np.testing.assert_allclose(obs[:19], history.values[1])
    assert main(["measure-history", "--models", str(tmp_path / "nope"), *tiny_proxies[1:], "--out",
                 str(tmp_path / "x.json"), "--no-progress"]) == 1


def test_the_timeline_parts_use_only_each_others_public_members() -> None:
    """Routing, replay, training and measurement talk through public methods: no ``other._private`` access."""
    import ast

    import progressgym_env.llm as llm_pkg

    folder = Path(llm_pkg.__file__).parent
    reaching = []
    for name in ("backend", "examinee", "models", "replay", "measurements", "trainer"):
        tree = ast.parse((folder / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
                reaching.append(f"{name}.py:{node.lineno} {ast.unparse(node)}")
    assert reaching == []
