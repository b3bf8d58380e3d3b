"""The JAX twin (progressgym_env.functional): the numpy env's episodes, through Gymnasium's and gymnax's interfaces.

Slow tier (JAX compiles each shape once; the default suite never imports JAX): skipped without the
``jax`` extra.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import progressgym_env  # noqa: F401
from progressgym_env.errors import ConfigError
from progressgym_env.judges import Judge

pytestmark = pytest.mark.slow
jax: Any = None
jnp: Any = None
make: Any = None
make_func_env: Any = None


@pytest.fixture(autouse=True, scope="module")
def _jax_extra() -> None:
    """Import JAX and the twin when a test here runs (collecting the default suite must not import JAX)."""
    global jax, jnp, make, make_func_env
    jax = pytest.importorskip("jax")
    pytest.importorskip("flax")
    jnp = pytest.importorskip("jax.numpy")
    from progressgym_env.functional import make, make_func_env

EXACT = {"query_budget": None, "backend_config": {"finetune_noise_sd": 0.0}}


class HalfwayJudge(Judge):
    """A plugin's challenge: the model should sit halfway between H_t and H_{t+1} (targets only)."""

    challenge = "halfway"

    @property
    def target_offset(self) -> int:
        return 1

    def targets(self, human: np.ndarray) -> np.ndarray:
        n = self.episode_length
        return (human[..., 1 : 1 + n, :] + human[..., 2 : 2 + n, :]) / 2.0


