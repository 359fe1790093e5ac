"""Classify one refusal: (status, headers, body | exception) -> Diagnosis.

The rules live in the knowledge base; this module only reads the answer the way a person would
and scores the rules against what it found. Reading means:

* normalising text as people paste it (HTML entities, curly quotes, JSON escaped once or twice,
  words split by a terminal wrap, whitespace runs);
* reading an exception as fully as a body: the status it names ("Error code: 403", "HTTP 429",
  "403 Forbidden", an SDK's exception class), the payload embedded in it (JSON, a Python dict,
  escaped JSON inside another error) and its message;
* collecting error codes and types at any depth, page titles, and the headers that tell who answered.

Every rule that matches proposes its cause with a score (the strength of its strongest kind of
signal plus its priority); the best one wins, and the confidence says how strong and how many the
signals were and whether another cause came close. It never raises.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from . import knowledge
from .knowledge import Knowledge, Rule, norm_code
from .redact import SENSITIVE_HEADERS, redact

MAX_TEXT = 32 * 1024  # longer inputs keep their head and tail: evidence sits at the start or the end
_HEAD = 24 * 1024
# A code named bare in a log line ("named") counts a little less than a message: a full sentence says more.
_STRENGTH = {"codes": 40, "headers": 35, "titles": 35, "exceptions": 30, "messages": 30, "named": 29, "statuses": 10}
_CONFIDENCE = {"codes": 0.95, "headers": 0.9, "titles": 0.9, "exceptions": 0.9, "messages": 0.85, "named": 0.8, "statuses": 0.5}
_EXTRA_CONDITION = 2  # each further condition a rule needed (and met) adds this much to its score
_CLOSE = 5  # a different cause scoring within this many points of the winner makes the verdict less sure

# --- reading text as pasted -------------------------------------------------------------------------------------------
# curly, low and full-width quotes and the full-width colon, as word processors and CJK input methods type them
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"', "\u2018": "'", "\u2019": "'",
                         "\uff02": '"', "\uff1a": ":"})
_QUOTE_CHARS = re.compile("[\u201c\u201d\u201e\u00ab\u00bb\u2018\u2019\uff02\uff1a]")
_ESCAPED_UNICODE = re.compile(r"\\+u([0-9a-fA-F]{4})")
_ESCAPED_BACKSLASHES = re.compile(r"\\{2,}")
_ESCAPED_CHAR = re.compile(r"\\([\"'/nrt])")
_ESCAPES = {'"': '"', "'": "'", "/": "/", "n": "\n", "r": "\n", "t": "\t"}
_WRAP = re.compile(r"(?<=[A-Za-z_])(?:[ \t]*\n[ \t]*|[ \t]{3,})(?=[a-z_])")  # a word split by a terminal wrap
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[a-z0-9]+")  # a word of lower-cased text, as the rules' pre-test counts them
_TAG = re.compile(r"<[^>]{0,400}>")

# --- structure --------------------------------------------------------------------------------------------------------
# key: value pairs whose value names an error code or type, in JSON, Python dicts, Go/Java renderings (code=X, Code: X)
_CODE_KV = re.compile(  # searched in lower-cased text; the value is read back from the original
    r"""(?:code|type|error_?type|error_?code|errortype|__type|reason|status|error|errorname)["']?\s*[:=]\s*"""
    r"""(?:["']([a-z][\w.\-]{1,80})["']|([a-z][\w.\-]{1,80}))"""
)
_AFTER_WORD = re.compile(r" ?[\w(]")
# codes named bare in prose or logs: snake_case identifiers ("... WARNING ... - server_error")
# (not a part of a dotted or slashed name: cohere.core.api_error.ApiError is a module path, not the code api_error)
_BARE = re.compile(r"(?<![\w./])[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b(?!\.\w|/)")
_CLASS_NAME = re.compile(r"^[A-Z][A-Za-z]+Error$")  # an SDK exception class (RateLimitError) names a status, not a cause
# headers whose value is an error code (AWS, Azure, generic gateways)
_CODE_HEADERS = ("x-amzn-errortype", "x-ms-error-code", "x-error-code", "x-ms-ests-server-error", "x-goog-error-code")
_ERROR_OBJECT = re.compile(r"""["'](?:error|errors|error_?code|fault)["']\s*:\s*(?!null|None|false|\[\]|\{\}|""|'')"""
                           r"""|\bevent:\s*error\b|["']type["']\s*:\s*["']error["']""", re.IGNORECASE)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_HTML = re.compile(r"<(?:!doctype html|html|head|body|h1|div|center|p|span|script|meta|title)\b", re.IGNORECASE)

