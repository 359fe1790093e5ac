"""The canary key's forms, and a leak detector written apart from the kit's masking (it shares no code with it).

:func:`canary_forms` lists the shapes a server or a library can give a key back in; tests plant them.
:func:`leaks` looks at a text (or bytes) the way an attacker would: raw, lower-cased, URL-decoded,
HTML-unescaped, backslash-unescaped once and twice, with whitespace and escaped line breaks removed, and with
every base64 or hex run decoded at every alignment; it reports any 12 characters in a row of the key's secret
part (the part after ``sk-proj-``) found in any of those views.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import html
import json
import re
import warnings
from urllib.parse import quote, quote_plus, unquote

from .conftest import CANARY

PREFIX = "sk-proj-"
WINDOW = 12  # a run of this many characters of the secret part is a leak


def _u_escape(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in text)


def _b64(data: str, urlsafe: bool = False, pad: bool = True) -> str:
    out = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data.encode()).decode()
    return out if pad else out.rstrip("=")


def canary_forms(key: str = CANARY) -> dict[str, str]:
    """name -> the key in that form, as a hostile server or a logging library could write it."""
    body = key[len(PREFIX):] if key.startswith(PREFIX) else key
    forms = {
        "raw": key,
        "lower-case (a header name)": key.lower(),
        "upper-case": key.upper(),
        "without prefix": body,
        "bearer": f"Bearer {key}",
        "url-encoded (every character)": "".join(f"%{b:02X}" for b in key.encode()),
        "url-encoded (quote_plus)": quote_plus(f"Bearer {key}"),
        "json \\u-escaped": _u_escape(key),
        "json \\u-escaped, dashes only": key.replace("-", "\\u002d"),
        "json \\u-escaped twice": _u_escape(key).replace("\\", "\\\\"),
        "repr of bytes with CR": repr((key + "\r").encode()),
        "repr of str with TAB inside": repr(key[:20] + "\t" + key[20:]),
        "split by escaped CRLF": key[:25] + "\\r\\n" + key[25:],
        "split by escaped LF inside JSON": json.dumps(key[:30] + "\n" + key[30:])[1:-1],
        "hex": key.encode().hex(),
        "quoted in JSON text": json.dumps({"authorization": f"Bearer {key}"}),
    }
    for name, plain in (("key", key), ("Bearer key", f"Bearer {key}"), (":key (basic, blank user)", f":{key}"),
                        ("user:key (basic)", f"svc-user:{key}"), ("without prefix", body), ("json doc", json.dumps({"k": key}))):
        for urlsafe in (False, True):
            for pad in (True, False):
                forms[f"base64{'url' if urlsafe else ''}{'' if pad else ' unpadded'} of {name}"] = _b64(plain, urlsafe, pad)
    for offset in (1, 2):  # the key at the other two byte alignments inside longer encoded data
        forms[f"base64 of the key at byte offset {offset}"] = _b64("x" * offset + key + "y")
    forms["base64 with json-escaped slashes"] = _b64(f"Bearer {key}").replace("/", "\\/").replace("+", "\\u002B")
    forms["url-encoded base64 (basic)"] = quote("Basic " + _b64(f":{key}"), safe="")
    return forms


def _windows(key: str) -> set[str]:
    body = (key[len(PREFIX):] if key.startswith(PREFIX) else key).lower()
    return {body[i : i + WINDOW] for i in range(len(body) - WINDOW + 1)}


def _unescape(text: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return codecs.decode(text.replace("\\/", "/").encode("latin-1", "backslashreplace"), "unicode_escape")
        except (UnicodeDecodeError, ValueError):
            return text


def _views(text: str) -> list[tuple[str, str]]:
    views = [("raw", text), ("url-decoded", unquote(unquote(text))), ("html-unescaped", html.unescape(text))]
    once = _unescape(text)
    views += [("unescaped", once), ("unescaped twice", _unescape(once)), ("url-decoded, unescaped", _unescape(unquote(text)))]
    views += [(f"{name}, whitespace removed", re.sub(r"\\[rnt]|\s", "", v)) for name, v in list(views)]
    return views


def _decoded_runs(text: str) -> list[str]:
    out = []
    for m in re.finditer(r"[A-Za-z0-9+/_\-]{16,}={0,2}", text):
        run = m.group().replace("-", "+").replace("_", "/")
        for offset in range(4):
            chunk = run[offset:]
            chunk = chunk[: len(chunk) // 4 * 4]
            with contextlib.suppress(binascii.Error, ValueError):
                out.append(base64.b64decode(chunk).decode("latin-1"))
    for m in re.finditer(r"[0-9a-fA-F]{24,}", text):
        for offset in range(2):
            chunk = m.group()[offset:]
            out.append(bytes.fromhex(chunk[: len(chunk) // 2 * 2]).decode("latin-1"))
    return out


def leaks(data: str | bytes, key: str = CANARY) -> list[str]:
    """Where the key (12+ characters of its secret part, in any view) shows in ``data``; empty when it does not."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    windows = _windows(key)
    found = []
    for name, view in _views(text):
        for candidate_name, candidate in [(name, view)] + [(f"{name}, base64/hex-decoded", d) for d in _decoded_runs(view)]:
            low = candidate.lower()
            hit = next((w for w in windows if w in low), None)
            if hit is not None:
                found.append(f"{candidate_name}: …{hit}…")
                break
    return found


def assert_no_leak(*items: str | bytes, key: str = CANARY) -> None:
    for item in items:
        found = leaks(item, key)
        assert not found, f"the key leaked ({'; '.join(found[:3])}) in: {str(item)[:300]!r}"
