"""What triage says about its progress: a hook its caller hands it, drawn by the render layer (render/progress.py).

Triage sits below the views, so it never draws: ``triage(path, progress=bars())`` hands it a factory of meters, and
the engines call ``advance`` (bytes read) or ``percent`` (DuckDB's own estimate) on one meter per read.
"""

from __future__ import annotations

from typing import Protocol


class Meter(Protocol):
    def advance(self, n: int) -> None: ...

    def percent(self, value: float) -> None: ...

    def close(self) -> None: ...


class Meters(Protocol):
    """Makes one :class:`Meter` per read: ``desc`` names it, ``total`` and ``unit`` ("B" or "%") size it."""

    def __call__(self, desc: str, *, total: int | None = None, unit: str = "B") -> Meter: ...
