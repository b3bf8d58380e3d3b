"""The public registry: challenges and backends, registered by the same calls inside and outside the package.

A **challenge** is one :class:`~progressgym_env.judges.Judge` subclass (its definition and scorer),
registered with :func:`register_challenge`: that gives it a Gymnasium id (single env and native vector
env), its benchmark keys (*variants*: one per parameter setting, e.g. ``predict1`` .. ``predict7``) and
their titles. Every tool — envs, benchmark, leaderboard, plots, site, export, ``train`` and the CLI's
choice lists — reads challenges from here, so a challenge registered by a plugin works with all of
them. A **backend** (what turns actions into models) registers by name with :func:`register_backend`.

The built-ins register in :mod:`envs_registry` through these same calls; plugins are imported by
:mod:`progressgym_env.plugins` when ``progressgym_env`` is imported.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

import gymnasium as gym

from progressgym_env.errors import ConfigError
from progressgym_env.judges import Judge
from progressgym_env.records import EpisodeRecord

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
"""Challenge names, variant keys and backend names: lower-case identifiers (they become file names)."""
PLUGIN_HINT = "a challenge or backend from a plugin is known once its module is imported (PROGRESSGYM_PLUGINS=module)"


@dataclass(frozen=True)
class ChallengeVariant:
    """One benchmark column: a registered challenge with fixed parameters.

    :param key: the benchmark key (``predict2``): what ``--challenges`` takes and results are grouped by.
    :param challenge: the judge's name (``predict``), as episode records carry it.
    :param env_id: the Gymnasium id that runs it.
    :param kwargs: the env kwargs (the judge's parameters) that define it (``{"timesteps_ahead": 2}``).
    :param title: the display name (``PG-Predict (k=2)``).
    """

    key: str
    challenge: str
    env_id: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    title: str = ""


@dataclass(frozen=True)
class ChallengeSpec:
    """A registered challenge: its judge class, Gymnasium id and benchmark variants."""

    judge_class: type[Judge]
    env_id: str
    title: str
    variants: tuple[ChallengeVariant, ...]
    default_keys: tuple[str, ...]
    entry_point: Any = None
    vector_entry_point: Any = None

    @property
    def name(self) -> str:
        """The challenge name episode records carry."""
        return self.judge_class.challenge

    def title_for(self, params: Mapping[str, Any]) -> str:
        """The title with the parameters filled in (``PG-Predict (k={timesteps_ahead})`` -> ``PG-Predict (k=2)``)."""
        return self.title.format(**{**self.judge_class.param_defaults, **params})

    def key_for(self, params: Mapping[str, Any]) -> str:
        """The benchmark key of an episode with ``params``: the matching variant's, else the name plus the values."""
        full = {**self.judge_class.param_defaults, **params}
        for variant in self.variants:
            if {**self.judge_class.param_defaults, **variant.kwargs} == full:
                return variant.key
        return self.name + "".join(str(full[name]) for name in self.judge_class.param_defaults)


_CHALLENGES: dict[str, ChallengeSpec] = {}
_VARIANTS: dict[str, ChallengeVariant] = {}


def register_challenge(
    judge_class: type[Judge],
    *,
    env_id: str,
    title: str | None = None,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
    default: bool | tuple[str, ...] = False,
    entry_point: str | Callable[..., gym.Env[Any, Any]] | None = None,
    vector_entry_point: str | Callable[..., gym.vector.VectorEnv[Any, Any, Any]] | None = None,
) -> ChallengeSpec:
    """Register a challenge: its Gymnasium id (single and native vector env) and its benchmark keys.

    :param judge_class: the challenge's :class:`~progressgym_env.judges.Judge` subclass; its ``challenge``
        attribute is the name episode records carry.
    :param env_id: the Gymnasium id to register (``PG-Anticipate-v0``).
    :param title: display name; ``{param}`` placeholders are filled from a variant's parameters
        (default: the id without its version).
    :param variants: benchmark key -> the parameters of that column (default ``{name: {}}``: one column
        with the default parameters).
    :param default: whether ``progressgym benchmark`` runs this challenge's variants without
        ``--challenges`` (True: all of them; a tuple: those keys).
    :param entry_point: the single env (``module:Class`` or a callable); default: a
        :class:`~progressgym_env.envs.base.ProgressGymEnv` subclass made for ``judge_class``.
    :param vector_entry_point: the native vector env; default: a
        :class:`~progressgym_env.envs.vector.ProgressGymVectorEnv` subclass made for the single env.
    :return: the registered spec. Registering the same judge class with the same id again is a no-op.
    :raises ConfigError: a bad name or key, or a name, key or id another challenge already has.
    """
    if not (isinstance(judge_class, type) and issubclass(judge_class, Judge)):
        raise ConfigError(f"register_challenge needs a Judge subclass, got {judge_class!r}")
    name = judge_class.challenge
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ConfigError(
            f"{judge_class.__name__}.challenge must be a lower-case identifier (the name records carry), got {name!r}"
        )
    clashes = sorted(set(judge_class.record_arrays) & ({f.name for f in fields(EpisodeRecord)} | set(judge_class.param_defaults)))
    if clashes:
        raise ConfigError(f"{judge_class.__name__}.record_arrays names {clashes}, which are record fields or parameters")
    existing = _CHALLENGES.get(name)
    if existing is not None:
        if existing.judge_class is judge_class and existing.env_id == env_id:
            if env_id not in gym.registry:  # e.g. Gymnasium's registry was reset: put the id back
                _register_with_gymnasium(existing)
            return existing
        raise ConfigError(f"challenge {name!r} is already registered (by {existing.judge_class.__qualname__})")
    if env_id in gym.registry:
        raise ConfigError(f"Gymnasium id {env_id!r} is already registered; give the challenge its own id")
    resolved_title = title if title is not None else env_id.rsplit("-v", 1)[0]
    spec_variants = _variants(judge_class, env_id, resolved_title, variants if variants is not None else {name: {}})
    keys = tuple(v.key for v in spec_variants)
    defaults = keys if default is True else () if default is False else tuple(default)
    missing = sorted(set(defaults) - set(keys))
    if missing:
        raise ConfigError(f"default keys {missing} are not variants of {name!r} (its variants: {', '.join(keys)})")
    if entry_point is None:
        from progressgym_env.envs.factory import env_class_for

        entry_point = env_class_for(judge_class, env_id)
    if vector_entry_point is None and isinstance(entry_point, type):
        from progressgym_env.envs.base import ProgressGymEnv
        from progressgym_env.envs.factory import vector_env_class_for

        if issubclass(entry_point, ProgressGymEnv):
            vector_entry_point = vector_env_class_for(entry_point)
    spec = ChallengeSpec(judge_class, env_id, resolved_title, spec_variants, defaults, entry_point, vector_entry_point)
    _register_with_gymnasium(spec)
    _CHALLENGES[name] = spec
    _VARIANTS.update((v.key, v) for v in spec_variants)
    from progressgym_env.ray_envs import register_later

    register_later(env_id)  # RLlib's remote workers look ids up in Ray Tune's registry
    return spec


def _register_with_gymnasium(spec: ChallengeSpec) -> None:
    gym.register(
        id=spec.env_id,
        entry_point=spec.entry_point,
        vector_entry_point=spec.vector_entry_point,
        kwargs=dict(spec.judge_class.param_defaults),
        # The envs validate every input themselves (errors that name the problem). Gymnasium's passive
        # checker adds nothing to that, and an env whose first reset() it saw refused is broken for good;
        # gym.make(..., disable_env_checker=False) still adds it on request.
        disable_env_checker=True,
        # No max_episode_steps: the end of history is a termination, not a time limit (DESIGN §9).
    )


def _variants(
    judge_class: type[Judge], env_id: str, title: str, variants: Mapping[str, Mapping[str, Any]]
) -> tuple[ChallengeVariant, ...]:
    """Check the variant keys (unique everywhere, identifiers) and their parameters (the judge's)."""
    if not variants:
        raise ConfigError(f"challenge {judge_class.challenge!r} needs at least one variant (benchmark key)")
    out = []
    for key, kwargs in variants.items():
        if not isinstance(key, str) or not NAME_PATTERN.match(key):
            raise ConfigError(f"challenge key must be a lower-case identifier, got {key!r}")
        if key in _VARIANTS:
            raise ConfigError(f"challenge key {key!r} is already registered (by {_VARIANTS[key].challenge!r})")
        unknown = sorted(set(kwargs) - set(judge_class.param_defaults))
        if unknown:
            raise ConfigError(
                f"variant {key!r}: {judge_class.__name__} has no parameter {unknown} "
                f"(it takes: {', '.join(judge_class.param_defaults) or 'none'})"
            )
        try:
            shown = title.format(**{**judge_class.param_defaults, **kwargs})
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"title {title!r} names a placeholder the parameters lack ({exc})") from None
        out.append(ChallengeVariant(key, judge_class.challenge, env_id, MappingProxyType(dict(kwargs)), shown))
    return tuple(out)