# The status a text names, in the words SDKs, runtimes and servers use (checked in this order).
_REASONS = (r"bad request|page not found|unauthori[sz]ed|payment required|forbidden|not found|method not allowed|proxy authentication required|"
            r"request entity too large|payload too large|too many requests|unavailable for legal reasons|internal server error|"
            r"bad gateway|service unavailable|gateway time-?out|site is overloaded|web server is down|connection timed out|"
            r"origin is unreachable|unknown error")
# (All searched in lower-cased text, without IGNORECASE: three times faster.)
_STATUS_IN_TEXT = (  # each must start at a word boundary (checked in code: a leading \\b would slow the search)
    re.compile(r"error code:?\s*([1-5]\d\d)\b"),  # openai-python, anthropic-sdk: Error code: 403
    re.compile(r"status(?:[ _-]?code)?[\"']?\s*(?:[:=]|of|is|was)?\s*\(?[\"']?([1-5]\d\d)\b"),  # status code 403, statusCode: 401
    re.compile(r"responded with (?:an? )?(?:status|code)\s*(?:code\s*)?([1-5]\d\d)\b"),
    re.compile(r"http(?:/[\d.]+)?(?:error)?(?:\s+(?:error|status|code))?\s*:?\s*([1-5]\d\d)\b"),  # HTTP 403, HTTP/1.1 429
    re.compile(r"([1-5]\d\d)\b\s*[:\-(]?\s*(?:" + _REASONS + r")\b"),  # 403 Forbidden, 429 (Too Many Requests)
    re.compile(r"^\s*(?:[\w.]*(?:error|exception)\b:?\s*)?([1-5]\d\d)\s+(?=[a-z{\[])"),  # 429 Rate limit … (at the start)
    re.compile(r"(?:error|exception):?\s+([1-5]\d\d)\s+(?=[a-z{\[])"),  # Error: 429 Rate limit …
    re.compile(r"""(?:code|status|http_?status|status_?code)["']?\s*[:=]\s*["']?([45]\d\d)\b"""),  # {"code": 429}
    re.compile(r"([1-5]\d\d), message="),  # aiohttp's ClientResponseError: 401, message='Unauthorized', url=…
    re.compile(r"([1-5]\d\d)(?: status code)? \(no body\)"),  # openai-node: 404 status code (no body)
)
# A status given by its reason phrase only ("HTTP status: Unauthorized", "status=Forbidden").
_STATUS_WORD = re.compile(r"status(?:[ _-]?code)?[\"']?\s*[:=]\s*[\"']?(unauthori[sz]ed|forbidden|too many requests|payment required|"
                          r"not found|proxy authentication required|internal server error|bad gateway|service unavailable|gateway time-?out)\b")
_STATUS_BY_WORD = {"unauthorized": 401, "unauthorised": 401, "forbidden": 403, "too many requests": 429, "payment required": 402,
                   "not found": 404, "proxy authentication required": 407, "internal server error": 500, "bad gateway": 502,
                   "service unavailable": 503, "gateway timeout": 504, "gateway time-out": 504}
# SDK exception classes name their status (openai-python, openai-node, anthropic, google-api-core, many ports of them).
_EXCEPTION_CLASS = re.compile(r"(Authentication|PermissionDenied|NotFound|RateLimit|BadRequest|UnprocessableEntity|InternalServer|"
                              r"ServiceUnavailable|Overloaded)(?:Error|Exception)\b|(PermissionDenied)\b")
_STATUS_BY_CLASS = {"Authentication": 401, "PermissionDenied": 403, "NotFound": 404, "RateLimit": 429, "BadRequest": 400,
                    "UnprocessableEntity": 422, "InternalServer": 500, "ServiceUnavailable": 503, "Overloaded": 529}


@dataclass
class Diagnosis:
    """What the classifier concluded, with the evidence that decided it.

    ``evidence`` says what the answer showed beyond a status the caller handed over (that one is ``status``, the caller's
    to show: a finding's sentence already starts with it); a status read from the text is part of the evidence.
    """

    cause: str
    confidence: float
    evidence: str
    fix: str
    responder: str
    title: str = ""
    summary: str = ""
    retry: str = ""
    status: int | None = None  # the status received, or the one the text names when none was received
    matched: list[str] = field(default_factory=list)  # every cause some rule proposed, the winner included
    status_source: str = ""  # "response" (handed over), "text" (named by the exception or body), "" (none)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Evidence:
    status: int | None
    status_source: str  # "response" | "text" | ""
    headers: dict[str, str]
    text: str  # normalised body + exception: what messages are searched in
    client: str  # normalised exception, plus the body when no response came: what client-error patterns are searched in
    low_text: str  # the same two, lower-cased once: the rules' joined patterns search these (faster than IGNORECASE)
    low_client: str
    words: frozenset[str]  # the words ([a-z0-9]+ runs) of low_text and of low_client: the rules' cheap pre-test
    client_words: frozenset[str]
    codes: dict[str, str]  # normalized -> as written (values of code/type/status/... keys)
    bare: dict[str, str]  # normalized -> as written (identifiers named anywhere in the text)
    title: str
    is_html: bool


