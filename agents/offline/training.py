"""Train an offline agent from a Minari dataset: behaviour cloning, IQL or CQL on torchrl.

Why torchrl: d3rlpy, the other maintained offline-RL library, pins ``gymnasium==1.0.0`` and would
downgrade the project's gymnasium 1.4; torchrl (already the ``rl-clients`` extra) ships the losses
(:class:`torchrl.objectives.IQLLoss`, :class:`torchrl.objectives.CQLLoss`), target-network updates
(:class:`torchrl.objectives.SoftUpdate`) and replay buffers (:class:`torchrl.data.ReplayBuffer`, filled
from Minari's episode reader: see :func:`_load_replay` for why not its ``MinariExperienceReplay``). Behaviour
cloning is the squared error between the dataset's actions and the same actor's deterministic action
(d3rlpy's default BC for continuous actions; torchrl has no BC loss, it is one line over the actor).

The protocol is the online one's (:mod:`agents.train`): the dataset holds procedural *training*
histories only; every ``eval_every`` gradient steps the deterministic policy plays the dataset's
validation histories (env seeds 10000..10099, read from its metadata) and the best checkpoint is kept;
the corpus and the test seeds are played only by the benchmark, after selection.

Preprocessing, the same for every algorithm: rewards are standardised by the dataset's mean and
standard deviation (every episode has the same length, so the shift changes no ranking of policies);
actions are clamped to [-0.999, 0.999] (the baselines' actions are often exactly ±1, where a tanh-squashed
Gaussian has no density).

A run writes into its folder ``policy.pt`` (the selected actor's weights) and ``config.json`` (this
config, the dataset's provenance, network sizes, reward statistics, the validation curve, ``status``),
which ``make_agent("offline:<folder>/policy.pt", env)`` loads (:mod:`agents.offline.agent`). Both are
rewritten (atomically) at every validation, so an interrupted run (``status: running``) keeps its best
checkpoint so far, loadable as it is.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from progressgym_env.errors import ConfigError, MissingExtraError

ALGOS = ("bc", "iql", "cql")
ACTION_CLAMP = 0.999
"""Dataset actions are clamped to ±this: a tanh-squashed Gaussian has no density at exactly ±1."""
POLICY_FILE = "policy.pt"
CONFIG_FILE = "config.json"


@dataclass
class OfflineConfig:
    """Settings of one offline training run (saved as ``config.json`` beside the policy)."""

    dataset: str = field(default="progressgym/follow/lifelong-eps0p3-v0",
                         metadata={"help": "Minari dataset id (written by progressgym dataset)."})
    algo: str = field(default="iql", metadata={"help": "bc (behaviour cloning), iql or cql.", "choices": ALGOS})
    steps: int = field(default=20_000, metadata={"help": "Gradient steps."})
    batch_size: int = field(default=256, metadata={"help": "Transitions per gradient step."})
    hidden: tuple[int, ...] = field(default=(256, 256), metadata={"help": "Hidden layer widths of every MLP."})
    lr: float = field(default=3e-4, metadata={"help": "Adam learning rate."})
    gamma: float = field(default=0.99, metadata={"help": "Discount (IQL, CQL)."})
    tau: float = field(default=0.005, metadata={"help": "Soft target-network update rate (IQL, CQL)."})
    expectile: float = field(default=0.7, metadata={"help": "IQL expectile."})
    temperature: float = field(default=3.0, metadata={"help": "IQL advantage temperature (inverse beta)."})
    cql_alpha: float = field(default=1.0, metadata={"help": "CQL's conservative penalty weight."})
    eval_every: int = field(default=2_000, metadata={"help": "Validate every this many gradient steps."})
    validation_episodes: int = field(default=100, metadata={"help": "Validation histories (from seed 10000)."})
    seed: int = field(default=0, metadata={"help": "Seed of the networks and the batch sampling."})
    out: str | None = field(default=None, metadata={"help": "Output folder; none = runs/offline/<dataset>-<algo>-seed<k>."})
    torch_threads: int = field(default=1, metadata={"help": "torch CPU threads."})
    progress: bool = field(default=True, metadata={"help": "Show a progress bar."})

    def __post_init__(self) -> None:
        self.algo = self.algo.lower()
        if self.algo not in ALGOS:
            raise ConfigError(f"unknown offline algo {self.algo!r}; choose one of {', '.join(ALGOS)}")
        for name in ("steps", "batch_size", "eval_every", "validation_episodes"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            raise ConfigError(f"hidden must list positive layer widths, got {self.hidden}")
        self.hidden = tuple(int(h) for h in self.hidden)

    def output_dir(self) -> Path:
        """The run's folder."""
        if self.out:
            return Path(self.out)
        return Path("runs") / "offline" / f"{self.dataset.replace('/', '__')}-{self.algo}-seed{self.seed}"


