"""Step time of the calibrated surrogate against the default one, single env and native vector env.

A calibrated physics must not make RL slower: the acceptance is a calibrated step within 1.5x of the
default surrogate's. Three physics on ``PG-Follow-v0`` / ``PG-Coevolve-v0`` with ``history="procedural-moral19"``
(19 dims; one fixed procedural history, so steps are timed and not history sampling): the default; a fitted calibration (``--calibration``, the shipped ``smollm2-135m-instruct``
by default); and the worst case, a
calibration with every term on (full 19 x 19 coupling, saturation, drift, state, update noise).
Timings interleave the variants over ``--repeats`` rounds and keep each one's best round (the
machine is shared; ratios from the same run are the figure to read).

    python benchmarks/calibrated_step_time.py --json calibrated_step_time.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def fixed_history() -> Any:
    """One procedural-moral19 history (seed 0), fixed: steps are timed, not history sampling."""
    from progressgym_env.history import resolve_history

    return resolve_history("procedural-moral19").sample(np.random.default_rng(0))


HISTORY: Any = None


def worst_case(folder: Path) -> str:
    """A sealed moral19 calibration with every term of the response model on (the slowest step)."""
    from progressgym_env.backends.calibration import identity_document, seal
    from progressgym_env.value_spaces import get_value_space

    space = get_value_space("moral19")
    base = identity_document(space.dims, space.name, capacity=2.0, finetune_noise_sd=0.02, history_pull=0.25,
                             ai_pull=0.5, name="worst-case")
    rng = np.random.default_rng(0)
    gain = np.eye(19) * 0.3 + rng.normal(0, 0.01, (19, 19))
    model = {**base["model"], "form": "coupled", "gain": gain.tolist(), "saturation": 0.5,
             "drift": rng.normal(0, 0.01, 19).tolist(), "state": rng.normal(0, 0.01, 19).tolist(),
             "update_noise_sd": [0.05] * 19}
    path = folder / "worst-case.json"
    path.write_text(json.dumps(seal({**base, "model": model})), encoding="utf-8")
    return str(path)


def time_single(env_id: str, config: Any, steps: int, scale: float) -> float:
    """Seconds per step of one env (resets included, as in training)."""
    import gymnasium as gym

    env = gym.make(env_id, history=HISTORY, backend_config=config)
    actions = np.random.default_rng(1).uniform(-scale, scale, (steps, 19)).astype(np.float32)
    env.reset(seed=0)
    started = time.perf_counter()
    for action in actions:
        if env.step(action)[2]:
            env.reset()
    return (time.perf_counter() - started) / steps


def time_vector(env_id: str, config: Any, steps: int, num_envs: int, scale: float) -> float:
    """Seconds per sub-env step of the native vector env (autoreset included)."""
    import gymnasium as gym

    env = gym.make_vec(env_id, num_envs=num_envs, history=HISTORY, backend_config=config)
    actions = np.random.default_rng(1).uniform(-scale, scale, (steps, num_envs, 19)).astype(np.float32)
    env.reset(seed=0)
    started = time.perf_counter()
    for action in actions:
        env.step(action)
    return (time.perf_counter() - started) / (steps * num_envs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000, help="single-env steps per round")
    parser.add_argument("--vector-steps", type=int, default=200)
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calibration", default="smollm2-135m-instruct", help="a fitted calibration to time")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    import progressgym_env  # noqa: F401

    global HISTORY
    HISTORY = fixed_history()

    with tempfile.TemporaryDirectory() as tmp:
        variants = {"default": None, args.calibration: {"calibration": args.calibration},
                    "worst-case": {"calibration": worst_case(Path(tmp))}}
        from progressgym_env.backends.calibration import load_calibration

        # The same actions for every physics, inside every calibration's range.
        scale = 0.99 * min(load_calibration(c["calibration"]).max_abs_action for c in variants.values() if c)
        best: dict[str, float] = {}
        for _ in range(args.repeats):
            for env_id in ("PG-Follow-v0", "PG-Coevolve-v0"):
                for name, config in variants.items():
                    for mode in ("single", "vector"):
                        seconds = (time_single(env_id, config, args.steps, scale) if mode == "single"
                                   else time_vector(env_id, config, args.vector_steps, args.num_envs, scale))
                        key = f"{env_id} {mode} {name}"
                        best[key] = min(best.get(key, np.inf), seconds)
    rows = []
    for key, seconds in best.items():
        env_id, mode, name = key.split(" ")
        ratio = seconds / best[f"{env_id} {mode} default"]
        rows.append({"env": env_id, "mode": mode, "physics": name, "us_per_step": seconds * 1e6, "ratio": ratio})
        print(f"{env_id:15s} {mode:6s} {name:22s} {seconds * 1e6:8.2f} us/step  x{ratio:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
