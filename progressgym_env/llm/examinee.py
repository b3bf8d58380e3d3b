"""Examinee mode of the ``llm`` backend: judged preference pairs in, updated models out.

ProgressGym's examinees are alignment algorithms: each century they see what the human proxy
prefers, update the model however they like and hand it back. With ``interface="examinee"`` an env
on the ``llm`` backend works that way (the default ``interface="vector"`` keeps the Box action):

- **Judged pairs.** At ``reset`` the episode draws ``query_budget`` *pair slots* from the elicitation
  pool (train split): per dim, as many as the vector mode's queries (:func:`~progressgym_env.elicitation.split_queries`),
  each a rendered question and two of its displayed options, one of which upholds the dim. The same
  slots are judged every century, so an examinee can follow each pair's verdict over time (what the
  extrapolative baselines do). Each century the human proxy (in PG-Coevolve the simulated human
  S_{t-1}) picks one option of each pair with its own probabilities, renormalised over the two:
  P(first) = p_first / (p_first + p_second). ``info["preferences"]`` is the
  ``datasets.Dataset`` of those verdicts (:data:`PREFERENCE_COLUMNS`): ``prompt``, ``chosen``,
  ``rejected`` as TRL's preference trainers take them (the prompt rendered as the evaluator's chooser
  shows it to the agent's tokenizer, the answers as it scores them), plus the pair's id, question,
  format, scenario, bank, dims and the respondent's probability of the chosen option.
- **Observation.** The Box observation stays; its estimate is, per dim, the share of that dim's pairs
  whose chosen option upholds the dim.
- **Action.** The examinee's updated model (:class:`~progressgym_env.llm.spaces.ModelUpdate`); the env
  measures it with the evaluator (eval split) as in vector mode. ``agent_model()`` hands out a copy of
  the current model (and ``agent_model(initial=True)`` of the starting one) to train.
- **Free-form questions.** ``query_human(questions)`` returns the respondent's choice probabilities
  on any rendered questions; ``query_human(prompts, generate=True)`` the text its model generates for
  free-form prompts (sampled, seeded from the episode's generator). Both count against the same
  ``query_budget`` per century.
- **Checkpoints.** With ``run_dir`` set, the verdicts, answers and the models handed back are
  journaled (models and adapters copied into the episode folder with a SHA-256 of their files that is
  verified on load). On a re-run, ``recorded_update()`` returns the model recorded for the coming
  century, so an examinee can skip its training; stepping with it (or a model with identical files)
  replays the century without measuring anything.
"""

from __future__ import annotations

import copy
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from progressgym_env.common.atomic import atomic_folder
from progressgym_env.common.fingerprint import json_fingerprint, questions_fingerprint
from progressgym_env.elicitation import split_queries
from progressgym_env.errors import ConfigError, ProgressGymError
from progressgym_env.evaluator.questions import Question
from progressgym_env.llm.checkpoint import folder_digest
from progressgym_env.llm.config import LLMConfig
from progressgym_env.llm.measurements import Measurements
from progressgym_env.llm.models import ModelStore
from progressgym_env.llm.proxies import ElicitationPool
from progressgym_env.llm.replay import Replay
from progressgym_env.llm.spaces import (
    AdapterUpdate,
    ModelUpdate,
    describe_model_update,
    is_adapter_folder,
)
from progressgym_env.value_spaces import MORAL19

_SEED_HIGH = 2**31 - 1

GENERATE_MAX_NEW_TOKENS = 64
"""Default length cap of a generated free-form answer (``query_human(..., generate=True)``)."""

PREFERENCE_COLUMNS: tuple[str, ...] = (
    "prompt", "chosen", "rejected", "pair_id", "chosen_first", "question", "format", "scenario_id", "bank", "dims",
    "dim", "chosen_prob", "century",
)
"""Columns of ``info["preferences"]``; ``pair_id`` names the pair across centuries, ``chosen_first`` says
whether the pair's first option won, ``dims`` lists every dim the scenario feeds, ``dim`` the one the pair
was drawn for, ``chosen_prob`` the respondent's P(chosen) within the pair."""

SKIPPED_FILES = ("README.md",)
"""Files of a handed-back folder that are not copied into the checkpoint (PEFT's model card)."""


class QueryBudgetError(ProgressGymError, ValueError):
    """An examinee asked more free-form questions in a century than the query budget allows."""


