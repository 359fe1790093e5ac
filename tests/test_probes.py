"""The probes against a fake provider behind httpx.MockTransport: fast, no socket, and proof the transport seam holds."""

from __future__ import annotations

import json

import pytest

from why403_kit import Secret, Target, classify, diagnose
from why403_kit.model import Finding, Report

from .conftest import CANARY
from .fake_provider import BASE_URL, EGRESS_IP, IP_ECHO_URL, FakeProvider, error


def _target(**overrides: object) -> Target:
    values: dict[str, object] = {"base_url": BASE_URL, "api_key": Secret(CANARY), "ip_echo_url": IP_ECHO_URL, "timeout": 5}
    values.update(overrides)
    return Target(**values)  # type: ignore[arg-type]


def _check(report: Report, check: str) -> Finding:
    return next(f for f in report.findings if f.check == check)


def test_every_http_probe_goes_through_the_injected_transport() -> None:
    fake = FakeProvider()
    report = diagnose(_target(), transport=fake.transport)  # the host does not exist: only the transport can answer
    assert sorted(fake.seen) == sorted([
        ("GET", "/v1/models"), ("GET", "/v1/models/gpt-4o-mini"), ("POST", "/v1/moderations"),
        ("POST", "/v1/chat/completions"), ("POST", "/v1/responses"), ("GET", "/ip"),
    ])
    assert report.verdict.cause == "ok", [f for f in report.findings if f.status == "fail"]
    assert _check(report, "egress IP").evidence.endswith(EGRESS_IP)
    # the echo never gets the key; every API request does, in the Bearer header
    for request in fake.requests:
        sent = request.headers.get("authorization", "")
        assert sent == ("" if request.url.host.startswith("echo.") else f"Bearer {CANARY}")


def test_raw_socket_checks_are_skipped_with_the_reason_when_a_transport_is_injected() -> None:
    report = diagnose(_target(), transport=FakeProvider().transport, steps=["network"])
    for check in ("DNS", "TCP connect", "TLS handshake"):
        f = _check(report, check)
        assert f.status == "skip" and "transport was injected" in f.evidence, f
    assert _check(report, "egress IP").status == "pass"  # the echo itself went through the transport


def test_a_refusal_travels_as_fields_not_inside_the_sentence() -> None:
    body = error("Country, region, or territory not supported", "unsupported_country_region_territory", "request_forbidden")
    fake = FakeProvider((403, {"cf-ray": "8f00fake-AMS"}, body), request_id="req_fake_region")
    expected = classify(403, {"cf-ray": "8f00fake-AMS", "content-type": "application/json"}, json.dumps(body)).confidence
    assert 0.5 < expected < 1
    report = diagnose(_target(), transport=fake.transport)
    live = _check(report, "live GET /models")
    assert (live.status, live.cause, live.http_status, live.responder) == ("fail", "unsupported_region", 403, "provider")
    assert (live.request_id, live.cf_ray, live.observed) == ("req_fake_region", "8f00fake-AMS", True)
    assert live.confidence == expected  # the classifier's, not a constant
    assert "responder" not in live.evidence
    v = report.verdict
    assert (v.cause, v.step, v.check, v.http_status, v.responder, v.confidence) == (
        "unsupported_region", "credentials", "live GET /models", 403, "provider", expected)
    assert all(not f.observed for f in report.findings if f.step == "headers")  # lints of the input


def test_a_gateway_in_front_is_named_as_the_responder() -> None:
    body = {"error": {"message": "litellm.AuthenticationError: Invalid proxy server token passed", "type": "auth_error", "code": "401"}}
    report = diagnose(_target(), transport=FakeProvider((401, {}, body)).transport, steps=["credentials"])
    assert report.verdict.cause == "invalid_api_key" and report.verdict.responder == "gateway"


def test_rate_limit_headers_from_the_recorded_answers() -> None:
    report = diagnose(_target(), transport=FakeProvider().transport, steps=["credentials", "ratelimits"])
    tokens = _check(report, "tokens headroom")
    assert tokens.status == "pass" and "29000 of 30000 left" in tokens.evidence and "resets in 2.0 s" in tokens.evidence
    assert tokens.observed and tokens.http_status == 200 and tokens.request_id == "req_fake0001"


@pytest.mark.parametrize(("answer", "cause", "plan"), [
    ((429, {"retry-after": "3"}, error("Rate limit reached for gpt-4o-mini", "rate_limit_exceeded", "tokens")), "rate_limited", True),
    ((429, {}, error("You exceeded your current quota", "insufficient_quota", "insufficient_quota")), "quota_exceeded", False),
])
def test_a_429_says_whether_to_wait_or_stop(answer: tuple[int, dict[str, str], object], cause: str, plan: bool) -> None:
    report = diagnose(_target(), transport=FakeProvider(answer).transport, steps=["credentials", "ratelimits"])
    kind = _check(report, "429 kind")
    assert kind.cause == cause and kind.http_status == 429
    assert ("backoff plan" in kind.evidence) is plan and ("do not retry" in kind.evidence) is not plan


def test_a_transport_failure_is_a_finding_not_an_exception() -> None:
    def broken(request: object) -> object:
        raise ConnectionResetError("connection reset by peer")

    import httpx

    report = diagnose(_target(ip_echo_url=""), transport=httpx.MockTransport(broken), steps=["credentials"])  # type: ignore[arg-type]
    live = _check(report, "live GET /models")
    assert (live.status, live.cause, live.http_status, live.observed) == ("fail", "network_error", None, True)
    assert report.exchanges[0].error and report.exchanges[0].status is None


def test_each_exchange_is_classified_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # The HTTP helper classifies an answer to name who answered; the finding about it, and the rate-limit step reading it
    # later, reuse that diagnosis instead of reading the same answer again.
    import why403_kit.probes._http as http

    calls: list[int | None] = []

    def counted(status: int | None = None, *args: object, **kwargs: object) -> object:
        calls.append(status)
        return classify(status, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(http, "classify", counted)
    limited = (429, {"retry-after": "3"}, error("Rate limit reached for gpt-4o-mini", "rate_limit_exceeded", "tokens"))
    report = diagnose(_target(), transport=FakeProvider(limited).transport, steps=["credentials", "permissions", "ratelimits"])
    assert _check(report, "429 kind").cause == "rate_limited"
    assert len(calls) == len(report.exchanges) == 5


@pytest.mark.parametrize(("status", "says"), [(401, "no recognisable error code, so the credential itself was refused"),
                                              (502, "the status alone: the answer names no code, message or page")])
def test_a_finding_says_the_status_once(status: int, says: str) -> None:
    # The finding's sentence starts with the request and its status; the classifier's evidence adds what else it saw.
    report = diagnose(_target(), transport=FakeProvider((status, {}, "")).transport, steps=["credentials"])
    live = _check(report, "live GET /models")
    assert live.evidence == f"GET {BASE_URL}/models -> {status}; {says}"
