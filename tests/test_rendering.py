"""rgb_array frames: one shape per env, the trajectories drawn where the axes say, HumanRendering works."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import progressgym_env  # noqa: F401

pytest.importorskip("matplotlib")

from progressgym_env import rendering


def test_frames_keep_one_shape_and_draw_the_model_where_the_axes_put_it() -> None:
    env = gym.make("PG-Coevolve-v0", render_mode="rgb_array")
    env.reset(seed=0)
    first = np.asarray(env.render())
    frames = [first]
    terminated = False
    while not terminated:
        _, _, terminated, _, _ = env.step(env.action_space.sample())
        frames.append(np.asarray(env.render()))
    assert {f.shape for f in frames} == {first.shape} and first.dtype == np.uint8
    assert not np.array_equal(frames[0], frames[1])
    renderer = rendering._RENDERERS[env.unwrapped]
    record = env.unwrapped.episode_record()  # type: ignore[attr-defined]
    x0, sx, y0, sy, _ = renderer.panels[0]
    row = round(y0 - sy * record.model[-1][0])
    col = round(x0 + sx * record.centuries[len(record.model)])
    colors = {tuple(c) for c in frames[-1][row - 1 : row + 2, col - 1 : col + 2].reshape(-1, 3)}
    assert colors & {rendering._MODEL_RGB, rendering._SIMULATED_RGB}  # the last point is painted
    assert np.array_equal(frames[0][:20], renderer.background[:20])  # the title strip is the background


def test_the_background_is_rebuilt_only_when_the_history_changes() -> None:
    env = gym.make("PG-Follow-v0", render_mode="rgb_array", history="procedural")
    env.reset(seed=0)
    env.render()
    first = rendering._RENDERERS[env.unwrapped]
    env.step(env.action_space.sample())
    env.render()
    assert rendering._RENDERERS[env.unwrapped] is first
    env.reset(seed=1)  # a new procedural history
    env.render()
    assert rendering._RENDERERS[env.unwrapped] is not first


def test_human_rendering_shows_frames_through_pygame(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    from gymnasium.wrappers import HumanRendering

    env = HumanRendering(gym.make("PG-Predict-v0", render_mode="rgb_array", timesteps_ahead=2))
    env.reset(seed=0)
    env.step(env.action_space.sample())
    assert env.window is not None
    env.close()
