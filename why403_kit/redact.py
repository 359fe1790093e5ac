"""The one masking pass every outgoing text and structure goes through.

Two paths, and the order matters:

- **structures first**: :func:`redact_obj` masks the values of a JSON-like structure (and its keys, and the
  values under credential header names) *before* anything is serialized or cut, so the output is always
  valid JSON; :func:`redact_headers` does the same for a header mapping, header names included.
- **text**: :func:`redact` masks a text; :func:`excerpt` quotes part of a text with the masking done on the
  whole text first, so a cut can never drop the anchor (``Bearer``, ``sk-proj-``) that made a key recognisable.

What :func:`redact` masks, in one pass that finds spans and then replaces them (so no pattern sees another's output):

1. every live value (:mod:`._secret`) in every derived form (:mod:`._keys`): fixed strings found by substring
   search over the lower-cased text, and any run of :data:`._keys.FRAGMENT` or more characters of a live key;
2. key shapes no one registered: ``sk-…``, ``gsk_…`` and a few other providers', ``Bearer <token>``, the value after a
   credential name (``Authorization:``, ``api-key=``, ``'x-api-key': '…'``, ``(b'cookie', b'…')``, ``"client_secret": "…"``,
   ``password=…``), credential query parameters, and the password of a URL's user info (``scheme://user:password@host``);
3. runs of escaped characters (``\\uXXXX``, ``\\xXX``, ``\\n``, ``%XX``, escaped twice or thrice) are decoded and
   looked at again with 1 and 2; a run that hides a secret is masked whole.

A span never starts or ends inside an escape sequence, and the header-value pattern stops at an escaped quote,
so masking JSON text keeps it valid JSON (still: serialize after :func:`redact_obj`, do not redact serialized JSON).

Speed: one ``str.lower`` and one substring search per derived form (a few dozen per live key), a handful of
regular expressions each behind a cheap substring test, and work proportional to the escapes present.
"""

from __future__ import annotations

import bisect
import re
import string
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._keys import FRAGMENT, KNOWN_PREFIXES, KeyForms, key_prefix
from ._secret import live_forms

__all__ = [
    "KNOWN_PREFIXES", "MASK", "SENSITIVE_HEADERS", "excerpt", "key_prefix", "redact", "redact_headers", "redact_obj",
    "split_userinfo",
]

MASK = "[REDACTED]"

SENSITIVE_HEADERS = frozenset({
    "authorization", "proxy-authorization", "api-key", "x-api-key", "cookie", "set-cookie", "ocp-apim-subscription-key",
    "x-goog-api-key",
})

# A header value that is only a placeholder for the key ("Bearer $OPENAI_API_KEY", "<key>", "${AZURE_OPENAI_API_KEY}")
# is left alone, so advice and reproduction commands stay readable; anything more than the placeholder is masked.
_PLACEHOLDER = re.compile(r"(?i)^(?:bearer\s+)?(?:(?:<|&lt;)[\w .-]{1,40}(?:>|&gt;)|\$\{?[A-Z_][A-Z0-9_]*\}?|\[REDACTED\])"
                          r"(?:\s*$|(?=&(?:#x27|#39|quot);))")  # the value ends there, or an HTML-escaped quote closes it

Span = tuple[int, int]

# ---- 2. shapes ------------------------------------------------------------------------------------------------
_KEY_SHAPE = re.compile(r"(?P<p>sk-(?:proj|svcacct|admin|None|service|or-v1|ant-api\d\d)-|sk-|gsk_|xai-|pplx-|AIza)"
                        r"(?P<s>[A-Za-z0-9_\-]{8,})")
_KEY_SHAPE_MIN = {"sk-": 16, "gsk_": 16, "xai-": 20, "pplx-": 20, "AIza": 30}
_BEARER = re.compile(r"(?i)bearer(?:[ \t]|\\t|%20|\+)+(?P<s>(?:[A-Za-z0-9._~+/=\-]|\\/)+)")
# Names whose value is a credential wherever they label one: header lines, JSON and dict keys, ``name=value`` in logs.
# Longest first where one holds another at a word start (``proxy-authorization`` before ``authorization``).
_HEADER_NAMES = ("proxy-authorization", "authorization", "x-api-key", "api-key", "api_key", "apikey", "ocp-apim-subscription-key",
                 "x-goog-api-key", "set-cookie", "cookie", "access_token", "access-token", "refresh_token", "refresh-token",
                 "client_secret", "client-secret", "secret", "password")
