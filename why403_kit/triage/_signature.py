"""Signatures: what is left of a refusal once the parts that change from call to call are masked.

A gateway log repeats a few refusals thousands of times, differing only by request ids, times, key hints and
numbers. Masking those leaves a signature; each distinct signature is classified once and its events are counted.
The masking must keep everything the classifier reads (codes, types, message words, titles, header names, the
3-digit status), so every event of a signature classifies like the signature's example: tests/test_triage_scale.py
checks that on a generated log against classifying every event.

The patterns below are written in the subset of regular expressions that Python's ``re``, DuckDB's RE2 and Java's
``java.util.regex`` (Spark) read alike, so the three engines mask the same way.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping

from ..model import REQUEST_ID_HEADERS

MASK = "#"

# Top-level JSON fields that identify one call (when, where, who, which id) and never decide a cause: dropped from a
# whole-line signature (the DuckDB and Spark engines sign whole JSON lines).
VOLATILE_FIELDS = (
    "ts", "timestamp", "time", "@timestamp", "datetime", "date", "asctime", "created_at", "created", "startedDateTime",
    "logged_at", "startTime", "endTime", "completionStartTime", "url", "request_url", "api_base", "base_url", "endpoint",
    "host", "model", "model_id", "model_group", "request_id", "requestId", "x-request-id", "call_id", "id", "trace_id",
    "span_id", "key", "api_key", "key_hint", "key_alias", "user", "user_id", "end_user", "requester_ip_address", "ip",
    "spend", "total_tokens", "prompt_tokens", "completion_tokens", "response_time", "duration", "duration_ms", "latency_ms",
)
KEY_PATTERN = r"\b(?:sk|gsk|rk|pk)[-_][A-Za-z0-9_*\-]{3,}"
_TOKENS = (
    KEY_PATTERN,  # key hints: sk-proj-****abcd, sk-abc...xyz
    r"\*{2,}[A-Za-z0-9]*",  # a masked key's visible tail
    r"[A-Za-z_\-]+[0-9][A-Za-z0-9_\-]*",  # words holding a digit: request ids, req_8f3k…, gpt-4o, AADSTS700016
    r"[0-9]+[A-Za-z_\-][A-Za-z0-9_\-]*",  # digits then letters: hex ids, cf-ray, uuids, 6m0s
    r"[0-9]{4,}",  # long numbers: epochs, counts, years
    r"\b[0-9]{1,2}\b",  # short numbers: minutes, seconds, versions (3-digit numbers stay: they are statuses)
    r"\b[a-fA-F]{8,}\b",  # hex without a digit
)
TEXT_PATTERN = "|".join(_TOKENS)
KEY_RE = re.compile(KEY_PATTERN)
_TEXT_RE = re.compile(TEXT_PATTERN)

# Header values that change on every call and that no rule reads: only their presence is kept.
VOLATILE_HEADERS = frozenset({
    *REQUEST_ID_HEADERS, "date", "expires", "last-modified", "etag", "age", "set-cookie", "content-length", "cf-ray", "traceparent",
    "tracestate", "x-amzn-requestid", "x-amz-cf-id", "x-amzn-trace-id", "openai-processing-ms", "x-envoy-upstream-service-time", "x-litellm-call-id",
    "x-litellm-response-cost", "x-litellm-model-id", "authorization", "api-key", "x-api-key", "cookie",
})


def mask_text(text: str) -> str:
    """``text`` with ids, key hints, numbers and hex masked."""
    return _TEXT_RE.sub(MASK, text)


def line_pattern(keep: Collection[str] = ()) -> str:
    """The signature of a whole JSON or log line, as the SQL engines (DuckDB, Spark) take it: the fields that identify one
    call (:data:`VOLATILE_FIELDS`, but those named in ``keep``) dropped, then what :func:`mask_text` masks."""
    names = "|".join(re.escape(f).replace("\\-", "-").replace("\\@", "@") for f in VOLATILE_FIELDS if f not in keep)
    return r'"(?:' + names + r')"\s*:\s*(?:"(?:[^"\\]|\\.)*"|[^,}\]]*)' + "|" + TEXT_PATTERN


def signature(status: int | None, headers: Mapping[str, str], body: str, exception: str) -> str:
    """The signature of one extracted event: status, header names (values masked; volatile ones by presence only),
    the masked body and the masked client error."""
    head = "\x1e".join(sorted(name if name in VOLATILE_HEADERS else f"{name}={mask_text(value)}" for name, value in headers.items()))
    return f"{status}\x1f{head}\x1f{mask_text(body)}\x1f{mask_text(exception)}"


def key_hash(value: str) -> str:
    """A stable short hash of a key or key hint: tells keys apart without showing any of them."""
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:12]


def find_key(*texts: str) -> str | None:
    """The hash of the first key or key hint found in ``texts``."""
    for text in texts:
        if text and (m := KEY_RE.search(text)):
            return key_hash(m.group(0))
    return None


def sig_id(sig: str) -> str:
    """A short id for a signature (per-event output, joins)."""
    return hashlib.blake2b(sig.encode("utf-8", "replace"), digest_size=8).hexdigest()
