"""SIGTERM as an interruption: ``kill PID`` cleans up exactly as Ctrl-C does.

Python's default SIGTERM action ends the process at once: no ``finally`` block runs, so an atomic
write (:mod:`~progressgym_env.common.atomic`) in progress leaves its temporary file behind, and a
benchmark does not save the runs it finished. :func:`terminate_as_interrupt` makes SIGTERM raise
:class:`Terminated`, a ``KeyboardInterrupt``, so every cleanup written for Ctrl-C runs for it too.
The ``progressgym`` command installs it for every subcommand.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM (raised where it was running, like Ctrl-C's ``KeyboardInterrupt``)."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"terminated by signal {signal.Signals(signum).name}")


def terminate_as_interrupt() -> bool:
    """Make SIGTERM raise :class:`Terminated` in the main thread; return whether the handler was installed.

    Not installed outside the main thread (Python allows signal handlers only there) nor where a
    handler other than the default one is already set (a host application's choice wins).
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
        return False
    signal.signal(signal.SIGTERM, _raise_terminated)
    return True


__all__ = ["Terminated", "terminate_as_interrupt"]
