"""Every error why403_kit raises, in one tree.

Hierarchy::

    Why403Error              base; its message is always redacted
     ├─ InputError           bad user input (URL, key, CIDR, step name, saved report); CLI exit 2
     │   └─ LabError         the training lab cannot play that (unknown scenario, port in use); CLI exit 2
     ├─ KnowledgeError       a knowledge file is broken, or code asked for a cause id that does not exist;
     │                       the message names the file and the entry
     ├─ StepError            a step raised where it should have returned findings; carries the step id.
     │                       The runner turns it into an ``error`` finding unless asked to raise
     │                       (``allow_errors=False``, for whoever writes a new probe)
     └─ ExportError          a notebook could not be executed or exported (a cell failed, the kernel
                             died or timed out); CLI exit 1

Never raised: the classifier (it always returns a diagnosis) and the probes' network trouble, which becomes
findings, not exceptions.
"""

from __future__ import annotations

from .redact import redact


class Why403Error(Exception):
    """Base class; its message is always redacted."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class InputError(Why403Error):
    """The user gave something the kit cannot use."""


class LabError(InputError):
    """The training lab was asked for something it cannot play or serve."""


class KnowledgeError(Why403Error):
    """A knowledge file does not hold to its schema, or code looked up a cause id that does not exist."""


class StepError(Why403Error):
    """A step failed in a way the kit did not foresee."""

    def __init__(self, step: str, message: str) -> None:
        self.step = step
        super().__init__(f"step {step}: {message}")


class ExportError(Why403Error):
    """A notebook could not be executed or turned into a page."""


__all__ = ["ExportError", "InputError", "KnowledgeError", "LabError", "StepError", "Why403Error"]
