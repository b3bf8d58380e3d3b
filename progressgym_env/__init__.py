"""progressgym_env: the ProgressGym benchmark (PG-Follow, PG-Predict, PG-Coevolve) as Gymnasium envs.

Importing the package registers ``PG-Follow-v0``, ``PG-Predict-v0`` and ``PG-Coevolve-v0``, then
imports the plugins (``PROGRESSGYM_PLUGINS``, the ``progressgym_env.plugins`` entry points), which
register their own challenges and backends with :func:`register_challenge` and
:func:`register_backend` (see ``docs/custom_challenges.md``)::

    import gymnasium as gym
    import progressgym_env  # noqa: F401

    env = gym.make("PG-Follow-v0")
"""

from __future__ import annotations

from envs_registry import ENV_IDS, register_builtins
from progressgym_env import envs  # noqa: F401  (progressgym_env.envs.FollowEnv etc., as README says)
from progressgym_env.history import History, corpus_history, load_history_file, save_history
from progressgym_env.judges import Judge, make_judge, normalized_score_record, score_record
from progressgym_env.plugins import load_plugins
from progressgym_env.procedural import ProceduralHistory
from progressgym_env.ray_envs import install_ray_tune_hook
from progressgym_env.registry import register_backend, register_challenge
from progressgym_env.value_spaces import CORPUS5, MORAL19, ValueSpace

__version__ = "0.1.0"

register_builtins()
install_ray_tune_hook()  # RLlib's remote env runners find every registered id through Ray Tune's registry

__all__ = [
    "ENV_IDS",
    "History",
    "ProceduralHistory",
    "ValueSpace",
    "CORPUS5",
    "MORAL19",
    "corpus_history",
    "load_history_file",
    "save_history",
    "make_judge",
    "score_record",
    "normalized_score_record",
    "Judge",
    "register_challenge",
    "register_backend",
    "__version__",
]

load_plugins()  # last: a plugin may import anything above from the package
