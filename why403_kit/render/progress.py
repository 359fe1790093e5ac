"""Progress on stderr while something slow runs: a line per step (diagnose), a status line (export), a bar (triage).

All three share one contract, kept in :class:`TerminalLine`: they draw only on a terminal (a pipe, a log or CI keeps
clean output), say nothing for the first second (``WHY403_PROGRESS_DELAY`` seconds) so a quick command prints
nothing, erase their line at the end so the command's own output starts on a clean line, and never fail: progress is
a courtesy, and a terminal that went away must not turn a diagnosis into a traceback. Each has a constructor that
returns None when the stream is not a terminal: ``step_progress``, ``status_line``, ``bars``.

The engines draw nothing themselves: the runner calls :class:`Hooks <why403_kit.runner.Hooks>`, an export calls a
``Callable[[str], None]``, triage calls a bar factory it was handed (``triage(..., progress=bars(sys.stderr))``).
tqdm is imported only when a bar is made.
"""

from __future__ import annotations

import os
import sys
import textwrap
import threading
import time
from typing import Any, TextIO

from .. import knowledge
from ..model import Finding
from ..redact import redact
from ..triage import Meters
from .text import STATUS_COLOUR, is_terminal, paint, terminal_width
from .words import worst_status

ERASE = "\r\x1b[K"  # back to the start of the line, then clear it
_DONE = {"error": "could not run", "fail": "failed", "warn": "warned", "pass": "passed", "skip": "skipped"}  # a step's line, worst first
_MARK = {"error": "✗", "fail": "✗", "warn": "!", "skip": "·"}


def progress_delay(default: float = 1.0) -> float:
    """Seconds of silence before progress shows: ``WHY403_PROGRESS_DELAY`` (tests set 0), else ``default``."""
    try:
        return max(0.0, float(os.environ.get("WHY403_PROGRESS_DELAY", default)))
    except ValueError:
        return default


def _row_width(stream: TextIO) -> int:
    """Columns of a row: ``$COLUMNS`` or the terminal's, as for the report; 80 for a terminal that reports no size
    (0 x 0, some CI consoles), as for the bars."""
    if not os.environ.get("COLUMNS", "").strip().isdigit():
        try:
            if os.get_terminal_size(stream.fileno()).columns == 0:
                return 80
        except (AttributeError, OSError, ValueError):
            return 80
    return terminal_width(stream)


class TerminalLine:
    """The shared core: a stream, the moment it started, whether anything was drawn, writes that never raise."""

    def __init__(self, stream: TextIO, *, delay: float | None = None) -> None:
        self.stream = stream
        self.delay = progress_delay() if delay is None else delay
        self.started = time.monotonic()
        self.shown = False
        self.width = _row_width(stream)

    def one_line(self, text: str) -> str:
        """``text`` cut to fit one row of the terminal: a line rewritten in place must not wrap, or erasing it would
        clear only its last row and leave the rest on screen."""
        room = self.width - 1  # some terminals wrap on the last column
        return text if len(text) <= room else text[: room - 1] + "…"

    def due(self) -> bool:
        """True once the quiet first ``delay`` seconds are over."""
        return time.monotonic() - self.started >= self.delay

    def write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal was closed under us: say nothing more
            pass

    def erase(self) -> None:
        """Clear the line drawn last, if anything was drawn."""
        if self.shown:
            self.write(ERASE)
        self.shown = False


