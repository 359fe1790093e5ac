"""Offline triage of many refusals: read a HAR, JSON Lines, a JSON array or plain log lines, classify each event.

Users arrive with an export or a log, not a live target, and want "which causes, how many, since when" without
routing traffic anywhere. Readers stream (one line, or one HAR entry, at a time) and cap each event's size, so a huge
file costs bounded memory; bad input is counted as skipped, never raised. Everything emitted passes through redact.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any

from . import knowledge
from .classify import Diagnosis, classify
from .errors import InputError
from .redact import redact, redact_obj

MAX_EVENT = 1 << 20  # a line or a JSON value longer than this is skipped, not parsed
MAX_HAR_ENTRY = 16 << 20  # HAR entries carry bodies; beyond this the entry is scanned past, not parsed
CHUNK = 1 << 16
_STATUS_RES = (
    re.compile(r"(?i)error code:?\s*(\d{3})\b"),
    re.compile(r"\bHTTP/\d(?:\.\d)?\"?\s+(\d{3})\b"),
    re.compile(r"(?i)\bstatus(?:[_ ]?code)?[\"']?\s*[=:]\s*[\"']?(\d{3})\b"),
    re.compile(r"\b(\d{3})\s+(?:Unauthorized|Forbidden|Too Many Requests|Not Found|Bad Gateway|Service Unavailable|Gateway Timeout)\b"),
)
_ERRORISH = re.compile(r"(?i)error|exception|refused|denied|forbidden|unauthori[sz]ed|blocked|timed? ?out|quota|rate.?limit|certificate")
_EXC_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Warning|Failure|Timeout|Exit)\b[\w.]*:?")
_TS_RE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?")
_URL_RE = re.compile(r"https?://([^/\s\"'<>\\]+)")
_TB_START = "Traceback (most recent call last)"
_HAR_START = re.compile(r"\"entries\"\s*:\s*\[")
_STRUCT = re.compile(r"[\"{}\[\]]")
_STR_STOP = re.compile(r"[\\\"]")
_TS_KEYS = ("timestamp", "ts", "time", "@timestamp", "datetime", "date", "asctime", "created_at", "created", "startedDateTime", "logged_at")
_STATUS_KEYS = ("status", "status_code", "statusCode", "http_status", "httpStatus", "response_status", "code")
_BODY_KEYS = ("body", "response_body", "responseBody", "response_text", "text", "content", "detail", "data")
_EXC_KEYS = ("exception", "exc", "exc_info", "exception_text", "error_message", "traceback", "stack_trace", "_error")
_MSG_KEYS = ("message", "msg", "log", "error", "event", "textPayload", "_msg")
_URL_KEYS = ("url", "request_url", "api_base", "base_url", "endpoint", "host")


@dataclass
class _Event:
    where: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    exception: str = ""
    when: datetime | None = None
    host: str = ""


@dataclass
class CauseGroup:
    """One cause seen in the input: how often, when, where, an example and what to do."""

    cause: str
    title: str
    count: int
    share: float  # of all refusals (successful events excluded)
    first_seen: str
    last_seen: str
    hosts: list[str]
    statuses: list[int]
    example: str
    example_at: str
    fix: str
    retry: str
    summary: str


@dataclass
class TriageReport:
    """Refusals grouped by cause, plus what was ok and what could not be read."""

    groups: list[CauseGroup]
    events: int
    refusals: int
    ok: int
    skipped: int
    format: str
    truncated: bool = False
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(redact_obj(asdict(self)))

    def to_markdown(self) -> str:
        def cell(value: Any) -> str:
            return str(value).replace("|", "\\|").replace("\n", " ")

        lines = [f"# Triage: {self.refusals} refusal(s) in {self.events} event(s)", "",
                 f"Format {self.format}; {self.ok} ok, {self.skipped} line(s) or entries skipped"
                 + (" (stopped at the limit)" if self.truncated else "") + ".", ""]
        lines += [f"- {n}" for n in self.notes]
        if self.groups:
            lines += ["| cause | count | share | first seen | last seen | statuses | hosts |", "|---|---|---|---|---|---|---|"]
            lines += [f"| {cell(g.cause)} | {g.count} | {g.share:.0%} | {cell(g.first_seen)} | {cell(g.last_seen)} | "
                      f"{cell(', '.join(map(str, g.statuses)))} | {cell(', '.join(g.hosts))} |" for g in self.groups]
            for g in self.groups:
                lines += ["", f"## {g.cause}: {g.title}", "", g.summary, "", f"- **Example** ({g.example_at}): {g.example}",
                          f"- **Fix**: {g.fix}", f"- **Retry**: {g.retry}"]
        return redact("\n".join(lines) + "\n")

    def to_frame(self) -> Any:
        """The groups as a pandas DataFrame (pandas is imported only here)."""
        import pandas as pd

        rows = [redact_obj(asdict(g)) for g in self.groups]
        return pd.DataFrame(rows, columns=list(CauseGroup.__dataclass_fields__))


# ---------------------------------------------------------------- field extraction


def _when(value: Any) -> datetime | None:
    """Epoch seconds/ms, ISO 8601 or an HTTP date, as an aware UTC datetime; None when unreadable."""
    try:
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, (int, float)):
            secs = value / 1000 if value > 1e11 else value
            return datetime.fromtimestamp(secs, UTC) if secs > 0 else None
        text = str(value).strip()
        if not text:
            return None
        m = _TS_RE.search(text)
        dt = datetime.fromisoformat(m.group(0).replace(",", ".")) if m else parsedate_to_datetime(text)
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except (ValueError, TypeError, OverflowError, OSError, IndexError):
        return None


def _host(value: Any, *, bare: bool = False) -> str:
    """The host of the first URL in ``value``; with ``bare``, a plain hostname field counts too."""
    text = str(value or "")
    m = _URL_RE.search(text)
    host = m.group(1) if m else (text if bare and re.fullmatch(r"[\w.\-]+(?::\d+)?", text) and "." in text else "")
    return host.rsplit("@", 1)[-1].lower()[:200]


def _status(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    m = re.match(r"\s*(\d{3})\b", str(value)) if isinstance(value, (str, int)) else None
    code = int(m.group(1)) if m else None
    return code if code is not None and 100 <= code <= 599 else None


def _scan_text(text: str) -> tuple[int | None, str]:
    """Status (`Error code: 401`, `HTTP/1.1 403`, `status=429`) and the embedded JSON/dict body of one log text."""
    status = next((s for r in _STATUS_RES if (m := r.search(text)) and (s := _status(m.group(1)))), None)
    start, end = text.find("{"), text.rfind("}")
    return status, text[start : end + 1] if 0 <= start < end else ""


def _headers(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k).lower(): str(v)[:2000] for k, v in list(value.items())[:200]}
    if isinstance(value, list):  # HAR: [{"name": ..., "value": ...}]
        return {str(h.get("name", "")).lower(): str(h.get("value", ""))[:2000] for h in value[:200] if isinstance(h, dict)}
    return {}


def _text(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)[:MAX_EVENT]
    return str(value)[:MAX_EVENT]


def _first(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """The first non-empty value under one of ``keys`` (a plain loop: this runs for every field of every event)."""
    for key in keys:
        value = obj.get(key)
        if value:
            return value
    return None


def _from_obj(obj: Any, where: str) -> _Event | None:
    """One event from a JSON object of any common shape (flat, HAR entry, SDK dump, gateway log); None when it is none."""
    if not isinstance(obj, dict):
        return None
    resp: dict[str, Any] = obj["response"] if isinstance(obj.get("response"), dict) else {}
    req: dict[str, Any] = obj["request"] if isinstance(obj.get("request"), dict) else {}
    ev = _Event(where)
    ev.status = next((s for k in _STATUS_KEYS for src in (obj, resp) if (s := _status(src.get(k)))), None)
    ev.headers = _headers(obj.get("headers") or obj.get("response_headers") or resp.get("headers"))
    content: dict[str, Any] = resp["content"] if isinstance(resp.get("content"), dict) else {}
    body: Any = _first(obj, _BODY_KEYS) or content.get("text") or _first(resp, ("body", "text"))
    if body is content.get("text") and content.get("encoding") == "base64" and isinstance(body, str):
        with contextlib.suppress(ValueError):
            body = base64.b64decode(body[: MAX_EVENT * 2]).decode("utf-8", "replace")
    if body is None and isinstance(obj.get("error"), dict):
        body = {"error": obj["error"]}
    ev.body = _text(body)
    exc = _text(_first(obj, _EXC_KEYS) or _first(resp, ("_error", "error")))
    if m := re.search(r"net::ERR_(\w+)", exc):  # Chrome's HAR: spell the code out so the knowledge rules can read it
        exc += f" ({m.group(1).replace('_', ' ').lower()})"
    msg = "" if isinstance(obj.get("error"), dict) else _text(_first(obj, _MSG_KEYS))
    text = exc or msg
    if text:
        t_status, t_body = _scan_text(text)
        ev.status = ev.status or t_status
        ev.body = ev.body or t_body or (text if ev.status else "")
    if ev.status is None and not ev.body and not (text and _ERRORISH.search(text)):
        return None
    ev.exception = text if ev.status is None else ""
    ev.when = (_when(_first(obj, _TS_KEYS)) or _when(_first(req, _TS_KEYS)) or _when(ev.headers.get("date"))
               or _when(_first(resp, _TS_KEYS)))
    ev.host = _host(_first(obj, _URL_KEYS) or req.get("url"), bare=True) or _host(text)
    return ev


def _from_text(text: str, where: str, when: datetime | None = None) -> _Event | None:
    """One event from a plain log line or a traceback's error lines; None for lines that report nothing."""
    status, body = _scan_text(text)
    if status is None and not _ERRORISH.search(text):
        return None
    return _Event(where, status, {}, body or (text if status else ""), "" if status else text,
                  _when(text) or when, _host(text))


