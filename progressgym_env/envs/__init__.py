"""The three ProgressGym challenges as Gymnasium envs."""

from progressgym_env.envs.base import ProgressGymEnv
from progressgym_env.envs.coevolve import CoevolveEnv
from progressgym_env.envs.follow import FollowEnv
from progressgym_env.envs.predict import PredictEnv

__all__ = ["ProgressGymEnv", "FollowEnv", "PredictEnv", "CoevolveEnv"]
