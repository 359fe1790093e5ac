"""The lab plays the endpoints the probes use the way providers do: per scenario, for OpenAI and Azure paths."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from why403_kit import Lab, classify

from .conftest import CANARY

BEARER = {"Authorization": f"Bearer {CANARY}"}
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2NvZ25pdGl2ZXNlcnZpY2VzLmF6dXJlLmNvbSJ9.c2lnbmF0dXJl"  # shape only, not a token
VERSION = {"api-version": "2024-10-21"}


def _post(url: str, body: object, headers: dict[str, str] | None = None, params: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(url, json=body, headers=BEARER if headers is None else headers, params=params, timeout=5)


def test_healthy_refuses_invalid_bodies_before_inference_and_bills_only_valid_ones(lab: Lab) -> None:
    base, billed = lab.url("ok"), len(lab.billable)
    assert _post(f"{base}/moderations", {"model": "omni-moderation-latest", "input": "ping"}).status_code == 200
    empty = _post(f"{base}/chat/completions", {"model": "gpt-4o-mini", "messages": [], "max_completion_tokens": 0})
    assert empty.status_code == 400 and empty.json()["error"]["param"] == "messages"
    assert _post(f"{base}/chat/completions", {"messages": [{"role": "user", "content": "x"}]}).status_code == 400  # no model
    capped = _post(f"{base}/chat/completions", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 0})
    assert capped.status_code == 400 and capped.json()["error"]["code"] == "integer_below_min_value"
    assert _post(f"{base}/responses", {"model": "gpt-4o-mini", "input": [], "max_output_tokens": 0}).status_code == 400
    assert len(lab.billable) == billed
    ok = _post(f"{base}/chat/completions", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 1})
    assert ok.status_code == 200
    assert lab.billable[billed:] == [("POST", "/s/ok/v1/chat/completions")]
    assert _post(f"{base}/moderations", {"model": "omni-moderation-latest", "input": "ping"}, headers={}).status_code == 401


def test_restricted_key_lists_models_but_may_not_request_them(lab: Lab) -> None:
    base = lab.url("missing_scope")
    assert httpx.get(f"{base}/models", headers=BEARER, timeout=5).status_code == 200
    for path, body in (("moderations", {"input": "ping"}), ("chat/completions", {"messages": []}), ("responses", {"input": []})):
        r = _post(f"{base}/{path}", body)
        assert r.status_code == 401 and "Missing scopes: model.request" in r.text
        assert classify(r.status_code, dict(r.headers), r.text).cause == "missing_scope"


def test_org_verification_refuses_only_inference(lab: Lab) -> None:
    base = lab.url("org_verification_required")
    assert httpx.get(f"{base}/models/gpt-4o-mini", headers=BEARER, timeout=5).status_code == 200
    assert _post(f"{base}/moderations", {"input": "ping"}).status_code == 200
    r = _post(f"{base}/chat/completions", {"messages": []})
    assert r.status_code == 403 and classify(403, dict(r.headers), r.text).cause == "org_verification_required"


@pytest.mark.parametrize(("headers", "params", "status", "cause"), [
    ({}, VERSION, 401, "missing_api_key"),                                     # no credential at all
    (BEARER, VERSION, 401, "invalid_api_key"),                                 # an API key sent as Bearer: not an Entra token
    ({"api-key": CANARY}, None, 404, "wrong_endpoint"),                         # no api-version
    ({"api-key": CANARY}, {"api-version": "latest"}, 404, "wrong_endpoint"),   # not YYYY-MM-DD[-preview]
    ({"api-key": CANARY}, VERSION, 200, "ok"),
    ({"Authorization": f"Bearer {JWT}"}, {"api-version": "2025-04-01-preview"}, 200, "ok"),  # Entra token
])
def test_azure_deployment_checks_key_header_and_api_version(lab: Lab, headers: dict[str, str], params: dict[str, str] | None, status: int, cause: str) -> None:
    r = httpx.get(f"{lab.azure_url('ok')}/deployments/gpt4o", headers=headers, params=params, timeout=5)
    assert r.status_code == status, r.text
    assert classify(r.status_code, dict(r.headers), r.text).cause == cause
    assert CANARY not in r.text


def test_azure_deployment_inference_and_unknown_deployment(lab: Lab) -> None:
    base, key = lab.azure_url("ok"), {"api-key": CANARY}
    billed, schemes = len(lab.billable), len(lab.auth_schemes)
    assert _post(f"{base}/deployments/gpt4o/chat/completions", {"messages": []}, key, VERSION).status_code == 400
    assert len(lab.billable) == billed
    ok = _post(f"{base}/deployments/gpt4o/chat/completions", {"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 1}, key, VERSION)
    assert ok.status_code == 200 and lab.billable[billed:] == [("POST", "/s/ok/openai/deployments/gpt4o/chat/completions")]
    missing = _post(f"{base}/deployments/nope/chat/completions", {"messages": []}, key, VERSION)
    assert missing.status_code == 404 and json.loads(missing.text)["error"]["code"] == "DeploymentNotFound"
    assert lab.auth_schemes[schemes:] == ["api-key"] * 3


@pytest.mark.parametrize(("scenario", "status"), [("invalid_api_key", 401), ("ip_not_allowed", 403), ("rate_limited", 429), ("auth_method_disabled", 403)])
def test_azure_scenarios_answer_in_azure_shape(lab: Lab, scenario: str, status: int) -> None:
    r = _post(f"{lab.azure_url(scenario)}/deployments/gpt4o/chat/completions", {"messages": []}, {"api-key": CANARY}, VERSION)
    assert r.status_code == status
    assert "type" not in r.json()["error"]  # Azure errors carry a code and a message, no type
    assert classify(r.status_code, dict(r.headers), r.text).cause == scenario


def test_azure_restricted_identity_reads_but_may_not_infer(lab: Lab) -> None:
    base, key = lab.azure_url("missing_scope"), {"api-key": CANARY}
    assert httpx.get(f"{base}/deployments/gpt4o", headers=key, params=VERSION, timeout=5).status_code == 200
    r = _post(f"{base}/deployments/gpt4o/chat/completions", {"messages": []}, key, VERSION)
    assert r.status_code == 401 and r.json()["error"]["code"] == "PermissionDenied"


def test_scenario_ids_are_cause_ids_and_the_old_name_still_works(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    from why403_kit import knowledge
    from why403_kit.cli import main
    from why403_kit.errors import LabError
    from why403_kit.lab import SCENARIOS

    assert set(SCENARIOS) <= set(knowledge.load().causes)
    with Lab("healthy") as old:
        assert old.scenario == "ok" and old.url("healthy") == old.url("ok")
        assert httpx.get(f"{old.origin}/s/healthy/v1/models", headers=BEARER, timeout=5).status_code == 200
    with pytest.raises(LabError, match="unknown lab scenario 'no_such'"):
        lab.url("no_such")
    assert main(["lab", "--list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[2:]]  # under the header and its dashes
    assert listed == list(SCENARIOS) and "ok" in listed and "healthy" not in listed


def test_the_lab_sends_no_server_header_of_its_own(lab: Lab) -> None:
    """A trainee's evidence holds what a provider or a middlebox would send, never the lab's own Python server name;
    a scenario that plays a named server (Cloudflare, Squid) keeps its name, which the classifier reads."""
    from why403_kit.lab import SCENARIOS, TLS_SCENARIO

    def servers(r: httpx.Response) -> list[str]:
        return r.headers.get_list("server")

    for sid in SCENARIOS:
        if sid in (TLS_SCENARIO, "network_error"):  # the TLS listener passes a healthy API through; network_error answers nothing
            continue
        base = lab.url(sid)
        answers = [httpx.get(f"{base}/models", headers=BEARER, timeout=5), _post(f"{base}/chat/completions", {"messages": []}),
                   httpx.get(f"{lab.azure_url(sid)}/deployments/gpt4o", headers={"api-key": CANARY}, params=VERSION, timeout=5)]
        for r in answers:
            played = SCENARIOS[sid][1].get("server")
            assert servers(r) in ([], [played]), (sid, r.request.url, servers(r))
            assert not any(k.lower().startswith("x-") and "python" in v.lower() for k, v in r.headers.items())
    assert servers(httpx.get(f"{lab.url('edge_block')}/models", headers=BEARER, timeout=5)) == ["cloudflare"]
    assert servers(httpx.get(f"{lab.url('proxy_block')}/models", headers=BEARER, timeout=5)) == ["squid/5.2"]
    opaque = httpx.get(f"{lab.url('quota_exceeded', opaque=True)}/models", headers=BEARER, timeout=5, verify=ssl.create_default_context(cafile=lab.ca_bundle))
    assert opaque.status_code in (200, 429) and servers(opaque) == []
    with socket.create_connection(("127.0.0.1", int(lab.origin.rsplit(":", 1)[1])), timeout=10) as s:  # the lab's own 4xx/5xx page
        s.sendall(b"BREW /s/ok/v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        head = s.recv(65536).split(b"\r\n\r\n")[0].decode("latin-1")
    assert head.startswith("HTTP/1.1 501") and "server:" not in head.lower(), head


# ---- a lab that one client cannot stop, that stops when told, and that keeps stderr clean ------------------------------
LAB_TLS = Path(__file__).resolve().parent.parent / "why403_kit" / "lab" / "tls"


def _trusting() -> ssl.SSLContext:
    """A client whose trust store holds the interception gateway's root (as a laptop inside that company would)."""
    return ssl.create_default_context(cafile=str(LAB_TLS / "interceptor-ca.pem"))


