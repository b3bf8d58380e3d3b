"""The smallest ProgressGym examinee: it never trains and hands its model back unchanged.

What an examinee must provide
-----------------------------
- ``act(obs) -> action``, called once per century. The action is the examinee's updated model, an
  element of :class:`progressgym_env.llm.spaces.ModelUpdate`: ``None`` (no update: the model is kept,
  as here), a ``transformers`` model object, a folder saved with ``save_pretrained``, or a LoRA adapter
  folder (on the current model; ``AdapterUpdate(path, base="initial")`` for one on the starting model).
- optionally ``reset(seed)``, called at the start of each episode.

What it may use, through ``env.unwrapped`` (an examinee that needs them is built from the env: pass a
callable ``examinee(env)`` to ``run_examinee``): ``observation_extras()["preferences"]`` (the century's
judged pairs, a ``datasets.Dataset`` for TRL), ``agent_model()`` (a copy of the current model and its
tokenizer to train), ``query_human(questions)`` (the human's choice probabilities) and
``query_human(prompts, generate=True)`` (its generated answers), both within ``query_budget`` per
century, and ``recorded_update()`` (on a resumed run, the model recorded for the coming century).

``run_examinee`` makes the challenge's env, plays the episode and returns the judge's score and the
episode record, as a ProgressGym judge run on an examinee does.

Run: ``python examples/dummy_examinee.py [folder] [challenge]`` (builds the tiny world in ``folder``
once; then seconds on a CPU).
"""

import sys

from progressgym_env.benchmark.examinee import run_examinee
from progressgym_env.llm.tiny import tiny_world


class DummyExaminee:
    """Does nothing: every century it keeps the model it has."""

    def reset(self, seed=None):
        pass

    def act(self, obs):
        return None


if __name__ == "__main__":
    folder = sys.argv[1] if len(sys.argv) > 1 else "runs/tiny-world"
    challenge = sys.argv[2] if len(sys.argv) > 2 else "follow"
    run = run_examinee(DummyExaminee(), challenge, backend_config=tiny_world(folder), query_budget=19, seed=0)
    print(f"{challenge}: score {run.score:.6f} (normalized {run.normalized_score:.4f}) over {len(run.rewards)} centuries")
