"""Fit the surrogate's response model to collected transitions, select it on held-out ones, seal the file.

The model (:mod:`progressgym_env.backends.calibration`) is linear in its parameters once the
saturation ``s`` is fixed, so each candidate is a least-squares fit per output dim ``i`` of the
logit change ``dz_i = logit(after_i) - logit(before_i)`` of the transitions that updated the model:

====================  ==========================================================  ==============================
form                  dz_i =                                                      fitted with
====================  ==========================================================  ==============================
``pooled``            g * phi(a_i)   (one gain for every dim: today's surrogate)  statsmodels OLS (pooled)
``gain``              g_i * phi(a_i)                                              statsmodels OLS per dim
``gain-state``        g_i * phi(a_i) + c_i + k_i * z_i                            statsmodels OLS per dim
``coupled``           sum_j W_ij * phi(a_j) + c_i + k_i * z_i                     scikit-learn Ridge per dim
====================  ==========================================================  ==============================

with ``phi(a) = a`` or ``s * tanh(a / s)`` for ``s`` in :data:`SATURATIONS`. statsmodels gives the
per-parameter confidence intervals the calibration reports; the coupled form's off-diagonal entries
are ridge-penalised (the diagonal, drift and state features are scaled up so their penalty vanishes),
with the penalty chosen on the held-out transitions like the form. Why these libraries: OLS with exact
CIs is what statsmodels is for, and ridge with many outputs is scikit-learn's; both are maintained
and already in the environment.

Model selection: seeded 5-fold cross-validation over the transitions that updated the model; every
candidate is scored by its held-out (out-of-fold) mean squared logit error and the best is refitted
on all transitions. The fit statistics are the held-out ones: per-dim R^2 and residual RMS of the
out-of-fold predictions, beside the evaluator's own noise on a change (``sqrt(se_before^2 + se_after^2)`` in logits,
delta method): a residual at that floor is as good as the data allows.

Noise separation: the residual variance of dim i on the fitting transitions is update noise plus
measurement noise; the update noise is what is left after subtracting the evaluator's variance
(method of moments, floored at 0).

Coevolve's pulls, from transitions with a simulated human: ``ds = hp (1 - ap) (h - s) + ap (m - s)``
in logits, pooled OLS over dims, so ``ap`` is the second coefficient and ``hp`` the first over ``1 - ap``
(its CI by the delta method). Without such transitions the default surrogate's pulls are kept and
marked so.
"""

from __future__ import annotations

import datetime as _dt
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from progressgym_env.backends.calibration import CALIBRATION_FORMAT, CALIBRATION_VERSION, seal
from progressgym_env.errors import ConfigError
from progressgym_env.numerics import VALUE_EPS, logit

FORMS: tuple[str, ...] = ("pooled", "gain", "gain-state", "coupled")
SATURATIONS: tuple[float | None, ...] = (None, 1.0, 0.5, 0.25)
"""Saturation scales tried (None: linear in the action)."""
RIDGE_ALPHAS: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)
"""Penalties tried on the coupled form's off-diagonal gains."""
FOLDS = 5
"""Cross-validation folds of the model selection (every transition is held out once)."""
UNPENALISED_SCALE = 1e3
"""Factor on the features the ridge must not shrink (its penalty on them falls by this squared)."""


@dataclass(frozen=True)
class Data:
    """Transitions as arrays (only those that updated the model: the zero actions are no update)."""

    z0: np.ndarray
    dz: np.ndarray
    action: np.ndarray
    meas_var: np.ndarray
    """Evaluator variance of each change (n, d), in logits (delta method), NaN where unknown."""


def _logit_se(values: np.ndarray, se: np.ndarray) -> np.ndarray:
    """A value's standard error in logit units: se / (p (1 - p)) (delta method; p clipped like the logit)."""
    p = np.clip(values, VALUE_EPS, 1 - VALUE_EPS)
    return se / (p * (1 - p))


