"""Errors raised by why403_kit.

Hierarchy::

    Why403Error
     ├─ InputError        bad user input (URL, key, CIDR, pasted request); CLI exit 2
     └─ StepError         a diagnostic step failed unexpectedly; carries the step name

The classifier never raises; probes turn network trouble into findings, not exceptions.
"""

from __future__ import annotations

from .redact import redact


class Why403Error(Exception):
    """Base class; its message is always redacted."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class InputError(Why403Error):
    """The user gave something the kit cannot use."""


class StepError(Why403Error):
    """A step failed in a way the kit did not foresee."""

    def __init__(self, step: str, message: str) -> None:
        self.step = step
        super().__init__(f"step {step}: {message}")
