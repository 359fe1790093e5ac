"""Step 5, rate limits and retries: x-ratelimit-* headers, Retry-After, rate limit vs quota, a backoff plan."""

from __future__ import annotations

import random
import re
from typing import Any

from ..classify import classify
from ..model import Finding, Status
from ._http import fix

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


def retry_after(headers: dict[str, str]) -> float | None:
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


def rate_limit_checks(records: list[dict[str, Any]]) -> list[Finding]:
    s = "ratelimits"
    out: list[Finding] = []
    for rec in records:
        h = rec["headers"]
        for kind in ("requests", "tokens"):
            limit, remaining = h.get(f"x-ratelimit-limit-{kind}"), h.get(f"x-ratelimit-remaining-{kind}")
            if limit is None or remaining is None:
                continue
            try:
                lim, rem = float(limit), float(remaining)
            except ValueError:
                continue
            reset = parse_duration(h.get(f"x-ratelimit-reset-{kind}", "") or "0")
            if lim < 0:
                out.append(Finding(s, f"{kind} headroom", "warn", "", f"{kind}: limit reported as {limit} (Azure sends -1 when it does not say)"))
                continue
            pct = 100 * rem / lim if lim else 0
            status: Status = "fail" if rem <= 0 else "warn" if pct < 10 else "pass"
            out.append(Finding(s, f"{kind} headroom", status, "rate_limited" if status == "fail" else "",
                               f"{kind}: {rem:g} of {lim:g} left ({pct:.0f}%), resets in {reset if reset is not None else '?'} s",
                               fix("rate_limited") if status == "fail" else ""))
        if rec["status"] == 429:
            ra = retry_after(h)
            d = classify(rec["status"], h, rec["body"])
            plan = backoff_plan(ra) if d.cause == "rate_limited" else []
            out.append(Finding(s, "429 kind", "fail", d.cause,
                               f"{d.cause}: Retry-After={ra if ra is not None else 'absent'}; "
                               + (f"backoff plan {plan} s" if plan else "do not retry: retries cannot fix this"), d.fix))
        if out:
            break
    return out or [Finding(s, "rate-limit headers", "skip", "", "no x-ratelimit-* headers in any answer")]
