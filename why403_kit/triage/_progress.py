"""A progress bar on stderr for long reads, only when stderr is a terminal (tqdm, imported only then)."""

from __future__ import annotations

import os
import sys
from typing import IO, Any


class Progress:
    """Bytes read (streaming engine) or percent done (DuckDB); silent unless ``enabled``."""

    def __init__(self, enabled: bool, *, total: int | None = None, unit: str = "B", desc: str = "triage", stream: IO[str] | None = None) -> None:
        self._bar: Any = None
        if not enabled:
            return
        from tqdm import tqdm

        try:
            delay = max(0.0, float(os.environ.get("WHY403_PROGRESS_DELAY", "1")))  # reads shorter than this show nothing
        except ValueError:
            delay = 1.0
        target = stream or sys.stderr
        try:
            size = os.get_terminal_size(target.fileno())
            columns, rows = size.columns, size.lines
        except (OSError, ValueError, AttributeError):
            columns, rows = 0, 0
        # a terminal that reports no size (0 x 0) would make tqdm hide the bar: assume 80 x 24 then
        self._bar = tqdm(total=total, unit=unit, unit_scale=unit == "B", unit_divisor=1024 if unit == "B" else 1000, desc=desc,
                         file=target, delay=delay, leave=False, ncols=columns if columns >= 40 else 80, nrows=rows or 24)
        self._done = 0

    def advance(self, n: int) -> None:
        if self._bar is not None and n > 0:
            self._bar.update(n)

    def percent(self, value: float) -> None:
        whole = int(value)
        if self._bar is not None and whole > self._done:
            self._bar.update(whole - self._done)
            self._done = whole

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def wanted(flag: bool | None, stream: IO[str] | None = None) -> bool:
    """Show progress? ``flag`` forces it on or off; by default only when the stream (stderr) is a terminal."""
    if flag is not None:
        return flag
    target = stream or sys.stderr
    try:
        return bool(target.isatty())
    except (AttributeError, ValueError):
        return False