def require_offline_extra() -> None:
    try:
        import minari  # noqa: F401
        import torchrl  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError("offline RL training", "offline", exc.name or "torchrl") from None


def build_actor(obs_dim: int, act_dim: int, hidden: tuple[int, ...]) -> Any:
    """The policy: an MLP giving a tanh-squashed Gaussian over [-1, 1]^act_dim (torchrl modules)."""
    from tensordict.nn import NormalParamExtractor, TensorDictModule
    from torch import nn
    from torchrl.modules import MLP, ProbabilisticActor, TanhNormal

    net = nn.Sequential(MLP(in_features=obs_dim, out_features=2 * act_dim, num_cells=list(hidden),
                            activation_class=nn.ReLU), NormalParamExtractor())
    module = TensorDictModule(net, in_keys=["observation"], out_keys=["loc", "scale"])
    return ProbabilisticActor(module, in_keys=["loc", "scale"], distribution_class=TanhNormal,
                              distribution_kwargs={"low": -1.0, "high": 1.0}, return_log_prob=False)


def _critics(obs_dim: int, act_dim: int, hidden: tuple[int, ...]) -> tuple[Any, Any]:
    """(Q(s, a), V(s)) value operators."""
    from torch import nn
    from torchrl.modules import MLP, ValueOperator

    q = ValueOperator(MLP(in_features=obs_dim + act_dim, out_features=1, num_cells=list(hidden),
                          activation_class=nn.ReLU), in_keys=["observation", "action"])
    v = ValueOperator(MLP(in_features=obs_dim, out_features=1, num_cells=list(hidden), activation_class=nn.ReLU),
                      in_keys=["observation"])
    return q, v


