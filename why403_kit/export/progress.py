"""Progress of a long export on a terminal: one status line on stderr, rewritten in place, erased at the end.

Silent when stderr is not a terminal (pipes, logs, CI keep clean output) and for the first second, so a quick
export prints nothing. The export functions take any ``Callable[[str], None]``; this is the terminal's.
"""

from __future__ import annotations

import time
from typing import TextIO

from ..redact import redact


class TerminalProgress:
    """``progress("running cell 3 of 12")`` shows ``why403: running cell 3 of 12`` once ``delay`` seconds have passed."""

    def __init__(self, stream: TextIO, *, delay: float = 1.0) -> None:
        self.stream = stream
        self.delay = delay
        self.started = time.monotonic()
        self.shown = False

    def __call__(self, message: str) -> None:
        if time.monotonic() - self.started < self.delay:
            return
        self.stream.write(f"\r\x1b[Kwhy403: {redact(message)}")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        """Erase the status line (the command's own output follows on a clean line)."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def terminal_progress(stream: TextIO, *, delay: float = 1.0) -> TerminalProgress | None:
    """A progress line for ``stream`` when it is a terminal, else None (nothing is written)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return TerminalProgress(stream, delay=delay) if tty else None


__all__ = ["TerminalProgress", "terminal_progress"]