# ---------------------------------------------------------------- readers


def _chunks(source: str | Path | Iterable[str]) -> Iterator[str]:
    """Text in chunks from a path, a text file object, inline text (str with a newline) or an iterable of lines."""
    if isinstance(source, str) and ("\n" in source or source.lstrip()[:1] in ("{", "[")):
        yield source
        return
    if isinstance(source, (str, Path)):
        try:
            fh: IO[str] = open(source, encoding="utf-8", errors="replace")  # noqa: SIM115 -- closed below, generator-owned
        except OSError as err:
            raise InputError(f"cannot read {source}: {err.strerror or err}") from None
        with fh:
            try:
                while chunk := fh.read(CHUNK):
                    yield chunk
            except OSError as err:  # a directory, a vanished file
                raise InputError(f"cannot read {source}: {err.strerror or err}") from None
        return
    if hasattr(source, "read"):
        while chunk := source.read(CHUNK):
            yield chunk if isinstance(chunk, str) else bytes(chunk).decode("utf-8", "replace")
        return
    for line in source:
        yield line if line.endswith("\n") else line + "\n"


def _lines(chunks: Iterator[str]) -> Iterator[str | None]:
    """Split chunks into lines; an over-long line yields None (skipped) without ever being held whole."""
    pending: list[str] = []
    size, dropping = 0, False
    for chunk in chunks:
        start = 0
        while True:
            nl = chunk.find("\n", start)
            piece = chunk[start:] if nl < 0 else chunk[start:nl]
            size += len(piece)
            if size > MAX_EVENT:
                dropping, pending = True, []
            elif not dropping:
                pending.append(piece)
            if nl < 0:
                break
            yield None if dropping else "".join(pending)
            pending, size, dropping, start = [], 0, False, nl + 1
    if dropping:
        yield None
    elif tail := "".join(pending):
        yield tail


