"""Results in ProgressGym's own result fields: exported for the original framework, imported to re-score here.

The field layouts (tracking: ``actual_vector``/``examinee_vector``; Coevolve:
``simulated_model_vector``/``actual_model_vector``) and which judge uses which are defined in
:mod:`progressgym_env.progressgym_format`; this module reads and writes the files.

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
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from progressgym_env.benchmark.challenges import CHALLENGES, record_challenge_key
from progressgym_env.benchmark.import_checks import (
    agent_label,
    check_record_labels,
    checked_meta,
    drop_duplicate_runs,
    named_in_file,
    read_result_file,
)
from progressgym_env.common.atomic import atomic_write_text, split_temp_files, warn_leftover_temp_files
from progressgym_env.errors import ResultsFileError
from progressgym_env.judges import judge_for_record, score_record
from progressgym_env.progressgym_format import (
    META_KEY,
    format_of,
    identify,
    is_progressgym_result,
    merged_fields,
    progressgym_score,
)
from progressgym_env.records import EpisodeRecord

EXPORT_FORMATS = ("progressgym",)

__all__ = [
    "EXPORT_FORMATS",
    "META_KEY",
    "export_progressgym",
    "is_progressgym_result",
    "load_any_results",
    "load_progressgym_results",
    "progressgym_challenge",
    "progressgym_score",
    "run_from_progressgym",
    "to_progressgym",
]


def progressgym_challenge(result: Mapping[str, Any], where: str = "ProgressGym result") -> str:
    """The challenge key a ProgressGym result file holds (``follow``, ``predict<k>``, ``coevolve``, a plugin's)."""
    cls, params = identify(result, where)
    return record_challenge_key({"challenge": cls.challenge, **params})


def to_progressgym(run: Mapping[str, Any]) -> dict[str, Any]:
    """One run of a results.json in ProgressGym's result fields (see the module docstring)."""
    record = EpisodeRecord.from_dict(run["episode_record"])
    judge = judge_for_record(record)
    challenge = record_challenge_key(record)
    result: dict[str, Any] = format_of(type(judge)).export(judge, record)
    result["score"] = progressgym_score(result)
    result["final_score"] = score_record(record)
    result[META_KEY] = {
        "agent": run["agent"],
        "challenge": challenge,
        "seed": int(run["seed"]),
        "history": run.get("history", ""),
        "env_id": run.get("env_id", ""),
        "model_sha256": run.get("model_sha256") or "",
        "dims": list(record.dims) or None,
        "centuries": list(record.centuries) or None,
        "human": judge.human.tolist(),
    }
    if "examinee_vector" not in result:  # a layout without the AI's trajectory (Coevolve's): keep it here
        result[META_KEY]["model"] = np.asarray(record.model, dtype=np.float64).tolist()
    return result


def run_from_progressgym(result: Mapping[str, Any], name: str, index: int = 0) -> dict[str, Any]:
    """A leaderboard run from a ProgressGym result (exported here or written by the original framework).

    :param name: where it came from (a file name); the agent label when the file names none.
    :param index: the seed when the file names none (its position among the files read).
    :raises ResultsFileError: the fields are missing, malformed or inconsistent with the embedded history.
    """
    if not isinstance(result, Mapping):
        raise ResultsFileError(f"{name}: a ProgressGym result must be a JSON object, found {type(result).__name__}")
    fields = merged_fields(result)
    cls, params = identify(fields, name)
    challenge = record_challenge_key({"challenge": cls.challenge, **params})
    layout = format_of(cls)
    final = layout.score(fields, name)
    meta = checked_meta(fields, challenge, name)
    record = layout.record(cls, params, fields, meta, name)
    vectors = np.asarray(record["human"] if record is not None else fields[layout.fields[0]], dtype=np.float64)
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


def export_progressgym(runs: Iterable[dict[str, Any]], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write one ProgressGym result file per run into ``out_dir`` (atomically); return their paths.

    ``runs`` may be a stream (a store's runs, a batch in memory at a time): each is written as it comes.

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
    """Runs from a benchmark folder (its results.json, else its results store), a ProgressGym result file,
    or a folder of them (every run in memory: readers of large stores use
    :mod:`~progressgym_env.benchmark.store_readers` instead).

    :raises ResultsFileError: nothing readable as results at ``path``.
    """
    from progressgym_env.benchmark.results import RESULTS_FILE, load_results

    path = Path(path)
    if (path / RESULTS_FILE).is_file():
        return load_results(path / RESULTS_FILE)
    if (path / "store").is_dir():  # a folder whose runs only its results store holds (a large benchmark)
        from progressgym_env.benchmark.store import ResultsStore

        store = ResultsStore(path)
        if store.parts():
            return list(store.runs())
    if path.name == RESULTS_FILE and path.is_file():
        return load_results(path)
    if not path.exists():
        raise ResultsFileError(
            f"{path} does not exist (a benchmark folder with results.json, a ProgressGym result file or a "
            f"folder of them; run `progressgym benchmark --out {path}` first)"
        )
    return load_progressgym_results(path)