_HEADER = re.compile(
    r"(?i)(?P<name>" + "|".join(_HEADER_NAMES) + r")(?P<q2>\\?[\"'])?[ \t]*(?P<sep>[:=,])[ \t]*(?:b?(?P<q3>\\?[\"']))?"
    r"(?P<v>(?:[^\r\n\"'\\]|\\u[0-9a-fA-F]{4}|\\[/\\])+)")
_QUERY = re.compile(r"(?i)[?&;](?:api[-_]?key|apikey|key|token|access_token|refresh_token|id_token|client_secret|secret|password|"
                    r"passwd|pwd|sig|signature|subscription-key)=(?P<v>[^&\s\"'\\#<>]+)")
_USERINFO = re.compile(r"(?:://|:\\/\\/)(?P<user>[^\s/?#@:\"'\\<>\[\]]*):(?P<pw>[^\s/?#@\"'\\<>]+)@")
_WORD = frozenset(string.ascii_letters + string.digits + "_")
_WORDS = re.compile(r"\S+")
_BETWEEN_STRINGS = frozenset(" \t,:;]})")


def _starts_word(text: str, i: int) -> bool:
    """``text[i]`` begins a word: nothing alphanumeric before it, or only an escape such as ``\\n`` (JSON, repr)."""
    if i == 0 or (text[i - 1] not in _WORD and not text.endswith(MASK, 0, i)):
        return True  # right after a mask is inside a word: it was there before the masking, and redact stays idempotent
    return i >= 2 and text[i - 2] == "\\" and text[i - 1] in "nrtbfv" and _escapes_next(text, i - 2)


def _key_shape(m: re.Match[str], text: str) -> Span | None:
    if len(m.group("s")) < _KEY_SHAPE_MIN.get(m.group("p"), 8) or not _starts_word(text, m.start()):
        return None
    return m.span("s")


def _bearer(m: re.Match[str], text: str) -> Span | None:
    return m.span("s") if len(m.group("s")) >= 8 and _starts_word(text, m.start()) else None


def _header(m: re.Match[str], text: str) -> Span | None:
    if not _starts_word(text, m.start()):
        return None
    quoted_name, quoted_value, sep = m.group("q2"), m.group("q3"), m.group("sep")
    if (quoted_name and not quoted_value) or (sep == "," and not (quoted_name and quoted_value)):
        return None  # a JSON key whose value is not a string, or a comma in prose
    raw = m.group("v")
    if quoted_value and raw[:1] in _BETWEEN_STRINGS:
        return None  # that quote closed a string: what follows is JSON (or repr) structure, not a value
    words = list(_WORDS.finditer(raw))
    if not words:
        return None
    keep = 1  # a key is one word, a credential 'Scheme word'; the rest of a log line is the message
    if "cookie" in m.group("name").lower():
        keep = len(words)  # cookies hold spaces
    elif "authorization" in m.group("name").lower() and len(words) > 1 and words[0].group().isalpha():
        keep = 2
    if _PLACEHOLDER.match(raw.strip()) or words[0].group().startswith(MASK):
        return None  # a placeholder, or a value already masked (by a rule that saw further than this one)
    return m.start("v") + words[0].start(), m.start("v") + words[keep - 1].end()


def _masked_unless_mask(m: re.Match[str], text: str, group: str) -> Span | None:
    return None if m.group(group).startswith(MASK) else m.span(group)


# The credential names are found by a few literals, each with where the names holding it start relative to it
# ("token" finds access_token at -7): one str.find scan per literal, however many names share it.
_HEADER_LITERALS: dict[str, tuple[int, ...]] = {}
for _name in _HEADER_NAMES:
    _lit = next(lit for lit in ("authorization", "api-key", "api_key", "apikey", "ocp-apim", "cookie", "token", "secret", "password")
                if lit in _name)
    _HEADER_LITERALS[_lit] = tuple(sorted({*_HEADER_LITERALS.get(_lit, ()), -_name.index(_lit)}))

# (pattern, lower-cased literals a match starts at or near (None: scan with the pattern), span of the secret part or None).
# Searching the literal with str.find and matching only there is what keeps a 1 MiB body cheap.
_SHAPES: list[tuple[re.Pattern[str], tuple[str, ...] | Mapping[str, tuple[int, ...]] | None, Callable[[re.Match[str], str], Span | None]]] = [
    (_KEY_SHAPE, ("sk-", "gsk_", "xai-", "pplx-", "aiza"), _key_shape),
    (_BEARER, ("bearer",), _bearer),
    (_HEADER, _HEADER_LITERALS, _header),
    (_QUERY, None, lambda m, t: _masked_unless_mask(m, t, "v")),
    (_USERINFO, ("://", ":\\/\\/"), lambda m, t: _masked_unless_mask(m, t, "pw")),
]


