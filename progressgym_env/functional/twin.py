"""The JAX functional twin of a ProgressGym challenge: Gymnasium's ``FuncEnv`` over ``jax.numpy``.

Pure functions of an explicit state, parameters and ``jax.random`` keys (nothing stateful), so an
episode jit-compiles, vmaps over thousands of envs and runs inside a training program. The formulas
are the numpy envs' own (:mod:`progressgym_env.kernels`, called here with ``jax.numpy``), and what
differs between challenges is read from the challenge's judge (:class:`~progressgym_env.judges.Judge`:
its targets, episode length, whether it simulates a human, :meth:`~progressgym_env.judges.Judge.step_terms`),
so any challenge registered through :func:`progressgym_env.register_challenge` whose judge writes its
rule with the shared kernels gets a twin.

Histories: the numpy env draws a fresh history from its source at every reset; the twin draws one
from a *bank* of ``num_histories`` histories sampled once from the same source with numpy
(``history_seed``), held in :class:`TwinParams` with each history's targets and normalisation
constants computed by the numpy judge. A fixed history (the corpus, a file) is a bank of one.

Differences from the numpy env, by design of a compiled env: float32 throughout (x64 off), actions
are clipped into [-1, 1] (the numpy env's ``clip_actions=True``; a jitted function cannot raise), and
random draws come from ``jax.random`` (one ``jax.random.bits`` call per step; answers from the exact
alias-and-thinning sampler of :mod:`progressgym_env.functional.binomial`), so a seed gives a different
(equally distributed) episode than the numpy env's. With ``query_budget=None`` and no fine-tuning noise, the same actions give the
same episode to float32 precision (tests/test_functional.py).

The state holds its history's row in the bank (``index``), not a copy of it: each step reads the rows
it needs (gathers a compiled program fuses), so resetting a finished env costs a few words, not a
history.

Timeline as in the numpy env: the state observes century index t = 1 after :meth:`initial`; each
:meth:`transition` applies the action (M_t), moves the simulated human (S_t, if the judge has one),
scores, and advances t unless the step was the last scored one (then ``done``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.special
import numpy as np
from flax import struct
from gymnasium import spaces
from gymnasium.experimental.functional import FuncEnv

from progressgym_env import kernels
from progressgym_env.backends.surrogate import SurrogateConfig
from progressgym_env.elicitation import split_queries, validate_query_budget
from progressgym_env.envs.base import observation_space, validate_obs_history
from progressgym_env.errors import ConfigError
from progressgym_env.functional import binomial
from progressgym_env.functional.random_words import key_words
from progressgym_env.history import FixedHistory, resolve_history
from progressgym_env.judges import FIRST_SCORED_STEP, SIMILARITIES, Judge
from progressgym_env.numerics import logit

JAX_OPS = kernels.ops_for(jnp, total=kernels.unrolled_total(jnp))
"""The shared kernels' JAX namespace: short sums as chains of additions and a loop of elementwise maxima as
the reverse running maximum (both fuse into the compiled step)."""


@struct.dataclass
class Episode:
    """What each history of the bank contributes to an episode (every array has a leading bank axis B).

    :param values: the history's values (T, d). :param logits: their logits (T, d).
    :param targets: the targets (n, d) the judge gives for it (n = episode length).
    :param center: its mean vector (d,) (the ``centered`` similarity's centre).
    :param lock_in: its value-lock-in score. :param span: reference minus lock-in (1 where ~0).
    :param tiny: whether the span is ~0 (normalised score 0 there).
    :param first_term: the score's term of S_0 = H_0 (judges that simulate a human; else 0).
    """

    values: jax.Array
    logits: jax.Array
    targets: jax.Array
    center: jax.Array
    lock_in: jax.Array
    span: jax.Array
    tiny: jax.Array
    first_term: jax.Array


@struct.dataclass
class TwinParams:
    """Everything an episode reads besides its state (a pytree: traced, not baked into the program).

    :param bank: the history bank (:class:`Episode`).
    :param counts: queries per dimension (d,) (unused with ``query_budget=None``).
    """

    bank: Episode
    counts: jax.Array
    capacity: float = 2.0
    noise_sd: float = 0.02
    history_pull: float = 0.25
    ai_pull: float = 0.5


@struct.dataclass
class TwinState:
    """One env's state: its history's row in the bank, century index, model, simulated human, memory."""

    index: jax.Array
    t: jax.Array
    model_logits: jax.Array
    model_values: jax.Array
    sim_logits: jax.Array
    sim_values: jax.Array
    estimate: jax.Array
    past: jax.Array
    reward: jax.Array
    score_sum: jax.Array
    done: jax.Array


class ProgressGymFuncEnv(FuncEnv):
    """A registered challenge as a Gymnasium ``FuncEnv`` (``initial``, ``transition``, ``observation``,
    ``reward``, ``terminal``), usable through ``gymnasium.envs.functional_jax_env.FunctionalJaxEnv`` and
    ``FunctionalJaxVectorEnv``, and through :class:`progressgym_env.functional.GymnaxEnv`.

    :param judge_class: the challenge's judge (from the challenge registry).
    :param history: as the numpy env's ``history`` kwarg (``"procedural"``, ``"corpus"``, a path, a History).
    :param similarity: reward similarity (``cosine`` or ``centered``).
    :param query_budget: answers per century split over the dims (None: the exact vector).
    :param backend_config: the surrogate's settings (:class:`~progressgym_env.backends.surrogate.SurrogateConfig`).
    :param obs_history: estimates in the observation (1 = the plain observation).
    :param num_histories: size of the history bank drawn from a non-fixed source.
    :param history_seed: seed of the numpy generator that draws the bank.
    :param params: the challenge's parameters (``timesteps_ahead``).
    """

    def __init__(
        self,
        judge_class: type[Judge],
        *,
        history: Any = "procedural",
        similarity: str = "cosine",
        query_budget: int | None = 512,
        backend_config: Any = None,
        obs_history: int = 1,
        num_histories: int = 1024,
        history_seed: int = 0,
        **params: Any,
    ) -> None:
        if similarity not in SIMILARITIES:
            raise ConfigError(f"unknown similarity {similarity!r}; choose one of {SIMILARITIES}")
        if isinstance(num_histories, bool) or not isinstance(num_histories, int) or num_histories < 1:
            raise ConfigError(f"num_histories must be an int >= 1, found {num_histories!r}")
        source = resolve_history(history)
        validate_query_budget(query_budget, source.value_space.dim)
        self.config = SurrogateConfig.from_any(backend_config)
        if self.config.calibration is not None:  # never run the default physics under a calibration's name
            raise ConfigError(
                f"backend_config calibration={self.config.calibration!r}: the JAX twin runs the default surrogate "
                "physics only; a calibrated surrogate runs in the numpy envs (gym.make, the native vector env)"
            )
        self.judge_class = judge_class
        self.similarity = similarity
        self.query_budget = query_budget
        self.obs_history = validate_obs_history(obs_history)
        self.num_centuries = int(source.num_centuries)
        self.dim = int(source.value_space.dim)
        self.params = judge_class.resolve_params(params, self.num_centuries)
        bank = self._bank(source, num_histories, history_seed)
        self.judge = judge_class(bank, "cosine", **self.params)  # reads the challenge: targets, length, scores
        self.episode_length = self.judge.episode_length
        self.last_step = self.judge.last_step
        self.simulates_human = bool(judge_class.simulates_human)
        self.counts = split_queries(query_budget, self.dim) if query_budget is not None else np.ones(self.dim)
        self.answer_tables = (binomial.tables_for(self.counts)
                              if query_budget is not None and self.config.elicitation != "normal" else None)
        self.noise_words = self.dim if self.config.finetune_noise_sd > 0 else 0
        self.answer_words = self._answer_words()
        self.observation_space = observation_space(self.dim, self.obs_history)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(self.dim,), dtype=np.float32)
        super().__init__()

    # -- parameters -----------------------------------------------------------------------------

    @staticmethod
    def _bank(source: Any, size: int, seed: int) -> np.ndarray:
        """(B, T, d) histories from ``source``: its one history when fixed, else ``size`` draws from one generator."""
        if isinstance(source, FixedHistory):
            return np.asarray(source.history.values, dtype=np.float64)[None]
        rng = np.random.default_rng(seed)
        return np.stack([np.asarray(source.sample(rng).values, dtype=np.float64) for _ in range(size)])

    def get_default_params(self, **kwargs: Any) -> TwinParams:
        """The parameters of this env's bank and backend config (the numpy judge's targets and normalisers)."""
        judge = self.judge
        human = judge.human
        lock_in, span, tiny = judge.normalizers()
        f32 = jnp.float32
        values = jnp.asarray(human, f32)
        center = jnp.asarray(human.mean(axis=-2), f32)
        bank = Episode(
            values=values,
            logits=jnp.asarray(logit(human), f32),
            targets=jnp.asarray(np.asarray(judge.targets(human)), f32),
            center=center,
            lock_in=jnp.asarray(lock_in, f32),
            span=jnp.asarray(span, f32),
            tiny=jnp.asarray(tiny),
            first_term=jax.vmap(self._first_term)(values, center),
        )
        return TwinParams(
            bank=bank,
            counts=jnp.asarray(self.counts, f32),
            capacity=float(self.config.capacity),
            noise_sd=float(self.config.finetune_noise_sd),
            history_pull=float(self.config.history_pull),
            ai_pull=float(self.config.ai_pull),
        )

    def params_or_default(self, params: TwinParams | None) -> TwinParams:
        """``params``, or this env's defaults when None (Gymnasium's wrappers pass none)."""
        chosen = self.default_params if params is None else params
        assert isinstance(chosen, TwinParams)
        return chosen

    def config_dict(self) -> dict[str, Any]:
        """The settings that define this env's episodes (JSON-ready), as runs record them."""
        return {"challenge": self.judge_class.challenge, "params": dict(self.params), "similarity": self.similarity,
                "query_budget": self.query_budget, "obs_history": self.obs_history,
                "num_centuries": self.num_centuries, "dim": self.dim,
                "backend": {"backend": "surrogate", **asdict(self.config)}}

    # -- randomness: one jax.random.bits call per step, split into words by use -------------------

    def _answer_words(self) -> int:
        """Random words one estimate draws: none (exact), one per dim (normal answers), two per dim (alias
        and thinning), or one seeding ``jax.random.binomial`` (counts past the tables)."""
        if self.query_budget is None:
            return 0
        if self.config.elicitation == "normal":
            return self.dim
        return binomial.WORDS_PER_DRAW * self.dim if self.answer_tables is not None else 1

    @property
    def step_words(self) -> int:
        """Words :class:`~progressgym_env.functional.GymnaxEnv` draws per step: a reset's history, the
        fine-tuning noise and the estimate."""
        return 1 + self.noise_words + self.answer_words

    @staticmethod
    def words(rng: Any, count: int) -> jax.Array:
        """``count`` random uint32 words of key ``rng`` (at least one: a shape of zero is no draw at all)."""
        return key_words(rng, count)

    @staticmethod
    def normals(words: jax.Array) -> jax.Array:
        """Standard normal numbers from words by inversion, ``ndtri(u)`` (u never 0; ~10% of a step cheaper on
        CPUs than ``jax.random.normal``'s inverse error function, the same distribution)."""
        return jax.scipy.special.ndtri(jnp.maximum(binomial.uniform_from(words), 2.0**-24))

    # -- the rule, over jax.numpy -------------------------------------------------------------

    def _similarity(self, name: str, center: jax.Array) -> Any:
        if name == "cosine":
            return lambda a, b: kernels.cosine(a, b, JAX_OPS)
        return lambda a, b: kernels.cosine(a - center, b - center, JAX_OPS)

    def _elicit(self, words: jax.Array, values: jax.Array, params: TwinParams) -> jax.Array:
        """The observed answer shares of a respondent holding ``values`` (exact with ``query_budget=None``)."""
        if self.query_budget is None:
            return values
        if self.config.elicitation == "normal":
            return kernels.normal_shares(values, self.normals(words), params.counts, jnp)
        if self.answer_tables is not None:
            draws = words.reshape(self.dim, binomial.WORDS_PER_DRAW)
            return binomial.sample(self.answer_tables, values, draws) / params.counts
        return jax.random.binomial(jax.random.PRNGKey(words[0]), params.counts, values) / params.counts

    def _first_term(self, values: jax.Array, center: jax.Array) -> jax.Array:
        """S_0's plain-cosine term of the score of a history ``values`` (judges that simulate a human), else 0."""
        if not self.simulates_human:
            return jnp.zeros((), jnp.float32)
        plain = self._similarity("cosine", center)
        return self.judge.step_terms(None, None, values[0], values, plain, JAX_OPS)

    def initial(self, rng: Any, params: TwinParams | None = None) -> TwinState:
        """A new episode: a history from the bank, the model (and S_0) at H_0, the first estimate."""
        p = self.params_or_default(params)
        words = self.words(rng, 1 + self.answer_words)
        return self.observe(self.start(words[0], p), words[1:], p, jnp.asarray(True))

    def transition(self, state: TwinState, action: Any, rng: Any, params: TwinParams | None = None) -> TwinState:
        """One century: update the model, move the simulated human, score, observe the next century."""
        p = self.params_or_default(params)
        words = self.words(rng, self.noise_words + self.answer_words)
        moved = self.advance(state, action, words[: self.noise_words], p)
        return self.observe(moved, words[self.noise_words:], p, jnp.asarray(False))

    def start(self, word: jax.Array, p: TwinParams) -> TwinState:
        """:meth:`initial` before the first estimate is drawn (see :meth:`observe`); ``word`` picks the history."""
        size = p.bank.values.shape[0]
        index = jnp.minimum(jnp.floor(binomial.uniform_from(word) * size).astype(jnp.int32), size - 1)
        first, first_logits = p.bank.values[index, 0], p.bank.logits[index, 0]
        empty = jnp.zeros((self.dim,), jnp.float32)
        return TwinState(
            index=index, t=jnp.asarray(FIRST_SCORED_STEP, jnp.int32), model_logits=first_logits,
            model_values=first, sim_logits=first_logits, sim_values=first, estimate=empty,
            past=jnp.zeros((self.obs_history - 1, self.dim), jnp.float32), reward=jnp.zeros((), jnp.float32),
            score_sum=p.bank.first_term[index], done=jnp.asarray(False),
        )

    def advance(self, state: TwinState, action: Any, noise_words: jax.Array, p: TwinParams) -> TwinState:
        """:meth:`transition` before the next estimate is drawn: model, simulated human, reward, t, memory.

        :param noise_words: :attr:`noise_words` random words (the fine-tuning noise).
        """
        action = jnp.clip(jnp.asarray(action, jnp.float32), -1.0, 1.0)
        t, index, bank = state.t, state.index, p.bank
        noise = p.noise_sd * self.normals(noise_words) if self.noise_words else None
        moved = kernels.updated_logits(state.model_logits, kernels.logit_shift(action, p.capacity, jnp.float32, jnp),
                                       noise)
        moves = JAX_OPS.total(jnp.abs(action)) != 0  # an all-zero action is no update at all (a fused sum; NaN moves)
        model_logits = jnp.where(moves, moved, state.model_logits)
        model_values = jnp.where(moves, kernels.sigmoid(moved, jnp), state.model_values)
        sim_logits, sim_values = state.sim_logits, state.sim_values
        if self.simulates_human:
            sim_logits = kernels.pulled_logits(sim_logits, bank.logits[index, t], model_logits,
                                               p.history_pull, p.ai_pull)
            sim_values = kernels.sigmoid(sim_logits, jnp)
        target = bank.targets[index, t - FIRST_SCORED_STEP]
        center, values = bank.center[index], bank.values[index]  # read only by the rules that use them
        reward = self.judge.step_terms(target, model_values, sim_values, values,
                                       self._similarity(self.similarity, center), JAX_OPS)
        plain = reward if self.similarity == "cosine" else self.judge.step_terms(
            target, model_values, sim_values, values, self._similarity("cosine", center), JAX_OPS)
        done = t == self.last_step
        past = state.past
        if self.obs_history > 1:  # the estimate just acted on moves into the memory (not at the end)
            past = jnp.where(done, past, jnp.concatenate([state.estimate[None], past[:-1]], axis=0))
        return TwinState(
            index=index, t=jnp.where(done, t, t + 1), model_logits=model_logits,
            model_values=model_values, sim_logits=sim_logits, sim_values=sim_values, estimate=state.estimate,
            past=past, reward=jnp.asarray(reward, jnp.float32), score_sum=state.score_sum + plain, done=done,
        )

    def observe(self, state: TwinState, answer_words: jax.Array, p: TwinParams, fresh: jax.Array) -> TwinState:
        """Draw the estimate of century ``state.t`` (kept at the end of an episode); a ``fresh`` episode's
        memory repeats it. One draw per step, also when :class:`GymnaxEnv` resets a finished env.

        :param answer_words: :attr:`answer_words` random words (the answers).
        """
        observed = state.sim_values if self.simulates_human else p.bank.values[state.index, state.t]
        drawn = self._elicit(answer_words, observed, p)
        estimate = jnp.where(state.done, state.estimate, drawn)
        past = jnp.where(fresh, jnp.broadcast_to(estimate, state.past.shape), state.past)
        return state.replace(estimate=estimate, past=past)  # type: ignore[attr-defined]

    def observation(self, state: TwinState, rng: Any = None, params: TwinParams | None = None) -> jax.Array:
        """[estimate, model values, progress t / (T - 1) (1 at the end), previous estimates], float32."""
        progress = jnp.where(state.done, 1.0, state.t / (self.num_centuries - 1))
        parts = [state.estimate, state.model_values, jnp.reshape(progress, (1,)), jnp.ravel(state.past)]
        return jnp.concatenate([jnp.asarray(part, jnp.float32) for part in parts])

    def reward(self, state: TwinState, action: Any, next_state: TwinState, rng: Any = None,
               params: TwinParams | None = None) -> jax.Array:
        """The judge's per-step term of the transition into ``next_state``."""
        return next_state.reward

    def terminal(self, state: TwinState, rng: Any = None, params: TwinParams | None = None) -> jax.Array:
        """True after the last scored century's step."""
        return state.done

    def scores(self, state: TwinState, params: TwinParams | None = None) -> tuple[jax.Array, jax.Array]:
        """(final score, normalised score) of a finished episode (0 before the end, as the numpy env's infos)."""
        p = self.params_or_default(params)
        terms = self.episode_length + int(self.simulates_human)
        score = state.score_sum / terms
        bank, index = p.bank, state.index
        normalized = kernels.normalized(score, bank.lock_in[index], bank.span[index], bank.tiny[index], jnp)
        return jnp.where(state.done, score, 0.0), jnp.where(state.done, normalized, 0.0)

    def state_info(self, state: TwinState, params: TwinParams | None = None) -> dict[str, Any]:
        final, normalized = self.scores(state, params)
        return {"final_score": final, "normalized_score": normalized}

    def transition_info(self, state: TwinState, action: Any, next_state: TwinState,
                        params: TwinParams | None = None) -> dict[str, Any]:
        return self.state_info(next_state, params)

