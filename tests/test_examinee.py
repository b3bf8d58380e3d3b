"""Examinee mode: judged pairs from known preferences, the ModelUpdate space, vote extrapolation, episodes.

Model-free tests build the pair slots and verdicts from hand-made probability tables; the episode tests
run on the public tiny world (``progressgym_env.llm.tiny.tiny_world``), with one judged pair per dim and
one optimiser step per century so they stay cheap.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents.examinees.extrapolation import (
    extrapolate_votes,
    extrapolated_weights,
    extrapolation_coefficients,
    relative_votes,
)
from progressgym_env.errors import ConfigError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

FAST = {"dpo_args": {"max_steps": 1}, "reward_args": {"max_steps": 1}, "rl_args": {"max_steps": 1, "max_completion_length": 4}}
"""Examinee trainer settings of the episode tests: one optimiser step per stage and century."""


# ------------------------------------------------------------------------------- model-free parts


def test_extrapolation_is_the_finite_difference_polynomial() -> None:
    assert extrapolation_coefficients(0).tolist() == [1]
    assert extrapolation_coefficients(1).tolist() == [-1, 2]
    assert extrapolation_coefficients(2).tolist() == [1, -3, 3]
    votes = np.array([[1, -1, 1, -1], [1, 1, -1, -1], [1, 1, 1, 1]])  # oldest first; last row = latest
    # order 1 uses the last two centuries: 2 v_n - v_{n-1}
    assert extrapolate_votes(votes, 1, 1).tolist() == [1, 1, 3, 3]
    # order 2: 3 v_n - 3 v_{n-1} + v_{n-2}
    assert extrapolate_votes(votes, 2, 1).tolist() == [1, -1, 7, 5]
    # two steps ahead at order 1: the sequence 1, 1 -> 1 -> 1 ; -1, 1 -> 3 -> 5
    assert extrapolate_votes(votes[1:], 1, 2).tolist() == [1, 1, 5, 5]
    # one century only: order drops to 0 (the latest verdict, weight 1)
    assert extrapolate_votes(votes[-1:], 2, 1).tolist() == [1, 1, 1, 1]
    for order in (1, 2, 3):
        coef = extrapolation_coefficients(order)
        assert coef.sum() == 1  # odd votes stay odd: an extrapolated vote is never 0
    with pytest.raises(ValueError):
        extrapolate_votes(np.zeros((0, 3)), 1, 1)


def test_relative_votes_and_weights_orient_against_a_trend() -> None:
    history = [np.array([True, True, False]), np.array([True, False, False]), np.array([True, False, True])]
    assert relative_votes(history).tolist() == [[1, -1, -1], [1, 1, -1], [1, 1, 1]]
    keep, copies = extrapolated_weights(history, order=2, horizon=1, max_weight=5)
    # pair 0 always agrees: kept once; pair 1: 1, 1 after a -1 -> 3*1 - 3*1 + (-1)... = -1 -> reversed
    assert keep.tolist() == [True, False, True]
    assert copies.tolist() == [1, 1, 5]


def _toy_pool() -> Any:
    """A two-question pool: a 2-option question for dim 0, a 4-option question for dim 15."""
    from progressgym_env.evaluator.questions import Question
    from progressgym_env.llm.proxies import ElicitationPool

    q2 = Question("moralchoice", "S1", "c", "repeat", ("a", "b"), (0, 1), "p2", ("a", "b"))
    q4 = Question("worldviews", "S2", "c", "repeat", ("w", "x", "y", "z"), (0, 1, 2, 3), "p4", ("w", "x", "y", "z"))
    dim_questions = [np.array([0])] * 15 + [np.array([1])] * 4
    upholds = [np.array([[True, False, False, False]])] * 15 + [
        np.array([[d == j for j in range(4)]]) for d in range(4)
    ]
    return ElicitationPool((q2, q4), tuple(dim_questions), tuple(upholds))


def test_judged_pairs_agree_with_a_proxy_of_known_preferences() -> None:
    from progressgym_env.llm.examinee import (
        draw_pair_slots,
        judge_pairs,
        pair_estimate,
        pair_first_probs,
    )

    pool = _toy_pool()
    slots = draw_pair_slots(np.random.default_rng(0), pool, 19 * 200)
    assert len(slots) == 3800 and {s.dim for s in slots} == set(range(19))
    for s in slots:  # a 4-option pair holds the dim's upholding option and one other
        marks = pool.upholds[s.dim][s.row]
        assert marks[s.first] != marks[s.second]
    # Proxy: on the 2-option question P(a) = 0.8; on the 4-option one (0.1, 0.2, 0.3, 0.4).
    probs = np.array([[0.8, 0.2, np.nan, np.nan], [0.1, 0.2, 0.3, 0.4]])
    p_first = pair_first_probs(slots, probs)
    for s, p in zip(slots, p_first, strict=True):
        row = probs[s.question]
        assert p == pytest.approx(row[s.first] / (row[s.first] + row[s.second]))
    first = judge_pairs(np.random.default_rng(1), p_first)
    estimate = pair_estimate(pool, slots, first)
    # dim 0: the upholding option a wins with p = 0.8 (binomial sd 0.028 at 200 pairs)
    assert abs(estimate[0] - 0.8) < 0.1
    # dim 18 (option z, p = 0.4) beats any other option more often than dim 15 (option w, p = 0.1) does
    assert estimate[18] > 0.5 > estimate[15]
    expected_18 = np.mean([0.4 / (0.4 + o) for o in (0.1, 0.2, 0.3)])
    assert abs(estimate[18] - expected_18) < 0.1


def test_model_update_space_checks_its_elements(tmp_path: Path) -> None:
    from progressgym_env.llm.spaces import AdapterUpdate, ModelUpdate

    space = ModelUpdate()
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"x")
    assert space.contains(None) and space.sample() is None
    assert space.contains(str(adapter)) and space.contains(model) and space.contains(AdapterUpdate(adapter, "initial"))
    assert not space.contains(tmp_path) and not space.contains(tmp_path / "missing")
    assert not space.contains(np.zeros(19)) and not space.contains(AdapterUpdate(model))
    with pytest.raises(ValueError, match="base"):
        AdapterUpdate(adapter, "elsewhere")
    assert space == ModelUpdate() and not space.is_np_flattenable


def test_examinee_interface_needs_a_model_backend() -> None:
    import gymnasium as gym

    import progressgym_env  # noqa: F401
    from progressgym_env.errors import ConfigError

    with pytest.raises(ConfigError, match="takes the vector interface only"):
        gym.make("PG-Follow-v0", interface="examinee")
    with pytest.raises(ConfigError, match="unknown interface"):
        gym.make("PG-Follow-v0", interface="models")
    env = gym.make("PG-Follow-v0")
    _, info = env.reset(seed=0)
    assert "preferences" not in info and env.unwrapped.observation_extras() == {}
    with pytest.raises(ConfigError, match="interface='examinee'"):
        env.unwrapped.agent_model()


def test_examinee_names_are_registered() -> None:
    from agents.examinees import EXAMINEES, is_examinee
    from agents.registry import agent_interface, agent_names

    for name in EXAMINEES:
        assert is_examinee(name) and is_examinee(name + "-independent") and agent_interface(name) == "examinee"
        assert name in agent_names()
    assert not is_examinee("lifelong") and not is_examinee("lifelong-dpo-2") and agent_interface("static") == "vector"


# ---------------------------------------------------------------------------------- tiny world


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    pytest.importorskip("trl")
    pytest.importorskip("peft")
    from progressgym_env.llm.tiny import tiny_world

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tiny_world(tmp_path_factory.mktemp("tiny-world"))


def make_env(config: Any, challenge: str = "follow", **overrides: Any) -> Any:
    import gymnasium as gym

    import progressgym_env  # noqa: F401

    env_id = {"follow": "PG-Follow-v0", "predict": "PG-Predict-v0", "coevolve": "PG-Coevolve-v0"}[challenge]
    if overrides:
        config = type(config).from_any({**config.to_dict(), **overrides})
    return gym.make(env_id, history="models", backend="llm", backend_config=config, interface="examinee",
                    query_budget=19)


@pytest.mark.slow  # the fast run covers the tiny world's episodes in the kill-and-resume test
def test_tiny_world_proxies_differ_and_preferences_follow_the_proxy(world: Any) -> None:
    env = make_env(world)
    obs, info = env.reset(seed=0)
    history = env.unwrapped.history.values
    assert history.shape == (9, 19) and np.abs(history[8] - history[0]).max() > 0.05
    prefs = info["preferences"]
    assert len(prefs) == 19 and info["queries"] == 19 and obs.shape == (39,)
    assert set(prefs.column_names) >= {"prompt", "chosen", "rejected", "scenario_id", "bank", "dims", "pair_id"}
    assert all(row["dim"] in row["dims"] for row in prefs)
    # the verdicts come from the century-14 proxy's cached probabilities
    backend = env.unwrapped.backend
    table = backend.panel.probs()[1]
    for slot, row in zip(backend.examinee.slots, prefs, strict=True):
        p = table[slot.question]
        p_first = p[slot.first] / (p[slot.first] + p[slot.second])
        assert row["chosen_prob"] == pytest.approx(p_first if row["chosen_first"] else 1 - p_first)
    answers = env.unwrapped.query_human([("Pick one.", ["yes", "no"])])
    assert len(answers) == 1 and answers[0].sum() == pytest.approx(1.0)
    from progressgym_env.llm.examinee import QueryBudgetError

    with pytest.raises(QueryBudgetError, match="query budget"):
        env.unwrapped.query_human([("Pick one.", ["yes", "no"])] * 19)
    with pytest.raises(ValueError, match="not an element"):
        env.step(np.zeros(19, dtype=np.float32))
    obs, _reward, terminated, _, info = env.step(None)  # no update: the model keeps its values
    np.testing.assert_allclose(info["model_values"], history[0])
    assert info["queries"] == 19 + 1 and not terminated  # pairs of the next century + the free-form question


@pytest.mark.slow
def test_lifelong_dpo_follow_episode_scores_from_its_record(world: Any) -> None:
    from agents.registry import make_agent
    from progressgym_env import score_record
    from progressgym_env.episode import run_episode

    env = make_env(world)
    agent = make_agent("lifelong-dpo", env, dpo_args=FAST["dpo_args"])
    result = run_episode(env, agent, seed=0)
    record = env.unwrapped.episode_record()
    assert record.model.shape == (8, 19)
    assert score_record(record) == pytest.approx(result.final_score, abs=1e-12)
    assert env.unwrapped.backend.stats["evaluations"] >= 8


@pytest.mark.slow  # a killed and a resumed examinee episode on the tiny world: about 28 s of CPU
def test_examinee_kill_and_resume_redoes_nothing(world: Any, tmp_path: Path) -> None:
    """A run killed after 3 centuries resumes from the journal: no retraining, no re-measuring, same record."""
    from agents.registry import make_agent

    def run(run_dir: Path, stop_after: int | None) -> tuple[Any, Any, Any]:
        env = make_env(world, run_dir=str(run_dir))
        agent = make_agent("extrapolative-dpo-1", env, dpo_args={"max_steps": 1})
        obs, _ = env.reset(seed=4)
        agent.reset(4)
        trained = 0
        for step in range(8):
            if env.unwrapped.recorded_update() is None:
                trained += 1
            obs, _, terminated, _, _ = env.step(agent.act(obs))
            if stop_after is not None and step + 1 == stop_after:
                return None, env, trained
            if terminated:
                break
        return env.unwrapped.episode_record(), env, trained

    _, _killed, trained_first = run(tmp_path / "a", 3)
    assert trained_first == 3
    record, resumed, trained_again = run(tmp_path / "a", None)
    assert trained_again == 5  # only the 5 centuries the killed run had not done
    backend = resumed.unwrapped.backend
    assert backend.stats["replayed_calls"] >= 3 + 3  # 3 judgements + 3 updates replayed
    reference, _, _ = run(tmp_path / "b", None)
    np.testing.assert_array_equal(record.model, reference.model)
    np.testing.assert_array_equal(record.rewards, reference.rewards)


def test_a_tampered_checkpoint_model_is_refused(world: Any, tmp_path: Path) -> None:
    from progressgym_env.llm.checkpoint import CheckpointError

    env = make_env(world, run_dir=str(tmp_path))
    env.reset(seed=0)
    model, _ = env.unwrapped.agent_model()
    env.step(model)  # a model object: saved into the checkpoint with its files' sha256
    saved = tmp_path / "episode-0000" / "century-01" / "agent-model" / "config.json"
    saved.write_text(saved.read_text() + " ")
    again = make_env(world, run_dir=str(tmp_path))
    with pytest.raises(CheckpointError, match="sha256"):
        again.reset(seed=0)


BASELINE_RUNS = [
    *((name, challenge) for name in ("lifelong-dpo", "extrapolative-dpo-1", "extrapolative-dpo-2", "lifelong-rlhf",
                                     "extrapolative-rlhf") for challenge in ("follow", "predict", "coevolve")),
    ("lifelong-dpo-independent", "follow"),
    ("extrapolative-rlhf-independent", "predict"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "challenge"), BASELINE_RUNS)
def test_each_baseline_examinee_completes_every_challenge(world: Any, name: str, challenge: str) -> None:
    from agents.registry import make_agent
    from progressgym_env import score_record
    from progressgym_env.episode import run_episode

    env = make_env(world, challenge)
    agent = make_agent(name, env, **FAST)
    result = run_episode(env, agent, seed=1)
    assert np.isfinite(result.final_score) and agent.name == name
    assert env.unwrapped.backend.stats["evaluations"] >= 1  # at least one handed-back model was measured
    assert score_record(env.unwrapped.episode_record()) == pytest.approx(result.final_score, abs=1e-12)


def test_readme_shows_the_example_examinee() -> None:
    root = Path(__file__).resolve().parents[1]
    code = (root / "examples" / "examinee_dpo.py").read_text(encoding="utf-8").split('"""', 2)[2].strip("\n")
    assert code in (root / "README.md").read_text(encoding="utf-8")


