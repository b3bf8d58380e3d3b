"""Minari datasets of ProgressGym episodes, played by named behaviour policies on training histories only.

``progressgym dataset --challenge follow --policy lifelong@eps=0.3 --episodes 1000`` writes the Minari
dataset ``progressgym/follow/lifelong-eps0p3-v0`` under Minari's data root (``MINARI_DATASETS_PATH``,
default ``~/.minari/datasets``): one episode per env seed ``first_seed .. first_seed + episodes - 1`` on
**procedural** histories. Those seeds lie below :data:`agents.train.VALIDATION_FIRST_SEED`, so a dataset
never holds a validation history (seeds 10000..), a test history (seeds 100000..) or the corpus (the
``corpus`` history is refused): the offline protocol is the online one's, train / validation / test.

What a dataset holds (read it with ``minari.load_dataset(id)``):

- episodes recorded by Minari's ``DataCollector`` with ``record_infos=True`` (observations (T+1, obs dim),
  actions (T, d), rewards, terminations, every info key: ``human_values``, ``normalized_score``, ...);
- the env spec of the recording env (``dataset.recover_environment()``) and, as Minari's ``eval_env``,
  the same env on the validation histories (:class:`~progressgym_env.seed_schedule.SeedSchedule`:
  ``dataset.recover_environment(eval_env=True).reset()`` walks seeds 10000, 10001, ...);
- metadata (``dataset.storage.metadata["progressgym"]``, a JSON string): challenge, env id and kwargs,
  history split, the episode seeds, the validation seeds, the query budget, the behaviour policy and its
  configuration, the policy seed, write time; per episode (``episode_metadata``) its seed and, for a
  mixture, the component that played it.

**Atomic.** Minari writes into a hidden staging folder beside the final one (the data root is pointed
there while it writes); the folder is renamed into place only when the dataset is complete and its
metadata written. Ctrl-C, ``kill`` (SIGTERM) or a full disk remove it; a SIGKILL leaves a hidden folder
that Minari never lists or loads, swept by the next write into the same folder.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.train import TEST_FIRST_SEED, VALIDATION_FIRST_SEED
from progressgym_env.errors import ConfigError, MissingExtraError, ProgressGymError

TRAINING_SEED_LIMIT = VALIDATION_FIRST_SEED
"""Training datasets use env seeds in [0, TRAINING_SEED_LIMIT): below every validation and test seed."""
VALIDATION_EPISODES = 100
"""Validation histories of a dataset's eval env (seeds VALIDATION_FIRST_SEED .. +99), as in agents.train."""
TRAINING_HISTORIES = ("procedural", "models")
"""History sources a dataset may record: procedural histories (``procedural-<space>`` too) and the LLM
backend's ``models`` history (measured from the tiny world's proxies). Never ``corpus``: it is the test set."""
METADATA_KEY = "progressgym"
"""The dataset metadata key holding this package's provenance (a JSON string)."""
DATASET_ID = re.compile(r"^(?P<namespace>[-\w][-\w/]*[-\w])/(?P<name>[-\w]+?)-v(?P<version>\d+)$")
"""``namespace/name-vN``, Minari's id pattern with the namespace and version required (the namespace may
nest: ``progressgym/follow/lifelong-v0``; letters, digits, ``_`` and ``-`` only)."""
BYTES_PER_EPISODE = 48_000
"""HDF5 overhead of one episode (a group per info key; measured ~36 kB per Follow episode), for the disk check."""


class DatasetExistsError(ProgressGymError, FileExistsError):
    """A dataset with this id is already in the data root (``overwrite`` replaces it)."""


class DiskFullError(ProgressGymError, OSError):
    """The disk filled up while a dataset was written (nothing was left behind)."""


def _slug(policy: str) -> str:
    """A dataset-name-safe form of a policy name (``lifelong@eps=0.3`` -> ``lifelong-eps0p3``)."""
    text = policy.replace("@eps=", "-eps").replace("*", "x").replace("+", "_").replace(":", "-").replace("/", "-")
    return re.sub(r"[^\w-]", "", text.replace(".", "p")).strip("-") or "policy"