def transition_arrays(transitions: Sequence[dict[str, Any]]) -> tuple[Data, dict[str, Any]]:
    """The moved transitions as :class:`Data`, and counts and the zero-action check for the report."""
    action = np.array([t["action"] for t in transitions], dtype=np.float64)
    before = np.array([t["before"] for t in transitions], dtype=np.float64)
    after = np.array([t["after"] for t in transitions], dtype=np.float64)
    se_b = np.array([t["stderr_before"] for t in transitions], dtype=np.float64)
    se_a = np.array([t["stderr_after"] for t in transitions], dtype=np.float64)
    z0, z1 = logit(before), logit(after)
    moved = np.any(action != 0, axis=1)
    meas = _logit_se(before, se_b) ** 2 + _logit_se(after, se_a) ** 2
    zero_change = float(np.abs(z1[~moved] - z0[~moved]).max()) if (~moved).any() else None
    counts = {"transitions": int(len(transitions)), "moved": int(moved.sum()), "zero_actions": int((~moved).sum()),
              "zero_action_max_abs_logit_change": zero_change}
    data = Data(z0=z0[moved], dz=(z1 - z0)[moved], action=action[moved], meas_var=meas[moved])
    return data, counts


def phi(action: np.ndarray, saturation: float | None) -> np.ndarray:
    return action if saturation is None else saturation * np.tanh(action / saturation)


@dataclass
class Fitted:
    """One fitted candidate: its parameters (the calibration's model fields) and its per-parameter CIs."""

    form: str
    saturation: float | None
    alpha: float | None
    gain: np.ndarray
    drift: np.ndarray
    state: np.ndarray
    ci: dict[str, list[list[float]]]
    pooled_dims: list[int]
    """Dims too poorly covered for their own fit: they take the pooled gain (per-dim forms only)."""

    def predict(self, z0: np.ndarray, action: np.ndarray) -> np.ndarray:
        a = phi(action, self.saturation)
        return a @ self.gain.T + self.drift + self.state * z0


def _fit(form: str, saturation: float | None, alpha: float | None, data: Data) -> Fitted:
    """Least squares of one candidate on ``data`` (see the module docstring's table)."""
    import statsmodels.api as sm

    n, d = data.dz.shape
    a = phi(data.action, saturation)
    gain, drift, state = np.zeros((d, d)), np.zeros(d), np.zeros(d)
    ci: dict[str, list[list[float]]] = {}
    pooled_dims_out: list[int] = []
    pooled = sm.OLS(data.dz.ravel(), a.ravel()[:, None]).fit()
    pooled_gain = float(pooled.params[0])
    if form == FORMS[0]:  # pooled
        gain = pooled_gain * np.eye(d)
        low, high = pooled.conf_int()[0]
        ci["gain"] = [[float(low), float(high)]] * d
    elif form in ("gain", "gain-state"):
        bounds: dict[str, list[list[float]]] = {"gain": [], "drift": [], "state": []}
        pooled_dims = []
        for i in range(d):
            columns = [a[:, i]] if form == "gain" else [a[:, i], np.ones(n), data.z0[:, i]]
            x = np.column_stack(columns)
            if n - x.shape[1] < 2 or np.linalg.matrix_rank(x) < x.shape[1]:
                # Too few informative transitions for this dim (never pushed, or a constant state):
                # it takes the pooled gain, flagged, rather than an undetermined fit.
                pooled_dims.append(i)
                gain[i, i] = pooled_gain
                for name in bounds:
                    bounds[name].append([None, None])  # type: ignore[list-item]
                continue
            result = sm.OLS(data.dz[:, i], x).fit()
            params, conf = np.asarray(result.params), np.asarray(result.conf_int())
            gain[i, i] = params[0]
            bounds["gain"].append(conf[0].tolist())
            if form == "gain-state":
                drift[i], state[i] = params[1], params[2]
                bounds["drift"].append(conf[1].tolist())
                bounds["state"].append(conf[2].tolist())
            else:
                bounds["drift"].append([0.0, 0.0])
                bounds["state"].append([0.0, 0.0])
        ci = {k: v for k, v in bounds.items() if form == "gain-state" or k == "gain"}
        pooled_dims_out = pooled_dims
    elif form == "coupled":
        from sklearn.linear_model import Ridge

        for i in range(d):
            scaled = a.copy()
            scaled[:, i] *= UNPENALISED_SCALE
            x = np.column_stack([scaled, UNPENALISED_SCALE * data.z0[:, i]])
            model = Ridge(alpha=float(alpha or 0.0), fit_intercept=True).fit(x, data.dz[:, i])
            coef = model.coef_
            gain[i] = coef[:d]
            gain[i, i] *= UNPENALISED_SCALE
            state[i] = coef[d] * UNPENALISED_SCALE
            drift[i] = model.intercept_
    else:
        raise ConfigError(f"unknown response form {form!r}; one of {FORMS}")
    return Fitted(form, saturation, alpha, gain, drift, state, ci, pooled_dims_out)