class _Skipper:
    """Scans past one JSON value chunk by chunk (for HAR entries too large to parse)."""

    def __init__(self) -> None:
        self.depth, self.in_str, self.esc = 0, False, False

    def feed(self, s: str, i: int = 0) -> int | None:
        while i < len(s):
            if self.esc:
                self.esc, i = False, i + 1
                continue
            m = (_STR_STOP if self.in_str else _STRUCT).search(s, i)
            if m is None:
                return None
            i, c = m.end(), m.group()
            if c == "\\":
                self.esc = True
            elif c == '"':
                self.in_str = not self.in_str
                if not self.in_str and self.depth == 0:  # the value was one long string
                    return i
            elif c in "{[":
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth <= 0:
                    return i
        return None


def _array_items(buf: str, pos: int, chunks: Iterator[str]) -> Iterator[Any]:
    """Stream the values of a JSON array whose '[' ends at ``pos``; yields None for a value that could not be read."""
    dec = json.JSONDecoder()
    need = CHUNK
    while True:
        while pos < len(buf) and (buf[pos].isspace() or buf[pos] == ","):
            pos += 1
        if pos >= len(buf):
            chunk = next(chunks, None)
            if chunk is None:
                return
            buf, pos = buf[pos:] + chunk, 0
            continue
        if buf[pos] == "]":
            return
        try:
            value, end = dec.raw_decode(buf, pos)
        except (ValueError, RecursionError):
            if len(buf) - pos > MAX_HAR_ENTRY:  # too big to parse: scan past it, holding nothing
                skipper = _Skipper()
                end_at = skipper.feed(buf, pos)
                while end_at is None and (chunk := next(chunks, None)) is not None:
                    buf, pos = chunk, 0
                    end_at = skipper.feed(buf)
                yield None
                if end_at is None:
                    return
                buf, pos, need = buf[end_at:], 0, CHUNK
                continue
            grown = [buf[pos:]]
            size = len(grown[0])
            target = min(max(need, 2 * size), MAX_HAR_ENTRY + 1)  # doubling keeps re-parsing linear overall
            while size < target and (chunk := next(chunks, None)) is not None:
                grown.append(chunk)
                size += len(chunk)
            if len(grown) == 1:  # nothing more to read: the value is broken
                yield None
                return
            buf, pos, need = "".join(grown), 0, size
            continue
        yield value
        buf, pos, need = buf[end:], 0, CHUNK


