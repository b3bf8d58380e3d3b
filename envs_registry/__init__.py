"""The built-in challenges and backends, registered through the same public calls a plugin uses.

``import progressgym_env`` calls :func:`register_builtins` (idempotent). Each challenge is one
:func:`progressgym_env.registry.register_challenge` call: its judge, its Gymnasium id, its title and
its benchmark keys; bump ``-vN`` whenever an id's semantics change. Gymnasium's own ``gymnasium.envs``
entry point (``pyproject.toml``) names :func:`register_envs` too, for Gymnasium versions that load it.
"""

from __future__ import annotations

from progressgym_env.judges import CoevolveJudge, FollowJudge, PredictJudge
from progressgym_env.registry import register_backend, register_challenge
from progressgym_env.society.judge import SocietyJudge

PREDICT_HORIZONS: tuple[int, ...] = tuple(range(1, 8))
"""The k of PG-Predict the benchmark has columns for: 1..7 (nine centuries leave at least one scored step)."""

ENV_IDS: tuple[str, ...] = ("PG-Follow-v0", "PG-Predict-v0", "PG-Coevolve-v0")
"""The built-in single-agent Gymnasium ids (each with a native vector env)."""
SOCIETY_ENV_ID = "PG-Society-v0"
"""The multi-agent PG-Society's Gymnasium form (its PettingZoo env: ``progressgym_env.society.parallel_env``)."""

SOCIETY_VARIANTS: dict[str, dict[str, object]] = {
    "society": {},
    "society_m2_g8_fixed": {"num_ais": 2, "num_groups": 8, "usage": "fixed"},
    "society_m2_g8_adaptive": {"num_ais": 2, "num_groups": 8, "usage": "adaptive"},
}
"""PG-Society's benchmark keys: ``society`` (M = G = 1: PG-Coevolve's numbers) and two AIs competing for eight
groups with fixed or adaptive usage. Other settings run with the env's kwargs (benchmarks/society_study.py)."""


def register_builtins() -> None:
    """Register the surrogate and llm backends and PG-Follow, PG-Predict, PG-Coevolve and PG-Society (idempotent)."""
    register_backend("surrogate", "progressgym_env.backends.surrogate:SurrogateBackend", native_vector=True)
    register_backend("llm", "progressgym_env.llm.backend:LLMBackend", heavy=True, run_dir_key="run_dir")
    register_challenge(
        FollowJudge,
        env_id="PG-Follow-v0",
        title="PG-Follow",
        default=True,
        entry_point="progressgym_env.envs.follow:FollowEnv",
        vector_entry_point="progressgym_env.envs.vector:FollowVectorEnv",
    )
    register_challenge(
        PredictJudge,
        env_id="PG-Predict-v0",
        title="PG-Predict (k={timesteps_ahead})",
        variants={f"predict{k}": {"timesteps_ahead": k} for k in PREDICT_HORIZONS},
        default=("predict1", "predict2"),
        entry_point="progressgym_env.envs.predict:PredictEnv",
        vector_entry_point="progressgym_env.envs.vector:PredictVectorEnv",
    )
    register_challenge(
        CoevolveJudge,
        env_id="PG-Coevolve-v0",
        title="PG-Coevolve",
        default=True,
        entry_point="progressgym_env.envs.coevolve:CoevolveEnv",
        vector_entry_point="progressgym_env.envs.vector:CoevolveVectorEnv",
    )
    register_challenge(  # multi-agent: the PettingZoo env is progressgym_env.society.parallel_env
        SocietyJudge,
        env_id=SOCIETY_ENV_ID,
        title="PG-Society (M={num_ais}, G={num_groups}, {usage})",
        variants=SOCIETY_VARIANTS,
        entry_point="progressgym_env.society.gym_env:SocietyGymEnv",
    )


def register_envs() -> None:
    """Gymnasium's ``gymnasium.envs`` entry point (Gymnasium < 1.0 calls it): the built-ins, then the plugins."""
    import progressgym_env  # noqa: F401  (registers everything on its first import)

    register_builtins()  # idempotent; puts back ids missing from Gymnasium's registry


__all__ = ["ENV_IDS", "PREDICT_HORIZONS", "SOCIETY_ENV_ID", "SOCIETY_VARIANTS", "register_builtins", "register_envs"]