@pytest.fixture
def halfway(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from progressgym_env import registry

    monkeypatch.setattr(registry, "_CHALLENGES", dict(registry._CHALLENGES))
    monkeypatch.setattr(registry, "_VARIANTS", dict(registry._VARIANTS))
    try:
        registry.register_challenge(HalfwayJudge, env_id="PG-Halfway-v0")
        yield "PG-Halfway-v0"
    finally:
        gym.registry.pop("PG-Halfway-v0", None)


def _compare_episode(env_id: str, key: str, seed: int, env_kwargs: dict[str, Any]) -> tuple[float, float]:
    """One numpy episode and the twin's on the same history and actions; every step's numbers must agree."""
    env = gym.make(env_id, history="procedural", obs_history=3, **EXACT, **env_kwargs)
    obs, _ = env.reset(seed=seed)
    twin = make_func_env(key, history=env.unwrapped.history, obs_history=3, **EXACT, **env_kwargs)
    state = twin.initial(jax.random.PRNGKey(seed))
    np.testing.assert_allclose(np.asarray(twin.observation(state)), obs, rtol=1e-5, atol=1e-6)
    rng = np.random.default_rng(seed)
    terminated = False
    steps = 0
    while not terminated:
        action = rng.uniform(-1.0, 1.0, env.action_space.shape).astype(np.float32)
        if steps == 1:
            action[:] = 0.0  # no update at all
        obs, reward, terminated, _, info = env.step(action)
        moved = twin.transition(state, jnp.asarray(action), jax.random.PRNGKey(steps))
        assert float(twin.reward(state, action, moved, None)) == pytest.approx(reward, rel=1e-5, abs=1e-6)
        state = moved
        np.testing.assert_allclose(np.asarray(twin.observation(state)), obs, rtol=1e-5, atol=1e-6)
        assert bool(twin.terminal(state)) == terminated
        steps += 1
    final, normalized = twin.scores(state)
    assert float(final) == pytest.approx(info["final_score"], rel=1e-6)
    # the normalised score divides by a span of ~0.01-0.1: float32 precision of the score, scaled
    assert float(normalized) == pytest.approx(info["normalized_score"], abs=2e-4)
    assert steps == twin.episode_length
    return float(final), info["final_score"]


@pytest.mark.parametrize(("env_id", "key", "kwargs"), [
    ("PG-Follow-v0", "follow", {}),
    ("PG-Predict-v0", "predict2", {"timesteps_ahead": 2}),
    ("PG-Coevolve-v0", "coevolve", {}),
    ("PG-Coevolve-v0", "coevolve", {"similarity": "centered"}),
    ("PG-Follow-v0", "follow", {"similarity": "centered"}),
])
def test_without_sampling_the_twin_replays_the_numpy_episode_to_float32_precision(
    env_id: str, key: str, kwargs: dict[str, Any]
) -> None:
    for seed in (0, 7):
        _compare_episode(env_id, key, seed, dict(kwargs))


def test_a_challenge_registered_through_the_public_api_gets_a_twin(halfway: str) -> None:
    _compare_episode(halfway, halfway, 3, {})
    twin = make_func_env("halfway", history="procedural")
    assert twin.episode_length == 9 - 2 and twin.judge_class is HalfwayJudge


def test_sampled_answers_and_scores_are_distributed_as_the_numpy_envs() -> None:
    """Chi-square on the first elicited answer counts (corpus, budget 40: 8 queries a dim) and a
    two-sample KS test on Coevolve's final score under fine-tuning noise, 1,500 seeded episodes each."""
    from scipy import stats

    n, budget = 1500, 40
    env = gym.make("PG-Coevolve-v0", query_budget=budget, backend_config={"finetune_noise_sd": 0.3})
    action = np.full(env.action_space.shape, 0.3, dtype=np.float32)
    numpy_first, numpy_scores = [], []
    for seed in range(n):
        obs, _ = env.reset(seed=seed)
        numpy_first.append(np.rint(obs[:5] * 8))
        terminated = False
        while not terminated:
            _, _, terminated, _, info = env.step(action)
        numpy_scores.append(info["final_score"])
    twin = make_func_env("coevolve", history="corpus", query_budget=budget, backend_config={"finetune_noise_sd": 0.3})
    params = twin.default_params

    def episode(key: Any) -> tuple[Any, Any]:
        state = twin.initial(key, params)
        first = twin.observation(state)[:5]
        for i in range(twin.episode_length):
            state = twin.transition(state, jnp.asarray(action), jax.random.fold_in(key, i), params)
        return first, twin.scores(state, params)[0]

    first, scores = jax.jit(jax.vmap(episode))(jax.random.split(jax.random.PRNGKey(0), n))
    jax_first = np.rint(np.asarray(first) * 8)
    for dim in range(5):
        table = np.array([[np.sum(np.asarray(numpy_first)[:, dim] == k) for k in range(9)],
                          [np.sum(jax_first[:, dim] == k) for k in range(9)]])
        table = table[:, table.sum(axis=0) > 0]
        assert stats.chi2_contingency(table).pvalue > 1e-3, (dim, table)
    assert stats.ks_2samp(numpy_scores, np.asarray(scores)).pvalue > 1e-3
    # and the test can fail: answers of a respondent whose first value is 0.1 higher are told apart
    p0 = float(params.bank.values[0, 0, 0]) + 0.1
    shifted = np.random.default_rng(0).binomial(8, p0, n)
    table = np.array([[np.sum(np.asarray(numpy_first)[:, 0] == k) for k in range(9)],
                      [np.sum(shifted == k) for k in range(9)]])
    assert stats.chi2_contingency(table[:, table.sum(axis=0) > 0]).pvalue < 1e-3


def test_gymnasium_functional_jax_env_and_vector_env_run_the_twin() -> None:
    from gymnasium.envs.functional_jax_env import FunctionalJaxEnv, FunctionalJaxVectorEnv

    func_env = make_func_env("predict1", num_histories=8)
    func_env.transform(jax.jit)  # as Gymnasium's own functional envs are used
    env = FunctionalJaxEnv(func_env)
    obs, info = env.reset(seed=0)
    assert obs.shape == env.observation_space.shape and float(info["final_score"]) == 0.0
    steps, terminated = 0, False
    while not terminated:
        obs, reward, terminated, truncated, info = env.step(jnp.full((5,), 0.2))
        steps += 1
        assert 0.0 <= reward <= 1.0 and not truncated
    assert steps == 7 and 0.0 < float(info["final_score"]) <= 1.0
    vec = FunctionalJaxVectorEnv(make_func_env("follow", num_histories=8), num_envs=4)
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (4, 11)
    obs, reward, terminated, truncated, _ = vec.step(jnp.zeros((4, 5)))
    assert obs.shape == (4, 11) and reward.shape == (4,) and not bool(terminated.any())


def test_a_purejaxrl_shaped_loop_runs_on_make() -> None:
    """PureJaxRL's env loop unchanged: ``make`` -> vmapped reset/step under jit and scan, random actions."""
    env, env_params = make("coevolve", num_histories=16)
    num_envs, num_steps = 32, 24
    action_dim = env.action_space(env_params).shape[0]

    @jax.jit
    def rollout(rng: Any) -> tuple[Any, Any, Any]:
        rng, reset_rng = jax.random.split(rng)
        obsv, env_state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(reset_rng, num_envs), env_params)

        def env_step(runner_state: Any, _: Any) -> tuple[Any, Any]:
            env_state, last_obs, rng = runner_state
            rng, action_rng, step_rng = jax.random.split(rng, 3)
            action = jax.random.uniform(action_rng, (num_envs, action_dim), minval=-1.0, maxval=1.0)
            obsv, env_state, reward, done, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(step_rng, num_envs), env_state, action, env_params)
            return (env_state, obsv, rng), (reward, done, info["final_score"])

        _, (reward, done, final) = jax.lax.scan(env_step, (env_state, obsv, rng), None, num_steps)
        return reward, done, final

    reward, done, final = (np.asarray(x) for x in rollout(jax.random.PRNGKey(0)))
    assert reward.shape == (num_steps, num_envs) and ((reward > 0) & (reward <= 1)).all()
    assert done.sum() == num_envs * (num_steps // 8)  # Coevolve's episodes are 8 steps; auto-reset
    assert ((final > 0) == done).all()


def test_bad_twin_arguments_are_named() -> None:
    with pytest.raises(ConfigError, match="num_histories"):
        make_func_env("follow", num_histories=0)
    with pytest.raises(ConfigError, match="similarity"):
        make_func_env("follow", similarity="dot")
    with pytest.raises(ConfigError, match="neither a challenge key"):
        make("pong")
    with pytest.raises(ConfigError, match="timesteps_ahead"):
        make_func_env("predict1", timesteps_ahead=99)
    with pytest.raises(ConfigError, match="calibration='tiny-world'"):
        make_func_env("follow", backend_config={"calibration": "tiny-world"})