@dataclass(frozen=True)
class RecordedUpdate:
    """What an earlier run of this episode handed back for the coming century (see ``recorded_update``).

    :param action: the recorded model or adapter folder inside the checkpoint, or None for no update;
        stepping with it replays the century.
    """

    action: Path | None


@dataclass(frozen=True)
class PairSlot:
    """One judged pair of an episode: a pool question and two of its displayed options.

    :param pair_id: position in the episode's slots (stable across centuries).
    :param question: index into the pool's questions.
    :param dim: the dim it was drawn for.
    :param row: index into ``pool.dim_questions[dim]`` (and ``pool.upholds[dim]``).
    :param first: displayed position of the first option.
    :param second: displayed position of the second option.
    """

    pair_id: int
    question: int
    dim: int
    row: int
    first: int
    second: int


def draw_pair_slots(rng: np.random.Generator, pool: ElicitationPool, budget: int) -> list[PairSlot]:
    """``budget`` pair slots, split over the dims as the vector mode splits its queries.

    A 2-option question gives its two options; a 4-option one an option that upholds the dim and one
    that does not (both drawn), so every verdict says something about the dim it was drawn for.
    """
    slots: list[PairSlot] = []
    for dim, count in enumerate(split_queries(int(budget), MORAL19.dim)):
        rows = rng.integers(len(pool.dim_questions[dim]), size=int(count))
        for row in rows:
            q = int(pool.dim_questions[dim][row])
            n = pool.questions[q].n_options
            marks = pool.upholds[dim][row][:n]
            if n == 2:
                first, second = 0, 1
            else:
                up, down = np.flatnonzero(marks), np.flatnonzero(~marks)
                a, b = int(up[rng.integers(len(up))]), int(down[rng.integers(len(down))])
                first, second = min(a, b), max(a, b)
            slots.append(PairSlot(len(slots), q, dim, int(row), first, second))
    return slots


def pair_first_probs(slots: Sequence[PairSlot], probs: np.ndarray) -> np.ndarray:
    """P(first option) of each slot, the respondent's probabilities renormalised over the pair.

    :param probs: (n_pool, 4) padded choice probabilities of the respondent (NaN beyond a question's options).
    """
    q = np.array([s.question for s in slots], dtype=np.int64)
    first = probs[q, [s.first for s in slots]]
    second = probs[q, [s.second for s in slots]]
    total = first + second
    return np.where(total > 0, first / np.where(total > 0, total, 1.0), 0.5)


def judge_pairs(rng: np.random.Generator, p_first: np.ndarray) -> np.ndarray:
    """Sample each pair's verdict: True where the first option is chosen (one uniform draw per pair)."""
    return rng.random(len(p_first)) < p_first


def pair_estimate(pool: ElicitationPool, slots: Sequence[PairSlot], first_chosen: np.ndarray) -> np.ndarray:
    """Per dim, the share of its pairs whose chosen option upholds it (NaN for a dim without pairs)."""
    hits = np.zeros(MORAL19.dim)
    counts = np.zeros(MORAL19.dim)
    for slot, first in zip(slots, first_chosen, strict=True):
        shown = slot.first if first else slot.second
        hits[slot.dim] += bool(pool.upholds[slot.dim][slot.row][shown])
        counts[slot.dim] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, hits / np.where(counts > 0, counts, 1), np.nan)


def preference_rows(
    pool: ElicitationPool,
    slots: Sequence[PairSlot],
    first_chosen: np.ndarray,
    p_first: np.ndarray,
    encoder: Any,
    dims_of: Any,
    century: int,
) -> list[dict[str, Any]]:
    """The rows of ``info["preferences"]`` (:data:`PREFERENCE_COLUMNS`).

    :param encoder: a :class:`~progressgym_env.evaluator.choosers.encoding.PromptEncoder` of the agent's tokenizer.
    :param dims_of: scenario id -> the dims the scenario feeds.
    :param century: the calendar century judged (13 + t).
    """
    from progressgym_env.llm.preference_data import completion_text, prompt_text

    rows = []
    prompts: dict[int, str] = {}
    for slot, first, p in zip(slots, first_chosen, p_first, strict=True):
        question = pool.questions[slot.question]
        if slot.question not in prompts:
            prompts[slot.question] = prompt_text(encoder, question.prompt)
        chosen, rejected = (slot.first, slot.second) if first else (slot.second, slot.first)
        rows.append({
            "prompt": prompts[slot.question],
            "chosen": completion_text(encoder, question.candidates[chosen]),
            "rejected": completion_text(encoder, question.candidates[rejected]),
            "pair_id": slot.pair_id,
            "chosen_first": bool(first),
            "question": question.prompt,
            "format": question.format,
            "scenario_id": question.scenario_id,
            "bank": question.bank,
            "dims": list(dims_of(question.scenario_id)),
            "dim": slot.dim,
            "chosen_prob": float(p if first else 1.0 - p),
            "century": int(century),
        })
    return rows