def _lookup(table: Mapping[str, Any], name: str, what: str, alternative: str = "") -> Any:
    """``table[name]``, or a :class:`ConfigError` listing the registered names and how plugins register."""
    try:
        return table[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown {what} {name!r}; choose one of {', '.join(table)}{alternative} ({PLUGIN_HINT})"
        ) from None


def challenge_spec(name: str) -> ChallengeSpec:
    """The registered challenge named ``name`` (as records carry it); the error lists the known ones."""
    return _lookup(_CHALLENGES, name, "challenge")


def judge_class(name: str) -> type[Judge]:
    """The judge class of the registered challenge ``name``."""
    return challenge_spec(name).judge_class


def challenge_specs() -> Iterator[ChallengeSpec]:
    """Every registered challenge, in registration order."""
    return iter(tuple(_CHALLENGES.values()))


def variants() -> Mapping[str, ChallengeVariant]:
    """Every benchmark key -> its variant, in registration order (a live read-only view)."""
    return MappingProxyType(_VARIANTS)


def variant(key: str) -> ChallengeVariant:
    """The variant (benchmark column) ``key``; the error lists the valid keys."""
    return _lookup(_VARIANTS, key, "challenge")


def variant_key(challenge: str, params: Mapping[str, Any]) -> str:
    """The benchmark key of an episode of ``challenge`` with ``params`` (``predict``, k=2 -> ``predict2``)."""
    return challenge_spec(challenge).key_for(params)


