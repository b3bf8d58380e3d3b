"""A Minari dataset of the LLM backend's transitions: Follow on the tiny world (CPU), in the surrogate datasets' format.

Builds (once) the tiny LLM world of :func:`progressgym_env.llm.tiny.tiny_world` (nine tiny random-init Llamas
whose weights drift over the centuries; every update is a real LoRA DPO run, every observation a real
evaluation) and records ``--episodes`` episodes of ``--policy`` on its ``models`` history (the values measured
from the tiny proxies) with the same writer as ``progressgym dataset``
(:func:`agents.offline.datasets.write_dataset`), so the same tooling (``minari.load_dataset``, torchrl's
``MinariExperienceReplay``, :mod:`agents.offline.training`) reads real-model episodes. The dataset's metadata
says how it was made (the tiny world's recipe and its LLMConfig, the query budget) and this script writes its
size and timing to ``OUT/llm_dataset.json``.

    python benchmarks/offline_llm_dataset.py --episodes 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agents.offline.datasets import DatasetConfig, dataset_path, write_dataset
from progressgym_env.common.atomic import atomic_write_text


def write_llm_dataset(world: Path, episodes: int, policy: str, dataset_id: str, query_budget: int,
                      overwrite: bool = True, progress: bool = True) -> dict:
    """Build the tiny world in ``world`` (reused when there) and write the dataset; return its figures."""
    from progressgym_env.llm.tiny import TINY_WORLD_FILE, tiny_world

    start = time.perf_counter()
    llm_config = tiny_world(world)
    build_seconds = time.perf_counter() - start
    recipe = json.loads((world / TINY_WORLD_FILE).read_text(encoding="utf-8"))["recipe"]
    config = DatasetConfig(
        challenge="follow", policy=policy, episodes=episodes, dataset_id=dataset_id, history="models",
        env_kwargs={"backend": "llm", "backend_config": llm_config.to_dict(), "query_budget": query_budget},
        overwrite=overwrite, progress=progress,
    )
    start = time.perf_counter()
    path = write_dataset(config, extra_metadata={"llm_world": {
        "what": "progressgym_env.llm.tiny.tiny_world: nine tiny random-init Llama proxies (CPU), real LoRA DPO "
                "updates and real evaluations; the models history is measured from the proxies",
        "recipe": recipe, "folder": str(world), "llm_config": llm_config.to_dict()}})
    seconds = time.perf_counter() - start
    import minari

    dataset = minari.load_dataset(dataset_id)
    size = sum(f.stat().st_size for f in dataset_path(dataset_id).rglob("*") if f.is_file())
    return {"dataset_id": dataset_id, "path": str(path), "episodes": episodes,
            "transitions": int(dataset.total_steps), "bytes": size, "write_seconds": round(seconds, 1),
            "seconds_per_episode": round(seconds / episodes, 1), "world_build_seconds": round(build_seconds, 1),
            "obs_dim": int(dataset.observation_space.shape[0]), "act_dim": int(dataset.action_space.shape[0]),
            "policy": policy, "query_budget": query_budget}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--policy", default="lifelong")
    parser.add_argument("--query-budget", type=int, default=19)
    parser.add_argument("--dataset-id", default="progressgym/follow-llm/tiny-world-lifelong-v0")
    parser.add_argument("--world", default="runs/tiny-world", help="tiny world folder (built once)")
    parser.add_argument("--data-root", default="runs/offline/minari", help="MINARI_DATASETS_PATH")
    parser.add_argument("--out", default="benchmarks/results/offline")
    args = parser.parse_args(argv)
    os.environ["MINARI_DATASETS_PATH"] = str(Path(args.data_root).resolve())
    figures = write_llm_dataset(Path(args.world), args.episodes, args.policy, args.dataset_id, args.query_budget)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(args.out) / "llm_dataset.json", json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
