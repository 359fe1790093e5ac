"""What every probe shares: the one HTTP exchange (redacted, bounded, never raising) and the rules for the key."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from .. import knowledge
from ..classify import Diagnosis, classify
from ..model import Exchange, Finding, Status, Target
from ..redact import redact, redact_headers

MAX_BODY = 1 << 20  # read at most 1 MiB of any answer
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
# Where providers and the hops in front of them put the id support can look a request up by, most specific first.
REQUEST_ID_HEADERS = ("x-request-id", "apim-request-id", "x-ms-request-id", "request-id")


def fix(cause: str) -> str:
    return knowledge.load().cause(cause).fix


def may_send_key(url: str) -> bool:
    p = urlsplit(url)
    return p.scheme == "https" or (p.hostname or "") in LOOPBACK


def is_jwt(key: str) -> bool:
    """A Microsoft Entra access token (a JWT: eyJ… with three dot-separated parts), not an API key."""
    return key.startswith("eyJ") and key.count(".") == 2


def auth_headers(t: Target) -> dict[str, str]:
    if not t.api_key:
        return {}
    key = t.api_key.reveal()
    azure_key = t.provider == "azure" and not is_jwt(key)  # Azure: api-key for keys, Bearer for Entra tokens
    headers = {"api-key": key} if azure_key else {"Authorization": f"Bearer {key}"}
    if t.organization:
        headers["OpenAI-Organization"] = t.organization
    if t.project:
        headers["OpenAI-Project"] = t.project
    return headers


def request_id(headers: Mapping[str, str]) -> str:
    return next((headers[h] for h in REQUEST_ID_HEADERS if headers.get(h)), "")


def diagnosis_of(ex: Exchange) -> Diagnosis:
    """What the classifier makes of one exchange."""
    return classify(ex.status, ex.headers, ex.body_head, ex.error)


async def exchange(client: httpx.AsyncClient, method: str, url: str, t: Target, *, auth: bool, timeout: float,
                   json_body: Any = None) -> Exchange:
    """One request; returns a redacted :class:`Exchange` (never raises). ``timeout`` comes from the step's context."""
    headers = auth_headers(t) if auth and may_send_key(url) else {}
    params = {"api-version": t.api_version} if t.provider == "azure" and t.api_version and auth else None
    utc = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    status: int | None = None
    answer_headers: dict[str, str] = {}
    body = ""
    error: str | None = None
    truncated = False
    try:
        async with client.stream(method, url, headers=headers, params=params, json=json_body, timeout=timeout) as resp:
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= MAX_BODY:
                    truncated = True
                    break
            status = resp.status_code
            answer_headers = {k.lower(): v for k, v in redact_headers(dict(resp.headers)).items()}
            body = redact(b"".join(chunks)[:MAX_BODY].decode("utf-8", "replace"))
    except Exception as err:  # noqa: BLE001 -- network failures of any kind become evidence, not tracebacks
        error = redact(f"{type(err).__name__}: {err}")
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    responder = classify(status, answer_headers, body, error).responder
    return Exchange(method=method, url=redact(url), status=status, headers=answer_headers, body_head=body, elapsed_ms=elapsed,
                    responder=responder, request_id=request_id(answer_headers), cf_ray=answer_headers.get("cf-ray", ""), error=error,
                    truncated=truncated, utc=utc)


def where(ex: Exchange) -> str:
    """The request and its outcome in words, for evidence sentences."""
    return f"{ex.method} {ex.url} -> {ex.status if ex.status is not None else 'no answer'}"


def wire_finding(step: str, check: str, status: Status, ex: Exchange, *, cause: str = "", evidence: str = "", fix: str = "",
                 confidence: float = 1.0) -> Finding:
    """A finding about what one exchange showed: the answer's facts travel as fields, the sentence is for people."""
    return Finding(step, check, status, cause, evidence, fix, ex.request_id, ex.elapsed_ms, http_status=ex.status,
                   responder=ex.responder, cf_ray=ex.cf_ray, observed=True, confidence=confidence)


def finding_from(step: str, check: str, ex: Exchange) -> Finding:
    """What the classifier makes of one exchange, as a finding: pass when the API accepted it, else the cause and fix."""
    d = diagnosis_of(ex)
    status: Status = "pass" if d.cause == "ok" else "fail"
    said = d.evidence.removeprefix(f"HTTP {ex.status}").removeprefix("; ")  # where() already gives the status
    return wire_finding(step, check, status, ex, cause=d.cause, evidence=f"{where(ex)}; {said}" if said else where(ex),
                        fix="" if status == "pass" else d.fix, confidence=d.confidence)


def ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