@dataclass
class DatasetConfig:
    """Settings of ``progressgym dataset`` (saved, as JSON, in the dataset's metadata)."""

    challenge: str = field(default="follow", metadata={"help": "Challenge key (follow, predict2, coevolve, ...)."})
    policy: str = field(
        default="lifelong",
        metadata={"help": "Behaviour policy: an agent name (lifelong, random, trained, extrapolative-2, "
                  "ppo:<path>, ...), '<name>@eps=<ε>' (ε-noisy) or a mixture '0.5*lifelong+0.5*random' "
                  "(one component per episode)."},
    )
    episodes: int = field(default=100, metadata={"help": "Episodes to record (one per env seed)."})
    dataset_id: str | None = field(
        default=None,
        metadata={"help": "Minari id 'namespace/name-vN'; none = progressgym/<challenge>/<policy>-v0."},
    )
    first_seed: int = field(
        default=0, metadata={"help": f"First env seed; seeds stay below {TRAINING_SEED_LIMIT} (validation/test)."}
    )
    history: str = field(
        default="procedural",
        metadata={"help": "History source: procedural (or procedural-<space>), or models (LLM backend). "
                  "Never corpus: it is the test set."},
    )
    env_kwargs: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "More env kwargs, e.g. {\"obs_history\": 4} or {\"query_budget\": 64}."},
    )
    policy_seed: int = field(default=0, metadata={"help": "Seed of the policy's own randomness (noise, draws)."})
    overwrite: bool = field(default=False, metadata={"help": "Replace a dataset with the same id."})
    progress: bool = field(default=True, metadata={"help": "Show a progress bar."})
    author: str = field(default="progressgym_env", metadata={"help": "Author recorded in the dataset."})

    def __post_init__(self) -> None:
        from progressgym_env.registry import variant as get_challenge

        get_challenge(self.challenge)  # unknown key: the error lists the known ones
        if isinstance(self.episodes, bool) or int(self.episodes) < 1:
            raise ConfigError(f"episodes must be >= 1, got {self.episodes}")
        if int(self.first_seed) < 0 or int(self.first_seed) + int(self.episodes) > TRAINING_SEED_LIMIT:
            raise ConfigError(
                f"training episodes use env seeds in [0, {TRAINING_SEED_LIMIT}) (the validation histories start at "
                f"{VALIDATION_FIRST_SEED}, the test histories at {TEST_FIRST_SEED}); first_seed={self.first_seed} "
                f"with {self.episodes} episodes reaches seed {int(self.first_seed) + int(self.episodes) - 1}"
            )
        history = str(self.env_kwargs.get("history", self.history))
        if history.split("-")[0] not in TRAINING_HISTORIES:
            raise ConfigError(
                f"history {history!r} cannot go into a training dataset: use 'procedural' (or "
                "'procedural-<space>'), or 'models' with the LLM backend; the corpus history is the test set"
            )
        self.history = history
        self.env_kwargs = {k: v for k, v in self.env_kwargs.items() if k != "history"}
        if self.dataset_id is None:
            self.dataset_id = f"progressgym/{self.challenge}/{_slug(self.policy)}-v0"
        check_dataset_id(self.dataset_id)

    def env_spec(self) -> tuple[str, dict[str, Any]]:
        """(env id, kwargs) of the recording env: the challenge's, this history, ``env_kwargs``."""
        from progressgym_env.registry import variant as get_challenge

        challenge = get_challenge(self.challenge)
        return challenge.env_id, {**challenge.kwargs, **self.env_kwargs, "history": self.history}

    def seeds(self) -> list[int]:
        """The env seeds of the episodes, in order."""
        return list(range(int(self.first_seed), int(self.first_seed) + int(self.episodes)))