def _bounded(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, BaseException):
        value = f"{type(value).__name__}: {value}"
    elif isinstance(value, bytes | bytearray):
        value = bytes(value[: MAX_TEXT + 1]).decode("utf-8", "replace")
    elif isinstance(value, dict | list):
        value = json.dumps(value, default=str)
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TEXT:
        text = text[:_HEAD] + "\n…\n" + text[-(MAX_TEXT - _HEAD) :]
    return text


def _unescape(text: str) -> str:
    """Undo HTML entities, curly quotes and JSON escaping (once, twice, or more)."""
    if "&" in text and ";" in text:
        text = html.unescape(text)
    if _QUOTE_CHARS.search(text):  # translate() is slow per character: only when such a quote is there
        text = text.translate(_QUOTES)
    if "\\" in text:
        text = _ESCAPED_UNICODE.sub(lambda m: chr(int(m.group(1), 16)), text)
        text = _ESCAPED_BACKSLASHES.sub(r"\\", text)
        text = _ESCAPED_CHAR.sub(lambda m: _ESCAPES[m.group(1)], text)
    return text


def _normalise(text: str) -> str:
    """One line of text to search: unescaped, whitespace collapsed, plus a copy with terminal wraps joined."""
    if not text:
        return ""
    text = _unescape(text)
    if "**" in text:  # markdown bold pasted around a code or a word
        text = text.replace("**", "")
    flat = _SPACE.sub(" ", text).strip()
    joined = _WRAP.sub("", text)
    if joined != text:
        flat += " \n " + _SPACE.sub(" ", joined).strip()
    return flat


def _codes(text: str, low: str) -> dict[str, str]:
    """Values of code/type/status/reason keys (JSON, Python dicts, 'Code: X', 'code=X'), normalised -> as written."""
    codes: dict[str, str] = {}
    same = len(text) == len(low)  # lower() kept every position: the value can be read back in its own case
    for m in _CODE_KV.finditer(low):
        if m.start() and low[m.start() - 1].isalnum():
            continue  # a longer word ending in "code" or "type"
        group = 1 if m.group(1) else 2
        start, end = m.span(group)
        raw = (text if same else low)[start:end].rstrip(".-")
        if group == 2 and "_" not in raw and raw == raw.lower() and _AFTER_WORD.match(low, end):
            continue  # "Error: Connection error": a sentence, not a code (snake_case and CamelCase values are codes)
        if raw.lower() not in ("none", "null", "true", "false") and not _CLASS_NAME.search(raw):
            codes.setdefault(norm_code(raw), raw)
    return codes


def _status_from_text(*texts: str) -> int | None:
    """The status the first text that names one names (an exception before the body it carries)."""
    for text in texts:
        if not text:
            continue
        low = text.lower()
        for pattern in _STATUS_IN_TEXT:
            for m in pattern.finditer(low):
                # a 1xx or 2xx in a pasted log is an earlier exchange that went fine, not the refusal
                if not (m.start() and low[m.start() - 1].isalnum()) and m.group(1) >= "300":
                    return int(m.group(1))
    for text in texts:
        word = _STATUS_WORD.search(text.lower()) if text else None
        if word:
            return _STATUS_BY_WORD[word.group(1)]
    for text in texts:
        cls = _EXCEPTION_CLASS.search(text) if text else None
        if cls and not (cls.start() and text[cls.start() - 1].isalnum()):
            return _STATUS_BY_CLASS[cls.group(1) or cls.group(2)]
    return None


def page_title(text: str) -> str:
    """The title of an HTML page in ``text`` (else its first heading), tags removed and spaces collapsed; '' if none.
    The one reading of a page's title: the classifier's rules, the live checks' evidence and the training hints use it."""
    m = _TITLE.search(text, 0, 30000) or _H1.search(text, 0, 30000)
    if not m:
        return ""
    return _SPACE.sub(" ", _TAG.sub(" ", m.group(1))).strip()[:300]


