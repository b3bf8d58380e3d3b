"""Calibrated surrogate physics: the fit recovers a known physics, the surrogate reads the file, bad files fail.

The fit (:mod:`progressgym_env.calibration.fit`) on transitions simulated from a known response model
(:mod:`progressgym_env.calibration.synthetic`) must find that model within its reported CIs; the
calibration equal to today's surrogate (:func:`identity_document`) must give the default surrogate's
exact bits in the single and the native vector env; wrong value spaces, edited or corrupt files and
actions beyond the calibrated range are clear errors. The end-to-end run on the tiny world
(``progressgym calibrate`` -> fit -> ``gym.make``) is in the slow tier.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import progressgym_env  # noqa: F401  (registers the env ids)
from progressgym_env.backends.calibration import (
    CalibrationError,
    identity_document,
    load_calibration,
    response_from_document,
    seal,
    shipped_calibrations,
)
from progressgym_env.calibration.design import action_schedule
from progressgym_env.errors import InvalidActionError
from progressgym_env.value_spaces import get_value_space

CORPUS5 = get_value_space("corpus5")
MORAL19 = get_value_space("moral19")


def _identity(space: Any = CORPUS5, **overrides: Any) -> dict[str, Any]:
    settings = {"capacity": 2.0, "finetune_noise_sd": 0.02, "history_pull": 0.25, "ai_pull": 0.5, **overrides}
    return identity_document(space.dims, space.name, **settings)


def _write(path: Path, document: dict[str, Any]) -> str:
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def _with_model(document: dict[str, Any], **model: Any) -> dict[str, Any]:
    return seal({**document, "model": {**document["model"], **model}})


def test_designed_actions_pulse_every_dim_both_ways_and_are_reproducible() -> None:
    actions, kinds = action_schedule(40, 5, seed=3)
    again, _ = action_schedule(40, 5, seed=3)
    assert np.array_equal(actions, again)
    assert kinds.count("zero") == 4 and kinds.count("random") == 12 and kinds.count("pulse") == 24
    pulses = actions[[k == "pulse" for k in kinds]]
    assert (np.count_nonzero(pulses, axis=1) == 1).all()
    for i in range(5):  # every dim pushed up and down
        assert (pulses[:, i] > 0).any() and (pulses[:, i] < 0).any()
    assert set(np.round(np.abs(pulses[pulses != 0]), 6)) <= {0.25, 0.5, 1.0}
    assert not actions[[k == "zero" for k in kinds]].any()
    with pytest.raises(ValueError, match="sizes"):
        action_schedule(4, 5, 0, sizes=(1.5,))


def test_fit_recovers_a_known_physics_within_its_confidence_intervals() -> None:
    from progressgym_env.calibration.fit import fit_calibration
    from progressgym_env.calibration.synthetic import simulate_transitions

    gains = np.array([0.2, 0.5, 1.0, 0.1, 0.8])
    drift = np.array([0.05, -0.02, 0.0, 0.03, 0.0])
    state = np.array([-0.05, 0.0, -0.1, 0.0, -0.02])
    truth = response_from_document(_with_model(_identity(finetune_noise_sd=0.05), gain=np.diag(gains).tolist(),
                                               drift=drift.tolist(), state=state.tolist()))
    transitions = simulate_transitions(truth, 240, seed=1, measurement_sd=0.03)
    fitted = fit_calibration(transitions, "synthetic", forms=("pooled", "gain", "gain-state"),
                             saturations=(None, 0.5))
    assert fitted["fit"]["selected"]["form"] == "gain-state"
    assert fitted["fit"]["selected"]["saturation"] is None  # the truth is linear in the action
    ci = fitted["fit"]["ci95"]
    for name, true in (("gain", gains), ("drift", drift), ("state", state)):
        low, high = np.array(ci[name]).T
        assert ((low <= true) & (true <= high)).all(), (name, low, true, high)
        assert (high - low < 0.1).all()  # and the intervals are informative
    model = fitted["model"]
    assert np.allclose(np.diag(model["gain"]), gains, atol=0.03)
    # Noise separated: the evaluator's 0.03 per measurement, the update's 0.05 per update.
    assert np.allclose(model["measurement_noise_sd"], 0.03, atol=1e-6)
    assert np.allclose(model["update_noise_sd"], 0.05, atol=0.015)
    assert fitted["fit"]["zero_action_max_abs_logit_change"] == 0.0
    # The file is valid and steps like the truth without noise.
    response = response_from_document(fitted)
    z, a = np.array([0.5, -1.0, 0.0, 2.0, -0.3]), np.array([1.0, -0.5, 0.25, 0.0, 0.7])
    assert np.allclose(response.updated_logits(z, a, None), truth.updated_logits(z, a, None), atol=0.06)


@pytest.mark.parametrize("env_id", ["PG-Follow-v0", "PG-Coevolve-v0"])
def test_the_default_surrogate_is_the_special_case_bit_for_bit(env_id: str, tmp_path: Path) -> None:
    path = _write(tmp_path / "identity.json", _identity())
    runs = []
    for config in (None, {"calibration": path}):
        single = gym.make(env_id, backend_config=config)
        vector = gym.make_vec(env_id, num_envs=3, backend_config=config)
        rng = np.random.default_rng(0)
        out = [single.reset(seed=5)[0], vector.reset(seed=5)[0].ravel()]
        for _ in range(4):
            out.append(single.step(rng.uniform(-1, 1, 5).astype(np.float32))[0])
            obs, reward, *_ = vector.step(rng.uniform(-1, 1, (3, 5)).astype(np.float32))
            out += [obs.ravel(), reward]
        runs.append(np.concatenate(out))
        if config:
            record = single.unwrapped.episode_record().to_dict()
            assert record["backend"]["calibration"] == path
            assert record["backend"]["calibration_digest"] == load_calibration(path).digest
        else:
            assert "calibration" not in single.unwrapped.backend.config_dict()  # default records keep their keys
    assert np.array_equal(runs[0], runs[1])


def test_a_calibrated_physics_moves_the_model_as_fitted(tmp_path: Path) -> None:
    gain = 0.5 * np.eye(5)
    gain[0, 1] = 0.1  # dim 1's pulse also moves dim 0 (coupling)
    path = _write(tmp_path / "c.json", _with_model(_identity(), gain=gain.tolist(), saturation=0.5,
                                                    update_noise_sd=[0.0] * 5, drift=[0.01] * 5))
    env = gym.make("PG-Follow-v0", backend_config={"calibration": path})
    env.reset(seed=0)
    before = env.unwrapped.backend._model_logits.copy()
    action = np.array([0.0, 1.0, 0.0, 0.0, -0.2], dtype=np.float32)
    env.step(action)
    moved = env.unwrapped.backend._model_logits - before
    phi = 0.5 * np.tanh(action.astype(np.float64) / 0.5)
    assert np.allclose(moved, gain @ phi + 0.01)
    assert moved[0] == pytest.approx(0.1 * 0.5 * np.tanh(2.0) + 0.01)
    vector = gym.make_vec("PG-Follow-v0", num_envs=2, backend_config={"calibration": path})
    _, info = vector.reset(seed=0)
    start = np.array(info["model_values"])
    _, _, _, _, info = vector.step(np.stack([action, np.zeros(5, np.float32)]))
    logit = lambda v: np.log(v / (1 - v))  # noqa: E731
    assert np.allclose(logit(info["model_values"][0]) - logit(start[0]), gain @ phi + 0.01)
    assert np.array_equal(info["model_values"][1], start[1])  # a zero action is no update


def test_bad_calibrations_are_clear_errors(tmp_path: Path) -> None:
    good = _identity()
    edited = json.loads(json.dumps(good))
    edited["model"]["gain"][0][0] = 9.0  # digest no longer matches
    with pytest.raises(CalibrationError, match="digest"):
        gym.make("PG-Follow-v0", backend_config={"calibration": _write(tmp_path / "edited.json", edited)})
    (tmp_path / "corrupt.json").write_text(json.dumps(good)[:-20], encoding="utf-8")
    with pytest.raises(CalibrationError, match="corrupt"):
        gym.make("PG-Follow-v0", backend_config={"calibration": str(tmp_path / "corrupt.json")})
    with pytest.raises(CalibrationError, match="neither a shipped calibration"):
        gym.make("PG-Follow-v0", backend_config={"calibration": "no-such-calibration"})
    with pytest.raises(CalibrationError, match="version"):
        response_from_document(seal({**good, "version": 99}))
    with pytest.raises(CalibrationError, match="shape"):
        response_from_document(_with_model(good, drift=[0.0] * 4))
    wrong_space = _write(tmp_path / "moral19.json", _identity(MORAL19))
    with pytest.raises(CalibrationError, match="'moral19' \\(19 dims\\).*'corpus5' \\(5 dims\\)"):
        gym.make("PG-Follow-v0", backend_config={"calibration": wrong_space}).reset(seed=0)
    with pytest.raises(CalibrationError, match="moral19"):
        gym.make_vec("PG-Follow-v0", num_envs=2, backend_config={"calibration": wrong_space})


def test_actions_beyond_the_calibrated_range_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "half.json", _with_model(_identity(), max_abs_action=0.5))
    env = gym.make("PG-Follow-v0", backend_config={"calibration": path})
    env.reset(seed=0)
    env.step(np.full(5, 0.505, dtype=np.float32))  # the edge is calibrated (1% tolerance)
    with pytest.raises(InvalidActionError, match=r"\|a_i\| <= 0.5 \(accepted up to 0.505\); got \|a_i\| = 0.51"):
        env.step(np.array([0.0, 0.51, 0.0, 0.0, 0.0], dtype=np.float32))
    with pytest.raises(InvalidActionError, match="got"):
        env.step(np.array([0.0, 0.6, 0.0, 0.0, 0.0], dtype=np.float32))
    vector = gym.make_vec("PG-Follow-v0", num_envs=2, backend_config={"calibration": path})
    vector.reset(seed=0)
    with pytest.raises(InvalidActionError, match="calibrated|fitted on actions"):
        vector.step(np.array([[0.1] * 5, [0.0, 0.0, -0.9, 0.0, 0.0]], dtype=np.float32))


@pytest.mark.filterwarnings("ignore::progressgym_env.backends.calibration.CalibrationRangeWarning")
def test_shipped_calibrations_load_with_provenance_and_held_out_fit() -> None:
    assert {"tiny-world", "smollm2-135m-instruct"} <= set(shipped_calibrations())
    for name in ("tiny-world", "smollm2-135m-instruct"):
        response = load_calibration(name)
        document = response.document
        assert response.value_space == "moral19" and response.dim == 19
        assert document["provenance"]["base_model"] and document["provenance"]["llm_config"]["dpo_args"]
        assert document["fit"]["moved"] >= 8 and len(document["fit"]["held_out_r2"]) == 19
        env = gym.make("PG-Follow-v0", history="procedural-moral19", backend_config={"calibration": name})
        env.reset(seed=0)
        _, reward, *_ = env.step(np.zeros(19, dtype=np.float32))
        assert 0 <= reward <= 1


@pytest.mark.slow
def test_calibrate_fit_and_make_end_to_end_on_the_tiny_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("trl")
    from llm_fixtures import build_once

    from progressgym_env.calibration.collect import CollectConfig, collect_transitions
    from progressgym_env.cli import main
    from progressgym_env.llm.trainer import UpdateTrainer

    agent = build_once(tmp_path, seed=0)
    settings = {
        "agent_model": str(agent), "humans": "history", "device": "cpu",
        "evaluator": {"max_scenarios_per_dim": 1, "formats": ["repeat"], "batch_size": 64},
        "train_formats": ["repeat"], "elicit_max_scenarios_per_dim": 1, "pairs_per_unit": 4, "lora_r": 4,
        "lora_alpha": 8, "dpo_args": {"per_device_train_batch_size": 4, "learning_rate": 1e-2, "max_steps": 1},
        "history_cache_dir": str(tmp_path / "cache"),
    }
    config = tmp_path / "llm.json"
    config.write_text(json.dumps(settings), encoding="utf-8")
    out, run_dir = tmp_path / "tiny.json", tmp_path / "run"
    argv = ["calibrate", "--llm-config", str(config), "--run-dir", str(run_dir), "--episodes", "2",
            "--steps-per-episode", "5", "--name", "tiny-e2e", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    transitions = json.loads((run_dir / "transitions.json").read_text())["transitions"]
    assert len(transitions) == 10 and {t["kind"] for t in transitions} <= {"pulse", "random", "zero"}
    response = load_calibration(out)
    document = response.document
    assert document["provenance"]["base_model"] == str(agent) and document["fit"]["transitions"] == 10
    assert document["fit"]["selected"]["form"] in ("pooled", "gain", "gain-state", "coupled")

    # Resuming replays the checkpoint: no DPO update runs again, and the transitions are the same.
    def no_training(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a resumed collection trained again")

    monkeypatch.setattr(UpdateTrainer, "train_agent", no_training)
    again = collect_transitions(CollectConfig(episodes=2, steps_per_episode=5), settings, run_dir, progress=False)
    assert [t["after"] for t in again["transitions"]] == [t["after"] for t in transitions]

    for make in (lambda: gym.make("PG-Follow-v0", history="procedural-moral19", backend_config={"calibration": str(out)}),
                 lambda: gym.make_vec("PG-Follow-v0", num_envs=2, history="procedural-moral19",
                                      backend_config={"calibration": str(out)})):
        env = make()
        obs, _ = env.reset(seed=0)
        action = np.full(env.action_space.shape, 0.5 * response.max_abs_action, dtype=np.float32)
        obs, reward, *_ = env.step(action)
        assert np.isfinite(obs).all() and np.all((np.asarray(reward) >= 0) & (np.asarray(reward) <= 1))
        with pytest.raises(InvalidActionError):
            env.step(np.full(env.action_space.shape, 1.0, dtype=np.float32) if response.max_abs_action < 1
                     else np.full(env.action_space.shape, 2.0, dtype=np.float32))


def test_states_outside_the_fitted_range_are_warned_about(tmp_path: Path) -> None:
    from progressgym_env.backends.calibration import CalibrationRangeWarning

    document = _with_model(_identity(), state=[-0.1] * 5, state_range=[-0.5, 0.5])
    path = _write(tmp_path / "narrow.json", document)
    with pytest.warns(CalibrationRangeWarning, match=r"fitted on logits in \[-0.50, 0.50\]"):
        gym.make("PG-Follow-v0", backend_config={"calibration": path}).reset(seed=0)


def test_collections_of_one_setting_merge_and_of_different_settings_are_refused() -> None:
    from progressgym_env.calibration.collect import merge_transitions
    from progressgym_env.errors import ConfigError

    def collection(fingerprint: str, n: int) -> dict[str, Any]:
        rows = [{"action": [0.5] * 5, "before": [0.5] * 5, "after": [0.6] * 5} for _ in range(n)]
        return {"provenance": {"value_space": "corpus5", "dims": list(CORPUS5.dims),
                               "llm_config_fingerprint": fingerprint, "collect": {"seed": n}, "seconds": 1.0},
                "transitions": rows}

    merged = merge_transitions([collection("a", 2), collection("a", 3)], ["x.json", "y.json"])
    assert len(merged["transitions"]) == 5 and merged["provenance"]["sources"] == ["x.json", "y.json"]
    assert merged["provenance"]["seconds"] == 2.0
    with pytest.raises(ConfigError, match="y.json: its llm_config_fingerprint differs from x.json"):
        merge_transitions([collection("a", 2), collection("b", 2)], ["x.json", "y.json"])


def test_calibrate_without_a_source_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from progressgym_env.cli import main

    assert main(["calibrate", "--out", str(tmp_path / "c.json")]) == 2
    assert "give --llm-config and --run-dir to collect transitions, or --transitions" in capsys.readouterr().err
    assert not (tmp_path / "c.json").exists()
