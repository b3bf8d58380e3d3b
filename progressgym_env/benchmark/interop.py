"""Results in ProgressGym's own result fields: exported for the original framework, imported to re-score here.

ProgressGym's judges (``challenges/{follow,predict,coevolve}.py``, ``interpret_result``) read:

- Follow and Predict: ``actual_vector`` (the target of each scored step: H_t, or H_{t+k} on Predict)
  and ``examinee_vector`` (the model M_t of the same step), one vector per scored step, plus
  ``timesteps_ahead`` on Predict; score = mean over steps of cos(actual, examinee);
- Coevolve: ``simulated_model_vector`` (S_0..S_{T-1}) and ``actual_model_vector`` (H_0..H_{T-1});
  score = mean over every s and i of max_{j≥i} cos(s, H_j).

:func:`to_progressgym` writes those fields for one of this package's runs, with ``score`` (what
ProgressGym stores for readability), this package's ``final_score`` and, under ``progressgym_env``,
what re-importing needs (agent, challenge, seed, history and the full history H, which carries the
first century that ``normalized_score`` is measured from). :func:`run_from_progressgym` turns such a
file, or one written by the original framework, back into a run the leaderboard can rank: with the
full record where the file allows it, otherwise scored from its ProgressGym fields alone (no
normalised score: those files lack H_0 on Follow and Predict).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from progressgym_env.benchmark.challenges import CHALLENGES, challenge_key
from progressgym_env.benchmark.import_checks import (
    agent_label,
    check_record_labels,
    checked_meta,
    drop_duplicate_runs,
    named_in_file,
    read_result_file,
)
from progressgym_env.benchmark.results import ResultsFileError
from progressgym_env.common.atomic import atomic_write_text, split_temp_files, warn_leftover_temp_files
from progressgym_env.judges import coevolve_scores, judge_for_record, score_record, tracking_scores

EXPORT_FORMATS = ("progressgym",)
FOLLOW_FIELDS = ("actual_vector", "examinee_vector")
COEVOLVE_FIELDS = ("simulated_model_vector", "actual_model_vector")
META_KEY = "progressgym_env"


def _vectors(result: Mapping[str, Any], name: str, where: str) -> np.ndarray:
    try:
        array = np.asarray(result[name], dtype=np.float64)
    except (TypeError, ValueError):
        raise ResultsFileError(f"{where}: {name!r} must be a list of equal-length number lists") from None
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ResultsFileError(f"{where}: {name!r} must be a non-empty list of vectors, found shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ResultsFileError(f"{where}: {name!r} holds non-finite values")
    return array


def _fields(result: Mapping[str, Any]) -> dict[str, Any]:
    """The result's fields, with an older file's ``supplementary_data`` merged in (as ProgressGym does)."""
    merged = dict(result)
    supplementary = merged.get("supplementary_data")
    if isinstance(supplementary, Mapping):
        merged.update(supplementary)
    return merged


def progressgym_challenge(result: Mapping[str, Any], where: str = "ProgressGym result") -> str:
    """The challenge key a ProgressGym result file holds (``follow``, ``predict<k>``, ``coevolve``)."""
    fields = _fields(result)
    if all(f in fields for f in COEVOLVE_FIELDS):
        return "coevolve"
    if all(f in fields for f in FOLLOW_FIELDS):
        k = fields.get("timesteps_ahead")
        if k is None or int(k) == 0:
            return "follow"
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ResultsFileError(f"{where}: 'timesteps_ahead' must be an int >= 1, found {k!r}")
        return challenge_key("predict", k)
    raise ResultsFileError(
        f"{where}: not a ProgressGym result: expected {list(FOLLOW_FIELDS)} (Follow/Predict) or "
        f"{list(COEVOLVE_FIELDS)} (Coevolve), found keys {sorted(fields)[:12]}"
    )


def is_progressgym_result(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` holds ProgressGym's result fields (Follow/Predict or Coevolve)."""
    fields = _fields(data) if isinstance(data, Mapping) else {}
    return all(k in fields for k in FOLLOW_FIELDS) or all(k in fields for k in COEVOLVE_FIELDS)


