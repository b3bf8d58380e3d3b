"""The moral19 question bank: parse, clean, validate and split the three scenario CSVs.

The bank ships as package data (``progressgym_env/data/moral_evals``). Three files feed the 19
dimensions of :data:`progressgym_env.value_spaces.MORAL19`:

- ``moralchoice.csv`` (dims 0-9): two actions, and per MoralChoice rule whether each action violates
  it. The *sign* of a rule is 0 when both labels are equal, +1 when action1 avoids the violation
  (action2 is "Yes" or action1 is "No"), else -1.
- ``foundations.csv`` (dims 10-14): action1 upholds the row's moral foundation, action2 does not.
- ``worldviews.csv`` (dims 15-18): action1..action4 voice the four worldviews in dim order.

The files carry known defects (see the data README). They are handled here, never by editing the
files: duplicate moralchoice ids become distinct scenarios with a ``#<n>`` suffix; option texts are
stripped of whitespace, a trailing ``;`` and stray surrounding quotes (contexts of whitespace and a
surrounding pair of quotes); rows whose options fail the validation rules of :func:`option_defects`
are skipped with a :class:`BankDefectWarning` naming each.

The bank is split deterministically into an *eval* part (what the evaluator measures) and a *train*
part (what the LLM backend builds preference data from), so update data never touches evaluation
questions. The split is stratified (by rule / theme) and checked so every dim has scenarios on both
sides.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from progressgym_env.errors import ConfigError, QuestionBankError, UnknownNameError
from progressgym_env.value_spaces import FOUNDATIONS, MORAL19, MORALCHOICE_RULES

BANKS: tuple[str, ...] = ("moralchoice", "foundations", "worldviews")
"""Bank names, in the order their dims appear in the value vector."""

SPLITS: tuple[str, ...] = ("eval", "train", "all")

DEFAULT_EVAL_FRACTION = 0.5

FOUNDATION_DIM0 = len(MORALCHOICE_RULES)
"""Index of the first foundation dim (10)."""

WORLDVIEW_DIM0 = FOUNDATION_DIM0 + len(FOUNDATIONS)
"""Index of the first worldview dim (15)."""

N_DIMS = MORAL19.dim

FILE_THEMES: dict[str, str] = {
    **{name: name for name in FOUNDATIONS},
    "Purity_Sancity": "Purity_Sanctity",  # the file's spelling
}
"""``generation_theme`` values of foundations.csv -> foundation dim name."""

LABELS: tuple[str, ...] = ("Yes", "No", "No Agreement")
"""Values of the moralchoice ``a1_<rule>`` / ``a2_<rule>`` columns."""

_OPTION_COLUMNS: dict[str, tuple[str, ...]] = {
    "moralchoice": ("action1", "action2"),
    "foundations": ("action1", "action2"),
    "worldviews": ("action1", "action2", "action3", "action4"),
}

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "moralchoice": (
        "scenario_id",
        "generation_rule",
        "context",
        "action1",
        "action2",
        *(f"a1_{rule}" for rule in MORALCHOICE_RULES),
        *(f"a2_{rule}" for rule in MORALCHOICE_RULES),
    ),
    "foundations": ("scenario_id", "generation_theme", "context", "action1", "action2"),
    "worldviews": ("scenario_id", "generation_theme", "context", *_OPTION_COLUMNS["worldviews"]),
}
"""Columns each file must have (others, such as ``generation_type``, are ignored)."""

_DOUBLE_QUOTES = '"“”„'
_PLACEHOLDER = re.compile(r"^(choice|option|action|answer)\s*_?\d+$", re.IGNORECASE)


class BankDefectWarning(UserWarning):
    """A question-bank row was skipped because it failed validation (the message names the row)."""


# --------------------------------------------------------------------------------------------- text


def clean_option(text: str) -> str:
    """Strip an option text of stray whitespace, trailing ``;``, leading commas and outer quotes.

    Each side is stripped independently because a bad export sometimes split one quoted field in
    two (e.g. foundations F_403), leaving a quote on one side only.

    :param text: the raw CSV field.
    :return: the text to display.
    """
    previous = None
    while previous != text:
        previous = text
        text = text.strip().rstrip(";").lstrip(",").strip()
        if text[:1] in _DOUBLE_QUOTES:
            text = text[1:]
        if text[-1:] in _DOUBLE_QUOTES:
            text = text[:-1]
    return text


def clean_context(text: str) -> str:
    """Strip a context of surrounding whitespace and one pair of surrounding double quotes."""
    text = text.strip()
    if len(text) >= 2 and text[0] in _DOUBLE_QUOTES and text[-1] in _DOUBLE_QUOTES:
        inner = text[1:-1].strip()
        if quotes_balanced(inner):
            return inner
    return text


def quotes_balanced(text: str) -> bool:
    """Whether the double quotes in ``text`` pair up.

    Straight quotes must come in an even number; curly quotes must nest (every closing ``”`` after
    an opening ``“``). An unbalanced quote marks fields merged or split by a bad export.
    """
    if text.count('"') % 2:
        return False
    depth = 0
    for char in text:
        if char == "“":
            depth += 1
        elif char == "”":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def option_defects(options: Sequence[str]) -> list[str]:
    """Validation rules for a row's cleaned options; returns the reasons it is degenerate (or [])."""
    reasons: list[str] = []
    for i, text in enumerate(options, start=1):
        if not text:
            reasons.append(f"action{i} is empty")
        elif _PLACEHOLDER.match(text):
            reasons.append(f"action{i} is a placeholder ({text!r})")
        elif not quotes_balanced(text):
            reasons.append(f"action{i} holds an unbalanced quote (fields merged or split): {text[:60]!r}")
    folded = [" ".join(t.casefold().split()) for t in options if t]
    duplicates = sorted({t for t, n in Counter(folded).items() if n > 1})
    if duplicates:
        reasons.append(f"two options are identical ({duplicates[0][:60]!r})")
    return reasons


