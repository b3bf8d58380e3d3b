"""The JAX twin and the compiled PPO against their anchors, every figure a ratio measured in one run.

1. **Env throughput**: a jitted ``lax.scan`` of vmapped ``step`` calls (gymnax's interface, auto-reset,
   constant actions) of the twin against gymnax's CartPole-v1 at the same N (1 ... 65,536), env-steps/s
   after compilation, every program timed once per round in turn (best of ``--repeats`` rounds); the
   twin in its default setting (binomial answers, query budget 512, fine-tuning noise), exact
   (``query_budget=None``) and exact without fine-tuning noise (deterministic physics).
2. **PPO throughput**: SB3 PPO (``learn`` on the native vector env with VecNormalize, no validation) and
   the compiled PPO (:mod:`agents.jax_ppo`, one seed and ``--sweep-seeds`` seeds in one program; compile
   time reported apart) on the same challenge, recipe (the zoo file's), network, rollout and epochs.
3. **Validation** (``--validate``): SB3 and the sweep trained ``--validate-steps`` env steps per seed,
   selected on the same validation histories; best validation normalised score of SB3 and of the
   sweep's seeds (median, best), with the sweep's wall time.

The machine may be shared: the load average is recorded. Usage::

    python benchmarks/jax_twin.py --json benchmarks/results/jax_twin.json
    python benchmarks/jax_twin.py --smoke        # seconds: tiny shapes (tests run this)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _steps_per_second(programs: dict[str, Callable[[Any], Any]], steps: int, n: int,
                      repeats: int) -> dict[str, dict[str, float]]:
    """Env-steps/s of compiled runs of ``steps`` vectorised steps of ``n`` envs, per program: the best of
    ``repeats`` rounds that run every program once in turn (so a burst of load on a shared machine hits
    them alike), by the process CPU time (``cpu``, the headline) and by the wall clock (``wall``)."""
    import jax

    for program in programs.values():
        program(jax.random.PRNGKey(0)).block_until_ready()  # compile
    best = {name: {"cpu": float("inf"), "wall": float("inf")} for name in programs}
    for i in range(repeats):
        for name, program in programs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            program(jax.random.PRNGKey(i + 1)).block_until_ready()
            best[name]["wall"] = min(best[name]["wall"], time.perf_counter() - start)
            best[name]["cpu"] = min(best[name]["cpu"], time.process_time() - start_cpu)
    return {name: {clock: steps * n / seconds for clock, seconds in clocks.items()} for name, clocks in best.items()}


def scan_program(env: Any, params: Any, n: int, steps: int, action: Any) -> Callable[[Any], Any]:
    """A jitted scan of ``steps`` vmapped ``env.step`` calls over ``n`` envs; returns the summed rewards."""
    import jax
    import jax.numpy as jnp

    def run(key: Any) -> Any:
        reset_key, key = jax.random.split(key)
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(reset_key, n), params)
        actions = jnp.broadcast_to(action, (n, *jnp.shape(action)))

        def body(state: Any, step_key: Any) -> tuple[Any, Any]:
            out = jax.vmap(env.step, in_axes=(0, 0, 0, None))(jax.random.split(step_key, n), state, actions, params)
            obs, state, reward = out[0], out[1], out[2]
            return state, jnp.sum(reward) + jnp.sum(obs)

        _, totals = jax.lax.scan(body, state, jax.random.split(key, steps))
        return jnp.sum(totals)

    return jax.jit(run)


def env_throughput(sizes: Sequence[int], challenge: str, steps: int, repeats: int) -> list[dict[str, Any]]:
    """Twin (default and exact) and gymnax CartPole env-steps/s at each N, measured back to back."""
    import gymnax
    import jax.numpy as jnp

    from progressgym_env.functional import make

    cartpole, cartpole_params = gymnax.make("CartPole-v1")
    twin, twin_params = make(challenge, num_histories=1024)
    exact, exact_params = make(challenge, num_histories=1024, query_budget=None)
    still, still_params = make(challenge, num_histories=1024, query_budget=None,
                               backend_config={"finetune_noise_sd": 0.0})
    action = jnp.full((twin.num_actions,), 0.1)
    rows = []
    for n in sizes:
        count = max(4, min(steps, (steps * 4096) // max(n, 1)))  # fewer scan steps at large N
        row: dict[str, Any] = {"N": n, "scan_steps": count}
        programs = {"cartpole": scan_program(cartpole, cartpole_params, n, count, jnp.asarray(1)),
                    "twin": scan_program(twin, twin_params, n, count, action),
                    "twin_exact": scan_program(exact, exact_params, n, count, action),
                    "twin_exact_noiseless": scan_program(still, still_params, n, count, action)}
        for name, rates in _steps_per_second(programs, count, n, repeats).items():
            for clock, rate in rates.items():
                row[f"{name}_steps_per_s_{clock}"] = rate
        for clock in ("cpu", "wall"):
            for name in ("twin", "twin_exact", "twin_exact_noiseless"):
                row[f"{name}_vs_cartpole_{clock}"] = row[f"{name}_steps_per_s_{clock}"] / row[f"cartpole_steps_per_s_{clock}"]
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
        rows.append(row)
    return rows


def sb3_throughput(challenge: str, timesteps: int, seed: int = 0) -> dict[str, Any]:
    """SB3 PPO's env-steps/s with the zoo recipe on the native vector env (``learn`` alone, one torch thread)."""
    import torch
    from stable_baselines3.common.vec_env import VecNormalize

    from agents.sb3_agent import algo_class
    from agents.train import TrainConfig
    from agents.vec_env import NativeVecEnv
    from agents.zoo import load_hyperparams

    torch.set_num_threads(1)
    env_id, base = TrainConfig(env=challenge).env_spec()
    hp = load_hyperparams("ppo", env_id)
    vec: Any = NativeVecEnv(env_id, hp.n_envs, {**base, **hp.env_kwargs}, seed=seed)
    if hp.normalize:
        vec = VecNormalize(vec, gamma=float(hp.algo_kwargs.get("gamma", 0.99)), **{"norm_obs": False, **hp.normalize})
    kwargs = dict(hp.algo_kwargs)
    policy = kwargs.pop("policy")
    model = algo_class("ppo")(policy, vec, seed=seed, device="cpu", **kwargs)
    rollout = hp.n_envs * int(kwargs["n_steps"])
    model.learn(total_timesteps=rollout)  # warm-up (first rollout, optimiser state)
    start, start_cpu = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=timesteps, reset_num_timesteps=False)
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    return {"timesteps": timesteps, "seconds": seconds, "cpu_seconds": cpu, "steps_per_s": timesteps / seconds,
            "steps_per_cpu_s": timesteps / cpu}


