"""The JAX functional twin of the challenges (optional extra ``jax``): ``make(key, **env_kwargs)``.

``make("follow")`` returns ``(env, env_params)`` with gymnax's interface (:class:`GymnaxEnv`), so
PureJaxRL-style code runs on it unchanged; :func:`make_func_env` returns the Gymnasium ``FuncEnv``
(:class:`ProgressGymFuncEnv`) for ``gymnasium.envs.functional_jax_env.FunctionalJaxEnv`` /
``FunctionalJaxVectorEnv``. ``key`` is a challenge key (``follow``, ``predict2``, ``coevolve``, a
plugin's) or a registered env id (``PG-Coevolve-v0``). Importing this package imports JAX;
``import progressgym_env`` never does.
"""

from __future__ import annotations

from typing import Any

from progressgym_env.errors import ConfigError, MissingExtraError

try:
    import flax  # noqa: F401
    import jax  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise MissingExtraError("progressgym_env.functional (the JAX twin)", "jax", exc.name or "jax") from None

from progressgym_env.functional.gymnax_api import GymnaxEnv
from progressgym_env.functional.twin import JAX_OPS, ProgressGymFuncEnv, TwinParams, TwinState


def challenge_for(key: str) -> tuple[Any, dict[str, Any]]:
    """(judge class, challenge parameters) of a challenge key or env id from the public registry."""
    from progressgym_env.registry import challenge_spec, challenge_specs, variants

    if key in variants():
        variant = variants()[key]
        return challenge_spec(variant.challenge).judge_class, dict(variant.kwargs)
    for spec in challenge_specs():
        if spec.env_id == key:
            return spec.judge_class, {}
    raise ConfigError(
        f"{key!r} is neither a challenge key ({', '.join(variants())}) nor a challenge's env id "
        f"({', '.join(spec.env_id for spec in challenge_specs())})"
    )


def make_func_env(key: str, **env_kwargs: Any) -> ProgressGymFuncEnv:
    """The Gymnasium ``FuncEnv`` of challenge ``key`` (kwargs as :class:`ProgressGymFuncEnv`'s)."""
    judge_class, params = challenge_for(key)
    return ProgressGymFuncEnv(judge_class, **{**params, **env_kwargs})


def make(key: str, **env_kwargs: Any) -> tuple[GymnaxEnv, TwinParams]:
    """gymnax's ``make``: ``(env, env_params)`` of challenge ``key`` (kwargs as :class:`ProgressGymFuncEnv`'s)."""
    env = GymnaxEnv(make_func_env(key, **env_kwargs))
    return env, env.default_params


__all__ = ["JAX_OPS", "GymnaxEnv", "ProgressGymFuncEnv", "TwinParams", "TwinState", "challenge_for", "make",
           "make_func_env"]