def _gather(status: Any, headers: Any, body: Any, exception: Any) -> _Evidence:
    try:
        code: int | None = int(str(status).strip()) if status is not None and str(status).strip() != "" else None
    except (TypeError, ValueError):
        code = None
    if code is not None and not 100 <= code <= 999:
        code = None
    hdrs: dict[str, str] = {}
    if isinstance(headers, Mapping):
        for k, v in list(headers.items())[:200]:
            hdrs[str(k).lower()] = str(v)[:2000]
    raw_body = _bounded(body)
    raw_exc = _bounded(exception)
    body_text = _normalise(raw_body)
    exc_text = _normalise(raw_exc)
    text = f"{body_text}\n{exc_text}" if body_text and exc_text else body_text or exc_text
    low_text = text.lower()
    codes = _codes(text, low_text)
    for name in _CODE_HEADERS:
        if name in hdrs:
            value = hdrs[name].split(":")[0].strip()[:80]
            codes.setdefault(norm_code(value), value)
    bare = {norm_code(m.group(0)): m.group(0) for m in _BARE.finditer(low_text)} if "_" in low_text else {}
    title = page_title(body_text) or page_title(exc_text)  # unescaped: a page may come inside an escaped JSON string
    is_html = bool(title) or bool(_HTML.search(body_text, 0, 5000))
    source = "response" if code is not None else ""
    if code is None:
        code = _status_from_text(exc_text, body_text, title)
        source = "text" if code is not None else ""
    client = exc_text if source == "response" or not body_text else text
    low_client = low_text if client is text else client.lower()
    words = frozenset(_WORD.findall(low_text))
    client_words = words if low_client is low_text else frozenset(_WORD.findall(low_client))
    return _Evidence(code, source, hdrs, text, client, low_text, low_client, words, client_words, codes, bare, title, is_html)


# --- rules ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Need:
    """Literals of which a matching text holds at least one, checked cheaply before the expression runs.

    A literal with a whole word inside it (bounded by non-alphanumerics within the literal) is checked by that word's
    presence in the text's word set (one set operation for all of them); the others by substring search.
    """

    words: frozenset[str]
    by_word: dict[str, tuple[str, ...]]  # word -> the literals holding it
    literals: tuple[str, ...]  # literals without such a word

    def may_match(self, low: str, words: frozenset[str]) -> bool:
        if not self.words.isdisjoint(words):
            for word in self.words.intersection(words):  # usually one: then the literal itself is looked for
                if any(map(low.__contains__, self.by_word[word])):
                    return True
        return any(map(low.__contains__, self.literals))


@dataclass(frozen=True)
class _Plan:
    """A rule with its patterns joined into one expression per kind (one search instead of one per pattern)."""

    cause: str
    rule: Rule
    statuses: frozenset[int]
    codes: tuple[str, ...]
    code_set: frozenset[str]
    messages: re.Pattern[str] | None
    titles: re.Pattern[str] | None
    exceptions: re.Pattern[str] | None
    messages_need: _Need | None  # what any text the expression matches must hold (None: no cheap test)
    exceptions_need: _Need | None
    headers: tuple[tuple[re.Pattern[str], re.Pattern[str] | None], ...]


