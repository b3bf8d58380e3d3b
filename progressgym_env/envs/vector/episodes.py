"""The step of N sub-envs as array operations: actions → models → rewards → observations.

The single env's timeline (``progressgym_env/envs/base.py``), for rows of sub-envs at once: a reset
sets the model (and the simulated human) to H_0 and observes century 1; a step applies the actions
with the surrogate's physics (:mod:`progressgym_env.backends.physics`), moves the simulated human
where the judge has one, scores with the judge, then observes the next century or, at the judge's
last step, terminates with the scores. The judge answers everything that differs per challenge
(target, simulated human, episode length, scores), so this module never asks which challenge it runs.
"""

from __future__ import annotations

import numpy as np

from progressgym_env.backends.calibration import load_calibration
from progressgym_env.backends.physics import moves_model, pulled_logits, updated_logits
from progressgym_env.envs.vector.draws import SubEnvGenerators
from progressgym_env.envs.vector.estimates import BatchElicitation
from progressgym_env.envs.vector.layout import Infos, put
from progressgym_env.envs.vector.records import BatchRecords
from progressgym_env.envs.vector.rows import Century, Rows, at, lockstep, store
from progressgym_env.envs.vector.settings import VectorSettings
from progressgym_env.envs.vector.state import BatchState, Draw, Histories
from progressgym_env.judges import FIRST_SCORED_STEP, Judge
from progressgym_env.numerics import sigmoid


