"""The one HTTP helper (probes/_http.py): where requests go (proxies, NO_PROXY, the trust store), how long they may
take, how much of an answer is read and decoded, and what a 2xx must look like to count as the API's answer."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from why403_kit import Lab, Secret, Target, diagnose
from why403_kit.model import CA_BUNDLE_ENV, DEFAULT_TIMEOUT, RUN_DEADLINE_FACTOR, Exchange
from why403_kit.probes._http import MAX_BODY, _BoundedDecoder, _bypassed, exchange, make_client, route, shape_problem
from why403_kit.probes._step import Budget
from why403_kit.redact import MASK, redact

from ._hostile import INTERCEPTOR_CA, LAB_CA, HostileServer, RecordingProxy
from ._leaks import leaks
from .conftest import CANARY

ROOT = Path(__file__).resolve().parent.parent


# ---- routes ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("host", "port", "no_proxy", "bypassed"), [
    ("api.openai.com", 443, "", False),
    ("api.openai.com", 443, "*", True),
    ("api.openai.com", 443, "openai.com", True),             # a domain covers itself and its subdomains
    ("openai.com", 443, ".openai.com", False),               # a leading dot: subdomains only
    ("api.openai.com", 443, ".openai.com", True),
    ("api.openai.com", 443, "*.openai.com", True),
    ("notopenai.com", 443, "openai.com", False),             # a suffix is not a domain
    ("api.openai.com", 443, "api.openai.com:8443", False),   # another port
    ("api.openai.com", 443, "api.openai.com:443", True),
    ("10.1.2.3", 443, "10.0.0.0/8", True),                   # a network
    ("10.1.2.3", 443, "10.1.2.4, 192.168.0.0/16", False),
    ("::1", 443, "::1", True),
    ("127.0.0.1", 443, "localhost", False),                  # names are not resolved
])
def test_no_proxy_entries(host: str, port: int, no_proxy: str, bypassed: bool) -> None:
    assert bool(_bypassed(host, port, no_proxy)) is bypassed


def test_routes_follow_the_environment_but_never_for_plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("ALL_PROXY", "http://all.corp:3128")
    assert route("http://127.0.0.1:8000/v1").proxy == "" and route("http://api.example/v1").proxy == ""
    assert route("https://api.openai.com/v1").proxy == "http://all.corp:3128"  # ALL_PROXY when HTTPS_PROXY is unset
    monkeypatch.setenv("HTTPS_PROXY", "proxy.corp:8080")  # no scheme: http://, as httpx reads it
    assert route("https://api.openai.com/v1") == route("https://api.openai.com/v1/models")
    assert route("https://api.openai.com/v1").proxy == "http://proxy.corp:8080"
    monkeypatch.setenv("https_proxy", "http://lower.corp:1")  # the lower-case spelling wins, as in curl and urllib
    assert route("https://api.openai.com/v1").variable == "https_proxy"
    monkeypatch.setenv("NO_PROXY", "openai.com")
    assert route("https://api.openai.com/v1").proxy == "" and "NO_PROXY names openai.com" in route("https://api.openai.com/v1").reason


def test_a_proxy_password_is_masked_in_every_form_once_routed(monkeypatch: pytest.MonkeyPatch) -> None:
    password = "Pr0xy-Passw0rd-Route-7"
    monkeypatch.setenv("HTTPS_PROXY", f"http://corp:{password}@proxy.corp:3128")
    r = route("https://api.openai.com/v1")
    assert password not in r.shown and "corp" in r.shown
    basic = base64.b64encode(f"corp:{password}".encode()).decode()
    for text in (f"Proxy-Authorization: Basic {basic}", f"x-echo: {basic}", json.dumps({"seen": password}), f"pw={password!r}"):
        masked = redact(text)
        assert password not in masked and basic not in masked and MASK in masked, text


def test_https_goes_through_the_proxy_only_inside_a_tunnel_and_no_proxy_is_honoured(hostile: HostileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    target = Target(base_url=hostile.url("echo_ok", tls=True), api_key=Secret(CANARY), timeout=5, ca_bundle=str(LAB_CA))
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with RecordingProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        before = len(hostile.received)
        report = diagnose(target)
        assert any(r.credential == CANARY for r in hostile.received[before:])  # the key reached the origin ...
        assert proxy.connects >= 2 and proxy.forwards == 0 and all(t.startswith("CONNECT 127.0.0.1:") for t in proxy.targets)
        assert not leaks(proxy.seen)  # ... through tunnels the proxy could not read
        tcp = next(f for f in report.findings if f.check == "TCP connect")
        assert tcp.status == "pass" and "via proxy" in tcp.evidence
        assert any(f.check == "proxy environment" and "CONNECT tunnel" in f.evidence for f in report.findings)
    with RecordingProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        report = diagnose(target)
        assert proxy.seen == b"" and proxy.connects == 0  # straight to the origin, the TCP check included
        assert "via proxy" not in next(f for f in report.findings if f.check == "TCP connect").evidence


def test_the_tcp_check_of_a_plain_http_target_connects_directly(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    with RecordingProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("ALL_PROXY", proxy.url)
        report = diagnose(Target(base_url=lab.url("ok"), api_key=Secret(CANARY), timeout=5))
    assert proxy.seen == b"" and report.verdict.cause == "ok"
    tcp = next(f for f in report.findings if f.check == "TCP connect")
    assert tcp.status == "pass" and "via proxy" not in tcp.evidence
    assert "plain http is never sent through a proxy" in next(f for f in report.findings if f.check == "proxy environment").evidence


# ---- a CA bundle: the fix the kit recommends for tls_interception, checked by the kit -------------------------------------
def test_a_ca_bundle_makes_the_intercepting_proxy_trusted(lab: Lab) -> None:
    url = lab.url("tls_interception")
    before = lab.tls_request_count
    without = diagnose(Target(base_url=url, api_key=Secret(CANARY), timeout=5))
    assert without.verdict.cause == "tls_interception"
    assert lab.tls_request_count == before  # nothing was sent over a connection the client did not trust
    trusted = diagnose(Target(base_url=url, api_key=Secret(CANARY), timeout=5, ca_bundle=str(INTERCEPTOR_CA)))
    tls = next(f for f in trusted.findings if f.check == "TLS handshake")
    assert tls.status == "pass" and str(INTERCEPTOR_CA) in tls.evidence
    assert trusted.verdict.cause == "ok" and lab.tls_request_count > before


def test_the_ca_bundle_comes_from_the_flag_then_ssl_cert_file_then_requests_ca_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(LAB_CA.read_bytes())
    for name in CA_BUNDLE_ENV:
        monkeypatch.delenv(name, raising=False)
    assert Target.from_env().ca_bundle == ""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    assert Target.from_env().ca_bundle == str(other)
    monkeypatch.setenv("SSL_CERT_FILE", str(LAB_CA))
    assert Target.from_env().ca_bundle == str(LAB_CA)
    assert Target.from_env(ca_bundle=str(other)).ca_bundle == str(other)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(Exception, match="SSL_CERT_FILE"):
        Target.from_env()


def test_the_cli_takes_a_ca_bundle(lab: Lab) -> None:
    env = {k: v for k, v in os.environ.items() if k not in CA_BUNDLE_ENV} | {"OPENAI_API_KEY": CANARY}
    base = [sys.executable, "-m", "why403_kit", "diagnose", "--base-url", lab.url("tls_interception"), "--format", "json"]
    refused = subprocess.run(base, capture_output=True, text=True, timeout=120, env=env)
    assert refused.returncode == 1 and json.loads(refused.stdout)["verdict"]["cause"] == "tls_interception"
    trusted = subprocess.run([*base, "--ca-bundle", str(INTERCEPTOR_CA)], capture_output=True, text=True, timeout=120, env=env)
    assert trusted.returncode == 0 and json.loads(trusted.stdout)["verdict"]["cause"] == "ok", trusted.stderr[-1000:]


# ---- deadlines -------------------------------------------------------------------------------------------------------
def test_the_default_run_deadline_is_a_few_request_timeouts() -> None:
    t = Target(base_url="http://127.0.0.1:9/v1")
    assert t.timeout == DEFAULT_TIMEOUT and t.run_deadline == RUN_DEADLINE_FACTOR * DEFAULT_TIMEOUT
    assert Target(base_url="http://127.0.0.1:9/v1", timeout=2).run_deadline == RUN_DEADLINE_FACTOR * 2
    assert Target(base_url="http://127.0.0.1:9/v1", timeout=2, deadline=5).run_deadline == 5


@pytest.mark.parametrize("behaviour", ["drip_headers", "drip_body", "drip_chunks"])
def test_a_run_ends_within_its_deadline_whatever_the_server_does(behaviour: str) -> None:
    with HostileServer(drip_interval=0.3, drip_limit=120) as srv:
        started = time.monotonic()
        report = diagnose(Target(base_url=srv.url(behaviour), api_key=Secret(CANARY), timeout=5, deadline=1.5))
        took = time.monotonic() - started
    assert took < 1.5 + 1.0, took  # the deadline, and the time it takes to close what was open
    assert report.failed and any("too slow" in f.evidence for f in report.findings)


def test_a_drip_is_reported_with_what_arrived() -> None:
    with HostileServer(drip_interval=0.2, drip_limit=120) as srv:
        report = diagnose(Target(base_url=srv.url("drip_body"), api_key=Secret(CANARY), timeout=1), steps=["credentials"])
    live = next(f for f in report.findings if f.check == "live GET /models")
    ex = report.exchanges[0]
    assert ex.status == 401 and ex.cut == "slow" and ex.truncated  # the status and headers that arrived are kept
    assert live.http_status == 401 and "the answer was too slow (" in live.evidence and "bytes of body in" in live.evidence


def test_after_the_run_deadline_nothing_more_is_sent(lab: Lab) -> None:
    async def go() -> Exchange:
        budget = Budget(5, 0.0)
        from why403_kit.probes._step import StepContext

        target = Target(base_url=lab.url("ok"), api_key=Secret(CANARY), timeout=5)
        async with make_client(target) as client:
            ctx = StepContext(target, client, "credentials", (), {}, budget)
            return await ctx.send("GET", f"{target.base_url}/models", auth=True)

    count = lab.request_count
    ex = asyncio.run(go())
    assert ex.status is None and "deadline" in (ex.error or "") and lab.request_count == count


def test_the_cli_run_ends_within_deadline() -> None:
    with HostileServer(drip_interval=0.3, drip_limit=120) as srv:
        env = {**os.environ, "OPENAI_API_KEY": CANARY}
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "why403_kit", "diagnose", "--base-url", srv.url("drip_headers"), "--timeout", "5",
                               "--deadline", "1", "--format", "json"], capture_output=True, text=True, timeout=60, env=env)
        took = time.monotonic() - started
    assert proc.returncode == 1 and "too slow" in proc.stdout and "Traceback" not in proc.stderr
    assert took < 1 + 6  # the deadline, plus starting Python and importing the kit


# ---- reading and decoding, bounded -------------------------------------------------------------------------------------
def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


PACK = {"gzip": lambda d: gzip.compress(d, 9), "deflate": lambda d: zlib.compress(d, 9), "raw-deflate": _raw_deflate}


@pytest.mark.parametrize("encoding", list(PACK))
def test_the_decoder_never_gives_more_than_its_limit(encoding: str) -> None:
    name = "deflate" if encoding == "raw-deflate" else encoding
    packed = PACK[encoding](b"\0" * (64 << 20))
    decoder = _BoundedDecoder(name, MAX_BODY)
    out = b""
    for i in range(0, len(packed), 64 << 10):
        out += decoder.feed(packed[i : i + (64 << 10)], len(out))
        assert len(out) <= MAX_BODY + 1
        if decoder.over:
            break
    assert decoder.over and len(out) == MAX_BODY + 1
    small = _BoundedDecoder(name, MAX_BODY)
    assert small.feed(PACK[encoding](b'{"data":[]}'), 0) == b'{"data":[]}' and not small.over


@pytest.mark.parametrize("behaviour", ["gzip_bomb", "deflate_bomb"])
def test_a_compression_bomb_costs_no_more_memory_than_the_limit(hostile: HostileServer, behaviour: str) -> None:
    target = Target(base_url=hostile.url(behaviour), api_key=Secret(CANARY), timeout=10)

    async def go() -> Exchange:
        async with make_client(target) as client:
            return await exchange(client, "GET", f"{target.base_url}/models", target, auth=True, timeout=10)

    hostile.bomb(behaviour.split("_")[0])  # the server (in this process) makes its bomb once, before memory is measured
    tracemalloc.start()
    try:
        ex = asyncio.run(go())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ex.status == 200 and ex.cut == "inflated" and "inflates past" in ex.cut_detail
    assert peak < 12 * MAX_BODY, f"{peak >> 20} MiB at peak for a {MAX_BODY >> 20} MiB limit"  # the bomb is 32 MiB inflated


def test_an_encoding_the_kit_does_not_decode_is_never_ok() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, headers={"content-encoding": "br"}, stream=httpx.ByteStream(b"\x8b\x00")))
    report = diagnose(Target(base_url="https://api.example.invalid/v1", api_key=Secret(CANARY)), transport=transport, steps=["credentials"])
    live = next(f for f in report.findings if f.check == "live GET /models")
    assert live.cause == "proxy_block" and "br-encoded" in live.evidence


# ---- what a 2xx must hold ------------------------------------------------------------------------------------------------
def _ok(body: str, **kw: Any) -> Exchange:
    return Exchange("GET", "https://api.example/v1/models", 200, {"content-type": "application/json"}, body, **kw)


@pytest.mark.parametrize(("expect", "body", "problem"), [
    ("models", '{"object":"list","data":[]}', ""),
    ("models", '{"data":[{"id":"m"}]}', ""),
    ("models", '{"object":"list","data":{}}', "another shape"),
    ("models", '{"object":"list","data":[{"id":"gpt-4o-mini","object":"mod', "does not parse"),
    ("models", "<html><head><title>Sign in | Corp SSO</title></head></html>", "Sign in | Corp SSO"),
    ("models", "", "an empty body"),
    ("models", "OK", "not JSON"),
    ("models", "[1, 2]", "a JSON list"),
    ("models", "[" * 5000 + "]" * 5000, "JSON"),
    ("model", '{"id":"gpt-4o-mini","object":"model"}', ""),
    ("model", '{"object":"list","data":[]}', "an 'id'"),
    ("moderation", '{"id":"modr-1","results":[{"flagged":false}]}', ""),
    ("chat", '{"id":"c","choices":[{"index":0}]}', ""),
    ("chat", '{"status":"ok"}', "'choices'"),
    ("responses", '{"id":"r","object":"response","output":[]}', ""),
])
def test_a_2xx_counts_only_with_the_shape_of_the_apis_answer(expect: str, body: str, problem: str) -> None:
    found = shape_problem(expect, _ok(body))
    assert (found == "") is (problem == "") and problem in found


def test_a_2xx_read_in_part_never_counts() -> None:
    assert "inflates" in shape_problem("models", _ok('{"data":[]}', cut="inflated", cut_detail="the body inflates past 1 MiB", truncated=True))


# ---- who answered ---------------------------------------------------------------------------------------------------------
def _one_exchange(status: int, body: str, url: str = "https://api.example.invalid/v1/chat/completions", **headers: str) -> Exchange:
    target = Target(base_url="https://api.example.invalid/v1", api_key=Secret(CANARY))
    transport = httpx.MockTransport(lambda r: httpx.Response(status, headers={"content-type": "application/json", **headers},
                                                             content=body.encode()))

    async def go() -> Exchange:
        async with make_client(target, transport) as client:
            return await exchange(client, "POST", url, target, auth=True, timeout=5, json_body={"messages": []})
    return asyncio.run(go())


VALIDATION_400 = json.dumps({"error": {"message": "[] is too short - 'messages'", "type": "invalid_request_error", "param": "messages",
                                       "code": None}})


@pytest.mark.parametrize(("status", "body", "url", "headers", "responder"), [
    (400, VALIDATION_400, "", {}, "provider"),  # the API's own validation error: the provider answered
    (422, json.dumps({"error": {"code": "BadRequest", "message": "Invalid value for 'messages'"}}), "", {}, "provider"),  # Azure's shape
    (400, json.dumps({"type": "error", "error": {"type": "invalid_request_error", "message": "messages: at least one"}}), "", {}, "provider"),
    (400, "Bad Request", "", {}, "unknown"),  # plain text: nothing says who
    (400, json.dumps({"detail": "bad"}), "", {}, "unknown"),  # a web framework's own shape, not an API's
    (400, "<html><body>Bad Request</body></html>", "", {}, "unknown"),
    (400, VALIDATION_400, "https://elsewhere.example.invalid/v1/chat/completions", {}, "unknown"),  # not the target's origin
    (400, VALIDATION_400, "", {"x-squid-error": "ERR_INVALID_REQ 0"}, "proxy"),  # a hop's own mark still names the hop
])
def test_an_answer_in_the_apis_own_json_from_the_targets_origin_names_the_provider(status: int, body: str, url: str,
                                                                                     headers: dict[str, str], responder: str) -> None:
    ex = _one_exchange(status, body, url or "https://api.example.invalid/v1/chat/completions", **headers)
    assert ex.status == status and ex.responder == responder, (ex.responder, body)


def test_the_passing_scope_checks_say_the_provider_answered(lab: Lab) -> None:
    """The token-free scope probes pass on the API's expected 400: the panel's table said 'answered by: not recognised'."""
    from why403_kit.render import findings_html

    report = diagnose(lab.target("ok"), steps=["permissions"])
    scopes = [f for f in report.findings if f.check.endswith(" scope")]
    assert scopes and all(f.status == "pass" and f.http_status == 400 and f.responder == "provider" for f in scopes), scopes
    page = findings_html(report)
    assert "not recognised" not in page and "the provider&#x27;s API" in page
