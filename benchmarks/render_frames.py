"""Time ``rgb_array`` frames: the first frame of an env (the matplotlib background) and every later one.

Usage: ``python benchmarks/render_frames.py [--episodes 5]``. Prints, per env id, the first frame's
time, the median and the maximum of the other frames, and the frame shape. ``RecordVideo`` and
``HumanRendering`` need a frame well under 50 ms to keep up.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import progressgym_env  # noqa: F401  (registers the ids)

ENVS: tuple[tuple[str, dict[str, object]], ...] = (("PG-Follow-v0", {}), ("PG-Predict-v0", {"timesteps_ahead": 2}), ("PG-Coevolve-v0", {}),
        ("PG-Follow-v0", {"history": "procedural"}))


def time_frames(env_id: str, kwargs: dict, episodes: int) -> tuple[float, list[float], tuple[int, ...]]:
    """(first frame seconds, later frame seconds, frame shape) over ``episodes`` episodes of one env.

    :param env_id: registered id. :param kwargs: env kwargs. :param episodes: episodes to render.
    """
    env = gym.make(env_id, render_mode="rgb_array", **kwargs)
    first, later, shape = 0.0, [], ()
    for episode in range(episodes):
        env.reset(seed=episode)
        start = time.perf_counter()
        frame = np.asarray(env.render())
        if episode == 0:
            first, shape = time.perf_counter() - start, frame.shape
        else:
            later.append(time.perf_counter() - start)
        terminated = False
        while not terminated:
            _, _, terminated, _, _ = env.step(env.action_space.sample())
            start = time.perf_counter()
            env.render()
            later.append(time.perf_counter() - start)
    env.close()
    return first, later, shape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=5, help="episodes per env")
    args = parser.parse_args()
    print("| env | first frame (ms) | later frames: median / max (ms) | frames | shape |")
    print("|---|---:|---:|---:|---|")
    for env_id, kwargs in ENVS:
        first, later, shape = time_frames(env_id, kwargs, args.episodes)
        label = env_id + "".join(f" {k}={v}" for k, v in kwargs.items())
        print(f"| {label} | {first * 1e3:.0f} | {np.median(later) * 1e3:.2f} / {max(later) * 1e3:.1f} | "
              f"{len(later)} | {shape} |")


if __name__ == "__main__":
    main()