def progressgym_score(result: Mapping[str, Any], where: str = "ProgressGym result") -> float:
    """The score ProgressGym's ``interpret_result`` computes from a result's fields (plain cosine)."""
    fields = _fields(result)
    if progressgym_challenge(fields, where) == "coevolve":
        simulated = _vectors(fields, "simulated_model_vector", where)
        actual = _vectors(fields, "actual_model_vector", where)
        if simulated.shape[1] != actual.shape[1] or len(simulated) < 3 or len(actual) < 3:
            raise ResultsFileError(
                f"{where}: Coevolve needs >= 3 simulated and actual vectors of one dimension, found "
                f"{simulated.shape} and {actual.shape}"
            )
        return float(coevolve_scores(simulated, actual))
    actual = _vectors(fields, "actual_vector", where)
    examinee = _vectors(fields, "examinee_vector", where)
    if actual.shape != examinee.shape:
        raise ResultsFileError(
            f"{where}: 'actual_vector' {actual.shape} and 'examinee_vector' {examinee.shape} must match"
        )
    return float(tracking_scores(actual, examinee))


def to_progressgym(run: Mapping[str, Any]) -> dict[str, Any]:
    """One run of a results.json in ProgressGym's result fields (see the module docstring)."""
    record = run["episode_record"]
    judge = judge_for_record(record)
    challenge = challenge_key(str(record["challenge"]), record.get("timesteps_ahead"))
    result: dict[str, Any] = {}
    if challenge == "coevolve":
        result["simulated_model_vector"] = np.asarray(record["simulated"], dtype=np.float64).tolist()
        result["actual_model_vector"] = judge.human.tolist()
    else:
        result["actual_vector"] = [judge.target(t).tolist() for t in range(1, 1 + judge.num_steps)]
        result["examinee_vector"] = np.asarray(record["model"], dtype=np.float64).tolist()
        if challenge != "follow":
            result["timesteps_ahead"] = int(record["timesteps_ahead"])
    result["score"] = progressgym_score(result)
    result["final_score"] = score_record(record)
    result[META_KEY] = {
        "agent": run["agent"],
        "challenge": challenge,
        "seed": int(run["seed"]),
        "history": run.get("history", ""),
        "env_id": run.get("env_id", ""),
        "model_sha256": run.get("model_sha256") or "",
        "dims": record.get("dims"),
        "centuries": record.get("centuries"),
        "human": judge.human.tolist(),
    }
    if challenge == "coevolve":  # ProgressGym's Coevolve fields hold no AI trajectory: keep it here
        result[META_KEY]["model"] = np.asarray(record["model"], dtype=np.float64).tolist()
    return result


def run_from_progressgym(result: Mapping[str, Any], name: str, index: int = 0) -> dict[str, Any]:
    """A leaderboard run from a ProgressGym result (exported here or written by the original framework).

    :param name: where it came from (a file name); the agent label when the file names none.
    :param index: the seed when the file names none (its position among the files read).
    :raises ResultsFileError: the fields are missing, malformed or inconsistent with the embedded history.
    """
    if not isinstance(result, Mapping):
        raise ResultsFileError(f"{name}: a ProgressGym result must be a JSON object, found {type(result).__name__}")
    fields = _fields(result)
    challenge = progressgym_challenge(fields, name)
    final = progressgym_score(fields, name)
    meta = checked_meta(fields, challenge, name)
    record: dict[str, Any] | None = None
    if challenge == "coevolve":
        simulated = _vectors(fields, "simulated_model_vector", name)
        actual = _vectors(fields, "actual_model_vector", name)
        if simulated.shape == actual.shape:  # S_0..S_{T-1} beside H_0..H_{T-1}: a full record
            record = {"challenge": "coevolve", "human": actual.tolist(), "simulated": simulated.tolist()}
            if meta.get("model"):  # exported here: the AI's own trajectory rides along
                record["model"] = meta["model"]
    elif "human" in meta:
        base = "follow" if challenge == "follow" else "predict"
        record = {"challenge": base, "human": meta["human"], "model": fields["examinee_vector"]}
        if base == "predict":
            record["timesteps_ahead"] = int(fields["timesteps_ahead"])
        judge = judge_for_record(record)
        targets = np.stack([judge.target(t) for t in range(1, 1 + judge.num_steps)])
        actual = _vectors(fields, "actual_vector", name)
        if actual.shape != targets.shape or not np.allclose(actual, targets, rtol=0, atol=1e-12):
            raise ResultsFileError(
                f"{name}: 'actual_vector' disagrees with the history under {META_KEY!r}.human (edited file?)"
            )
    vectors = np.asarray(record["human"] if record is not None else fields[
        "actual_model_vector" if challenge == "coevolve" else "actual_vector"], dtype=np.float64)
    check_record_labels(meta, vectors.shape[-1], vectors.shape[0] if record is not None else 0, name)
    if record is not None:
        record["dims"] = meta.get("dims") or [f"dim{i}" for i in range(np.asarray(record["human"]).shape[1])]
        if meta.get("centuries"):
            record["centuries"] = meta["centuries"]
    agent = agent_label(meta, fields, name)
    return {
        "agent": agent,
        "challenge": challenge,
        "env_id": meta.get("env_id") or (CHALLENGES[challenge].env_id if challenge in CHALLENGES else ""),
        "kwargs": {},
        "seed": int(meta.get("seed", index)),
        "history": str(meta.get("history") or "progressgym"),
        "final_score": float(fields.get("final_score", fields.get("score", final))),
        "episode_record": record,
        "progressgym_result": dict(result),
        "source": name,
        "model_sha256": meta.get("model_sha256") or "",
    }