# Words that would tell a trainee what a certificate is for, whatever cause it plays.
GIVEAWAYS = ("intercept", "inspect", "untrusted", "mitm", "middle", "proxy", "re-sign", "resign", "self-signed", "tls", "mystery", "scenario")


def _certificates(path: Path) -> list[bytes]:
    """Every certificate in a PEM file, as DER."""
    end = "-----END CERTIFICATE-----"
    return [ssl.PEM_cert_to_DER_cert(block.strip() + "\n" + end + "\n") for block in path.read_text().split(end) if block.strip()]


def test_the_lab_certificates_name_no_cause() -> None:
    from why403_kit import knowledge
    from why403_kit.probes.network import cert_issuer_subject

    from .test_classroom import named_causes

    kb = knowledge.load()
    pems = sorted(p for p in LAB_TLS.glob("*.pem") if not p.name.endswith("-key.pem"))
    assert [p.name for p in pems] == ["interceptor-ca.pem", "interceptor-cert.pem", "lab-ca.pem", "lab-cert.pem"]
    for path in pems:
        for der in _certificates(path):
            issuer, subject = cert_issuer_subject(der)
            text = " ".join(run.decode() for run in re.findall(rb"[ -~]{4,}", der))  # every readable string it carries
            for words in (issuer, subject, text):
                low = words.lower()
                assert named_causes(words) == set(), (path.name, words)
                for cause in kb.causes.values():
                    assert cause.title.lower() not in low and cause.id.replace("_", " ") not in low, (path.name, cause.id)
                assert not [w for w in GIVEAWAYS if w in low], (path.name, words)


