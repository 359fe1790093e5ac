"""Step 5, rate limits and retries: x-ratelimit-* headers, Retry-After, rate limit vs quota, a backoff plan."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping

from ..model import Exchange, Finding, Status
from ._http import diagnosis_of, fix, wire_finding
from ._step import StepContext, StepSpec

_DUR = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(value: str) -> float | None:
    """Seconds in an OpenAI reset duration ('6m0s', '20ms', '1.5s'); None when unreadable."""
    v = value.strip()
    try:
        return float(v)
    except ValueError:
        pass
    parts = _DUR.findall(v)
    if not parts or "".join(a + b for a, b in parts) != v:
        return None
    return sum(float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u] for n, u in parts)


def retry_after(headers: Mapping[str, str]) -> float | None:
    h = {k.lower(): v for k, v in headers.items()}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return float(h[name]) * scale
        except (KeyError, ValueError):
            continue
    return None


def backoff_plan(retry_after_s: float | None, attempts: int = 6, base: float = 0.5, cap: float = 30.0, seed: int | None = 0) -> list[float]:
    """Delays in seconds: exponential with full jitter, capped, never shorter than Retry-After."""
    rng = random.Random(seed)
    delays = [min(cap, base * 2 ** n) * (0.5 + rng.random() / 2) for n in range(attempts)]
    if retry_after_s is not None:
        delays[0] = max(delays[0], retry_after_s)
    return [round(d, 3) for d in delays]


def headroom(headers: Mapping[str, str]) -> dict[str, dict[str, float | None]]:
    """Limit, remaining and reset (seconds) for requests and tokens from ``x-ratelimit-*`` headers (None: absent or unreadable).

    The one reader of these headers: the rate-limit step and the notebooks' plots both call it.
    """
    h = {k.lower(): v for k, v in headers.items()}

    def number(name: str) -> float | None:
        try:
            return float(h[name])
        except (KeyError, ValueError):
            return None

    out: dict[str, dict[str, float | None]] = {}
    for kind in ("requests", "tokens"):
        reset = h.get(f"x-ratelimit-reset-{kind}")
        out[kind] = {"limit": number(f"x-ratelimit-limit-{kind}"), "remaining": number(f"x-ratelimit-remaining-{kind}"),
                     "reset_s": parse_duration(reset) if reset else None}
    return out


def rate_limit_checks(exchanges: Iterable[Exchange]) -> list[Finding]:
    """Headroom from the first answer that reports it, and what a 429 means (rate limit or quota) with a backoff plan."""
    s = "ratelimits"
    out: list[Finding] = []
    for ex in exchanges:
        for kind, hr in headroom(ex.headers).items():
            lim, rem, reset = hr["limit"], hr["remaining"], hr["reset_s"]
            if lim is None or rem is None:
                continue
            if lim < 0:
                out.append(wire_finding(s, f"{kind} headroom", "warn", ex,
                                        evidence=f"{kind}: limit reported as {lim:g} (Azure sends -1 when it does not say)"))
                continue
            pct = 100 * rem / lim if lim else 0
            status: Status = "fail" if rem <= 0 else "warn" if pct < 10 else "pass"
            out.append(wire_finding(s, f"{kind} headroom", status, ex, cause="rate_limited" if status == "fail" else "",
                                    evidence=f"{kind}: {rem:g} of {lim:g} left ({pct:.0f}%), resets in {reset if reset is not None else '?'} s",
                                    fix=fix("rate_limited") if status == "fail" else ""))
        if ex.status == 429:
            ra = retry_after(ex.headers)
            d = diagnosis_of(ex)
            plan = backoff_plan(ra) if d.cause == "rate_limited" else []
            out.append(wire_finding(s, "429 kind", "fail", ex, cause=d.cause, confidence=d.confidence, fix=d.fix,
                                    evidence=f"{d.cause}: Retry-After={ra if ra is not None else 'absent'}; "
                                    + (f"backoff plan {plan} s" if plan else "do not retry: retries cannot fix this")))
        if out:
            break
    return out or [Finding(s, "rate-limit headers", "skip", "", "no x-ratelimit-* headers in any answer")]


async def run(ctx: StepContext) -> list[Finding]:
    """Step 5: read the answers the probes recorded; sends nothing itself."""
    return rate_limit_checks(ctx.read_exchanges())


STEP = StepSpec("ratelimits", run, reads=("credentials", "permissions"))
