"""Readers: one class per input format, behind one small interface, found through one registry.

A reader says whether it recognises an input from its first bytes and name (``sniff``) and turns the input into
events (``read``), counting what it could not use in the shared :class:`ReadContext`. Readers stream: one line, one
HAR entry, one CSV row at a time, and bound the bytes of a record, so a file of any size costs bounded memory. A new
input format is one class here plus one line in ``READERS``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from ._events import MAX_EVENT, NO_FIELDS, Event, FieldMap, from_obj, from_text, headers_of, host, status, when
from ._sources import Source, is_parquet

MAX_ENTRY = 16 << 20  # a JSON array value (a HAR entry) over this is scanned, not parsed
MAX_SCAN = 1 << 30  # a single record running past this without an end stops the read (an endless line or value)
_EXC_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Warning|Failure|Timeout|Exit)\b[\w.]*:?")
TRACEBACK_START = "Traceback (most recent call last)"  # a Python traceback: the engines that read lines one by one count these
_HAR_START = re.compile(r"\"entries\"\s*:\s*\[")
_STRUCT = re.compile(r"[\"{}\[\]]")
_STR_STOP = re.compile(r"[\\\"]")
_HEAD_STATUS = re.compile(r"\"response\"\s*:\s*\{.*?\"status\"\s*:\s*(\d{3})", re.DOTALL)
_HEAD_URL = re.compile(r"\"url\"\s*:\s*\"([^\"]{1,2000})\"")
_HEAD_TIME = re.compile(r"\"startedDateTime\"\s*:\s*\"([^\"]{1,64})\"")


@dataclass
class ReadContext:
    """What every reader shares: the field map, the event limit, and the tally of what was skipped and why."""

    fields: FieldMap = NO_FIELDS
    limit: int | None = None  # --max-events: records read at most
    records: int = 0
    truncated: bool = False
    skipped: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    formats: Counter[str] = field(default_factory=Counter)

    def take(self) -> bool:
        """Count one record; False once the user's limit is reached (the rest is left unread)."""
        if self.limit is not None and self.records >= self.limit:
            self.truncated = True
            return False
        self.records += 1
        return True

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n


@dataclass(frozen=True)
class Head:
    """What a reader sniffs: the decoded start of the input (up to one record's worth) and its name."""

    text: str
    name: str
    eof: bool


class Reader(Protocol):
    """One input format."""

    name: ClassVar[str]

    def sniff(self, head: Head) -> bool: ...

    def read(self, ctx: ReadContext, source: Source, head: Head, chunks: Iterator[str]) -> Iterator[Event]: ...


# ---------------------------------------------------------------- shared helpers


def lines(chunks: Iterator[str], ctx: ReadContext) -> Iterator[str | None]:
    """Split chunks into lines; an over-long line yields None (skipped) without ever being held whole.

    A line still open after MAX_SCAN characters (an endless line, /dev/zero through a pipe) ends the read, with a note.
    """
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
                if size > MAX_SCAN:
                    ctx.notes.append(f"a line ran past {MAX_SCAN >> 20} MiB without ending; stopped reading there (the rest was not read)")
                    ctx.truncated = True
                    yield None
                    return
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


@dataclass
class Oversized:
    """A JSON array value too large to parse: its first MiB, for what can still be read from it."""

    head: str
    size: int


@dataclass
class _ArrayState:
    closed: bool = False