def test_an_idle_client_on_the_tls_port_blocks_no_one() -> None:
    with Lab() as lab:
        port = int(lab.tls_origin.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5):  # connects and never says hello
            r = httpx.get(f"{lab.url('tls_interception')}/models", headers=BEARER, verify=_trusting(), timeout=5)
        assert r.status_code == 200 and r.json()["object"] == "list"


def test_stop_without_start_returns_at_once_and_twice_is_fine() -> None:
    lab = Lab()
    stopper = threading.Thread(target=lab.stop)
    stopper.start()
    stopper.join(5)
    assert not stopper.is_alive()
    lab.stop()
    with Lab() as started:
        started.stop()  # then __exit__ stops it again


def test_two_hundred_clients_at_once_are_all_answered() -> None:
    clients = 200
    barrier = threading.Barrier(clients)
    statuses: list[int] = []
    lock = threading.Lock()

    def client(origin: str) -> None:
        barrier.wait()
        try:  # connect must succeed at once (the listen backlog holds them all); the answer may take its turn
            status = httpx.get(f"{origin}/ip", timeout=httpx.Timeout(60, connect=0.9)).status_code
        except httpx.HTTPError:
            status = 0
        with lock:
            statuses.append(status)

    with Lab() as lab:
        threads = [threading.Thread(target=client, args=(lab.origin,)) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert statuses.count(200) == clients, f"{clients - statuses.count(200)} of {clients} clients got no answer"


def test_idle_connections_are_let_go_and_their_threads_end() -> None:
    before = threading.active_count()
    with Lab(idle_timeout=0.5) as lab:
        port = int(lab.origin.rsplit(":", 1)[1])
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(50)]
        try:
            for s in idle:
                assert s.recv(1) == b""  # the lab closed it (a timeout here raises: the lab would have kept it forever)
        finally:
            for s in idle:
                s.close()
        deadline = time.monotonic() + 10
        while threading.active_count() > before + 1 and time.monotonic() < deadline:  # + the lab's one accepting thread
            time.sleep(0.05)  # polls a condition (the handler threads ended), not a guess
        assert threading.active_count() <= before + 1