def check_dataset_id(dataset_id: str) -> str:
    """``dataset_id`` if it has Minari's ``namespace/name-vN`` form (the namespace required here)."""
    if not isinstance(dataset_id, str) or not DATASET_ID.match(dataset_id):
        raise ConfigError(
            f"dataset id {dataset_id!r} is not of the form 'namespace/name-vN' (letters, digits, '_' and '-'; "
            "e.g. 'progressgym/follow/lifelong-v0')"
        )
    return dataset_id


def data_root() -> Path:
    """Minari's data root: ``$MINARI_DATASETS_PATH``, else ``~/.minari/datasets``."""
    path = os.environ.get("MINARI_DATASETS_PATH")
    return Path(path) if path else Path.home() / ".minari" / "datasets"


def dataset_path(dataset_id: str) -> Path:
    """Folder of dataset ``dataset_id`` in the data root."""
    return data_root() / check_dataset_id(dataset_id)


@contextmanager
def _minari_root(path: Path) -> Iterator[None]:
    """Point Minari's data root at ``path`` while the block runs (Minari reads the variable per call)."""
    previous = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous


def _require_minari() -> Any:
    try:
        import minari
    except ImportError:
        raise MissingExtraError("writing offline-RL datasets", "offline", "minari") from None
    return minari


def _check_free_space(folder: Path, config: DatasetConfig, obs_dim: int, act_dim: int, steps: int) -> None:
    """Refuse a dataset that clearly cannot fit on the disk before writing anything."""
    estimate = config.episodes * (BYTES_PER_EPISODE + 8 * (steps + 1) * (2 * obs_dim + 5 * act_dim + 8))
    existing = folder
    while not existing.exists():
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if estimate > free:
        raise DiskFullError(errno.ENOSPC, f"the dataset needs about {estimate / 1e6:.1f} MB, {existing} has "
                            f"{free / 1e6:.1f} MB free; record fewer episodes or free space; nothing was written")