def compiled_throughput(challenge: str, seeds: int, chunks: int, updates_per_chunk: int) -> dict[str, Any]:
    """The compiled PPO's env-steps/s over all seeds (steady state) and its compile time."""
    from agents.jax_ppo import JaxPPOConfig, build_sweep, run_chunks

    per_update = 64 * 16
    config = JaxPPOConfig(env=challenge, seeds=seeds, total_timesteps=per_update * updates_per_chunk * (chunks + 1),
                          eval_freq=per_update * updates_per_chunk, num_histories=1024)
    start = time.perf_counter()
    sweep = build_sweep(config)
    built = time.perf_counter() - start
    start = time.perf_counter()
    _, seconds, cpu = run_chunks(sweep, chunks)
    first = time.perf_counter() - start - seconds
    steps = chunks * sweep.updates_per_chunk * sweep.recipe.num_envs * sweep.recipe.num_steps * seeds
    return {"seeds": seeds, "timesteps_total": steps, "seconds": seconds, "cpu_seconds": cpu,
            "steps_per_s": steps / seconds, "steps_per_cpu_s": steps / cpu, "build_seconds": built,
            "compile_and_first_chunk_seconds": first}


def ppo_ratios(sb3: dict[str, Any], one: dict[str, Any], many: dict[str, Any]) -> dict[str, float]:
    """Compiled over SB3 env-steps/s, by CPU time (headline) and wall clock."""
    return {"one_seed_vs_sb3_cpu": one["steps_per_cpu_s"] / sb3["steps_per_cpu_s"],
            "sweep_total_vs_sb3_cpu": many["steps_per_cpu_s"] / sb3["steps_per_cpu_s"],
            "one_seed_vs_sb3_wall": one["steps_per_s"] / sb3["steps_per_s"],
            "sweep_total_vs_sb3_wall": many["steps_per_s"] / sb3["steps_per_s"]}


