"""One implementation of PG-Society's episode, over a leading batch of societies.

:class:`SocietyCore` holds the state of ``batch`` societies (``batch=None``: one, batch shape ``()``)
and steps them with the array functions of :mod:`progressgym_env.society.dynamics`. The PettingZoo
env (:mod:`~progressgym_env.society.parallel`), the benchmark's Gymnasium env
(:mod:`~progressgym_env.society.gym_env`) and the vectorised form (:mod:`~progressgym_env.society.batch`)
are thin views of it. Timeline as PG-Coevolve's (DESIGN §2): the AIs and the groups start at H_0;
``reset`` elicits century t = 1; each step updates the AIs (M_t), pulls the groups (S_t), adapts the
usage, scores, then elicits century t + 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from progressgym_env.backends.surrogate import SurrogateConfig
from progressgym_env.elicitation import sample_shares, split_queries, validate_query_budget
from progressgym_env.errors import ConfigError
from progressgym_env.history import History, HistorySource, resolve_history
from progressgym_env.judges import FIRST_SCORED_STEP, SIMILARITIES
from progressgym_env.numerics import logit, sigmoid
from progressgym_env.records import EpisodeRecord
from progressgym_env.society import dynamics
from progressgym_env.society.judge import SocietyJudge, resolved_heterogeneity, weighted_group_mean
from progressgym_env.validation import reject_unknown_kwargs

SOCIETY_KWARGS: tuple[str, ...] = (
    "history", "similarity", "query_budget", "backend", "backend_config", "render_mode", "clip_actions", "max_cycles",
)
"""The env kwargs besides the judge's parameters (``num_ais``, ``num_groups``, ``usage``, ...)."""


def agent_names(num_ais: int) -> list[str]:
    """``ai_0`` .. ``ai_{M-1}``."""
    return [f"ai_{i}" for i in range(num_ais)]


def surrogate_config(env_name: str, backend: Any, backend_config: Any) -> SurrogateConfig:
    """The surrogate settings of ``backend``: the society's physics are the surrogate's, so the backend must be a
    registered native-vector backend that builds a :class:`SurrogateBackend` (checked without building others)."""
    from progressgym_env.backends.surrogate import SurrogateBackend
    from progressgym_env.registry import backend_spec

    if not isinstance(backend, str) or not backend_spec(backend).native_vector:
        raise ConfigError(f"{env_name} runs on the surrogate backend only (its physics are the surrogate's), "
                          f"got backend={backend!r}")
    built = backend_spec(backend).build(backend_config)
    if not isinstance(built, SurrogateBackend):
        raise ConfigError(f"{env_name} runs on the surrogate backend only, got backend={backend!r}")
    return built.config


def society_core(env_name: str, batch: int | None = None, **kwargs: Any) -> tuple[SocietyCore, dict[str, Any]]:
    """Check the society kwargs and build its core; returns (core, the non-judge options left)."""
    params = {name: kwargs.pop(name) for name in list(kwargs) if name in SocietyJudge.param_defaults}
    reject_unknown_kwargs(env_name, {k: v for k, v in kwargs.items() if k not in SOCIETY_KWARGS},
                          SOCIETY_KWARGS + tuple(SocietyJudge.param_defaults))
    backend = kwargs.pop("backend", "surrogate")
    config = surrogate_config(env_name, backend, kwargs.pop("backend_config", None))
    core = SocietyCore(
        kwargs.pop("history", "corpus"),
        kwargs.pop("similarity", "cosine"),
        kwargs.pop("query_budget", 512),
        config,
        params,
        batch,
    )
    return core, kwargs


@dataclass
class SocietyStep:
    """What one step produced (batch shape ``...``; M AIs, G groups).

    :param ai_rewards: (..., M) each AI's reward: its users' mean progress term.
    :param society_reward: (...) the groups' weighted mean progress term.
    :param group_rewards: (..., G) each group's progress term.
    :param terminated: the history ended (the last scored century was stepped).
    """

    ai_rewards: np.ndarray
    society_reward: np.ndarray
    group_rewards: np.ndarray
    terminated: bool


