"""Bad input gets a clear finding or a one-line error with exit 2, in bounded time: no traceback, no hang."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from why403_kit import InputError, Lab, Secret, Target, diagnose

from ._hostile import HostileServer
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


# ---- part 2 of issue 9: every one of these was a traceback, a wrong verdict or a run that was then thrown away ----------
def _one_line_exit_2(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and CANARY not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("why403: "), proc.stderr
    return lines[0]


@pytest.mark.parametrize(("args", "says"), [
    (["diagnose", "--base-url", "http://[::1/v1"], "cannot be read"),
    (["diagnose", "--base-url", "http://127.0.0.1:70000/v1"], "port"),
    (["diagnose", "--base-url", "http://127.0.0.1:0/v1"], "port"),
    (["diagnose", "--base-url", "http://127.0.0.1:9/v1\r\nX-Injected: 1"], "CR"),
    (["diagnose", "--base-url", "http://127.0.0.1:9/v\n1"], "LF"),
    (["diagnose", "--base-url", "http://127.0.0.1:9/v1", "--model", "gpt\t4o"], "TAB"),
    (["diagnose", "--base-url", "http://127.0.0.1:9/v1", "--timeout", "nan"], "timeout"),
    (["diagnose", "--base-url", "http://127.0.0.1:9/v1", "--timeout", "inf"], "timeout"),
    (["diagnose", "--base-url", "http://127.0.0.1:9/v1", "--deadline", "-1"], "deadline"),
    (["diagnose", "--base-url", "http://127.0.0.1:9/v1", "--deadline", "1e9"], "deadline"),
    (["diagnose", "--base-url", "http://127.0.0.1:9/v1", "--ca-bundle", "/nonexistent/ca.pem"], "CA bundle"),
    (["diagnose", "--base-url", "http://127.0.0.1:9/v1", "--ca-bundle", "/etc/hostname"], "PEM"),
    (["lab", "--port", "-1"], "--port"),
    (["lab", "--port", "70000"], "--port"),
    (["lab", "--latency-ms", "-5"], "--latency-ms"),
    (["lab", "--latency-ms", "nan"], "--latency-ms"),
    (["lab", "--answer-key", "/tmp/k.md", "--port", "99999"], "--port"),
    (["lab", "--answer-key", "/dev/null"], "not a regular file"),  # as root, replacing it would break the machine
    (["lab", "--answer-key", "/tmp/k.md", "--count", "1" + "0" * 30], "--count"),
])
def test_more_bad_arguments_exit_2_with_one_line(args: list[str], says: str) -> None:
    assert says in _one_line_exit_2(_cli(*args))


@pytest.mark.parametrize("command", ["diagnose", "export-faq", "export-runbook", "notebooks"])
@pytest.mark.parametrize("where", ["an existing file", "under a file"])
def test_out_that_cannot_be_a_directory_is_refused_before_any_work(hostile: HostileServer, tmp_path: Path, command: str, where: str) -> None:
    afile = tmp_path / "report.json"
    afile.write_text("{}")
    out = afile if where == "an existing file" else afile / "bundle"
    before = len(hostile.received)
    args = {"diagnose": ["diagnose", "--base-url", hostile.url("drip_headers"), "--timeout", "30", "--out", str(out)],
            "export-faq": ["export", "faq", "--out", str(out)], "export-runbook": ["export", "runbook", "--out", str(out)],
            "notebooks": ["notebooks", "--out", str(out)]}[command]
    started = time.monotonic()
    line = _one_line_exit_2(_cli(*args))
    assert str(afile) in line and time.monotonic() - started < 20  # said at once: the drip would hold a run for 30 s
    assert len(hostile.received) == before and afile.read_text() == "{}"


def test_files_are_written_whole_or_not_at_all(tmp_path: Path) -> None:
    from why403_kit._files import write_files

    with pytest.raises(UnicodeEncodeError):
        write_files(tmp_path, {"a.json": "{}", "b.json": "\ud800 cannot be encoded"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]  # b.json absent, no temporary file left behind
    (tmp_path / "b.json").write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_files(tmp_path, {"b.json": "new \ud800"})
    assert (tmp_path / "b.json").read_text() == "old"


def test_written_files_get_the_mode_a_plain_open_would_give(tmp_path: Path) -> None:
    # exported pages and reports are for sharing: never the 0600 of the temporary file they were written through
    from why403_kit._files import write_files, written_whole

    (tmp_path / "plain.txt").write_text("x")  # what open() gives under this process's umask
    expected = (tmp_path / "plain.txt").stat().st_mode & 0o777
    (tmp_path / "kept.html").write_text("old")
    os.chmod(tmp_path / "kept.html", 0o640)
    written = write_files(tmp_path, {"runbook.html": "<p>new</p>", "kept.html": "<p>new</p>"})
    assert [p.stat().st_mode & 0o777 for p in written] == [expected, 0o640]
    with written_whole(tmp_path / "plot.svg", "--plot") as tmp:  # the plot, the per-event file: the same road
        tmp.write_text("<svg/>")
    assert (tmp_path / "plot.svg").stat().st_mode & 0o777 == expected


def test_only_regular_files_are_ever_replaced(tmp_path: Path) -> None:
    from why403_kit._files import write_files

    os.mkfifo(tmp_path / "report.json")
    (tmp_path / "support-bundle.md").mkdir()
    for name in ("report.json", "support-bundle.md"):
        with pytest.raises(InputError, match="not a regular file"):
            write_files(tmp_path, {name: "{}"})
    assert (tmp_path / "report.json").is_fifo() and (tmp_path / "support-bundle.md").is_dir()


def test_notebooks_force_replaces_only_regular_files(tmp_path: Path) -> None:
    # the notebooks are written like every other output: whole, and never onto anything but a regular file
    os.mkfifo(tmp_path / "01_diagnose.ipynb")
    assert "not a regular file" in _one_line_exit_2(_cli("notebooks", "--out", str(tmp_path), "--force"))
    assert (tmp_path / "01_diagnose.ipynb").is_fifo() and not list(tmp_path.glob(".*.part"))


def test_classify_nested_json_is_bad_input_in_one_line() -> None:
    proc = subprocess.run([sys.executable, "-m", "why403_kit", "classify"], input="[" * 100_000, capture_output=True, text=True, timeout=60)
    assert "nested" in _one_line_exit_2(proc)


def test_classify_reads_valid_json_over_16_mib_whole() -> None:
    answers = [{"status": 401, "body": json.dumps({"error": {"code": "invalid_api_key", "message": "x" * 900_000}})}] * 20
    text = json.dumps(answers)
    assert len(text) > 16 << 20
    proc = subprocess.run([sys.executable, "-m", "why403_kit", "classify"], input=text, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-500:]
    out = json.loads(proc.stdout)
    assert len(out) == len(answers) and {d["cause"] for d in out} == {"invalid_api_key"}


def test_classify_says_the_stdin_limit(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from why403_kit import cli

    monkeypatch.setattr(cli, "CLASSIFY_STDIN_LIMIT", 1000)
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps({"status": 401, "body": "x" * 2000})))
    assert cli.main(["classify"]) == 2
    assert "more than" in capsys.readouterr().err


@pytest.mark.parametrize("status", ["true", "false", "1.5", '"abc"', "[401]", '{"a": 1}'])
def test_classify_refuses_a_status_that_is_not_a_number(status: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "why403_kit", "classify"], input=f'{{"status": {status}, "body": "x"}}',
                          capture_output=True, text=True, timeout=60)
    assert "status must be" in _one_line_exit_2(proc)


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("ALL_PROXY", "socks5://127.0.0.1:1080", "httpx[socks]"), ("HTTPS_PROXY", "socks5h://127.0.0.1:1080", "socks"),
    ("HTTPS_PROXY", "ftp://proxy.example:21", "http://, https:// or socks5://"), ("https_proxy", "gopher://x:70", "http://"),
])
def test_a_proxy_the_kit_cannot_use_is_bad_input(variable: str, value: str, says: str) -> None:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()} | {variable: value, "OPENAI_API_KEY": CANARY}
    proc = subprocess.run([sys.executable, "-m", "why403_kit", "diagnose", "--base-url", "https://127.0.0.1:9/v1"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert says in _one_line_exit_2(proc) and variable in proc.stderr


def test_a_socks_proxy_does_not_stop_a_plain_http_target(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")  # never used for plain http: nothing to refuse
    report = diagnose(Target(base_url=lab.url("ok"), api_key=Secret(CANARY), timeout=5))
    assert report.verdict.cause == "ok"


def test_the_closed_pipe_of_faq_head_is_quiet() -> None:
    proc = subprocess.run(f"{sys.executable} -m why403_kit faq | head -1", shell=True, capture_output=True, text=True, timeout=60)
    assert proc.stdout.startswith("Q: ") and proc.stderr == ""
