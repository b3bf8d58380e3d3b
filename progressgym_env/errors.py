"""Exception types raised by progressgym_env.

Every error names what was expected, what was found and, where it helps, what to do. They subclass
the built-in type a caller would naturally catch (``ValueError`` for bad input, ``RuntimeError`` for
calls in the wrong order) so generic handlers keep working.
"""

from __future__ import annotations


class ProgressGymError(Exception):
    """Base class of every error raised by progressgym_env."""


class InvalidActionError(ProgressGymError, ValueError):
    """An action has the wrong shape, dtype, non-finite entries or values outside [-1, 1]."""


class HistoryFormatError(ProgressGymError, ValueError):
    """A history (trajectory file or in-memory array) is malformed."""


class EpisodeOrderError(ProgressGymError, RuntimeError):
    """``step`` was called before ``reset`` or after the episode terminated."""


class FolderInUseError(ProgressGymError, RuntimeError):
    """Another process is writing into the same output folder (its lock is held)."""


class ConfigError(ProgressGymError, ValueError):
    """An env kwarg or config field is unknown or out of range."""


class UnknownNameError(ConfigError, KeyError):
    """A name looked up in a registry (value space, model source, scenario id) is not in it.

    The message lists the known names. It is also a ``KeyError``, so code that caught the ``KeyError``
    of a plain lookup keeps working, but it prints as the message, not as ``KeyError``'s quoted repr.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MissingExtraError(ProgressGymError, ImportError):
    """An optional dependency is needed; the message names the extra to install."""

    def __init__(self, feature: str, extra: str, module: str) -> None:
        super().__init__(
            f"{feature} needs the optional dependency '{module}', which is not installed. "
            f"Install it with: pip install 'progressgym_env[{extra}]'"
        )
        self.extra = extra
        self.module = module


class QuestionBankError(ProgressGymError, ValueError):
    """A question-bank file is malformed (missing column, bad label) or a split leaves a dim empty."""


class ChooserOutputError(ProgressGymError, ValueError):
    """A chooser returned probabilities of the wrong length, negative, non-finite or all zero."""


class EvaluationError(ProgressGymError, RuntimeError):
    """An evaluation could not produce a value for some dimension (e.g. every answer was refused)."""


class ModelLoadError(ProgressGymError, OSError):
    """A model or tokenizer could not be loaded: missing path, or a folder without a tokenizer."""


class UnknownKwargError(ProgressGymError, TypeError):
    """An env or config received a keyword argument it does not know."""


class DeviceUnavailableError(ProgressGymError, RuntimeError):
    """A feature needs an accelerator (e.g. CUDA for vLLM) that this machine does not have."""


class CheckpointError(ProgressGymError, ValueError):
    """A checkpoint (an llm episode journal or the adapters it names) is unreadable, malformed or altered.

    The message names the file and the field (e.g. ``entries[3].result.model_values[4]``).
    """


class UnsafeFileError(ProgressGymError, PermissionError):
    """A file that would run code when loaded (a pickled model) sits where other users could have changed it."""


class ResultsFileError(ProgressGymError, ValueError):
    """A results file (results.json or a ProgressGym result) is corrupt or incompatible; it is reported and never overwritten."""