@dataclass
class _Reader:
    limit: int
    skipped: int = 0
    records: int = 0
    truncated: bool = False
    format: str = "empty"
    notes: list[str] = field(default_factory=list)

    def take(self) -> bool:
        """Count one record; False once the limit is reached (the rest is left unread)."""
        if self.records >= self.limit:
            self.truncated = True
            return False
        self.records += 1
        return True

    def events(self, source: str | Path | Iterable[str]) -> Iterator[_Event]:
        chunks = _chunks(source)
        parts: list[str] = []
        size, eof = 0, False
        while size < MAX_EVENT:  # peek at most one event's worth to detect the format
            chunk = next(chunks, None)
            if chunk is None:
                eof = True
                break
            parts.append(chunk)
            size += len(chunk)
        buf = "".join(parts)
        stripped = buf.lstrip()
        har = _HAR_START.search(buf) if stripped[:1] == "{" else None
        if har and '"log"' in buf[: har.start()]:
            self.format = "har"
            yield from self._values(_array_items(buf, har.end(), chunks), "entry")
            return
        if re.match(r"\[\s*[{\]]", stripped):  # a JSON array of objects, not a "[INFO] ..." log line
            self.format = "json-array"
            yield from self._values(_array_items(buf, buf.find("[") + 1, chunks), "item")
            return
        if stripped[:1] == "{" and eof:  # one object, perhaps pretty-printed, perhaps wrapping a list of events
            try:
                obj = json.loads(buf)
            except (ValueError, RecursionError):
                obj = None
            if isinstance(obj, dict):
                self.format = "json"
                inner = next((v for k in ("events", "entries", "items", "logs", "records", "data") if isinstance(v := obj.get(k), list)), None)
                yield from self._values(iter(inner if inner is not None else [obj]), "object")
                return
        yield from self._text_lines(_lines(_prepend(buf, chunks)))

    def _values(self, values: Iterator[Any], label: str) -> Iterator[_Event]:
        for n, value in enumerate(values, 1):
            if not self.take():
                return
            ev = _from_obj(value, f"{label} {n}")
            if ev is None:
                self.skipped += 1
            else:
                yield ev

    def _text_lines(self, lines: Iterator[str | None]) -> Iterator[_Event]:
        """JSON Lines and plain text, mixed freely; a traceback becomes one event at its last (error) line."""
        tb: list[str] = []  # error lines of the traceback being read
        in_tb, chained, when, json_lines, text_lines = False, False, None, 0, 0
        n = tb_at = 0
        for n, line in enumerate(lines, 1):
            if not self.take():
                break
            if line is None:
                self.skipped += 1
                continue
            stripped = line.strip()
            if in_tb:
                if stripped.startswith(("During handling", "The above exception")):
                    chained = True
                    continue
                if not stripped or line[:1].isspace():
                    continue
                if stripped.startswith(_TB_START):
                    if chained or not tb:  # the next link of the same chain
                        chained = False
                        continue
                elif _EXC_LINE.match(stripped) or stripped.startswith(("openai.", "httpx.", "httpcore.", "litellm.", "requests.")):
                    tb, tb_at, chained = [*tb, stripped], n, False
                    continue
                in_tb = False
                yield from self._emit(_from_text("\n".join(reversed(tb)), f"line {tb_at}", when))
                when = None
            if stripped.startswith(_TB_START):
                in_tb, tb, chained = True, [], False
                continue
            if not stripped:
                self.skipped += 1
                continue
            if stripped[:1] == "{":
                try:
                    obj = json.loads(stripped)
                except (ValueError, RecursionError):
                    obj = None
                if isinstance(obj, dict):
                    json_lines += 1
                    ev = _from_obj(obj, f"line {n}")
                    if ev is None:
                        self.skipped += 1
                    else:
                        yield ev
                    continue
            text_lines += 1
            when = _when(stripped)  # a traceback right after this line is dated by it
            yield from self._emit(_from_text(stripped, f"line {n}"))
        if in_tb:
            yield from self._emit(_from_text("\n".join(reversed(tb)), f"line {tb_at}", when))
        if json_lines or text_lines:
            self.format = "jsonl" if json_lines >= text_lines else "text"

    def _emit(self, ev: _Event | None) -> Iterator[_Event]:
        if ev is None or not (ev.status or ev.body or ev.exception):
            self.skipped += 1
        else:
            yield ev


