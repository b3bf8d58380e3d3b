"""Compiled PPO: rollout, GAE and updates in one jitted program, vmapped over training seeds (extra ``jax``).

The recipe is SB3's PPO with the zoo file's hyperparameters (``agents/hyperparams/ppo.yml``: envs,
rollout length, minibatch size, epochs, gamma, GAE lambda, learning rate, clip range, net_arch,
``log_std_init``, reward normalisation), written PureJaxRL-style over flax and optax and run on the
JAX twin (:mod:`progressgym_env.functional`). SB3's choices kept: separate tanh actor and critic
MLPs with orthogonal initialisation (sqrt 2, policy head 0.01, value head 1), a state-independent
log std, Adam (eps 1e-5) with gradient norm clipped at 0.5, per-minibatch advantage normalisation,
an unclipped value loss weighted 0.5, sampled actions clipped into the action box for the env, and
``VecNormalize``'s reward scaling by the running std of the discounted return (clip 10).

The protocol is :mod:`agents.train`'s (tests/test_jax_ppo.py runs the same checks): training on
procedural histories only (each seed's twin draws from a bank of ``num_histories`` procedural
histories from a generator seeded with the run's seed), selection on the held-out procedural
validation histories (env seeds from ``VALIDATION_FIRST_SEED``, evaluated with the numpy env by
:func:`agents.train.evaluate_policy_on_seeds`, exactly as ``progressgym train`` does), and never the
corpus. Training runs in ``eval_freq`` chunks (one compiled scan of updates each, all seeds at once);
after each chunk every seed's deterministic policy is validated and its best checkpoint kept.

A run writes, per seed, ``<out>/seed<k>/model.npz`` (the best validation checkpoint),
``last_model.npz`` and ``config.json`` (what ``progressgym train`` records: train/validation env
kwargs, seeds, hyperparameters, validation curve); ``jax:<out>/seed<k>/model.npz`` runs it as an
agent (:mod:`agents.jax_policy`). ``<out>/sweep.json`` holds the whole sweep's summary.

Command line: ``python -m agents.jax_ppo --env follow --seeds 64``. API: :func:`train_jax_ppo`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from agents.budget import capped_timesteps
from agents.jax_policy import NumpyPolicy, save_actor
from agents.train import TEST_FIRST_SEED, VALIDATION_FIRST_SEED, ValidationCurve, evaluate_policy_on_seeds
from agents.zoo import ZooHyperparams, load_hyperparams
from progressgym_env.common.atomic import atomic_write_text
from progressgym_env.errors import ConfigError, MissingExtraError

try:
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import optax
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise MissingExtraError("compiled PPO (agents.jax_ppo)", "jax", exc.name or "jax") from None

from progressgym_env.functional import GymnaxEnv, make, make_func_env


@dataclass
class JaxPPOConfig:
    """Settings of one compiled PPO sweep (saved in every seed's ``config.json``)."""

    env: str = field(default="follow", metadata={"help": "A challenge key (follow, predict1, coevolve, ...) or env id."})
    env_kwargs: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "Training and validation env kwargs, over the YAML's."})
    total_timesteps: int | None = field(default=None, metadata={"help": "Env steps per seed; None = the YAML's."})
    seeds: int = field(default=1, metadata={"help": "Training seeds, vmapped in one program."})
    first_seed: int = field(default=0, metadata={"help": "Seed of the first run (runs use first_seed..+seeds-1)."})
    num_histories: int = field(default=4096, metadata={"help": "Procedural histories in each seed's training bank."})
    validation_episodes: int = field(default=100, metadata={"help": "Validation histories (seeds from 10000)."})
    validation_first_seed: int = field(default=VALIDATION_FIRST_SEED, metadata={"help": "First validation seed."})
    eval_freq: int = field(default=0, metadata={"help": "Validate every this many env steps; 0 = 20 times a run."})
    hyperparams: str | None = field(default=None, metadata={"help": "Zoo-style YAML; None = agents/hyperparams/ppo.yml."})
    out: str | None = field(default=None, metadata={"help": "Output folder; None = runs/train/jaxppo-<env>."})

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise ConfigError(f"seeds must be >= 1, got {self.seeds}")
        if self.validation_episodes < 1:
            raise ConfigError(f"validation_episodes must be >= 1 (model selection needs them), got "
                              f"{self.validation_episodes}")
        if self.total_timesteps is not None and self.total_timesteps < 1:
            raise ConfigError(f"total_timesteps must be >= 1, got {self.total_timesteps}")
        if self.env_kwargs.get("history", "procedural") == "corpus":
            raise ConfigError("history='corpus' would train on the test set; train on 'procedural'")


