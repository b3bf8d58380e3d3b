"""Env classes for a challenge registered without its own: one single env and one native vector env per judge.

:func:`progressgym_env.register_challenge` calls these when a challenge names no entry point, so a
plugin writes only its judge. The classes are ordinary subclasses of the shared engines
(:class:`~progressgym_env.envs.base.ProgressGymEnv`, :class:`~progressgym_env.envs.vector.ProgressGymVectorEnv`)
that name the judge and the id, exactly as the built-in ``FollowEnv`` and ``FollowVectorEnv`` do.
"""

from __future__ import annotations

from typing import Any

from progressgym_env.envs.base import ProgressGymEnv
from progressgym_env.judges import Judge


def _class_name(judge_class: type[Judge], suffix: str) -> str:
    base = judge_class.__name__.removesuffix("Judge") or judge_class.__name__
    return f"{base}{suffix}"


def env_class_for(judge_class: type[Judge], env_id: str) -> type[ProgressGymEnv]:
    """A :class:`ProgressGymEnv` subclass scored by ``judge_class``, registered under ``env_id``."""
    namespace: dict[str, Any] = {
        "judge_class": judge_class,
        "env_id": env_id,
        "__module__": judge_class.__module__,
        "__doc__": f"{env_id}: the shared ProgressGym engine scored by {judge_class.__qualname__}.\n\n"
        f"{judge_class.__doc__ or ''}",
    }
    return type(_class_name(judge_class, "Env"), (ProgressGymEnv,), namespace)


def vector_env_class_for(env_class: type[ProgressGymEnv]) -> type[Any]:
    """The native vector env (batched surrogate) of ``env_class``."""
    from progressgym_env.envs.vector import ProgressGymVectorEnv

    namespace = {
        "single_env_class": env_class,
        "__module__": env_class.__module__,
        "__doc__": f"Native vector env of {env_class.env_id} (see ProgressGymVectorEnv).",
    }
    return type(_class_name(env_class.judge_class, "VectorEnv"), (ProgressGymVectorEnv,), namespace)
