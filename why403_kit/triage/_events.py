"""Events: one refusal (or success) as read from any record, with the fields triage counts by.

A record is whatever a reader yields: a JSON object (HAR entry, JSON line, CSV or Parquet row, gateway log row) or a
text (a log line, a traceback's error lines). Field names are guessed from the usual shapes; a :class:`FieldMap`
(``--field status=response.status``) names them when a gateway's shape is not a usual one.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..model import request_id_of
from ._signature import find_key, key_hash

MAX_EVENT = 1 << 20  # bytes of one record that are read; a longer line is skipped, a longer field is cut
_STATUS_RES = (
    re.compile(r"(?i)error code:?\s*(\d{3})\b"),
    re.compile(r"\bHTTP/\d(?:\.\d)?\"?\s+(\d{3})\b"),
    re.compile(r"(?i)\bstatus(?:[_ ]?code)?[\"']?\s*[=:]\s*[\"']?(\d{3})\b"),
    re.compile(r"\b(\d{3})\s+(?:Unauthorized|Forbidden|Too Many Requests|Not Found|Bad Gateway|Service Unavailable|Gateway Timeout)\b"),
)
_ERRORISH = re.compile(r"(?i)error|exception|refused|denied|forbidden|unauthori[sz]ed|blocked|timed? ?out|quota|rate.?limit|certificate")
TS_PATTERN = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?"
_TS_RE = re.compile(TS_PATTERN)
URL_PATTERN = r"https?://([^/\s\"'<>\\]+)"
_URL_RE = re.compile(URL_PATTERN)
_BARE_HOST = re.compile(r"[\w.\-]+(?::\d+)?")
_MODEL_RE = re.compile(r"\"model\"\s*:\s*\"([^\"]{1,100})\"")

TS_KEYS = ("timestamp", "ts", "time", "@timestamp", "datetime", "date", "asctime", "created_at", "created", "startedDateTime",
           "logged_at", "startTime")
STATUS_KEYS = ("status", "status_code", "statusCode", "http_status", "httpStatus", "response_status", "code")
BODY_KEYS = ("body", "response_body", "responseBody", "response_text", "text", "content", "detail", "data")
EXC_KEYS = ("exception", "exc", "exc_info", "exception_text", "error_message", "traceback", "stack_trace", "_error")
MSG_KEYS = ("message", "msg", "log", "error", "event", "textPayload", "_msg")
URL_KEYS = ("url", "request_url", "api_base", "base_url", "endpoint", "host")
MODEL_KEYS = ("model", "model_group", "deployment")
KEY_KEYS = ("key_hint", "api_key_hint", "hashed_key", "api_key", "key")
ID_KEYS = ("request_id", "requestId", "x-request-id", "call_id", "id")
FIELDS = ("status", "headers", "body", "exception", "message", "time", "url", "model", "key", "request_id")

# Field maps for gateway log shapes the guesses do not cover. LiteLLM's spend logs keep the failure under
# metadata.error_information; OpenAI-style error logs carry the API's {"error": {...}} object beside a status code.
PRESETS: dict[str, dict[str, str]] = {
    "litellm": {"status": "metadata.error_information.error_code", "exception": "metadata.error_information.error_message",
                "time": "startTime", "url": "api_base", "model": "model", "key": "api_key", "request_id": "request_id"},
    "openai": {"status": "status_code", "body": "error", "time": "timestamp", "request_id": "request_id", "model": "model"},
}


@dataclass(frozen=True)
class FieldMap:
    """Where each field of an event sits in a record (dotted paths), for shapes the built-in guesses miss."""

    paths: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def parse(cls, specs: list[str] | tuple[str, ...] = (), file: str | Path | None = None) -> FieldMap:
        """From ``name=path`` specs, a preset name (``litellm``, ``openai``) or a TOML/JSON file of ``name = "path"``."""
        raw: dict[str, str] = {}
        if file:
            try:
                text = Path(file).read_text(encoding="utf-8")
            except OSError as err:
                raise InputError(f"cannot read the field map {file}: {err.strerror or err}") from None
            try:
                data: Any = json.loads(text) if text.lstrip().startswith("{") else tomllib.loads(text)
            except (ValueError, tomllib.TOMLDecodeError) as err:
                raise InputError(f"the field map {file} is neither TOML nor JSON: {err}") from None
            table = data.get("fields", data) if isinstance(data, dict) else None
            if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
                raise InputError(f"the field map {file} must map field names to dotted paths (strings)")
            raw.update(table)
        for spec in specs:
            if spec in PRESETS:
                raw.update(PRESETS[spec])
                continue
            name, sep, path = spec.partition("=")
            if not sep or not path.strip():
                raise InputError(f"--field expects NAME=PATH (e.g. status=response.status) or a preset ({', '.join(PRESETS)}), got {spec!r}")
            raw[name.strip()] = path.strip()
        unknown = sorted(set(raw) - set(FIELDS))
        if unknown:
            raise InputError(f"unknown field {', '.join(unknown)}; fields are {', '.join(FIELDS)}")
        return cls({k: tuple(p for p in v.split(".") if p) for k, v in raw.items()})

    def get(self, obj: Mapping[str, Any], name: str) -> Any:
        path = self.paths.get(name)
        if not path:
            return None
        value: Any = obj
        for part in path:
            if isinstance(value, str) and value[:1] in ("{", "["):  # a JSON document kept as a string (CSV columns)
                with contextlib.suppress(ValueError, RecursionError):
                    value = json.loads(value)
            if isinstance(value, Mapping):
                value = value.get(part)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return None
        return value

    def deciding_keys(self) -> set[str]:
        """The record keys mapped to what decides a cause (status, headers, body, exception, message): a whole-line
        signature keeps them, even under a name it otherwise drops as one call's own (``id``, ``time``...)."""
        return {path[-1] for name, path in self.paths.items() if path and name in ("status", "headers", "body", "exception", "message")}

    def __bool__(self) -> bool:
        return bool(self.paths)