def provenance(config: DatasetConfig, env: Any, behaviour: Any, env_id: str, env_kwargs: dict[str, Any]) -> dict:
    """The dataset's ``progressgym`` metadata (JSON-ready)."""
    import progressgym_env

    base = env.unwrapped
    return {
        "challenge": config.challenge,
        "env_id": env_id,
        "env_kwargs": env_kwargs,
        "history": config.history,
        "split": "train",
        "episode_seeds": {"first": int(config.first_seed), "count": int(config.episodes)},
        "validation_seeds": {"first": VALIDATION_FIRST_SEED, "count": VALIDATION_EPISODES},
        "test_seeds_excluded": {"corpus": "never recorded", "procedural_first": TEST_FIRST_SEED},
        "query_budget": getattr(base, "query_budget", None),
        "backend": type(getattr(base, "backend", None)).__name__,
        "policy": config.policy,
        "policy_config": behaviour.config(),
        "policy_seed": int(config.policy_seed),
        "config": asdict(config),
        "progressgym_env_version": getattr(progressgym_env, "__version__", "unknown"),
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_dataset(config: DatasetConfig, *, extra_metadata: dict[str, Any] | None = None) -> Path:
    """Record ``config.episodes`` episodes of ``config.policy`` and write them as a Minari dataset.

    :param config: what to record and where. :param extra_metadata: more provenance (merged into the
        ``progressgym`` metadata, e.g. how an LLM world was built).
    :return: the dataset's folder.
    :raises DatasetExistsError: the id exists and ``overwrite`` is off.
    :raises DiskFullError: the disk is (or would be) full; nothing is left behind.
    :raises ConfigError: an unknown policy, challenge, history or malformed id.
    """
    import gymnasium as gym

    import progressgym_env  # noqa: F401  (registers the envs)
    from agents.offline.behaviour import MixtureAgent, make_behaviour_policy
    from progressgym_env.common.atomic import atomic_folder, remove_stale_temp_files
    from progressgym_env.common.progress import ProgressBar
    from progressgym_env.seed_schedule import SeedSchedule

    minari = _require_minari()
    assert config.dataset_id is not None
    target = dataset_path(config.dataset_id)
    if target.exists() and not config.overwrite:
        raise DatasetExistsError(f"dataset {config.dataset_id!r} already exists at {target}; pass --overwrite to "
                                 "replace it, or choose another id (e.g. bump its -vN)")
    env_id, env_kwargs = config.env_spec()
    env = gym.make(env_id, **env_kwargs)
    behaviour = make_behaviour_policy(config.policy, env, seed=int(config.policy_seed))  # unknown names fail here
    obs_dim, act_dim = int(np.prod(env.observation_space.shape or (1,))), int(np.prod(env.action_space.shape or (1,)))
    steps = int(getattr(env.unwrapped, "episode_length", 8) or 8)
    _check_free_space(target.parent, config, obs_dim, act_dim, steps)
    _ensure_namespace(config.dataset_id)
    remove_stale_temp_files(target.parent)
    episode_metadata: list[dict[str, Any]] = []
    try:
        with atomic_folder(target) as staged, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"`code_permalink`|`author_email`", category=UserWarning)
            staging_root = staged.path / ".root"
            with _minari_root(staging_root):
                collector = minari.DataCollector(env, record_infos=True)
                try:
                    with ProgressBar(config.episodes, f"dataset {config.dataset_id}", enabled=config.progress) as bar:
                        for seed in config.seeds():
                            obs, _ = collector.reset(seed=seed)
                            behaviour.reset(seed=seed)
                            done = False
                            while not done:
                                obs, _, terminated, truncated, _ = collector.step(behaviour.act(obs))
                                done = bool(terminated or truncated)
                            entry: dict[str, Any] = {"seed": seed}
                            if isinstance(behaviour, MixtureAgent):
                                entry["policy"] = behaviour.active_name
                            episode_metadata.append(entry)
                            bar.advance(f"seed {seed}")
                    eval_env = SeedSchedule(gym.make(env_id, **env_kwargs), first_seed=VALIDATION_FIRST_SEED,
                                            count=VALIDATION_EPISODES)
                    dataset = collector.create_dataset(
                        dataset_id=config.dataset_id, eval_env=eval_env, algorithm_name=behaviour.name,
                        author=config.author, description=f"ProgressGym {config.challenge}: {config.episodes} "
                        f"episodes of behaviour policy {config.policy} on {config.history} training histories "
                        f"(env seeds {config.first_seed}..{config.first_seed + config.episodes - 1})",
                    )
                    info = provenance(config, env, behaviour, env_id, env_kwargs)
                    info.update(extra_metadata or {})
                    dataset.storage.update_metadata({METADATA_KEY: json.dumps(info, default=str)})
                    dataset.storage.update_episode_metadata(episode_metadata)
                finally:
                    collector.close()
            (staging_root / config.dataset_id / "data").rename(staged.path / "data")
            shutil.rmtree(staging_root)
    except OSError as exc:
        if exc.errno == errno.ENOSPC and not isinstance(exc, DiskFullError):
            raise DiskFullError(errno.ENOSPC, f"the disk filled up while writing dataset {config.dataset_id!r} "
                                f"({exc}); nothing was written") from exc
        raise
    return target


def _ensure_namespace(dataset_id: str) -> None:
    """Create the id's namespace in the real data root, as Minari's own ``create_dataset`` does."""
    from minari.namespace import create_namespace, list_local_namespaces

    namespace = dataset_id.rsplit("/", 1)[0]
    if namespace not in list_local_namespaces():
        create_namespace(namespace)


def read_provenance(dataset: Any) -> dict[str, Any]:
    """The ``progressgym`` metadata of a loaded Minari dataset (empty for a dataset not written here)."""
    raw = dataset.storage.metadata.get(METADATA_KEY)
    return json.loads(raw) if isinstance(raw, str) else {}


__all__ = [
    "DatasetConfig",
    "DatasetExistsError",
    "DiskFullError",
    "TRAINING_SEED_LIMIT",
    "check_dataset_id",
    "data_root",
    "dataset_path",
    "read_provenance",
    "write_dataset",
]
