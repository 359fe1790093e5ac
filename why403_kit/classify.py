"""Classify one refusal: (status, headers, body | exception) -> Diagnosis.

The rules live in the knowledge base; this module only extracts evidence from the answer
(error codes and types at any depth, messages, nested gateway payloads, HTML titles, headers)
and scores the rules against it. It never raises.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from . import knowledge
from .knowledge import Rule, norm_code
from .redact import redact

MAX_TEXT = 256 * 1024  # longer bodies are cut before matching: evidence sits at the start or the end
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_STRENGTH = {"codes": 40, "headers": 35, "titles": 35, "exceptions": 30, "messages": 30, "statuses": 10}
_CONFIDENCE = {"codes": 0.95, "headers": 0.9, "titles": 0.9, "exceptions": 0.9, "messages": 0.85, "statuses": 0.5}


@dataclass
class Diagnosis:
    """What the classifier concluded, with the evidence that decided it."""

    cause: str
    confidence: float
    evidence: str
    fix: str
    responder: str
    title: str = ""
    summary: str = ""
    retry: str = ""
    status: int | None = None
    matched: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Evidence:
    status: int | None
    headers: dict[str, str]
    text: str
    codes: dict[str, str]  # normalized -> original
    title: str
    exception: str
    has_error_object: bool
    is_html: bool


def _parse_structured(text: str) -> Any:
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[\"“":
        return None
    for candidate in (stripped, stripped.replace("“", '"').replace("”", '"')):
        try:
            return json.loads(candidate)
        except (ValueError, RecursionError):
            pass
        if len(candidate) < 200_000:
            try:
                return ast.literal_eval(candidate)
            except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
                pass
    return None


def _walk(obj: Any, codes: dict[str, str], strings: list[str], depth: int = 0) -> bool:
    """Collect codes/types/statuses and every string; parse strings that are JSON themselves."""
    if depth > 12:
        return False
    found_error = False
    if isinstance(obj, dict):
        for key, value in obj.items():
            k = str(key).lower()
            if k in ("error", "errors", "detail", "error_description") and value:
                found_error = True
            if k in ("code", "type", "status", "error_code", "errortype", "reason") and isinstance(value, (str, int)):
                raw = str(value)
                if raw and len(raw) < 100:
                    codes.setdefault(norm_code(raw), raw)
            found_error |= _walk(value, codes, strings, depth + 1)
    elif isinstance(obj, list):
        for value in obj[:50]:
            found_error |= _walk(value, codes, strings, depth + 1)
    elif isinstance(obj, str):
        strings.append(obj)
        brace = obj.find("{")
        nested = _parse_structured(obj[brace : obj.rfind("}") + 1]) if 0 <= brace < len(obj) - 1 else None
        if isinstance(nested, (dict, list)):
            found_error |= _walk(nested, codes, strings, depth + 1)
    return found_error


def _body_text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, (dict, list)):
        return json.dumps(body)
    text = str(body)
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT // 2] + "\n…\n" + text[-MAX_TEXT // 2 :]
    return text


def _gather(status: Any, headers: Any, body: Any, exception: Any) -> _Evidence:
    try:
        code = int(status) if status is not None and str(status).strip() != "" else None
    except (TypeError, ValueError):
        code = None
    hdrs: dict[str, str] = {}
    if isinstance(headers, Mapping):
        for k, v in list(headers.items())[:200]:
            hdrs[str(k).lower()] = str(v)[:2000]
    text = _body_text(body)
    codes: dict[str, str] = {}
    strings: list[str] = []
    parsed = _parse_structured(text)
    has_error = _walk(parsed, codes, strings) if parsed is not None else False
    if parsed is None and re.search(r"[\"“']error[\"”']\s*:", text[:2000]):
        has_error = True
        for m in re.finditer(r"[\"“'](?:code|type)[\"”']\s*:\s*[\"“']([A-Za-z0-9_.\-]{2,80})", text):
            codes.setdefault(norm_code(m.group(1)), m.group(1))
    title_match = _TITLE.search(text[:20000])
    title = re.sub(r"\s+", " ", title_match.group(1)).strip() if title_match else ""
    exc = "" if exception is None else (f"{type(exception).__name__}: {exception}" if isinstance(exception, BaseException) else str(exception))
    is_html = bool(title) or bool(re.search(r"<(?:!doctype html|html|body|h1|div)\b", text[:5000], re.IGNORECASE))
    joined = "\n".join([text, *strings])
    return _Evidence(code, hdrs, joined, codes, title, exc[:20000], has_error, is_html)


def _match(rule: Rule, ev: _Evidence) -> tuple[str, str] | None:
    """Return (strongest kind, evidence text) when every condition of ``rule`` holds."""
    found: list[tuple[str, str]] = []
    if rule.statuses:
        if ev.status not in rule.statuses:
            return None
        found.append(("statuses", f"HTTP status {ev.status}"))
    if rule.codes:
        hit = next((c for c in rule.codes if c in ev.codes), None)
        if hit is None:
            return None
        found.append(("codes", f"error code/type '{ev.codes[hit]}'"))
    for kind, patterns, haystack, label in (
        ("messages", rule.messages, ev.text, "message"),
        ("titles", rule.titles, ev.title, "page title"),
        ("exceptions", rule.exceptions, ev.exception, "client error"),
    ):
        if not patterns:
            continue
        m = next((m for p in patterns if (m := p.search(haystack))), None)
        if m is None:
            return None
        start, end = max(0, m.start() - 40), min(len(haystack), m.end() + 60)
        snippet = re.sub(r"\s+", " ", haystack[start:end]).strip()
        found.append((kind, f"{label} contains '{m.group(0)}': …{snippet}…" if kind != "titles" else f"page title '{ev.title}'"))
    if rule.headers:
        hit_h = None
        for name, value_re in rule.headers:
            names = [h for h in ev.headers if re.fullmatch(name, h)]
            for h in names:
                if value_re is None or value_re.search(ev.headers[h]):
                    hit_h = f"header {h}: {ev.headers[h]}"
                    break
            if hit_h:
                break
        if hit_h is None:
            return None
        found.append(("headers", hit_h))
    if not found:
        return None
    kind = max(found, key=lambda f: _STRENGTH[f[0]])[0]
    return kind, "; ".join(f[1] for f in found)


def _responder(cause_default: str, ev: _Evidence) -> str:
    if cause_default in ("edge", "proxy", "client"):
        return cause_default
    gateway = knowledge.load().responder("gateway")  # its telling wordings and headers are data (responders.toml)
    if any(p.search(ev.text[:20000]) for p in gateway.messages) or any(h.startswith(gateway.header_prefixes) for h in ev.headers):
        return "gateway"
    if ev.is_html and ev.headers.get("server", "").lower() == "cloudflare":
        return "edge"
    if ev.status is None:
        return "unknown"
    return cause_default


def _diagnosis(cause_id: str, confidence: float, evidence: str, ev: _Evidence, matched: list[str]) -> Diagnosis:
    cause = knowledge.load().cause(cause_id)
    return Diagnosis(
        cause=cause.id,
        confidence=round(confidence, 2),
        evidence=redact(evidence)[:600],
        fix=cause.fix,
        responder=_responder(cause.responder, ev),
        title=cause.title,
        summary=cause.summary,
        retry=cause.retry,
        status=ev.status,
        matched=matched,
    )


def _fallback(ev: _Evidence) -> tuple[str, float, str]:
    s = ev.status
    if s is None:
        return "unknown", 0.2, "no status and nothing recognisable in the text"
    if s == 401:
        return "invalid_api_key", 0.45, "HTTP 401 with no recognisable error code: the credential was refused"
    if s == 404:
        return "wrong_endpoint", 0.4, "HTTP 404 with no recognisable error code: nothing answers at this URL"
    if s in (301, 302, 303, 307, 308):
        return "wrong_endpoint", 0.5, f"HTTP {s} redirect: the API does not redirect; the base URL is probably wrong"
    return "unknown", 0.3, f"HTTP {s} with no recognisable error code, message or page"


def classify(
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    body: str | bytes | Any = "",
    exception: BaseException | str | None = None,
) -> Diagnosis:
    """Name the cause of one answer (or of a failure to get one). Never raises."""
    try:
        ev = _gather(status, headers, body, exception)
        if ev.status is not None and 200 <= ev.status < 300 and not ev.has_error_object:
            return _diagnosis("ok", 0.99, f"HTTP {ev.status}", ev, [])
        best: tuple[int, str, str, str] | None = None  # score, cause, kind, evidence
        matched: list[str] = []
        for cause in knowledge.load().causes.values():
            for rule in cause.rules:
                hit = _match(rule, ev)
                if hit is None:
                    continue
                kind, text = hit
                score = _STRENGTH[kind] + rule.priority
                matched.append(cause.id)
                if best is None or score > best[0]:
                    best = (score, cause.id, kind, text)
        if best is not None:
            _, cause_id, kind, text = best
            return _diagnosis(cause_id, _CONFIDENCE[kind], text, ev, sorted(set(matched)))
        cause_id, conf, text = _fallback(ev)
        return _diagnosis(cause_id, conf, text, ev, [])
    except Exception as err:  # noqa: BLE001 -- the classifier must never raise, whatever it is fed
        fallback = knowledge.load().cause("unknown")
        return Diagnosis("unknown", 0.0, f"classifier could not read the input ({type(err).__name__})", fallback.fix, "unknown")