NO_FIELDS = FieldMap()


@dataclass(slots=True)
class Event:
    """One record that reports a call's outcome. ``where`` says where it was read (``line 12``, ``entry 3``)."""

    where: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    exception: str = ""
    when: datetime | None = None
    host: str = ""
    model: str = ""
    key: str | None = None  # a stable hash of the key or key hint, never the key
    request_id: str = ""


# ---------------------------------------------------------------- field readers


def when(value: Any) -> datetime | None:
    """Epoch seconds/ms, ISO 8601 or an HTTP date, as an aware UTC datetime; None when unreadable."""
    try:
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if isinstance(value, (int, float)) or (isinstance(value, str) and re.fullmatch(r"\d{9,14}(?:\.\d+)?", value.strip())):
            number = float(value)
            secs = number / 1000 if number > 1e11 else number
            return datetime.fromtimestamp(secs, UTC) if secs > 0 else None
        text = str(value).strip()
        if not text:
            return None
        m = _TS_RE.search(text)
        dt = datetime.fromisoformat(m.group(0).replace(",", ".")) if m else parsedate_to_datetime(text)
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except (ValueError, TypeError, OverflowError, OSError, IndexError):
        return None


def host(value: Any, *, bare: bool = False) -> str:
    """The host of the first URL in ``value``; with ``bare``, a plain hostname field counts too."""
    text = str(value or "")[:4096]
    m = _URL_RE.search(text)
    found = m.group(1) if m else (text if bare and _BARE_HOST.fullmatch(text) and "." in text else "")
    return found.rsplit("@", 1)[-1].lower()[:200]


