"""Every lab scenario diagnosed to its cause over loopback, through the library and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess
import sys
from importlib.resources import files

import pytest

from why403_kit import Exchange, Finding, Hooks, InputError, Lab, Report, Secret, Target, adiagnose, diagnose
from why403_kit.lab import SCENARIOS
from why403_kit.model import SCHEMA_VERSION
from why403_kit.probes.network import cert_issuer_subject, issuer_finding
from why403_kit.probes.permissions import scope_finding
from why403_kit.probes.ratelimits import backoff_plan, parse_duration

from ._proxy import connect_proxy
from .conftest import CANARY

# Who issued the lab's certificates: neutral names (nothing in them says what a mystery plays). The interception one is an
# invented company's gateway; "Corporate" is a word inspection CAs carry (responders.toml), so the kit says so.
GATEWAY_ISSUER = "O=Fabrikam Inc, CN=Fabrikam Corporate Web Gateway CA"
LAB_ISSUER = "O=why403 training lab, CN=why403 training lab CA"
LEAF_SUBJECT = "CN=127.0.0.1"

FINDING_FIELDS = {"step", "check", "status", "cause", "evidence", "fix", "request_id", "elapsed_ms", "http_status", "responder", "cf_ray",
                  "observed", "confidence"}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_library_diagnoses_each_scenario(lab: Lab, scenario: str) -> None:
    report = diagnose(Target(base_url=lab.url(scenario), api_key=Secret(CANARY), ip_echo_url=lab.ip_echo_url, timeout=5))
    assert report.verdict.cause == scenario  # scenario ids are cause ids
    assert {f.step for f in report.findings} == {"credentials", "network", "permissions", "headers", "ratelimits", "support"}
    assert set(report.to_frame().columns) == FINDING_FIELDS
    assert CANARY not in json.dumps(report.to_dict()) and CANARY not in repr(report)


@pytest.mark.parametrize("scenario", ["ok", "edge_block", "quota_exceeded", "rate_limited", "network_error"])
def test_cli_json(lab: Lab, scenario: str) -> None:
    env = {**os.environ, "MY_KEY": CANARY}
    env.pop("OPENAI_API_KEY", None)
    proc = subprocess.run(
        [sys.executable, "-m", "why403_kit", "diagnose", "--base-url", lab.url(scenario), "--api-key-env", "MY_KEY",
         "--ip-echo-url", lab.ip_echo_url, "--allowlist", "127.0.0.0/8", "--format", "json", "--timeout", "5"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert CANARY not in proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["verdict"]["cause"] == scenario
    assert all(set(f) == FINDING_FIELDS for f in data["findings"])
    assert proc.returncode == (0 if scenario == "ok" else 1)


def test_allowlist_outside_fails(lab: Lab) -> None:
    report = diagnose(Target(base_url=lab.url("ok"), api_key=Secret(CANARY), ip_echo_url=lab.ip_echo_url, allowlist=["203.0.113.0/24"]))
    assert report.verdict.cause == "ip_not_allowed"


def test_no_token_spent_without_opt_in(lab: Lab) -> None:
    before, billed = len(lab.requests), len(lab.billable)
    diagnose(Target(base_url=lab.url("ok"), api_key=Secret(CANARY), ip_echo_url=lab.ip_echo_url))
    made = lab.requests[before:]
    assert {p.rsplit("/v1/", 1)[-1] for m, p in made if m == "POST"} == {"moderations", "chat/completions", "responses"}
    assert lab.billable[billed:] == []  # the POSTs were the free moderation call and bodies refused before inference
    diagnose(Target(base_url=lab.url("ok"), api_key=Secret(CANARY), allow_paid_probe=True))
    assert lab.billable[billed:] == [("POST", "/s/ok/v1/chat/completions")]


def test_rate_limit_math() -> None:
    assert parse_duration("6m0s") == 360 and parse_duration("20ms") == pytest.approx(0.02) and parse_duration("1.5s") == 1.5
    assert parse_duration("soon") is None
    plan = backoff_plan(7.0)
    assert plan[0] >= 7.0 and all(d <= 30 for d in plan[1:])


# ---- step 2: TCP, TLS and the certificate issuer --------------------------------------------------
def _by_check(report: Report, check: str) -> Finding:
    return next(f for f in report.findings if f.check == check)


def test_tcp_connect_is_timed_and_plain_http_skips_tls(lab: Lab) -> None:
    report = diagnose(Target(base_url=lab.url("ok"), api_key=Secret(CANARY), timeout=5), steps=["network"])
    tcp, tls = _by_check(report, "TCP connect"), _by_check(report, "TLS handshake")
    assert tcp.status == "pass" and tcp.elapsed_ms > 0 and f":{lab.origin.rsplit(':', 1)[1]}" in tcp.evidence
    assert tls.status == "skip"
    assert {f.step for f in report.findings} == {"network"}


def test_tls_interception_names_the_issuer_of_the_gateway_certificate(lab: Lab) -> None:
    reached = lab.tls_request_count
    report = diagnose(Target(base_url=lab.url("tls_interception"), api_key=Secret(CANARY), timeout=5))
    assert report.verdict.cause == "tls_interception"
    tcp, tls, issuer = (_by_check(report, c) for c in ("TCP connect", "TLS handshake", "certificate issuer"))
    assert tcp.status == "pass" and tcp.elapsed_ms > 0
    assert tls.status == "fail" and tls.cause == "tls_interception" and tls.elapsed_ms > 0 and "self-signed" in tls.evidence
    assert issuer.status == "fail" and issuer.cause == "tls_interception" and issuer.responder == "proxy"
    assert GATEWAY_ISSUER in issuer.evidence and "not a public CA" in issuer.evidence
    assert "looks like a TLS-inspection CA ('Corporate' in its name)" in issuer.evidence
    assert lab.tls_request_count == reached  # the unverified handshake that read the issuer carried no request, so no key


def test_trusted_inspection_root_verifies_but_is_still_flagged(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    # As on a laptop whose trust store holds the corporate root: the handshake verifies, the issuer still gives it away.
    monkeypatch.setenv("SSL_CERT_FILE", str(files("why403_kit.lab").joinpath("tls/interceptor-ca.pem")))
    report = diagnose(Target(base_url=lab.url("tls_interception"), api_key=Secret(CANARY), timeout=5))
    tls, issuer = _by_check(report, "TLS handshake"), _by_check(report, "certificate issuer")
    assert tls.status == "pass" and "certificate verified" in tls.evidence and tls.elapsed_ms > 0
    assert (issuer.status, issuer.cause) == ("warn", "tls_interception") and GATEWAY_ISSUER in issuer.evidence
    assert report.verdict.cause == "ok"  # the API itself answered through the verified tunnel
    assert lab.tls_request_count > 0


def test_cert_parser_reads_the_lab_certificates() -> None:
    tls = files("why403_kit.lab").joinpath("tls")
    for name, issuer in (("lab", LAB_ISSUER), ("interceptor", GATEWAY_ISSUER)):
        chain = tls.joinpath(f"{name}-cert.pem").read_text()  # what a listener presents: its leaf, then the CA
        leaf, ca_copy = (block + "-----END CERTIFICATE-----\n" for block in chain.split("-----END CERTIFICATE-----")[:2])
        assert cert_issuer_subject(ssl.PEM_cert_to_DER_cert(leaf)) == (issuer, LEAF_SUBJECT)
        ca = tls.joinpath(f"{name}-ca.pem").read_text()
        assert ca_copy.strip() == ca.strip()
        assert cert_issuer_subject(ssl.PEM_cert_to_DER_cert(ca)) == (issuer, issuer)  # a root: it signed itself
    for junk in (b"", b"\x30", b"\x30\x82\xff\xff", b"\x30\x03\x02\x01\x01", os.urandom(64)):
        with pytest.raises(ValueError):
            cert_issuer_subject(junk)


@pytest.mark.parametrize(("issuer", "verified", "provider", "status", "cause"), [
    ("CN=Zscaler Intermediate Root CA (zscaler.net), O=Zscaler Inc.", True, "openai", "warn", "tls_interception"),
    ("CN=FortiGate CA, O=Fortinet", False, "openai", "fail", "tls_interception"),
    ("CN=ACME Corp Issuing CA 2, O=ACME", False, "compatible", "fail", "tls_interception"),
    ("CN=WE1, O=Google Trust Services", True, "openai", "pass", ""),
    ("CN=Microsoft Azure RSA TLS Issuing CA 03, O=Microsoft Corporation", True, "azure", "pass", ""),
    ("CN=ACME Corp Issuing CA 2, O=ACME", True, "openai", "warn", ""),
    ("CN=ACME Corp Issuing CA 2, O=ACME", True, "compatible", "pass", ""),
])
def test_issuer_judgement(issuer: str, verified: bool, provider: str, status: str, cause: str) -> None:
    f = issuer_finding(issuer, "CN=api.openai.com", verified, provider, "unable to get local issuer certificate")
    assert (f.status, f.cause) == (status, cause)
    assert issuer in f.evidence
    if cause:  # the fix names the CA to trust and where each runtime takes it
        assert issuer in f.fix and all(w in f.fix for w in ("SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "--ca-bundle"))


def test_a_self_signed_interceptor_is_itself_the_certificate_to_trust() -> None:
    f = issuer_finding("CN=mitmproxy, O=mitmproxy", "CN=mitmproxy, O=mitmproxy", False, "openai", "self-signed certificate")
    assert f.cause == "tls_interception" and "'CN=mitmproxy, O=mitmproxy' itself" in f.fix


def test_tls_checks_go_through_an_https_proxy_tunnel(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with connect_proxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
        report = diagnose(Target(base_url=lab.url("tls_interception"), api_key=Secret(CANARY), timeout=5), steps=["network"])
    assert _by_check(report, "proxy tunnel").status == "pass"
    assert f"via proxy 127.0.0.1:{proxy.server_address[1]}" in _by_check(report, "TCP connect").evidence
    assert GATEWAY_ISSUER in _by_check(report, "certificate issuer").evidence
    assert proxy.connects == 2  # the verified handshake, then the unverified one that read the issuer
    assert CANARY.encode() not in proxy.seen


def test_proxy_refusing_the_tunnel_is_proxy_block(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with connect_proxy(deny=True) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
        report = diagnose(Target(base_url=lab.url("tls_interception"), api_key=Secret(CANARY), timeout=5), steps=["network"])
    tunnel = _by_check(report, "proxy tunnel")
    assert (tunnel.status, tunnel.cause) == ("fail", "proxy_block") and "407" in tunnel.evidence
    assert report.verdict.cause == "proxy_block"


def test_dead_port_fails_tcp_connect_in_bounded_time() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    report = diagnose(Target(base_url=f"http://127.0.0.1:{port}/v1", api_key=Secret(CANARY), timeout=2), steps=["network"])
    tcp = _by_check(report, "TCP connect")
    assert (tcp.status, tcp.cause) == ("fail", "network_error") and "refused" in tcp.evidence.lower()
    assert report.elapsed_ms < 5000


def test_tls_handshake_with_a_silent_server_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as srv:  # accepts TCP (backlog) but never speaks TLS
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        report = diagnose(Target(base_url=f"https://127.0.0.1:{srv.getsockname()[1]}/v1", api_key=Secret(CANARY), timeout=1), steps=["network"])
    tls = _by_check(report, "TLS handshake")
    assert (tls.status, tls.cause) == ("fail", "network_error") and "Timeout" in tls.evidence
    assert 900 <= tls.elapsed_ms < 3000


# ---- step 3: token-free scope probes ---------------------------------------------------------------
def test_healthy_key_may_call_each_probed_endpoint(lab: Lab) -> None:
    report = diagnose(Target(base_url=lab.url("ok"), api_key=Secret(CANARY), timeout=5), steps=["permissions", "ratelimits"])
    for check in ("moderations (free)", "chat/completions scope", "responses scope"):
        assert _by_check(report, check).status == "pass", _by_check(report, check)
    assert "refused as invalid before any inference" in _by_check(report, "chat/completions scope").evidence
    posted = sorted(e.url.rsplit("/v1/", 1)[1] for e in report.exchanges if e.method == "POST")
    assert posted == ["chat/completions", "moderations", "responses"]  # recorded for the rate-limit step
    assert _by_check(report, "requests headroom").status == "pass"


def test_restricted_key_is_missing_scope_although_models_list(lab: Lab) -> None:
    report = diagnose(Target(base_url=lab.url("missing_scope"), api_key=Secret(CANARY), timeout=5))
    assert report.verdict.cause == "missing_scope"
    assert _by_check(report, "live GET /models").status == "pass" and _by_check(report, "model gpt-4o-mini").status == "pass"
    assert all(_by_check(report, c).cause == "missing_scope" for c in ("moderations (free)", "chat/completions scope", "responses scope"))


def test_org_verification_surfaces_through_the_free_probes(lab: Lab) -> None:
    report = diagnose(Target(base_url=lab.url("org_verification_required"), api_key=Secret(CANARY), timeout=5))
    assert report.verdict.cause == "org_verification_required"
    assert _by_check(report, "moderations (free)").status == "pass"
    assert _by_check(report, "chat/completions scope").cause == "org_verification_required"


def _rec(status: int | None, body: str = "", path: str = "/v1/chat/completions") -> Exchange:
    return Exchange("POST", f"https://gw.example{path}", status, {}, body, elapsed_ms=1.0)


@pytest.mark.parametrize(("rec", "kind", "azure", "status", "cause"), [
    (_rec(400, '{"error":{"message":"[] is too short - \'messages\'","type":"invalid_request_error"}}'), "invalid", False, "pass", ""),
    (_rec(404, '{"error":{"message":"Invalid URL (POST /v1/responses)"}}', "/v1/responses"), "invalid", False, "warn", ""),
    (_rec(404, "", "/openai/deployments/x/chat/completions"), "invalid", True, "fail", "wrong_endpoint"),
    (_rec(200, '{"id":"chatcmpl-1","choices":[]}'), "invalid", False, "warn", ""),  # a lenient gateway ran it: its answer has the API's shape
    (_rec(200, "{}"), "invalid", False, "fail", "proxy_block"),  # a 200 without it is something else answering
    (_rec(400, '{"error":{"message":"Your organization must be verified to use the model `o3`."}}'), "invalid", False, "fail", "org_verification_required"),
    (_rec(403, '{"error":{"code":"unsupported_country_region_territory","message":"Country, region, or territory not supported"}}'),
     "invalid", False, "fail", "unsupported_region"),
    (_rec(401, '{"error":{"message":"Missing scopes: api.responses.write"}}', "/v1/responses"), "invalid", False, "fail", "missing_scope"),
    (_rec(200, '{"results":[]}', "/v1/moderations"), "free", False, "pass", "ok"),
])
def test_scope_probe_reading(rec: Exchange, kind: str, azure: bool, status: str, cause: str) -> None:
    f = scope_finding("probe", rec, kind, azure)
    assert (f.status, f.cause) == (status, cause), f.evidence


# ---- Azure against the lab -------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", ["ok", "invalid_api_key", "missing_scope", "ip_not_allowed", "rate_limited", "wrong_endpoint",
                                      "auth_method_disabled", "quota_exceeded", "edge_block"])
def test_azure_target_against_the_lab(lab: Lab, scenario: str) -> None:
    schemes = len(lab.auth_schemes)
    report = diagnose(Target(base_url=lab.azure_url(scenario), api_key=Secret(CANARY), provider="azure", deployment="gpt4o",
                             api_version="2024-10-21", timeout=5))
    assert report.verdict.cause == scenario, [f for f in report.findings if f.status == "fail"]
    assert set(lab.auth_schemes[schemes:]) == {"api-key"}  # the key goes in Azure's header, never as Bearer
    urls = {e.url.split("/openai/", 1)[1] for e in report.exchanges}
    assert urls == {"models", "deployments/gpt4o", "deployments/gpt4o/chat/completions"}
    assert CANARY not in json.dumps(report.to_dict())


def test_azure_without_api_version_is_wrong_endpoint_with_the_labs_answer(lab: Lab) -> None:
    report = diagnose(Target(base_url=lab.azure_url("ok"), api_key=Secret(CANARY), provider="azure", deployment="gpt4o", timeout=5))
    assert report.verdict.cause == "wrong_endpoint"
    assert "Resource not found" in _by_check(report, "live GET /models").evidence


def test_azure_entra_token_goes_as_bearer_and_base_may_name_the_deployment(lab: Lab) -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJjb2duaXRpdmVzZXJ2aWNlcyJ9.c2ln"  # JWT shape, not a real token
    schemes = len(lab.auth_schemes)
    report = diagnose(Target(base_url=lab.azure_url("ok") + "/deployments/gpt4o", api_key=Secret(token), provider="azure",
                             api_version="2024-10-21", timeout=5), steps=["permissions"])
    assert report.verdict.cause == "ok", report.findings
    assert set(lab.auth_schemes[schemes:]) == {"bearer"}
    assert {e.url.split("/openai/", 1)[1] for e in report.exchanges} == {"deployments/gpt4o", "deployments/gpt4o/chat/completions"}


def test_azure_unknown_deployment(lab: Lab) -> None:
    report = diagnose(Target(base_url=lab.azure_url("ok"), api_key=Secret(CANARY), provider="azure", deployment="nope",
                             api_version="2024-10-21", timeout=5))
    assert report.verdict.cause == "wrong_endpoint"
    assert "DeploymentNotFound" in _by_check(report, "deployment nope").evidence


# ---- runner options the widget panel relies on -----------------------------------------------------
def test_steps_subset_and_hooks(lab: Lab) -> None:
    events: list[tuple[str, str]] = []
    delivered: dict[str, list[Finding]] = {}
    hooks = Hooks(on_step_start=lambda step, needed_by: events.append((step, "start")), on_findings=delivered.__setitem__,
                  on_step_end=lambda step: events.append((step, "end")))
    report = asyncio.run(adiagnose(Target(base_url=lab.url("ok"), api_key=Secret(CANARY), timeout=5), steps=["network", "headers"],
                                   hooks=hooks))
    assert {f.step for f in report.findings} == {"network", "headers"} == set(delivered)
    assert sorted(events) == sorted([(s, e) for s in ("network", "headers") for e in ("start", "end")])
    assert all(events.index((s, "start")) < events.index((s, "end")) for s in ("network", "headers"))
    assert not report.exchanges  # neither step sends the key
    with pytest.raises(InputError):
        diagnose(Target(base_url=lab.url("ok")), steps=["nope"])
