"""PG-Society-v0: M AIs and G groups of simulated humans, as a PettingZoo env (needs the pettingzoo extra).

Made the PettingZoo way::

    from progressgym_env import society
    env = society.parallel_env(num_ais=2, num_groups=8, usage="adaptive")   # ParallelEnv
    aec = society.env(num_ais=2, num_groups=8)                                # AEC, PettingZoo's conversion

``import progressgym_env`` does not import this package's PettingZoo parts: the judge
(:mod:`~progressgym_env.society.judge`) and the dynamics are numpy only; pettingzoo is imported
when an env is made.
"""

from __future__ import annotations

from typing import Any


def parallel_env(**kwargs: Any) -> Any:
    """A PG-Society ``ParallelEnv`` (see :class:`~progressgym_env.society.parallel.SocietyParallelEnv`)."""
    from progressgym_env.society.parallel import SocietyParallelEnv

    return SocietyParallelEnv(**kwargs)


def raw_env(**kwargs: Any) -> Any:
    """The AEC form without wrappers: PettingZoo's ``parallel_to_aec`` of :func:`parallel_env`."""
    from pettingzoo.utils.conversions import parallel_to_aec

    return parallel_to_aec(parallel_env(**kwargs))


def env(**kwargs: Any) -> Any:
    """The AEC form with PettingZoo's order-enforcing wrapper (the usual ``env()`` of a PettingZoo module)."""
    from pettingzoo.utils import wrappers

    return wrappers.OrderEnforcingWrapper(raw_env(**kwargs))


__all__ = ["env", "parallel_env", "raw_env"]
