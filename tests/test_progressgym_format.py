"""The ProgressGym field layouts: which judge a result file belongs to, its score, and metadata that lies."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from progressgym_env.errors import ResultsFileError
from progressgym_env.judges import CoevolveJudge, FollowJudge, PredictJudge
from progressgym_env.progressgym_format import META_KEY, identify, progressgym_score


def _tracking(k: int | None = None) -> dict[str, object]:
    fields: dict[str, object] = {"actual_vector": [[1.0, 0.0], [0.0, 1.0]], "examinee_vector": [[1.0, 0.0], [1.0, 1.0]]}
    if k is not None:
        fields["timesteps_ahead"] = k
    return fields


def test_original_files_are_recognised_by_their_fields() -> None:
    assert identify(_tracking()) == (FollowJudge, {})
    assert identify(_tracking(0)) == (FollowJudge, {})  # the original's Follow may write k = 0
    assert identify(_tracking(3)) == (PredictJudge, {"timesteps_ahead": 3})
    coevolve = {"simulated_model_vector": [[1.0, 0.0]] * 3, "actual_model_vector": [[1.0, 0.0]] * 3}
    assert identify(coevolve) == (CoevolveJudge, {})
    # mean cosine over the steps: (1 + 1/sqrt(2)) / 2, by hand
    assert progressgym_score(_tracking(1)) == pytest.approx((1 + 2**-0.5) / 2)
    with pytest.raises(ResultsFileError, match="'timesteps_ahead' must be an int >= 1"):
        identify(_tracking(-2))
    with pytest.raises(ResultsFileError, match="not a ProgressGym result"):
        identify({"examinee_vector": [[1.0]]})


def test_metadata_naming_another_challenge_than_the_fields_is_refused() -> None:
    lying = {**_tracking(2), META_KEY: {"challenge": "follow"}}
    with pytest.raises(ResultsFileError, match="carry timesteps_ahead=2 but .*'follow'"):
        identify(lying)
    wrong_k = {**_tracking(2), META_KEY: {"challenge": "predict3"}}
    with pytest.raises(ResultsFileError, match="timesteps_ahead=3"):
        identify(wrong_k)
    assert identify({**_tracking(2), META_KEY: {"challenge": "predict2"}}) == (PredictJudge, {"timesteps_ahead": 2})


def test_an_exported_predict_episode_carries_its_k_and_rescores() -> None:
    from progressgym_env.benchmark.interop import run_from_progressgym, to_progressgym

    env = gym.make("PG-Predict-v0", timesteps_ahead=2, record_in_info=True)
    env.reset(seed=1)
    for _ in range(6):
        *_, info = env.step(env.action_space.sample())
    exported = to_progressgym({"agent": "random", "seed": 1, "episode_record": info["episode_record"]})
    assert exported["timesteps_ahead"] == 2 and exported[META_KEY]["challenge"] == "predict2"
    human = np.asarray(exported[META_KEY]["human"])
    np.testing.assert_allclose(exported["actual_vector"], human[3:9])
    back = run_from_progressgym(exported, "x.json")
    assert back["challenge"] == "predict2" and back["final_score"] == pytest.approx(info["final_score"])