def array_items(buf: str, pos: int, chunks: Iterator[str], state: _ArrayState) -> Iterator[Any]:
    """Stream the values of a JSON array whose '[' ends at ``pos``; yields None for a value that could not be read
    and :class:`Oversized` for one too large to parse. ``state.closed`` tells whether the closing ']' was seen."""
    dec = json.JSONDecoder()
    need = 1 << 16
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
            state.closed = True
            return
        try:
            value, end = dec.raw_decode(buf, pos)
        except (ValueError, RecursionError):
            if len(buf) - pos > MAX_ENTRY:  # too big to parse: keep its head, scan past the rest holding nothing
                head = buf[pos : pos + MAX_EVENT]
                skipper = _Skipper()
                end_at = skipper.feed(buf, pos)
                scanned = len(buf) - pos
                while end_at is None and scanned < MAX_SCAN and (chunk := next(chunks, None)) is not None:
                    buf, pos = chunk, 0
                    scanned += len(chunk)
                    end_at = skipper.feed(buf)
                yield Oversized(head, scanned)
                if end_at is None:
                    return
                buf, pos, need = buf[end_at:], 0, 1 << 16
                continue
            grown = [buf[pos:]]
            size = len(grown[0])
            target = min(max(need, 2 * size), MAX_ENTRY + 1)  # doubling keeps re-parsing linear overall
            while size < target and (chunk := next(chunks, None)) is not None:
                grown.append(chunk)
                size += len(chunk)
            if len(grown) == 1:  # nothing more to read: the value is broken
                yield None
                return
            buf, pos, need = "".join(grown), 0, size
            continue
        yield value
        buf, pos, need = buf[end:], 0, 1 << 16


def _values(ctx: ReadContext, values: Iterator[Any], label: str, fmt: str) -> Iterator[Event]:
    for n, value in enumerate(values, 1):
        if not ctx.take():
            return
        if isinstance(value, Oversized):
            ev = _oversized_entry(value, f"{label} {n}")
            ctx.notes.append(f"{label} {n} is over {MAX_ENTRY >> 20} MiB ({value.size >> 20} MiB): read from its status and headers only"
                             + (f" (HTTP {ev.status})" if ev and ev.status else ""))
            if ev is None:
                ctx.skip(f"{label} over {MAX_ENTRY >> 20} MiB")
            else:
                yield ev
            continue
        ev = from_obj(value, f"{label} {n}", ctx.fields) if value is not None else None
        if ev is None:
            ctx.skip("not an event" if value is not None else f"{label} that is not valid JSON")
        else:
            yield ev


def _oversized_entry(value: Oversized, where: str) -> Event | None:
    """What the first MiB of a huge HAR entry still tells: the status, the response headers, the time and the host."""
    m = _HEAD_STATUS.search(value.head)
    if m is None:
        return None
    ev = Event(where, status(m.group(1)))
    rest = value.head[m.end() :]
    hm = re.search(r"\"headers\"\s*:\s*(\[[^\]]*\])", rest)
    if hm:
        with contextlib.suppress(ValueError, RecursionError):
            ev.headers = headers_of(json.loads(hm.group(1)))
    tm = _HEAD_TIME.search(value.head)
    ev.when = when(tm.group(1)) if tm else None
    um = _HEAD_URL.search(value.head)
    ev.host = host(um.group(1)) if um else ""
    return ev


def event_from_line(line: str, where: str, fields: FieldMap = NO_FIELDS) -> tuple[str, Event | None]:
    """One line of a JSON Lines or plain log: ('json' | 'text' | 'blank', the event or None).

    The SQL engines hand each signature's example line to this same function, so every engine reads a line alike.
    """
    stripped = line.strip()
    if not stripped:
        return "blank", None
    if stripped[:1] == "{":
        try:
            obj = json.loads(stripped)
        except (ValueError, RecursionError):
            obj = None
        if isinstance(obj, dict):
            return "json", from_obj(obj, where, fields, raw=stripped)
    return "text", from_text(stripped, where)


def _emit(ctx: ReadContext, ev: Event | None, reason: str = "line that reports nothing") -> Iterator[Event]:
    if ev is None or not (ev.status or ev.body or ev.exception):
        ctx.skip(reason)
    else:
        yield ev


# ---------------------------------------------------------------- the readers


class HarReader:
    """HAR 1.2 (devtools, mitmproxy, Dev Proxy): entries streamed one at a time; a huge entry is scanned."""

    name: ClassVar[str] = "har"

    def sniff(self, head: Head) -> bool:
        har = _HAR_START.search(head.text) if head.text.lstrip()[:1] == "{" else None
        return bool(har and '"log"' in head.text[: har.start()])

    def read(self, ctx: ReadContext, source: Source, head: Head, chunks: Iterator[str]) -> Iterator[Event]:
        match = _HAR_START.search(head.text)
        assert match is not None
        state = _ArrayState()
        yield from _values(ctx, array_items(head.text, match.end(), chunks, state), "entry", self.name)
        if not state.closed and not ctx.truncated:
            ctx.notes.append(f"{source.name}: the HAR ends inside its entries (truncated file?); only the entries before the cut were read")