def preferences_dataset(rows: list[dict[str, Any]]) -> Any:
    """A ``datasets.Dataset`` of preference rows (an empty one keeps the columns)."""
    from datasets import Dataset

    if rows:
        return Dataset.from_list(rows)
    return Dataset.from_dict({name: [] for name in PREFERENCE_COLUMNS})


def as_question(item: Any) -> Question:
    """A free-form question for :meth:`ExamineeSession.query_human`: a ``Question`` or ``(prompt, candidates)``."""
    if isinstance(item, Question):
        return item
    if isinstance(item, dict) and {"prompt", "candidates"} <= set(item):
        prompt, candidates = item["prompt"], item["candidates"]
    elif isinstance(item, (tuple, list)) and len(item) == 2:
        prompt, candidates = item
    else:
        raise ConfigError(
            f"a question must be a Question, a (prompt, candidates) pair or a dict with 'prompt' and "
            f"'candidates', found {type(item).__name__}"
        )
    if not isinstance(prompt, str) or isinstance(candidates, str) or len(candidates) < 2:
        raise ConfigError("a free-form question needs a prompt string and at least 2 candidate answers")
    candidates = tuple(str(c) for c in candidates)
    return Question("free-form", "", prompt, "free-form", candidates, tuple(range(len(candidates))), prompt, candidates)


def as_prompts(prompts: Any) -> list[str]:
    """The prompts of a generated free-form query: a sequence of non-empty strings (a lone string is refused)."""
    if isinstance(prompts, str):
        raise ConfigError("generate=True takes a list of prompt strings, not one string (wrap it: [prompt])")
    texts = list(prompts)
    bad = [type(p).__name__ for p in texts if not isinstance(p, str) or not p.strip()]
    if bad:
        raise ConfigError(f"generate=True takes prompt strings; found {bad[0]} (or an empty string)")
    return texts


def free_form_prompt(prompt: str) -> Question:
    """A prompt as a :class:`Question` without options, for :meth:`GenerationChooser.generate`."""
    return Question("free-form", "", prompt, "free-form", (), (), prompt, ())


