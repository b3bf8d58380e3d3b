"""A calibrated surrogate physics: the response model fitted to a real backend's transitions (docs/design.md, "Calibrated surrogate physics").

A calibration file (JSON, written by ``progressgym calibrate``) holds a response model in logit space
that contains the default surrogate as a special case. For a model at logits ``z`` (d,) and an action
``a`` (d,) that is not all zero (an all-zero action is no update, as in the default surrogate)::

    z' = z + W phi(a) + drift + state * z + update_noise_sd * eps,   eps ~ N(0, I)
    phi(a) = a                              (no saturation)
           = saturation * tanh(a / saturation)

``W`` is the d x d gain matrix: its diagonal is the per-dim gain, its off-diagonal entries the
cross-dim coupling (zero when the selected model has none). The default surrogate is ``W =
capacity * I``, no saturation, zero drift and state terms, ``update_noise_sd = finetune_noise_sd``.
PG-Coevolve's pulls (``history_pull``, ``ai_pull``) are fitted too (the default surrogate's values
where the transitions had no simulated human). ``measurement_noise_sd`` is the evaluator's noise the
fit separated from the update noise; the surrogate's models carry no measurement noise (agents
observe humans through the query budget, not models through an evaluator), so it is reported, not
simulated.

Files are checked on load: format and version, value space and dims, shapes, finite numbers, and a
SHA-256 digest over the content (an edited or corrupt file is refused). A calibration is valid only
for actions inside its calibrated range (``max_abs_action``, plus :data:`RANGE_TOLERANCE`): a larger action is an
:class:`~progressgym_env.errors.InvalidActionError`, never a silent extrapolation.

Shipped calibrations are found by name (``progressgym_env/data/calibrations/<name>.json``); any other
string is a path. numpy and the standard library only: the surrogate stays light.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from progressgym_env.common.fingerprint import json_fingerprint
from progressgym_env.errors import ConfigError, InvalidActionError

CALIBRATION_FORMAT = "progressgym-calibration"
CALIBRATION_VERSION = 1
RANGE_TOLERANCE = 0.01
"""Actions up to ``max_abs_action * (1 + RANGE_TOLERANCE)`` are accepted: random design actions reach
0.998, not 1.0, and an extrapolation by 1% of the range is far below a transition's noise."""
CALIBRATIONS_DIR = Path(__file__).resolve().parent.parent / "data" / "calibrations"
"""Where the shipped calibrations live (one ``<name>.json`` each)."""


class CalibrationError(ConfigError):
    """A calibration file is missing, corrupt, edited, or for another value space."""


class CalibrationRangeWarning(UserWarning):
    """A calibrated model is used on states outside those it was fitted on."""


def shipped_calibrations() -> list[str]:
    """Names of the calibrations shipped with the package."""
    return sorted(p.stem for p in CALIBRATIONS_DIR.glob("*.json"))


def calibration_path(name_or_path: str | Path) -> Path:
    """The file of a shipped calibration's name, else ``name_or_path`` as a path.

    :raises CalibrationError: neither a shipped name nor an existing file.
    """
    text = str(name_or_path)
    shipped = CALIBRATIONS_DIR / f"{text}.json"
    if "/" not in text and not text.endswith(".json") and shipped.is_file():
        return shipped
    path = Path(text)
    if not path.is_file():
        raise CalibrationError(
            f"calibration {text!r} is neither a shipped calibration ({', '.join(shipped_calibrations()) or 'none'}) "
            "nor an existing file"
        )
    return path


def content_digest(document: dict[str, Any]) -> str:
    """SHA-256 of a calibration document without its ``digest`` field (key-sorted JSON)."""
    return json_fingerprint({k: v for k, v in document.items() if k != "digest"})