def candidates(
    forms: Sequence[str] = FORMS, saturations: Sequence[float | None] = SATURATIONS
) -> list[tuple[str, float | None, float | None]]:
    """Every (form, saturation, ridge penalty) tried."""
    out: list[tuple[str, float | None, float | None]] = []
    for form in forms:
        for saturation in saturations:
            for alpha in RIDGE_ALPHAS if form == "coupled" else (None,):
                out.append((form, saturation, alpha))
    return out


def _subset(data: Data, rows: np.ndarray) -> Data:
    return Data(data.z0[rows], data.dz[rows], data.action[rows], data.meas_var[rows])


def _folds(n: int, seed: int) -> list[np.ndarray]:
    """Held-out index sets of a seeded K-fold split (K = :data:`FOLDS`, at most n)."""
    from sklearn.model_selection import KFold

    split = KFold(n_splits=min(FOLDS, n), shuffle=True, random_state=int(seed))
    return [held for _, held in split.split(np.zeros((n, 1)))]


def _out_of_fold(form: str, saturation: float | None, alpha: float | None, data: Data,
                 folds: list[np.ndarray]) -> np.ndarray:
    """Each transition's change predicted by the candidate fitted without its fold."""
    predicted = np.empty_like(data.dz)
    n = data.dz.shape[0]
    for held in folds:
        keep = np.setdiff1d(np.arange(n), held)
        fitted = _fit(form, saturation, alpha, _subset(data, keep))
        predicted[held] = fitted.predict(data.z0[held], data.action[held])
    return predicted


def _r2(y: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """Per-dim R^2 of a prediction (NaN for a dim that did not vary)."""
    total = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, 1 - (residual**2).sum(axis=0) / total, np.nan)


