"""The one redaction function every outgoing text passes through."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ._secret import live_values

MASK = "[REDACTED]"

# A header value that is only a placeholder for the key ("Bearer $OPENAI_API_KEY", "<key>", "${AZURE_OPENAI_API_KEY}")
# is left alone, so advice and reproduction commands stay readable; anything more than the placeholder is masked.
_PLACEHOLDER = re.compile(r"(?i)^(?:bearer\s+)?(?:(?:<|&lt;)[\w .-]{1,40}(?:>|&gt;)|\$\{?[A-Z_][A-Z0-9_]*\}?|\[REDACTED\])"
                          r"(?:\s*$|(?=&(?:#x27|#39|quot);))")  # the value ends there, or an HTML-escaped quote closes it

# Key shapes of OpenAI and look-alike providers (prefix kept so a reader knows which kind it was).
_KEY_PATTERNS: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (re.compile(r"\b(sk-(?:proj|svcacct|admin|None|service|or-v1|ant-api\d\d)-)[A-Za-z0-9_\-]{8,}"), r"\1" + MASK),
    (re.compile(r"\b(sk-)[A-Za-z0-9_\-]{16,}"), r"\1" + MASK),
    (re.compile(r"\b(gsk_)[A-Za-z0-9]{16,}"), r"\1" + MASK),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=\-]{8,}"), r"\1" + MASK),
    (re.compile(r"(?im)\b((?:api-key|x-api-key|authorization|cookie|set-cookie|proxy-authorization)\s*[:=]\s*[\"']?)([^\r\n\"']+)"),
     lambda m: m.group(0) if _PLACEHOLDER.match(m.group(2)) else m.group(1) + MASK),
    (re.compile(r"(?i)([?&](?:api[-_]?key|key|token|access_token)=)[^&\s\"']+"), r"\1" + MASK),
]

SENSITIVE_HEADERS = frozenset(
    {"authorization", "api-key", "x-api-key", "cookie", "set-cookie", "proxy-authorization", "ocp-apim-subscription-key"}
)

KNOWN_PREFIXES = ("sk-proj-", "sk-svcacct-", "sk-admin-", "sk-None-", "sk-or-v1-", "sk-ant-", "gsk_", "sk-")


def key_prefix(value: str) -> str:
    """The known prefix of a key, or '' when it has none (safe to show)."""
    for prefix in KNOWN_PREFIXES:
        if value.startswith(prefix):
            return prefix
    return ""


def redact(text: Any) -> str:
    """Return ``text`` as a string with every key, token and credential header masked."""
    out = text if isinstance(text, str) else str(text)
    for value in live_values():
        if value in out:
            out = out.replace(value, MASK)
    for pattern, repl in _KEY_PATTERNS:
        out = pattern.sub(repl, out)
    return out


def redact_headers(headers: dict[str, str] | None) -> dict[str, str]:
    """A copy of ``headers`` with credential headers masked and every value passed through :func:`redact`."""
    result: dict[str, str] = {}
    for name, value in (headers or {}).items():
        result[str(name)] = MASK if str(name).lower() in SENSITIVE_HEADERS else redact(value)
    return result


def redact_obj(obj: Any) -> Any:
    """Redact every string inside a JSON-like structure."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: (MASK if str(k).lower() in SENSITIVE_HEADERS else redact_obj(v)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v) for v in obj]
    return obj
