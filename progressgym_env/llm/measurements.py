"""Measurement of the ``llm`` timeline's models, and the summary behind every vector it reports.

:class:`Measurements` runs the value evaluator (eval split) on a model and keeps, per role (``model``:
the agent's, ``simulated``: Coevolve's simulated human), the evaluation summary of the current vector
(standard errors, both aggregations, position diagnostics) and one summary per step of the episode.
The env's ``info`` entries (:meth:`Measurements.info`) and the episode record's ``measurements``
(:meth:`Measurements.episode`) come from here; :func:`progressgym_env.llm.measure.record_in_aggregation`
rescores a record with them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from progressgym_env.errors import EvaluationError

Summary = dict[str, Any] | None
"""An evaluation summary (``EvaluationResult.summary()``), or None where none was kept."""

ROLES: tuple[str, ...] = ("model", "simulated")


class Measurements:
    """Measure models and keep each step's evaluation summary (see the module docstring).

    :param evaluator: the :class:`~progressgym_env.evaluator.ValueEvaluator` that measures (eval split).
    :param batch_size: questions per forward pass of the log-likelihood chooser.
    """

    def __init__(self, evaluator: Any, batch_size: int) -> None:
        self.evaluator = evaluator
        self.batch_size = int(batch_size)
        self.evaluations = 0
        """Models measured over the backend's life."""
        self._current: dict[str, Summary] = {role: None for role in ROLES}
        self._steps: dict[str, list[Summary]] = {"initial": [], "model": [], "simulated": []}
        self._simulates = False

    def reset(self, model: Summary, simulated: Summary, *, simulates: bool) -> None:
        """A new episode whose starting vectors have the summaries ``model`` (M_0) and ``simulated`` (S_0)."""
        self._current = {"model": model, "simulated": simulated}
        self._steps = {"initial": [model], "model": [], "simulated": [simulated]}
        self._simulates = bool(simulates)

    def measure(self, model: Any, tokenizer: Any, role: str = "model") -> np.ndarray:
        """Evaluate a model; its summary becomes ``role``'s current one; returns its 19-dim vector.

        :raises EvaluationError: a dim left without any answered scenario.
        """
        from progressgym_env.evaluator.choosers.loglik import LogLikelihoodChooser

        self.evaluations += 1
        chooser = LogLikelihoodChooser(model, tokenizer, batch_size=self.batch_size)
        result = self.evaluator.evaluate_detailed(chooser)
        if not np.isfinite(result.values).all():
            raise EvaluationError(f"the {role} model left some dims without an answered scenario "
                                  f"({result.n_refused} of {result.n_questions} questions refused)")
        self._current[role] = result.summary()
        return np.asarray(result.values, dtype=np.float64)

    def current(self, role: str) -> Summary:
        """The summary behind ``role``'s current vector."""
        return self._current[role]

    def close_step(self, role: str, recorded: Summary = None) -> Summary:
        """End a step of ``role``: keep its current summary (or ``recorded``, a replayed one) for the record.

        :return: the step's summary.
        """
        if recorded is not None:
            self._current[role] = recorded
        self._steps[role].append(self._current[role])
        return self._current[role]

    def info(self) -> dict[str, Any]:
        """``info`` entries of the current measurements: per-dim standard errors, the other aggregation, flags.

        ``model_stderr`` (19,), ``model_values_progressgym`` (19,), ``position_flags`` (format ->
        ``{"position_driven": bool, "collapsed": bool}`` as numpy bools); Coevolve adds the same for
        ``simulated``. A role not measured yet (at reset the starting model is the history's first vector,
        not a measurement; a replayed run recorded before measurements were kept) gets the same keys with
        NaN arrays and False flags, so reset and every step carry one info structure (what Minari's
        ``DataCollector(record_infos=True)`` and other RL buffers require).
        """
        out: dict[str, Any] = {}
        for role, summary in self._current.items():
            if role == "simulated" and not self._simulates:
                continue
            if not summary:
                out.update(self._placeholder(role))
                continue
            aggregation = summary["aggregation"]
            other = "progressgym" if aggregation == "default" else "default"
            out[f"{role}_stderr"] = np.array(summary["stderr"][aggregation], dtype=np.float64)
            out[f"{role}_values_{other}"] = np.array(summary["vectors"][other], dtype=np.float64)
            # Numbers only (np.bool_), like every other info entry, so RL buffers take LLM-mode infos too.
            out[f"{role}_position_flags"] = {
                fmt: {"position_driven": np.bool_(d["position_driven"]), "collapsed": np.bool_(d["collapsed"])}
                for fmt, d in summary["position"].items()
            }
        return out

    def _placeholder(self, role: str) -> dict[str, Any]:
        """The info entries of an unmeasured ``role``: NaN vectors, False flags, the keys a measurement has."""
        from progressgym_env.evaluator.bank import N_DIMS

        config = getattr(self.evaluator, "config", None)
        formats = tuple(getattr(config, "formats", ()) or ())
        other = "default" if getattr(config, "aggregation", "default") == "progressgym" else "progressgym"
        nan = np.full(N_DIMS, np.nan)
        return {
            f"{role}_stderr": nan.copy(),
            f"{role}_values_{other}": nan.copy(),
            f"{role}_position_flags": {fmt: {"position_driven": np.bool_(False), "collapsed": np.bool_(False)}
                                       for fmt in formats},
        }

    def episode(self) -> dict[str, Any]:
        """Per-step summaries of this episode: ``initial`` (M_0), ``model`` (M_1..), ``simulated`` (S_1..).

        Each holds both aggregations' vectors and standard errors and the position diagnostics.
        """
        simulated = list(self._steps["simulated"]) if self._simulates else []
        return {"initial": list(self._steps["initial"]), "model": list(self._steps["model"]), "simulated": simulated}
