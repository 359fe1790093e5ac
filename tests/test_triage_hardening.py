"""Triage under hostile input: endless streams end, binary and broken compression are "not a log" (exit 2), truncated
HARs warn, and a property test over the readers: exit 0, 1 or 2, never a traceback, never the canary."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from why403_kit import cli
from why403_kit.triage import triage

from .conftest import CANARY

ROOT = Path(__file__).resolve().parent.parent
SECRET = CANARY[len("sk-proj-") :]


def _run(*args: str, stdin: object = None, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "why403_kit", "triage", *args], stdin=stdin, capture_output=True, timeout=timeout,
                          cwd=ROOT, check=False)


def test_dev_zero_on_stdin_is_refused_at_once() -> None:
    with open("/dev/zero", "rb") as zero:
        proc = _run("-", stdin=zero, timeout=60)
    assert proc.returncode == 2 and b"not a log" in proc.stderr and b"Traceback" not in proc.stderr


def test_an_endless_line_on_stdin_ends_with_a_note() -> None:
    producer = subprocess.Popen(["sh", "-c", "yes 'Error code: 401 aaaaaaaaaaaaaaaa' | tr -d '\\n'"], stdout=subprocess.PIPE)
    try:
        proc = _run("-", "--format", "json", stdin=producer.stdout, timeout=240)
    finally:
        producer.kill()
        producer.wait()
        assert producer.stdout is not None
        producer.stdout.close()
    data = json.loads(proc.stdout)
    assert proc.returncode == 0 and data["truncated"] and data["refusals"] == 0
    assert any("without ending" in n and "not read" in n for n in data["notes"])
    assert data["skipped_reasons"] == {"line over 1 MiB": 1}


def test_compressed_binary_and_broken_compression_are_bad_input(tmp_path: Path) -> None:
    (tmp_path / "binary.gz").write_bytes(gzip.compress(bytes(range(256)) * 400))
    good = gzip.compress(b'{"status": 401, "body": "Incorrect API key provided"}\n' * 50_000)
    (tmp_path / "cut.jsonl.gz").write_bytes(good[: len(good) // 2])
    (tmp_path / "garbage.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 64 + bytes(range(256)) * 10)
    (tmp_path / "bad.zst").write_bytes(b"\x28\xb5\x2f\xfd" + bytes(range(256)) * 10)
    for name in ("binary.gz", "cut.jsonl.gz", "garbage.gz", "bad.zst"):
        for engine in ("python", "auto"):
            proc = _run(str(tmp_path / name), "--engine", engine)
            assert proc.returncode == 2, (name, engine, proc.stdout[-300:], proc.stderr[-300:])
            assert len(proc.stderr.strip().splitlines()) == 1 and b"Traceback" not in proc.stderr and proc.stdout == b""


@pytest.mark.parametrize("cut", ['{"log": {"version": "1.2", "entries": [', None])
def test_a_truncated_har_says_so(tmp_path: Path, cut: str | None) -> None:
    entry = {"startedDateTime": "2026-01-01T00:00:00Z", "request": {"url": "https://api.openai.com/v1/models"},
             "response": {"status": 401, "content": {"text": '{"error": {"code": "invalid_api_key"}}'}}}
    full = json.dumps({"log": {"version": "1.2", "entries": [entry, entry, entry]}})
    text = cut if cut is not None else full[: full.rindex("{")]  # two whole entries, then the file stops inside the third
    path = tmp_path / "cut.har"
    path.write_text(text)
    report = triage(path)
    assert report.format == "har" and report.refusals == (0 if cut else 2)
    assert any("truncated" in n for n in report.notes)
    proc = _run(str(path))
    assert b"truncated" in proc.stdout and proc.returncode == (0 if cut else 1)
    assert not any("truncated" in n for n in triage(full).notes)  # a whole HAR does not warn


_WORDS = st.sampled_from([
    "Error code: 401", "Error code: 429", "HTTP/1.1 403 Forbidden", "status=502", "Traceback (most recent call last)",
    "  File \"app.py\", line 1, in <module>", "openai.AuthenticationError: Incorrect API key provided", "httpx.ConnectError: refused",
    '{"status": 401, "body": "x"}', '{"log": {"entries": [', '[{"status": 429}', "]", "}", "{", "[", '"', "\\", "\x00", "\r", "\u2028",
    f" {CANARY} ", f" Bearer {CANARY} ", f" x-api-key: {SECRET} ", f" Authorization: Bearer {CANARY}\n", "<title>Just a moment...</title>",
    '{"error": {"code": "invalid_api_key", "message": "key ' + CANARY + ' bad"}}', "\n", "\n\n", "2026-01-01T00:00:00Z ",
])
_TEXTS = st.lists(st.one_of(_WORDS, st.text(max_size=30)), max_size=40).map("".join)
_PAYLOADS = st.one_of(
    _TEXTS.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=2000),
    _TEXTS.map(lambda t: gzip.compress(t.encode("utf-8", "replace"))),
    _TEXTS.map(lambda t: zlib.compress(t.encode("utf-8", "replace"))),
    st.lists(st.fixed_dictionaries({"status": st.one_of(st.integers(-1, 700), st.text(max_size=5), st.none(), st.booleans()),
                                    "body": st.one_of(_TEXTS, st.dictionaries(st.text(max_size=5), _TEXTS, max_size=3)),
                                    "headers": st.dictionaries(st.sampled_from(["server", "authorization", "x-api-key", "date"]), _TEXTS, max_size=3),
                                    "ts": st.one_of(st.integers(), st.text(max_size=12), st.floats(allow_nan=True))}), max_size=8)
    .map(lambda rows: "\n".join(json.dumps(r) for r in rows).encode()),
)


@settings(max_examples=250, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(payload=_PAYLOADS, suffix=st.sampled_from([".log", ".jsonl", ".har", ".json", ".csv", ".gz"]),
       fmt=st.sampled_from(["table", "json", "markdown"]), engine=st.sampled_from(["auto", "python"]))
def test_readers_never_crash_nor_leak(payload: bytes, suffix: str, fmt: str, engine: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(payload)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["triage", str(path), "--format", fmt, "--engine", engine])
    assert code in (0, 1, 2)
    text = out.getvalue() + err.getvalue()
    assert SECRET[:20] not in text and SECRET[-20:] not in text
    if code == 2:
        assert out.getvalue() == "" and len(err.getvalue().strip().splitlines()) == 1
    elif fmt == "json":
        assert json.loads(out.getvalue())["schema_version"] == 1


@pytest.mark.parametrize(("option", "name"), [("--plot", "causes.svg"), ("--per-event", "events.csv"), ("--per-event", "events.parquet")])
def test_an_output_that_is_not_a_regular_file_is_refused_before_reading(tmp_path: Path, option: str, name: str) -> None:
    # A directory where the plot or the per-event file goes: it was a traceback once the whole log had been read.
    log = tmp_path / "app.jsonl"
    log.write_text(json.dumps({"status": 401, "body": json.dumps({"error": {"code": "invalid_api_key"}})}) + "\n", encoding="utf-8")
    taken = tmp_path / name
    taken.mkdir()
    proc = _run(str(log), option, str(taken))
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in err and err.strip().count("\n") == 0, err[-2000:]
    assert "not a regular file" in err and taken.is_dir() and not list(taken.iterdir())


def test_the_plot_and_the_per_event_file_are_written_whole(tmp_path: Path) -> None:
    log = tmp_path / "app.jsonl"
    log.write_text(json.dumps({"status": 429, "body": json.dumps({"error": {"code": "insufficient_quota"}})}) + "\n", encoding="utf-8")
    plot, events = tmp_path / "causes.svg", tmp_path / "events.csv"
    plot.write_text("old"), events.write_text("old")
    proc = _run(str(log), "--plot", str(plot), "--per-event", str(events))
    assert proc.returncode == 1, proc.stderr.decode()[-2000:]
    assert plot.read_text(encoding="utf-8").lstrip().startswith("<?xml") and "quota_exceeded" in events.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.jsonl", "causes.svg", "events.csv"]  # no temporary file left


def test_a_run_that_fails_writes_no_per_event_file_and_keeps_the_older_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A log that turns out not to be one: the run stops on bad input, and neither a half file nor a temporary one is left.
    from why403_kit.errors import InputError
    from why403_kit.triage import triage

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the per-event parts are gathered
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_text(json.dumps({"status": 401, "body": json.dumps({"error": {"code": "invalid_api_key"}})}) + "\n")
    (logs / "b.log").write_bytes(b"\x00\xff" * 5000)
    events = tmp_path / "events.csv"
    events.write_text("older")
    with pytest.raises(InputError, match="not a log"):
        triage([logs / "a.jsonl", logs / "b.log"], engine="python", per_event=events)
    assert events.read_text() == "older" and not list(scratch.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.csv", "logs", "tmp"]