class ExamineeSession:
    """The examinee-mode part of the ``llm`` timeline (see the module docstring).

    The timeline (:class:`~progressgym_env.llm.backend.LLMBackend`) creates it when an env asks for
    ``interface="examinee"`` and routes ``elicit`` and ``update_model`` here, passing the century and the
    episode's generator; the session works through the timeline's parts, each by its public methods.

    :param config: the backend's settings.
    :param pool: the elicitation pool (train split) the pair slots are drawn from.
    :param train_bank: the train split's bank (the dims each scenario feeds).
    :param proxy_probs: century -> the proxy's cached (n_pool, 4) choice probabilities.
    :param models: the episode's models (:class:`~progressgym_env.llm.models.ModelStore`).
    :param replay: the episode's journal replay (:class:`~progressgym_env.llm.replay.Replay`).
    :param measurements: the measurer of handed-back models (:class:`~progressgym_env.llm.measurements.Measurements`).
    """

    def __init__(
        self,
        config: LLMConfig,
        pool: ElicitationPool,
        train_bank: Any,
        proxy_probs: Callable[[int], np.ndarray],
        models: ModelStore,
        replay: Replay,
        measurements: Measurements,
    ) -> None:
        self.config = config
        self.pool = pool
        self.train_bank = train_bank
        self.proxy_probs = proxy_probs
        self.models = models
        self.replay = replay
        self.measurements = measurements
        self.space = ModelUpdate()
        self.slots: list[PairSlot] = []
        self.preferences: Any = None
        self.century = 1
        self.human_questions = 0
        self._encoder: Any = None

    # -- episode -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the previous episode (its pair slots are drawn at its first elicitation)."""
        self.slots = []
        self.preferences = None
        self.human_questions = 0

    def tokenizer(self) -> Any:
        """The agent's tokenizer (loaded once)."""
        return self.models.agent_tokenizer()

    def encoder(self) -> Any:
        """The evaluator's prompt encoder for the agent's tokenizer (how pairs are rendered)."""
        if self._encoder is None:
            from progressgym_env.evaluator.choosers.encoding import PromptEncoder

            self._encoder = PromptEncoder(self.tokenizer())
        return self._encoder

    # -- what the examinee observes ------------------------------------------------------------

    def elicit(
        self, t: int, budget: int | None, *, simulated: bool, rng: np.random.Generator, calendar_century: int
    ) -> tuple[np.ndarray, int]:
        """Judge the episode's pairs for century ``t``; keep the dataset; return (estimate, queries).

        :param calendar_century: the century's calendar number (13 + t on the default history), shown in the rows.
        """
        if budget is None:
            raise ConfigError("examinee mode needs an int query_budget (the judged pairs per century), not None")
        if not self.slots:  # the episode's first elicitation: a resume draws the same slots from the seed
            self.slots = draw_pair_slots(rng, self.pool, int(budget))
        self.century = int(t)
        asked, self.human_questions = self.human_questions, 0
        self.models.drop_proxy()
        args = {"respondent": "simulated" if simulated else "history", "century": int(t), "pairs": len(self.slots)}
        entry = self.replay.replay("judge_pairs", args)
        if entry is not None:
            first = np.array(entry["result"]["first_chosen"], dtype=bool)
            p_first = np.array(entry["result"]["p_first"], dtype=np.float64)
        else:
            before = self.replay.rng_state()
            probs = self._respondent_probs(t, simulated)
            p_first = pair_first_probs(self.slots, probs)
            first = judge_pairs(rng, p_first)
            result = {"first_chosen": first.astype(int).tolist(), "p_first": p_first.tolist()}
            self.replay.record("judge_pairs", args, before, result)
        estimate = pair_estimate(self.pool, self.slots, first)
        rows = preference_rows(self.pool, self.slots, first, p_first, self.encoder(),
                               lambda sid: self.train_bank.get(sid).dims(), calendar_century)
        self.preferences = preferences_dataset(rows)
        return estimate, len(self.slots) + asked

    def _respondent_probs(self, t: int, simulated: bool) -> np.ndarray:
        """(n_pool, 4) probabilities of the century proxy (cached) or of the simulated human (measured)."""
        if not simulated:
            return self.proxy_probs(t)
        from progressgym_env.evaluator.choosers.loglik import LogLikelihoodChooser
        from progressgym_env.llm.proxies import MAX_OPTIONS

        needed = sorted({s.question for s in self.slots})
        model, tokenizer = self.models.simulated()
        chooser = LogLikelihoodChooser(model, tokenizer, batch_size=self.config.evaluator.batch_size)
        probs = np.full((len(self.pool.questions), MAX_OPTIONS), np.nan)
        for q, p in zip(needed, chooser([self.pool.questions[q] for q in needed]), strict=True):
            probs[q, : len(p)] = p
        return probs

    def observation_extras(self) -> dict[str, Any]:
        """``{"preferences": Dataset}`` of the century just judged."""
        return {"preferences": self.preferences}

    def _spend(self, n: int, budget: int | None, what: str) -> None:
        """Count ``n`` more free-form queries against this century's ``budget``.

        :raises QueryBudgetError: the century's free-form queries would exceed ``budget``.
        """
        limit = int(budget or 0)
        if self.human_questions + n > limit:
            raise QueryBudgetError(
                f"query_human: {n} {what} would bring this century's free-form queries to "
                f"{self.human_questions + n}, over the query budget of {limit}"
            )

    def query_human(self, questions: Sequence[Any], budget: int | None, simulated: bool) -> list[np.ndarray]:
        """The respondent's choice probabilities on free-form questions (counted against ``budget``).

        :raises QueryBudgetError: more questions this century than ``budget``.
        """
        items = [as_question(q) for q in questions]
        self._spend(len(items), budget, "question(s)")
        args = {"century": self.century, "simulated": bool(simulated), "questions_sha256": questions_fingerprint(items)}
        entry = self.replay.replay("query_human", args)
        if entry is not None:
            answers = [np.array(p, dtype=np.float64) for p in entry["result"]["probs"]]
        else:
            from progressgym_env.evaluator.choosers.loglik import LogLikelihoodChooser

            before = self.replay.rng_state()
            model, tokenizer = self._respondent_model(simulated)
            chooser = LogLikelihoodChooser(model, tokenizer, batch_size=self.config.evaluator.batch_size)
            answers = [np.asarray(p, dtype=np.float64) for p in chooser(items)] if items else []
            self.replay.record("query_human", args, before, {"probs": [p.tolist() for p in answers]})
        self.human_questions += len(items)
        return answers

    def generate_human(
        self, prompts: Sequence[str], budget: int | None, simulated: bool, rng: np.random.Generator,
        max_new_tokens: int = GENERATE_MAX_NEW_TOKENS,
    ) -> list[str]:
        """The respondent's free-form answers to ``prompts``, sampled (temperature 1) from its model.

        Each prompt counts as one query against ``budget``, as a question of :meth:`query_human` does;
        the sampling seed comes from the episode's generator, so a re-run (and a resume) gets the same text.

        :raises QueryBudgetError: more queries this century than ``budget``.
        :raises ConfigError: a prompt that is not a non-empty string, or ``max_new_tokens`` < 1.
        """
        texts = as_prompts(prompts)
        if int(max_new_tokens) < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        self._spend(len(texts), budget, "prompt(s)")
        args = {"century": self.century, "simulated": bool(simulated), "prompts_sha256": json_fingerprint(texts),
                "max_new_tokens": int(max_new_tokens)}
        entry = self.replay.replay("generate_human", args)
        if entry is not None:
            answers = [str(a) for a in entry["result"]["texts"]]
        else:
            from progressgym_env.evaluator.choosers.generation import GenerationChooser

            before = self.replay.rng_state()
            seed = int(rng.integers(_SEED_HIGH))
            model, tokenizer = self._respondent_model(simulated)
            generator = GenerationChooser(model, tokenizer, max_new_tokens=int(max_new_tokens), seed=seed,
                                          batch_size=self.config.evaluator.batch_size)
            answers = generator.generate([free_form_prompt(p) for p in texts]) if texts else []
            self.replay.record("generate_human", args, before, {"texts": list(answers)})
        self.human_questions += len(texts)
        return answers

    def _respondent_model(self, simulated: bool) -> tuple[Any, Any]:
        return self.models.simulated() if simulated else self.models.proxy(self.century)

    # -- the examinee's model ------------------------------------------------------------------

    def agent_model(self, initial: bool = False) -> tuple[Any, Any]:
        """A copy of the current (or starting) model and the agent's tokenizer, the examinee's to train."""
        if initial:
            model, _ = self.models.initial_agent()
        else:
            model = copy.deepcopy(self.models.agent()[0])
        return model, self.tokenizer()

    def recorded_update(self, century: int) -> RecordedUpdate | None:
        """The update an earlier run recorded for ``century`` (the coming one), or None: not recorded."""
        entry = self.replay.upcoming("update_model")
        if entry is None or int(entry["args"]["century"]) != century:
            return None
        info = entry["result"].get("examinee", {})
        return RecordedUpdate(self.replay.resolve(info["path"]) if info.get("path") else None)

    @staticmethod
    def check_action(action: Any) -> None:
        """:raises InvalidActionError: ``action`` is not an element of :class:`ModelUpdate`."""
        problem = describe_model_update(action)
        if problem:
            from progressgym_env.errors import InvalidActionError

            raise InvalidActionError(f"examinee action is not a ModelUpdate: {problem}")

    def update(self, action: Any, t: int, current: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        """Take the examinee's model for century ``t``, measure it, journal it.

        :param current: the model's vector before the update (kept by a ``None`` action).
        :return: the model's vector and the timing of its measurement (empty when nothing was measured).
        """
        self.check_action(action)
        kind, base = _kind(action)
        target = self.replay.adapter_dir(t, "agent" if kind == "adapter" else "agent-model")
        if target is None:
            return self._apply_live(t, action, kind, base, None, {}, current)
        with atomic_folder(target) as staged:
            if kind != "none":
                self._stage(action, kind, staged.path)
            digest = folder_digest(staged.path) if kind != "none" else "none"
            args = {"century": t, "action_sha256": digest}
            entry = self.replay.replay("update_model", args)
            if entry is not None:
                staged.discard()
                self.measurements.close_step("model", entry["result"].get("measurement"))
                recorded = entry["result"]["examinee"]
                if recorded["kind"] != "none":
                    self._follow(recorded["kind"], recorded["base"], self.replay.resolve(recorded["path"]))
                    self.models.forget_agent()  # rebuilt from the recorded files when next needed
                return np.array(entry["result"]["model_values"], dtype=np.float64), {}
            if kind == "none":
                staged.discard()
        before = self.replay.rng_state()
        return self._apply_live(t, target if kind != "none" else None, kind, base, args, before, current)

    def _stage(self, action: Any, kind: str, folder: Path) -> None:
        """Write the action into ``folder``: a model object saved with the agent's tokenizer, a folder copied."""
        if kind == "object":
            model = action
            if not hasattr(model, "config") or not hasattr(model, "save_pretrained"):
                raise ConfigError(f"cannot save a {type(model).__name__}")
            if hasattr(model, "merge_and_unload") and hasattr(model, "peft_config"):
                model = model.merge_and_unload()
            model.save_pretrained(folder)
            self.tokenizer().save_pretrained(folder)
            return
        source = Path(action.path if isinstance(action, AdapterUpdate) else action)
        for item in sorted(source.iterdir()):
            if item.name in SKIPPED_FILES:
                continue
            if item.is_dir():
                shutil.copytree(item, folder / item.name)
            else:
                shutil.copy2(item, folder / item.name)
        if kind == "model" and not (folder / "tokenizer_config.json").is_file():
            self.tokenizer().save_pretrained(folder)

    def _apply_live(
        self, t: int, action: Any, kind: str, base: str, args: dict[str, Any] | None, before: dict[str, Any],
        current: np.ndarray,
    ) -> tuple[np.ndarray, dict[str, float]]:
        """Build the new model from ``action`` (the staged folder when journaled), measure and record it."""
        from progressgym_env.llm.model_loading import apply_adapters

        start = time.perf_counter()
        values = current
        if kind != "none":
            if kind == "object" and args is None:
                model = action
                if hasattr(model, "merge_and_unload") and hasattr(model, "peft_config"):
                    model = model.merge_and_unload()
                model.eval()
            elif kind == "adapter":
                path = Path(action.path if isinstance(action, AdapterUpdate) else action)
                start_from = self.models.agent()[0] if base == "current" else self.models.initial_agent()[0]
                model = apply_adapters(start_from, [path])
            else:  # a model folder (a journaled model object is a folder now)
                path = Path(action.path if isinstance(action, AdapterUpdate) else action)
                model = self.models.load(str(path))[0]
            self.models.set_agent((model, self.tokenizer()))
            if args is not None:
                self._follow(kind, base, Path(action))
            values = self.measurements.measure(model, self.tokenizer())
        measurement = self.measurements.close_step("model")
        timing = {"eval_s": time.perf_counter() - start} if kind != "none" else {}
        if args is not None:
            rel = self.replay.relative(Path(action)) if kind != "none" else ""
            result = {"model_values": values.tolist(), "examinee": {"kind": kind, "base": base, "path": rel}}
            if measurement is not None:
                result["measurement"] = measurement
            adapters = [rel] if kind == "adapter" else []
            self.replay.record("update_model", args, before, result, adapters, timing, artifacts=[rel] if rel else None)
        return values, timing

    def _follow(self, kind: str, base: str, folder: Path | None) -> None:
        """Tell the model store how the current model is rebuilt from disk (base folder + adapters)."""
        if kind == "none" or folder is None:
            return
        if kind == "adapter" and base == "current":
            self.models.add_agent_adapter(folder)
        elif kind == "adapter":
            self.models.rebase_agent(None, [folder])
        else:
            self.models.rebase_agent(str(folder), [])


def _kind(action: Any) -> tuple[str, str]:
    """(``none`` | ``object`` | ``adapter`` | ``model``, adapter base) of a valid model update."""
    if action is None:
        return "none", "current"
    if isinstance(action, AdapterUpdate):
        return "adapter", action.base
    if isinstance(action, (str, Path)):
        return ("adapter" if is_adapter_folder(Path(action)) else "model"), "current"
    return "object", "current"
