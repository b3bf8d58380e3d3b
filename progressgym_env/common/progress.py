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
A bar is cosmetic: with ``enabled=False``, or when rich is not installed (it comes with the ``cli`` and
``llm`` extras), every method is a no-op and the job runs the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sized
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from typing_extensions import Self

T = TypeVar("T")


class ProgressBar:
    """A rich progress bar over ``total`` steps: label, bar, ``done/total``, elapsed time, status text.

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
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Self:
        return self.start()

    def start(self) -> Self:
        """Start drawing (what entering the ``with`` block does); returns the bar."""
        if not self.enabled or self._bar is not None:
            return self
        try:
            from rich.console import Console
            from rich.markup import escape
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        except ImportError:  # no rich: run without a bar
            self.enabled = False
            return self
        self._bar = Progress(
            TextColumn(f"[bold]{escape(self.label)}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
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
        if self._bar is not None:
            from rich.markup import escape

            self._bar.update(self._task, description=escape(text))

    def advance(self, status: str | None = None, steps: int = 1) -> None:
        """Count ``steps`` more steps done, optionally replacing the status text.

        :param status: the new status (e.g. which run just finished); ``None`` keeps the current one.
        :param steps: how many steps finished.
        """
        if self._bar is not None:
            if status is not None:
                self.status(status)
            self._bar.update(self._task, advance=steps)

    def close(self) -> None:
        """Stop drawing (what leaving the ``with`` block does); safe to call twice."""
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


__all__ = ["ProgressBar", "track"]