def _lowered(pattern: str) -> str:
    """The pattern with its letters lower-cased (escapes such as \\S or \\D left alone), for lower-cased text."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
        else:
            out.append(pattern[i].lower())
            i += 1
    return "".join(out)


_SPECIAL = frozenset(".^$*+?{}[]\\|()")


def _alternatives(pattern: str) -> list[str]:
    """The pattern split on its top-level '|'."""
    out: list[str] = []
    depth, start, i, in_class = 0, 0, 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch in "()":
            depth += 1 if ch == "(" else -1
        elif ch == "|" and depth == 0:
            out.append(pattern[start:i])
            start = i + 1
        i += 1
    out.append(pattern[start:])
    return out


def _scan(alt: str) -> tuple[str, list[str]]:
    """(longest run of plain characters the alternative always contains, the groups it always contains)."""
    best, run, groups = "", "", []
    depth, i, in_class, group_start = 0, 0, False, 0
    while i < len(alt):
        ch = alt[i]
        if in_class:
            i += 2 if ch == "\\" else 1
            in_class = ch != "]"
            continue
        if depth > 0:
            if ch == "\\":
                i += 2
                continue
            if ch == "[":
                in_class = True
            elif ch in "()":
                depth += 1 if ch == "(" else -1
                if depth == 0:  # a group closes: it is required unless a quantifier makes it optional
                    body = alt[group_start:i]
                    optional = alt[i + 1 : i + 2] in ("?", "*") or alt[i + 1 : i + 4] in ("{0,", "{0}")
                    if not optional and not body.startswith(("?=", "?!", "?<")):
                        groups.append(re.sub(r"^\?(?:[:imsx]*:)?", "", body))
            i += 1
            continue
        if ch == "\\":
            esc = alt[i + 1 : i + 2]
            lit, step = (None if esc.isalnum() else esc), 2
        elif ch in _SPECIAL:
            best, run = max(best, run, key=len), ""
            if ch == "(":
                depth, group_start = 1, i + 1
            elif ch == "{":  # a counted repeat {m,n}: no literal in it
                i = alt.find("}", i) if "}" in alt[i:] else len(alt) - 1
            in_class = ch == "["
            i += 1
            continue
        else:
            lit, step = ch, 1
        quant = alt[i + step : i + step + 1]
        if lit is None or quant in ("?", "*") or alt[i + step : i + step + 3] in ("{0,", "{0}"):
            best, run = max(best, run, key=len), ""
        elif quant in ("+", "{"):
            best, run = max(best, run + lit, key=len), ""
        else:
            run += lit
        i += step
    return max(best, run, key=len), groups


def _selectivity(literals: tuple[str, ...]) -> float:
    """How rarely a text should hold any of these literals: long literals and few of them (a CJK character counts 3)."""
    if not literals:
        return 0.0
    return min(sum(1 if c.isascii() else 3 for c in lit.strip()) for lit in literals) - 0.5 * (len(literals) - 1)


def _required(pattern: str) -> tuple[str, ...] | None:
    """Literals of which any text the pattern matches holds at least one (None: no such cheap test).

    Checking them with `in` (plain substring search) before running the expression skips most rules at a
    fraction of the cost of a regular-expression search.
    """
    out: list[str] = []
    for alt in _alternatives(pattern):
        literal, groups = _scan(alt)
        candidates: list[tuple[str, ...]] = [(literal,)] if _selectivity((literal,)) >= 3 else []
        candidates += [inner for g in groups if (inner := _required(g)) is not None and _selectivity(inner) >= 1]
        if not candidates:
            return None
        best: tuple[str, ...] = max(candidates, key=_selectivity)  # the literal or group least likely to be in a text
        out.extend(best)
    return tuple(dict.fromkeys(out))


def _joined(patterns: tuple[re.Pattern[str], ...]) -> re.Pattern[str] | None:
    """All patterns of one kind as one case-sensitive expression over lower-cased text (3x faster than IGNORECASE)."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{_lowered(p.pattern)})" for p in patterns))


def _inner_word(literal: str) -> str:
    """The longest word of the literal with a non-alphanumeric on both sides inside it ('' when none)."""
    inner = [m.group(0) for m in _WORD.finditer(literal) if m.start() > 0 and m.end() < len(literal)]
    return max(inner, key=len, default="")


def _needs(patterns: tuple[re.Pattern[str], ...]) -> _Need | None:
    out: list[str] = []
    for p in patterns:
        need = _required(_lowered(p.pattern))
        if need is None:
            return None
        out.extend(need)
    literals = tuple(dict.fromkeys(out))
    words = {lit: word for lit in literals if (word := _inner_word(lit))}
    by_word: dict[str, tuple[str, ...]] = {}
    for lit, word in words.items():
        by_word[word] = (*by_word.get(word, ()), lit)
    return _Need(frozenset(by_word), by_word, tuple(lit for lit in literals if lit not in words))


_BuiltT = TypeVar("_BuiltT")


def _built_once(kb: Knowledge, cache: dict[int, tuple[Knowledge, _BuiltT]], build: Callable[[Knowledge], _BuiltT]) -> _BuiltT:
    """What ``build`` makes of the knowledge base in use, made once (a Knowledge compares by value, so it cannot be a key
    of its own: the cache holds the one it was built from, by identity)."""
    cached = cache.get(id(kb))
    if cached is not None and cached[0] is kb:
        return cached[1]
    built = build(kb)
    cache.clear()
    cache[id(kb)] = (kb, built)
    return built


_PLANS: dict[int, tuple[Knowledge, tuple[_Plan, ...]]] = {}


def _plans(kb: Knowledge) -> tuple[_Plan, ...]:
    return _built_once(kb, _PLANS, _make_plans)


def _make_plans(kb: Knowledge) -> tuple[_Plan, ...]:
    return tuple(
        _Plan(
            cause.id, rule, frozenset(rule.statuses), rule.codes, frozenset(rule.codes), _joined(rule.messages), _joined(rule.titles),
            _joined(rule.exceptions), _needs(rule.messages), _needs(rule.exceptions),
            tuple((re.compile(name), value) for name, value in rule.headers),
        )
        for cause in kb.causes.values()
        for rule in cause.rules
    )


