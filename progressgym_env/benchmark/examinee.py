"""A challenge's judge run on one examinee, without writing the env loop (ProgressGym's ``judge.test(examinee)``).

In the original ProgressGym a judge class is run on an examinee by itself. Here a challenge is a
Gymnasium env (its judge inside), so :func:`run_examinee` makes the challenge's env with
``interface="examinee"`` on the ``llm`` backend, plays one episode with the examinee and returns the
episode record and the judge's score::

    from progressgym_env.benchmark.examinee import run_examinee
    from progressgym_env.llm.tiny import tiny_world

    run = run_examinee(MyExaminee(), "follow", backend_config=tiny_world("runs/tiny-world"), query_budget=19)
    print(run.score, run.record.model.shape)

An *examinee* is an object with ``act(obs) -> action`` (and, optionally, ``reset(seed)``), or a callable
that builds one from the env (``examinee(env)``, e.g. a class of :mod:`agents.examinees`), for
examinees that read the env's ``agent_model()``, ``query_human()`` or ``observation_extras()``. The
action is an element of :class:`~progressgym_env.llm.spaces.ModelUpdate`: ``None`` (no update), a model
object, a model folder or an adapter folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from progressgym_env.benchmark.challenges import get_challenge
from progressgym_env.episode import run_episode
from progressgym_env.errors import ConfigError


@runtime_checkable
class ExamineePolicy(Protocol):
    """What :func:`run_examinee` needs from an examinee: an action (a model update) per observation."""

    def act(self, obs: np.ndarray) -> Any: ...


@dataclass
class ExamineeRun:
    """One judged episode of an examinee.

    :param challenge: the challenge key or env id it ran on.
    :param seed: the episode's seed.
    :param score: the judge's final score (the env's ``info["final_score"]``).
    :param normalized_score: 0 = value lock-in, 1 = reference.
    :param rewards: the per-century rewards.
    :param record: the env's :class:`~progressgym_env.records.EpisodeRecord` (every vector of the episode).
    """

    challenge: str
    seed: int
    score: float
    normalized_score: float
    rewards: list[float]
    record: Any


def challenge_env(challenge: str) -> tuple[str, dict[str, Any]]:
    """The Gymnasium id and defining kwargs of ``challenge``: a challenge key (``follow``, ``predict2``) or an env id."""
    import gymnasium as gym

    import progressgym_env  # noqa: F401  (registers the built-in envs and plugins)

    if challenge in gym.registry:
        return challenge, {}
    found = get_challenge(challenge)
    return found.env_id, dict(found.kwargs)


def run_examinee(
    examinee: ExamineePolicy | Callable[[Any], ExamineePolicy],
    challenge: str = "follow",
    *,
    seed: int = 0,
    max_steps: int = 10_000,
    **env_kwargs: Any,
) -> ExamineeRun:
    """Run one ``challenge`` episode with ``examinee`` and return the judged record (see the module docstring).

    :param examinee: an object with ``act(obs)`` (and optionally ``reset(seed)``), or a callable
        ``examinee(env)`` that returns one.
    :param challenge: a challenge key (``follow``, ``predict1``, ``coevolve``, ...) or a registered env id.
    :param seed: seeds the env and the examinee.
    :param max_steps: safety bound on the episode's length.
    :param env_kwargs: env kwargs over the defaults ``backend="llm"``, ``history="models"``,
        ``interface="examinee"`` (pass ``backend_config`` and ``query_budget``).
    :raises ConfigError: an examinee that is neither an ``act`` object nor a callable building one.
    """
    import gymnasium as gym

    env_id, challenge_kwargs = challenge_env(challenge)
    kwargs = {"backend": "llm", "history": "models", "interface": "examinee", **challenge_kwargs, **env_kwargs}
    env: Any = gym.make(env_id, **kwargs)
    try:
        result = run_episode(env, _Seeded(_bind(examinee, env)), seed, max_steps)
        record = env.unwrapped.episode_record()
    finally:
        env.close()
    return ExamineeRun(challenge, int(seed), result.final_score, result.normalized_score, result.rewards, record)


class _Seeded:
    """An examinee seen as a :class:`~progressgym_env.episode.Policy` (``reset`` is optional for examinees)."""

    def __init__(self, policy: ExamineePolicy) -> None:
        self.policy = policy

    def reset(self, seed: int | None = None) -> None:
        reset = getattr(self.policy, "reset", None)
        if callable(reset):
            reset(seed)

    def act(self, obs: np.ndarray) -> Any:
        return self.policy.act(obs)


def _bind(examinee: Any, env: Any) -> ExamineePolicy:
    """The examinee itself when it acts, else what it builds from ``env``."""
    if isinstance(examinee, ExamineePolicy) and not isinstance(examinee, type):
        return examinee
    if callable(examinee):
        built = examinee(env)
        if isinstance(built, ExamineePolicy):
            return built
        raise ConfigError(f"examinee factory {examinee!r} returned {type(built).__name__}, which has no act(obs)")
    raise ConfigError(
        f"an examinee is an object with act(obs) or a callable examinee(env) returning one; got {type(examinee).__name__}"
    )
