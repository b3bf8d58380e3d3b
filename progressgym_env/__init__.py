"""progressgym_env: the ProgressGym benchmark (PG-Follow, PG-Predict, PG-Coevolve) as Gymnasium envs.

Importing the package registers ``PG-Follow-v0``, ``PG-Predict-v0`` and ``PG-Coevolve-v0``::

    import gymnasium as gym
    import progressgym_env  # noqa: F401

    env = gym.make("PG-Follow-v0")
"""

from __future__ import annotations

from envs_registry import ENV_IDS, register_envs
from progressgym_env import envs  # noqa: F401  (progressgym_env.envs.FollowEnv etc., as README says)
from progressgym_env.history import History, corpus_history, load_history_file, save_history
from progressgym_env.judges import make_judge, normalized_score_record, score_record
from progressgym_env.procedural import ProceduralHistory
from progressgym_env.ray_envs import install_ray_tune_hook
from progressgym_env.value_spaces import CORPUS5, MORAL19, ValueSpace

__version__ = "0.1.0"

register_envs()
install_ray_tune_hook(ENV_IDS)  # RLlib's remote env runners find the ids through Ray Tune's registry

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
    "__version__",
]