class JsonArrayReader:
    """A JSON array of event objects, streamed value by value."""

    name: ClassVar[str] = "json-array"

    def sniff(self, head: Head) -> bool:
        return bool(re.match(r"\[\s*[{\]]", head.text.lstrip()))  # not a "[INFO] ..." log line

    def read(self, ctx: ReadContext, source: Source, head: Head, chunks: Iterator[str]) -> Iterator[Event]:
        state = _ArrayState()
        yield from _values(ctx, array_items(head.text, head.text.find("[") + 1, chunks, state), "item", self.name)
        if not state.closed and not ctx.truncated:
            ctx.notes.append(f"{source.name}: the JSON array is not closed (truncated file?); only the values before the cut were read")


class JsonObjectReader:
    """One JSON document (perhaps pretty-printed) that is an event or wraps a list of them."""

    name: ClassVar[str] = "json"

    def sniff(self, head: Head) -> bool:
        if not (head.eof and head.text.lstrip()[:1] == "{"):
            return False
        try:
            return isinstance(json.loads(head.text), dict)
        except (ValueError, RecursionError):
            return False

    def read(self, ctx: ReadContext, source: Source, head: Head, chunks: Iterator[str]) -> Iterator[Event]:
        obj = json.loads(head.text)
        inner = next((v for k in ("events", "entries", "items", "logs", "records", "data") if isinstance(v := obj.get(k), list)), None)
        yield from _values(ctx, iter(inner if inner is not None else [obj]), "object", self.name)


class CsvReader:
    """CSV with a header row (a gateway's export, a warehouse query): each row is one object."""

    name: ClassVar[str] = "csv"

    def sniff(self, head: Head) -> bool:
        name = head.name.lower()
        return name.endswith((".csv", ".csv.gz", ".csv.zst", ".tsv", ".tsv.gz", ".tsv.zst"))

    def read(self, ctx: ReadContext, source: Source, head: Head, chunks: Iterator[str]) -> Iterator[Event]:
        delimiter = "\t" if ".tsv" in head.name.lower() else ","
        csv.field_size_limit(MAX_EVENT)
        rows = csv.DictReader(_line_iter(head.text, chunks), delimiter=delimiter)
        n = 1
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except csv.Error:
                if not ctx.take():
                    return
                ctx.skip("CSV row that cannot be read")
                continue
            n += 1
            if not ctx.take():
                return
            ev = from_obj({k: v for k, v in row.items() if k is not None}, f"row {n}", ctx.fields)
            if ev is None:
                ctx.skip("not an event")
            else:
                yield ev


def _line_iter(first: str, chunks: Iterator[str]) -> Iterator[str]:
    """Lines with their newline (what the csv module reads), from the head and the chunks after it."""
    buf = ""
    for chunk in _prepend(first, chunks):
        buf += chunk
        *done, buf = buf.split("\n")
        for line in done:
            yield line + "\n"
    if buf:
        yield buf


class ParquetReader:
    """Parquet files, read row by row through DuckDB (in process; imported only here)."""

    name: ClassVar[str] = "parquet"

    def sniff(self, head: Head) -> bool:
        return False  # recognised by its magic bytes before any text is decoded (see read_source)

    def read(self, ctx: ReadContext, source: Source, head: Head, chunks: Iterator[str]) -> Iterator[Event]:
        import duckdb

        con = duckdb.connect()
        try:
            cur = con.execute("SELECT to_json(t)::VARCHAR FROM read_parquet(?) t", [str(source.path)])
            n = 0
            while batch := cur.fetchmany(4096):
                for (text,) in batch:
                    n += 1
                    if not ctx.take():
                        return
                    _, ev = event_from_line(text, f"row {n}", ctx.fields)
                    if ev is None:
                        ctx.skip("not an event")
                    else:
                        yield ev
        except duckdb.Error as err:
            from ..errors import InputError

            raise InputError(f"{source.name}: not a readable Parquet file ({str(err).splitlines()[0]})") from None
        finally:
            con.close()


