"""The leaderboard: scores recomputed by the judges from each run's episode record, then tabulated.

Stored ``final_score`` values are never read for the table; :func:`score_runs` recomputes every
score from the vectors with :func:`~progressgym_env.judges.score_record` and
:func:`~progressgym_env.judges.normalized_score_record`, and :func:`stored_score_mismatches` reports
runs whose stored score disagrees (a sign of an edited or inconsistent file).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from progressgym_env.benchmark.challenges import CHALLENGES, challenge_key, challenge_title
from progressgym_env.judges import normalized_score_record, score_record

MISMATCH_TOLERANCE = 1e-9
PRIVILEGED_AGENTS = frozenset({"oracle"})
"""Agents that read the hidden target: shown with † and not ranked."""


@dataclass(frozen=True)
class ScoredRun:
    """One run's scores as recomputed by the judge.

    :param agent: agent label. :param challenge: challenge key. :param seed: run seed.
    :param history: history label. :param final_score: paper score. :param normalized_score: 0 = lock-in.
    """

    agent: str
    challenge: str
    seed: int
    history: str
    final_score: float
    normalized_score: float


@dataclass(frozen=True)
class LeaderboardRow:
    """Mean ± sample std over seeds of one agent on one challenge."""

    challenge: str
    agent: str
    seeds: int
    final_mean: float
    final_std: float
    normalized_mean: float
    normalized_std: float

    @property
    def privileged(self) -> bool:
        """Whether the agent reads hidden state (an upper bound, not a competitor)."""
        return self.agent in PRIVILEGED_AGENTS


def score_runs(runs: Iterable[dict[str, Any]]) -> list[ScoredRun]:
    """Recompute every run's scores from its ``episode_record`` with the judges."""
    scored = []
    for run in runs:
        record = run["episode_record"]
        scored.append(
            ScoredRun(
                agent=str(run["agent"]),
                challenge=challenge_key(str(record["challenge"]), record.get("timesteps_ahead")),
                seed=int(run["seed"]),
                history=str(run.get("history", "")),
                final_score=score_record(record),
                normalized_score=normalized_score_record(record),
            )
        )
    return scored


def stored_score_mismatches(runs: Iterable[dict[str, Any]]) -> list[str]:
    """Runs whose stored final_score differs from the judge's recomputation (one line each)."""
    problems = []
    for run in runs:
        recomputed = score_record(run["episode_record"])
        stored = float(run["final_score"])
        if abs(recomputed - stored) > MISMATCH_TOLERANCE:
            problems.append(
                f"{run['agent']} / {run['challenge']} / seed {run['seed']}: stored final_score {stored!r}, "
                f"judge recomputes {recomputed!r}"
            )
    return problems


def _mean_std(values: list[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else 0.0


def _challenge_order(key: str) -> tuple[int, str]:
    keys = list(CHALLENGES)
    return (keys.index(key) if key in keys else len(keys), key)


def leaderboard_rows(scored: Iterable[ScoredRun]) -> list[LeaderboardRow]:
    """Rows grouped by (challenge, agent); challenges in table order, agents ranked by mean score."""
    groups: dict[tuple[str, str], list[ScoredRun]] = {}
    for run in scored:
        groups.setdefault((run.challenge, run.agent), []).append(run)
    rows = []
    for (challenge, agent), members in groups.items():
        final_mean, final_std = _mean_std([m.final_score for m in members])
        norm_mean, norm_std = _mean_std([m.normalized_score for m in members])
        rows.append(LeaderboardRow(challenge, agent, len(members), final_mean, final_std, norm_mean, norm_std))
    rows.sort(key=lambda r: (_challenge_order(r.challenge), not r.privileged, -r.final_mean, r.agent))
    return rows


def render_markdown(rows: list[LeaderboardRow], histories: Iterable[str] = ()) -> str:
    """The leaderboard as Markdown: a summary of normalised scores, then one ranked table per challenge.

    Deterministic (no timestamps), so recomputing from the same results gives the same text.
    """
    histories = sorted({h for h in histories if h})
    challenges = sorted({r.challenge for r in rows}, key=_challenge_order)
    total = sum(r.seeds for r in rows)
    lines = [
        "# ProgressGym leaderboard",
        "",
        f"History: {', '.join(histories) or 'unknown'} · {total} runs · scores recomputed from the episode "
        "records by the judges.",
        "`final_score`: the paper's score (plain cosine, higher is better). `normalized`: 0 = value lock-in "
        "(model frozen at the first century), 1 = reference (Follow/Predict: a perfect model; Coevolve: the "
        "undisturbed history). Mean ± sample std over seeds. † reads the hidden target: an upper bound, not ranked.",
        "",
        "## Summary (normalized score, mean over seeds)",
        "",
        "| agent | " + " | ".join(challenge_title(c) for c in challenges) + " |",
        "|---|" + "---:|" * len(challenges),
    ]
    by_cell = {(r.agent, r.challenge): r for r in rows}
    agents = _summary_order(rows)
    for agent in agents:
        cells = [f"{by_cell[(agent, c)].normalized_mean:+.3f}" if (agent, c) in by_cell else "—" for c in challenges]
        lines.append(f"| {_label(agent)} | " + " | ".join(cells) + " |")
    for challenge in challenges:
        lines += [
            "",
            f"## {challenge_title(challenge)}",
            "",
            "| rank | agent | final_score | normalized | seeds |",
            "|---:|---|---:|---:|---:|",
        ]
        rank = 0
        for row in (r for r in rows if r.challenge == challenge):
            if row.privileged:
                shown = "†"
            else:
                rank += 1
                shown = str(rank)
            lines.append(
                f"| {shown} | {_label(row.agent)} | {row.final_mean:.4f} ± {row.final_std:.4f} | "
                f"{row.normalized_mean:+.3f} ± {row.normalized_std:.3f} | {row.seeds} |"
            )
    return "\n".join(lines) + "\n"


def _label(agent: str) -> str:
    return f"{agent} †" if agent in PRIVILEGED_AGENTS else agent


def _summary_order(rows: list[LeaderboardRow]) -> list[str]:
    means: dict[str, list[float]] = {}
    for row in rows:
        means.setdefault(row.agent, []).append(row.normalized_mean)
    return sorted(means, key=lambda a: (a not in PRIVILEGED_AGENTS, -float(np.mean(means[a])), a))


def leaderboard_markdown(runs: list[dict[str, Any]]) -> str:
    """Recompute and render the leaderboard of ``runs`` (the content of a results.json)."""
    scored = score_runs(runs)
    return render_markdown(leaderboard_rows(scored), (s.history for s in scored))
