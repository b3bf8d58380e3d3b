"""The main job: agents × challenges × seeds on a history, logged to wandb, saved and tabulated.

- :mod:`~progressgym_env.benchmark.challenges`: the four leaderboard challenges (env id + kwargs);
- :func:`~progressgym_env.episode.run_episode` (core): one episode of one agent;
- :mod:`~progressgym_env.benchmark.runner`: :class:`BenchmarkConfig` and :func:`run_benchmark`;
- :mod:`~progressgym_env.benchmark.results`: ``results.json`` (atomic, append-only, corruption reported);
- :mod:`~progressgym_env.benchmark.leaderboard`: the table, recomputed by the judges;
- :mod:`~progressgym_env.benchmark.tracking`: one offline wandb run per agent × challenge × seed.

Agents come from the top-level ``agents`` package, imported only when a benchmark runs.
"""

from __future__ import annotations

from progressgym_env.benchmark.challenges import CHALLENGES, Challenge, get_challenge
from progressgym_env.benchmark.leaderboard import leaderboard_markdown
from progressgym_env.benchmark.results import ResultsFileError, load_results
from progressgym_env.benchmark.runner import BenchmarkConfig, BenchmarkSummary, run_benchmark
from progressgym_env.episode import EpisodeResult, run_episode

__all__ = [
    "CHALLENGES",
    "Challenge",
    "get_challenge",
    "EpisodeResult",
    "run_episode",
    "leaderboard_markdown",
    "ResultsFileError",
    "load_results",
    "BenchmarkConfig",
    "BenchmarkSummary",
    "run_benchmark",
]