def seal(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with its ``digest`` set (what :func:`load_calibration` checks)."""
    sealed = {k: v for k, v in document.items() if k != "digest"}
    sealed["digest"] = content_digest(sealed)
    return sealed


def _matrix(model: dict[str, Any], key: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    try:
        array = np.asarray(model[key], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise CalibrationError(f"{where}: model.{key} is missing or not numeric") from exc
    if array.shape != shape:
        raise CalibrationError(f"{where}: model.{key} has shape {array.shape}, expected {shape}")
    if not np.isfinite(array).all():
        raise CalibrationError(f"{where}: model.{key} holds non-finite numbers")
    return array


@dataclass(frozen=True, eq=False)
class CalibratedResponse:
    """The response model of one calibration file, ready to step (single model or a batch of rows).

    :param name: the calibration's name. :param digest: its content digest.
    :param value_space: name of the value space it was fitted in. :param dims: its dim names.
    """

    name: str
    digest: str
    value_space: str
    dims: tuple[str, ...]
    gain: np.ndarray
    saturation: float | None
    drift: np.ndarray
    state: np.ndarray
    update_noise_sd: np.ndarray
    measurement_noise_sd: np.ndarray
    max_abs_action: float
    history_pull: float
    ai_pull: float
    document: dict[str, Any]

    def __post_init__(self) -> None:
        # Fixed per file: decided once, so a step pays only for the terms the model has.
        object.__setattr__(self, "diagonal", bool(np.count_nonzero(self.gain - np.diag(np.diag(self.gain))) == 0))
        object.__setattr__(self, "diagonal_gain", np.diag(self.gain).copy())
        object.__setattr__(self, "noisy", bool(np.any(self.update_noise_sd > 0)))
        object.__setattr__(self, "affine", bool(np.any(self.drift) or np.any(self.state)))

    diagonal: bool = field(init=False, default=False)
    """Whether the gain matrix has no coupling (then the update is elementwise)."""
    diagonal_gain: Any = field(init=False, default=None)
    """The gain matrix's diagonal (d,)."""
    noisy: bool = field(init=False, default=False)
    """Whether any dim has update noise."""
    affine: bool = field(init=False, default=False)
    """Whether the model has drift or state terms."""
    state_range: tuple[float, float] | None = None
    """The logits the model was fitted on (None: not recorded)."""
    _warned: list[bool] = field(init=False, default_factory=lambda: [False], repr=False)

    @property
    def dim(self) -> int:
        return len(self.dims)

    def check_value_space(self, name: str, dims: tuple[str, ...] | list[str]) -> None:
        """Refuse a history in another value space or with other dims than the calibration's.

        :raises CalibrationError: naming both.
        """
        if name != self.value_space or tuple(dims) != self.dims:
            raise CalibrationError(
                f"calibration {self.name!r} was fitted in value space {self.value_space!r} ({self.dim} dims), "
                f"but the history is in {name!r} ({len(dims)} dims); calibrate on that value space or use "
                "another history"
            )

    def check_action(self, action: np.ndarray) -> None:
        """Refuse actions beyond the calibrated range (no silent extrapolation).

        :raises InvalidActionError: an entry with ``|a_i| > max_abs_action * (1 + RANGE_TOLERANCE)``.
        """
        if action.size and max(float(np.max(action)), -float(np.min(action))) > self.max_abs_action * (
            1 + RANGE_TOLERANCE
        ):
            raise InvalidActionError(
                f"calibration {self.name!r} was fitted on actions with |a_i| <= {self.max_abs_action:g} "
                f"(accepted up to {self.max_abs_action * (1 + RANGE_TOLERANCE):g}); "
                f"got |a_i| = {float(np.max(np.abs(action))):g}. Scale the action down or calibrate with larger pulses"
            )

    def check_states(self, logits: np.ndarray) -> None:
        """Warn (once per calibration) when states lie outside the logits it was fitted on (its state terms extrapolate).

        Not an error: every episode starts at the history's H_0, which a model's own collection rarely
        visits; the warning says so instead of extrapolating silently.
        """
        if not self.affine or self.state_range is None or self._warned[0]:
            return
        low, high = self.state_range
        if float(np.min(logits)) < low or float(np.max(logits)) > high:
            self._warned[0] = True
            warnings.warn(
                f"calibration {self.name!r}: its drift/state terms were fitted on logits in [{low:.2f}, {high:.2f}], "
                f"the history reaches [{float(np.min(logits)):.2f}, {float(np.max(logits)):.2f}]: they are "
                "extrapolated there", CalibrationRangeWarning, stacklevel=3,
            )

    def updated_logits(self, logits: np.ndarray, action: np.ndarray, std_normal: np.ndarray | None) -> np.ndarray:
        """The logits after one update of every row (..., d); ``std_normal``: standard normal draws or None.

        Rows whose action is all zero are the caller's to keep (as in the default surrogate).
        """
        a = np.asarray(action, dtype=np.float64)
        if self.saturation is not None:
            a = np.multiply(a, 1.0 / self.saturation)
            np.tanh(a, out=a)
            a *= self.saturation
        if self.diagonal:
            shift = np.multiply(a, self.diagonal_gain)
        else:
            shift = a @ self.gain.T
        if std_normal is not None:
            shift += np.multiply(std_normal, self.update_noise_sd, out=a if a is not action else None)
        shift += logits
        if self.affine:
            scaled = np.multiply(self.state, logits)
            scaled += self.drift
            shift += scaled
        return shift


def response_from_document(document: dict[str, Any], where: str = "calibration") -> CalibratedResponse:
    """Validate a calibration document and build its :class:`CalibratedResponse`.

    :raises CalibrationError: wrong format or version, a digest that does not match the content, bad shapes.
    """
    if not isinstance(document, dict) or document.get("format") != CALIBRATION_FORMAT:
        raise CalibrationError(f"{where}: not a {CALIBRATION_FORMAT} file")
    if document.get("version") != CALIBRATION_VERSION:
        raise CalibrationError(
            f"{where}: calibration version {document.get('version')!r}, this code reads version {CALIBRATION_VERSION}"
        )
    if document.get("digest") != content_digest(document):
        raise CalibrationError(
            f"{where}: the content does not match its digest (the file was edited or is corrupt); "
            "re-run `progressgym calibrate` to make a new one"
        )
    dims = tuple(str(x) for x in document.get("dims", []))
    d = len(dims)
    model = document.get("model")
    if not d or not isinstance(model, dict):
        raise CalibrationError(f"{where}: no dims or no model")
    saturation = model.get("saturation")
    if saturation is not None and not (isinstance(saturation, (int, float)) and saturation > 0):
        raise CalibrationError(f"{where}: model.saturation must be a positive number or null, got {saturation!r}")
    pulls = document.get("coevolve") or {}
    try:
        history_pull, ai_pull = float(pulls["history_pull"]), float(pulls["ai_pull"])
        max_abs = float(model["max_abs_action"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CalibrationError(f"{where}: coevolve pulls or model.max_abs_action missing") from exc
    if not (0 <= history_pull <= 1 and 0 <= ai_pull <= 1 and 0 < max_abs <= 1):
        raise CalibrationError(f"{where}: pulls must be fractions and max_abs_action in (0, 1]")
    return CalibratedResponse(
        name=str(document.get("name", where)),
        digest=str(document["digest"]),
        value_space=str(document.get("value_space")),
        dims=dims,
        gain=_matrix(model, "gain", (d, d), where),
        saturation=None if saturation is None else float(saturation),
        drift=_matrix(model, "drift", (d,), where),
        state=_matrix(model, "state", (d,), where),
        update_noise_sd=np.abs(_matrix(model, "update_noise_sd", (d,), where)),
        measurement_noise_sd=_matrix(model, "measurement_noise_sd", (d,), where),
        max_abs_action=max_abs,
        history_pull=history_pull,
        ai_pull=ai_pull,
        document=document,
        state_range=None if model.get("state_range") is None else (float(model["state_range"][0]),
                                                                     float(model["state_range"][1])),
    )


_LOADED: dict[tuple[str, int, int], CalibratedResponse] = {}


def load_calibration(name_or_path: str | Path) -> CalibratedResponse:
    """Read, check and cache a calibration by shipped name or path.

    :raises CalibrationError: see :func:`response_from_document`; also unreadable JSON.
    """
    path = calibration_path(name_or_path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    cached = _LOADED.get(key)
    if cached is not None:
        return cached
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"{path}: not a calibration file (corrupt JSON: {exc})") from exc
    response = response_from_document(document, str(path))
    _LOADED[key] = response
    return response


def identity_document(
    dims: tuple[str, ...] | list[str], value_space: str, *, capacity: float, finetune_noise_sd: float,
    history_pull: float, ai_pull: float, name: str = "default-surrogate",
) -> dict[str, Any]:
    """The sealed calibration equal to the default surrogate with these settings (the special case)."""
    d = len(dims)
    return seal({
        "format": CALIBRATION_FORMAT, "version": CALIBRATION_VERSION, "name": name,
        "value_space": value_space, "dims": list(dims),
        "model": {
            "form": "pooled", "saturation": None, "max_abs_action": 1.0,
            "gain": (capacity * np.eye(d)).tolist(), "drift": [0.0] * d, "state": [0.0] * d,
            "update_noise_sd": [float(finetune_noise_sd)] * d, "measurement_noise_sd": [0.0] * d,
        },
        "coevolve": {"history_pull": history_pull, "ai_pull": ai_pull, "source": "default"},
        "provenance": {"source": "the default surrogate's settings"},
    })