def test_the_example_and_readme_give_the_same_time() -> None:
    import re

    root = Path(__file__).resolve().parents[1]
    docstring = (root / "examples" / "examinee_dpo.py").read_text(encoding="utf-8").split('"""', 2)[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    said = re.search(r"about ([\d.]+ CPU-minutes?)", " ".join(docstring.split()))
    shown = re.search(r"\(\[examples/examinee_dpo\.py\]\(examples/examinee_dpo\.py\), about ([\d.]+ CPU-minutes?)\)",
                      " ".join(readme.split()))
    assert said and shown and said.group(1) == shown.group(1), (said, shown)


@pytest.mark.slow
def test_the_example_examinee_runs(tmp_path: Path) -> None:
    """examples/examinee_dpo.py: a DPO examinee's PG-Follow episode whose score recomputes from the record."""
    import subprocess
    import sys

    pytest.importorskip("trl")
    root = Path(__file__).resolve().parents[1]
    # transformers prints "[INFO] Running in WANDB offline mode" on import when WANDB_MODE=offline (CI sets it);
    # the example uses no wandb, so it runs as a user's shell would, without that variable.
    env = {k: v for k, v in os.environ.items() if k != "WANDB_MODE"}
    done = subprocess.run([sys.executable, str(root / "examples" / "examinee_dpo.py"), str(tmp_path / "world")],
                          cwd=root, capture_output=True, text=True, timeout=1200, check=False, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "recomputed from the record" in done.stdout
    # quiet: one bar, the warnings summed up in one line, the final score beside static's
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].endswith(("warnings hidden", "no warnings")), done.stdout
    assert "(static: " in lines[1] and "0 = static, 1 = reference" in lines[1]
    assert "Warning" not in done.stderr and len(done.stderr.strip().splitlines()) <= 3, done.stderr[-2000:]


@pytest.mark.slow
def test_benchmark_runs_examinees_beside_vector_agents(world: Any, tmp_path: Path) -> None:
    """``progressgym benchmark --backend llm``: examinees get examinee-mode envs, vector agents Box ones."""
    from progressgym_env.benchmark.results import load_results
    from progressgym_env.benchmark.runner import BenchmarkConfig, run_benchmark

    config = BenchmarkConfig(
        agents=["static", "lifelong-dpo", "extrapolative-dpo-1"], challenges=["follow"], seeds=1, history="models",
        out=str(tmp_path / "bench"), backend="llm", backend_config={**world.to_dict(), "dpo_args": {
            **world.dpo_args, "max_steps": 1}},
        query_budget=19, wandb=False, plots=False, progress=False,
    )
    summary = run_benchmark(config)
    assert summary.new_runs == 3
    runs = {r["agent"]: r for r in load_results(tmp_path / "bench" / "results.json")}
    assert runs["lifelong-dpo"]["kwargs"]["interface"] == "examinee" and "interface" not in runs["static"]["kwargs"]
    assert runs["lifelong-dpo"]["agent_config"]["interface"] == "examinee"
    # static never updates: its record is the starting model throughout
    static_model = np.array(runs["static"]["episode_record"]["model"])
    np.testing.assert_allclose(static_model, np.broadcast_to(static_model[0], static_model.shape))


def test_mirrored_rows_are_slot_anchors() -> None:
    from progressgym_env.llm.preference_data import mirrored_rows

    rows = [{"prompt": "p", "chosen": " A", "rejected": " B"}, {"prompt": "q", "chosen": " no", "rejected": " yes"}]
    assert mirrored_rows(rows) == [
        {"prompt": "p", "chosen": " A", "rejected": " B"}, {"prompt": "p", "chosen": " B", "rejected": " A"},
        {"prompt": "q", "chosen": " no", "rejected": " yes"}, {"prompt": "q", "chosen": " yes", "rejected": " no"},
    ]
    # The pair's DPO loss -log s(m) - log s(-m) is smallest at margin m = 0 (the reference's preference).
    margins = np.linspace(-3, 3, 61)
    loss = np.log1p(np.exp(-margins)) + np.log1p(np.exp(margins))
    assert margins[int(np.argmin(loss))] == 0.0


def test_anchor_formats_turn_those_verdicts_into_anchors() -> None:
    from datasets import Dataset

    from agents.examinees.base import ExamineeConfig, weighted_rows
    from progressgym_env.errors import ConfigError

    preferences = Dataset.from_list([
        {"prompt": "P1", "chosen": "c1", "rejected": "r1", "pair_id": 1, "format": "label"},
        {"prompt": "P0", "chosen": "c0", "rejected": "r0", "pair_id": 0, "format": "repeat"},
        {"prompt": "P2", "chosen": "c2", "rejected": "r2", "pair_id": 2, "format": "yesno"},
    ])
    keep = np.array([False, True, True])  # in pair_id order: pair 0 reversed
    copies = np.array([2, 1, 0])  # pair 2 carries no weight: no row, not even an anchor
    rows = weighted_rows(preferences, keep, copies, anchor_formats=("label", "yesno"))
    assert rows == [
        {"prompt": "P1", "chosen": "c1", "rejected": "r1"}, {"prompt": "P1", "chosen": "r1", "rejected": "c1"},
        {"prompt": "P0", "chosen": "r0", "rejected": "c0"}, {"prompt": "P0", "chosen": "r0", "rejected": "c0"},
    ]
    # Without anchors every pair trains on its (oriented, weighted) verdict.
    assert weighted_rows(preferences, keep, copies) == [
        {"prompt": "P1", "chosen": "c1", "rejected": "r1"},
        {"prompt": "P0", "chosen": "r0", "rejected": "c0"}, {"prompt": "P0", "chosen": "r0", "rejected": "c0"},
    ]
    assert ExamineeConfig(anchor_formats="label,yesno").anchor_formats == ("label", "yesno")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown question formats"):
        ExamineeConfig(anchor_formats=("letters",))


# ------------------------------------------------------------------- extension APIs (ProgressGym's)


def test_generated_queries_are_refused_over_the_budget_or_malformed(world: Any) -> None:
    """Checked before any model is loaded: the budget, a lone string, an empty prompt, vector mode."""
    import gymnasium as gym

    from progressgym_env.llm.examinee import QueryBudgetError

    env = make_env(world)
    env.reset(seed=0)
    with pytest.raises(QueryBudgetError, match="20 prompt.*over the query budget of 19"):
        env.unwrapped.query_human(["Say something."] * 20, generate=True)
    with pytest.raises(ConfigError, match="list of prompt strings"):
        env.unwrapped.query_human("a lone string", generate=True)
    with pytest.raises(ConfigError, match="prompt strings; found str"):
        env.unwrapped.query_human(["fine", "  "], generate=True)
    with pytest.raises(ConfigError, match="max_new_tokens"):
        env.unwrapped.query_human(["fine"], generate=True, max_new_tokens=0)
    vector = gym.make("PG-Follow-v0", history="models", backend="llm", backend_config=world, query_budget=19)
    vector.reset(seed=0)
    with pytest.raises(ConfigError, match="interface='examinee'"):
        vector.unwrapped.query_human(["hi"], generate=True)


@pytest.mark.slow  # generation by a tiny proxy, a journaled re-run and a fresh run: about 10 s of CPU
def test_query_human_generates_text_counted_against_the_budget(world: Any, tmp_path: Path) -> None:
    """``query_human(prompts, generate=True)``: the proxy's own text, seeded by the episode, one query per prompt."""
    from progressgym_env.llm.examinee import QueryBudgetError

    env = make_env(world, run_dir=str(tmp_path))
    env.reset(seed=3)
    texts = env.unwrapped.query_human(["Describe a fair trade.", "Is honesty a duty?"], generate=True,
                                      max_new_tokens=6)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    assert any(texts)  # a random tiny model still says something
    env.unwrapped.query_human([("Pick one.", ["yes", "no"])] * 16)  # 2 + 16 = 18 of the 19 queries
    with pytest.raises(QueryBudgetError, match="over the query budget of 19"):
        env.unwrapped.query_human(["one more", "and another"], generate=True)
    _, _, _, _, info = env.step(None)
    assert info["queries"] == 19 + 18  # the next century's pairs + this century's free-form queries

    # same seed, same text; a re-run replays it from the journal without generating
    again = make_env(world, run_dir=str(tmp_path))
    again.reset(seed=3)
    replayed_before = again.unwrapped.backend.stats["replayed_calls"]
    assert again.unwrapped.query_human(["Describe a fair trade.", "Is honesty a duty?"], generate=True,
                                       max_new_tokens=6) == texts
    assert again.unwrapped.backend.stats["replayed_calls"] == replayed_before + 1
    fresh = make_env(world)
    fresh.reset(seed=3)
    assert fresh.unwrapped.query_human(["Describe a fair trade.", "Is honesty a duty?"], generate=True,
                                       max_new_tokens=6) == texts


class _Keeper:
    """An examinee that never updates (the dummy), counting its calls."""

    def __init__(self) -> None:
        self.seeds: list[int | None] = []
        self.steps = 0

    def reset(self, seed: int | None = None) -> None:
        self.seeds.append(seed)

    def act(self, obs: np.ndarray) -> None:
        self.steps += 1
        return None


def test_run_examinee_judges_an_examinee_without_an_env_loop(world: Any) -> None:
    from progressgym_env import score_record
    from progressgym_env.benchmark.examinee import run_examinee

    keeper = _Keeper()
    run = run_examinee(keeper, "follow", backend_config=world, query_budget=19, seed=2)
    assert keeper.seeds == [2] and keeper.steps == len(run.rewards) == 8
    assert run.record.model.shape == (8, 19)
    np.testing.assert_array_equal(run.record.model, np.broadcast_to(run.record.model[0], (8, 19)))  # never updated
    assert score_record(run.record) == pytest.approx(run.score, abs=1e-12)
    # an env id works as the challenge, and a factory examinee(env) gets the env to work with
    seen: list[Any] = []

    def factory(env: Any) -> _Keeper:
        seen.append(env.unwrapped.interface)
        return _Keeper()

    by_id = run_examinee(factory, "PG-Follow-v0", backend_config=world, query_budget=19, seed=2)
    assert seen == ["examinee"] and by_id.score == run.score
    with pytest.raises(ConfigError, match="act"):
        run_examinee(42, "follow", backend_config=world, query_budget=19)  # type: ignore[arg-type]


@pytest.mark.slow  # a subprocess importing torch and running a PG-Follow episode on the tiny world
def test_the_dummy_examinee_example_runs(world: Any) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    folder = Path(world.history_cache_dir).parent  # the session's tiny world, reused
    done = subprocess.run([sys.executable, str(root / "examples" / "dummy_examinee.py"), str(folder)],
                          cwd=root, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "follow: score" in done.stdout and "over 8 centuries" in done.stdout
