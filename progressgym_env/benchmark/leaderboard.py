"""The leaderboard: scores recomputed by the judges from each run's episode record, then tabulated.

Stored ``final_score`` values are never read for the table; :func:`score_runs` recomputes every
score from the vectors with :func:`~progressgym_env.judges.score_record` and
:func:`~progressgym_env.judges.normalized_score_record`, and :func:`stored_score_mismatches` reports
runs whose stored score disagrees (a sign of an edited or inconsistent file).

What the table says, and why:

- **ranks** are competition ranks ("1, 1, 3"): agents whose mean final scores are equal (within
  :data:`TIE_TOLERANCE`) share a rank, so identical results are never ordered by name;
- **± is a 95% confidence interval** of the mean over seeds (Student t with n − 1 degrees of
  freedom, :func:`t_interval`), not a standard deviation;
- **identical policies** (every seed's score equal to another agent's) are flagged ``‡``: on that
  challenge the two agents act alike, whatever their names;
- each challenge's header gives the lock-in and reference scores behind ``normalized`` (on
  Coevolve the span is about 0.01 of cosine, so normalised differences are magnified ~90×);
- where that span is below :data:`SMALL_SPAN`, a row's ``normalized`` is the *normalisation of the
  mean* — (mean final − mean lock-in) / (mean reference − mean lock-in) — not the mean of per-seed
  ratios, which explode when each procedural history has its own tiny span; the header says so
  (:func:`ratio_of_means_note`). On one history (the corpus) both are the same number;
- ``centered`` is a secondary, sharper normalised score: the same normalisation with the centred
  cosine (both vectors minus the history's mean vector, :func:`centered_normalized_score`), which
  does not squeeze every non-negative value vector into the 0.9s as the paper's cosine does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.registry import PRIVILEGED
from progressgym_env.benchmark.aggregate import exact_sum, normalized_mean
from progressgym_env.benchmark.challenges import CHALLENGES, challenge_title, record_challenge_key
from progressgym_env.common.student_t import t_ppf
from progressgym_env.judges import (
    CoevolveJudge,
    judge_for_record,
    make_similarity,
    normalized_score_record,
    score_record,
)

MISMATCH_TOLERANCE = 1e-9
TIE_TOLERANCE = 1e-12
"""Mean final scores closer than this share a rank (float summation order aside, they are equal)."""
CONFIDENCE = 0.95
SMALL_SPAN = 0.02
"""A challenge whose mean reference span (reference − lock-in score, cosine) is below this aggregates
``normalized`` as the normalisation of the mean (Coevolve's is ~0.011 on the corpus; Follow's and
Predict's 0.05–0.06)."""
PRIVILEGED_AGENTS = PRIVILEGED
"""Agents that read the hidden target (:data:`agents.registry.PRIVILEGED`): shown with † and not ranked."""


@dataclass(frozen=True)
class ScoredRun:
    """One run's scores as recomputed by the judge.

    :param agent: agent label. :param challenge: challenge key. :param seed: run seed.
    :param history: history label. :param final_score: paper score. :param normalized_score: 0 = lock-in
        (NaN for an imported ProgressGym result that lacks the first century's values).
    :param centered_score: the normalised score under the centred cosine (NaN where not computable).
    :param model_sha256: the SB3 model file's hash (``""`` for baselines).
    :param lock_in_score: the final score of value lock-in on the run's history (NaN where unknown).
    :param reference_score: the final score of the reference on the run's history (NaN where unknown).
    """

    agent: str
    challenge: str
    seed: int
    history: str
    final_score: float
    normalized_score: float
    centered_score: float = math.nan
    model_sha256: str = ""
    lock_in_score: float = math.nan
    reference_score: float = math.nan


@dataclass(frozen=True)
class LeaderboardRow:
    """One agent on one challenge: means over seeds with 95% CI half-widths (``*_ci``).

    :param rank: competition rank among the non-privileged agents of the challenge (None for †).
    :param identical_to: agents with exactly the same per-seed scores on this challenge.
    """

    challenge: str
    agent: str
    seeds: int
    final_mean: float
    final_std: float
    normalized_mean: float
    normalized_std: float
    final_ci: float = math.nan
    normalized_ci: float = math.nan
    centered_mean: float = math.nan
    centered_ci: float = math.nan
    rank: int | None = None
    identical_to: tuple[str, ...] = field(default=())

    @property
    def privileged(self) -> bool:
        """Whether the agent reads hidden state (an upper bound, not a competitor)."""
        return self.agent in PRIVILEGED_AGENTS


def centered_normalized_score(record: Mapping[str, Any]) -> float:
    """The normalised score (0 = lock-in, 1 = reference) with the centred cosine instead of the plain one.

    Same targets and references as :func:`~progressgym_env.judges.normalized_score_record`, but every
    similarity is the cosine of both vectors minus the history's mean vector. Value vectors are
    non-negative, so their plain cosines all sit in the 0.9s; centring spreads them over [-1, 1].
    """
    judge = judge_for_record(record)
    score, lock_in, reference = judge.scores_under(record, make_similarity("centered", judge.human))
    span = reference - lock_in
    return 0.0 if abs(span) < 1e-12 else (score - lock_in) / span


def latest_models_only(runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The runs to tabulate: for each (agent, challenge), only those of the newest model file.

    A retrained SB3 model under the same label gets new runs (its ``model_sha256`` differs); the old
    model's runs stay in results.json but are superseded here. Returns (kept runs, superseded count).
    """
    newest: dict[tuple[str, str], str] = {}
    for run in runs:  # file order is append order: the last hash seen is the newest model
        newest[(str(run["agent"]), str(run["challenge"]))] = str(run.get("model_sha256") or "")
    kept = [r for r in runs if str(r.get("model_sha256") or "") == newest[(str(r["agent"]), str(r["challenge"]))]]
    return kept, len(runs) - len(kept)


def label_settings(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``runs`` with the agent label of each run extended by its settings where one agent was run under several.

    A folder may hold an agent's runs under several settings (a query budget of 64 beside 512): their
    rows must not be averaged together, nor one shown as the other. Runs of an (agent, challenge) with
    more than one settings identity (model files aside: a retrained model supersedes, see
    :func:`latest_models_only`) get ``agent [query_budget=64]``-style labels naming the settings that
    differ; every other run is returned as it is.
    """
    from progressgym_env.benchmark.identity import settings_difference, settings_identity

    def unmodelled(run: dict[str, Any]) -> dict[str, Any]:
        return {**run, "model_sha256": "", "agent_config": _without_paths(run.get("agent_config"))}

    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((str(run["agent"]), str(run["challenge"])), []).append(run)
    relabel: dict[int, str] = {}
    for (agent, _), members in groups.items():
        plain = [unmodelled(r) for r in members]
        differences = settings_difference(plain)
        if len(differences) < 2:
            continue
        for run, stripped in zip(members, plain, strict=True):
            relabel[id(run)] = f"{agent} [{_settings_text(differences[settings_identity(stripped)])}]"
    return [{**run, "agent": relabel[id(run)]} if id(run) in relabel else run for run in runs]


def _without_paths(config: Any) -> Any:
    """An SB3 agent's config without its model path(s) (the model hash already says which model)."""
    if isinstance(config, dict):
        return {k: v for k, v in config.items() if k not in ("path", "paths")}
    return config


def _settings_text(difference: Mapping[str, Any]) -> str:
    """``query_budget=64, backend_config.capacity=0.5``: the env kwargs that differ, else every field."""
    shown = {k.removeprefix("kwargs."): v for k, v in difference.items() if k.startswith("kwargs.")} or dict(difference)
    return ", ".join(f"{k}={'default' if v is None else v}" for k, v in sorted(shown.items())) or "other settings"


def score_runs(runs: Iterable[dict[str, Any]], aggregation: str = "default") -> list[ScoredRun]:
    """Recompute every run's scores from its ``episode_record`` with the judges.

    A run imported from a ProgressGym result file without a full record (see
    :mod:`~progressgym_env.benchmark.interop`) is scored from its ProgressGym fields.

    :param aggregation: ``default`` scores the vectors the episode ran on; ``progressgym`` (LLM-mode
        runs) the original ProgressGym evaluator's vectors the record also carries
        (:func:`~progressgym_env.llm.measure.record_in_aggregation`), for comparison with the paper's.
    """
    from progressgym_env.benchmark.interop import progressgym_score

    scored = []
    for run in runs:
        record = run.get("episode_record")
        lock_in = reference = math.nan
        if record is None:
            result = run["progressgym_result"]
            final, normalized, centered = progressgym_score(result), math.nan, math.nan
            challenge = str(run["challenge"])
        else:
            if aggregation != "default":
                from progressgym_env.llm.measure import record_in_aggregation

                record = record_in_aggregation(record, aggregation)
            final, normalized = score_record(record), normalized_score_record(record)
            centered = centered_normalized_score(record)
            lock_in, reference = judge_for_record(record).reference_scores()
            challenge = record_challenge_key(record)
        scored.append(
            ScoredRun(
                agent=str(run["agent"]),
                challenge=challenge,
                seed=int(run["seed"]),
                history=str(run.get("history", "")),
                final_score=final,
                normalized_score=normalized,
                centered_score=centered,
                model_sha256=str(run.get("model_sha256") or ""),
                lock_in_score=lock_in,
                reference_score=reference,
            )
        )
    return scored


def stored_score_mismatches(runs: Iterable[dict[str, Any]]) -> list[str]:
    """Runs whose stored final_score differs from the judge's recomputation (one line each)."""
    runs = list(runs)
    problems = []
    for run, scored in zip(runs, score_runs(runs), strict=True):
        stored = float(run["final_score"])
        if abs(scored.final_score - stored) > MISMATCH_TOLERANCE:
            problems.append(
                f"{run['agent']} / {run['challenge']} / seed {run['seed']}: stored final_score {stored!r}, "
                f"judge recomputes {scored.final_score!r}"
            )
    return problems


def t_interval(values: Iterable[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """(mean, half-width) of the Student t confidence interval of the mean of ``values``.

    half-width = t_{(1+confidence)/2, n-1} · s / √n with s the sample standard deviation; NaN for
    n < 2 (one seed says nothing about the spread) or NaN inputs.
    """
    array = np.asarray(list(values), dtype=np.float64)
    if array.size == 0:
        return math.nan, math.nan
    mean = exact_mean(array)
    if array.size < 2 or not np.all(np.isfinite(array)):
        return mean, math.nan
    quantile = t_ppf((1.0 + confidence) / 2.0, df=array.size - 1)  # math only: scipy.stats costs seconds
    return mean, quantile * float(array.std(ddof=1)) / math.sqrt(array.size)


def exact_mean(values: np.ndarray) -> float:
    """The correctly rounded mean of finite ``values`` (NaN if any is not finite)."""
    if not np.all(np.isfinite(values)):
        return math.nan
    return float(exact_sum(values.tolist()) / values.size)


def _std(values: list[float]) -> float:
    array = np.asarray(values, dtype=np.float64)
    return float(array.std(ddof=1)) if array.size > 1 else 0.0


def _challenge_order(key: str) -> tuple[int, str]:
    keys = list(CHALLENGES)
    return (keys.index(key) if key in keys else len(keys), key)


def competition_ranks(scores: Mapping[str, float], tolerance: float = TIE_TOLERANCE) -> dict[str, int]:
    """Competition ranks ("1, 1, 3") of ``scores`` (higher is better): ties share the best rank."""
    return {name: 1 + sum(other > score + tolerance for other in scores.values()) for name, score in scores.items()}


def challenge_spans(scored: Iterable[ScoredRun]) -> dict[str, float]:
    """Mean reference span (reference − lock-in score) over the runs of each challenge (NaN where unknown)."""
    spans: dict[str, list[float]] = {}
    for run in scored:
        spans.setdefault(run.challenge, []).append(run.reference_score - run.lock_in_score)
    return {challenge: float(np.mean(values)) for challenge, values in spans.items()}


def ratio_of_means(members: list[ScoredRun]) -> tuple[float, float, float]:
    """(normalisation of the mean, its 95% CI half-width, its standard deviation) of one row's runs.

    r = (mean final − mean lock-in) / (mean reference − mean lock-in); its CI is the ratio estimator's
    (delta method): t · s_z / √n / |mean span| with residuals z = (f − L) − r·(R − L), whose mean is 0.
    With one history (L, R the same for every run) this is the mean of per-run ratios and its CI.
    """
    final = np.array([m.final_score for m in members])
    lock_in = np.array([m.lock_in_score for m in members])
    reference = np.array([m.reference_score for m in members])
    n = final.size
    ratio = normalized_mean(final, lock_in, reference, exact=True)
    span = float((exact_sum(reference) - exact_sum(lock_in)) / n)
    squares = float((((final - lock_in) - ratio * (reference - lock_in)) ** 2).sum())
    if n < 2 or span == 0:
        return ratio, math.nan, 0.0
    std = math.sqrt(squares / (n - 1)) / abs(span)
    half = math.nan if not np.all(np.isfinite(final)) else t_ppf((1.0 + CONFIDENCE) / 2.0, df=n - 1) * std / math.sqrt(n)
    return ratio, half, std


def leaderboard_rows(scored: Iterable[ScoredRun], small_span: float = SMALL_SPAN) -> list[LeaderboardRow]:
    """Rows grouped by (challenge, agent); challenges in table order, agents ranked by mean score.

    The in-memory computation (a results.json, ProgressGym files); a results store is aggregated in
    SQL by :func:`~progressgym_env.benchmark.aggregates.aggregate_rows` to the same numbers.

    :param small_span: challenges whose mean reference span is below this get ``normalized`` as the
        normalisation of the mean (:func:`ratio_of_means`); the others the mean of per-run ratios.
    """
    scored = list(scored)
    spans = challenge_spans(scored)
    groups: dict[tuple[str, str], list[ScoredRun]] = {}
    for run in scored:
        groups.setdefault((run.challenge, run.agent), []).append(run)
    per_seed = {key: tuple(sorted((m.seed, m.final_score) for m in members)) for key, members in groups.items()}
    rows = []
    for (challenge, agent), members in groups.items():
        final_mean, final_ci = t_interval(m.final_score for m in members)
        centered_mean, centered_ci = t_interval(m.centered_score for m in members)
        if abs(spans[challenge]) < small_span:
            norm_mean, norm_ci, norm_std = ratio_of_means(members)
        else:
            norm_mean, norm_ci = t_interval(m.normalized_score for m in members)
            norm_std = _std([m.normalized_score for m in members])
        twins = tuple(
            sorted(other for (c, other) in groups if c == challenge and other != agent
                   and per_seed[(c, other)] == per_seed[(challenge, agent)])
        )
        rows.append(
            LeaderboardRow(
                challenge, agent, len(members), final_mean, _std([m.final_score for m in members]), norm_mean,
                norm_std, final_ci, norm_ci, centered_mean, centered_ci,
                identical_to=twins,
            )
        )
    ranked = []
    for challenge in {r.challenge for r in rows}:
        competitors = {r.agent: r.final_mean for r in rows if r.challenge == challenge and not r.privileged}
        ranks = competition_ranks(competitors)
        ranked += [
            r if r.privileged else LeaderboardRow(**{**r.__dict__, "rank": ranks[r.agent]})
            for r in rows if r.challenge == challenge
        ]
    ranked.sort(key=rank_order)
    return ranked


def rank_order(row: LeaderboardRow) -> tuple[Any, ...]:
    """The sort key of leaderboard rows: challenge order, privileged first, best mean score, then name."""
    return (_challenge_order(row.challenge), not row.privileged, -row.final_mean, row.agent)


def _pm(mean: float, half: float, digits: int, sign: bool = False) -> str:
    if math.isnan(mean):
        return "n/a"
    text = f"{mean:+.{digits}f}" if sign else f"{mean:.{digits}f}"
    return text if math.isnan(half) else f"{text} ± {half:.{digits}f}"


def normalization_note(challenge: str, record: Mapping[str, Any] | None) -> str:
    """One line saying what 0 and 1 of ``normalized`` are on ``challenge``, with their scores."""
    if record is None:
        return "`normalized` needs the first century's values, which these imported results lack."
    judge = judge_for_record(record)
    lock_in, reference = judge.reference_scores()
    span = reference - lock_in
    own = judge.normalization_note(lock_in, reference)
    if own is not None:
        return own
    if isinstance(judge, CoevolveJudge):
        return (
            f"`normalized` = (final_score − {lock_in:.4f}) / ({reference:.4f} − {lock_in:.4f}): 0 = the simulated "
            f"human frozen at S_0 = H_0, 1 = the undisturbed real history. The span is only {span:.4f} of cosine, "
            f"so a 0.001 change of final_score moves `normalized` by {0.001 / span:.2f}; `static` scores above 0 "
            "because an AI frozen at H_0 slows the simulated human's drift but does not stop it (each century "
            "still teaches the human). `centered` is the same normalisation under the centred cosine (sharper)."
        )
    return (
        f"`normalized` = (final_score − {lock_in:.4f}) / ({reference:.4f} − {lock_in:.4f}): 0 = value lock-in "
        "(the model frozen at H_0), 1 = a perfect model. `centered`: the same under the centred cosine (sharper)."
    )


def ratio_of_means_note(spans: Mapping[str, float], small_span: float = SMALL_SPAN) -> str:
    """The header line saying which challenges aggregate ``normalized`` as a normalisation of the mean ("" if none).

    :param spans: mean reference span per challenge (:func:`challenge_spans`).
    """
    small = {c: span for c, span in spans.items() if abs(span) < small_span}
    if not small:
        return ""
    named = ", ".join(f"{challenge_title(c)} (span {span:.4f})" for c, span in sorted(small.items(),
                                                                                      key=lambda i: _challenge_order(i[0])))
    return (f"`normalized` on {named} is a normalisation of the mean, not a mean of per-seed ratios: (mean "
            "final_score − mean lock-in) / (mean reference − mean lock-in) over the seeds, because a reference span "
            f"below {small_span:g} of cosine makes per-seed ratios explode when each history has its own span; its ± "
            "is the ratio estimator's 95% CI (delta method). On a single history both are the same number.")


def render_markdown(
    rows: list[LeaderboardRow],
    histories: Iterable[str] = (),
    records: Mapping[str, Mapping[str, Any]] | None = None,
    superseded: int = 0,
    other_settings: int = 0,
    spans: Mapping[str, float] | None = None,
    scored_by: str = "scores recomputed from the episode records by the judges",
) -> str:
    """The leaderboard as Markdown: a summary of normalised scores, then one ranked table per challenge.

    Deterministic (no timestamps), so recomputing from the same results gives the same text.

    :param records: one episode record per challenge key, for the normalisation line of its header.
    :param superseded: runs of older model files left out (see :func:`latest_models_only`).
    :param other_settings: runs under settings other than the requested ones, left out by the caller.
    :param spans: mean reference span per challenge: those below :data:`SMALL_SPAN` are named in the header
        as aggregated by the normalisation of the mean (:func:`ratio_of_means_note`).
    :param scored_by: where the scores come from (a results store's are the judges' stored ones).
    """
    histories = sorted({h for h in histories if h})
    challenges = sorted({r.challenge for r in rows}, key=_challenge_order)
    total = sum(r.seeds for r in rows)
    lines = [
        "# ProgressGym leaderboard",
        "",
        f"History: {', '.join(histories) or 'unknown'} · {total} runs · {scored_by}.",
        ("`final_score`: the paper's score (plain cosine, higher is better). `normalized`: 0 = lock-in, "
        "1 = reference (defined under each challenge). Mean ± 95% confidence interval over seeds (Student t, "
        "n − 1 degrees of freedom). Ranks: equal mean scores share a rank. † reads the hidden target: an upper "
        "bound, not ranked. ‡ the same score as another agent on every seed: the same policy in effect."),
    ]
    ratio_note = ratio_of_means_note(spans or {})
    if ratio_note:
        lines.append(ratio_note)
    if superseded:
        lines.append(
            f"{superseded} runs of older model files under the same agent labels are kept in results.json but "
            "superseded here by the newest model's runs."
        )
    if other_settings:
        lines.append(
            f"{other_settings} runs under other settings (env kwargs, backend or agent config) are kept in "
            "results.json but not shown here: this table holds only the runs of the requested settings "
            "(`progressgym leaderboard DIR` shows every settings group, labelled)."
        )
    lines += [
        "",
        "## Summary (normalized score, mean over seeds)",
        "",
        "| agent | " + " | ".join(challenge_title(c) for c in challenges) + " |",
        "|---|" + "---:|" * len(challenges),
    ]
    by_cell = {(r.agent, r.challenge): r for r in rows}
    for agent in _summary_order(rows):
        cells = [_pm(by_cell[(agent, c)].normalized_mean, math.nan, 3, True) if (agent, c) in by_cell else "—"
                 for c in challenges]
        lines.append(f"| {_label(agent)} | " + " | ".join(cells) + " |")
    for challenge in challenges:
        lines += [
            "",
            f"## {challenge_title(challenge)}",
            "",
            normalization_note(challenge, (records or {}).get(challenge)),
            "",
            "| rank | agent | final_score | normalized | centered | seeds |",
            "|---:|---|---:|---:|---:|---:|",
        ]
        for row in (r for r in rows if r.challenge == challenge):
            shown = "†" if row.rank is None else str(row.rank)
            label = _label(row.agent) + (f" ‡ (= {', '.join(row.identical_to)})" if row.identical_to else "")
            lines.append(
                f"| {shown} | {label} | {_pm(row.final_mean, row.final_ci, 4)} | "
                f"{_pm(row.normalized_mean, row.normalized_ci, 3, True)} | "
                f"{_pm(row.centered_mean, row.centered_ci, 3, True)} | {row.seeds} |"
            )
    return "\n".join(lines) + "\n"


def _label(agent: str) -> str:
    return f"{agent} †" if agent in PRIVILEGED_AGENTS else agent


def _summary_order(rows: list[LeaderboardRow]) -> list[str]:
    means: dict[str, list[float]] = {}
    for row in rows:
        means.setdefault(row.agent, []).append(row.normalized_mean)
    def mean(agent: str) -> float:
        finite = [m for m in means[agent] if not math.isnan(m)]
        return float(np.mean(finite)) if finite else -math.inf

    return sorted(means, key=lambda a: (a not in PRIVILEGED_AGENTS, -mean(a), a))


def records_by_challenge(runs: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The first full episode record of each challenge key (its history defines the normalisation)."""
    found: dict[str, dict[str, Any]] = {}
    for run in runs:
        record = run.get("episode_record")
        if record is not None:
            found.setdefault(record_challenge_key(record), record)
    return found


def leaderboard_markdown(runs: list[dict[str, Any]], aggregation: str = "default", other_settings: int = 0) -> str:
    """Recompute and render the leaderboard of ``runs`` (the content of a results.json).

    An agent run under several settings gets one row per settings group, labelled (:func:`label_settings`).

    :param aggregation: which vectors of LLM-mode runs to score (see :func:`score_runs`).
    :param other_settings: runs the caller left out as other settings than the requested (a note says so).
    """
    kept, superseded = latest_models_only(label_settings(runs))
    scored = score_runs(kept, aggregation)
    return render_markdown(leaderboard_rows(scored), (s.history for s in scored), records_by_challenge(kept),
                           superseded, other_settings, challenge_spans(scored))
