"""What every probe shares: the one HTTP exchange (redacted, bounded, never raising) and the key rules."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from .. import knowledge
from ..classify import classify
from ..model import Finding, Status, Target
from ..redact import redact, redact_headers

MAX_BODY = 1 << 20  # read at most 1 MiB of any answer
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


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


async def exchange(client: httpx.AsyncClient, method: str, url: str, t: Target, *, auth: bool, json_body: Any = None) -> dict[str, Any]:
    """One request; returns a redacted record (never raises)."""
    headers = auth_headers(t) if auth and may_send_key(url) else {}
    params = {"api-version": t.api_version} if t.provider == "azure" and t.api_version and auth else None
    started = time.perf_counter()
    rec: dict[str, Any] = {"method": method, "url": redact(url), "utc": datetime.now(UTC).isoformat(timespec="seconds"),
                           "status": None, "headers": {}, "body": "", "exception": None}
    try:
        async with client.stream(method, url, headers=headers, params=params, json=json_body, timeout=t.timeout) as resp:
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= MAX_BODY:
                    rec["truncated"] = True
                    break
            rec["status"] = resp.status_code
            rec["headers"] = redact_headers(dict(resp.headers))
            rec["body"] = redact(b"".join(chunks)[:MAX_BODY].decode("utf-8", "replace"))
    except Exception as err:  # noqa: BLE001 -- network failures of any kind become evidence, not tracebacks
        rec["exception"] = redact(f"{type(err).__name__}: {err}")
    rec["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return rec


def finding_from(step: str, check: str, rec: dict[str, Any]) -> Finding:
    d = classify(rec["status"], rec["headers"], rec["body"], rec["exception"])
    status: Status = "pass" if d.cause == "ok" else "fail"
    where = f"{rec['method']} {rec['url']} -> {rec['status'] if rec['status'] is not None else 'no answer'}"
    return Finding(step, check, status, d.cause, f"{where}; {d.evidence} (responder: {d.responder})",
                   "" if status == "pass" else d.fix, rec["headers"].get("x-request-id", ""), rec["elapsed_ms"])


def ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
