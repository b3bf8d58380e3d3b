"""Turn an action into DPO preference data from the *train* split of the question bank (DESIGN §6).

For each dimension i with a_i != 0, the pool is every (scenario, chosen option, rejected option)
of the train split whose choice moves dim i in the direction sign(a_i)
(:meth:`~progressgym_env.evaluator.QuestionBank.preference_pairs`). About ``round(|a_i| * pairs_per_unit)``
pairs are drawn from it with the env's generator (without replacement while the pool lasts), each
rendered in a random format and **in every display order** (both orders of a 2-option scenario, the
4 rotations of a worldview), exactly as the evaluator renders questions; the chosen and rejected answers
are the candidates of the chosen and rejected options. The count per dim is rounded to a whole number
of such groups (at least one when a_i != 0).

Why every order: the chosen answer then sits in each displayed slot equally often (and in the yes/no
format is "yes" as often as "no"), and so does the rejected one. A pure position preference (a shift
of the log-likelihood of slot A, or of "yes") then adds to as many pair margins as it subtracts from;
at the start of the update every DPO margin is zero and the loss ``-log sigmoid(beta * margin)`` is
convex, so such a shift can only raise the loss. With one random order per pair, a few dozen pairs
leave the slots unbalanced by chance and "always A" can lower the loss, which is how label-format
updates collapsed to one position. Balance over the whole set is not enough for stochastic training:
a shuffled mini-batch of 8 is unbalanced again. So the pairs come out in *training order*: groups
(all orders of one draw) shuffled with the env's generator and packed into aligned blocks of 4 rows
(a worldview's 4 rotations, or two 2-option groups); trained in this order
(:func:`~progressgym_env.llm.dpo_update.dpo_update` with ``in_order=True``), every batch of a multiple
of 4 rows is balanced by itself. The
prompts go through the same :class:`~progressgym_env.evaluator.choosers.encoding.PromptEncoder` the
log-likelihood chooser uses, so training and measuring see the same text. Evaluation questions are
never used (they live in the other split).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from progressgym_env.errors import ConfigError
from progressgym_env.evaluator.bank import WORLDVIEW_DIM0, QuestionBank, Scenario
from progressgym_env.evaluator.questions import (
    FORMATS_BY_N_OPTIONS,
    Question,
    display_orders,
    render_question,
)


@dataclass(frozen=True)
class PreferencePair:
    """One DPO example.

    :param dim: the value dim the pair was drawn for.
    :param direction: +1 (chosen raises ``dim``) or -1 (chosen lowers it).
    :param question: the rendered question.
    :param chosen: the candidate answer of the chosen option.
    :param rejected: the candidate answer of the rejected option.
    """

    dim: int
    direction: int
    question: Question
    chosen: str
    rejected: str


def pair_counts(action: np.ndarray, pairs_per_unit: int) -> np.ndarray:
    """Pairs asked for per dim: ``round(|a_i| * pairs_per_unit)`` (int array)."""
    return np.rint(np.abs(np.asarray(action, dtype=np.float64)) * pairs_per_unit).astype(np.int64)


def group_counts(counts: np.ndarray, action: np.ndarray, orders_per_dim: Sequence[int]) -> np.ndarray:
    """Drawn (scenario, chosen, rejected) groups per dim: the asked pairs over the dim's display orders, rounded.

    At least one group for every dim with a non-zero action, so a small action still moves its dim.

    :param counts: :func:`pair_counts`.
    :param action: the action (its non-zero dims get at least one group).
    :param orders_per_dim: display orders of the dim's scenarios (2 for dims 0-14, 4 for worldviews).
    """
    groups = np.rint(np.asarray(counts, dtype=np.float64) / np.asarray(orders_per_dim)).astype(np.int64)
    return np.where(np.asarray(action) != 0, np.maximum(groups, 1), 0)


def render_pair(
    scenario: Scenario, chosen: int, rejected: int, fmt: str, order: Sequence[int]
) -> tuple[Question, str, str]:
    """Render a (chosen, rejected) option pair of ``scenario`` as a question and its two answers.

    :param chosen: original index of the preferred option.
    :param rejected: original index of the other option.
    :param fmt: question format (must apply to the scenario).
    :param order: display permutation (displayed position -> original index).
    """
    question = render_question(scenario, fmt, order)
    position = {original: shown for shown, original in enumerate(question.order)}
    return question, question.candidates[position[chosen]], question.candidates[position[rejected]]


def build_preference_pairs(
    bank: QuestionBank,
    action: np.ndarray,
    pairs_per_unit: int,
    rng: np.random.Generator,
    formats: Sequence[str] = ("label", "yesno", "repeat"),
) -> list[PreferencePair]:
    """Draw one century's preference pairs for ``action``.

    :param bank: the *train* split (an eval split is refused: update data must not touch it).
    :param action: the (19,) action in [-1, 1].
    :param pairs_per_unit: pairs per dim at |a_i| = 1.
    :param rng: the env's generator (every draw comes from it).
    :param formats: formats to render in (those not applying to a scenario's option count are skipped).
    :return: the pairs in training order (see :func:`training_order`).
    """
    if bank.split == "eval":
        raise ConfigError("preference data must come from the 'train' split, not the held-out 'eval' split")
    action = np.asarray(action, dtype=np.float64)
    drawn: list[list[PreferencePair]] = []
    orders_per_dim = [4 if dim >= WORLDVIEW_DIM0 else 2 for dim in range(action.shape[0])]
    groups = group_counts(pair_counts(action, pairs_per_unit), action, orders_per_dim)
    for dim, count in enumerate(groups):
        if count == 0:
            continue
        direction = 1 if action[dim] > 0 else -1
        pool = bank.preference_pairs(dim, direction)
        if not pool:
            raise ConfigError(f"the {bank.split!r} split has no preference pair for dim {dim} direction {direction:+d}")
        picks = rng.choice(len(pool), size=int(count), replace=bool(count > len(pool)))
        for index in picks:
            scenario, chosen, rejected = pool[int(index)]
            allowed = [f for f in formats if f in FORMATS_BY_N_OPTIONS[scenario.n_options]]
            if not allowed:
                raise ConfigError(f"train_formats {tuple(formats)} render no {scenario.n_options}-option question")
            fmt = allowed[int(rng.integers(len(allowed)))]
            group = []
            for order in display_orders(scenario.n_options):
                question, chosen_text, rejected_text = render_pair(scenario, chosen, rejected, fmt, order)
                group.append(PreferencePair(dim, direction, question, chosen_text, rejected_text))
            drawn.append(group)
    return training_order(drawn, rng)


BLOCK_ROWS = 4
"""Rows per balanced block of :func:`training_order` (batch sizes that are multiples of it stay balanced)."""


def training_order(groups: Sequence[Sequence[PreferencePair]], rng: np.random.Generator) -> list[PreferencePair]:
    """Flatten slot-balanced groups into shuffled, aligned blocks of :data:`BLOCK_ROWS` rows.

    Groups of 4 (worldview rotations) are blocks; groups of 2 are paired into blocks; the blocks are
    shuffled with ``rng``; an unpaired 2-group goes last. A group never straddles a block boundary.

    :param groups: each group's pairs (all display orders of one drawn pair).
    :param rng: the env's generator.
    """
    fours = [list(g) for g in groups if len(g) == BLOCK_ROWS]
    twos = [list(g) for g in groups if len(g) != BLOCK_ROWS]
    twos = [twos[int(i)] for i in rng.permutation(len(twos))]
    blocks = fours + [twos[i] + twos[i + 1] for i in range(0, len(twos) - 1, 2)]
    tail = twos[-1] if len(twos) % 2 else []
    ordered = [pair for i in rng.permutation(len(blocks)) for pair in blocks[int(i)]]
    return ordered + tail


def slot_balance(pairs: Sequence[PreferencePair]) -> dict[str, dict[int, int]]:
    """Per format, displayed slot -> (times the chosen answer sits there) - (times the rejected one does).

    All zeros for data built by :func:`build_preference_pairs`: no slot is favoured (used by tests and
    by anyone checking update data of their own).
    """
    out: dict[str, dict[int, int]] = {}
    for p in pairs:
        slots = out.setdefault(p.question.format, {})
        c = p.question.candidates.index(p.chosen)
        r = p.question.candidates.index(p.rejected)
        slots[c] = slots.get(c, 0) + 1
        slots[r] = slots.get(r, 0) - 1
    return out


def prompt_text(encoder: Any, prompt: str) -> str:
    """The prompt string a TRL trainer should see so it tokenises as the chooser does.

    TRL tokenises prompts without special tokens; when no chat template is used the chooser lets the
    tokenizer add its BOS, so the BOS text is prepended here.
    """
    text = encoder.prompt_text(prompt)
    if not encoder.use_chat_template:
        bos = getattr(encoder.tokenizer, "bos_token", None)
        ids = encoder.tokenizer("x", add_special_tokens=True)["input_ids"]
        if bos and ids and ids[0] == encoder.tokenizer.bos_token_id:
            text = bos + text
    return text


def completion_text(encoder: Any, candidate: str) -> str:
    """A candidate answer as the chooser scores it (a leading space without chat template)."""
    return candidate if encoder.use_chat_template else " " + candidate


def dpo_rows(pairs: Sequence[PreferencePair], encoder: Any) -> list[dict[str, str]]:
    """TRL's standard preference format: ``{"prompt", "chosen", "rejected"}`` strings."""
    return [
        {
            "prompt": prompt_text(encoder, p.question.prompt),
            "chosen": completion_text(encoder, p.chosen),
            "rejected": completion_text(encoder, p.rejected),
        }
        for p in pairs
    ]


def mirrored_rows(rows: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """Slot anchors: each row followed by its mirror (``chosen`` and ``rejected`` swapped, same prompt).

    Why: a DPO update can drift a model's answer-slot preference (P(A), P(yes)) even on data that no slot
    preference fits better, by sharpening what the model already leans to. A row and its mirror on the same
    prompt cost ``-log sigmoid(beta * m) - log sigmoid(-beta * m)`` together, where ``m`` is the policy's
    log-ratio margin between the two answers over the reference's: the loss is smallest at ``m = 0``, so the
    pair pulls the answer preference on that prompt back to the reference model's, whichever way it drifts,
    and teaches nothing else. Use them on formats whose answers a model cannot learn from content (a small
    model's letter and yes/no answers, flagged position-driven by the evaluator's position diagnostic)
    while the content is learnt in another format.

    :param rows: ``{"prompt", "chosen", "rejected"}`` rows (any further keys are kept on both copies).
    :return: twice as many rows, each mirror right after its row (so a batch of an even size holds both).
    """
    out: list[dict[str, str]] = []
    for row in rows:
        out.append(dict(row))
        out.append({**row, "chosen": row["rejected"], "rejected": row["chosen"]})
    return out