def _shape_spans(text: str, low: str, spans: list[Span], key_shapes_only: bool = False) -> None:
    for pattern, literals, span_of in _SHAPES[:2] if key_shapes_only else _SHAPES:
        if literals is None:
            matches: Iterable[re.Match[str] | None] = pattern.finditer(text) if "=" in text else ()
        else:
            matches = (pattern.match(text, i) for i in _occurrences(low, literals))
        for m in matches:
            if m is not None and (span := span_of(m, text)) is not None:
                spans.append(span)


def _occurrences(low: str, literals: Iterable[str] | Mapping[str, tuple[int, ...]]) -> Iterable[int]:
    """Where a match may start: each occurrence of each literal, moved by the literal's offsets (0 when it has none)."""
    for literal in literals:
        shifts = literals[literal] if isinstance(literals, Mapping) else (0,)
        i = low.find(literal)
        while i >= 0:
            for shift in shifts:
                if i + shift >= 0:
                    yield i + shift
            i = low.find(literal, i + 1)


# ---- 1. live values -------------------------------------------------------------------------------------------
_MAX_MISSES = 1000  # a window that keeps matching without growing into a key is not worth more Python time


def _lower(text: str) -> str:
    """Lower-cased with every index kept (U+0130 is the one character whose lower case is two)."""
    low = text.lower()
    return low if len(low) == len(text) else text.replace("\u0130", "I").lower()


def _live_spans(low: str, forms: Iterable[KeyForms], spans: list[Span]) -> None:
    for f in forms:
        for form in f.exact:
            i = low.find(form)
            while i >= 0:
                spans.append((i, i + len(form)))
                i = low.find(form, i + len(form))
        for window, source, offset in f.anchors:
            i, misses = low.find(window), 0
            while i >= 0 and misses < _MAX_MISSES:
                a, b, matched = _grow(low, i, source, offset, len(window))
                if matched >= FRAGMENT:
                    spans.append((a, b))
                    i = low.find(window, b)
                else:
                    misses += 1
                    i = low.find(window, i + 1)


# A key split by a line break, a tab or spaces, raw or escaped (``\\r\\n`` is two of them): up to four in a row.
_SEPARATOR_AHEAD = re.compile(r"(?:\\{1,3}[rnt]|[\r\n\t ]){1,4}")
_SEPARATOR_BEHIND = re.compile(r"(?:\\{1,3}[rnt]|[\r\n\t ]){1,4}\Z")


def _grow(low: str, i: int, source: str, offset: int, size: int) -> tuple[int, int, int]:
    """Grow the window found at ``low[i:i+size]`` (``source[offset:offset+size]``) into the longest run the text shares with
    the key, stepping over line breaks, tabs and spaces (raw or escaped) that split the key; (start, end, key characters)."""
    a, b, sa, sb = i, i + size, offset, offset + size
    while sa > 0 and a > 0:
        if low[a - 1] == source[sa - 1]:
            a, sa = a - 1, sa - 1
        elif (sep := _SEPARATOR_BEHIND.search(low, max(0, a - 16), a)) and sep.start() > 0 and low[sep.start() - 1] == source[sa - 1]:
            a = sep.start()
        else:
            break
    while sb < len(source) and b < len(low):
        if low[b] == source[sb]:
            b, sb = b + 1, sb + 1
        elif (sep := _SEPARATOR_AHEAD.match(low, b)) and sep.end() < len(low) and low[sep.end()] == source[sb]:
            b = sep.end()
        else:
            break
    return a, b, (sb - sa)


# ---- 3. escaped runs ------------------------------------------------------------------------------------------
_ESC = r"\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}|\\[0-7]{1,3}|\\[\\/\"'abfnrtv]|%[0-9a-fA-F]{2}"
# Escapes that can hide part of a key: of an ASCII character, or a slash or backslash (escaping twice). The others
# (\\n, \\", \\u00e9 …) only separate words, and a key beside them is plain to see: a run is decoded only if
# it holds one of these, so a JSON body full of newlines and accents costs nothing extra.
_DEEP_ESC = re.compile(r"\\u00[0-7][0-9a-fA-F]|\\x[0-7][0-9a-fA-F]|\\[0-7]{1,3}|\\[\\/]|%[0-7][0-9a-fA-F]")
_RUN_CHARS = frozenset(string.ascii_letters + string.digits + "+/=_.~-")
_RUN_TAIL = re.compile(r"(?:[A-Za-z0-9+/=_.~\-]|" + _ESC + r")*")
_TOKEN = re.compile(_ESC + r"|[^\\%]+|[\\%]", re.DOTALL)
_SIMPLE = {"\\": b"\\", "/": b"/", '"': b'"', "'": b"'", "a": b"\a", "b": b"\b", "f": b"\f", "n": b"\n", "r": b"\r", "t": b"\t",
           "v": b"\v"}