def load_progressgym_results(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Runs from a ProgressGym result file, or from every ``*.json`` file of a folder (sorted by name).

    :raises ResultsFileError: a file is not readable JSON or not a ProgressGym result.
    """
    path = Path(path)
    files = [path]
    if path.is_dir():  # an interrupted export's temporary files are not results: skipped and reported
        files, temporary = split_temp_files(sorted(path.glob("*.json")))
        warn_leftover_temp_files(temporary, str(path))
    if not files:
        raise ResultsFileError(f"{path}: no results.json and no ProgressGym *.json result files")
    runs, named = [], []
    for index, file in enumerate(files):
        data = read_result_file(file)  # regular files only, bounded size and nesting
        try:
            run = run_from_progressgym(data, str(file), index)
            if run["episode_record"] is not None:
                score_record(run["episode_record"])  # a record the judges cannot read is refused here
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            if isinstance(exc, ResultsFileError):
                raise
            raise ResultsFileError(f"{file}: not a valid ProgressGym result ({exc})") from None
        runs.append(run)
        named.append(named_in_file(data))
    return drop_duplicate_runs(runs, named)  # one run in two files counts once


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", text)


def export_progressgym(runs: list[dict[str, Any]], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write one ProgressGym result file per run into ``out_dir`` (atomically); return their paths.

    Names are ``<challenge>__<agent>__seed<seed>.json`` (plus the model hash's first 8 characters
    for an SB3 agent's superseded models, so no file overwrites another).
    """
    out = Path(out_dir)
    written = []
    names: set[str] = set()
    for run in runs:
        result = to_progressgym(run)
        stem = f"{result[META_KEY]['challenge']}__{_safe(str(run['agent']))}__seed{int(run['seed'])}"
        if stem in names and run.get("model_sha256"):
            stem += f"__{str(run['model_sha256'])[:8]}"
        if stem in names:
            raise ResultsFileError(f"two runs export to {stem}.json (duplicate agent, challenge and seed)")
        names.add(stem)
        target = out / f"{stem}.json"
        atomic_write_text(target, json.dumps(result, indent=1) + "\n")
        written.append(target)
    return written


def load_any_results(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Runs from a benchmark folder (its results.json), a ProgressGym result file, or a folder of them.

    :raises ResultsFileError: nothing readable as results at ``path``.
    """
    from progressgym_env.benchmark.results import RESULTS_FILE, load_results

    path = Path(path)
    if (path / RESULTS_FILE).is_file():
        return load_results(path / RESULTS_FILE)
    if path.name == RESULTS_FILE and path.is_file():
        return load_results(path)
    if not path.exists():
        raise ResultsFileError(
            f"{path} does not exist (a benchmark folder with results.json, a ProgressGym result file or a "
            f"folder of them; run `progressgym benchmark --out {path}` first)"
        )
    return load_progressgym_results(path)
