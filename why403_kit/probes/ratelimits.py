"""Step 5, rate limits and retries: x-ratelimit-* headers, Retry-After, rate limit vs quota, a backoff plan."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from ..model import Exchange, Finding, Status
from ._http import diagnosis_of, fix, wire_finding
from ._step import StepContext, StepSpec

_DUR = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
# "Please try again in 6m0s." (OpenAI), "Please retry after 2 seconds." (Azure)
_HINT = re.compile(r"(?i)\b(?:try again|retry) (?:in|after) ((?:\d+(?:\.\d+)?(?:ms|h|m|s))+|\d+(?:\.\d+)? ?(?:seconds?|secs?|s)\b)")
# Which bucket a 429's message says ran out: "... on tokens per min (TPM)", "... on requests per day (RPD)".
_BUCKET = re.compile(r"(?i)\bon (tokens|requests) per (?:min|day)")


MAX_WAIT = 24 * 3600.0  # seconds: no wait the kit reads or proposes is longer (a server may say 1e12, inf or a date in 9999)


def bounded(seconds: float | None) -> float | None:
    """A wait the kit can use: None for NaN or a negative value (unreadable), at most MAX_WAIT (infinity included)."""
    if seconds is None or math.isnan(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_WAIT)


def parse_duration(value: str) -> float | None:
    """Seconds in an OpenAI reset duration ('6m0s', '20ms', '1.5s'), at most MAX_WAIT; None when unreadable."""
    v = value.strip()
    try:
        return bounded(float(v))
    except (ValueError, OverflowError):
        pass
    parts = _DUR.findall(v)
    if not parts or "".join(a + b for a, b in parts) != v:
        return None
    return bounded(sum(float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u] for n, u in parts))


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names in lower case, Azure's ``x-rate-limit-*`` spelling read as ``x-ratelimit-*``."""
    out = {}
    for k, v in headers.items():
        name = str(k).lower()
        out[name.replace("x-rate-limit-", "x-ratelimit-", 1) if name.startswith("x-rate-limit-") else name] = str(v)
    return out


@dataclass(frozen=True)
class RetryWait:
    """How long to wait before the first retry, and which header or message said so."""

    seconds: float
    reason: str


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks for: ``retry-after-ms`` (Azure; read first, as openai-python does), else ``Retry-After``
    in seconds or as an HTTP date (counted from the answer's ``Date`` header when it has one)."""
    wait = _server_wait(_lower(headers))
    return wait.seconds if wait else None


def _server_wait(h: Mapping[str, str]) -> RetryWait | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        if name not in h:
            continue
        said = h[name].strip()
        try:
            value: float | None = float(said) * scale
        except (ValueError, OverflowError):
            value = _seconds_until(said, h.get("date", "")) if name == "retry-after" else None
        if (wait := bounded(value)) is not None:
            return RetryWait(wait, f"{'Retry-After' if name == 'retry-after' else name} {said[:40]}{_capped(value)}")
    return None


def _capped(value: float | None) -> str:
    return f" (capped at {MAX_WAIT:g} s)" if value is not None and value > MAX_WAIT else ""


def _http_date(text: str) -> datetime | None:
    """An HTTP-date (RFC 9110: IMF-fixdate, RFC 850 or asctime, all in UTC), or None."""
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)  # asctime carries no zone: HTTP dates are UTC


def _seconds_until(when: str, date: str) -> float | None:
    """Seconds from the answer's Date (else now) to ``when``; 0 for a date in the past."""
    then = _http_date(when)
    now = (_http_date(date) if date else None) or datetime.now(UTC)
    return None if then is None else max(0.0, (then - now).total_seconds())


