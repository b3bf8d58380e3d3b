"""Progress bars, on one library (rich), for every long job: benchmarks, proxy measurement, proxy training.

:class:`ProgressBar` is a context manager over a fixed number of steps with a status text::

    with ProgressBar(total=9, label="synthetic proxies") as bar:
        for century in centuries:
            bar.status(f"C{century:03d}: training")
            ...
            bar.advance()

and :func:`track` wraps an iterable the same way (``start()`` / ``close()`` do what the ``with`` block
does, for code that cannot nest). Bars draw on standard error (standard output stays
for results, so ``progressgym benchmark > table.md`` works), unless a rich ``Console`` is given.
A bar shows its label, ``done/total``, elapsed time and an ETA. It is cosmetic: with ``enabled=False``,
or when rich is not installed (it comes with the ``cli`` and ``llm`` extras), nothing is drawn and the
job runs the same.

Every bar also reports what it counts as :class:`ProgressEvent` values to the listeners registered
with :func:`listen` (drawn or not), so a caller (or a test) can follow a job's phases::

    with record_progress() as events:
        run_benchmark(config)
    [(e.label, e.completed, e.total) for e in events if e.kind == "advance"]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from typing_extensions import Self

T = TypeVar("T")


@dataclass(frozen=True)
class ProgressEvent:
    """One thing a bar did.

    :param label: the bar's label (the phase: ``benchmark``, ``plots``, ``wandb runs``, ...).
    :param kind: ``start``, ``advance``, ``status`` or ``close``.
    :param completed: steps done so far. :param total: steps of the bar. :param status: its status text.
    """

    label: str
    kind: str
    completed: int
    total: int
    status: str = ""


_LISTENERS: list[Callable[[ProgressEvent], None]] = []


@contextmanager
def listen(callback: Callable[[ProgressEvent], None]) -> Iterator[None]:
    """Call ``callback`` with every :class:`ProgressEvent` of every bar while the block runs."""
    _LISTENERS.append(callback)
    try:
        yield
    finally:
        _LISTENERS.remove(callback)


@contextmanager
def record_progress() -> Iterator[list[ProgressEvent]]:
    """Collect every :class:`ProgressEvent` of the block into the list it yields."""
    events: list[ProgressEvent] = []
    with listen(events.append):
        yield events


class ProgressBar:
    """A rich progress bar over ``total`` steps: label, bar, ``done/total``, elapsed time, ETA, status text.

    :param total: number of steps.
    :param label: what is being done (shown in bold before the bar).
    :param enabled: ``False`` makes every method a no-op.
    :param console: a ``rich.console.Console`` to draw on (default: a console on standard error).
    """

    def __init__(self, total: int, label: str, *, enabled: bool = True, console: Any = None) -> None:
        self.total = int(total)
        self.label = label
        self.console = console
        self.enabled = bool(enabled)
        self.completed = 0
        self._text = ""
        self._started = False
        self._bar: Any = None
        self._task: Any = None

    def _emit(self, kind: str) -> None:
        event = ProgressEvent(self.label, kind, self.completed, self.total, self._text)
        for callback in list(_LISTENERS):
            callback(event)

    def __enter__(self) -> Self:
        return self.start()

    def start(self) -> Self:
        """Start drawing (what entering the ``with`` block does); returns the bar."""
        if not self._started:
            self._started = True
            self._emit("start")
        if not self.enabled or self._bar is not None:
            return self
        try:
            from rich.console import Console
            from rich.markup import escape
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
        except ImportError:  # no rich: run without a bar
            self.enabled = False
            return self
        self._bar = Progress(
            TextColumn(f"[bold]{escape(self.label)}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=self.console if self.console is not None else Console(stderr=True),
        )
        self._bar.start()
        self._task = self._bar.add_task("", total=self.total)
        return self

    def status(self, text: str) -> None:
        """Show ``text`` after the bar without advancing it (e.g. the stage of the current step).

        :param text: the status (plain text; rich markup in it is shown literally).
        """
        self._text = text
        self._emit("status")
        if self._bar is not None:
            from rich.markup import escape

            self._bar.update(self._task, description=escape(text))

    def advance(self, status: str | None = None, steps: int = 1) -> None:
        """Count ``steps`` more steps done, optionally replacing the status text.

        :param status: the new status (e.g. which run just finished); ``None`` keeps the current one.
        :param steps: how many steps finished.
        """
        self.completed += steps
        if status is not None:
            self._text = status
        self._emit("advance")
        if self._bar is not None:
            if status is not None:
                from rich.markup import escape

                self._bar.update(self._task, description=escape(status))
            self._bar.update(self._task, advance=steps)

    def close(self) -> None:
        """Stop drawing (what leaving the ``with`` block does); safe to call twice."""
        if self._started:
            self._started = False
            self._emit("close")
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def track(
    items: Iterable[T], label: str, *, total: int | None = None, enabled: bool = True, console: Any = None
) -> Iterator[T]:
    """Yield ``items`` while a :class:`ProgressBar` counts them.

    :param items: what to iterate over.
    :param label: shown before the bar.
    :param total: number of items (default ``len(items)``; required when ``items`` has no length).
    :param enabled: ``False``: iterate without a bar.
    :param console: see :class:`ProgressBar`.
    """
    if total is None:
        if not isinstance(items, Sized):
            raise TypeError(f"track() needs total= for an iterable without len(), got {type(items).__name__}")
        total = len(items)
    with ProgressBar(total, label, enabled=enabled, console=console) as bar:
        for item in items:
            yield item
            bar.advance()


__all__ = ["ProgressBar", "ProgressEvent", "listen", "record_progress", "track"]