@dataclass
class _Hit:
    plan: _Plan
    score: int
    kind: str  # the strongest kind of signal the rule matched on
    kinds: tuple[str, ...]
    found: list[tuple[str, Any]]  # (kind, match or value) for the evidence sentence


def _match(plan: _Plan, ev: _Evidence) -> _Hit | None:
    """A hit when every condition of the rule holds."""
    found: list[tuple[str, Any]] = []
    if plan.statuses:
        if (ev.status or 0) not in plan.statuses:  # 0 stands for no status: none received, none named
            return None
        if ev.status is not None:
            found.append(("statuses", ev.status))
    if plan.codes:
        if not plan.code_set.isdisjoint(ev.codes):
            hit = next(c for c in plan.codes if c in ev.codes)
            found.append(("codes", ev.codes[hit]))
        elif not plan.code_set.isdisjoint(ev.bare):
            hit = next(c for c in plan.codes if c in ev.bare)
            found.append(("named", ev.bare[hit]))
        else:
            return None
    if plan.headers:
        header_hit = None
        for name_re, value_re in plan.headers:
            for h, value in ev.headers.items():
                if name_re.fullmatch(h) and (value_re is None or value_re.search(value)):
                    header_hit = h
                    break
            if header_hit:
                break
        if header_hit is None:
            return None
        found.append(("headers", header_hit))
    if plan.titles is not None:
        if not ev.title or not plan.titles.search(ev.title.lower()):
            return None
        found.append(("titles", ev.title))
    if plan.messages is not None:
        need = plan.messages_need
        if need is not None and not need.may_match(ev.low_text, ev.words):
            return None
        if plan.messages.search(ev.low_text) is None:
            return None
        found.append(("messages", plan.rule.messages))
    if plan.exceptions is not None:
        need = plan.exceptions_need
        if not ev.low_client or (need is not None and not need.may_match(ev.low_client, ev.client_words)):
            return None
        if plan.exceptions.search(ev.low_client) is None:
            return None
        found.append(("exceptions", plan.rule.exceptions))
    if not found:
        return None
    kinds = tuple(k for k, _ in found)
    kind = max(kinds, key=lambda k: _STRENGTH[k])
    score = _STRENGTH[kind] + _EXTRA_CONDITION * (len(kinds) - 1) + plan.rule.priority
    return _Hit(plan, score, kind, kinds, found)


# --- evidence (redact first, cut after) -------------------------------------------------------------------------------
def _safe(text: str) -> str:
    """The text with every credential masked (the one masking pass, :func:`why403_kit.redact.redact`), ready to be cut."""
    return redact(text)


_LONG = 8 * 1024  # texts longer than this are redacted around the quoted part only (redaction costs per character)
_MARGIN = 1500


def _around(text: str, start: int, end: int) -> str:
    """The part of a long text around [start, end) that can be redacted on its own without splitting a secret.

    It is widened to whole words (a key or token holds no space: the normalised text separates words by one space) and
    then by four more words before it, so a header name or scheme that marks the next word as a secret
    ("Authorization : Bearer <token>") stays with it.
    """
    if len(text) <= _LONG:
        return text
    a, b = max(0, start - _MARGIN), min(len(text), end + _MARGIN)
    for _ in range(5):
        a = text.rfind(" ", 0, a) if a > 0 else 0
        if a <= 0:
            a = 0
            break
    after = text.find(" ", b)
    return text[a : len(text) if after < 0 else after]


def _quote(joined: re.Pattern[str] | None, patterns: tuple[re.Pattern[str], ...], haystack: str, label: str) -> str:
    """Quote the matched phrase with some context, cut from an already redacted copy of the text around it."""
    if len(haystack) > _LONG and joined is not None:
        first = joined.search(haystack.lower())
        if first is not None:
            haystack = _around(haystack, *first.span())
    safe = _safe(haystack)  # redact first: a cut made afterwards can only cut a mask, never leave part of a key
    low = safe.lower()
    m = joined.search(low) if joined is not None and len(low) == len(safe) else None
    span = m.span() if m else next((m2.span() for p in patterns if (m2 := p.search(safe))), None)
    if span is None:  # the phrase itself held a credential: say so, quote nothing
        return f"{label} matched a known phrase"
    start, end = max(0, span[0] - 40), min(len(safe), span[1] + 60)
    return f"{label} contains '{safe[span[0]:span[1]]}': …{safe[start:end].strip()}…"