def moralchoice_sign(a1: str, a2: str) -> int:
    """Sign of one rule for one scenario: 0 if the labels agree, +1 if action1 avoids the violation.

    :param a1: label of action1 ("Yes", "No" or "No Agreement": does action1 violate the rule?).
    :param a2: label of action2.
    """
    if a1 == a2:
        return 0
    if a2 == "Yes" or a1 == "No":
        return 1
    return -1


# ----------------------------------------------------------------------------------------- scenario


@dataclass(frozen=True)
class Scenario:
    """One validated scenario of the bank.

    :param bank: "moralchoice", "foundations" or "worldviews".
    :param scenario_id: unique id (the file's id, with ``#<n>`` appended to repeated ids).
    :param source_id: the id as written in the file.
    :param line: line number of the row in its file (1 = header), for error messages.
    :param context: the situation or question, stripped.
    :param options: the cleaned option texts, in file order (2, or 4 for worldviews).
    :param signs: moralchoice only: the 10 rule signs in {-1, 0, +1}, in ``MORALCHOICE_RULES`` order.
    :param foundation_dim: foundations only: the dim index (10-14) of the row's theme.
    :param stratum: the group the eval/train split is stratified on (rule or theme).
    """

    bank: str
    scenario_id: str
    source_id: str
    line: int
    context: str
    options: tuple[str, ...]
    signs: tuple[int, ...] = ()
    foundation_dim: int | None = None
    stratum: str = ""

    @property
    def n_options(self) -> int:
        """Number of options (2 or 4)."""
        return len(self.options)

    def dims(self) -> tuple[int, ...]:
        """Indices of the value dims this scenario contributes to."""
        if self.bank == "moralchoice":
            return tuple(i for i, s in enumerate(self.signs) if s)
        if self.bank == "foundations":
            return (self.foundation_dim,) if self.foundation_dim is not None else ()
        return tuple(range(WORLDVIEW_DIM0, N_DIMS))

    def option_effects(self, dim: int) -> tuple[int, ...]:
        """What choosing each option does to ``dim``: +1 raises it, -1 lowers it, 0 leaves it.

        moralchoice: the upholding action +1, the other -1 (all 0 when the rule's sign is 0);
        foundations: action1 +1, action2 -1 on the row's theme; worldviews: option k +1 on dim
        15 + k and every other option -1 there.
        """
        _check_dim(dim)
        zeros = (0,) * self.n_options
        if self.bank == "moralchoice":
            if dim >= FOUNDATION_DIM0:
                return zeros
            sign = self.signs[dim]
            return (sign, -sign)
        if self.bank == "foundations":
            return (1, -1) if dim == self.foundation_dim else zeros
        if dim < WORLDVIEW_DIM0:
            return zeros
        k = dim - WORLDVIEW_DIM0
        return tuple(1 if j == k else -1 for j in range(self.n_options))

    def preference_pairs(self, dim: int, direction: int = 1) -> tuple[tuple[int, int], ...]:
        """(chosen, rejected) option-index pairs whose choice moves ``dim`` in ``direction``.

        With ``direction=+1`` the chosen option raises the dim relative to the rejected one; with
        ``-1`` it lowers it. Empty when the scenario does not feed ``dim``. This is what the LLM
        backend turns into DPO pairs.

        :param dim: value dim index, 0-18.
        :param direction: +1 or -1.
        """
        if direction not in (1, -1):
            raise ValueError(f"direction must be +1 or -1, got {direction!r}")
        effects = self.option_effects(dim)
        return tuple(
            (c, r)
            for c in range(self.n_options)
            for r in range(self.n_options)
            if direction * (effects[c] - effects[r]) > 0
        )


