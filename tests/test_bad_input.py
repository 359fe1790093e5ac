"""Bad input gets a clear finding or a one-line error with exit 2, in bounded time: no traceback, no hang."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from why403_kit import InputError, Lab, Secret, Target, diagnose

from .conftest import CANARY


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "why403_kit", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "OPENAI_API_KEY": CANARY})


@pytest.mark.parametrize("args", [
    ["diagnose", "--base-url", "not a url"],
    ["diagnose", "--base-url", "ftp://example.invalid/v1"],
    ["diagnose", "--base-url", "http://127.0.0.1:9/v1", "--allowlist", "10.0.0.0/33"],
    ["diagnose", "--base-url", "http://127.0.0.1:9/v1", "--allowlist", "banana"],
    ["diagnose", "--timeout", "-1"],
    ["lab", "--scenario", "no_such_scenario"],
    ["nonsense"],
])
def test_bad_arguments_exit_2_without_traceback(args: list[str]) -> None:
    proc = _cli(*args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and CANARY not in proc.stderr + proc.stdout
    assert proc.stderr.strip()


def test_classify_bad_stdin() -> None:
    proc = subprocess.run([sys.executable, "-m", "why403_kit", "classify"], input="{not json", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("key", ["", "  sk-proj-abc\n", '"sk-proj-quoted-key-1234567890"', "sk-proj-ünïcode…", "https://api.openai.com/v1", "Bearer sk-proj-x"])
def test_odd_keys_become_findings(lab: Lab, key: str) -> None:
    report = diagnose(Target(base_url=lab.url("ok"), api_key=Secret(key), timeout=5))
    assert report.verdict.cause in ("missing_api_key", "malformed_auth_header")


def test_target_rejects_bad_values() -> None:
    with pytest.raises(InputError):
        Target(base_url="::::")
    with pytest.raises(InputError):
        Target(allowlist=["300.1.1.1"])


def test_dead_host_is_network_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    report = diagnose(Target(base_url=f"http://127.0.0.1:{port}/v1", api_key=Secret(CANARY), timeout=2))
    assert report.verdict.cause == "network_error"


@pytest.fixture()
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers: a slow server."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    for c in conns:
        c.close()
    srv.close()


def test_slow_server_times_out(silent_server: int) -> None:
    report = diagnose(Target(base_url=f"http://127.0.0.1:{silent_server}/v1", api_key=Secret(CANARY), timeout=1))
    assert report.verdict.cause == "network_error"
    assert any("Timeout" in f.evidence for f in report.findings)


def test_huge_and_html_and_redirect_answers() -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            pass

        def do_GET(self) -> None:
            if "/big/" in self.path:
                body = b"<html>" + b"x" * (10 << 20)
                self.send_response(403)
            else:
                body = b""
                self.send_response(302)
                self.send_header("location", "https://elsewhere.invalid/")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the kit may hang up first: that is the point
                self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        port = srv.server_address[1]
        big = diagnose(Target(base_url=f"http://127.0.0.1:{port}/big/v1", api_key=Secret(CANARY), timeout=10))
        assert big.verdict.cause == "unknown" and any(e.truncated for e in big.exchanges)
        redirect = diagnose(Target(base_url=f"http://127.0.0.1:{port}/r/v1", api_key=Secret(CANARY), timeout=5))
        assert redirect.verdict.cause == "wrong_endpoint"
    finally:
        srv.shutdown()
        srv.server_close()