class Recipe(NamedTuple):
    """The PPO numbers of a zoo entry (what the compiled program is specialised on)."""

    num_envs: int
    num_steps: int
    minibatch_size: int
    epochs: int
    gamma: float
    gae_lambda: float
    learning_rate: float
    clip_range: float
    ent_coef: float
    vf_coef: float
    max_grad_norm: float
    net_arch: tuple[int, ...]
    log_std_init: float
    norm_reward: bool


def recipe_from(hp: ZooHyperparams) -> Recipe:
    """The SB3 PPO recipe of a zoo entry, with SB3's defaults where the entry is silent."""
    kw = hp.algo_kwargs
    policy = kw.get("policy_kwargs") or {}
    arch = policy.get("net_arch", [64, 64])
    if isinstance(arch, dict):
        arch = arch.get("pi", [64, 64])
    normalize = hp.normalize or {}
    return Recipe(
        num_envs=int(hp.n_envs), num_steps=int(kw.get("n_steps", 2048)), minibatch_size=int(kw.get("batch_size", 64)),
        epochs=int(kw.get("n_epochs", 10)), gamma=float(kw.get("gamma", 0.99)),
        gae_lambda=float(kw.get("gae_lambda", 0.95)), learning_rate=float(kw.get("learning_rate", 3e-4)),
        clip_range=float(kw.get("clip_range", 0.2)), ent_coef=float(kw.get("ent_coef", 0.0)),
        vf_coef=float(kw.get("vf_coef", 0.5)), max_grad_norm=float(kw.get("max_grad_norm", 0.5)),
        net_arch=tuple(int(n) for n in arch), log_std_init=float(policy.get("log_std_init", 0.0)),
        norm_reward=bool(normalize.get("norm_reward", False)),
    )


class ActorCritic(nn.Module):
    """SB3's MlpPolicy for a Box action: separate tanh MLPs, a linear mean head, a free log std."""

    action_dim: int
    net_arch: Sequence[int]
    log_std_init: float

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        hidden = nn.initializers.orthogonal(math.sqrt(2.0))
        pi = obs
        for i, width in enumerate(self.net_arch):
            pi = nn.tanh(nn.Dense(width, kernel_init=hidden, name=f"actor_{i}")(pi))
        mean = nn.Dense(self.action_dim, kernel_init=nn.initializers.orthogonal(0.01),
                        name=f"actor_{len(self.net_arch)}")(pi)
        log_std = self.param("log_std", nn.initializers.constant(self.log_std_init), (self.action_dim,))
        v = obs
        for i, width in enumerate(self.net_arch):
            v = nn.tanh(nn.Dense(width, kernel_init=hidden, name=f"critic_{i}")(v))
        value = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0), name="critic_out")(v)
        return mean, log_std, value[..., 0]