def _prepend(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


# ---------------------------------------------------------------- triage


def _iso(dt: datetime | None) -> str:
    return dt.isoformat().replace("+00:00", "Z") if dt else ""


def triage(source: str | Path | Iterable[str], *, limit: int = 100_000) -> TriageReport:
    """Classify every event in a HAR, JSON Lines, JSON array or log and group the refusals by cause.

    ``source`` is a path, inline text (a str holding a newline or starting with '{' / '['), a text file object, or an
    iterable of lines. ``limit`` caps the records (lines or entries) read. Only an unreadable path raises (InputError).
    """
    reader = _Reader(limit=max(0, limit))
    kb = knowledge.load()
    ok = 0
    groups: dict[str, list[tuple[_Event, Any]]] = {}
    seen: dict[tuple[Any, ...], Diagnosis] = {}  # logs repeat the same refusal: classify each distinct one once
    for ev in reader.events(source):
        key = (ev.status, tuple(sorted(ev.headers.items())), ev.body, ev.exception)
        diag = seen.get(key) or classify(ev.status, ev.headers, ev.body, ev.exception or None)
        if len(seen) < 10_000:
            seen[key] = diag
        if diag.cause == "ok":
            ok += 1
        elif ev.status is None and diag.cause == "unknown":
            reader.skipped += 1  # an error line with no status that names no known cause: not a refusal we can speak to
        else:
            groups.setdefault(diag.cause, []).append((ev, diag))
    refusals = sum(len(v) for v in groups.values())
    out: list[CauseGroup] = []
    for cause_id, items in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        cause = kb.cause(cause_id)
        times = [ev.when for ev, _ in items if ev.when]
        best_ev, best = max(items, key=lambda item: item[1].confidence)
        hosts = Counter(ev.host for ev, _ in items if ev.host)
        out.append(CauseGroup(
            cause=cause_id, title=cause.title, count=len(items), share=round(len(items) / refusals, 4),
            first_seen=_iso(min(times, default=None)), last_seen=_iso(max(times, default=None)),
            hosts=[redact(h) for h, _ in hosts.most_common(5)],
            statuses=sorted({ev.status for ev, _ in items if ev.status is not None}),
            example=redact(best.evidence), example_at=best_ev.where, fix=cause.fix, retry=cause.retry, summary=cause.summary,
        ))
    if reader.truncated:
        reader.notes.append(f"stopped after {limit} records (limit); the rest was not read")
    return TriageReport(groups=out, events=ok + refusals, refusals=refusals, ok=ok, skipped=reader.skipped,
                        format=reader.format, truncated=reader.truncated, notes=reader.notes)


__all__ = ["CauseGroup", "TriageReport", "triage"]
