"""The ``llm`` backend: real HF causal LMs as the agent's model, human proxies and simulated human.

How each call of the backend protocol (:mod:`progressgym_env.backends.base`) is realised:

- ``reset``: the agent's model is its starting checkpoint (the century-13 proxy unless
  ``agent_model`` is set; loaded lazily), the simulated human (PG-Coevolve) the century-13 proxy.
  Their starting vectors come from the ``models`` history of the nine proxies, measured once and
  cached on disk (:class:`~progressgym_env.llm.measure.ProxyPanel`).
- ``update_model(action)``: an all-zero action is no update. Otherwise a preference dataset is drawn
  from the bank's *train* split (:mod:`~progressgym_env.llm.preference_data`: for dim i,
  ``round(|a_i| * pairs_per_unit)`` pairs whose chosen option raises dim i if a_i > 0, lowers it if
  a_i < 0), the model is trained on it with TRL's ``DPOTrainer`` and a fresh LoRA adapter that is then
  merged (:mod:`~progressgym_env.llm.dpo_update`), and the evaluator (eval split) measures it.
- ``update_simulated_human(t)``: SFT on answers sampled from proxy t (``sft_history_epochs``, 1), then
  on answers sampled from the agent's model (``sft_ai_epochs``, 2) (:mod:`~progressgym_env.llm.sft_update`);
  then the evaluator measures it.
- ``elicit(respondent, t, budget)``: the budget is split evenly across the 19 dims; each query draws a
  train-split question feeding the dim from the elicitation pool and samples the respondent's answer
  from its choice probabilities (the proxies' are cached); the estimate is the share of answers that
  uphold the dim. ``budget=None`` returns the exact vector.

Every random draw (pairs, formats, orders, answers, trainer seeds) comes from the env's generator, so
an episode is reproducible from its seed on CPU (``nondeterministic`` is True on CUDA). With
``run_dir`` set, each call is checkpointed and a re-run resumes (:mod:`~progressgym_env.llm.checkpoint`).

Example (nine local checkpoints; the history is the proxies' own measured vectors)::

    import gymnasium as gym
    import progressgym_env
    from progressgym_env.llm.config import LLMConfig

    cfg = LLMConfig(proxy_models=[f"ckpt/C0{c}" for c in range(13, 22)], run_dir="runs/follow-seed0")
    env = gym.make("PG-Follow-v0", history="models", backend="llm", backend_config=cfg)
    obs, info = env.reset(seed=0)   # re-running this script after a crash resumes from run_dir

``history`` may also be a trajectory file written by ``progressgym measure-history``.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from progressgym_env.backends.base import DEFAULT_CAPACITY
from progressgym_env.elicitation import split_queries
from progressgym_env.errors import ConfigError
from progressgym_env.evaluator.bank import load_question_bank
from progressgym_env.history import FixedHistory, History, HistorySource
from progressgym_env.llm.checkpoint import EpisodeJournal, action_digest, history_digest, rng_state
from progressgym_env.llm.config import LLMConfig
from progressgym_env.llm.examinee import ExamineeSession, RecordedUpdate
from progressgym_env.llm.measure import HistoryPanel, ProxyPanel
from progressgym_env.llm.model_loading import (
    apply_adapters,
    check_hub_source,
    check_model_source,
    load_causal_lm,
    resolve_device,
)
from progressgym_env.llm.proxies import (
    answer_shares,
    build_elicitation_pool,
    draw_queries,
    pad_probs,
)
from progressgym_env.llm.spaces import ModelUpdate
from progressgym_env.llm.training import check_llm_trainer_args
from progressgym_env.value_spaces import MORAL19

_SEED_HIGH = 2**31 - 1


class LLMBackend:
    """Backend whose models are HF causal LMs updated with TRL (DPO for the agent, SFT for Coevolve's human).

    :param config: an :class:`LLMConfig` or a dict of its fields (None = defaults: the 8B proxies).
    :raises ModelLoadError: a proxy or agent path that does not exist or has no tokenizer.
    """

    name = "llm"

    def __init__(self, config: LLMConfig | dict[str, Any] | None = None) -> None:
        self.config = LLMConfig.from_any(config)
        cfg = self.config
        check_hub_source(cfg.agent_id())  # first: offline, a hub id fails here in a second, not after imports
        check_llm_trainer_args(cfg)
        self.device = resolve_device(cfg.device)
        self.nondeterministic = self.device.startswith("cuda")
        check_model_source(cfg.agent_id())
        self._train_bank = load_question_bank("train")
        self.pool = build_elicitation_pool(cfg.elicit_max_scenarios_per_dim, cfg.train_formats, self._train_bank)
        self.panel: ProxyPanel | HistoryPanel = (
            ProxyPanel(cfg, self.pool) if cfg.humans == "proxies" else HistoryPanel(cfg, self.pool)
        )
        self.evaluator = self.panel.evaluator
        self.timings: list[dict[str, Any]] = []
        """One dict per live (not replayed) call: call, century, seconds of training and measuring."""
        self.stats = {"dpo_updates": 0, "sft_updates": 0, "evaluations": 0, "replayed_calls": 0}
        self._episode = -1
        self._rng: np.random.Generator | None = None
        self._history: History | None = None
        self._journal: EpisodeJournal | None = None
        self._century = 1
        self._model_values = np.zeros(MORAL19.dim)
        self._sim_values = np.zeros(MORAL19.dim)
        self._agent: tuple[Any, Any] | None = None
        self._sim: tuple[Any, Any] | None = None
        self._agent_adapters: list[Path] = []
        self._sim_adapters: list[Path] = []
        self._examinee: ExamineeSession | None = None
        self._current: dict[str, dict[str, Any] | None] = {"model": None, "simulated": None}
        """The evaluation summary behind the current model and simulated vectors (standard errors, both
        aggregations, position diagnostics); ``_steps`` keeps one per step for the episode record."""
        self._steps: dict[str, list[dict[str, Any] | None]] = {"initial": [], "model": [], "simulated": []}
        self._simulates = False  # whether this episode has a simulated human (PG-Coevolve)

    # -- histories ----------------------------------------------------------------------------

    def models_history(self) -> History:
        """The nine proxies' measured vectors as a moral19 history (cached on disk)."""
        return self.panel.history()

    def history_source(self, name: str) -> HistorySource | None:
        """``"models"``: the proxies' measured history (:meth:`models_history`); None for other names."""
        return FixedHistory(self.models_history()) if name == "models" else None

    @property
    def capacity(self) -> float:
        """The nominal logit shift of a full-strength update that agents plan with (the surrogate's default).

        The DPO update's real effect depends on the model and its training settings; agents use this
        only to scale the action they ask for.
        """
        return DEFAULT_CAPACITY

    def steering_shift(self, goal: np.ndarray, t: int) -> np.ndarray | None:
        """None: an LLM's SFT update of the simulated human cannot be inverted."""
        return None

    def _agent_initial_values(self) -> np.ndarray:
        """M_0: the century-13 proxy's vector, or the agent model's (content-keyed cache, measured once)."""
        cfg = self.config
        if cfg.humans == "proxies" and cfg.agent_id() == cfg.proxy_ids()[0]:
            self._current["model"] = self._proxy_summary(0)
            return self.models_history().values[0].copy()
        values, summary = self.panel.model_measurement(cfg.agent_id())
        self._current["model"] = summary
        return values

    def _proxy_summary(self, t: int) -> dict[str, Any] | None:
        """The evaluation summary of proxy ``t`` from the measured history's provenance (None if absent)."""
        measurements = self.models_history().provenance.get("measurements") or []
        return measurements[t] if t < len(measurements) else None

    # -- protocol -------------------------------------------------------------------------------

    def reset(self, history: History, rng: np.random.Generator, *, simulate_human: bool) -> None:
        """Start an episode: models back to their starting checkpoints; open (or replay) the checkpoint."""
        if tuple(history.dims) != MORAL19.dims:
            raise ConfigError(
                f"the llm backend measures models on the 19 moral19 dims, but the history is in "
                f"{history.value_space.name!r} ({history.dim} dims); use history='models' (the proxies' "
                "measured vectors) or a moral19 trajectory file"
            )
        panel = self.panel
        by_history = isinstance(panel, HistoryPanel)
        if isinstance(panel, HistoryPanel):
            panel.bind(history)  # the humans answer from this history's vectors: no proxy model
            measured = history
        else:
            n_proxies = len(self.config.proxy_ids())
            if history.num_steps != n_proxies:
                raise ConfigError(
                    f"the history has {history.num_steps} time steps but the llm backend has {n_proxies} proxies"
                )
            measured = self.models_history()
        if not by_history and history_digest(history) != history_digest(measured):
            warnings.warn(
                "the env's history is not the one measured from this backend's proxies: rewards are scored "
                "against it while observations and Coevolve's history pull come from the proxies",
                stacklevel=2,
            )
        self._rng = rng
        self._history = history
        episode = self._episode + 1  # counted once the episode has started (a failed reset can be retried)
        self._century = 1
        self._agent = self._sim = None
        self._agent_adapters, self._sim_adapters = [], []
        self._model_values = self._agent_initial_values()
        if by_history:  # the simulated human starts as the agent's starting model (there is no proxy)
            self._sim_values = self._model_values.copy()
            self._current["simulated"] = self._current["model"]
        else:
            self._sim_values = measured.values[0].copy()
            self._current["simulated"] = self._proxy_summary(0)
        self._steps = {"initial": [self._current["model"]], "model": [], "simulated": [self._current["simulated"]]}
        self._simulates = bool(simulate_human)
        self._journal = None
        if self._examinee is not None:
            self._examinee.reset()
        if self.config.run_dir is not None:
            header = {
                "config_fingerprint": self.config.fingerprint(),
                "history_sha256": history_digest(history),
                "simulate_human": bool(simulate_human),
                "rng_at_reset": rng_state(rng),
                "episode": episode,
                "agent_initial_values": self._model_values.tolist(),
            }
            folder = Path(self.config.run_dir) / f"episode-{episode:04d}"
            self._journal = EpisodeJournal(folder, header)
            self.config.save_json(Path(self.config.run_dir) / "llm_config.json")
        self._episode = episode

    @property
    def model_values(self) -> np.ndarray:
        return self._model_values

    @property
    def simulated_values(self) -> np.ndarray:
        return self._sim_values

    def update_model(self, action: np.ndarray) -> np.ndarray:
        """One century's DPO update (no update for an all-zero action); returns the measured vector.

        In examinee mode the action is the examinee's model (:meth:`ExamineeSession.update`).
        """
        if self._examinee is not None:
            return self._examinee.update(action)
        rng = self._require_rng()
        t = self._century
        self._century += 1
        args = {"century": t, "action_sha256": action_digest(action)}
        entry = self._replay("update_model", args)
        if entry is not None:
            self._model_values = np.array(entry["result"]["model_values"], dtype=np.float64)
            self._current["model"] = entry["result"].get("measurement", self._current["model"])
            self._steps["model"].append(self._current["model"])
            self._agent_adapters += [self._journal.folder / rel for rel in entry["adapters"]]  # type: ignore[union-attr]
            self._agent = None if entry["adapters"] else self._agent
            return self._model_values
        before = rng_state(rng)
        adapters: list[str] = []
        timing: dict[str, float] = {}
        if np.any(action):
            from progressgym_env.evaluator.choosers.encoding import PromptEncoder
            from progressgym_env.llm.dpo_update import dpo_update
            from progressgym_env.llm.preference_data import build_preference_pairs, dpo_rows

            cfg = self.config
            pairs = build_preference_pairs(self._train_bank, action, cfg.pairs_per_unit, rng, cfg.train_formats)
            seed = int(rng.integers(_SEED_HIGH))
            model, tokenizer = self._agent_model()
            adapter_dir = self._journal.adapter_dir(t, "agent") if self._journal else None
            model, stats = dpo_update(
                model, tokenizer, dpo_rows(pairs, PromptEncoder(tokenizer)), cfg,
                device=self.device, seed=seed, adapter_dir=adapter_dir, in_order=True,
            )
            self._agent = (model, tokenizer)
            self.stats["dpo_updates"] += 1
            start = time.perf_counter()
            self._model_values = self._measure(model, tokenizer)
            timing = {"dpo_s": stats.seconds, "eval_s": time.perf_counter() - start, "dpo_steps": stats.steps,
                      "pairs": stats.examples, "pairs_trained": stats.trained, "pairs_cut": stats.cut}
            if adapter_dir is not None:
                self._agent_adapters.append(adapter_dir)
                adapters.append(self._journal.relative(adapter_dir))  # type: ignore[union-attr]
            self.timings.append({"call": "update_model", "century": t, **timing})
        self._steps["model"].append(self._current["model"])
        result = {"model_values": self._model_values.tolist(), "measurement": self._current["model"]}
        self._record("update_model", args, before, result, adapters, timing)
        return self._model_values

    def update_simulated_human(self, t: int) -> np.ndarray:
        """S_t: SFT on proxy t's answers, then on the agent model's answers; returns the measured vector."""
        rng = self._require_rng()
        args = {"century": int(t)}
        entry = self._replay("update_simulated_human", args)
        if entry is not None:
            self._sim_values = np.array(entry["result"]["simulated_values"], dtype=np.float64)
            self._current["simulated"] = entry["result"].get("measurement", self._current["simulated"])
            self._steps["simulated"].append(self._current["simulated"])
            self._sim_adapters += [self._journal.folder / rel for rel in entry["adapters"]]  # type: ignore[union-attr]
            self._sim = None if entry["adapters"] else self._sim
            return self._sim_values
        from progressgym_env.evaluator.choosers.encoding import PromptEncoder
        from progressgym_env.evaluator.choosers.loglik import LogLikelihoodChooser
        from progressgym_env.llm.sft_update import answer_rows, sample_choices, sft_update

        cfg = self.config
        before = rng_state(rng)
        model, tokenizer = self._sim_model()
        encoder = PromptEncoder(tokenizer)
        adapters: list[str] = []
        timing: dict[str, float] = {}
        pulls = (("sim-history", cfg.sft_history_epochs), ("sim-ai", cfg.sft_ai_epochs))
        for role, epochs in pulls:
            idx = rng.integers(len(self.pool.questions), size=cfg.sft_questions)
            questions = [self.pool.questions[int(i)] for i in idx]
            if role == "sim-history":
                probs = [p[: q.n_options] for p, q in zip(self.panel.probs()[t][idx], questions)]
            else:
                agent, agent_tok = self._agent_model()
                probs = LogLikelihoodChooser(agent, agent_tok, batch_size=cfg.evaluator.batch_size)(questions)
            choices = sample_choices(rng, probs)
            seed = int(rng.integers(_SEED_HIGH))
            adapter_dir = self._journal.adapter_dir(t, role) if self._journal and epochs > 0 else None
            model, stats = sft_update(
                model, tokenizer, answer_rows(questions, choices.tolist(), encoder), cfg,
                epochs=epochs, device=self.device, seed=seed, adapter_dir=adapter_dir,
            )
            self.stats["sft_updates"] += int(stats.steps > 0)
            timing[f"{role}_s"] = stats.seconds
            if adapter_dir is not None:
                self._sim_adapters.append(adapter_dir)
                adapters.append(self._journal.relative(adapter_dir))  # type: ignore[union-attr]
        self._sim = (model, tokenizer)
        start = time.perf_counter()
        self._sim_values = self._measure(model, tokenizer, role="simulated")
        timing["eval_s"] = time.perf_counter() - start
        self.timings.append({"call": "update_simulated_human", "century": int(t), **timing})
        self._steps["simulated"].append(self._current["simulated"])
        self._record("update_simulated_human", args, before,
                     {"simulated_values": self._sim_values.tolist(), "measurement": self._current["simulated"]},
                     adapters, timing)
        return self._sim_values

    def elicit(self, t: int, budget: int | None, *, simulated: bool = False) -> tuple[np.ndarray, int]:
        """Sampled answers of proxy ``t`` or of the simulated human -> per-dim estimate.

        In examinee mode: the century's judged pairs and their estimate (:meth:`ExamineeSession.elicit`).
        """
        if self._examinee is not None:
            return self._examinee.elicit(t, budget, simulated=simulated)
        rng = self._require_rng()
        if budget is None:
            exact = self._sim_values if simulated else self._history.values[t]  # type: ignore[union-attr]
            return np.array(exact, dtype=np.float64), 0
        # The journal names the respondent as before ("history" / "simulated"), so old runs resume.
        args = {"respondent": "simulated" if simulated else "history", "century": int(t), "budget": int(budget)}
        entry = self._replay("elicit", args)
        if entry is not None:
            return np.array(entry["result"]["estimate"], dtype=np.float64), int(entry["result"]["queries"])
        before = rng_state(rng)
        picks = draw_queries(rng, self.pool, split_queries(int(budget), MORAL19.dim))
        if not simulated:
            table = self.panel.probs()[t]

            def probs_of(idx: np.ndarray) -> np.ndarray:
                return table[idx]
        else:
            from progressgym_env.evaluator.choosers.loglik import LogLikelihoodChooser

            model, tokenizer = self._sim_model()
            chooser = LogLikelihoodChooser(model, tokenizer, batch_size=self.config.evaluator.batch_size)

            def probs_of(idx: np.ndarray) -> np.ndarray:
                return pad_probs(chooser([self.pool.questions[int(i)] for i in idx]))

        estimate = answer_shares(rng, self.pool, picks, probs_of)
        self._record("elicit", args, before, {"estimate": estimate.tolist(), "queries": int(budget)})
        return estimate, int(budget)

    def config_dict(self) -> dict[str, Any]:
        """The settings, plus this episode's per-step ``measurements`` (see :meth:`episode_measurements`)."""
        return {"backend": self.name, **self.config.to_dict(), "measurements": self.episode_measurements()}

    # -- examinee mode (the ExamineeBackend protocol; see progressgym_env.llm.examinee) --------------

    def examinee_action_space(self) -> ModelUpdate:
        """Switch this backend to examinee mode and return its action space (models as actions)."""
        if self._examinee is None:
            self._examinee = ExamineeSession(self)
        return self._examinee.space

    def observation_extras(self) -> dict[str, Any]:
        """The info entries of the last elicitation: ``{"preferences": Dataset}`` in examinee mode, else ``{}``."""
        extras = self._examinee.observation_extras() if self._examinee is not None else {}
        return {**self.measurement_info(), **extras}

    def agent_model(self, initial: bool = False) -> tuple[Any, Any]:
        """A copy of the agent's current (or starting) model and its tokenizer (examinee mode)."""
        self._require_rng()
        return self._require_examinee().agent_model(initial)

    def query_human(self, questions: Any, budget: int | None, *, simulated: bool = False) -> list[np.ndarray]:
        """The century respondent's choice probabilities on free-form questions (examinee mode)."""
        self._require_rng()
        return self._require_examinee().query_human(questions, budget, simulated)

    def recorded_update(self) -> RecordedUpdate | None:
        """The update recorded for the coming century by an earlier run (examinee mode; None: live)."""
        return self._require_examinee().recorded_update()

    def _require_examinee(self) -> ExamineeSession:
        if self._examinee is None:
            raise ConfigError("this needs examinee mode: make the env with interface='examinee'")
        return self._examinee

    def close(self) -> None:
        """Drop the models (and free GPU memory)."""
        from progressgym_env.llm.proxies import _free_accelerator_memory, model_weight_bytes

        dropped = sum(model_weight_bytes(pair[0]) for pair in (self._agent, self._sim) if pair is not None)
        self._agent = self._sim = None
        self._rng = None
        _free_accelerator_memory(dropped)

    # -- helpers --------------------------------------------------------------------------------

    def _require_rng(self) -> np.random.Generator:
        if self._rng is None:
            from progressgym_env.errors import EpisodeOrderError

            raise EpisodeOrderError("LLMBackend: call reset() before updating or eliciting")
        return self._rng

    def _replay(self, call: str, args: dict[str, Any]) -> dict[str, Any] | None:
        if self._journal is None:
            return None
        entry = self._journal.replay(call, args, self._require_rng())
        if entry is not None:
            self.stats["replayed_calls"] += 1
        return entry

    def _record(
        self,
        call: str,
        args: dict[str, Any],
        rng_before: dict[str, Any],
        result: dict[str, Any],
        adapters: list[str] | None = None,
        timings: dict[str, float] | None = None,
    ) -> None:
        if self._journal is not None:
            self._journal.append(call, args, rng_before, self._require_rng(), result, adapters, timings)

    def _load(self, source: str, adapters: list[Path]) -> tuple[Any, Any]:
        model, tokenizer = load_causal_lm(source, device=self.device, dtype=self.config.dtype)
        if adapters:
            model = apply_adapters(model, adapters)
        return model, tokenizer

    def _agent_model(self) -> tuple[Any, Any]:
        """The agent's model, loading the base and merging recorded adapters when needed."""
        if self._agent is None:
            base = self._examinee.agent_base if self._examinee is not None else self.config.agent_id()
            self._agent = self._load(base, self._agent_adapters)
        return self._agent

    def _sim_model(self) -> tuple[Any, Any]:
        """The simulated human's model (the century-13 proxy plus its recorded adapters)."""
        if self._sim is None:
            start = self.config.proxy_ids()[0] if self.config.humans == "proxies" else self.config.agent_id()
            self._sim = self._load(start, self._sim_adapters)
        return self._sim

    def _measure(self, model: Any, tokenizer: Any, role: str = "model") -> np.ndarray:
        """Evaluate a model; keep its summary (standard errors, both aggregations, position) as ``role``'s current."""
        from progressgym_env.errors import EvaluationError
        from progressgym_env.evaluator.choosers.loglik import LogLikelihoodChooser

        self.stats["evaluations"] += 1
        chooser = LogLikelihoodChooser(model, tokenizer, batch_size=self.config.evaluator.batch_size)
        result = self.evaluator.evaluate_detailed(chooser)
        if not np.isfinite(result.values).all():
            raise EvaluationError(f"the {role} model left some dims without an answered scenario "
                                  f"({result.n_refused} of {result.n_questions} questions refused)")
        self._current[role] = result.summary()
        return np.asarray(result.values, dtype=np.float64)

    def measurement_info(self) -> dict[str, Any]:
        """``info`` entries of the current measurements: per-dim standard errors, the other aggregation, flags.

        ``model_stderr`` (19,), ``model_values_progressgym`` (19,), ``position_flags`` (format ->
        ``{"position_driven": bool, "collapsed": bool}`` as numpy bools); Coevolve adds the same for ``simulated``. Empty before anything
        was measured (e.g. a replayed run recorded before measurements were kept).
        """
        out: dict[str, Any] = {}
        for role, summary in self._current.items():
            if not summary or (role == "simulated" and not self._simulates):
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

    def episode_measurements(self) -> dict[str, Any]:
        """Per-step evaluation summaries of this episode: ``initial`` (M_0), ``model`` (M_1..), ``simulated`` (S_1..).

        Each summary holds both aggregations' vectors and standard errors and the position diagnostics;
        :func:`progressgym_env.llm.measure.record_in_aggregation` uses them to rescore a record.
        """
        simulated = list(self._steps["simulated"]) if self._simulates else []
        return {"initial": list(self._steps["initial"]), "model": list(self._steps["model"]), "simulated": simulated}