class BatchEpisodes:
    """The running episodes of N sub-envs: resets and steps rows of them, writing observations and infos.

    :param settings: the vector env's settings.
    :param histories: the sub-envs' histories (the judge scores against the same arrays).
    :param judge: the challenge's judge on ``histories.human`` (N, T, d).
    :param generators: exact mode's per-sub-env generators (unused in fast mode).
    :param fast: whether one batch generator draws for every row (then passed to each call).
    """

    def __init__(
        self, settings: VectorSettings, histories: Histories, judge: Judge, generators: SubEnvGenerators, fast: bool
    ) -> None:
        n = histories.human.shape[0]
        self.settings = settings
        self.histories = histories
        self.judge = judge
        self.generators = generators
        self.simulates = judge.simulates_human
        self.state = BatchState(n, settings.num_centuries, settings.dim, judge.episode_length, settings.obs_history, self.simulates)
        self.elicitation = BatchElicitation(settings, fast, self.simulates)
        self.records = BatchRecords(settings, n, dict(judge.params), self.simulates)
        cfg = settings.config
        self.response = None if cfg.calibration is None else load_calibration(cfg.calibration)
        """A calibrated physics (:mod:`progressgym_env.backends.calibration`), or None: the default one."""
        self.pulls = (cfg.history_pull, cfg.ai_pull) if self.response is None else (
            self.response.history_pull, self.response.ai_pull)
        self._progress_scale = 1.0 / (settings.num_centuries - 1)
        self._noise_buffer = np.empty((n, settings.dim))

    def _draw(self, batch_rng: np.random.Generator | None) -> Draw:
        """The generator of sub-env i: the batch one in fast mode, its own in exact mode."""
        if batch_rng is not None:
            return lambda i: batch_rng
        return self.generators.__getitem__

    # -- reset ------------------------------------------------------------------------------------

    def reset_rows(self, rows: Rows, obs: np.ndarray, infos: Infos, batch_rng: np.random.Generator | None) -> None:
        """Start new episodes in ``rows``: model (and simulated human) = H_0, observe century 1."""
        if not self.histories.fixed:
            values, sampled = self.histories.sample(rows, batch_rng, self._draw(batch_rng))
            if sampled:
                self.records.sampled(rows, sampled)
            self.judge.set_histories(rows.sel, values)
        state, histories, sel, d = self.state, self.histories, rows.sel, self.settings.dim
        if self.response is not None:
            self.response.check_states(histories.logits)
        start = histories.human[sel, 0]
        state.model_logits[sel] = histories.logits[sel, 0]
        state.model_values[sel] = start
        if self.simulates:
            state.sim_logits[sel] = histories.logits[sel, 0]
            state.sim_values[sel] = start
            state.simulated[sel, 0] = start
        t = FIRST_SCORED_STEP
        state.t[sel] = t
        truth = state.sim_values[sel] if self.simulates else histories.human[sel, t]
        estimate, queries = self.elicitation.observe(rows, t, truth, batch_rng, self.generators)
        state.estimate[sel] = estimate
        obs[sel, :d] = estimate
        obs[sel, d : 2 * d] = state.model_values[sel]
        obs[sel, 2 * d] = t * self._progress_scale
        if self.settings.obs_history > 1:
            state.past[sel] = estimate[:, None, :]
            obs[sel, 2 * d + 1 :] = state.past[sel].reshape(rows.count, -1)
        put(infos, "human_values", rows, np.array(truth))
        put(infos, "model_values", rows, state.model_values[sel].copy())
        put(infos, "century", rows, np.array(histories.centuries[sel, t]))
        put(infos, "queries", rows, np.full(rows.count, queries, dtype=np.int64))
        put(infos, "target_values", rows, np.array(self._targets(rows, t)))  # the first step's
        _put_no_scores(infos, rows)
        if self.simulates:
            put(infos, "simulated_human_values", rows, state.sim_values[sel].copy())

    # -- step -------------------------------------------------------------------------------------

    def step_rows(
        self,
        rows: Rows,
        actions: np.ndarray,
        obs: np.ndarray,
        rewards: np.ndarray,
        terminated: np.ndarray,
        infos: Infos,
        batch_rng: np.random.Generator | None,
    ) -> None:
        """One century for the sub-envs of ``rows``: update, pull, score, then observe or terminate."""
        state, histories, judge, cfg, sel = self.state, self.histories, self.judge, self.settings.config, rows.sel
        t_rows = state.t[sel]
        t = lockstep(t_rows)
        action = actions[sel]
        moving: np.ndarray = moves_model(action)  # type: ignore[assignment]  # (N, d) actions: a bool array
        old_logits = state.model_logits[sel]
        if self.response is None:
            noise = self._noise(rows, moving, batch_rng, cfg.finetune_noise_sd) if cfg.finetune_noise_sd > 0 else None
            logits = updated_logits(old_logits, action, cfg.capacity, noise)
        else:
            self.response.check_action(action)
            draws = self._noise(rows, moving, batch_rng, 1.0) if self.response.noisy else None
            logits = self.response.updated_logits(old_logits, action, draws)
        if moving.all():  # the usual case: every model updates, nothing to merge
            model = sigmoid(logits)
        else:  # an all-zero action is no update: those rows keep their model
            moved = moving[:, None]
            model = np.where(moved, sigmoid(logits), state.model_values[sel])
            logits = np.where(moved, logits, old_logits)
        state.keep("model_logits", rows, logits)
        state.keep("model_values", rows, model)
        simulated = None
        if self.simulates:
            sim = pulled_logits(
                state.sim_logits[sel], at(histories.logits, rows, t), logits, *self.pulls
            )
            simulated = sigmoid(sim)
            state.keep("sim_logits", rows, sim)
            state.keep("sim_values", rows, simulated)
            store(state.simulated, rows, t, simulated)
        target = self._targets(rows, t)
        reward = judge.step_rewards(target, model, simulated, rows=sel)
        store(state.models, rows, t - FIRST_SCORED_STEP, model)
        store(state.rewards, rows, t - FIRST_SCORED_STEP, reward)
        rewards[sel] = reward
        put(infos, "target_values", rows, np.array(target))
        put(infos, "model_values", rows, model.copy())
        put(infos, "century", rows, np.array(at(histories.centuries, rows, t)))
        if simulated is not None:
            put(infos, "simulated_human_values", rows, simulated.copy())

        last = judge.last_step
        if isinstance(t, int):  # every row at the same century (the usual lockstep)
            if t == last:
                self._terminate(rows, t, model, obs, terminated, infos)
            else:
                self._observe_next(rows, t, model, simulated, obs, infos, batch_rng)
            return
        done = t_rows == last
        if not done.any():
            self._observe_next(rows, t, model, simulated, obs, infos, batch_rng)
            return
        if done.all():
            self._terminate(rows, t, model, obs, terminated, infos)
            return
        going, ending = ~done, done
        going_sim = None if simulated is None else simulated[going]
        self._observe_next(rows.subset(going), t_rows[going], model[going], going_sim, obs, infos, batch_rng)
        self._terminate(rows.subset(ending), t_rows[ending], model[ending], obs, terminated, infos)

    def _targets(self, rows: Rows, t: Century) -> np.ndarray:
        """The judge's targets (count, d) of the steps at century ``t`` (per row when not in lockstep)."""
        if isinstance(t, int):
            return self.judge.target(t, rows.sel)
        targets = np.empty((rows.count, self.settings.dim))
        for century in np.unique(t).tolist():
            same = t == century
            targets[same] = self.judge.target(int(century), rows.index[same])
        return targets

    def _noise(self, rows: Rows, moving: np.ndarray, batch_rng: np.random.Generator | None, scale: float) -> np.ndarray:
        """Fine-tuning noise (count, d) in logits (standard normals times ``scale``); in exact mode drawn
        only for the sub-envs that update.

        Fast mode draws a step of every sub-env into one buffer kept between steps (it is only read
        by the model update, which returns a new array).
        """
        if batch_rng is None:
            noise = self.generators.normal(rows, moving, self.settings.dim)
        elif rows.full:
            noise = self._noise_buffer
            batch_rng.standard_normal(out=noise)
        else:
            noise = batch_rng.standard_normal((rows.count, self.settings.dim))
        noise *= scale
        return noise

    def _observe_next(
        self,
        rows: Rows,
        t: Century,
        model: np.ndarray,
        simulated: np.ndarray | None,
        obs: np.ndarray,
        infos: Infos,
        batch_rng: np.random.Generator | None,
    ) -> None:
        """Advance ``rows`` to century t + 1 and observe its respondents."""
        state, sel, d = self.state, rows.sel, self.settings.dim
        nxt = t + 1
        state.t[sel] = nxt
        truth = simulated if simulated is not None else at(self.histories.human, rows, nxt)
        estimate, queries = self.elicitation.observe(rows, nxt, truth, batch_rng, self.generators)
        if self.settings.obs_history > 1:  # the previous estimate moves into the memory
            past = state.past[sel]
            past[:, 1:] = past[:, :-1].copy()
            past[:, 0] = state.estimate[sel]
            state.past[sel] = past
            obs[sel, 2 * d + 1 :] = past.reshape(rows.count, -1)
        state.keep("estimate", rows, estimate)  # a fresh array from the elicitation
        obs[sel, :d] = estimate
        obs[sel, d : 2 * d] = model
        obs[sel, 2 * d] = nxt * self._progress_scale
        put(infos, "queries", rows, np.full(rows.count, queries, dtype=np.int64))
        put(infos, "human_values", rows, np.array(truth))
        _put_no_scores(infos, rows)

    def _terminate(
        self, rows: Rows, t: Century, model: np.ndarray, obs: np.ndarray, terminated: np.ndarray, infos: Infos
    ) -> None:
        """End the episodes of ``rows``: terminal observation, scores and (``record_in_info``) records."""
        state, judge, sel, d = self.state, self.judge, rows.sel, self.settings.dim
        terminated[sel] = True
        obs[sel, :d] = state.estimate[sel]
        obs[sel, d : 2 * d] = model
        obs[sel, 2 * d] = 1.0
        if self.settings.obs_history > 1:
            obs[sel, 2 * d + 1 :] = state.past[sel].reshape(rows.count, -1)
        truth = state.sim_values[sel] if self.simulates else at(self.histories.human, rows, t)
        put(infos, "queries", rows, np.zeros(rows.count, dtype=np.int64))
        put(infos, "human_values", rows, np.array(truth))
        models, rewards = state.models[sel], state.rewards[sel]
        simulated = state.simulated[sel] if self.simulates else None
        scores = judge.final_scores(models, simulated, rewards, rows=sel)
        put(infos, "final_score", rows, scores)
        put(infos, "normalized_score", rows, judge.normalized_scores(scores, rows=sel))
        if self.settings.record_in_info:
            self.records.put(infos, rows, self.histories.human[sel], models, rewards, simulated)


def _put_no_scores(infos: Infos, rows: Rows) -> None:
    """The scores of rows whose episode goes on: 0.0, as the single env's one info structure has them."""
    put(infos, "final_score", rows, np.zeros(rows.count))  # NO_SCORE is 0.0 (np.zeros is the cheap np.full)
    put(infos, "normalized_score", rows, np.zeros(rows.count))