def retry_wait(headers: Mapping[str, str], body: str = "") -> RetryWait | None:
    """The earliest sensible retry: the longest of ``retry-after-ms``/``Retry-After``, a "try again in" hint in the
    message, and the reset of every bucket the ``x-ratelimit-*`` headers (or the message) say is exhausted.

    A bucket's reset is when it is full again; retrying before an exhausted one resets only earns another 429
    (and failed requests count against the limit), so a 2 s Retry-After never wins over tokens that reset in 6 minutes.
    The one reader of these headers for the rate-limit step, the backoff plan and the notebooks' plots. None: nothing said.
    """
    h = _lower(headers)
    found: list[RetryWait] = []
    if server := _server_wait(h):
        found.append(server)
    if (m := _HINT.search(body or "")) and (hint := _hint_seconds(m.group(1))) is not None:
        found.append(RetryWait(hint, f"the message says '{m.group(0)}'"))
    buckets = headroom(h)
    exhausted = [k for k, hr in buckets.items() if hr["remaining"] == 0 and (hr["limit"] is None or hr["limit"] > 0)]
    if not exhausted and (named := _BUCKET.search(body or "")):
        exhausted = [named.group(1).lower()]
    for kind in exhausted:
        reset = buckets[kind]["reset_s"]
        if reset is not None:
            said = h[f"x-ratelimit-reset-{kind}"].strip()[:40]
            found.append(RetryWait(reset, f"{kind} exhausted: x-ratelimit-reset-{kind} {said}" + (" (capped)" if reset >= MAX_WAIT else "")))
    return max(found, key=lambda w: w.seconds) if found else None


def _hint_seconds(text: str) -> float | None:
    words = re.fullmatch(r"(\d+(?:\.\d+)?) ?(?:seconds?|secs?|s)", text.strip())
    return bounded(float(words.group(1))) if words else parse_duration(text)


def backoff_plan(wait_s: float | None, attempts: int = 6, base: float = 0.5, cap: float = 30.0, seed: int | None = 0) -> list[float]:
    """Delays in seconds: exponential with full jitter, capped, the first never shorter than ``wait_s``
    (:func:`retry_wait`'s seconds: after it the bucket is full again, so the rest start small)."""
    rng = random.Random(seed)
    delays = [min(cap, base * 2 ** n) * (0.5 + rng.random() / 2) for n in range(attempts)]
    if (wait := bounded(wait_s)) is not None and delays:
        delays[0] = max(delays[0], wait)
    return [round(d, 3) for d in delays]


def retry_plan(headers: Mapping[str, str], body: str = "", *, attempts: int = 6, seed: int | None = 0) -> list[float]:
    """The backoff plan for an answer: :func:`backoff_plan` after :func:`retry_wait`."""
    wait = retry_wait(headers, body)
    return backoff_plan(wait.seconds if wait else None, attempts=attempts, seed=seed)


def headroom(headers: Mapping[str, str]) -> dict[str, dict[str, float | None]]:
    """Limit, remaining and reset (seconds) for requests and tokens from ``x-ratelimit-*`` headers (None: absent or unreadable).

    The one reader of these headers: the rate-limit step, :func:`retry_wait` and the notebooks' plots all call it.
    """
    h = _lower(headers)

    def number(name: str) -> float | None:
        try:
            value = float(h[name])
        except (KeyError, ValueError, OverflowError):
            return None
        return value if math.isfinite(value) else None  # 'nan' or 'inf' says nothing about a bucket

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
            d = diagnosis_of(ex)
            if d.cause == "rate_limited":  # only a rate limit passes with time; a wait proposed for anything else misleads
                wait = retry_wait(ex.headers, ex.body_head)
                said = f"wait {wait.seconds:g} s ({wait.reason})" if wait else "no Retry-After, reset or 'try again' hint"
                plan = ", ".join(f"{delay:.3g}" for delay in backoff_plan(wait.seconds if wait else None))
                evidence = f"a rate limit: {said}; backoff plan {plan} s"
            else:
                evidence = "not a rate limit: do not retry, retries cannot fix this"
            out.append(wire_finding(s, "429 kind", "fail", ex, cause=d.cause, confidence=d.confidence, fix=d.fix, evidence=evidence))
        if out:
            break
    return out or [Finding(s, "rate-limit headers", "skip", "", "no x-ratelimit-* headers in any answer")]


async def run(ctx: StepContext) -> list[Finding]:
    """Step 5: read the answers the probes recorded; sends nothing itself."""
    return rate_limit_checks(ctx.read_exchanges())


STEP = StepSpec("ratelimits", run, reads=("credentials", "permissions"))