class LinesReader:
    """JSON Lines and plain log lines, mixed freely; a Python traceback becomes one event at its last (error) line."""

    name: ClassVar[str] = "lines"

    def sniff(self, head: Head) -> bool:
        return True  # the fallback: anything that is text

    def read(self, ctx: ReadContext, source: Source, head: Head, chunks: Iterator[str]) -> Iterator[Event]:
        tb: list[str] = []  # error lines of the traceback being read
        in_tb, chained = False, False
        kinds: Counter[str] = Counter()
        n = tb_at = 0
        at_time: datetime | None = None
        for n, line in enumerate(lines(_prepend(head.text, chunks), ctx), 1):
            if not ctx.take():
                break
            if line is None:
                ctx.skip(f"line over {MAX_EVENT >> 20} MiB")
                continue
            stripped = line.strip()
            if in_tb:
                if stripped.startswith(("During handling", "The above exception")):
                    chained = True
                    continue
                if not stripped or line[:1].isspace():
                    continue
                if stripped.startswith(TRACEBACK_START):
                    if chained or not tb:  # the next link of the same chain
                        chained = False
                        continue
                elif _EXC_LINE.match(stripped) or stripped.startswith(("openai.", "httpx.", "httpcore.", "litellm.", "requests.")):
                    tb, tb_at, chained = [*tb, stripped], n, False
                    continue
                in_tb = False
                yield from _emit(ctx, from_text("\n".join(reversed(tb)), f"line {tb_at}", at_time), "traceback that reports nothing")
                at_time = None
            if stripped.startswith(TRACEBACK_START):
                in_tb, tb, chained = True, [], False
                kinds["text"] += 1
                continue
            kind, ev = event_from_line(line, f"line {n}", ctx.fields)
            if kind == "blank":
                ctx.skip("blank line")
                continue
            kinds[kind] += 1
            if kind == "text":
                at_time = when(stripped)  # a traceback right after this line is dated by it
            yield from _emit(ctx, ev, "not an event" if kind == "json" else "line that reports nothing")
        if in_tb:
            yield from _emit(ctx, from_text("\n".join(reversed(tb)), f"line {tb_at}", at_time), "traceback that reports nothing")
        if kinds:
            ctx.formats["jsonl" if kinds["json"] >= kinds["text"] else "text"] += 1


def _prepend(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


# The registry: sniffed in this order; the last one takes any text. A new format is one class above and one line here.
READERS: dict[str, Reader] = {r.name: r for r in (HarReader(), JsonArrayReader(), JsonObjectReader(), CsvReader(), ParquetReader(), LinesReader())}


def sniff_head(chunks: Iterator[str], name: str) -> Head:
    """Read up to one record's worth of text to tell the format."""
    parts: list[str] = []
    size, eof = 0, False
    while size < MAX_EVENT:
        chunk = next(chunks, None)
        if chunk is None:
            eof = True
            break
        parts.append(chunk)
        size += len(chunk)
    return Head("".join(parts), name, eof)


def pick_reader(head: Head) -> Reader:
    return next(r for r in READERS.values() if r.sniff(head))


def read_source(ctx: ReadContext, source: Source, chunks: Iterator[str]) -> Iterator[Event]:
    """All events of one source, through the reader that recognises it."""
    if source.path is not None and is_parquet(source):
        ctx.formats["parquet"] += 1
        yield from READERS["parquet"].read(ctx, source, Head("", source.name, True), iter(()))
        return
    head = sniff_head(chunks, source.name)
    if not head.text.strip():
        ctx.formats["empty"] += 1
        return
    reader = pick_reader(head)
    if reader.name != "lines":
        ctx.formats[reader.name] += 1
    yield from reader.read(ctx, source, head, chunks)
