"""The runner of the six steps: independent probes run concurrently under per-request timeouts.

The probes live in :mod:`why403_kit.probes` (one module per step); every public name they define is
importable from here too, as it always was.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime
from typing import Any

import httpx

from . import knowledge
from .errors import InputError
from .model import Finding, Report, Target, Verdict
from .probes._http import MAX_BODY
from .probes.credentials import credential_checks, key_value_problems, lint_key
from .probes.headers import lint_request, lint_request_shape
from .probes.network import cert_issuer_subject, connection_checks, issuer_finding, network_checks
from .probes.permissions import INVALID_CHAT, INVALID_RESPONSES, free_probes, paid_probe_body, permission_checks, scope_finding
from .probes.ratelimits import backoff_plan, parse_duration, rate_limit_checks, retry_after
from .probes.support import support_bundle, support_checks, write_bundle

__all__ = [
    "INVALID_CHAT", "INVALID_RESPONSES", "MAX_BODY", "STEPS", "OnFindings", "Progress",
    "adiagnose", "backoff_plan", "cert_issuer_subject", "connection_checks", "credential_checks", "diagnose", "free_probes",
    "issuer_finding", "key_value_problems", "lint_key", "lint_request", "lint_request_shape", "network_checks", "paid_probe_body",
    "parse_duration", "permission_checks", "rate_limit_checks", "retry_after", "scope_finding", "support_bundle", "support_checks", "write_bundle",
]

Progress = Callable[[str, str], None]
OnFindings = Callable[[str, list[Finding]], None]
STEPS = ("credentials", "network", "permissions", "headers", "ratelimits", "support")
_STEP_ORDER = ["network", "credentials", "permissions", "headers", "ratelimits", "support"]


def _verdict(findings: list[Finding]) -> Verdict:
    kb = knowledge.load()
    fails = [f for f in findings if f.status in ("fail", "error") and f.cause]
    if not fails:
        c = kb.cause("ok")
        return Verdict("ok", c.summary, c.fix, c.title, 0.9)
    # a refusal observed on the wire outranks a lint; earlier steps outrank later ones
    wire = [f for f in fails if "->" in f.evidence] or fails
    best = min(wire, key=lambda f: _STEP_ORDER.index(f.step) if f.step in _STEP_ORDER else 99)
    c = kb.cause(best.cause)
    return Verdict(c.id, c.summary, c.fix, c.title, 0.85)


async def adiagnose(target: Target, *, transport: httpx.AsyncBaseTransport | None = None, progress: Progress | None = None,
                    steps: Collection[str] | None = None, on_findings: OnFindings | None = None) -> Report:
    """Run the steps (all six unless ``steps`` names some) against ``target``; network trouble becomes findings.

    ``progress(step, "running" | "done")`` and ``on_findings(step, findings)`` fire as each step
    starts and ends, so a view can grow its table while the other probes are still out.
    """
    wanted = set(STEPS if steps is None else steps)
    if unknown := wanted - set(STEPS):
        raise InputError(f"unknown step(s) {', '.join(sorted(unknown))}; the steps are {', '.join(STEPS)}")
    notify = progress or (lambda step, state: None)
    deliver = on_findings or (lambda step, found: None)
    started = time.perf_counter()
    utc = datetime.now(UTC).isoformat(timespec="seconds")
    t = target
    findings: list[Finding] = []
    exchanges: list[dict[str, Any]] = []
    async with httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=True) as client:
        async def step(name: str, work: Awaitable[list[Finding]]) -> list[Finding]:
            notify(name, "running")
            try:
                result = await work
            except Exception as err:  # noqa: BLE001 -- one broken step becomes an error finding; the others still report
                result = [Finding(name, "step", "error", "unknown", f"{type(err).__name__}: {err}")]
            deliver(name, result)
            notify(name, "done")
            return result

        async def sync(fn: Callable[[Target], list[Finding]]) -> list[Finding]:
            return fn(t)

        work = {
            "credentials": lambda: credential_checks(client, t, exchanges), "network": lambda: network_checks(client, t),
            "permissions": lambda: permission_checks(client, t, exchanges),
            "headers": lambda: sync(lambda tt: lint_request_shape(tt) + (lint_request(tt.pasted_request, tt.provider) if tt.pasted_request else [])),
        }
        # rate limits read the headers of the live exchanges, so asking for them alone still probes
        work_steps = ["credentials"] if "ratelimits" in wanted and not wanted & {"credentials", "permissions"} else []
        running = [n for n in work if n in wanted or n in work_steps]
        groups = await asyncio.gather(*(step(n, work[n]()) for n in running))
    for name, g in zip(running, groups, strict=True):
        if name in wanted:
            findings.extend(g)

    def after(name: str, check: Callable[[list[dict[str, Any]]], list[Finding]]) -> None:
        """Steps 5 and 6 read the exchanges the probes recorded; they run once those are in."""
        if name in wanted:
            notify(name, "running")
            found = check(exchanges)
            findings.extend(found)
            deliver(name, found)
            notify(name, "done")

    after("ratelimits", rate_limit_checks)
    verdict = _verdict(findings)  # the bundle's own finding is bookkeeping, not evidence
    after("support", support_checks)
    report = Report(t, findings, verdict, exchanges, utc)
    report.elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    return report


def diagnose(target: Target, **kwargs: Any) -> Report:
    """Synchronous wrapper of :func:`adiagnose` (runs its own event loop in a worker thread if one is running)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(adiagnose(target, **kwargs))
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, adiagnose(target, **kwargs)).result()
