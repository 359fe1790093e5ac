"""A fake provider behind ``httpx.MockTransport``, for fast unit tests of the probes and the runner.

It answers the endpoints the probes call the way the OpenAI API does (a healthy account by default, or one
refusal everywhere), records every request it was sent, and is reached through ``diagnose(..., transport=...)``:
the base URL's host does not exist, so a probe that bypassed the transport could not reach anything either.
The loopback lab (tests/conftest.py) stays the integration test; this is the seam.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

BASE_URL = "https://api.fake-provider.invalid/v1"
IP_ECHO_URL = "https://echo.fake-provider.invalid/ip"
EGRESS_IP = "203.0.113.7"
LIMITS = {"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "499", "x-ratelimit-reset-requests": "120ms",
          "x-ratelimit-limit-tokens": "30000", "x-ratelimit-remaining-tokens": "29000", "x-ratelimit-reset-tokens": "2s"}

Answer = tuple[int, Mapping[str, str], Any]  # status, headers, body (a dict is sent as JSON)


def error(message: str, code: str | None = None, type_: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


class FakeProvider:
    """Answers like a healthy OpenAI account unless ``refusal`` is given, which every API endpoint then answers."""

    def __init__(self, refusal: Answer | None = None, *, request_id: str = "req_fake0001") -> None:
        self.refusal = refusal
        self.request_id = request_id
        self.requests: list[httpx.Request] = []

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._answer)

    @property
    def seen(self) -> list[tuple[str, str]]:
        """(method, path) of every request, in the order they arrived."""
        return [(r.method, r.url.path) for r in self.requests]

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if str(request.url) == IP_ECHO_URL:
            return httpx.Response(200, json={"ip": EGRESS_IP})
        status, headers, body = self.refusal if self.refusal is not None else self._healthy(request)
        content = json.dumps(body).encode() if isinstance(body, (dict, list)) else str(body).encode()
        kind = "application/json" if isinstance(body, (dict, list)) else "text/html"
        return httpx.Response(status, headers={"content-type": kind, "x-request-id": self.request_id, **headers}, content=content)

    def _healthy(self, request: httpx.Request) -> Answer:
        path = request.url.path.removeprefix("/v1")
        if request.headers.get("authorization", "") == "":
            return 401, {}, error("You didn't provide an API key.")
        if request.method == "GET" and path == "/models":
            return 200, LIMITS, {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]}
        if request.method == "GET" and path.startswith("/models/"):
            return 200, {}, {"id": path.rsplit("/", 1)[1], "object": "model"}
        body = json.loads(request.content or b"{}")
        if path == "/moderations":
            return 200, LIMITS, {"id": "modr-fake", "results": [{"flagged": False}]}
        if path in ("/chat/completions", "/responses") and not (body.get("messages") or body.get("input")):
            return 400, {}, error("Invalid 'messages': empty array.", "empty_array")
        return 404, {}, error(f"Invalid URL ({request.method} {request.url.path})")