class ActorPolicy:
    """The deterministic policy of a torchrl actor, with SB3's ``predict`` (what the batched evaluator calls)."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def predict(self, obs: np.ndarray, deterministic: bool = True, **_: Any) -> tuple[np.ndarray, None]:
        """Actions for a batch of observations (the mode of the squashed Gaussian)."""
        import torch
        from tensordict import TensorDict
        from torchrl.envs.utils import ExplorationType, set_exploration_type

        array = np.asarray(obs, dtype=np.float32)
        batch = array[None] if array.ndim == 1 else array
        with torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
            td = self.actor(TensorDict({"observation": torch.as_tensor(batch)}, batch_size=[len(batch)]))
        actions = td["action"].numpy().astype(np.float32)
        return (actions[0] if array.ndim == 1 else actions), None


def load_transitions(dataset: Any) -> Any:
    """Every transition of a loaded Minari dataset as one flat TensorDict (read with Minari's own episode reader).

    Keys: ``observation``, ``action``, ``("next", "observation")``, ``("next", "reward")``,
    ``("next", "terminated")``, ``("next", "truncated")``, ``("next", "done")``, ``episode``.
    """
    import torch
    from tensordict import TensorDict

    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("obs", "next", "action", "reward", "term", "trunc", "ep")}
    for index, episode in enumerate(dataset.iterate_episodes()):
        observations = np.asarray(episode.observations, dtype=np.float32)
        parts["obs"].append(observations[:-1])
        parts["next"].append(observations[1:])
        parts["action"].append(np.asarray(episode.actions, dtype=np.float32))
        parts["reward"].append(np.asarray(episode.rewards, dtype=np.float64))
        parts["term"].append(np.asarray(episode.terminations, dtype=bool))
        parts["trunc"].append(np.asarray(episode.truncations, dtype=bool))
        parts["ep"].append(np.full(len(episode.actions), index))
    if not parts["obs"]:
        raise ConfigError("the offline dataset holds no episode")
    cat = {k: torch.as_tensor(np.concatenate(v)) for k, v in parts.items()}
    terminated, truncated = cat["term"].unsqueeze(-1), cat["trunc"].unsqueeze(-1)
    return TensorDict({
        "observation": cat["obs"], "action": cat["action"], "episode": cat["ep"],
        "next": {"observation": cat["next"], "reward": cat["reward"].unsqueeze(-1), "terminated": terminated,
                 "truncated": truncated, "done": terminated | truncated},
    }, batch_size=[len(cat["obs"])])


def _load_replay(dataset: Any, batch_size: int) -> tuple[Any, dict[str, float]]:
    """A torchrl replay buffer (uniform sampling) holding every transition, and the reward statistics.

    Not torchrl's ``MinariExperienceReplay(load_from_local_minari=True)``: in torchrl 0.14 it returns
    all-zero tensors for a local dataset (it fills a TensorDict, then keeps ``memmap_like`` of it, which
    copies the structure, not the values), so the buffer is filled from Minari's own episode reader.
    """
    import logging

    from torchrl.data import LazyTensorStorage, RandomSampler, ReplayBuffer

    transitions = load_transitions(dataset)
    logger = logging.getLogger("torchrl")
    level = logger.level
    logger.setLevel(logging.WARNING)  # torchrl logs the storage's creation at INFO
    try:
        replay = ReplayBuffer(storage=LazyTensorStorage(len(transitions)), sampler=RandomSampler(),
                              batch_size=batch_size)
        replay.extend(transitions)
    finally:
        logger.setLevel(level)
    rewards = transitions["next", "reward"]
    return replay, {"mean": float(rewards.mean()), "std": float(rewards.std().clamp_min(1e-8)),
                    "transitions": int(rewards.numel())}


def _prepare(batch: Any, rewards: dict[str, float]) -> Any:
    """The keys the losses read, float32, rewards standardised, actions clamped."""
    import torch

    out = batch.select("observation", "action", ("next", "observation"), ("next", "reward"), ("next", "done"),
                       ("next", "terminated"))
    out["observation"] = out["observation"].to(torch.float32)
    out["next", "observation"] = out["next", "observation"].to(torch.float32)
    out["action"] = out["action"].to(torch.float32).clamp(-ACTION_CLAMP, ACTION_CLAMP)
    out["next", "reward"] = ((out["next", "reward"].to(torch.float64) - rewards["mean"]) / rewards["std"]).to(
        torch.float32)
    return out


def validation_scores(policy: Any, provenance: dict[str, Any], episodes: int) -> np.ndarray:
    """Normalised scores of ``policy`` on the dataset's validation histories (batched, exact mode)."""
    from agents.train import evaluate_policy_on_seeds

    first = int(provenance["validation_seeds"]["first"])
    _, normalized = evaluate_policy_on_seeds(policy, provenance["env_id"], dict(provenance["env_kwargs"]),
                                             list(range(first, first + episodes)))
    return normalized


def train_offline(config: OfflineConfig) -> dict[str, Any]:
    """Train ``config.algo`` on ``config.dataset``, select on the validation histories, save the best actor.

    :return: the saved ``config.json`` content (validation curve included).
    """
    require_offline_extra()
    import minari
    import torch
    from torchrl.objectives import CQLLoss, IQLLoss, SoftUpdate

    from agents.offline.datasets import read_provenance
    from progressgym_env.common.atomic import atomic_path, atomic_write_text
    from progressgym_env.common.progress import ProgressBar

    try:
        dataset = minari.load_dataset(config.dataset)
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(f"offline dataset {config.dataset!r} not found ({exc}); write it with progressgym dataset "
                          "or set MINARI_DATASETS_PATH") from None
    provenance = read_provenance(dataset)
    if provenance.get("split") != "train":
        raise ConfigError(f"dataset {config.dataset!r} has no progressgym training-split metadata; offline agents "
                          "train only on datasets written by progressgym dataset (procedural training histories)")
    obs_dim = int(dataset.observation_space.shape[0])
    act_dim = int(dataset.action_space.shape[0])
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.torch_threads)
    actor = build_actor(obs_dim, act_dim, config.hidden)
    qvalue, value = _critics(obs_dim, act_dim, config.hidden)
    with torch.no_grad():  # materialise lazy shapes
        from tensordict import TensorDict

        probe = TensorDict({"observation": torch.zeros(1, obs_dim), "action": torch.zeros(1, act_dim)}, [1])
        actor(probe.clone()), qvalue(probe.clone()), value(probe.clone())
    loss_module: Any = None
    if config.algo == "iql":
        loss_module = IQLLoss(actor, qvalue, value, loss_function="l2", temperature=config.temperature,
                              expectile=config.expectile)
    elif config.algo == "cql":
        from torchrl.data import Bounded

        loss_module = CQLLoss(actor, qvalue, loss_function="l2", alpha_init=1.0, with_lagrange=False,
                              min_q_weight=config.cql_alpha, action_spec=Bounded(-1.0, 1.0, (act_dim,)))
    if loss_module is not None:
        loss_module.make_value_estimator(gamma=config.gamma)
        updater = SoftUpdate(loss_module, tau=config.tau)
        parameters = list(loss_module.parameters())
    else:
        parameters = list(actor.parameters())
    optimizer = torch.optim.Adam(parameters, lr=config.lr)
    out = config.output_dir()
    out.mkdir(parents=True, exist_ok=True)
    curve: dict[str, Any] = {"steps": [], "means": [], "medians": [], "best_step": -1, "best_mean": -np.inf}
    policy = ActorPolicy(actor)
    start = time.perf_counter()
    record: dict[str, Any] = {
        "offline": asdict(config), "dataset_provenance": provenance, "obs_dim": obs_dim, "act_dim": act_dim,
        "hidden": list(config.hidden), "validation": curve,
        "selected_by": "best mean normalized score on the dataset's procedural validation histories (env seeds "
                       f"{provenance['validation_seeds']['first']}..+{config.validation_episodes - 1})",
    }

    def save(status: str, step: int) -> None:
        record.update(status=status, steps_done=step, train_seconds=round(time.perf_counter() - start, 2))
        atomic_write_text(out / CONFIG_FILE, json.dumps(record, indent=1, default=str) + "\n")

    replay, rewards = _load_replay(dataset, config.batch_size)
    record["reward_statistics"] = rewards
    with ProgressBar(config.steps, f"{config.algo} on {config.dataset}", enabled=config.progress) as bar:
        for step in range(1, config.steps + 1):
            batch = _prepare(replay.sample(), rewards)
            if loss_module is None:  # BC: squared error of the deterministic action (d3rlpy's default)
                predicted = actor.get_dist(batch).deterministic_sample
                loss = ((predicted - batch["action"]) ** 2).mean()
            else:
                losses = loss_module(batch)
                loss = sum(v for k, v in losses.items() if k.startswith("loss_") and k != "loss_actor_bc")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if loss_module is not None:
                updater.step()
            if step % config.eval_every == 0 or step == config.steps:
                scores = validation_scores(policy, provenance, config.validation_episodes)
                mean = float(np.mean(scores))
                curve["steps"].append(step)
                curve["means"].append(mean)
                curve["medians"].append(float(np.median(scores)))
                if mean > curve["best_mean"]:
                    curve["best_mean"], curve["best_step"] = mean, step
                    with atomic_path(out / POLICY_FILE) as tmp:
                        torch.save(actor.state_dict(), tmp)
                save("running", step)  # an interrupted run keeps a loadable best checkpoint
                bar.status(f"validation {mean:+.3f} (best {curve['best_mean']:+.3f})")
            bar.advance()
    save("finished", config.steps)
    return record


__all__ = ["ALGOS", "ActorPolicy", "OfflineConfig", "build_actor", "train_offline", "validation_scores"]