def _check_dim(dim: int) -> None:
    if not 0 <= dim < N_DIMS:
        raise IndexError(f"dim must be in 0..{N_DIMS - 1} (moral19), got {dim}")


@dataclass(frozen=True)
class SkippedRow:
    """A row left out of the bank by validation.

    :param file: file name.
    :param scenario_id: id as written in the file.
    :param line: line number in the file.
    :param reasons: why it was skipped.
    """

    file: str
    scenario_id: str
    line: int
    reasons: tuple[str, ...]


# ------------------------------------------------------------------------------------------ parsing


def _read_rows(bank: str, text: str, filename: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line, row) of a bank CSV after checking its columns."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS[bank] if c not in header]
    if missing:
        raise QuestionBankError(
            f"{filename}: missing column(s) {missing}; expected at least {list(REQUIRED_COLUMNS[bank])}, "
            f"found {header}"
        )
    reader.fieldnames = header
    for row in reader:
        yield reader.line_num, {k: (v or "") for k, v in row.items() if k is not None}


def parse_bank_file(
    bank: str, text: str, filename: str | None = None
) -> tuple[list[Scenario], list[SkippedRow]]:
    """Parse one bank CSV into validated scenarios, warning once per skipped row.

    :param bank: "moralchoice", "foundations" or "worldviews".
    :param text: the file's content (UTF-8 decoded).
    :param filename: name used in messages (default ``<bank>.csv``).
    :return: (scenarios in file order, skipped rows).
    :raises QuestionBankError: missing columns, an unknown label or theme.
    """
    if bank not in BANKS:
        raise ValueError(f"bank must be one of {BANKS}, got {bank!r}")
    filename = filename or f"{bank}.csv"
    scenarios: list[Scenario] = []
    skipped: list[SkippedRow] = []
    seen: Counter[str] = Counter()
    for line, row in _read_rows(bank, text, filename):
        source_id = row["scenario_id"].strip()
        options = tuple(clean_option(row[c]) for c in _OPTION_COLUMNS[bank])
        context = clean_context(row["context"])
        reasons = option_defects(options)
        if not context:
            reasons.insert(0, "context is empty")
        if reasons:
            skipped.append(SkippedRow(filename, source_id, line, tuple(reasons)))
            warnings.warn(
                f"{filename} line {line}: skipped scenario {source_id!r}: {'; '.join(reasons)}",
                BankDefectWarning,
                stacklevel=2,
            )
            continue
        seen[source_id] += 1
        scenario_id = source_id if seen[source_id] == 1 else f"{source_id}#{seen[source_id]}"
        common: dict[str, Any] = {
            "bank": bank,
            "scenario_id": scenario_id,
            "source_id": source_id,
            "line": line,
            "context": context,
            "options": options,
        }
        if bank == "moralchoice":
            signs = []
            for rule in MORALCHOICE_RULES:
                a1, a2 = row[f"a1_{rule}"].strip(), row[f"a2_{rule}"].strip()
                for col, label in ((f"a1_{rule}", a1), (f"a2_{rule}", a2)):
                    if label not in LABELS:
                        raise QuestionBankError(
                            f"{filename} line {line} ({source_id}): column {col} must be one of {LABELS}, "
                            f"found {label!r}"
                        )
                signs.append(moralchoice_sign(a1, a2))
            scenario = Scenario(**common, signs=tuple(signs), stratum=row["generation_rule"].strip())
        elif bank == "foundations":
            theme = row["generation_theme"].strip()
            if theme not in FILE_THEMES:
                raise QuestionBankError(
                    f"{filename} line {line} ({source_id}): generation_theme must be one of "
                    f"{sorted(FILE_THEMES)}, found {theme!r}"
                )
            dim = FOUNDATION_DIM0 + FOUNDATIONS.index(FILE_THEMES[theme])
            scenario = Scenario(**common, foundation_dim=dim, stratum=FILE_THEMES[theme])
        else:
            scenario = Scenario(**common, stratum=row["generation_theme"].strip())
        scenarios.append(scenario)
    return scenarios, skipped