def status(value: Any) -> int | None:
    """An HTTP status from a number or a text that starts with one ("401", "401 Unauthorized"); ``success`` is 200."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().lower() in ("success", "succeeded", "ok"):
        return 200
    m = re.match(r"\s*(\d{3})\b", str(value)) if isinstance(value, (str, int)) else None
    code = int(m.group(1)) if m else None
    return code if code is not None and 100 <= code <= 599 else None


def scan_text(text: str) -> tuple[int | None, str]:
    """Status (`Error code: 401`, `HTTP/1.1 403`, `status=429`) and the embedded JSON/dict body of one log text."""
    found = next((s for r in _STATUS_RES if (m := r.search(text)) and (s := status(m.group(1)))), None)
    start, end = text.find("{"), text.rfind("}")
    return found, text[start : end + 1] if 0 <= start < end else ""


def headers_of(value: Any) -> dict[str, str]:
    if isinstance(value, str) and value[:1] == "{":  # headers kept as a JSON string (CSV)
        with contextlib.suppress(ValueError, RecursionError):
            value = json.loads(value)
    if isinstance(value, Mapping):
        return {str(k).lower(): str(v)[:2000] for k, v in list(value.items())[:200]}
    if isinstance(value, list):  # HAR: [{"name": ..., "value": ...}]
        return {str(h.get("name", "")).lower(): str(h.get("value", ""))[:2000] for h in value[:200] if isinstance(h, dict)}
    return {}


def text_of(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, (dict, list)):
        with contextlib.suppress(ValueError, TypeError, RecursionError):
            return json.dumps(value)[:MAX_EVENT]
        return ""
    return str(value)[:MAX_EVENT]


def first(obj: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """The first non-empty value under one of ``keys`` (a plain loop: this runs for every field of every event)."""
    for key in keys:
        value = obj.get(key)
        if value:
            return value
    return None


def _pick(fields: FieldMap, obj: Mapping[str, Any], name: str, fallback: Any) -> Any:
    if fields and name in fields.paths:
        value = fields.get(obj, name)
        return value if value not in (None, "") else None
    return fallback


# ---------------------------------------------------------------- records -> events


def from_obj(obj: Any, where: str, fields: FieldMap = NO_FIELDS, raw: str = "") -> Event | None:
    """One event from a JSON object of any common shape (flat, HAR entry, SDK dump, gateway log); None when it is none.

    ``raw`` is the record's own text when there is one (a JSON line): key hints are looked for in it.
    """
    if not isinstance(obj, Mapping):
        return None
    resp: Mapping[str, Any] = obj["response"] if isinstance(obj.get("response"), Mapping) else {}
    req: Mapping[str, Any] = obj["request"] if isinstance(obj.get("request"), Mapping) else {}
    ev = Event(where)
    mapped_status = _pick(fields, obj, "status", None)
    ev.status = status(mapped_status) if mapped_status is not None else next(
        (s for k in STATUS_KEYS for src in (obj, resp) if (s := status(src.get(k)))), None)
    ev.headers = headers_of(_pick(fields, obj, "headers", obj.get("headers") or obj.get("response_headers") or resp.get("headers")))
    content: Mapping[str, Any] = resp["content"] if isinstance(resp.get("content"), Mapping) else {}
    body: Any = _pick(fields, obj, "body", first(obj, BODY_KEYS) or content.get("text") or first(resp, ("body", "text")))
    if body is not None and body is content.get("text") and content.get("encoding") == "base64" and isinstance(body, str):
        with contextlib.suppress(ValueError):
            body = base64.b64decode(body[: MAX_EVENT * 2]).decode("utf-8", "replace")
    if body is None and isinstance(obj.get("error"), Mapping) and "body" not in fields.paths:
        body = {"error": obj["error"]}
    ev.body = text_of(body)
    exc = text_of(_pick(fields, obj, "exception", first(obj, EXC_KEYS) or first(resp, ("_error", "error"))))
    if m := re.search(r"net::ERR_(\w+)", exc):  # Chrome's HAR: spell the code out so the knowledge rules can read it
        exc += f" ({m.group(1).replace('_', ' ').lower()})"
    msg = text_of(_pick(fields, obj, "message", None if isinstance(obj.get("error"), Mapping) else first(obj, MSG_KEYS)))
    text = exc or msg
    if text:
        t_status, t_body = scan_text(text)
        ev.status = ev.status or t_status
        ev.body = ev.body or t_body or (text if ev.status else "")
    if ev.status is None and not ev.body and not (text and _ERRORISH.search(text)):
        return None
    ev.exception = text if ev.status is None else ""
    ev.when = (when(_pick(fields, obj, "time", first(obj, TS_KEYS))) or when(first(req, TS_KEYS)) or when(ev.headers.get("date"))
               or when(first(resp, TS_KEYS)))
    ev.host = host(_pick(fields, obj, "url", first(obj, URL_KEYS) or req.get("url")), bare=True) or host(text)
    ev.model = str(_pick(fields, obj, "model", first(obj, MODEL_KEYS)) or "")[:100]
    if not ev.model and isinstance(req.get("postData"), Mapping) and (m := _MODEL_RE.search(str(req["postData"].get("text", ""))[:4096])):
        ev.model = m.group(1)
    key = _pick(fields, obj, "key", first(obj, KEY_KEYS))
    if key is not None and not isinstance(key, (dict, list)):
        ev.key = key_hash(str(key))
    else:
        auth = headers_of(req.get("headers"))
        ev.key = find_key(raw, auth.get("authorization", ""), auth.get("api-key", ""), ev.body, ev.exception)
    ev.request_id = str(_pick(fields, obj, "request_id", first(obj, ID_KEYS) or request_id_of(ev.headers)) or "")[:200]
    return ev


def from_text(text: str, where: str, at: datetime | None = None) -> Event | None:
    """One event from a plain log line or a traceback's error lines; None for lines that report nothing."""
    found, body = scan_text(text)
    if found is None and not _ERRORISH.search(text):
        return None
    return Event(where, found, {}, body or (text if found else ""), "" if found else text, when(text) or at, host(text),
                 key=find_key(text))
