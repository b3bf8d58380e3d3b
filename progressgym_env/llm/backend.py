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
from progressgym_env.errors import ConfigError, EpisodeOrderError
from progressgym_env.evaluator.bank import load_question_bank
from progressgym_env.history import FixedHistory, History, HistorySource
from progressgym_env.llm.checkpoint import EpisodeJournal, action_digest, history_digest, rng_state
from progressgym_env.llm.config import LLMConfig
from progressgym_env.llm.examinee import GENERATE_MAX_NEW_TOKENS, ExamineeSession, RecordedUpdate
from progressgym_env.llm.measure import HistoryPanel, ProxyPanel
from progressgym_env.llm.measurements import Measurements
from progressgym_env.llm.model_loading import check_hub_source, check_model_source, resolve_device
from progressgym_env.llm.models import ModelStore
from progressgym_env.llm.proxies import answer_shares, build_elicitation_pool, draw_queries, pad_probs
from progressgym_env.llm.replay import Replay
from progressgym_env.llm.spaces import ModelUpdate
from progressgym_env.llm.trainer import UpdateTrainer
from progressgym_env.llm.training import check_llm_trainer_args
from progressgym_env.value_spaces import MORAL19


class LLMBackend:
    """Backend whose models are HF causal LMs updated with TRL (DPO for the agent, SFT for Coevolve's human).

    The backend is the episode's *timeline*: it keeps the century, the generator and the current
    vectors, and routes each call of the backend protocol to its parts, which talk to each other only
    through their public methods:

    - :class:`~progressgym_env.llm.models.ModelStore` (``models``): which models exist and how they are
      rebuilt (base checkpoint + adapters), loaded lazily;
    - :class:`~progressgym_env.llm.replay.Replay` (``replay``): answers a call from the checkpoint
      journal or records a live one;
    - :class:`~progressgym_env.llm.trainer.UpdateTrainer` (``trainer``): the DPO and SFT updates;
    - :class:`~progressgym_env.llm.measurements.Measurements` (``measurements``): measuring a model and
      the summary behind every reported vector;
    - in examinee mode, :class:`~progressgym_env.llm.examinee.ExamineeSession` (``examinee``), which takes
      over ``elicit`` and ``update_model`` (judged pairs in, handed-back models out).

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
        self.train_bank = load_question_bank("train")
        self.pool = build_elicitation_pool(cfg.elicit_max_scenarios_per_dim, cfg.train_formats, self.train_bank)
        self.panel: ProxyPanel | HistoryPanel = (
            ProxyPanel(cfg, self.pool) if cfg.humans == "proxies" else HistoryPanel(cfg, self.pool)
        )
        self.evaluator = self.panel.evaluator
        self.models = ModelStore(cfg, self.device)
        self.replay = Replay()
        self.measurements = Measurements(self.evaluator, cfg.evaluator.batch_size)
        self.trainer = UpdateTrainer(cfg, self.device, self.train_bank, self.pool, self._proxy_probs)
        self.examinee: ExamineeSession | None = None
        """The examinee-mode part, once an env asked for ``interface="examinee"`` (None: vector mode)."""
        self.timings: list[dict[str, Any]] = []
        """One dict per live (not replayed) call: call, century, seconds of training and measuring."""
        self._episode = -1
        self._rng: np.random.Generator | None = None
        self._history: History | None = None
        self._century = 1
        self._model_values = np.zeros(MORAL19.dim)
        self._sim_values = np.zeros(MORAL19.dim)

    @property
    def stats(self) -> dict[str, int]:
        """Counters over the backend's life: DPO and SFT updates, models measured, calls replayed."""
        return {"dpo_updates": self.trainer.dpo_updates, "sft_updates": self.trainer.sft_updates,
                "evaluations": self.measurements.evaluations, "replayed_calls": self.replay.replayed_calls}

    @property
    def century(self) -> int:
        """The index of the century the next ``update_model`` acts on (1 after ``reset``)."""
        return self._century

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

    def _proxy_probs(self, t: int) -> np.ndarray:
        """Proxy ``t``'s cached (n_pool, 4) choice probabilities on the elicitation pool."""
        return self.panel.probs()[t]

    def _agent_initial(self) -> tuple[np.ndarray, dict[str, Any] | None]:
        """M_0 and its summary: the century-13 proxy's vector, or the agent model's (content-keyed cache)."""
        cfg = self.config
        if cfg.humans == "proxies" and cfg.agent_id() == cfg.proxy_ids()[0]:
            return self.models_history().values[0].copy(), self._proxy_summary(0)
        return self.panel.model_measurement(cfg.agent_id())

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
            if history.num_centuries != n_proxies:
                raise ConfigError(
                    f"the history has {history.num_centuries} time steps but the llm backend has {n_proxies} proxies"
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
        self.models.reset()
        self._model_values, model_summary = self._agent_initial()
        if by_history:  # the simulated human starts as the agent's starting model (there is no proxy)
            self._sim_values, sim_summary = self._model_values.copy(), model_summary
        else:
            self._sim_values, sim_summary = measured.values[0].copy(), self._proxy_summary(0)
        self.measurements.reset(model_summary, sim_summary, simulates=bool(simulate_human))
        self.replay.start(None, rng)  # no journal until this episode's opens (a refused one leaves none)
        journal = None
        if self.config.run_dir is not None:
            header = {
                "config_fingerprint": self.config.fingerprint(),
                "history_sha256": history_digest(history),
                "simulate_human": bool(simulate_human),
                "rng_at_reset": rng_state(rng),
                "episode": episode,
                "agent_initial_values": self._model_values.tolist(),
            }
            journal = EpisodeJournal(Path(self.config.run_dir) / f"episode-{episode:04d}", header)
            self.config.save_json(Path(self.config.run_dir) / "llm_config.json")
        self.replay.start(journal, rng)
        if self.examinee is not None:
            self.examinee.reset()
        self._episode = episode

    @property
    def model_values(self) -> np.ndarray:
        return self._model_values

    @property
    def simulated_values(self) -> np.ndarray:
        return self._sim_values

    def update_model(self, action: Any) -> np.ndarray:
        """One century's update; returns the measured vector.

        Vector mode: a DPO update for the action (none for an all-zero action). Examinee mode: the
        action is the examinee's model (:meth:`ExamineeSession.update`).
        """
        rng = self._require_rng()
        if self.examinee is not None:
            self.examinee.check_action(action)  # a refused action leaves the century to retry
        t = self._century
        self._century += 1
        if self.examinee is not None:
            self._model_values, timing = self.examinee.update(action, t, self._model_values)
        else:
            self._model_values, timing = self._dpo_century(action, t, rng)
        if timing:
            self.timings.append({"call": "update_model", "century": t, **timing})
        return self._model_values

    def _dpo_century(self, action: np.ndarray, t: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        """Vector mode's century: replayed, or trained and measured live and journaled."""
        args = {"century": t, "action_sha256": action_digest(action)}
        entry = self.replay.replay("update_model", args)
        if entry is not None:
            self.measurements.close_step("model", entry["result"].get("measurement"))
            self.models.replayed_agent_adapters([self.replay.resolve(rel) for rel in entry["adapters"]])
            return np.array(entry["result"]["model_values"], dtype=np.float64), {}
        before = self.replay.rng_state()
        values, timing, adapters = self._model_values, {}, []
        if np.any(action):
            model, tokenizer = self.models.agent()
            trained = self.trainer.train_agent(model, tokenizer, action, rng, self.replay.adapter_dir(t, "agent"))
            self.models.set_agent((trained.model, tokenizer))
            start = time.perf_counter()
            values = self.measurements.measure(trained.model, tokenizer)
            timing = {"dpo_s": trained.timing["dpo_s"], "eval_s": time.perf_counter() - start,
                      **{k: v for k, v in trained.timing.items() if k != "dpo_s"}}
            for folder in trained.adapters:
                self.models.add_agent_adapter(folder)
                adapters.append(self.replay.relative(folder))
        measurement = self.measurements.close_step("model")
        self.replay.record("update_model", args, before, {"model_values": values.tolist(), "measurement": measurement},
                           adapters, timing)
        return values, timing

    def update_simulated_human(self, t: int) -> np.ndarray:
        """S_t: SFT on proxy t's answers, then on the agent model's answers; returns the measured vector."""
        rng = self._require_rng()
        args = {"century": int(t)}
        entry = self.replay.replay("update_simulated_human", args)
        if entry is not None:
            self._sim_values = np.array(entry["result"]["simulated_values"], dtype=np.float64)
            self.measurements.close_step("simulated", entry["result"].get("measurement"))
            self.models.replayed_simulated_adapters([self.replay.resolve(rel) for rel in entry["adapters"]])
            return self._sim_values
        before = self.replay.rng_state()
        model, tokenizer = self.models.simulated()
        trained = self.trainer.train_simulated(model, tokenizer, int(t), rng, self.models.agent,
                                               lambda role: self.replay.adapter_dir(int(t), role))
        adapters = []
        for folder in trained.adapters:
            self.models.add_simulated_adapter(folder)
            adapters.append(self.replay.relative(folder))
        self.models.set_simulated((trained.model, tokenizer))
        start = time.perf_counter()
        self._sim_values = self.measurements.measure(trained.model, tokenizer, role="simulated")
        timing = {**trained.timing, "eval_s": time.perf_counter() - start}
        self.timings.append({"call": "update_simulated_human", "century": int(t), **timing})
        measurement = self.measurements.close_step("simulated")
        self.replay.record("update_simulated_human", args, before,
                           {"simulated_values": self._sim_values.tolist(), "measurement": measurement},
                           adapters, timing)
        return self._sim_values

    def elicit(self, t: int, budget: int | None, *, simulated: bool = False) -> tuple[np.ndarray, int]:
        """Sampled answers of proxy ``t`` or of the simulated human -> per-dim estimate.

        In examinee mode: the century's judged pairs and their estimate (:meth:`ExamineeSession.elicit`).
        """
        rng = self._require_rng()
        if self.examinee is not None:
            calendar = int(self._history.centuries[t]) if self._history is not None else 13 + int(t)
            return self.examinee.elicit(t, budget, simulated=simulated, rng=rng, calendar_century=calendar)
        if budget is None:
            exact = self._sim_values if simulated else self._history.values[t]  # type: ignore[union-attr]
            return np.array(exact, dtype=np.float64), 0
        # The journal names the respondent as before ("history" / "simulated"), so old runs resume.
        args = {"respondent": "simulated" if simulated else "history", "century": int(t), "budget": int(budget)}
        entry = self.replay.replay("elicit", args)
        if entry is not None:
            return np.array(entry["result"]["estimate"], dtype=np.float64), int(entry["result"]["queries"])
        before = self.replay.rng_state()
        picks = draw_queries(rng, self.pool, split_queries(int(budget), MORAL19.dim))
        if not simulated:
            table = self._proxy_probs(t)

            def probs_of(idx: np.ndarray) -> np.ndarray:
                return table[idx]
        else:
            from progressgym_env.evaluator.choosers.loglik import LogLikelihoodChooser

            model, tokenizer = self.models.simulated()
            chooser = LogLikelihoodChooser(model, tokenizer, batch_size=self.config.evaluator.batch_size)

            def probs_of(idx: np.ndarray) -> np.ndarray:
                return pad_probs(chooser([self.pool.questions[int(i)] for i in idx]))

        estimate = answer_shares(rng, self.pool, picks, probs_of)
        self.replay.record("elicit", args, before, {"estimate": estimate.tolist(), "queries": int(budget)})
        return estimate, int(budget)

    def config_dict(self) -> dict[str, Any]:
        """The settings, plus this episode's per-step ``measurements`` (see :meth:`episode_measurements`)."""
        return {"backend": self.name, **self.config.to_dict(), "measurements": self.episode_measurements()}

    # -- examinee mode (the ExamineeBackend protocol; see progressgym_env.llm.examinee) --------------

    def examinee_action_space(self) -> ModelUpdate:
        """Switch this backend to examinee mode and return its action space (models as actions)."""
        if self.examinee is None:
            self.examinee = ExamineeSession(self.config, self.pool, self.train_bank, self._proxy_probs,
                                            self.models, self.replay, self.measurements)
        return self.examinee.space

    def observation_extras(self) -> dict[str, Any]:
        """The info entries of the last elicitation: ``{"preferences": Dataset}`` in examinee mode, else ``{}``."""
        extras = self.examinee.observation_extras() if self.examinee is not None else {}
        return {**self.measurement_info(), **extras}

    def agent_model(self, initial: bool = False) -> tuple[Any, Any]:
        """A copy of the agent's current (or starting) model and its tokenizer (examinee mode)."""
        self._require_rng()
        return self._require_examinee().agent_model(initial)

    def query_human(
        self,
        questions: Any,
        budget: int | None,
        *,
        simulated: bool = False,
        generate: bool = False,
        max_new_tokens: int = GENERATE_MAX_NEW_TOKENS,
    ) -> list[Any]:
        """The century respondent's answers to free-form queries (examinee mode), at most ``budget`` per century.

        ``generate=False``: ``questions`` are multiple-choice questions and the answers their choice
        probabilities. ``generate=True``: ``questions`` are prompt strings and the answers the text the
        respondent's model generates (sampled, seeded from the episode's generator; ``max_new_tokens`` caps
        each). Both kinds count against the same budget.

        :raises QueryBudgetError: the century's queries would exceed ``budget``.
        """
        rng = self._require_rng()
        session = self._require_examinee()
        if generate:
            return list(session.generate_human(questions, budget, simulated, rng, max_new_tokens))
        return list(session.query_human(questions, budget, simulated))

    def recorded_update(self) -> RecordedUpdate | None:
        """The update recorded for the coming century by an earlier run (examinee mode; None: live)."""
        return self._require_examinee().recorded_update(self._century)

    def _require_examinee(self) -> ExamineeSession:
        if self.examinee is None:
            raise ConfigError("this needs examinee mode: make the env with interface='examinee'")
        return self.examinee

    def close(self) -> None:
        """Drop the models (and free GPU memory)."""
        self.models.close()
        self._rng = None

    # -- helpers --------------------------------------------------------------------------------

    def _require_rng(self) -> np.random.Generator:
        if self._rng is None:
            raise EpisodeOrderError("LLMBackend: call reset() before updating or eliciting")
        return self._rng

    def measurement_info(self) -> dict[str, Any]:
        """``info`` entries of the current measurements (see :meth:`Measurements.info`)."""
        return self.measurements.info()

    def episode_measurements(self) -> dict[str, Any]:
        """Per-step evaluation summaries of this episode: ``initial`` (M_0), ``model`` (M_1..), ``simulated`` (S_1..).

        :func:`progressgym_env.llm.measure.record_in_aggregation` uses them to rescore a record
        (see :meth:`Measurements.episode`).
        """
        return self.measurements.episode()