def _read_bank_text(bank: str, data_dir: str | Path | None) -> tuple[str, str]:
    """(text, display name) of one bank file, from ``data_dir`` or the package data."""
    name = f"{bank}.csv"
    if data_dir is None:
        resource = resources.files("progressgym_env") / "data" / "moral_evals" / name
        return resource.read_text(encoding="utf-8"), f"progressgym_env/data/moral_evals/{name}"
    path = Path(data_dir) / name
    if not path.is_file():
        raise QuestionBankError(
            f"question bank file not found: {path} (a bank folder needs {BANKS} .csv files)"
        )
    return path.read_text(encoding="utf-8"), str(path)


# ------------------------------------------------------------------------------------------- split


def _split_key(scenario: Scenario) -> str:
    return hashlib.sha256(f"{scenario.bank}/{scenario.scenario_id}".encode()).hexdigest()


def assign_split(scenarios: Sequence[Scenario], eval_fraction: float) -> dict[str, str]:
    """Deterministic stratified split: scenario_id -> "eval" | "train".

    Within each (bank, stratum) group, scenarios are ordered by a SHA-256 hash of their unique id
    and the first ``round(eval_fraction * n)`` (half up) go to eval. No RNG, so the split is the
    same on every machine and does not move when unrelated rows are added to another stratum.
    """
    if not 0.0 < eval_fraction < 1.0:
        raise ConfigError(f"eval_fraction must be strictly between 0 and 1, got {eval_fraction!r}")
    groups: dict[tuple[str, str], list[Scenario]] = defaultdict(list)
    for s in scenarios:
        groups[(s.bank, s.stratum)].append(s)
    assignment: dict[str, str] = {}
    for members in groups.values():
        members = sorted(members, key=_split_key)
        n_eval = int(math.floor(eval_fraction * len(members) + 0.5))
        for i, s in enumerate(members):
            assignment[s.scenario_id] = "eval" if i < n_eval else "train"
    return assignment


def dim_counts(scenarios: Sequence[Scenario]) -> list[int]:
    """Number of scenarios feeding each of the 19 dims."""
    counts = [0] * N_DIMS
    for s in scenarios:
        for d in s.dims():
            counts[d] += 1
    return counts


def _check_dims_covered(scenarios: Sequence[Scenario], what: str) -> None:
    empty = [MORAL19.dims[d] for d, n in enumerate(dim_counts(scenarios)) if n == 0]
    if empty:
        raise QuestionBankError(
            f"the {what} has no scenario for dim(s) {empty}; every one of the 19 moral19 dims needs at "
            f"least one (check the bank files, or use an eval_fraction nearer 0.5)"
        )


# -------------------------------------------------------------------------------------------- bank


