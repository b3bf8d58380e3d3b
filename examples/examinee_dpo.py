"""A ProgressGym examinee in ~30 lines: TRL's DPOTrainer on each century's judged pairs (PG-Follow, tiny world).

Run: ``python examples/examinee_dpo.py [folder]`` (builds the tiny world there once; CPU, about a minute).
"""

import sys
import tempfile

import gymnasium as gym
from peft import LoraConfig
from trl import DPOConfig, DPOTrainer

import progressgym_env  # noqa: F401  (registers the envs)
from progressgym_env import score_record
from progressgym_env.llm.tiny import tiny_world

config = tiny_world(sys.argv[1] if len(sys.argv) > 1 else "runs/tiny-world")
env = gym.make("PG-Follow-v0", history="models", backend="llm", backend_config=config,
               interface="examinee", query_budget=38)
obs, info = env.reset(seed=0)
terminated = False
while not terminated:
    model, tokenizer = env.unwrapped.agent_model()            # a copy of the current model to train
    adapter = tempfile.mkdtemp(prefix="examinee-")
    args = DPOConfig(output_dir=adapter, per_device_train_batch_size=4, learning_rate=1e-2, max_steps=2,
                     report_to="none", save_strategy="no", use_cpu=True, seed=0)
    trainer = DPOTrainer(model=model, args=args, train_dataset=info["preferences"], processing_class=tokenizer,
                         peft_config=LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    trainer.train()
    trainer.model.save_pretrained(adapter)                    # a LoRA adapter on the current model
    obs, reward, terminated, truncated, info = env.step(adapter)
    print(f"century {info['century']}: reward {reward:.4f}")

record = env.unwrapped.episode_record()
print("final score", info["final_score"], "recomputed from the record", score_record(record))
assert abs(score_record(record) - info["final_score"]) < 1e-12