def _evidence(hit: _Hit, ev: _Evidence) -> str:
    parts: list[str] = []
    for kind, value in hit.found:
        if kind == "statuses":
            if ev.status_source == "text":  # a status handed over is the caller's to show (Diagnosis.status): not said again
                parts.append(f"HTTP status {value} (named in the text)")
        elif kind == "codes":
            parts.append(f"error code/type '{_safe(value)}'")
        elif kind == "named":
            parts.append(f"the text names the error code '{_safe(value)}'")
        elif kind == "headers":
            shown = "[REDACTED]" if value in SENSITIVE_HEADERS else _safe(ev.headers[value])[:200]
            parts.append(f"header {value}: {shown}")
        elif kind == "titles":
            parts.append(f"page title '{_safe(value)}'")
        elif kind == "messages":
            parts.append(_quote(hit.plan.messages, value, ev.text, "message"))
        elif kind == "exceptions":
            parts.append(_quote(hit.plan.exceptions, value, ev.client, "client error"))
    return "; ".join(parts) or "the status alone: the answer names no code, message or page"


def _seen(ev: _Evidence) -> str:
    """What an answer showed when no rule named a cause: the status named in the text (one handed over is the caller's to
    show), the page, the server, the start of the text."""
    parts = [f"HTTP {ev.status} (named in the text)"] if ev.status and ev.status_source == "text" else []
    if ev.title:
        parts.append(f"page title '{_safe(ev.title)[:120]}'")
    if ev.headers.get("server"):
        parts.append(f"server: {_safe(ev.headers['server'])[:60]}")
    if ev.text:
        parts.append(f"text: '{_first_words(ev)}'")
    return "; ".join(parts)


def _first_words(ev: _Evidence) -> str:
    text = _around(ev.text, 0, 4000)
    safe = _safe(_TAG.sub(" ", text) if ev.is_html else text)  # masked before it is cut
    return _SPACE.sub(" ", safe).strip()[:160]


# --- who answered -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Hops:
    """What gives each hop away, read from responders.toml once per knowledge base (it is data, not code)."""

    gateway_text: re.Pattern[str] | None  # over lower-cased text
    gateway_need: _Need | None
    prefixes: dict[str, tuple[str, ...]]  # responder id -> header-name prefixes
    names: dict[str, frozenset[str]]  # responder id -> exact header names
    servers: dict[str, re.Pattern[str] | None]  # responder id -> Server / Via values


_HOPS: dict[int, tuple[Knowledge, _Hops]] = {}


def _hops(kb: Knowledge) -> _Hops:
    return _built_once(kb, _HOPS, _make_hops)


def _make_hops(kb: Knowledge) -> _Hops:
    rs = {r: kb.responder(r) for r in ("gateway", "edge", "proxy")}
    gateway = rs["gateway"]
    return _Hops(
        _joined(gateway.messages), _needs(gateway.messages) if gateway.messages else None,
        {r: v.header_prefixes for r, v in rs.items()}, {r: frozenset(v.headers) for r, v in rs.items()},
        {r: _joined(v.servers) for r, v in rs.items()},
    )


def _hop_headers(hops: _Hops, hop: str, ev: _Evidence) -> bool:
    prefixes, names, servers = hops.prefixes[hop], hops.names[hop], hops.servers[hop]
    if any(h in names or (prefixes and h.startswith(prefixes)) for h in ev.headers):
        return True
    return servers is not None and any(servers.search(ev.headers.get(h, "").lower()) for h in ("server", "via"))


def _gateway_hinted(hops: _Hops, ev: _Evidence) -> bool:
    if hops.gateway_text is None or (hops.gateway_need is not None and not hops.gateway_need.may_match(ev.low_text, ev.words)):
        return False
    return hops.gateway_text.search(ev.low_text, 0, 20000) is not None


def _responder(default: str, ev: _Evidence) -> str:
    if default in ("edge", "proxy", "client"):
        return default
    hops = _hops(knowledge.load())
    if _hop_headers(hops, "proxy", ev):
        return "proxy"
    if _gateway_hinted(hops, ev) or _hop_headers(hops, "gateway", ev):
        return "gateway"
    if ev.is_html and _hop_headers(hops, "edge", ev):
        return "edge"
    if ev.status is None:
        return "unknown"
    return default


def _diagnosis(cause_id: str, confidence: float, evidence: str, ev: _Evidence, matched: list[str], responder: str = "") -> Diagnosis:
    cause = knowledge.load().cause(cause_id)
    return Diagnosis(
        cause=cause.id,
        confidence=round(max(0.0, min(confidence, 0.99)), 2),
        evidence=_safe(evidence)[:600],
        fix=cause.fix,
        responder=responder or _responder(cause.responder, ev),
        title=cause.title,
        summary=cause.summary,
        retry=cause.retry,
        status=ev.status,
        matched=matched,
        status_source=ev.status_source,
    )


