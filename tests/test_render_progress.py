"""Progress (render/progress.py): drawn only on a terminal, quiet for the delay, erased at the end, never a failure.

The terminal is a real pseudo-terminal; what the code wrote is read back from its other end.
"""

from __future__ import annotations

import contextlib
import io
import os
import pty
import select
import subprocess
import sys
from collections.abc import Iterator
from typing import TextIO

import pytest

from why403_kit import knowledge
from why403_kit.model import Finding
from why403_kit.render.progress import ERASE, StatusLine, StepProgress, bars, progress_delay, status_line, step_progress

from .conftest import CANARY


@pytest.fixture
def terminal() -> Iterator[tuple[TextIO, int]]:
    """(the terminal's stream, the fd its output is read from)."""
    master, slave = pty.openpty()
    stream = os.fdopen(slave, "w", encoding="utf-8")
    try:
        yield stream, master
    finally:
        for close in (stream.close, lambda: os.close(master)):
            with contextlib.suppress(OSError):  # already closed, or its end of the terminal is gone
                close()


def read_until(master: int, wanted: str, seen: str = "") -> str:
    """What the terminal showed, read until ``wanted`` appears (or 10 s without a byte)."""
    while wanted not in seen:
        ready, _, _ = select.select([master], [], [], 10)
        if not ready:
            break
        seen += os.read(master, 65536).decode(errors="replace")
    return seen


def test_nothing_is_made_for_a_pipe_or_a_file(terminal: tuple[TextIO, int]) -> None:
    stream, _ = terminal
    with open(os.devnull, "w") as devnull:
        for other in (io.StringIO(), devnull):
            assert step_progress(other) is None and status_line(other) is None and bars(other) is None
    assert bars(io.StringIO(), force=True) is not None and bars(stream, force=False) is None  # --progress / --no-progress
    assert isinstance(status_line(stream), StatusLine) and bars(stream) is not None
    steps = step_progress(stream)
    assert isinstance(steps, StepProgress)
    steps.close()


def test_the_delay_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHY403_PROGRESS_DELAY", "0.25")
    assert progress_delay() == 0.25
    monkeypatch.setenv("WHY403_PROGRESS_DELAY", "soon")
    assert progress_delay() == 1.0


def test_a_status_line_is_quiet_then_shown_redacted_then_erased(terminal: tuple[TextIO, int]) -> None:
    stream, master = terminal
    quiet = StatusLine(stream, delay=3600)
    quiet("running cell 1 of 9")
    quiet.close()
    status = StatusLine(stream, delay=0)
    status(f"calling with {CANARY}")
    status("running cell 2 of 9")
    status.close()
    stream.write("END")
    stream.flush()
    seen = read_until(master, "END")
    assert "cell 1" not in seen and "why403: running cell 2 of 9" in seen
    assert seen.endswith(ERASE + "END") and CANARY not in seen and "calling with" in seen


def test_step_progress_lists_each_step_and_erases_its_status_line(terminal: tuple[TextIO, int]) -> None:
    stream, master = terminal
    title = knowledge.load().steps[0].title
    steps = StepProgress(stream, delay=0)
    steps.on_step_start("credentials", "")
    seen = read_until(master, f"running: {title}")
    steps.on_findings("credentials", [Finding("credentials", "key shape", "pass"), Finding("credentials", "live", "fail")])
    steps.close()
    stream.write("END")
    stream.flush()
    seen = read_until(master, "END", seen)
    assert f"✗ {title}: 2 checks, 1 failed, 1 passed (" in seen
    assert seen.endswith(ERASE + "END")


def test_a_terminal_that_went_away_is_no_failure(terminal: tuple[TextIO, int]) -> None:
    stream, master = terminal
    os.close(master)  # every write to the terminal now fails (EIO)
    with pytest.raises(OSError):
        stream.write("x")
        stream.flush()
    status = StatusLine(stream, delay=0)
    status("running cell 1 of 2")
    status.close()
    steps = StepProgress(stream, delay=0)
    steps.on_step_start("credentials", "")
    steps.on_findings("credentials", [Finding("credentials", "live", "pass")])
    steps.close()
    make = bars(stream, force=True)
    assert make is not None
    bar = make("triage", total=100, unit="%")
    bar.percent(50)
    bar.close()


def test_a_bar_draws_on_the_terminal_and_tqdm_loads_only_then(terminal: tuple[TextIO, int], monkeypatch: pytest.MonkeyPatch) -> None:
    stream, master = terminal
    monkeypatch.setenv("WHY403_PROGRESS_DELAY", "0")
    make = bars(stream)
    assert make is not None
    bar = make("triage app.log", total=4096)
    bar.advance(2048)
    bar.close()
    stream.write("END")
    stream.flush()
    assert "triage app.log" in read_until(master, "END")
    code = "import sys; from why403_kit.render.progress import bars; bars(); print('tqdm' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout.strip() == "False"


def test_step_progress_fits_a_narrow_terminal(terminal: tuple[TextIO, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """At 60 columns a step's line ran past the edge and the terminal wrapped it inside a word ('1 s' / 'kipped'), and a
    status line longer than a row could not be erased (only its last row is): each now fits the terminal's width."""
    import fcntl
    import struct
    import termios

    stream, master = terminal
    fcntl.ioctl(stream.fileno(), termios.TIOCSWINSZ, struct.pack("HHHH", 24, 60, 0, 0))
    monkeypatch.delenv("COLUMNS", raising=False)
    steps = StepProgress(stream, delay=0)
    for step in ("credentials", "network", "permissions", "headers"):
        steps.on_step_start(step, "")
    seen = read_until(master, "running: ")
    statuses = ["error", "fail", "warn", "pass", "skip"]
    steps.on_findings("permissions", [Finding("permissions", f"check {s}", s) for s in statuses])
    steps.close()
    stream.write("END")
    stream.flush()
    seen = read_until(master, "END", seen)
    rows = [row for chunk in seen.replace("\r\n", "\n").split("\n") for row in chunk.split(ERASE)]
    assert rows and all(len(row) < 60 for row in rows), [row for row in rows if len(row) >= 60]
    said = " ".join(" ".join(rows).split())
    assert "1 could not run, 1 failed, 1 warned, 1 passed, 1 skipped" in said  # wrapped between words, nothing lost
    assert any(row.startswith("  running: 1. Credentials") and row.endswith("…") for row in rows)