_SEPARATOR = "\uffff"  # a noncharacter: no form holds it, so no hit spans two runs


def _decode(text: str) -> str:
    """One layer of JSON, Python and URL escapes undone (bytes escapes read as UTF-8)."""
    out = bytearray()
    for m in _TOKEN.finditer(text):
        t = m.group()
        if len(t) > 1 and t[0] == "\\":
            c = t[1]
            if c == "u":
                out += chr(int(t[2:], 16)).encode("utf-8", "surrogatepass")
            elif c == "x":
                out.append(int(t[2:], 16))
            elif c in "01234567":
                out.append(int(t[1:], 8) & 0xFF)
            else:
                out += _SIMPLE[c]
        elif len(t) == 3 and t[0] == "%":
            out.append(int(t[1:], 16))
        else:
            out += t.encode("utf-8", "surrogatepass")
    return out.decode("utf-8", "replace")


def _escaped_runs(text: str) -> list[Span]:
    """Maximal runs of key-like characters and escapes that hold at least one escape able to hide part of a key."""
    runs: list[Span] = []
    end = 0
    for m in _DEEP_ESC.finditer(text):
        if m.start() < end:
            continue
        a = m.start()
        while a > end and text[a - 1] in _RUN_CHARS:
            a -= 1
        match = _RUN_TAIL.match(text, m.end())
        end = match.end() if match else m.end()
        runs.append((a, end))
    return runs


def _escaped_spans(text: str, forms: tuple[KeyForms, ...], spans: list[Span]) -> None:
    if "\\" not in text and "%" not in text:
        return
    pieces: list[str] = []
    starts: list[int] = []
    owners: list[Span] = []
    pos = 0
    for a, b in _escaped_runs(text):
        if b - a < 8:
            continue
        decoded = text[a:b]
        for _ in range(3):  # escaped once, twice (JSON inside JSON, a repr logged as JSON) or thrice
            deeper = _decode(decoded)
            if deeper == decoded:
                break
            decoded = deeper
            pieces.append(decoded)
            starts.append(pos)
            owners.append((a, b))
            pos += len(decoded) + 1
    if not pieces:
        return
    joined = _SEPARATOR.join(pieces)
    hits: list[Span] = []
    _live_spans(_lower(joined), forms, hits)
    _shape_spans(joined, _lower(joined), hits, key_shapes_only=True)
    for s, e in hits:
        for k in range(bisect.bisect_right(starts, s) - 1, bisect.bisect_left(starts, e)):
            spans.append(owners[k])


# ---- spans --------------------------------------------------------------------------------------------------
def _escapes_next(text: str, j: int) -> bool:
    """The backslash at ``j`` escapes the character after it (it ends an odd run of backslashes)."""
    k = j
    while k > 0 and text[k - 1] == "\\":
        k -= 1
    return (j - k) % 2 == 0


def _escape_around(text: str, i: int) -> Span | None:
    """The escape sequence (``\\n``, ``\\uXXXX``, ``%XX`` …) that holds position ``i`` but starts before it, if any."""
    for j in range(max(0, i - 5), i):
        c = text[j]
        if c == "\\" and _escapes_next(text, j) and j + 1 < len(text):
            kind = text[j + 1]
            length = 6 if kind == "u" else 4 if kind == "x" else 2
            if j + length > i:
                return j, min(len(text), j + length)
        elif c == "%" and j + 3 > i and re.fullmatch(r"%[0-9A-Fa-f]{2}", text[j : j + 3]):
            return j, j + 3
    return None


def _spans(text: str) -> list[Span]:
    """Sorted, disjoint spans of ``text`` to mask, snapped to whole escape sequences."""
    if not text:
        return []
    low = _lower(text)
    forms = live_forms()
    raw: list[Span] = []
    _live_spans(low, forms, raw)
    _shape_spans(text, low, raw)
    _escaped_spans(text, forms, raw)
    merged: list[Span] = []
    for a, b in sorted(raw):
        if (around := _escape_around(text, a)) is not None:
            a = around[0]
        if b < len(text) and (around := _escape_around(text, b)) is not None:
            b = around[1]
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _apply(text: str, spans: list[Span], lo: int = 0, hi: int | None = None) -> str:
    hi = len(text) if hi is None else hi
    out: list[str] = []
    cursor = lo
    for a, b in spans:
        if b <= lo or a >= hi or b <= cursor:
            continue
        out.append(text[cursor:a] if a > cursor else "")
        out.append(MASK)
        cursor = b
    if cursor < hi:
        out.append(text[cursor:hi])
    return "".join(out)