def _fallback(ev: _Evidence) -> tuple[str, float, str]:
    s = ev.status
    seen = _seen(ev)
    if s is None:
        return "unknown", 0.2, f"no status and nothing recognisable: {seen}" if seen else "no status and nothing recognisable in the text"
    if s == 401:
        cause, confidence, why = "invalid_api_key", 0.45, "no recognisable error code, so the credential itself was refused"
    elif s == 404:
        cause, confidence, why = "wrong_endpoint", 0.4, "no recognisable error code, so nothing answers at this URL"
    elif s in (301, 302, 303, 307, 308):
        cause, confidence, why = "wrong_endpoint", 0.5, "the API does not redirect, so the base URL is probably wrong"
    else:
        cause, confidence, why = "unknown", 0.3, "no recognisable error code, message or page"
    return cause, confidence, f"{seen}; {why}" if seen else why


def _confidence(best: _Hit, hits: list[_Hit], ev: _Evidence) -> float:
    conf = _CONFIDENCE[best.kind] + 0.015 * min(best.plan.rule.priority, 0)  # a rule the knowledge base marks weak
    if best.kind == "statuses" and ev.status_source == "text":
        conf -= 0.1  # a status read from a pasted text, and nothing else
    same = {k for h in hits if h.plan.cause == best.plan.cause for k in h.kinds}
    conf += 0.02 * (len(same) - 1)  # several kinds of signal agree
    rival = max((h.score for h in hits if h.plan.cause != best.plan.cause), default=None)
    if rival is not None and rival >= best.score - _CLOSE:
        conf -= 0.15 if rival >= best.score else 0.08
    return conf


# a rate-limit message's own numbers ("Limit 7000, Used 0, Requested ~12903"): OpenAI, Groq, Azure and others say them
_LIMIT_NUMBERS = re.compile(r"\blimit:? ~?(\d[\d,]*)\b.{0,60}?\brequested:? ~?(\d[\d,]*)")


def _over_limit(ev: _Evidence) -> str:
    """Evidence that one request alone asks more than the limit it was refused under (waiting never lets it through),
    or '' when the numbers are absent or say it only came too fast."""
    m = _LIMIT_NUMBERS.search(ev.low_text)
    if m is None:
        return ""
    limit, requested = (int(g.replace(",", "")) for g in m.groups())
    if requested <= limit:
        return ""
    return f"a rate-limit refusal whose own numbers show the request alone is over the limit: requested {requested}, limit {limit}"


def _decide(ev: _Evidence) -> Diagnosis:
    kb = knowledge.load()
    hits = [hit for plan in _plans(kb) if (hit := _match(plan, ev)) is not None]
    success = ev.status is not None and 200 <= ev.status < 300 and ev.status_source == "response"
    if success and not _ERROR_OBJECT.search(ev.text, 0, 20000):
        page = next((h for h in hits if h.plan.cause in ("edge_block", "proxy_block") and h.kind != "statuses"), None)
        if page is not None:
            return _diagnosis(page.plan.cause, _CONFIDENCE[page.kind], _evidence(page, ev), ev, [page.plan.cause])
        if ev.is_html:  # the API never answers with a page: a captive portal, a login page or a proxy answered instead
            what = f"a page titled '{_safe(ev.title)[:120]}'" if ev.title else "an HTML page"
            return _diagnosis("proxy_block", 0.7, f"{what} instead of the API's JSON", ev, [], "proxy")
        return _diagnosis("ok", 0.99, "the API's answer, no error in it", ev, [])
    if hits:
        best = max(hits, key=lambda h: h.score)  # the first of equal scores (knowledge order) wins
        matched = sorted({h.plan.cause for h in hits})
        if best.plan.cause == "rate_limited" and (over := _over_limit(ev)):
            return _diagnosis("request_too_large", 0.9, over, ev, sorted({*matched, "request_too_large"}), best.plan.rule.responder)
        return _diagnosis(best.plan.cause, _confidence(best, hits, ev), _evidence(best, ev), ev, matched, best.plan.rule.responder)
    cause_id, conf, text = _fallback(ev)
    return _diagnosis(cause_id, conf, text, ev, [])


def classify(
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    body: str | bytes | Any = "",
    exception: BaseException | str | None = None,
) -> Diagnosis:
    """Name the cause of one answer (or of a failure to get one). Never raises."""
    try:
        return _decide(_gather(status, headers, body, exception))
    except Exception as err:  # noqa: BLE001 -- the classifier must never raise, whatever it is fed
        fallback = knowledge.load().cause("unknown")
        return Diagnosis("unknown", 0.0, f"classifier could not read the input ({type(err).__name__})", fallback.fix, "unknown")