def default_keys() -> tuple[str, ...]:
    """The keys ``progressgym benchmark`` runs by default (ProgressGym's four columns, plus plugins' opt-ins)."""
    return tuple(key for spec in _CHALLENGES.values() for key in spec.default_keys)


# -- backends ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackendSpec:
    """A registered backend.

    :param name: what ``backend=`` takes.
    :param factory: config (a dataclass, a dict or None) -> backend object; or ``"module:attr"``,
        imported on first use (heavy stacks stay unloaded until needed).
    :param native_vector: the native vector env can batch it (numpy state; the surrogate).
    :param heavy: it loads or trains models: the Ray executor builds its envs in the tasks (not the
        driver), runs one episode per task and gives each task a GPU when the cluster has one.
    :param run_dir_key: the config key naming a folder of per-episode checkpoints, if it has one.
    """

    name: str
    factory: str | Callable[[Any], Any]
    native_vector: bool = False
    heavy: bool = False
    run_dir_key: str | None = None

    def build(self, config: Any) -> Any:
        """A new backend from ``config``."""
        factory = self.factory
        if isinstance(factory, str):
            module, _, attr = factory.partition(":")
            factory = getattr(importlib.import_module(module), attr)
        return factory(config)


_BACKENDS: dict[str, BackendSpec] = {}


def register_backend(
    name: str,
    factory: str | Callable[[Any], Any],
    *,
    native_vector: bool = False,
    heavy: bool = False,
    run_dir_key: str | None = None,
) -> BackendSpec:
    """Register a backend under ``name`` (see :class:`BackendSpec`); the same registration again is a no-op.

    :raises ConfigError: a bad name, or a name another backend has.
    """
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ConfigError(f"backend name must be a lower-case identifier, got {name!r}")
    spec = BackendSpec(name, factory, native_vector, heavy, run_dir_key)
    existing = _BACKENDS.get(name)
    if existing is not None and existing != spec:
        raise ConfigError(f"backend {name!r} is already registered")
    _BACKENDS[name] = spec
    return spec


def backend_spec(name: str) -> BackendSpec:
    """The registered backend ``name``; the error lists the known ones."""
    return _lookup(_BACKENDS, name, "backend", " or pass a Backend object")


def backend_names() -> tuple[str, ...]:
    """Every registered backend name, in registration order."""
    return tuple(_BACKENDS)