class SocietyCore:
    """The state and step of ``batch`` societies of M AIs and G groups (see the module docstring).

    :param history: a history spec (``corpus``, ``procedural``, a file, a :class:`History`).
    :param similarity: the reward similarity (``cosine`` or ``centered``); scores use plain cosine.
    :param query_budget: answers elicited per AI per century (None: exact values).
    :param backend_config: the surrogate's settings (capacity, noise, ``history_pull``, ``ai_pull``).
    :param params: the society's parameters (:class:`SocietyJudge` ``param_defaults``), already resolved.
    :param batch: None for one society, else the number of societies stepped together.
    """

    def __init__(
        self,
        history: Any,
        similarity: str,
        query_budget: int | None,
        backend_config: Any,
        params: dict[str, Any],
        batch: int | None = None,
    ) -> None:
        if similarity not in SIMILARITIES:
            raise ConfigError(f"unknown similarity {similarity!r}; choose one of {SIMILARITIES}")
        self.config = SurrogateConfig.from_any(backend_config)
        self.source: HistorySource = resolve_history(history)
        self.num_centuries = int(self.source.num_centuries)
        self.dim = self.source.value_space.dim
        validate_query_budget(query_budget, self.dim)
        self.similarity = similarity
        self.query_budget = query_budget
        self.params = SocietyJudge.resolve_params(params, self.num_centuries)
        self.num_ais = int(self.params["num_ais"])
        self.num_groups = int(self.params["num_groups"])
        self.batch = batch
        self.shape: tuple[int, ...] = () if batch is None else (int(batch),)
        self._counts = None if query_budget is None else split_queries(query_budget, self.dim)
        self.judge: SocietyJudge | None = None
        self.histories: list[History] = []
        self.t = FIRST_SCORED_STEP
        self.steps = 0

    # -- episode ----------------------------------------------------------------------------------

    def reset(self, rng: np.random.Generator) -> None:
        """A new episode: sample the histories, start the AIs and groups at H_0, elicit century 1."""
        self.rng = rng
        histories = [self.source.sample(rng) for _ in range(1 if self.batch is None else self.batch)]
        if self.judge is None or any(h is not old for h, old in zip(histories, self.histories, strict=False)):
            values = histories[0].values if self.batch is None else np.stack([h.values for h in histories])
            self.judge = SocietyJudge(values, self.similarity, **self.params)
            self.human = self.judge.human
            self.human_logits = logit(self.human)
            self.weights = self.judge.group_weights
        self.histories = histories
        judge, m, g, d = self.judge, self.num_ais, self.num_groups, self.dim
        start_values = self.human[..., 0, :]
        self.ai_logits = np.repeat(self.human_logits[..., None, 0, :], m, axis=-2)
        self.ai_values = np.repeat(start_values[..., None, :], m, axis=-2)
        heterogeneity = resolved_heterogeneity(self.params)
        self.group_logits = dynamics.initial_groups(self.human_logits[..., 0, :], g, heterogeneity, rng)
        if heterogeneity > 0:
            self.group_values = dynamics.group_values(self.group_logits)
        else:  # exactly H_0, as PG-Coevolve's simulated human starts
            self.group_values = np.repeat(start_values[..., None, :], g, axis=-2)
        self.usage = np.full(self.shape + (g, m), 1.0 / m)
        n, t_len = judge.episode_length, self.num_centuries
        self.record_ais = np.zeros((n, *self.shape, m, d))
        self.record_ai_rewards = np.zeros((n, *self.shape, m))
        self.record_rewards = np.zeros((n, *self.shape))
        self.record_groups = np.zeros((t_len, *self.shape, g, d))
        self.record_usage = np.zeros((t_len, *self.shape, g, m))
        self.record_groups[0] = self.group_values
        self.record_usage[0] = self.usage
        self.t = FIRST_SCORED_STEP
        self.steps = 0
        self._elicit()

    def _elicit(self) -> None:
        """Each AI's estimate of its users' values this century (binomial answers to its queries)."""
        users = dynamics.user_weights(self.usage, self.weights)
        self.shares = dynamics.usage_shares(users)
        society = dynamics.society_mean(self.group_values, self.weights)
        self.users_values = dynamics.users_mean(users, self.group_values, society)
        if self._counts is None:
            self.estimates = self.users_values.copy()
            self.queries = 0
        else:
            self.estimates = sample_shares(self.rng, self.users_values, self._counts, self.config.elicitation)
            self.queries = int(self.query_budget)  # type: ignore[arg-type]

    def step(self, actions: np.ndarray) -> SocietyStep:
        """Advance every society one century with ``actions`` (..., M, d), already validated."""
        cfg, judge = self.config, self.judge
        assert judge is not None
        t, i = self.t, self.steps
        self.ai_logits, moving = dynamics.update_ais(self.ai_logits, actions, cfg.capacity, cfg.finetune_noise_sd, self.rng)
        if moving.all():
            self.ai_values = sigmoid(self.ai_logits)
        elif moving.any():
            self.ai_values = np.where(moving[..., None], sigmoid(self.ai_logits), self.ai_values)
        self.group_logits = dynamics.pull_groups(
            self.group_logits, self.human_logits[..., t, :], self.ai_logits, self.usage, cfg.history_pull, cfg.ai_pull
        )
        self.group_values = dynamics.group_values(self.group_logits)
        if self.params["usage"] == "adaptive":
            self.usage = dynamics.adapted_usage(
                self.usage, self.group_logits, self.ai_logits, self.params["usage_rate"], self.params["usage_sharpness"]
            )
        group_rewards = np.asarray(judge.step_rewards(judge.target(t), self.ai_values, self.group_values))
        society_reward = weighted_group_mean(group_rewards, self.weights)
        users = dynamics.user_weights(self.usage, self.weights)
        ai_rewards = dynamics.users_mean(users, group_rewards, society_reward)
        self.record_ais[i] = self.ai_values
        self.record_ai_rewards[i] = ai_rewards
        self.record_rewards[i] = society_reward
        self.record_groups[t] = self.group_values
        self.record_usage[t] = self.usage
        self.steps = i + 1
        terminated = t == judge.last_step
        if not terminated:
            self.t = t + 1
            self._elicit()
        return SocietyStep(ai_rewards, society_reward, group_rewards, terminated)

    @property
    def progress(self) -> float:
        """t / (T - 1) of the century observed now (PG-Coevolve's formula)."""
        return self.t * (1.0 / (self.num_centuries - 1))

    def observations(self, terminal: bool = False) -> np.ndarray:
        """Every AI's observation (..., M, 2d + 2): [estimate, model, progress, usage share], float32.

        On the terminal step the estimate is the last one and progress is 1 (as in PG-Coevolve).
        """
        d = self.dim
        obs = np.empty(self.shape + (self.num_ais, 2 * d + 2), dtype=np.float32)
        obs[..., :d] = self.estimates
        obs[..., d : 2 * d] = self.ai_values
        obs[..., 2 * d] = 1.0 if terminal else self.progress
        obs[..., 2 * d + 1] = self.shares
        return obs

    # -- records ----------------------------------------------------------------------------------

    def episode_record(self, row: int | None = None) -> EpisodeRecord:
        """One society's record (``row`` of the batch; None for an unbatched core).

        ``model`` is the AIs' mean model and ``simulated`` the society's weighted mean values (for
        plots and renderers; with one AI and one group they are PG-Coevolve's); ``ai_models``,
        ``ai_rewards``, ``group_values``, ``group_usage`` and ``group_weights`` keep every trajectory.
        """
        assert self.judge is not None
        n = self.steps
        index: Any = (slice(None),) if row is None else (slice(None), row)
        ais = self.record_ais[index][:n]
        groups = self.record_groups[index][: n + 1]
        history = self.histories[0 if row is None else row]
        model = ais[:, 0, :].copy() if self.num_ais == 1 else ais.mean(axis=1)
        return EpisodeRecord(
            challenge=self.judge.challenge,
            human=np.array(history.values),
            model=model,
            rewards=self.record_rewards[index][:n].copy(),
            centuries=list(history.centuries),
            value_space=self.source.value_space.name,
            dims=list(self.source.value_space.dims),
            similarity=self.similarity,
            backend={"backend": "surrogate", **_asdict(self.config)},
            history_provenance=dict(history.provenance),
            params=dict(self.params),
            simulated=dynamics.society_mean(groups, self.weights),
            extras={
                "ai_models": ais.copy(),
                "ai_rewards": self.record_ai_rewards[index][:n].copy(),
                "group_values": groups.copy(),
                "group_usage": self.record_usage[index][: n + 1].copy(),
                "group_weights": self.weights.copy(),
            },
        )


def _asdict(config: SurrogateConfig) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(config)
