"""Zoo-style hyperparameters: one YAML file per algorithm, keyed by env id (rl-baselines3-zoo layout).

``agents/hyperparams/<algo>.yml`` maps each env id to the algorithm's constructor kwargs plus these
zoo keys, which are consumed here rather than passed to SB3:

- ``n_timesteps``: default training length; ``n_envs``: parallel training envs;
- ``env_kwargs``: kwargs of the *training* envs (e.g. ``similarity: centered``);
- ``noise_type`` (``normal``) and ``noise_std``: action noise of TD3/SAC;
- ``normalize``: SB3's ``VecNormalize`` kwargs as a mapping, as rl-zoo3 reads them; here only
  reward normalisation (``{norm_obs: false, norm_reward: true}``): the cosine rewards sit in the
  0.9s, so the value function learns far better on rewards scaled by the return's running std.
  Observation normalisation is refused: the shipped agents act on raw observations;
- ``env_wrapper``: rl-zoo3's wrapper key; ``agents.wrappers.NormalizedScoreReward`` (optionally
  ``{agents.wrappers.NormalizedScoreReward: {clip: 5.0}}``) trains on the episode's normalised score
  (:mod:`agents.wrappers`), which the native vector env applies in batch;
  ``{agents.wrappers.LifelongResidualAction: {scale: 1.0}}`` makes the actions residual corrections to
  the lifelong target (:class:`agents.wrappers.LifelongResidualAction`); a list may hold both. Other
  wrappers are refused.

``policy_kwargs`` is a YAML mapping (not a Python string as in the zoo; nothing is ``eval``-ed);
``activation_fn`` may name a ``torch.nn`` class (``ReLU``, ``Tanh``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from progressgym_env.errors import ConfigError, MissingExtraError

ZOO_KEYS = ("n_timesteps", "n_envs", "env_kwargs", "noise_type", "noise_std", "normalize", "env_wrapper")


@dataclass
class ZooHyperparams:
    """The hyperparameters of one algorithm on one env, split into zoo keys and SB3 kwargs.

    :param n_timesteps: default number of training steps.
    :param n_envs: number of training envs.
    :param env_kwargs: kwargs of the training envs.
    :param algo_kwargs: everything passed to the SB3 constructor (policy, learning_rate, ...).
    :param noise_type: action noise (``normal``) for off-policy algorithms, or None.
    :param noise_std: its standard deviation.
    :param normalize: ``VecNormalize`` kwargs (reward normalisation), or None.
    :param reward: training reward, ``"env"`` or ``"normalized_score"`` (from ``env_wrapper``).
    :param reward_clip: bound on |reward| of ``"normalized_score"`` (the wrapper's ``clip``), or None.
    :param residual_scale: logits per unit of a residual action (``LifelongResidualAction``'s ``scale``),
        or None for absolute actions.
    :param source: the YAML file and key they came from.
    """

    n_timesteps: int
    n_envs: int = 1
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    algo_kwargs: dict[str, Any] = field(default_factory=dict)
    noise_type: str | None = None
    noise_std: float = 0.1
    normalize: dict[str, Any] | None = None
    reward: str = "env"
    reward_clip: float | None = None
    residual_scale: float | None = None
    source: str = ""


def default_hyperparams_path(algo: str) -> Path:
    """The shipped ``agents/hyperparams/<algo>.yml``."""
    return Path(str(resources.files("agents") / "hyperparams" / f"{algo.lower()}.yml"))


def read_yaml_mapping(file: Path, what: str) -> dict[Any, Any]:
    """The mapping a YAML file holds, or a :class:`ConfigError` naming the file and what is wrong.

    :param file: the YAML file.
    :param what: what the mapping should be, for the error (e.g. ``"env ids to hyperparameters"``).
    """
    try:
        import yaml
    except ImportError:
        raise MissingExtraError("YAML hyperparameter files", "sb3", "pyyaml") from None
    if not file.is_file():
        raise ConfigError(f"file {str(file)!r} does not exist (expected a YAML mapping of {what})")
    try:
        table = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML ({exc})") from None
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"{file}: expected a non-empty mapping of {what}, found {type(table).__name__}")
    return table


DEFAULT_ENTRY = "default"
"""The entry used for a registered challenge's id the file does not name (a plugin's): the shipped files' is Follow's."""


def _challenge_env_ids() -> set[str]:
    from progressgym_env.registry import challenge_specs

    return {spec.env_id for spec in challenge_specs()}


def load_hyperparams(algo: str, env_id: str, path: str | Path | None = None) -> ZooHyperparams:
    """Read the hyperparameters of ``algo`` on ``env_id`` from a zoo-style YAML file.

    A registered challenge's id the file does not name reads its ``default`` entry (if it has one).

    :param algo: ppo, sac, td3 or a2c (picks the default file).
    :param env_id: the key to read (an env id such as ``PG-Follow-v0``).
    :param path: another YAML file of the same layout; ``None`` = the shipped one.
    """
    file = Path(path) if path is not None else default_hyperparams_path(algo)
    table = read_yaml_mapping(file, "env ids to hyperparameters")
    key = env_id if env_id in table or env_id not in _challenge_env_ids() else DEFAULT_ENTRY
    if key not in table:
        raise ConfigError(f"{file} has no entry for {env_id!r}; it covers: {', '.join(map(str, table))}")
    entry = dict(table[key] or {})
    if "n_timesteps" not in entry:
        raise ConfigError(f"{file}: entry {env_id!r} needs 'n_timesteps'")
    algo_kwargs = {k: v for k, v in entry.items() if k not in ZOO_KEYS}
    algo_kwargs.setdefault("policy", "MlpPolicy")
    if "policy_kwargs" in algo_kwargs:
        algo_kwargs["policy_kwargs"] = _resolve_policy_kwargs(dict(algo_kwargs["policy_kwargs"] or {}), file)
    env_kwargs = entry.get("env_kwargs") or {}
    if not isinstance(env_kwargs, dict):
        raise ConfigError(f"{file}: 'env_kwargs' of {env_id!r} must be a mapping, found {env_kwargs!r}")
    reward, reward_clip, residual_scale = _wrappers(entry.get("env_wrapper"), file, env_id)
    return ZooHyperparams(
        reward=reward,
        reward_clip=reward_clip,
        residual_scale=residual_scale,
        normalize=_normalize_kwargs(entry.get("normalize"), file, env_id),
        n_timesteps=int(float(entry["n_timesteps"])),
        n_envs=int(entry.get("n_envs", 1)),
        env_kwargs=dict(env_kwargs),
        algo_kwargs=algo_kwargs,
        noise_type=entry.get("noise_type"),
        noise_std=float(entry.get("noise_std", 0.1)),
        source=f"{file}#{env_id}",
    )


def _resolve_policy_kwargs(policy_kwargs: dict[str, Any], file: Path) -> dict[str, Any]:
    activation = policy_kwargs.get("activation_fn")
    if isinstance(activation, str):
        import torch.nn

        if not hasattr(torch.nn, activation):
            raise ConfigError(f"{file}: activation_fn {activation!r} is not a torch.nn class (e.g. 'ReLU', 'Tanh')")
        policy_kwargs["activation_fn"] = getattr(torch.nn, activation)
    return policy_kwargs


def _normalize_kwargs(value: Any, file: Path, env_id: str) -> dict[str, Any] | None:
    """``normalize`` of an entry as VecNormalize kwargs (None = no normalisation)."""
    if value is None or value is False:
        return None
    if not isinstance(value, dict):
        raise ConfigError(
            f"{file}: 'normalize' of {env_id!r} must be a mapping such as {{norm_obs: false, norm_reward: true}}, "
            f"found {value!r}"
        )
    allowed = {"norm_obs", "norm_reward", "clip_reward", "epsilon"}
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ConfigError(f"{file}: 'normalize' of {env_id!r} has unknown keys {unknown}; allowed: {sorted(allowed)}")
    if value.get("norm_obs", True):
        raise ConfigError(
            f"{file}: 'normalize' of {env_id!r} must set norm_obs: false (the shipped agents act on raw "
            "observations; only rewards are normalised)"
        )
    return dict(value)


def _wrappers(value: Any, file: Path, env_id: str) -> tuple[str, float | None, float | None]:
    """(reward, reward clip, residual scale) of an entry's ``env_wrapper``.

    rl-zoo3's forms: a name, ``{name: kwargs}``, or a list of those (applied in order; the two known
    wrappers commute: one changes the reward, the other the action).
    """
    from agents.wrappers import RESIDUAL_WRAPPER, WRAPPER_REWARDS, check_residual_scale

    reward, clip, scale = "env", None, None
    if value is None:
        return reward, clip, scale
    known = sorted([*WRAPPER_REWARDS, RESIDUAL_WRAPPER])
    for item in value if isinstance(value, list) else [value]:
        kwargs: dict[str, Any] = {}
        name = item
        if isinstance(item, dict) and len(item) == 1:
            name, kwargs = next(iter(item.items()))
            kwargs = dict(kwargs or {})
        if not isinstance(name, str) or name not in known:
            raise ConfigError(
                f"{file}: env_wrapper of {env_id!r} must be one of {known} (optionally with kwargs, or a list of "
                f"them), found {item!r}; the native vector env cannot apply other wrappers"
            )
        allowed = {"scale"} if name == RESIDUAL_WRAPPER else {"clip"}
        unknown = sorted(set(kwargs) - allowed)
        if unknown:
            raise ConfigError(f"{file}: env_wrapper {name} of {env_id!r} takes only {sorted(allowed)}, found {unknown}")
        if name == RESIDUAL_WRAPPER:
            scale = check_residual_scale(float(kwargs.get("scale", 1.0)))
        else:
            reward = WRAPPER_REWARDS[name]
            clip = float(kwargs["clip"]) if kwargs.get("clip") is not None else None
    return reward, clip, scale
