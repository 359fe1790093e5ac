"""The step contract: what a probe module declares (:class:`StepSpec`) and what the runner hands it (:class:`StepContext`).

A step is an async function ``run(ctx) -> list[Finding]`` plus its id in ``knowledge/steps.toml`` and the steps whose
answers it reads. It never raises for network trouble (that is a finding) and never reaches the network except
through ``ctx``: HTTP through :meth:`StepContext.send` (so an injected transport sees every request), raw sockets
only when :attr:`StepContext.raw_network` allows them, and every timeout from :meth:`StepContext.timeout`.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from ..errors import KnowledgeError
from ..knowledge import Knowledge
from ..model import Exchange, Finding, Target
from ..redact import redact
from . import _http


@dataclass(frozen=True)
class StepSpec:
    """The code side of one step of ``steps.toml``.

    ``reads`` names the steps whose recorded exchanges this one reads. The runner runs it after them when they
    are part of the same run; when none of them has run in the session, it runs the first one first, visibly
    (its progress hooks fire and a note says why it ran), rather than silently or not at all.
    """

    id: str
    run: Callable[[StepContext], Awaitable[list[Finding]]]
    reads: tuple[str, ...] = ()


class Budget:
    """How long a request may take: the one place where each request's deadline is computed.

    Each request gets the target's per-request timeout as a total deadline (headers and body), cut short by what is
    left of the whole run's deadline; once that has passed, nothing more is sent (:meth:`expired`).
    """

    def __init__(self, per_request: float, run: float | None = None) -> None:
        self.per_request = per_request
        self.run = run  # seconds the whole run may take; None: no run deadline
        self.deadline = None if run is None else time.monotonic() + run  # time.monotonic() by which the run must end

    def remaining(self) -> float | None:
        """Seconds left of the run, or None when the run has no deadline."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0.001

    def timeout(self) -> float:
        left = self.remaining()
        return self.per_request if left is None else max(0.001, min(self.per_request, left))


@dataclass
class StepContext:
    """What one step gets from the runner: the target, the client, the exchanges recorded so far, the budget.

    ``recorded`` is shared by every step of a session (a step records under its own id); ``raw_network`` is
    false when an httpx transport was injected, so checks that would open their own sockets (DNS, TCP, TLS
    timing) say they were skipped instead of touching the network behind the transport's back. ``verify`` is the
    trust store the client verifies TLS with; a step that does its own handshake uses it too.
    """

    target: Target
    client: httpx.AsyncClient
    step: str
    reads: tuple[str, ...]
    recorded: dict[str, list[Exchange]]
    budget: Budget
    raw_network: bool = True
    verify: ssl.SSLContext | None = None

    def timeout(self) -> float:
        return self.budget.timeout()

    def ssl_context(self) -> ssl.SSLContext:
        if self.verify is None:
            self.verify = _http.ssl_context(self.target)
        return self.verify

    async def send(self, method: str, url: str, *, auth: bool, json_body: Any = None, record: bool = True) -> Exchange:
        """One HTTP exchange through the run's client; recorded under this step unless ``record`` is false. Once the
        run's deadline has passed, nothing is sent and the exchange says so."""
        if self.budget.expired():
            ex = Exchange(method, url=redact(url), status=None, responder="client", utc=datetime.now(UTC).isoformat(timespec="seconds"),
                          error=f"Timeout: not sent, the run's deadline of {self.budget.run or 0:g} s had passed (the answers before were too slow)")
        else:
            ex = await _http.exchange(self.client, method, url, self.target, auth=auth, json_body=json_body, timeout=self.timeout())
        if record:
            self.recorded.setdefault(self.step, []).append(ex)
        return ex

    def read_exchanges(self) -> list[Exchange]:
        """The exchanges recorded by the steps this one reads, in the order it declared them."""
        return [ex for step in self.reads for ex in self.recorded.get(step, [])]


def ordered_registry(specs: Sequence[StepSpec], kb: Knowledge) -> tuple[StepSpec, ...]:
    """The registry in ``steps.toml`` order; a step in one and not the other, or a bad ``reads``, refuses to load."""
    by_id: dict[str, StepSpec] = {}
    for spec in specs:
        if spec.id in by_id:
            raise KnowledgeError(f"probes registry: step {spec.id!r} is registered twice")
        by_id[spec.id] = spec
    known = [s.id for s in kb.steps]
    if missing := [s for s in known if s not in by_id]:
        raise KnowledgeError(f"steps.toml: step(s) {', '.join(map(repr, missing))} have no probe in why403_kit.probes.REGISTRY")
    if extra := [s for s in by_id if s not in known]:
        raise KnowledgeError(f"steps.toml: no [[step]] entry for {', '.join(map(repr, extra))}, which the probes registry runs")
    for spec in by_id.values():
        for read in spec.reads:
            if read not in known or known.index(read) >= known.index(spec.id):
                raise KnowledgeError(f"probes registry: step {spec.id!r} reads {read!r}, which is not a step listed before it in steps.toml")
    return tuple(by_id[s] for s in known)



__all__ = ["Budget", "StepContext", "StepSpec", "ordered_registry"]