def _coevolve_pulls(transitions: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Fitted (history_pull, ai_pull) with 95% CIs, or None without simulated-human transitions."""
    rows = [t for t in transitions if "sim_before" in t]
    if len(rows) < 2:
        return None
    import statsmodels.api as sm

    s0 = logit(np.array([t["sim_before"] for t in rows]))
    s1 = logit(np.array([t["sim_after"] for t in rows]))
    h = logit(np.array([t["history_t"] for t in rows]))
    m = logit(np.array([t["after"] for t in rows]))
    x = np.column_stack([(h - s0).ravel(), (m - s0).ravel()])
    result = sm.OLS((s1 - s0).ravel(), x).fit()
    b1, b2 = (float(v) for v in result.params)
    cov = np.asarray(result.cov_params())
    ai_pull = b2
    history_pull = b1 / (1 - ai_pull) if ai_pull != 1 else 0.0
    grad = np.array([1 / (1 - b2), b1 / (1 - b2) ** 2])  # delta method for b1 / (1 - b2)
    hp_se = float(np.sqrt(max(grad @ cov @ grad, 0.0)))
    ap_se = float(np.sqrt(max(cov[1, 1], 0.0)))
    fitted = {"history_pull": history_pull, "ai_pull": ai_pull}
    clipped = {k: float(np.clip(v, 0.0, 1.0)) for k, v in fitted.items()}
    return {
        **clipped,
        "source": "fitted",
        "transitions": len(rows),
        "unclipped": fitted,
        "ci95": {"history_pull": [history_pull - 1.96 * hp_se, history_pull + 1.96 * hp_se],
                 "ai_pull": [ai_pull - 1.96 * ap_se, ai_pull + 1.96 * ap_se]},
        "r2": float(result.rsquared),
    }


def fit_calibration(
    document: dict[str, Any],
    name: str,
    *,
    seed: int = 0,
    forms: Sequence[str] = FORMS,
    saturations: Sequence[float | None] = SATURATIONS,
    default_pulls: tuple[float, float] = (0.25, 0.5),
) -> dict[str, Any]:
    """Fit, select and seal a calibration from a transitions document (see the module docstring).

    :param document: what :func:`~progressgym_env.calibration.collect.load_transitions` returns.
    :param name: the calibration's name.
    :param seed: seed of the held-out split.
    :param forms: the forms to select among. :param saturations: the saturation scales tried with each.
    :param default_pulls: Coevolve's pulls kept when the transitions have no simulated human.
    :raises ConfigError: fewer than 8 transitions that updated the model (nothing to hold out).
    """
    transitions = document["transitions"]
    provenance = document.get("provenance", {})
    data, counts = transition_arrays(transitions)
    n, d = data.dz.shape
    if n < 8:
        raise ConfigError(f"a calibration needs at least 8 transitions that updated the model, got {n}")
    folds = _folds(n, seed)
    scores: list[dict[str, Any]] = []
    for form, saturation, alpha in candidates(forms, saturations):
        predicted = _out_of_fold(form, saturation, alpha, data, folds)
        scores.append({"form": form, "saturation": saturation, "alpha": alpha,
                       "held_out_mse": float(np.mean((data.dz - predicted) ** 2))})
    best = min(scores, key=lambda s: float(s["held_out_mse"]))
    chosen: tuple[str, float | None, float | None] = (str(best["form"]), best["saturation"], best["alpha"])
    held_residual = data.dz - _out_of_fold(*chosen, data, folds)
    final = _fit(*chosen, data)
    residual = data.dz - final.predict(data.z0, data.action)
    meas_var = np.nanmean(data.meas_var, axis=0) if np.isfinite(data.meas_var).any() else np.zeros(d)
    meas_var = np.nan_to_num(meas_var)
    dof = max(n - (d + 2 if best["form"] == "coupled" else 3 if best["form"] == "gain-state" else 1), 1)
    resid_var = (residual**2).sum(axis=0) / dof
    update_sd = np.sqrt(np.clip(resid_var - meas_var, 0.0, None))
    held_rms = np.sqrt((held_residual**2).mean(axis=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a dim without any standard error: NaN, reported as null
        held_meas = np.sqrt(np.nanmean(data.meas_var, axis=0))
    pulls = _coevolve_pulls(transitions) or {
        "history_pull": default_pulls[0], "ai_pull": default_pulls[1], "source": "default (no simulated-human transitions)",
    }
    pooled_linear = [s["held_out_mse"] for s in scores if s["form"] == FORMS[0] and s["saturation"] is None]
    import sklearn
    import statsmodels

    calibration = {
        "format": CALIBRATION_FORMAT,
        "version": CALIBRATION_VERSION,
        "name": name,
        "value_space": provenance.get("value_space", "moral19"),
        "dims": list(provenance.get("dims", [])) or [f"dim{i}" for i in range(d)],
        "model": {
            "form": best["form"],
            "saturation": best["saturation"],
            "ridge_alpha": best["alpha"],
            "max_abs_action": float(np.abs(np.array([t["action"] for t in transitions])).max()),
            "gain": final.gain.tolist(),
            "drift": final.drift.tolist(),
            "state": final.state.tolist(),
            "update_noise_sd": update_sd.tolist(),
            "measurement_noise_sd": np.sqrt(meas_var / 2).tolist(),
            "state_range": [float(data.z0.min()), float(data.z0.max())],
        },
        "coevolve": pulls,
        "fit": {
            **counts,
            "folds": len(folds),
            "seed": int(seed),
            "pooled_dims": final.pooled_dims,
            "candidates": scores,
            "selected": best,
            "held_out_mse_of_linear_surrogate_form": pooled_linear[0] if pooled_linear else None,
            "ci95": final.ci,
            "held_out_r2": [None if not np.isfinite(v) else float(v) for v in _r2(data.dz, held_residual)],
            "held_out_residual_rms": held_rms.tolist(),
            "held_out_measurement_sd": [None if not np.isfinite(v) else float(v) for v in held_meas],
            "residual_over_measurement": [None if not (np.isfinite(r) and m > 0) else float(r / m)
                                          for r, m in zip(held_rms, held_meas, strict=True)],
            "libraries": {"statsmodels": statsmodels.__version__, "scikit-learn": sklearn.__version__},
        },
        "provenance": {**provenance, "fitted_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")},
    }
    return seal(calibration)