# ---- public ---------------------------------------------------------------------------------------------------
def redact(text: Any) -> str:
    """Return ``text`` as a string with every key, token and credential masked (see the module docstring)."""
    out = text if isinstance(text, str) else str(text)
    return _apply(out, _spans(out))


def excerpt(text: str, start: int, end: int, context: int = 40, *, ellipsis: str = "…") -> str:
    """``text[start - context : end + context]``, masked before it is cut: the one safe way to quote part of a text.

    Masking the whole text first means a cut can never keep the secret part of a key while dropping the
    ``Bearer`` or ``sk-proj-`` that made it recognisable; a masked span that crosses a cut shows whole as
    :data:`MASK`. ``ellipsis`` marks each side where the text was cut.
    """
    lo, hi = max(0, start - context), min(len(text), end + context)
    body = _apply(text, _spans(text), lo, hi)
    return (ellipsis if lo > 0 else "") + body + (ellipsis if hi < len(text) else "")


def _text(value: Any) -> str:
    return bytes(value).decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def _sensitive(name: Any) -> bool:
    return isinstance(name, (str, bytes, bytearray)) and _text(name).strip().lower() in SENSITIVE_HEADERS


def _unique(result: dict[Any, Any], key: Any) -> Any:
    if key not in result:
        return key
    n = 2
    while f"{key} ({n})" in result:
        n += 1
    return f"{key} ({n})"


def redact_headers(headers: Mapping[Any, Any] | Iterable[tuple[Any, Any]] | None) -> dict[str, str]:
    """A copy of ``headers`` with credential headers masked, every other value and every *name* passed through
    :func:`redact` (a server can echo a key as a header name). Names that collide once masked get a suffix."""
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    result: dict[str, str] = {}
    for name, value in items:
        masked = MASK if _sensitive(name) else redact(_text(value))
        result[_unique(result, redact(_text(name)))] = masked
    return result


MAX_DEPTH = 200  # deeper structures are cut (no report nests that deep; a hostile one must not overflow the stack)


def redact_obj(obj: Any, _depth: int = 0) -> Any:
    """A JSON-like copy of ``obj`` with every secret masked, ready to serialize (then cut, if you must).

    Strings are masked; so are dict keys, the values under credential header names (``{"authorization": …}``,
    HAR's ``{"name": "Authorization", "value": …}``, ``("cookie", …)`` pairs), and bytes (decoded). Tuples and
    sets become lists; numbers, booleans and None stay; any other object becomes its masked ``str``.
    """
    if isinstance(obj, str):
        return redact(obj)
    if obj is None or isinstance(obj, (bool, int, float)):
        return obj
    if isinstance(obj, (bytes, bytearray)):
        return redact(_text(obj))
    if _depth >= MAX_DEPTH:
        return "[nested too deep]"
    if isinstance(obj, Mapping):
        header_record = _sensitive(obj.get("name")) and "value" in obj
        out: dict[Any, Any] = {}
        for k, v in obj.items():
            key = k if k is None or isinstance(k, (bool, int, float)) else redact(_text(k))
            value = MASK if _sensitive(k) or (header_record and k == "value") else redact_obj(v, _depth + 1)
            out[_unique(out, key)] = value
        return out
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = list(obj)
        if isinstance(obj, tuple) and len(items) == 2 and _sensitive(items[0]):
            return [redact(_text(items[0])), MASK]
        return [redact_obj(v, _depth + 1) for v in items]
    return redact(str(obj))


# ---- URLs -----------------------------------------------------------------------------------------------------
_URL_USERINFO = re.compile(r"^(?P<scheme>\s*[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/?#]*)@")


def split_userinfo(url: str) -> tuple[str, str, str]:
    """``(url without its user info, user, password)``; user and password percent-decoded, '' when absent.

    Never raises (no URL parsing beyond the user info), so it can run before validation: the base URL and
    proxy URLs are checked with it, and a password found must be wrapped in a :class:`Secret` before use.
    """
    from urllib.parse import unquote

    m = _URL_USERINFO.match(url)
    if m is None:
        return url, "", ""
    user, _, password = m.group("userinfo").partition(":")
    return m.group("scheme") + url[m.end() :], unquote(user), unquote(password)

