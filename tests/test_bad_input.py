"""Every bad input (action, kwarg, call order) raises a clear error naming the problem; nothing is clipped."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import progressgym_env  # noqa: F401
from progressgym_env.envs import CoevolveEnv, FollowEnv, PredictEnv
from progressgym_env.errors import ConfigError, EpisodeOrderError, InvalidActionError, UnknownKwargError


@pytest.fixture()
def env() -> FollowEnv:
    env = FollowEnv()
    env.reset(seed=0)
    return env


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (np.array([np.nan, 0, 0, 0, 0]), r"NaN at index \[0\]"),
        (np.array([0, 0, np.inf, 0, 0]), r"inf at index \[2\]"),
        (np.array([0, 0, 0, -np.inf, 0]), r"inf at index \[3\]"),
        (np.zeros(4), r"shape \(4,\), expected \(5,\)"),
        (np.zeros((1, 5)), r"shape \(1, 5\), expected \(5,\)"),
        (np.array(["a"] * 5), r"dtype <U1"),
        (np.array([1.5, 0, 0, 0, 0]), r"\[-1, 1\].*index \[0\].*1\.5"),
        (np.array([0, 0, 0, 0, -1.01]), r"\[-1, 1\].*index \[4\]"),
        ([0, 0, 0, None, 0], r"dtype object"),
    ],
)
def test_bad_actions_raise_and_change_nothing(env: FollowEnv, action, message: str) -> None:
    before = env.backend.model_values.copy()
    with pytest.raises(InvalidActionError, match=message):
        env.step(action)
    assert isinstance(InvalidActionError("x"), ValueError)
    np.testing.assert_array_equal(env.backend.model_values, before)
    env.step(np.zeros(5))  # the episode goes on after a rejected action


def test_accepted_action_forms(env: FollowEnv) -> None:
    env.step([0.1, 0, 0, 0, 0])  # a Python list
    env.step(np.zeros(5, dtype=np.float64))  # float64 from SB3
    env.step(np.ones(5, dtype=np.int64))  # ints in range
    env.step(np.full(5, -1.0))  # the bounds themselves


def test_step_before_reset() -> None:
    with pytest.raises(EpisodeOrderError, match=r"call reset\(\) before step\(\)"):
        FollowEnv().step(np.zeros(5))


def test_step_after_termination() -> None:
    env = CoevolveEnv()
    env.reset(seed=0)
    for _ in range(8):
        *_, terminated, _, _ = env.step(np.zeros(5))
    assert terminated
    with pytest.raises(EpisodeOrderError, match="terminated"):
        env.step(np.zeros(5))
    env.reset(seed=1)
    env.step(np.zeros(5))


@pytest.mark.parametrize("env_id", ["PG-Follow-v0", "PG-Coevolve-v0"])
def test_timesteps_ahead_is_unknown_outside_predict(env_id: str) -> None:
    with pytest.raises(UnknownKwargError, match=r"'timesteps_ahead'.*PG-Predict-v0 only"):
        gym.make(env_id, timesteps_ahead=1)


def test_unknown_kwarg_lists_valid_ones() -> None:
    # Python's own wording first (torchrl recognises it), then the valid kwargs.
    with pytest.raises(
        TypeError, match=r"PG-Predict-v0.__init__\(\) got an unexpected keyword argument 'capacity'; valid kwargs: backend, backend_config"
    ):
        gym.make("PG-Predict-v0", capacity=3.0)
    with pytest.raises(TypeError, match=r"got an unexpected keyword argument 'frameskip' \(also 'zz'\)"):
        gym.make("PG-Follow-v0", frameskip=1, zz=2)


@pytest.mark.parametrize("k", [0, 8, -1, 100])
def test_timesteps_ahead_out_of_range(k: int) -> None:
    with pytest.raises(ConfigError, match=rf"timesteps_ahead={k} is out of range.*1\.\.7"):
        PredictEnv(timesteps_ahead=k)


@pytest.mark.parametrize("k", [1.0, "2", True])
def test_timesteps_ahead_must_be_int(k) -> None:
    with pytest.raises(ConfigError, match="must be an int"):
        PredictEnv(timesteps_ahead=k)


def test_timesteps_ahead_range_follows_history_length() -> None:
    from progressgym_env import ProceduralHistory

    PredictEnv(history=ProceduralHistory(num_centuries=4), timesteps_ahead=2)
    with pytest.raises(ConfigError, match=r"1\.\.2"):
        PredictEnv(history=ProceduralHistory(num_centuries=4), timesteps_ahead=3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"similarity": "euclid"}, "unknown similarity 'euclid'"),
        ({"query_budget": 3}, "query_budget=3 is too small"),
        ({"query_budget": 10.5}, "must be an int or None"),
        ({"backend": "quantum"}, "unknown backend 'quantum'"),
        ({"backend_config": {"capacty": 1.0}}, r"unknown surrogate backend_config key\(s\) \['capacty'\]"),
        ({"backend_config": {"capacity": -1.0}}, "capacity must be a positive"),
        ({"backend_config": {"ai_pull": 1.5}}, r"ai_pull .* must be in \[0, 1\]"),
        ({"backend_config": {"elicitation": "poisson"}}, "elicitation must be one of"),
        ({"backend_config": {"capacity": "2"}}, "capacity must be a number, got str"),
        ({"backend_config": {"capacity": True}}, "capacity must be a number, got bool"),
        ({"backend_config": {"capacity": 1e308}}, "capacity must be a positive number of logits up to 50"),
        ({"backend_config": {"capacity": float("nan")}}, "capacity must be finite"),
        ({"backend_config": {"finetune_noise_sd": [0.1]}}, "finetune_noise_sd must be a number, got list"),
        ({"backend_config": {"history_pull": None}}, "history_pull must be a number, got NoneType"),
        ({"backend_config": {"elicitation": 3}}, "elicitation must be one of"),
        ({"history": "medieval"}, "unknown history 'medieval'"),
        ({"render_mode": "human"}, "render_mode 'human' is not supported"),
    ],
)
def test_bad_kwargs(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FollowEnv(**kwargs)


def test_reset_options_are_rejected() -> None:
    with pytest.raises(ConfigError, match="takes no options"):
        FollowEnv().reset(seed=0, options={"t": 3})


def test_unknown_kwarg_message_ends_its_sentence_before_gymnasiums_suffix() -> None:
    for env_id in ("PG-Follow-v0", "PG-Predict-v0"):
        with pytest.raises(UnknownKwargError) as caught:
            gym.make(env_id, zz=1)
        ours, suffix, _ = str(caught.value).partition(" was raised from the environment creator")
        assert suffix and ours.endswith("."), str(caught.value)
        assert not ours.endswith(".."), str(caught.value)


def test_follow_docstring_tells_what_clip_actions_does() -> None:
    from progressgym_env.envs.follow import FollowEnv

    action_space = (FollowEnv.__doc__ or "").split("## Action Space")[1].split("## Observation Space")[0]
    assert "clip_actions=True" in action_space
    assert "nothing is clipped." not in " ".join(action_space.split())