class StepProgress:
    """A line per step while a diagnosis runs (the runner's ``Hooks`` feed it).

    After the delay, the steps that ended are listed and a status line names the ones still running, rewritten in
    place; :meth:`close` erases the status line. The hooks run on the runner's thread and the delay on a timer: a
    lock keeps their lines whole.
    """

    def __init__(self, stream: TextIO, *, delay: float | None = None, colour: bool = False) -> None:
        self.line = TerminalLine(stream, delay=delay)
        self.colour = colour
        self.title = knowledge.load().step_title
        self.running: dict[str, float] = {}
        self.done: list[str] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(self.line.delay, self._show)
        self._timer.daemon = True
        self._timer.start()

    def _status(self) -> str:
        names = ", ".join(self.title(s) for s in self.running)
        return ERASE + self.line.one_line(f"  running: {names} …") if names else ERASE

    def _show(self) -> None:
        with self._lock:
            if not self.line.shown:
                self.line.shown = True
                self.line.write("".join(self.done) + self._status())

    def on_step_start(self, step: str, needed_by: str) -> None:
        with self._lock:
            self.running[step] = time.perf_counter()
            if self.line.shown:
                self.line.write(self._status())

    def on_findings(self, step: str, findings: list[Finding]) -> None:
        with self._lock:
            started = self.running.pop(step, time.perf_counter())
            worst = worst_status(findings) or "pass"
            counts = {word: sum(f.status == s for f in findings) for s, word in _DONE.items()}
            said = "all passed" if worst == "pass" and counts["skipped"] == 0 else ", ".join(f"{n} {w}" for w, n in counts.items() if n)
            mark = paint(_MARK.get(worst, "✓"), STATUS_COLOUR.get(worst, ""), self.colour)
            checks = f"{len(findings)} check" + ("s" if len(findings) != 1 else "")
            # wrapped between words under the step's title: the terminal would wrap it anywhere ('1 s' / 'kipped')
            took = f"({time.perf_counter() - started:.1f}\u00a0s)"  # a no-break space: '(0.0' and 's)' stay together
            words = textwrap.wrap(f"{self.title(step)}: {checks}, {said} {took}",
                                  max(20, self.line.width - 5), break_long_words=False, break_on_hyphens=False)
            line = ERASE + f"  {mark} " + "\n    ".join(words) + "\n"
            self.done.append(line)
            if self.line.shown:
                self.line.write(line + self._status())

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            self.line.erase()


class StatusLine:
    """``status("running cell 3 of 12")`` shows ``why403: running cell 3 of 12`` in place, once the delay is over."""

    def __init__(self, stream: TextIO, *, delay: float | None = None) -> None:
        self.line = TerminalLine(stream, delay=delay)

    def __call__(self, message: str) -> None:
        if self.line.due():
            self.line.shown = True
            self.line.write(ERASE + self.line.one_line(f"why403: {redact(message)}"))

    def close(self) -> None:
        """Erase the status line (the command's own output follows on a clean line)."""
        self.line.erase()


class Bar:
    """A tqdm bar: bytes read (``advance``) or percent done (``percent``). tqdm keeps the contract itself: it waits out
    the delay (``delay``), erases the bar at the end (``leave=False``) and stops drawing when a write fails."""

    def __init__(self, stream: TextIO, desc: str, *, total: int | None = None, unit: str = "B", delay: float | None = None) -> None:
        from tqdm import tqdm

        try:
            size = os.get_terminal_size(stream.fileno())
            columns, rows = size.columns, size.lines
        except (OSError, ValueError, AttributeError):
            columns, rows = 0, 0
        # a terminal that reports no size (0 x 0) would make tqdm hide the bar: assume 80 x 24 then
        self._bar: Any = tqdm(total=total, unit=unit, unit_scale=unit == "B", unit_divisor=1024 if unit == "B" else 1000, desc=desc,
                              file=stream, delay=progress_delay() if delay is None else delay, leave=False,
                              ncols=columns if columns >= 40 else 80, nrows=rows or 24)
        self._percent = 0

    def advance(self, n: int) -> None:
        if n > 0:
            self._bar.update(n)

    def percent(self, value: float) -> None:
        whole = int(value)
        if whole > self._percent:
            self._bar.update(whole - self._percent)
            self._percent = whole

    def close(self) -> None:
        self._bar.close()


def step_progress(stream: TextIO | None = None, *, colour: bool = False) -> StepProgress | None:
    """A :class:`StepProgress` on ``stream`` (stderr) when it is a terminal, else None."""
    out = stream if stream is not None else sys.stderr
    return StepProgress(out, colour=colour) if is_terminal(out) else None


def status_line(stream: TextIO | None = None) -> StatusLine | None:
    """A :class:`StatusLine` on ``stream`` (stderr) when it is a terminal, else None."""
    out = stream if stream is not None else sys.stderr
    return StatusLine(out) if is_terminal(out) else None


def bars(stream: TextIO | None = None, *, force: bool | None = None) -> Meters | None:
    """A factory of :class:`Bar` on ``stream`` (stderr) when it is a terminal, else None; ``force`` overrides the test."""
    out = stream if stream is not None else sys.stderr
    if not (is_terminal(out) if force is None else force):
        return None

    def make(desc: str, *, total: int | None = None, unit: str = "B") -> Bar:
        return Bar(out, desc, total=total, unit=unit)

    return make


__all__ = ["Bar", "StatusLine", "StepProgress", "TerminalLine", "bars", "progress_delay", "status_line", "step_progress"]
