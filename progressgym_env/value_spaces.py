"""Value spaces: the named dimensions of a value vector.

A value vector holds one score per dimension, each a probability-like number in [0, 1]. Two spaces
are built in (DESIGN §3): ``moral19``, the 19 dims measured by the LLM value evaluator, and
``corpus5``, the five dims of the real corpus history shipped with the package. Histories in any
other space get a ``ValueSpace`` of their own (``ValueSpace.generic``).
"""

from __future__ import annotations

from dataclasses import dataclass

from progressgym_env.errors import UnknownNameError

MORALCHOICE_RULES: tuple[str, ...] = (
    "death",
    "pain",
    "disable",
    "freedom",
    "pleasure",
    "deceive",
    "cheat",
    "break_promise",
    "break_law",
    "duty",
)
"""Dims 0-9: one per MoralChoice rule; the value is P(choosing the option that upholds the rule)."""

FOUNDATIONS: tuple[str, ...] = (
    "Harm_Care",
    "Fairness_Reciprocity",
    "InGroup_Loyalty",
    "Authority_Respect",
    "Purity_Sanctity",
)
"""Dims 10-14: moral foundations (the bank's file spells the last one ``Purity_Sancity``)."""

WORLDVIEWS: tuple[str, ...] = ("Traditional", "Modern", "Post-modern", "Integrative")
"""Dims 15-18: the four worldviews, in the order of the bank's action1..action4."""

CORPUS_DIMS: tuple[str, ...] = (
    "religion",
    "democracy",
    "liberalism",
    "expectation_for_progress",
    "uncertainty_avoidance",
)


@dataclass(frozen=True)
class ValueSpace:
    """A named, ordered list of value dimensions.

    :param name: identifier stored with histories and results (``"moral19"``, ``"corpus5"``, ...).
    :param dims: dimension names, in vector order.
    """

    name: str
    dims: tuple[str, ...]

    @property
    def dim(self) -> int:
        """Number of dimensions."""
        return len(self.dims)

    @classmethod
    def generic(cls, dim: int) -> ValueSpace:
        """A space with ``dim`` anonymous dimensions ``v0 .. v{dim-1}``."""
        if dim < 1:
            raise ValueError(f"a value space needs at least 1 dimension, got {dim}")
        return cls(name=f"generic{dim}", dims=tuple(f"v{i}" for i in range(dim)))


MORAL19 = ValueSpace("moral19", MORALCHOICE_RULES + FOUNDATIONS + WORLDVIEWS)
CORPUS5 = ValueSpace("corpus5", CORPUS_DIMS)

VALUE_SPACES: dict[str, ValueSpace] = {space.name: space for space in (MORAL19, CORPUS5)}


def get_value_space(name: str) -> ValueSpace:
    """Look up a built-in value space by name (``moral19``, ``corpus5``, ``generic<d>``).

    :raises UnknownNameError: (a ``KeyError``) naming the known spaces.
    """
    if name in VALUE_SPACES:
        return VALUE_SPACES[name]
    if name.startswith("generic") and name[len("generic"):].isdigit():
        return ValueSpace.generic(int(name[len("generic"):]))
    raise UnknownNameError(f"unknown value space {name!r}; known: {sorted(VALUE_SPACES)} or 'generic<d>'")


def infer_value_space(dims: tuple[str, ...] | list[str]) -> ValueSpace:
    """The built-in space whose dims match ``dims`` exactly, else a custom space named ``custom<d>``."""
    dims = tuple(dims)
    for space in VALUE_SPACES.values():
        if space.dims == dims:
            return space
    return ValueSpace(name=f"custom{len(dims)}", dims=dims)
