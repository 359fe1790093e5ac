"""The one runner: walks the probes' registry for a target, concurrently, and says which finding decides the verdict.

It knows nothing about any one step: what a step does, and which other steps' answers it reads, the step declares
(:class:`~why403_kit.probes.StepSpec`). A :class:`Session` keeps what ran (findings and recorded exchanges per
step) between calls, so a notebook can run one step per cell through the same road as :func:`diagnose` runs all
six. The core is async; :meth:`Session.run` and :func:`diagnose` are its sync façade (they work inside a running
event loop too, as in Jupyter). Views follow a run through named hooks (:class:`Hooks`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from . import knowledge
from .errors import InputError, StepError
from .model import Exchange, Finding, Report, Target, Verdict
from .probes import REGISTRY, Budget, StepContext, StepSpec
from .probes._http import make_client, ssl_context
from .redact import redact

T = TypeVar("T")
_GRACE = 2.0  # seconds past the run's deadline before a step still running is stopped (its requests end at the deadline)


@dataclass(frozen=True)
class Hooks:
    """Named hooks a view subscribes to (nbclient-style); each is optional and called on the runner's thread.

    ``on_step_start(step, needed_by)``: a step starts; ``needed_by`` names the step that pulled it in as a
    dependency ('' when it was asked for). ``on_findings(step, findings)``: its findings, as soon as it ends.
    ``on_step_end(step)``: it ended.
    """

    on_step_start: Callable[[str, str], None] | None = None
    on_findings: Callable[[str, list[Finding]], None] | None = None
    on_step_end: Callable[[str], None] | None = None


def step_ids() -> tuple[str, ...]:
    """The step ids in reading order (``steps.toml``)."""
    return tuple(spec.id for spec in REGISTRY)


def decide(findings: Collection[Finding]) -> Verdict:
    """The verdict, and which finding decided it.

    A refusal observed on the wire outranks a lint; between those, the step that comes first in
    ``steps.toml``'s ``verdict_order`` wins. With no failure, the first answer the API accepted decides ``ok``.
    """
    kb = knowledge.load()
    rank = {step: i for i, step in enumerate(kb.verdict_order)}

    def order(f: Finding) -> int:
        return rank.get(f.step, len(rank))

    fails = [f for f in findings if f.status in ("fail", "error") and f.cause]
    if fails:
        best = min([f for f in fails if f.observed] or fails, key=order)
        c = kb.cause_or_unknown(best.cause)  # a replayed report may carry an id this version does not know
    else:
        accepted = [f for f in findings if f.observed and f.cause == "ok"]
        if not accepted:
            c = kb.cause("ok")
            return Verdict(c.id, c.summary, c.fix, c.title, 0.5)  # nothing failed, but nothing was asked of the API either
        best = min(accepted, key=order)
        c = kb.cause("ok")
    # The deciding finding's own fix when it has one: it may name what this run saw (the variable the key was read from).
    return Verdict(c.id, c.summary, best.fix or c.fix, c.title, best.confidence, best.step, best.check, best.http_status, best.responder)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from sync code, in a worker thread when this thread already runs a loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class Session:
    """One diagnosis of one target, run step by step or all at once; it remembers what each step found and recorded.

    ``transport`` replaces the network for every HTTP request (``httpx.MockTransport`` in tests); with one, the
    checks that would open their own sockets are reported as skipped. ``allow_errors=False`` raises
    :class:`StepError` when a step raises instead of returning findings (for whoever writes a new probe); by
    default that step gets an ``error`` finding and the others still report.
    """

    def __init__(self, target: Target, *, transport: httpx.AsyncBaseTransport | None = None, hooks: Hooks | None = None,
                 allow_errors: bool = True) -> None:
        self.target = target
        self.transport = transport
        self.hooks = hooks or Hooks()
        self.allow_errors = allow_errors
        self.findings: dict[str, list[Finding]] = {}
        self.recorded: dict[str, list[Exchange]] = {}
        self.started_utc = ""
        self.elapsed_ms = 0.0

    def plan(self, steps: Collection[str] | None = None) -> list[tuple[StepSpec, str]]:
        """(step, needed_by) in registry order: the steps asked for, plus any whose answers they read and that never ran."""
        known = step_ids()
        wanted = list(known if steps is None else steps)
        if unknown := [s for s in wanted if s not in known]:
            raise InputError(f"unknown step(s) {', '.join(sorted(unknown))}; the steps are {', '.join(known)}")
        needed_by: dict[str, str] = dict.fromkeys(wanted, "")
        for spec in reversed(REGISTRY):  # reads name earlier steps, so a pulled-in step is visited after the one pulling it
            if spec.id in needed_by and spec.reads and not any(r in needed_by or r in self.findings for r in spec.reads):
                needed_by.setdefault(spec.reads[0], spec.id)
        return [(spec, needed_by[spec.id]) for spec in REGISTRY if spec.id in needed_by]

    async def arun(self, steps: Collection[str] | None = None) -> list[Finding]:
        """Run ``steps`` (all when None) concurrently, each after the steps it reads; return what they found."""
        plan = self.plan(steps)
        started = time.perf_counter()
        self.started_utc = self.started_utc or datetime.now(UTC).isoformat(timespec="seconds")
        budget = Budget(self.target.timeout, self.target.run_deadline)
        for spec, _ in plan:  # a step run again replaces what it found and recorded before
            self.recorded.pop(spec.id, None)
        verify = ssl_context(self.target) if self.transport is None else None
        async with make_client(self.target, self.transport, verify) as client:  # InputError for a proxy the target needs and the kit cannot use
            tasks: dict[str, asyncio.Task[list[Finding]]] = {}
            for spec, needed_by in plan:
                ctx = StepContext(self.target, client, spec.id, spec.reads, self.recorded, budget, raw_network=self.transport is None,
                                  verify=verify)
                waits = [tasks[r] for r in spec.reads if r in tasks]
                tasks[spec.id] = asyncio.ensure_future(self._step(spec, ctx, needed_by, waits))
            try:
                # Every request is bounded by the budget; this bounds what is not a request (a DNS lookup, a hook), too.
                if tasks:
                    await asyncio.wait(tasks.values(), timeout=(budget.remaining() or 0) + _GRACE)
            finally:
                for spec, _ in plan:
                    task = tasks[spec.id]
                    if not task.done():
                        task.cancel()
                        self._overran(spec.id, budget)
                for task in tasks.values():
                    if task.done() and not task.cancelled() and (err := task.exception()) is not None:
                        raise err
        self.elapsed_ms = round(self.elapsed_ms + (time.perf_counter() - started) * 1000, 1)
        return [f for spec, _ in plan for f in self.findings[spec.id]]

    async def _step(self, spec: StepSpec, ctx: StepContext, needed_by: str, waits: list[asyncio.Task[list[Finding]]]) -> list[Finding]:
        await asyncio.gather(*waits, return_exceptions=True)  # the steps it reads end first (their failure is theirs to report)
        if self.hooks.on_step_start:
            self.hooks.on_step_start(spec.id, needed_by)
        failure: StepError | None = None
        try:
            found = list(await spec.run(ctx))
        except Exception as err:  # noqa: BLE001 -- a probe's bug is an error finding (or a StepError), never the run's crash
            found = [Finding(spec.id, "step", "error", "unknown", f"{type(err).__name__}: {err}")]
            if not self.allow_errors:
                failure = StepError(spec.id, f"{type(err).__name__}: {err}")
                # The probe's own traceback, for whoever debugs it, with its message masked like every other text.
                failure.__cause__ = RuntimeError(redact(f"{type(err).__name__}: {err}")).with_traceback(err.__traceback__)
        if failure is not None:
            raise failure  # outside the handler: the unmasked exception is not chained as its context
        if needed_by:
            found.insert(0, Finding(spec.id, "run for " + needed_by, "pass", "",
                                    f"not asked for: run first because step {needed_by} reads the answers this step records"))
        self.findings[spec.id] = found
        if self.hooks.on_findings:
            self.hooks.on_findings(spec.id, found)
        if self.hooks.on_step_end:
            self.hooks.on_step_end(spec.id)
        return found

    def _overran(self, step: str, budget: Budget) -> None:
        """A step still running when the run's deadline (and its grace) passed: what it found is replaced by that fact."""
        found = [Finding(step, "deadline", "error", "network_error",
                         f"the step did not finish within the run's deadline of {budget.run or 0:g} s: the answers were too slow",
                         knowledge.load().cause("network_error").fix, observed=True)]
        self.findings[step] = found
        if self.hooks.on_findings:
            self.hooks.on_findings(step, found)
        if self.hooks.on_step_end:
            self.hooks.on_step_end(step)

    def run(self, steps: Collection[str] | None = None) -> list[Finding]:
        """Sync façade of :meth:`arun`."""
        return run_sync(self.arun(steps))

    def report(self) -> Report:
        """Everything run so far, in the steps' reading order, with its verdict."""
        findings = tuple(f for step in step_ids() for f in self.findings.get(step, []))
        exchanges = tuple(e for step in step_ids() for e in self.recorded.get(step, []))
        return Report(self.target, findings, decide(findings), exchanges, self.started_utc, self.elapsed_ms)


async def adiagnose(target: Target, *, transport: httpx.AsyncBaseTransport | None = None, steps: Collection[str] | None = None,
                    hooks: Hooks | None = None, allow_errors: bool = True) -> Report:
    """Run the steps (all six unless ``steps`` names some) against ``target``; network trouble becomes findings."""
    session = Session(target, transport=transport, hooks=hooks, allow_errors=allow_errors)
    await session.arun(steps)
    return session.report()


def diagnose(target: Target, **kwargs: Any) -> Report:
    """Synchronous :func:`adiagnose` (runs its own event loop, in a worker thread if this thread already runs one)."""
    return run_sync(adiagnose(target, **kwargs))


__all__ = ["Hooks", "Session", "adiagnose", "decide", "diagnose", "run_sync", "step_ids"]