def validation_comparison(challenge: str, steps: int, seeds: int, episodes: int, out: Path) -> dict[str, Any]:
    """SB3 (``progressgym train``) and a compiled sweep trained ``steps`` env steps per seed, validated alike."""
    import numpy as np

    from agents.jax_ppo import JaxPPOConfig, train_jax_ppo
    from agents.train import TrainConfig, train

    start = time.perf_counter()
    sb3 = train(TrainConfig(algo="ppo", env=challenge, total_timesteps=steps, seed=0, validation_episodes=episodes,
                            out=str(out / "sb3")))
    sb3_wall = time.perf_counter() - start
    summary = train_jax_ppo(JaxPPOConfig(env=challenge, total_timesteps=steps, seeds=seeds,
                                         validation_episodes=episodes, out=str(out / "jax")))
    scores = np.array([run["best_validation_normalized_score"] for run in summary["runs"]])
    return {
        "timesteps_per_seed": steps, "validation_episodes": episodes,
        "sb3_best_validation": sb3.best_validation_score, "sb3_wall_seconds": sb3_wall,
        "sweep_seeds": seeds, "sweep_wall_seconds": summary["wall_seconds"],
        "sweep_train_seconds_incl_compile": summary["train_seconds_incl_compile"],
        "sweep_validation_median": float(np.median(scores)), "sweep_validation_best": float(scores.max()),
        "sweep_seeds_at_or_above_sb3": int((scores >= sb3.best_validation_score).sum()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--challenge", default="follow")
    parser.add_argument("--sizes", default="1,16,256,4096,65536", help="env counts N, comma-separated ('' = none)")
    parser.add_argument("--scan-steps", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sb3-timesteps", type=int, default=16384)
    parser.add_argument("--sweep-seeds", type=int, default=64)
    parser.add_argument("--chunks", type=int, default=2)
    parser.add_argument("--updates-per-chunk", type=int, default=8)
    parser.add_argument("--validate", action="store_true", help="also train SB3 and a sweep and compare validation")
    parser.add_argument("--validate-steps", type=int, default=65536)
    parser.add_argument("--validation-episodes", type=int, default=100)
    parser.add_argument("--workdir", default="runs/bench-jax")
    parser.add_argument("--smoke", action="store_true", help="tiny shapes: checks the script runs")
    parser.add_argument("--cpu-devices", type=int, default=0,
                        help="expose the CPU as N JAX devices (the sweep's seeds are split over them); 0 = JAX's default")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.cpu_devices:  # before JAX starts: XLA reads its flags once
        flag = f"--xla_force_host_platform_device_count={args.cpu_devices}"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
    if args.smoke:
        args.sizes, args.scan_steps, args.repeats = "1,8", 4, 1
        args.sb3_timesteps, args.sweep_seeds, args.chunks, args.updates_per_chunk = 1024, 2, 1, 1
        args.validate_steps, args.validation_episodes = 1024, 2
    import jax

    report: dict[str, Any] = {
        "command": " ".join(sys.argv), "device": str(jax.devices()[0]), "platform": platform.platform(),
        "cpus": os.cpu_count(), "jax_devices": jax.local_device_count(), "load_average_start": os.getloadavg(),
        "challenge": args.challenge,
    }
    sizes = [int(n) for n in args.sizes.split(",") if n]
    report["env"] = env_throughput(sizes, args.challenge, args.scan_steps, args.repeats) if sizes else []
    sb3 = sb3_throughput(args.challenge, args.sb3_timesteps)
    one = compiled_throughput(args.challenge, 1, args.chunks, args.updates_per_chunk)
    many = compiled_throughput(args.challenge, args.sweep_seeds, args.chunks, args.updates_per_chunk)
    report["ppo"] = {"sb3": sb3, "compiled_one_seed": one, "compiled_sweep": many, **ppo_ratios(sb3, one, many)}
    print(json.dumps({k: v for k, v in report["ppo"].items() if "_vs_" in k}), flush=True)
    if args.validate:
        report["validation"] = validation_comparison(args.challenge, args.validate_steps, args.sweep_seeds,
                                                     args.validation_episodes, Path(args.workdir))
        print(json.dumps(report["validation"]), flush=True)
    report["load_average_end"] = os.getloadavg()
    if args.json:
        from progressgym_env.common.atomic import atomic_write_text

        atomic_write_text(Path(args.json), json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
