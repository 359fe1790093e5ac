"""What a key looks like, and every shape it can take in text: the one leaf module the masking stands on.

It imports nothing from the package, so :mod:`._secret` (the holder and the registry of live values) and
:mod:`.redact` (the masking pass) both depend on it and never on each other's internals.

A server, a library or a log can hand a key back in many shapes; :func:`derived_forms` lists the
ones that are fixed strings, so the masking pass can look for them with plain substring search:

- the key as given, stripped, without its known prefix (``sk-proj-`` …), and its pieces around a control character;
- escaped: JSON (``\\uXXXX`` for non-ASCII, ``\\/``), Python ``repr`` of the text and of its bytes, HTML;
- URL-encoded (``quote`` and ``quote_plus``) and hex;
- base64, standard and URL-safe, padded or not, at the three byte alignments. The key may sit anywhere inside
  the encoded bytes (``Bearer <key>``, ``<user>:<key>`` of Basic auth, a JSON document): only the characters
  that depend on the key's bytes alone are kept, so one form covers every prefix and padding.

Escapes that vary per character (a server that ``\\u``-escapes some characters only) are not fixed strings:
the masking pass decodes escaped runs and looks again (see :mod:`.redact`). Every form is kept lower-cased;
the pass compares lower-cased text, because HTTP libraries lower-case header names.
"""

from __future__ import annotations

import base64
import html
import json
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

# Longest first: the first that matches is the most specific.
KNOWN_PREFIXES = ("sk-proj-", "sk-svcacct-", "sk-admin-", "sk-None-", "sk-or-v1-", "sk-ant-", "gsk_", "sk-")

MIN_SECRET = 4  # shorter values are not registered: masking them would eat ordinary words
MIN_FORM = 8  # a derived form shorter than this would mask ordinary text by chance
FRAGMENT = 16  # any run of this many characters of a live key is masked, even cut from the rest of it
_ANCHOR = FRAGMENT // 2  # windows of this length at this stride: every run of FRAGMENT characters holds one


def key_prefix(value: str) -> str:
    """The known prefix of a key (``sk-proj-``, ``gsk_`` …), or '' when it has none. Safe to show."""
    for prefix in KNOWN_PREFIXES:
        if value.startswith(prefix):
            return prefix
    return ""


_CONTROL_NAMES = {"\t": "TAB", "\n": "LF (line feed)", "\r": "CR (carriage return)", "\x00": "NUL", "\x0b": "VT", "\x0c": "FF",
                  "\x85": "NEL", "\u00a0": "no-break space", "\u200b": "zero-width space", "\u200c": "zero-width non-joiner",
                  "\u200d": "zero-width joiner", "\u2028": "line separator", "\u2029": "paragraph separator", "\ufeff": "byte-order mark"}


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") or ch == "\u00a0"


def key_control_characters(value: str) -> list[str]:
    """Control and invisible characters in a key, named with where they sit; never any character of the key itself.

    An HTTP header cannot carry them (or carries them and the server refuses the key), and a Windows
    ``.env`` file leaves a CR at the end: a key for which this returns anything must not be sent.
    """
    found: list[str] = []
    last = len(value) - 1
    for i, ch in enumerate(value):
        if not _is_control(ch):
            continue
        name = _CONTROL_NAMES.get(ch) or unicodedata.name(ch, "control character")
        where = "at the start" if i == 0 else "at the end" if i == last else f"at position {i + 1} of {len(value)}"
        found.append(f"{name} (U+{ord(ch):04X}) {where}")
    return found


def _pieces(value: str) -> list[str]:
    """The parts of ``value`` between control or space characters (a key split by an escaped CR/LF/TAB)."""
    pieces: list[str] = []
    current: list[str] = []
    for ch in value:
        if _is_control(ch) or ch.isspace():
            pieces.append("".join(current))
            current = []
        else:
            current.append(ch)
    pieces.append("".join(current))
    return [p for p in pieces if p]


def _base64_middles(data: bytes) -> set[str]:
    """The base64 characters that depend on ``data`` alone, at each of the three alignments it may have
    inside a longer encoded byte string, in the standard and the URL-safe alphabet."""
    out: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode("ascii")
        first = -(-offset * 8 // 6)  # characters holding bits of the bytes before the key
        last = (offset + len(data)) * 8 // 6  # characters after this hold bits of the bytes after it
        middle = encoded[first:last]
        out.add(middle)
        out.add(middle.replace("+", "-").replace("/", "_"))
    return out


def _escapes(text: str) -> set[str]:
    """``text`` as escaping layers write it (each form appears only if it differs from the text)."""
    forms = {
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
        repr(text)[1:-1],
        repr(text.encode("utf-8", "surrogatepass"))[2:-1],
        text.replace("/", "\\/"),
        json.dumps(text).replace("/", "\\/")[1:-1],
        quote(text, safe=""),
        quote_plus(text, safe=""),
        html.escape(text),
    }
    forms |= {json.dumps(f)[1:-1] for f in list(forms)}  # escaped twice: JSON text inside a JSON string, a repr logged as JSON
    return forms


@dataclass(frozen=True)
class KeyForms:
    """What the masking pass looks for, for one live value (computed once, when the value is registered).

    ``exact``: lower-cased fixed strings masked wherever they appear, longest first (the short forms).
    ``anchors``: lower-cased windows, each with the lower-cased form it was cut from and its offset there; a
    window found in a text is grown to the longest run the text shares with that form, and the run is masked
    when it has at least ``FRAGMENT`` characters. The key's own text has a window every ``FRAGMENT // 2``
    characters, so any ``FRAGMENT`` characters of it are found wherever it was cut; every other long form (base64,
    hex, escapes) has one at its head and one at its tail, so it is found when a cut took only one of its ends.
    """

    exact: tuple[str, ...]
    anchors: tuple[tuple[str, str, int], ...]


def derived_forms(value: str) -> KeyForms:
    """Every fixed-string form of ``value`` worth masking (see the module docstring)."""
    stripped = value.strip()
    prefix = key_prefix(stripped)
    texts = {value, stripped, stripped[len(prefix):], *_pieces(value)}
    texts = {t for t in texts if len(t) >= min(MIN_FORM, len(value))}
    others: set[str] = set()
    for text in texts:
        others |= _escapes(text)
        data = text.encode("utf-8", "surrogatepass")
        others.add(data.hex())
        others |= _base64_middles(data)
    lowered_texts = {t.lower() for t in texts}
    lowered = {f.lower() for f in others if len(f) >= MIN_FORM} - lowered_texts
    anchors: list[tuple[str, str, int]] = []
    long = {t for t in lowered_texts if len(t) >= FRAGMENT}
    for text in sorted(t for t in long if not any(t != u and t in u for u in long)):  # a piece of a longer text adds nothing
        starts = set(range(0, len(text) - _ANCHOR + 1, _ANCHOR)) | {len(text) - _ANCHOR}
        anchors += [(text[i : i + _ANCHOR], text, i) for i in sorted(starts)]
    for form in sorted(f for f in lowered if len(f) >= 2 * FRAGMENT):
        anchors += [(form[:FRAGMENT], form, 0), (form[-FRAGMENT:], form, len(form) - FRAGMENT)]
    exact = {t for t in lowered_texts if len(t) < FRAGMENT} | {f for f in lowered if len(f) < 2 * FRAGMENT}
    return KeyForms(tuple(sorted(exact, key=lambda f: (-len(f), f))), tuple(anchors))