@dataclass(frozen=True)
class QuestionBank:
    """A validated, split part of the question bank.

    :param scenarios: the scenarios of this split, in bank then file order.
    :param split: "eval", "train" or "all".
    :param eval_fraction: share of each stratum assigned to eval.
    :param skipped: rows left out by validation (same for every split).
    """

    scenarios: tuple[Scenario, ...]
    split: str = "all"
    eval_fraction: float = DEFAULT_EVAL_FRACTION
    skipped: tuple[SkippedRow, ...] = field(default=(), repr=False)

    @classmethod
    def load(
        cls,
        split: str = "all",
        *,
        eval_fraction: float = DEFAULT_EVAL_FRACTION,
        data_dir: str | Path | None = None,
    ) -> QuestionBank:
        """Load, validate and split the bank (see :func:`load_question_bank`)."""
        if split not in SPLITS:
            raise ConfigError(f"split must be one of {SPLITS}, got {split!r}")
        every: list[Scenario] = []
        skipped: list[SkippedRow] = []
        for bank in BANKS:
            text, name = _read_bank_text(bank, data_dir)
            scenarios, skipped_here = parse_bank_file(bank, text, name)
            every.extend(scenarios)
            skipped.extend(skipped_here)
        _check_dims_covered(every, "question bank")
        assignment = assign_split(every, eval_fraction)
        for side in ("eval", "train"):
            _check_dims_covered([s for s in every if assignment[s.scenario_id] == side], f"{side} split")
        chosen = every if split == "all" else [s for s in every if assignment[s.scenario_id] == split]
        return cls(tuple(chosen), split, eval_fraction, tuple(skipped))

    def __len__(self) -> int:
        return len(self.scenarios)

    def __iter__(self) -> Iterator[Scenario]:
        return iter(self.scenarios)

    def by_bank(self, bank: str) -> tuple[Scenario, ...]:
        """Scenarios of one bank file."""
        if bank not in BANKS:
            raise ValueError(f"bank must be one of {BANKS}, got {bank!r}")
        return tuple(s for s in self.scenarios if s.bank == bank)

    def for_dim(self, dim: int) -> tuple[Scenario, ...]:
        """Scenarios that feed value dim ``dim`` (0-18)."""
        _check_dim(dim)
        return tuple(s for s in self.scenarios if dim in s.dims())

    def dim_counts(self) -> list[int]:
        """Number of scenarios feeding each dim, in moral19 order."""
        return dim_counts(self.scenarios)

    def get(self, scenario_id: str) -> Scenario:
        """The scenario with this unique id (:class:`UnknownNameError`, a ``KeyError``, naming the split otherwise)."""
        for s in self.scenarios:
            if s.scenario_id == scenario_id:
                return s
        raise UnknownNameError(f"no scenario {scenario_id!r} in the {self.split!r} split")

    def subset(self, max_per_dim: int, seed: int = 0) -> QuestionBank:
        """A deterministic, dim-stratified subset for quick runs.

        Dims are visited in order; for each, scenarios feeding it are drawn in a seeded random order
        and kept until the dim has ``max_per_dim`` of them: first only scenarios that overfill no
        other dim, then, if the dim is still short, any of the rest. Every dim thus ends with at least
        ``min(max_per_dim, scenarios feeding it)``; because one moralchoice scenario feeds several
        rules, some rule dims end with more (rare rules such as cheat and break_promise would
        otherwise be starved by the common ones). Kept scenarios stay in bank order.

        :param max_per_dim: cap on scenarios per dim (at least 1).
        :param seed: seed of the draw order.
        """
        if int(max_per_dim) < 1:
            raise ConfigError(
                f"max_scenarios_per_dim must be a positive integer or None, got {max_per_dim!r}"
            )
        import numpy as np

        rng = np.random.default_rng(seed)
        counts = [0] * N_DIMS
        kept: set[str] = set()
        for dim in range(N_DIMS):
            candidates = [s for s in self.for_dim(dim) if s.scenario_id not in kept]
            order = [candidates[i] for i in rng.permutation(len(candidates))]
            for overfill_allowed in (False, True):
                for s in order:
                    if counts[dim] >= max_per_dim:
                        break
                    if s.scenario_id in kept:
                        continue
                    if not overfill_allowed and any(counts[d] >= max_per_dim for d in s.dims()):
                        continue
                    kept.add(s.scenario_id)
                    for d in s.dims():
                        counts[d] += 1
        chosen = tuple(s for s in self.scenarios if s.scenario_id in kept)
        return QuestionBank(chosen, self.split, self.eval_fraction, self.skipped)

    def preference_pairs(self, dim: int, direction: int = 1) -> list[tuple[Scenario, int, int]]:
        """Every (scenario, chosen index, rejected index) whose choice moves ``dim`` in ``direction``.

        :param dim: value dim, 0-18.
        :param direction: +1 (chosen raises the dim) or -1 (chosen lowers it).
        """
        return [(s, c, r) for s in self.for_dim(dim) for c, r in s.preference_pairs(dim, direction)]


def load_question_bank(
    split: str = "all",
    *,
    eval_fraction: float = DEFAULT_EVAL_FRACTION,
    data_dir: str | Path | None = None,
) -> QuestionBank:
    """Load the question bank shipped with the package and return one split of it.

    :param split: "eval" (held out for measuring), "train" (for building update data) or "all".
    :param eval_fraction: share of each stratum put in eval, strictly between 0 and 1.
    :param data_dir: a folder holding ``moralchoice.csv``, ``foundations.csv`` and ``worldviews.csv``
        to use instead of the package data (for tests and custom banks).
    :raises ConfigError: unknown split, eval_fraction outside (0, 1).
    :raises QuestionBankError: a missing file or column, a bad label, or a split that leaves a dim
        without scenarios.
    """
    return QuestionBank.load(split, eval_fraction=eval_fraction, data_dir=data_dir)
