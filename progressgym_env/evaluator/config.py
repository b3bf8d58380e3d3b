"""``EvaluatorConfig``: the settings of a :class:`~progressgym_env.evaluator.ValueEvaluator` (TRL style).

Every field has a default and a help string; the evaluator takes this one object, the ``llm`` backend
nests it (``LLMConfig.evaluator``) and the ``measure-history`` command builds its options from it.
Its ``to_dict`` enters the evaluator's fingerprint, the cache key of measured vectors.

Which vector to use (``aggregation``):

- ``default``: per-dim means, every value in [0, 1] (the share of probability on the upholding
  option, or on the worldview). Use it for everything inside this package: histories, observations,
  rewards and its leaderboard; a dim's value does not depend on how many scenarios other dims have.
- ``progressgym``: the original ProgressGym formulas (block sums over n + 1; moralchoice dims signed,
  in (-1, 1)). Use it only to compare with numbers produced by the original code; its dims shrink
  with the share of a block's scenarios that feed them, so they are not comparable across subsets.

Every evaluation computes both (:class:`~progressgym_env.evaluator.EvaluationResult` ``vectors``);
the setting chooses which one ``evaluate`` returns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from progressgym_env.errors import ConfigError
from progressgym_env.evaluator.aggregate import AGGREGATIONS, NORMALIZATIONS
from progressgym_env.evaluator.bank import DEFAULT_EVAL_FRACTION, SPLITS
from progressgym_env.evaluator.questions import FORMATS, FORMATS_BY_N_OPTIONS


@dataclass(frozen=True)
class EvaluatorConfig:
    """Settings of a :class:`~progressgym_env.evaluator.ValueEvaluator` (saved with results)."""

    split: str = field(
        default="eval",
        metadata={
            "help": "Bank split to measure on: eval, train or all.",
            "choices": SPLITS,
        },
    )
    formats: tuple[str, ...] = field(
        default=FORMATS,
        metadata={"help": "Question formats: any of label, yesno, repeat."},
    )
    max_scenarios_per_dim: int | None = field(
        default=None,
        metadata={"help": "Cap per dim for a quick stratified subset; None = whole split."},
    )
    seed: int = field(default=0, metadata={"help": "Seed of the subset draw (max_scenarios_per_dim)."})
    batch_size: int = field(default=512, metadata={"help": "Questions per chooser call."})
    eval_fraction: float = field(
        default=DEFAULT_EVAL_FRACTION,
        metadata={"help": "Share of each bank stratum held out for eval."},
    )
    aggregation: str = field(
        default="default",
        metadata={
            "help": "Vector evaluate() returns: default (per-dim means in [0, 1]) or progressgym (the "
            "original's block sums over n + 1); both are always computed.",
            "choices": AGGREGATIONS,
        },
    )
    normalization: str = field(
        default="per_prompt",
        metadata={
            "help": "Candidate likelihoods normalised per prompt (then averaged over display orders) or "
            "joint (pooled over a format's display orders first, as the original does).",
            "choices": NORMALIZATIONS,
        },
    )

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ConfigError(f"split must be one of {SPLITS}, got {self.split!r}")
        formats = (self.formats,) if isinstance(self.formats, str) else tuple(self.formats)
        object.__setattr__(self, "formats", formats)
        unknown = [f for f in formats if f not in FORMATS]
        if unknown or not formats:
            raise ConfigError(f"formats must be a non-empty subset of {FORMATS}, got {formats!r}")
        for n_options, allowed in FORMATS_BY_N_OPTIONS.items():
            if not set(formats) & set(allowed):
                raise ConfigError(
                    f"formats {formats} render no question for {n_options}-option scenarios (worldviews "
                    f"have 4); include one of {allowed}"
                )
        if self.max_scenarios_per_dim is not None and (
            isinstance(self.max_scenarios_per_dim, bool) or int(self.max_scenarios_per_dim) < 1
        ):
            raise ConfigError(
                "max_scenarios_per_dim must be a positive integer or None, "
                f"got {self.max_scenarios_per_dim!r}"
            )
        if isinstance(self.batch_size, bool) or int(self.batch_size) < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if self.aggregation not in AGGREGATIONS:
            raise ConfigError(f"aggregation must be one of {AGGREGATIONS}, got {self.aggregation!r}")
        if self.normalization not in NORMALIZATIONS:
            raise ConfigError(f"normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}")
        if not 0.0 < float(self.eval_fraction) < 1.0:
            raise ConfigError(f"eval_fraction must be in (0, 1), got {self.eval_fraction!r}")

    @classmethod
    def from_any(
        cls, config: EvaluatorConfig | dict[str, Any] | None, label: str = "evaluator"
    ) -> EvaluatorConfig:
        """Accept a config, a dict of its fields (unknown keys are an error naming them) or None (defaults).

        :param config: what the user passed.
        :param label: how errors name the config.
        """
        from progressgym_env.configs import config_from_any

        return config_from_any(cls, config, label)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the settings.

        ``aggregation`` and ``normalization`` appear only when set away from their defaults: they
        came after the other fields, and leaving them out keeps the fingerprints (cache keys) of
        vectors measured before unchanged. :meth:`from_any` reads either form back.
        """
        d = asdict(self)
        d["formats"] = list(self.formats)
        for name in _LATER_FIELDS:
            if d[name] == _FIELD_DEFAULTS[name]:
                del d[name]
        return d


_LATER_FIELDS: tuple[str, ...] = ("aggregation", "normalization")
_FIELD_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(EvaluatorConfig)}
