"""How an episode maps to the original ProgressGym's result fields, and back: one object per field layout.

ProgressGym's judges (``challenges/{follow,predict,coevolve}.py``, ``interpret_result``) read one of
two layouts:

- tracking (Follow, Predict and any challenge scored by model-to-target cosine): ``actual_vector``
  (the target of each scored step) and ``examinee_vector`` (the model M_t of the same step), plus the
  challenge's parameters (``timesteps_ahead`` on Predict); score = mean over steps of cos(actual, examinee);
- Coevolve: ``simulated_model_vector`` (S_0..S_{T-1}) and ``actual_model_vector`` (H_0..H_{T-1});
  score = mean over every s and i of max_{j>=i} cos(s, H_j).

A judge names its layout in ``progressgym_format`` (the tracking layout by default), so a plugin
challenge scored by tracking exports, imports and re-scores with no code of its own. This module
holds no file I/O (that is :mod:`progressgym_env.benchmark.interop`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from progressgym_env.errors import ResultsFileError

if TYPE_CHECKING:  # judges.py names its layout from here, so the judges are imported where used
    from progressgym_env.judges import Judge

META_KEY = "progressgym_env"
"""The key under which an export keeps what re-importing needs (agent, challenge key, seed, the full history)."""


def merged_fields(result: Mapping[str, Any]) -> dict[str, Any]:
    """The result's fields, with an older file's ``supplementary_data`` merged in (as ProgressGym does)."""
    merged = dict(result)
    supplementary = merged.get("supplementary_data")
    if isinstance(supplementary, Mapping):
        merged.update(supplementary)
    return merged


def vectors(fields: Mapping[str, Any], name: str, where: str) -> np.ndarray:
    """Field ``name`` as a finite non-empty (n, d) float array, or a :class:`ResultsFileError` naming it."""
    try:
        array = np.asarray(fields[name], dtype=np.float64)
    except (TypeError, ValueError):
        raise ResultsFileError(f"{where}: {name!r} must be a list of equal-length number lists") from None
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ResultsFileError(f"{where}: {name!r} must be a non-empty list of vectors, found shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ResultsFileError(f"{where}: {name!r} holds non-finite values")
    return array


class TrackingFormat:
    """``actual_vector`` (the judge's targets) beside ``examinee_vector`` (the models), plus the parameters."""

    fields: tuple[str, ...] = ("actual_vector", "examinee_vector")

    def matches(self, fields: Mapping[str, Any]) -> bool:
        """Whether ``fields`` hold this layout."""
        return all(name in fields for name in self.fields)

    def export(self, judge: Judge, record: Any) -> dict[str, Any]:
        """The ProgressGym fields of ``record`` (an :class:`~progressgym_env.records.EpisodeRecord`) under ``judge``."""
        out: dict[str, Any] = {
            "actual_vector": judge.targets(judge.human).tolist(),
            "examinee_vector": np.asarray(record.model, dtype=np.float64).tolist(),
        }
        out.update(judge.params)
        return out

    def pair(self, fields: Mapping[str, Any], where: str) -> tuple[np.ndarray, np.ndarray]:
        """The layout's two vector fields, checked (finite, non-empty, 2-D)."""
        return vectors(fields, self.fields[0], where), vectors(fields, self.fields[1], where)

    def score(self, fields: Mapping[str, Any], where: str) -> float:
        """ProgressGym's score of the fields: mean cos(actual, examinee)."""
        from progressgym_env.judges import tracking_scores

        actual, examinee = self.pair(fields, where)
        if actual.shape != examinee.shape:
            raise ResultsFileError(
                f"{where}: 'actual_vector' {actual.shape} and 'examinee_vector' {examinee.shape} must match"
            )
        return float(tracking_scores(actual, examinee))

    def record(
        self, judge_class: type[Judge], params: Mapping[str, Any], fields: Mapping[str, Any], meta: Mapping[str, Any],
        where: str,
    ) -> dict[str, Any] | None:
        """The episode record the fields hold, or None: only an export carries the full history (H_0 included)."""
        if "human" not in meta:
            return None
        record = {"challenge": judge_class.challenge, "human": meta["human"], "model": fields["examinee_vector"],
                  **params}
        judge = judge_class(meta["human"], **params)
        targets = judge.targets(judge.human)
        actual = vectors(fields, "actual_vector", where)
        if actual.shape != targets.shape or not np.allclose(actual, targets, rtol=0, atol=1e-12):
            raise ResultsFileError(
                f"{where}: 'actual_vector' disagrees with the history under {META_KEY!r}.human (edited file?)"
            )
        return record


class CoevolveFormat(TrackingFormat):
    """``simulated_model_vector`` (S_0..S_{T-1}) beside ``actual_model_vector`` (H_0..H_{T-1})."""

    fields = ("simulated_model_vector", "actual_model_vector")

    def export(self, judge: Judge, record: Any) -> dict[str, Any]:
        return {
            "simulated_model_vector": np.asarray(record.simulated, dtype=np.float64).tolist(),
            "actual_model_vector": judge.human.tolist(),
        }

    def score(self, fields: Mapping[str, Any], where: str) -> float:
        from progressgym_env.judges import coevolve_scores

        simulated, actual = self.pair(fields, where)
        if simulated.shape[1] != actual.shape[1] or len(simulated) < 3 or len(actual) < 3:
            raise ResultsFileError(
                f"{where}: Coevolve needs >= 3 simulated and actual vectors of one dimension, found "
                f"{simulated.shape} and {actual.shape}"
            )
        return float(coevolve_scores(simulated, actual))

    def record(
        self, judge_class: type[Judge], params: Mapping[str, Any], fields: Mapping[str, Any], meta: Mapping[str, Any],
        where: str,
    ) -> dict[str, Any] | None:
        simulated, actual = self.pair(fields, where)
        if simulated.shape != actual.shape:  # only S_0..S_{T-1} beside H_0..H_{T-1} is a full record
            return None
        record: dict[str, Any] = {"challenge": judge_class.challenge, "human": actual.tolist(),
                                  "simulated": simulated.tolist(), **params}
        if meta.get("model"):  # exported here: the AI's own trajectory rides along
            record["model"] = meta["model"]
        return record


TRACKING = TrackingFormat()
COEVOLVE = CoevolveFormat()
FORMATS: tuple[TrackingFormat, ...] = (TRACKING, COEVOLVE)


def format_of(judge_class: type[Judge]) -> TrackingFormat:
    """The layout ``judge_class`` exports to (its ``progressgym_format``)."""
    return judge_class.progressgym_format


def identify(result: Mapping[str, Any], where: str = "ProgressGym result") -> tuple[type[Judge], dict[str, Any]]:
    """(judge class, parameters) of a ProgressGym result: by the challenge an export names, else by its fields.

    :raises ResultsFileError: not a ProgressGym result, or one no registered challenge recognises.
    """
    from progressgym_env.errors import ConfigError
    from progressgym_env.registry import challenge_specs, variant

    fields = merged_fields(result)
    meta = fields.get(META_KEY)
    if isinstance(meta, Mapping) and meta.get("challenge"):
        try:
            chosen = variant(str(meta["challenge"]))
        except ConfigError as exc:
            raise ResultsFileError(f"{where}: {exc}") from None
        from progressgym_env.registry import judge_class

        cls = judge_class(chosen.challenge)
        if format_of(cls).matches(fields):
            _check_field_params(fields, cls, {**cls.param_defaults, **chosen.kwargs}, where)
            return cls, dict(chosen.kwargs)
    for spec in challenge_specs():
        cls = spec.judge_class
        if format_of(cls).matches(fields):
            try:
                params = cls.progressgym_params(fields)
            except ResultsFileError as exc:
                raise ResultsFileError(f"{where}: {exc}") from None
            if params is not None:
                return cls, params
    expected = " or ".join(str(list(f.fields)) for f in FORMATS)
    raise ResultsFileError(
        f"{where}: not a ProgressGym result: expected {expected}, found keys {sorted(fields)[:12]}"
    )


def _check_field_params(fields: Mapping[str, Any], cls: type[Judge], params: Mapping[str, Any], where: str) -> None:
    """The challenge parameters the fields carry (any registered judge's) must be those the metadata names."""
    from progressgym_env.registry import challenge_specs

    names = {name for spec in challenge_specs() for name in spec.judge_class.param_defaults}
    for name in sorted(names & set(fields)):
        if name not in params and not fields[name]:
            continue  # e.g. an original Follow file's timesteps_ahead 0
        if params.get(name) != fields[name]:
            raise ResultsFileError(
                f"{where}: the fields carry {name}={fields[name]!r} but {META_KEY}.challenge names a "
                f"{cls.challenge!r} result with {name}={params.get(name)!r}"
            )


def is_progressgym_result(data: Any) -> bool:
    """Whether ``data`` holds one of ProgressGym's result layouts."""
    fields = merged_fields(data) if isinstance(data, Mapping) else {}
    return any(f.matches(fields) for f in FORMATS)


def progressgym_score(result: Mapping[str, Any], where: str = "ProgressGym result") -> float:
    """The score ProgressGym's ``interpret_result`` computes from a result's fields (plain cosine)."""
    cls, _ = identify(result, where)
    return format_of(cls).score(merged_fields(result), where)
