"""A canary key passed through every entry point appears nowhere and is sent only to the target."""

from __future__ import annotations

import json
import logging
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from why403_kit import Lab, Secret, Target, classify, diagnose, redact, support_bundle, write_bundle

from ._proxy import connect_proxy
from .conftest import CANARY


def test_secret_never_shows_itself() -> None:
    s = Secret(CANARY)
    for text in (repr(s), str(s), f"{s}", f"{s!r}", "%s" % s, s.hint):  # noqa: UP031 -- %-formatting is one of the paths under test
        assert CANARY not in text
    with pytest.raises(TypeError):
        pickle.dumps(s)
    assert s.reveal() == CANARY


def test_redact_shapes() -> None:
    for text in (f"Authorization: Bearer {CANARY}", "api-key: 0123456789abcdef0123456789abcdef", "sk-or-v1-" + "a" * 40,
                 "gsk_" + "b" * 40, "Cookie: __cf_bm=secretcookie", "https://x/?api_key=abcdef123"):
        out = redact(text)
        assert "[REDACTED]" in out and ("a" * 40) not in out and ("b" * 40) not in out and "secretcookie" not in out


def test_placeholders_stay_readable_but_anything_more_is_masked() -> None:
    # Advice and reproduction commands name where the key goes; they hold no secret and must stay usable.
    for text in ('curl -H "Authorization: Bearer $OPENAI_API_KEY" https://api.openai.com/v1/models',
                 "send exactly 'Authorization: Bearer <key>'", 'api-key: ${AZURE_OPENAI_API_KEY}'):
        assert redact(text) == text
    for text in ("Authorization: Bearer <key> plus-a-real-token-123", "Authorization: Bearer $KEY" + CANARY, "api-key: <key>xyz"):
        assert "[REDACTED]" in redact(text) and CANARY not in redact(text)


def test_support_bundle_curl_reproduces_with_the_key_from_the_environment(lab: Lab) -> None:
    report = diagnose(Target(base_url=lab.url("invalid_api_key"), api_key=Secret(CANARY), ip_echo_url=lab.ip_echo_url))
    curl = support_bundle(report)["reproduce"]
    assert '-H "Authorization: Bearer $OPENAI_API_KEY"' in curl and curl.endswith("/models'") and CANARY not in curl


def test_canary_in_no_output_file_or_log(lab: Lab, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    target = Target(base_url=lab.url("invalid_api_key"), api_key=Secret(CANARY), ip_echo_url=lab.ip_echo_url)
    report = diagnose(target)
    files = write_bundle(report, tmp_path)
    for f in files:
        assert CANARY not in f.read_text()
    assert CANARY not in repr(target) and CANARY not in str(target.to_dict())
    assert CANARY not in caplog.text and CANARY not in "".join(capsys.readouterr())
    d = classify(401, {"authorization": f"Bearer {CANARY}"}, f"bad key {CANARY}")
    assert CANARY not in str(d.to_dict())


def test_key_sent_only_to_target_origin(lab: Lab) -> None:
    with Lab() as echo:  # a second server standing for the IP-echo service
        diagnose(Target(base_url=lab.url("ok"), api_key=Secret(CANARY), ip_echo_url=echo.ip_echo_url))
        assert echo.request_count == 1 and echo.credentialed == [False]
    assert any(lab.credentialed)


def test_no_key_over_plain_http_to_non_loopback() -> None:
    # 192.0.2.1 is TEST-NET: nothing answers, and the kit must not even try to send a key there over http.
    report = diagnose(Target(base_url="http://192.0.2.1/v1", api_key=Secret(CANARY), timeout=1))
    assert report.verdict.cause == "wrong_endpoint"
    assert not report.exchanges
    tcp = next(f for f in report.findings if f.check == "TCP connect")
    assert tcp.status == "skip" and "not contacted" in tcp.evidence  # no connection at all, not even a bare TCP one


def test_key_never_crosses_untrusted_tls_nor_reaches_the_proxy(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every step against the interception listener, through a CONNECT proxy that records every byte it relays:
    # the issuer is read over an unverified handshake, and neither that nor any failed verified one carries the key.
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    reached = lab.tls_request_count
    with connect_proxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
        report = diagnose(Target(base_url=lab.url("tls_interception"), api_key=Secret(CANARY), timeout=5))
    assert report.verdict.cause == "tls_interception"
    assert proxy.connects >= 6  # TCP/TLS probe, issuer read, GET /models, model, three scope probes
    assert CANARY.encode() not in proxy.seen and b"CANARY" not in proxy.seen
    assert lab.tls_request_count == reached
    assert CANARY not in json.dumps(report.to_dict()) + repr(report)


def test_azure_key_goes_only_in_the_api_key_header_to_the_target(lab: Lab, tmp_path: Path) -> None:
    schemes = len(lab.auth_schemes)
    with Lab() as echo:
        report = diagnose(Target(base_url=lab.azure_url("ok"), api_key=Secret(CANARY), provider="azure", deployment="gpt4o",
                                 api_version="2024-10-21", ip_echo_url=echo.ip_echo_url, timeout=5))
        assert echo.credentialed == [False]
    assert set(lab.auth_schemes[schemes:]) == {"api-key"}
    for f in write_bundle(report, tmp_path):
        assert CANARY not in f.read_text()


def test_cli_classify_redacts() -> None:
    body = json.dumps({"error": {"message": f"Incorrect API key provided: {CANARY}", "code": "invalid_api_key"}})

    proc = subprocess.run([sys.executable, "-m", "why403_kit", "classify"], input=json.dumps({"status": 401, "body": body}),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and CANARY not in proc.stdout  # 1: a refusal was found
    assert json.loads(proc.stdout)["cause"] == "invalid_api_key"
