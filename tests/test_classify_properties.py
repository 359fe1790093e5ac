"""Property-based fuzzing of the classifier: whatever it is fed, it answers with a known cause and no form of a live key.

Fixed seed (the ``why403`` hypothesis profile in conftest.py derandomizes), a few hundred examples per property.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
from hypothesis import example, given, settings
from hypothesis import strategies as st

from why403_kit import Secret, classify
from why403_kit.knowledge import load

from ._leaks import assert_no_leak, canary_forms
from .conftest import CANARY

_HELD = Secret(CANARY)
_URL_KEY = "".join(f"%{b:02X}" for b in CANARY.encode())
_B64_USER_KEY = base64.b64encode(f"svc-user:{CANARY}".encode()).decode()
CAUSES = set(load().causes)
FORMS = sorted(canary_forms().values())
# words the rules and the evidence extraction key on, so the fuzzer reaches past the fallbacks
_WORDS = ["error", "code", "type", "message", "invalid_api_key", "insufficient_quota", "rate_limit_exceeded", "<title>", "</title>", "<html>",
          "Attention Required", "cloudflare", "Bearer ", "Authorization: ", "api-key: ", "{", "}", "[", "]", '"', "'", ":", ",", "\\", "\n", " ",
          "raw", "provider returned error", "Error code: 401 - ", "x-ratelimit-limit-requests", "retry-after", "server", "squid"]
_planted = st.builds(lambda pre, form, post: pre + form + post, st.text(max_size=10), st.sampled_from(FORMS), st.text(max_size=10))
_texty = st.lists(st.sampled_from(_WORDS) | st.text(max_size=6) | _planted, max_size=14).map("".join)
_json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | _texty,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["error", "code", "type", "message", "detail", "raw"]) | _texty,
                                                                inner, max_size=3),
    max_leaves=10,
)
_status = st.none() | st.integers(-5, 1000) | st.sampled_from([200, 401, 403, 404, 407, 429, 500, 502, 529]) | st.text(max_size=4) | st.booleans() \
    | st.floats()
_headers = st.none() | st.dictionaries(st.sampled_from(["server", "content-type", "retry-after", "x-echo", "cf-ray"]) | _texty, _texty, max_size=5) \
    | st.integers() | st.lists(st.tuples(_texty, _texty), max_size=3)
_body = _texty | _json_like.map(json.dumps) | _json_like | st.binary(max_size=64) | st.builds(lambda t, b: f"<html><head><title>{t}</title></head>"
                                                                                             f"<body>{b}</body></html>", _texty, _texty)
_exception = st.none() | _texty | st.builds(ValueError, _texty) | st.builds(httpx.LocalProtocolError, _texty)


@settings(max_examples=500)
@given(_status, _headers, _body, _exception)
@example(401, {"x-echo": CANARY}, {"error": {"message": f"Incorrect API key provided: {CANARY}"}}, None)
@example(None, None, None, f"LocalProtocolError: Illegal header value b'Bearer {CANARY}\\r'")
@example(None, None, f"<html><head><title>errorerrorerror{_URL_KEY}'{CANARY}'{_B64_USER_KEY}</title></head></html>", None)  # a title cut, then masked
def test_classify_never_raises_and_never_returns_the_key(status: Any, headers: Any, body: Any, exception: Any) -> None:
    d = classify(status, headers, body, exception)
    assert d.cause in CAUSES and d.fix
    assert_no_leak(json.dumps(d.to_dict()))
