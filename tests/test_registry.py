"""The public registry: challenges and backends registered from outside the package, and plugin loading."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import progressgym_env
from progressgym_env import plugins, registry
from progressgym_env.backends import SurrogateBackend
from progressgym_env.errors import ConfigError
from progressgym_env.judges import Judge, judge_for_record, score_record
from progressgym_env.progressgym_format import progressgym_score

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "anticipate.py"


@pytest.fixture
def isolated_registry() -> Iterator[None]:
    """Registrations made in a test are forgotten afterwards (ours and Gymnasium's)."""
    saved = (dict(registry._CHALLENGES), dict(registry._VARIANTS), dict(registry._BACKENDS), dict(gym.registry))
    try:
        yield
    finally:
        for target, copy in zip((registry._CHALLENGES, registry._VARIANTS, registry._BACKENDS, gym.registry),
                                saved, strict=True):
            target.clear()
            target.update(copy)  # type: ignore[arg-type]


def _load_example() -> Any:
    """Import examples/anticipate.py under a fresh module name (it registers on import)."""
    spec = importlib.util.spec_from_file_location("anticipate_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- a challenge from outside the package ---------------------------------------------------------


def test_the_example_challenge_scores_by_hand(isolated_registry: None) -> None:
    example = _load_example()
    human = np.array([[0.5, 0.5], [0.6, 0.4], [0.7, 0.3], [0.2, 0.8], [0.4, 0.6], [0.9, 0.1]])
    judge = example.AnticipateJudge(human)
    assert judge.episode_length == 3 and judge.last_step == 3  # T - 3 steps
    # Step t = 1 is scored against (H_2 + H_3) / 2 = (0.45, 0.55); t = 3 against (H_4 + H_5) / 2 = (0.65, 0.35).
    np.testing.assert_allclose(judge.target(1), [0.45, 0.55])
    np.testing.assert_allclose(judge.target(3), [0.65, 0.35])
    models = np.array([[0.45, 0.55], [0.3, 0.7], [1.0, 0.0]])
    cos_last = 0.65 / np.hypot(0.65, 0.35)
    assert judge.final_scores(models) == pytest.approx((1.0 + 1.0 + cos_last) / 3)
    lock_in, reference = judge.reference_scores()
    assert reference == 1.0
    targets = np.array([[0.45, 0.55], [0.3, 0.7], [0.65, 0.35]])
    expected_lock_in = np.mean(targets @ [0.5, 0.5] / (np.linalg.norm(targets, axis=1) * np.hypot(0.5, 0.5)))
    assert lock_in == pytest.approx(expected_lock_in)


def test_the_example_runs_as_a_gymnasium_env_and_native_vector_env(isolated_registry: None) -> None:
    example = _load_example()
    env = gym.make("PG-Anticipate-v0", query_budget=None)
    _, info = env.reset(seed=3)
    rewards = []
    for step in range(1, 9):
        _, reward, terminated, _, info = env.step(np.zeros(5, dtype=np.float32))
        rewards.append(reward)
        if terminated:
            break
    assert step == env.unwrapped.episode_length == 6  # 9 corpus centuries - 3
    record = env.unwrapped.episode_record()
    assert record.challenge == "anticipate" and record.params == {}
    assert info["final_score"] == pytest.approx(score_record(record.to_dict()))
    human = record.human
    np.testing.assert_allclose(info["target_values"], (human[7] + human[8]) / 2)
    assert isinstance(judge_for_record(record), example.AnticipateJudge)
    assert env.unwrapped.challenge_key == "anticipate"

    envs = gym.make_vec("PG-Anticipate-v0", num_envs=3, query_budget=None, rng_mode="exact")
    assert type(envs).__name__ == "AnticipateVectorEnv"
    envs.reset(seed=3)
    vector_rewards = [envs.step(np.zeros((3, 5), dtype=np.float32))[1] for _ in range(6)]
    np.testing.assert_allclose(np.array(vector_rewards)[:, 0], rewards, rtol=0, atol=1e-12)


def test_the_example_exports_in_progressgym_tracking_fields(isolated_registry: None) -> None:
    from progressgym_env.benchmark.interop import run_from_progressgym, to_progressgym

    _load_example()
    env = gym.make("PG-Anticipate-v0", query_budget=None)
    env.reset(seed=0)
    for _ in range(6):
        *_, info = env.step(env.action_space.sample())
    record = env.unwrapped.episode_record().to_json_dict()
    run = {"agent": "random", "seed": 0, "challenge": "anticipate", "env_id": "PG-Anticipate-v0",
           "episode_record": record}
    exported = to_progressgym(run)
    human = np.asarray(record["human"])
    np.testing.assert_allclose(exported["actual_vector"], (human[2:8] + human[3:9]) / 2)
    assert exported["score"] == pytest.approx(info["final_score"]) == pytest.approx(progressgym_score(exported))
    back = run_from_progressgym(exported, "x.json")
    assert back["challenge"] == "anticipate" and back["env_id"] == "PG-Anticipate-v0"
    assert score_record(back["episode_record"]) == pytest.approx(info["final_score"])


def test_registration_errors_name_the_problem(isolated_registry: None) -> None:
    class Twice(Judge):
        challenge = "follow"

    with pytest.raises(ConfigError, match="'follow' is already registered"):
        registry.register_challenge(Twice, env_id="PG-Twice-v0")

    class BadName(Judge):
        challenge = "Bad Name"

    with pytest.raises(ConfigError, match="lower-case identifier"):
        registry.register_challenge(BadName, env_id="PG-Bad-v0")

    class Fresh(Judge):
        challenge = "fresh"
        param_defaults = {"depth": 1}

    with pytest.raises(ConfigError, match="already registered"):
        registry.register_challenge(Fresh, env_id="PG-Follow-v0")
    with pytest.raises(ConfigError, match=r"'predict1' is already registered"):
        registry.register_challenge(Fresh, env_id="PG-Fresh-v0", variants={"predict1": {}})
    with pytest.raises(ConfigError, match="no parameter"):
        registry.register_challenge(Fresh, env_id="PG-Fresh-v0", variants={"fresh": {"width": 2}})
    with pytest.raises(ConfigError, match="placeholder"):
        registry.register_challenge(Fresh, env_id="PG-Fresh-v0", title="PG-Fresh ({width})")
    with pytest.raises(ConfigError, match="not variants"):
        registry.register_challenge(Fresh, env_id="PG-Fresh-v0", default=("other",))
    with pytest.raises(ConfigError, match="needs a Judge subclass"):
        registry.register_challenge(object, env_id="PG-Fresh-v0")  # type: ignore[arg-type]
    spec = registry.register_challenge(Fresh, env_id="PG-Fresh-v0", title="PG-Fresh (depth={depth})",
                                       variants={"fresh1": {}, "fresh3": {"depth": 3}})
    assert registry.register_challenge(Fresh, env_id="PG-Fresh-v0") is spec  # the same again: a no-op
    assert [v.title for v in spec.variants] == ["PG-Fresh (depth=1)", "PG-Fresh (depth=3)"]
    assert registry.variant_key("fresh", {"depth": 3}) == "fresh3"
    assert registry.variant_key("fresh", {"depth": 5}) == "fresh5"  # outside the variants: name + values
    with pytest.raises(ConfigError, match="unknown challenge 'nope'.*PROGRESSGYM_PLUGINS"):
        registry.challenge_spec("nope")


def test_parameters_become_env_kwargs_and_unknown_ones_say_where_they_belong() -> None:
    env = gym.make("PG-Predict-v0", timesteps_ahead=3)
    assert env.unwrapped.params == {"timesteps_ahead": 3} and env.unwrapped.challenge_key == "predict3"
    assert env.unwrapped.episode_length == 5
    with pytest.raises(TypeError, match="'timesteps_ahead' applies to PG-Predict-v0 only"):
        gym.make("PG-Follow-v0", timesteps_ahead=2)
    with pytest.raises(ConfigError, match="timesteps_ahead=8 is out of range"):
        gym.make("PG-Predict-v0", timesteps_ahead=8)


# -- backends ---------------------------------------------------------------------------------


class EchoBackend(SurrogateBackend):
    """A third backend made outside the package (the surrogate's dynamics under another name)."""

    name = "echo"


def test_a_backend_registered_outside_runs_every_env_and_the_benchmark(isolated_registry: None, tmp_path: Path) -> None:
    from progressgym_env.benchmark.runner import BenchmarkConfig, run_benchmark

    registry.register_backend("echo", EchoBackend)
    for env_id in ("PG-Follow-v0", "PG-Predict-v0", "PG-Coevolve-v0"):
        env = gym.make(env_id, backend="echo")
        assert isinstance(env.unwrapped.backend, EchoBackend)
        env.reset(seed=0)
        env.step(env.action_space.sample())
    config = BenchmarkConfig(agents=["static"], challenges=["coevolve"], seeds=1, backend="echo",
                             out=str(tmp_path / "bench"), wandb=False, plots=False)
    summary = run_benchmark(config, console=None)
    assert summary.new_runs == 1
    with pytest.raises(ConfigError, match="unknown backend 'nope'; choose one of surrogate, llm, echo"):
        gym.make("PG-Follow-v0", backend="nope")
    with pytest.raises(ConfigError, match="already registered"):
        registry.register_backend("echo", SurrogateBackend)


# -- plugins ----------------------------------------------------------------------------------


def test_plugins_named_in_the_environment_variable_are_imported(
    isolated_registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_plugin.py").write_text(EXAMPLE.read_text())
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(plugins.ENV_VAR, " my_plugin , ")
    monkeypatch.delitem(sys.modules, "my_plugin", raising=False)
    assert plugins.load_plugins() == ["my_plugin"]
    assert "anticipate" in registry.variants() and "PG-Anticipate-v0" in gym.registry
    monkeypatch.setenv(plugins.ENV_VAR, "not_a_module_anywhere")
    with pytest.raises(plugins.PluginError, match="'not_a_module_anywhere'.*cannot be imported"):
        plugins.load_plugins()


def test_a_broken_installed_plugin_warns_and_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        name, value = "broken", "broken_pkg:register"

        def load(self) -> Any:
            raise ImportError("no module named broken_pkg")

    monkeypatch.setattr(plugins, "entry_points", lambda group: [Broken()] if group == plugins.ENTRY_POINT_GROUP else [])
    monkeypatch.delenv(plugins.ENV_VAR, raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert plugins.load_plugins() == []
    assert any("'broken'" in str(w.message) for w in caught)


def test_import_progressgym_env_reads_the_environment_variable(tmp_path: Path) -> None:
    (tmp_path / "anticipate.py").write_text(EXAMPLE.read_text())
    code = "import gymnasium as gym, progressgym_env; print(gym.make('PG-Anticipate-v0').unwrapped.episode_length)"
    env = {"PROGRESSGYM_PLUGINS": "anticipate", "PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "6"


def test_the_tutorials_python_blocks_run(isolated_registry: None) -> None:
    """docs/custom_challenges.md's code, block after block in one namespace (training blocks skipped)."""
    text = (REPO / "docs" / "custom_challenges.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    namespace: dict[str, Any] = {"MyBackend": EchoBackend}  # the reader's own backend class
    ran = 0
    for block in blocks:
        if ".learn(" in block:
            continue
        exec(compile(textwrap.dedent(block), "custom_challenges.md", "exec"), namespace)  # noqa: S102
        ran += 1
    assert ran == 4
    horizon = gym.make("PG-Horizon-v0", ahead=3)
    assert horizon.unwrapped.episode_length == 5 and horizon.unwrapped.challenge_key == "horizon3"
    with pytest.raises(ConfigError, match="ahead must be an int in 1..7"):
        gym.make("PG-Horizon-v0", ahead=9)
    assert registry.variant("horizon3").title == "PG-Horizon (ahead=3)"
    assert "PG-Dummy-v0" in gym.registry and registry.backend_spec("mine").factory is EchoBackend


# -- no module branches on a challenge or backend name -----------------------------------------

DEFINITIONS = {"progressgym_env/judges.py", "envs_registry/__init__.py", "progressgym_env/envs/follow.py",
               "progressgym_env/envs/predict.py", "progressgym_env/envs/coevolve.py"}
NAME_COMPARISON = re.compile(
    r"""(==|!=|\bin\b)\s*\(?\s*["'](follow|predict|coevolve|surrogate|llm)["']"""
    r"""|["'](follow|predict|coevolve|surrogate|llm)["']\s*(==|!=)|startswith\(\s*["'](predict|follow|coevolve)"""
)


def test_no_module_compares_a_challenge_or_backend_name() -> None:
    offenders = []
    for folder in ("progressgym_env", "agents", "envs_registry"):
        for path in sorted((REPO / folder).rglob("*.py")):
            relative = path.relative_to(REPO).as_posix()
            if relative in DEFINITIONS:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if NAME_COMPARISON.search(line):
                    offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []


def test_the_name_check_finds_a_comparison() -> None:
    assert NAME_COMPARISON.search('    if record["challenge"] == "predict":')
    assert NAME_COMPARISON.search("if backend != 'llm':")
    assert not NAME_COMPARISON.search('register_backend("llm", factory)')


def test_the_package_exports_the_registration_calls() -> None:
    assert progressgym_env.register_challenge is registry.register_challenge
    assert progressgym_env.register_backend is registry.register_backend
    assert progressgym_env.Judge is Judge


def test_a_custom_targets_rule_follows_resampled_histories_in_the_vector_env(isolated_registry: None) -> None:
    """Targets that are not a view of H (PG-Anticipate's mean) are rebuilt when a sub-env draws a new history."""
    _load_example()
    kwargs = {"history": "procedural", "query_budget": None}
    envs = gym.make_vec("PG-Anticipate-v0", num_envs=2, rng_mode="exact", **kwargs)
    singles = [gym.make("PG-Anticipate-v0", **kwargs) for _ in range(2)]
    envs.reset(seed=[4, 5])
    for i, env in enumerate(singles):
        env.reset(seed=4 + i)
    for step in range(13):  # two episodes of 6 steps, the autoreset step between them
        vector_rewards = envs.step(np.zeros((2, 5), dtype=np.float32))[1]
        if step == 6:
            for env in singles:
                env.reset()
            continue
        single_rewards = [env.step(np.zeros(5, dtype=np.float32))[1] for env in singles]
        np.testing.assert_allclose(vector_rewards, single_rewards, rtol=0, atol=1e-12, err_msg=f"step {step}")
