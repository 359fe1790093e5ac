"""The hostile servers do what they say, and against them the kit leaks no form of the key into anything it makes.

The last section holds the cases part 2 of the hardening closed outside the masking modules: proxies, user info in the
base URL, keys with control characters, 200s that are not the API, resets mid-body and deadlines.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from why403_kit import InputError, Report, Secret, Target, classify, diagnose, render, support_bundle, triage, write_bundle
from why403_kit.probes._http import MAX_BODY
from why403_kit.redact import redact
from why403_kit.render import findings_html, verdict_html
from why403_kit.render.triage import triage_json, triage_markdown, triage_text

from ._hostile import BEHAVIOURS, LAB_CA, HostileServer, RecordingProxy, echo_forms
from ._leaks import assert_no_leak, leaks
from .conftest import CANARY

ROOT = Path(__file__).resolve().parent.parent
AUTH = {"Authorization": f"Bearer {CANARY}"}


def _trusting_lab_cert() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(LAB_CA))


# ---- the kit itself ----------------------------------------------------------------------------------------------
def test_echo_gives_the_key_back_in_every_form(hostile: HostileServer) -> None:
    resp = httpx.get(hostile.url("echo") + "/models", headers=AUTH)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_api_key"
    assert hostile.received[-1].credential == CANARY
    for name, form in echo_forms(CANARY).items():
        assert resp.headers[f"x-echo-{name}"] == form, name
        assert leaks(form), f"{name}: the detector must see this form"
    assert CANARY.lower() in resp.headers  # as a header name
    assert "\\u0073\\u006b\\u002d" in resp.text  # \u escapes in the JSON text itself
    assert resp.json()["echo"]["json-u"] == CANARY  # ... which JSON decodes back to the key
    azure = httpx.get(hostile.url("echo_html"), headers={"api-key": CANARY})
    assert azure.status_code == 403 and f"<title>Access denied for {CANARY}</title>" in azure.text


def test_drips_send_one_byte_at_a_time(hostile: HostileServer) -> None:
    for behaviour in ("drip_body", "drip_chunks"):
        with httpx.stream("GET", hostile.url(behaviour), timeout=5) as resp:
            assert resp.status_code == 401
            sizes = []
            for chunk in resp.iter_raw():
                sizes.append(len(chunk))
                if len(sizes) == 3:
                    break
        assert sizes == [1, 1, 1], behaviour
    with socket.create_connection(("127.0.0.1", _port(hostile.url("echo"))), timeout=5) as raw:
        raw.sendall(b"GET /b/drip_headers/v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        first = raw.recv(4096)
        assert first == b"HTTP/1.1 401 Unauthorized\r\n" and len(raw.recv(4096)) == 1  # then the header block, byte by byte


def test_stopping_the_server_ends_a_drip_in_progress() -> None:
    srv = HostileServer(drip_interval=0.2).start()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            httpx.get(srv.url("drip_body"), timeout=30)
        except httpx.HTTPError as err:
            errors.append(err)

    t = threading.Thread(target=read)
    t.start()
    while not srv.received:
        time.sleep(0.01)  # polls a condition (the request arrived), not a guess at how long it takes
    srv.stop()
    t.join(10)
    assert not t.is_alive() and errors  # the client saw the connection end instead of waiting out the drip


def test_reset_mid_body_sends_status_and_headers_then_a_reset(hostile: HostileServer) -> None:
    port = _port(hostile.url("echo"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"GET /b/reset_mid_body/v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        with pytest.raises(ConnectionResetError):
            while chunk := raw.recv(65536):
                data += chunk
    assert data.startswith(b"HTTP/1.1 401") and b"x-request-id: req_hostile_reset" in data and b"Incorrect API key" in data
    length = int(data.split(b"content-length: ")[1].split(b"\r\n")[0])
    assert len(data.split(b"\r\n\r\n", 1)[1]) < length


def _decoded_bytes(url: str, enough: int) -> tuple[httpx.Headers, int]:
    """Headers, and how many decoded body bytes arrived before ``enough`` was passed (or the body ended)."""
    got = 0
    with httpx.stream("GET", url) as resp:
        for chunk in resp.iter_bytes():
            got += len(chunk)
            if got > enough:
                break
    return resp.headers, got


def _port(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


def test_bombs_inflate_far_past_what_the_kit_reads(hostile: HostileServer) -> None:
    for encoding in ("gzip", "deflate"):
        headers, inflated = _decoded_bytes(hostile.url(f"{encoding}_bomb"), 8 * MAX_BODY)
        assert headers["content-encoding"] == encoding and int(headers["content-length"]) * 100 < hostile.bomb_size
        assert inflated > 8 * MAX_BODY


def test_portal_truncated_huge_and_redirect_answer_as_named(hostile: HostileServer) -> None:
    portal = httpx.get(hostile.url("captive_portal") + "/models")
    assert portal.status_code == 200 and "<title>Hotel Wi-Fi - Sign in</title>" in portal.text
    truncated = httpx.get(hostile.url("truncated_json") + "/models")
    assert truncated.status_code == 200
    with pytest.raises(ValueError):
        truncated.json()
    assert _decoded_bytes(hostile.url("huge_body"), 4 * MAX_BODY)[1] > 4 * MAX_BODY
    redirect = httpx.get(hostile.url("redirect"))
    assert redirect.status_code == 307 and redirect.headers["location"]
    assert httpx.get(hostile.url("echo").replace("/b/echo", "/b/nothing")).status_code == 404
    with pytest.raises(ValueError):
        hostile.url("nothing")


def test_tls_listener_serves_every_behaviour_and_an_idle_client_blocks_no_one(hostile: HostileServer) -> None:
    port = _port(hostile.url("echo", tls=True))
    with socket.create_connection(("127.0.0.1", port), timeout=5):  # connects, never says hello
        resp = httpx.get(hostile.url("echo_ok", tls=True) + "/models", headers=AUTH, verify=_trusting_lab_cert(), timeout=5)
    assert resp.status_code == 200 and resp.json()["data"][0]["owned_by"] == CANARY
    assert sorted(BEHAVIOURS) == sorted(["echo", "echo_ok", "echo_html", "drip_headers", "drip_body", "drip_chunks", "reset_mid_body",
                                         "gzip_bomb", "deflate_bomb", "captive_portal", "truncated_json", "huge_body", "redirect"])


def test_recording_proxy_forwards_plain_http_tunnels_https_and_records_all(hostile: HostileServer) -> None:
    with RecordingProxy() as proxy:
        with httpx.Client(proxy=proxy.url) as client:
            assert client.get(hostile.url("echo") + "/models", headers=AUTH).status_code == 401
        assert proxy.forwards == 1 and CANARY.encode() in proxy.seen  # a plain-http request shows the proxy everything
        with httpx.Client(proxy=proxy.url, verify=_trusting_lab_cert()) as client:
            assert client.get(hostile.url("echo", tls=True) + "/models", headers=AUTH).status_code == 401
        assert proxy.connects == 1 and proxy.targets[-1].startswith("CONNECT 127.0.0.1:")
        tunnelled = proxy.seen.split(b"CONNECT ", 1)[1]
        assert CANARY.encode() not in tunnelled and len(tunnelled) > 200  # the tunnel's bytes are recorded, encrypted
    with RecordingProxy(deny=True) as denying, httpx.Client(proxy=denying.url) as client:
        assert client.get(hostile.url("echo")).status_code == 407
    with RecordingProxy() as proxy, httpx.Client(proxy=proxy.url) as client:
        assert client.get("http://192.0.2.1/v1/models").status_code == 407  # never forwards off loopback


# ---- the kit against them: no form of the key anywhere --------------------------------------------------------
def _artefacts(report: Report, out: Path) -> dict[str, str]:
    files = write_bundle(report, out)
    texts = {
        "report.to_dict()": json.dumps(report.to_dict()), "repr(report)": repr(report),
        **{f"render {fmt}": render(report, fmt) for fmt in ("table", "json", "markdown")},
        "findings_html()": findings_html(report), "verdict_html()": verdict_html(report.verdict),
        "support_bundle()": json.dumps(support_bundle(report)), "repr(exchanges)": repr(report.exchanges), "repr(target)": repr(report.target),
        "str(findings)": str([f.to_dict() for f in report.findings]),
    }
    return texts | {f.name: f.read_text() for f in files}


@pytest.mark.parametrize("provider", ["openai", "azure"])
@pytest.mark.parametrize("behaviour", ["echo", "echo_ok", "echo_html"])
def test_an_echoing_server_gets_no_form_of_the_key_into_any_artefact(hostile: HostileServer, behaviour: str, provider: str, tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    azure: dict[str, Any] = {"provider": "azure", "deployment": "gpt4o", "api_version": "2024-10-21"} if provider == "azure" else {}
    before = len(hostile.received)
    report = diagnose(Target(base_url=hostile.url(behaviour), api_key=Secret(CANARY), timeout=5, **azure))
    assert any(r.credential == CANARY for r in hostile.received[before:])  # it got the key, and echoed it back
    artefacts = _artefacts(report, tmp_path)
    json.loads(artefacts["report.json"])
    json.loads(artefacts["support-bundle.json"])
    for name, text in artefacts.items():
        assert not leaks(text), f"{name}: {leaks(text)[:2]}"
    assert "receive_response_headers" in caplog.text  # the raw headers were logged at DEBUG: and masked
    assert_no_leak(caplog.text, *capsys.readouterr())


@pytest.mark.parametrize("fmt", ["json", "markdown", "table"])
def test_the_cli_against_an_echoing_server_prints_and_writes_no_form_of_the_key(hostile: HostileServer, fmt: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()} | {"OPENAI_API_KEY": CANARY}
    proc = subprocess.run([sys.executable, "-m", "why403_kit", "diagnose", "--base-url", hostile.url("echo"), "--format", fmt, "--timeout", "5",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT, check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]
    if fmt == "json":
        assert json.loads(proc.stdout)["verdict"]["cause"] == "invalid_api_key"
    assert_no_leak(proc.stdout, proc.stderr, *((tmp_path / "out" / name).read_text() for name in os.listdir(tmp_path / "out")))


@pytest.mark.parametrize(("key", "provider"), [(CANARY, "openai"), ("9f3c1e7a5b2d4c6e8f0a1b3c5d7e9f21", "azure")])
def test_a_key_with_a_trailing_cr_leaves_no_trace(hostile: HostileServer, tmp_path: Path, key: str, provider: str) -> None:
    # A Windows .env. The kit refuses to send it; the HTTP library, asked directly, refuses the header and quotes the key,
    # escaped, in its error message. An Azure key (32 hex digits) has no shape a pattern knows: only the live registry,
    # escaped forms included, can mask that message.
    azure: dict[str, Any] = {"deployment": "gpt4o", "api_version": "2024-10-21"} if provider == "azure" else {}
    before = len(hostile.received)
    report = diagnose(Target(base_url=hostile.url("echo"), api_key=Secret(key + "\r"), provider=provider, timeout=5, **azure))
    assert not any(r.credential for r in hostile.received[before:])
    assert any(f.cause == "malformed_auth_header" and "CR" in f.evidence and "Windows" in f.evidence for f in report.findings)
    with pytest.raises(httpx.LocalProtocolError) as err:
        httpx.get(hostile.url("echo") + "/models", headers={"api-key": key + "\r"}, timeout=5)
    assert leaks(str(err.value), key)  # the library's message holds the key ...
    texts = _artefacts(report, tmp_path) | {"the library's error, masked": redact(str(err.value))}
    for name, text in texts.items():
        assert not leaks(text, key), name  # ... and nothing the kit makes does


def test_the_key_never_follows_a_redirect(hostile: HostileServer) -> None:
    with HostileServer() as elsewhere:
        srv = HostileServer(redirect_to=elsewhere.url("echo") + "/models").start()
        try:
            report = diagnose(Target(base_url=srv.url("redirect"), api_key=Secret(CANARY), timeout=5))
        finally:
            srv.stop()
        assert elsewhere.received == []
    assert report.verdict.cause == "wrong_endpoint"


def test_a_password_in_the_base_url_is_never_printed(lab: Any, tmp_path: Path) -> None:
    base = lab.url("healthy").replace("http://", "http://svc:Hunter2Passw0rd@")
    report = diagnose(Target(base_url=base, api_key=Secret(CANARY), timeout=5))
    for name, text in _artefacts(report, tmp_path).items():
        assert "Hunter2Passw0rd" not in text, name


def test_a_proxy_password_is_never_printed(hostile: HostileServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with RecordingProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url.replace("http://", "http://corp:Pr0xyPassw0rd@"))
        report = diagnose(Target(base_url=hostile.url("echo"), api_key=Secret(CANARY), timeout=5))
    assert any("HTTPS_PROXY=" in f.evidence for f in report.findings)
    for name, text in _artefacts(report, tmp_path).items():
        assert "Pr0xyPassw0rd" not in text, name


# ---- routing, input and hostile answers (part 2) -------------------------------------------------------------------
@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY"])
def test_a_plain_http_target_is_never_reached_through_a_proxy(hostile: HostileServer, monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with RecordingProxy() as proxy:
        monkeypatch.setenv(variable, proxy.url)
        diagnose(Target(base_url=hostile.url("echo"), api_key=Secret(CANARY), timeout=5))
    assert not leaks(proxy.seen) and proxy.forwards == 0


def test_user_info_in_the_base_url_is_refused_or_stripped(hostile: HostileServer) -> None:
    base = hostile.url("echo").replace("http://", "http://svc:Hunter2Passw0rd@")
    try:
        target = Target(base_url=base, api_key=Secret(CANARY), timeout=5)
    except InputError as err:
        assert "Hunter2Passw0rd" not in str(err)
        return
    before = len(hostile.received)
    report = diagnose(target)
    assert all(r.header("authorization") == f"Bearer {CANARY}" for r in hostile.received[before:])
    assert any("user info" in f.evidence.lower() for f in report.findings)


def test_reprs_hold_no_url_password(lab: Any) -> None:
    target = Target(base_url=lab.url("healthy").replace("http://", "http://svc:Hunter2Passw0rd@"), api_key=Secret(CANARY), timeout=5)
    assert "Hunter2Passw0rd" not in repr(target)


def test_a_key_with_control_characters_is_never_sent(hostile: HostileServer) -> None:
    key = CANARY[:20] + "\t" + CANARY[20:]  # h11 lets a TAB inside a header value through
    before = len(hostile.received)
    report = diagnose(Target(base_url=hostile.url("echo"), api_key=Secret(key), timeout=5))
    assert not any(r.credential for r in hostile.received[before:])
    assert any(f.cause == "malformed_auth_header" and "TAB" in f.evidence for f in report.findings)


_CUT_BODY = json.dumps({"error": {"message": f"key {CANARY}{' ' * 26}Incorrect API key provided", "code": None}})


def test_classify_quotes_no_cut_piece_of_the_key() -> None:
    # the key ends 26 characters before the matched phrase: a snippet cut 40 characters before it, then masked, kept 14
    assert_no_leak(json.dumps(classify(401, {}, _CUT_BODY).to_dict()))


def test_triage_examples_hold_no_cut_piece_of_the_key() -> None:
    line = f"2024-05-01T10:00:00Z ERROR status=401 Authorization: Bearer {CANARY}{' ' * 26} Incorrect API key provided"
    report = triage([line])
    assert report.refusals == 1
    assert_no_leak(json.dumps(report.to_dict()), triage_markdown(report), triage_text(report), triage_json(report))


@pytest.mark.parametrize("behaviour", ["captive_portal", "truncated_json", "gzip_bomb", "deflate_bomb", "huge_body"])
def test_a_200_that_is_not_the_api_is_never_ok(hostile: HostileServer, behaviour: str) -> None:
    report = diagnose(Target(base_url=hostile.url(behaviour), api_key=Secret(CANARY), timeout=5))
    assert report.verdict.cause != "ok" and report.failed
    if behaviour == "captive_portal":
        assert report.verdict.cause == "proxy_block"


def test_a_reset_mid_body_keeps_the_401_that_arrived(hostile: HostileServer) -> None:
    report = diagnose(Target(base_url=hostile.url("reset_mid_body"), api_key=Secret(CANARY), timeout=5))
    assert report.verdict.cause == "invalid_api_key"
    assert any(e.status == 401 and e.headers.get("x-request-id") == "req_hostile_reset" for e in report.exchanges)


def test_a_dripping_server_cannot_hold_the_run() -> None:
    results: dict[str, Report] = {}
    with HostileServer(drip_interval=0.5, drip_limit=120) as srv:
        threads = {b: threading.Thread(target=lambda b=b: results.__setitem__(b, diagnose(Target(base_url=srv.url(b), api_key=Secret(CANARY), timeout=2))),
                                       daemon=True) for b in ("drip_headers", "drip_body", "drip_chunks")}
        for t in threads.values():
            t.start()
        deadline = time.monotonic() + 20
        for t in threads.values():
            t.join(max(0.0, deadline - time.monotonic()))
        finished = sorted(results)
    for t in threads.values():
        t.join(30)  # the server has stopped: the runs end now, whatever the outcome
    assert finished == ["drip_body", "drip_chunks", "drip_headers"]
    for report in results.values():
        assert any("slow" in f.evidence.lower() or "deadline" in f.evidence.lower() for f in report.findings)
