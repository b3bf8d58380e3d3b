"""A ProgressGym examinee in ~40 lines: TRL's DPOTrainer on each century's judged pairs (PG-Follow, tiny world).

Run: ``python examples/examinee_dpo.py [folder]`` (builds the tiny world there once; CPU, about 3 CPU-minutes).
It shows one progress bar (each century's reward), sums the warnings up in one line, and prints the final
score beside what ``static`` (an examinee that never updates: value lock-in) scores on the same history.
"""

import collections
import sys
import tempfile
import warnings

import datasets
import gymnasium as gym
import transformers
from peft import LoraConfig
from trl import DPOConfig, DPOTrainer

import progressgym_env  # noqa: F401  (registers the envs)
from progressgym_env import score_record
from progressgym_env.common.progress import ProgressBar
from progressgym_env.judges import judge_for_record
from progressgym_env.llm.tiny import tiny_world

hidden = collections.Counter()  # warnings (the question bank's known defects, library notices): counted
warnings.showwarning = lambda message, category, *rest: hidden.update([category.__name__])
datasets.disable_progress_bars()  # the bar below is the only progress shown
transformers.logging.set_verbosity_error()

config = tiny_world(sys.argv[1] if len(sys.argv) > 1 else "runs/tiny-world")
env = gym.make("PG-Follow-v0", history="models", backend="llm", backend_config=config,
               interface="examinee", query_budget=38)
obs, info = env.reset(seed=0)
terminated = False
with ProgressBar(env.unwrapped.episode_length, "DPO examinee") as bar:
    while not terminated:
        model, tokenizer = env.unwrapped.agent_model()        # a copy of the current model to train
        adapter = tempfile.mkdtemp(prefix="examinee-")
        args = DPOConfig(output_dir=adapter, per_device_train_batch_size=4, learning_rate=1e-2, max_steps=2,
                         report_to="none", save_strategy="no", use_cpu=True, seed=0, disable_tqdm=True)
        trainer = DPOTrainer(model=model, args=args, train_dataset=info["preferences"], processing_class=tokenizer,
                             peft_config=LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
        trainer.remove_callback(transformers.PrinterCallback)  # no metrics dict per century
        trainer.train()
        trainer.model.save_pretrained(adapter)                # a LoRA adapter on the current model
        obs, reward, terminated, truncated, info = env.step(adapter)
        bar.advance(f"century {info['century']}: reward {reward:.4f}")

record = env.unwrapped.episode_record()
static = judge_for_record(record).reference_scores()[0]  # a model frozen at the first century's values
print(", ".join(f"{n} {name}" for name, n in hidden.items()) + " warnings hidden" if hidden else "no warnings")
print(f"final score {info['final_score']:.4f} (static: {static:.4f}; normalized {info['normalized_score']:+.3f}, "
      f"0 = static, 1 = reference), recomputed from the record {score_record(record):.4f}")
assert abs(score_record(record) - info["final_score"]) < 1e-12