def actor_layers(params: Any, depth: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The actor's (kernel, bias) layers of one seed's params, as numpy arrays (what ``model.npz`` holds)."""
    inner = params["params"]
    return [(np.asarray(inner[f"actor_{i}"]["kernel"]), np.asarray(inner[f"actor_{i}"]["bias"]))
            for i in range(depth + 1)]


def _log_prob(mean: jax.Array, log_std: jax.Array, action: jax.Array) -> jax.Array:
    """Log density of a diagonal Gaussian (summed over action dims)."""
    z = (action - mean) / jnp.exp(log_std)
    return jnp.sum(-0.5 * z * z - log_std - 0.5 * math.log(2.0 * math.pi), axis=-1)


class RunnerState(NamedTuple):
    """One seed's training state between updates."""

    train_state: Any
    env_state: Any
    obs: jax.Array
    ret: jax.Array
    ret_mean: jax.Array
    ret_var: jax.Array
    ret_count: jax.Array
    key: jax.Array


def _heads(network: ActorCritic, params: Any, obs: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(action mean, log std, value) of ``obs``."""
    mean, log_std, value = network.apply(params, obs)  # type: ignore[misc]
    return mean, log_std, value


def make_update(env: GymnaxEnv, recipe: Recipe, network: ActorCritic) -> Any:
    """One PPO update of one seed (rollout of num_envs x num_steps, GAE, epochs of minibatch steps)."""
    n, steps = recipe.num_envs, recipe.num_steps
    batch = n * steps
    minibatches = max(1, batch // recipe.minibatch_size)
    step_envs = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def rollout_step(carry: tuple[RunnerState, Any], _: Any) -> tuple[tuple[RunnerState, Any], Any]:
        runner, env_params = carry
        key, act_key, step_key = jax.random.split(runner.key, 3)
        mean, log_std, value = _heads(network, runner.train_state.params, runner.obs)
        action = mean + jnp.exp(log_std) * jax.random.normal(act_key, mean.shape)
        log_prob = _log_prob(mean, log_std, action)
        obs, env_state, reward, done, info = step_envs(
            jax.random.split(step_key, n), runner.env_state, jnp.clip(action, -1.0, 1.0), env_params)
        ret, ret_mean, ret_var, ret_count = runner.ret, runner.ret_mean, runner.ret_var, runner.ret_count
        if recipe.norm_reward:  # VecNormalize: running variance of the discounted return
            ret = ret * recipe.gamma + reward
            b_mean, b_var = jnp.mean(ret), jnp.var(ret)
            total = ret_count + n
            delta = b_mean - ret_mean
            new_mean = ret_mean + delta * n / total
            ret_var = (ret_var * ret_count + b_var * n + delta**2 * ret_count * n / total) / total
            ret_mean, ret_count = new_mean, total
            scaled = jnp.clip(reward / jnp.sqrt(ret_var + 1e-8), -10.0, 10.0)
            ret = jnp.where(done, 0.0, ret)
        else:
            scaled = reward
        transition = (runner.obs, action, log_prob, value, scaled, done, info["normalized_score"])
        runner = RunnerState(runner.train_state, env_state, obs, ret, ret_mean, ret_var, ret_count, key)
        return (runner, env_params), transition

    def loss_fn(params: Any, obs: Any, action: Any, old_log_prob: Any, advantages: Any, targets: Any) -> Any:
        mean, log_std, value = _heads(network, params, obs)
        log_prob = _log_prob(mean, log_std, action)
        ratio = jnp.exp(log_prob - old_log_prob)
        adv = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        pg = -jnp.mean(jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - recipe.clip_range, 1 + recipe.clip_range) * adv))
        value_loss = jnp.mean((targets - value) ** 2)
        entropy = jnp.sum(log_std + 0.5 * math.log(2.0 * math.pi * math.e))
        return pg + recipe.vf_coef * value_loss - recipe.ent_coef * entropy

    grad_fn = jax.grad(loss_fn)

    def update(carry: tuple[RunnerState, Any], _: Any) -> tuple[tuple[RunnerState, Any], Any]:
        (runner, env_params), (obs, action, log_prob, value, reward, done, normalized) = jax.lax.scan(
            rollout_step, carry, None, steps)
        _, _, last_value = _heads(network, runner.train_state.params, runner.obs)

        def gae_step(carry: tuple[Any, Any], row: Any) -> tuple[tuple[Any, Any], Any]:
            gae, next_value = carry
            done_t, value_t, reward_t = row
            delta = reward_t + recipe.gamma * next_value * (1 - done_t) - value_t
            gae = delta + recipe.gamma * recipe.gae_lambda * (1 - done_t) * gae
            return (gae, value_t), gae

        _, advantages = jax.lax.scan(gae_step, (jnp.zeros_like(last_value), last_value),
                                     (done.astype(jnp.float32), value, reward), reverse=True)
        targets = advantages + value
        data = jax.tree_util.tree_map(lambda x: x.reshape((batch, *x.shape[2:])),
                                      (obs, action, log_prob, advantages, targets))

        def epoch(state_key: tuple[Any, Any], _: Any) -> tuple[tuple[Any, Any], Any]:
            train_state, key = state_key
            key, perm_key = jax.random.split(key)
            order = jax.random.permutation(perm_key, batch)[: minibatches * recipe.minibatch_size]
            shuffled = jax.tree_util.tree_map(lambda x: x[order].reshape((minibatches, -1, *x.shape[1:])), data)

            def minibatch(train_state: Any, mb: Any) -> tuple[Any, Any]:
                return train_state.apply_gradients(grads=grad_fn(train_state.params, *mb)), None

            train_state, _ = jax.lax.scan(minibatch, train_state, shuffled)
            return (train_state, key), None

        key, epoch_key = jax.random.split(runner.key)
        (train_state, _), _ = jax.lax.scan(epoch, (runner.train_state, epoch_key), None, recipe.epochs)
        runner = runner._replace(train_state=train_state, key=key)
        finished = jnp.sum(done)
        mean_normalized = jnp.sum(jnp.where(done, normalized, 0.0)) / jnp.maximum(finished, 1)
        return (runner, env_params), mean_normalized

    return update


def _init_runner(env: GymnaxEnv, recipe: Recipe, network: ActorCritic, key: jax.Array, env_params: Any) -> RunnerState:
    from flax.training.train_state import TrainState

    init_key, reset_key, key = jax.random.split(key, 3)
    shape = env.observation_space(env_params).shape
    assert shape is not None
    obs_dim = shape[0]
    params = network.init(init_key, jnp.zeros((obs_dim,)))
    tx = optax.chain(optax.clip_by_global_norm(recipe.max_grad_norm), optax.adam(recipe.learning_rate, eps=1e-5))
    train_state = TrainState.create(apply_fn=network.apply, params=params, tx=tx)
    obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(reset_key, recipe.num_envs), env_params)
    zeros = jnp.zeros(recipe.num_envs)
    return RunnerState(train_state, env_state, obs, zeros, jnp.zeros(()), jnp.ones(()), jnp.asarray(1e-4), key)


@dataclass
class Sweep:
    """A compiled sweep: its program, per-seed states and bookkeeping (see :func:`train_jax_ppo`)."""

    config: JaxPPOConfig
    recipe: Recipe
    env_id: str
    env_kwargs: dict[str, Any]
    hp: ZooHyperparams
    runners: Any
    env_params: Any
    chunk: Any
    updates_per_chunk: int
    depth: int
    total_timesteps: int


def shard_seeds(tree: Any, seeds: int) -> Any:
    """``tree`` (arrays with a leading seed axis) split over the local devices along that axis, so the
    compiled sweep (which follows its inputs' sharding) runs each device's seeds in parallel: several GPUs,
    or the cores of a CPU exposed as devices (``XLA_FLAGS=--xla_force_host_platform_device_count=N``, set
    before JAX starts). Uses the most devices that divide ``seeds``; one device leaves ``tree`` as it is."""
    devices = jax.local_devices()
    usable = max(count for count in range(1, len(devices) + 1) if seeds % count == 0)
    if usable == 1:
        return tree
    mesh = jax.sharding.Mesh(np.array(devices[:usable]), ("seeds",))
    return jax.device_put(tree, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("seeds")))


def build_sweep(config: JaxPPOConfig, hp: ZooHyperparams | None = None) -> Sweep:
    """Compile-ready state of a sweep: each seed's twin (its own history bank), network and optimiser."""
    from agents.train import TrainConfig

    env_id, base_kwargs = TrainConfig(env=config.env).env_spec()
    hp = hp or load_hyperparams("ppo", env_id, config.hyperparams)
    env_kwargs = {**hp.env_kwargs, **config.env_kwargs}
    if env_kwargs.get("history") == "corpus":
        raise ConfigError("the training history must not be the corpus (the test set)")
    recipe = recipe_from(hp)
    twin_kwargs = {name: value for name, value in env_kwargs.items() if name not in base_kwargs}
    seeds = range(config.first_seed, config.first_seed + config.seeds)
    envs_params = []
    env = None
    for seed in seeds:  # each seed's bank from its own generator (like each SB3 run's training envs)
        env, params = make(config.env, num_histories=config.num_histories, history_seed=seed, **twin_kwargs)
        envs_params.append(params)
    assert env is not None
    env_params = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *envs_params)
    network = ActorCritic(env.num_actions, recipe.net_arch, recipe.log_std_init)
    keys = jnp.stack([jax.random.PRNGKey(seed) for seed in seeds])
    runners = jax.vmap(partial(_init_runner, env, recipe, network))(keys, env_params)  # (jitted, this hung on XLA CPU)
    runners, env_params = shard_seeds((runners, env_params), config.seeds)
    total = config.total_timesteps or hp.n_timesteps
    total, eval_every = capped_timesteps(total, config.eval_freq or max(1, total // 20))  # PROGRESSGYM_MAX_TIMESTEPS
    per_update = recipe.num_envs * recipe.num_steps
    updates = max(1, math.ceil(total / per_update))
    eval_every = max(per_update, eval_every)
    updates_per_chunk = max(1, min(updates, round(eval_every / per_update)))
    update = make_update(env, recipe, network)

    def chunk(runners: Any, env_params: Any) -> tuple[Any, Any]:
        def one_seed(runner: RunnerState, params: Any) -> tuple[RunnerState, Any]:
            (runner, _), curve = jax.lax.scan(update, (runner, params), None, updates_per_chunk)
            return runner, curve

        return jax.vmap(one_seed)(runners, env_params)

    return Sweep(config, recipe, env_id, {**base_kwargs, **env_kwargs}, hp, runners, env_params,
                 jax.jit(chunk), updates_per_chunk, len(recipe.net_arch), total)


def run_chunks(sweep: Sweep, chunks: int) -> tuple[Any, float, float]:
    """Run ``chunks`` compiled chunks without validation (benchmarks), after a first one that compiles.

    :return: (runners, wall seconds, process CPU seconds) of the ``chunks`` chunks.
    """
    runners, _ = sweep.chunk(sweep.runners, sweep.env_params)  # compile + first chunk
    jax.block_until_ready(runners)
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(chunks):
        runners, _ = sweep.chunk(runners, sweep.env_params)
    jax.block_until_ready(runners)
    sweep.runners = runners
    return runners, time.perf_counter() - start, time.process_time() - start_cpu


def _validation_kwargs(env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The validation envs' kwargs, as :mod:`agents.train` sets them: procedural, the paper's cosine."""
    kwargs = {**env_kwargs, "history": "procedural"}
    kwargs.pop("similarity", None)  # validation scores the paper's cosine, whatever the reward
    return kwargs


def train_jax_ppo(config: JaxPPOConfig, hp: ZooHyperparams | None = None) -> dict[str, Any]:
    """Train ``config.seeds`` seeds in one program, validate after every chunk, save each seed's best policy.

    :return: the sweep summary (also ``<out>/sweep.json``): per seed the best validation mean and step,
        env steps, training seconds (compiled program only) and wall seconds (validation included).
    """
    wall = time.perf_counter()
    sweep = build_sweep(config, hp)
    recipe = sweep.recipe
    per_update = recipe.num_envs * recipe.num_steps
    chunks = max(1, math.ceil(math.ceil(sweep.total_timesteps / per_update) / sweep.updates_per_chunk))
    out = Path(config.out or Path("runs") / "train" / f"jaxppo-{config.env}")
    seeds = list(range(config.first_seed, config.first_seed + config.seeds))
    validation_seeds = list(range(config.validation_first_seed, config.validation_first_seed + config.validation_episodes))
    val_kwargs = _validation_kwargs(sweep.env_kwargs)
    curves = [ValidationCurve() for _ in seeds]
    best: list[list[tuple[np.ndarray, np.ndarray]] | None] = [None] * len(seeds)

    def validate(runners: Any, timestep: int) -> None:
        for i in range(len(seeds)):
            params = jax.tree_util.tree_map(lambda x, i=i: x[i], runners.train_state.params)
            layers = actor_layers(params, sweep.depth)
            _, normalized = evaluate_policy_on_seeds(NumpyPolicy(layers), sweep.env_id, val_kwargs, validation_seeds)
            if curves[i].add(timestep, normalized):
                best[i] = layers

    runners = sweep.runners
    validate(runners, 0)
    train_seconds = 0.0
    done_steps = 0
    for _ in range(chunks):
        start = time.perf_counter()
        runners, _ = sweep.chunk(runners, sweep.env_params)
        jax.block_until_ready(runners)
        train_seconds += time.perf_counter() - start
        done_steps += sweep.updates_per_chunk * per_update
        validate(runners, done_steps)
    summary: dict[str, Any] = {"config": asdict(config), "recipe": recipe._asdict(), "env_id": sweep.env_id,
                               "env_kwargs": sweep.env_kwargs, "timesteps_per_seed": done_steps,
                               "train_seconds_incl_compile": round(train_seconds, 3),
                               "wall_seconds": 0.0, "runs": []}
    for i, seed in enumerate(seeds):
        folder = out / f"seed{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        params = jax.tree_util.tree_map(lambda x, i=i: x[i], runners.train_state.params)
        save_actor(folder / "last_model.npz", actor_layers(params, sweep.depth))
        save_actor(folder / "model.npz", best[i] or actor_layers(params, sweep.depth))
        curve = curves[i].to_dict()
        record = {
            "algo": "jaxppo", "trainer": "agents.jax_ppo", "challenge": config.env, "seed": seed,
            "env_id": sweep.env_id, "train_env_kwargs": sweep.env_kwargs, "validation_env_kwargs": val_kwargs,
            "seeds": {"train": seed, "validation": [validation_seeds[0], validation_seeds[-1]],
                      "test_procedural_first": TEST_FIRST_SEED},
            "history_bank": {"source": sweep.env_kwargs.get("history", "procedural"), "size": config.num_histories,
                             "seed": seed},
            "timesteps_done": done_steps, "hyperparams": {**sweep.hp.algo_kwargs, "n_envs": sweep.hp.n_envs,
                                                          "normalize": sweep.hp.normalize},
            "validation": curve, "status": "finished", "command": " ".join(sys.argv),
        }
        atomic_write_text(folder / "config.json", json.dumps(record, indent=2, default=str))
        atomic_write_text(folder / "evaluations.json", json.dumps(curve, indent=2))
        summary["runs"].append({"seed": seed, "model": str(folder / "model.npz"),
                                "best_validation_normalized_score": curve["best_mean"],
                                "best_timestep": curve["best_timestep"]})
    summary["wall_seconds"] = round(time.perf_counter() - wall, 3)
    atomic_write_text(out / "sweep.json", json.dumps(summary, indent=2, default=str))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m agents.jax_ppo --env follow --seeds 64 [--total-timesteps N] [--out DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="follow")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--total-timesteps", type=int, default=None)
    parser.add_argument("--num-histories", type=int, default=4096)
    parser.add_argument("--validation-episodes", type=int, default=100)
    parser.add_argument("--eval-freq", type=int, default=0)
    parser.add_argument("--env-kwargs", type=json.loads, default={}, help="JSON object over the YAML's env_kwargs")
    parser.add_argument("--hyperparams", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    config = JaxPPOConfig(env=args.env, env_kwargs=args.env_kwargs, total_timesteps=args.total_timesteps,
                          seeds=args.seeds, first_seed=args.first_seed, num_histories=args.num_histories,
                          validation_episodes=args.validation_episodes, eval_freq=args.eval_freq,
                          hyperparams=args.hyperparams, out=args.out)
    summary = train_jax_ppo(config)
    print(json.dumps({key: summary[key] for key in ("timesteps_per_seed", "train_seconds_incl_compile", "wall_seconds")}))
    for run in summary["runs"]:
        print(f"seed {run['seed']}: validation {run['best_validation_normalized_score']:.4f} -> {run['model']}")
    return 0


__all__ = ["ActorCritic", "JaxPPOConfig", "Recipe", "build_sweep", "make_func_env", "recipe_from", "run_chunks",
           "train_jax_ppo"]

if __name__ == "__main__":
    raise SystemExit(main())