@pytest.mark.parametrize("kwargs", [{"port": -1}, {"port": 70000}, {"latency_ms": -5}, {"latency_ms": float("nan")}, {"latency_ms": float("inf")}])
def test_bad_lab_settings_are_refused(kwargs: dict[str, float]) -> None:
    from why403_kit.errors import LabError

    with pytest.raises(LabError):
        Lab(**kwargs)  # type: ignore[arg-type]


def _lab_process(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "why403_kit", "lab", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    return proc, first


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


def test_why403_lab_serves_the_tls_scenario_at_the_url_it_prints() -> None:
    proc, banner = _lab_process("--scenario", "tls_interception")
    try:
        url = banner.split(" at ", 1)[1].strip()
        assert url.startswith("https://127.0.0.1:")
        r = httpx.get(f"{url}/models", headers=BEARER, verify=_trusting(), timeout=10)
        assert r.status_code == 200 and r.json()["object"] == "list"
        with pytest.raises(httpx.ConnectError):  # and to anyone who does not trust that gateway, it is an intercepting proxy
            httpx.get(f"{url}/models", headers=BEARER, timeout=10)
    finally:
        code, _, err = _stop(proc)
    assert code == 0 and "Traceback" not in err


MALFORMED = [
    b"GET /s/ok/v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /s/ok/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"POST /s/ok/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
    b"POST /s/ok/v1/chat/completions HTTP/1.1\r\nContent-Length: 10\r\n\r\n\xff\xfe{not json",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS hello on the plain port
    b"GARBAGE\r\n\r\n",
    b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"X: " + b"y" * 70000 + b"\r\n\r\n",
    b"GET /s/ok/v1/models HTTP/1.1\r\nHost: x\r\n",  # then the client hangs up half way
    b"GET /s/\xff\xfe/v1/models HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://[::1/v1/models HTTP/1.1\r\nHost: x\r\n\r\n",
]


def test_malformed_requests_get_an_answer_or_a_closed_connection_and_no_traceback() -> None:
    proc, banner = _lab_process("--port", "0")
    try:
        origin = banner.split(" at ", 1)[1].strip().split("/s/")[0]
        port = int(origin.rsplit(":", 1)[1])
        for payload in MALFORMED:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s, contextlib.suppress(OSError):
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):
                    pass
        assert httpx.get(f"{origin}/s/ok/v1/models", headers=BEARER, timeout=10).status_code == 200  # and it still serves
    finally:
        code, _, err = _stop(proc)
    assert code == 0 and err.strip() == "", err[-2000:]
