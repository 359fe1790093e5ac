"""Log records carry no secret: the redacting filter, and the kit's DEBUG logs against a server that echoes the key."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from why403_kit import Secret
from why403_kit._logs import KIT_LOGGERS, RedactingFilter, install_log_redaction, redact_record

from ._hostile import HostileServer
from ._leaks import assert_no_leak, leaks
from .conftest import CANARY

ROOT = Path(__file__).resolve().parent.parent
_HELD = Secret(CANARY)


def _record(msg: object, args: tuple[object, ...] | None = None, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("httpcore.http11", logging.DEBUG, __file__, 1, msg, args, exc_info)


def _formatted(record: logging.LogRecord) -> str:
    return logging.Formatter("%(name)s %(message)s").format(record)


def test_the_filter_masks_arguments_of_every_kind() -> None:
    headers = [(b"content-type", b"application/json"), (b"x-echo", CANARY.encode()), (CANARY.lower().encode(), b"1")]
    cases = [
        _record("receive_response_headers.complete return_value=%r", ((b"HTTP/1.1", 401, b"Unauthorized", headers),)),
        _record("headers %s", ({"authorization": f"Bearer {CANARY}"},)),
        _record("%s and %d", (CANARY.encode(), 3)),
        _record({"echo": CANARY}),  # a message that is not a string
        _record("%s %s", (CANARY,)),  # arguments that do not fit the format: logging would print them raw
    ]
    for record in cases:
        assert leaks(f"{record.msg} {record.args}")
        RedactingFilter().filter(record)
        assert_no_leak(_formatted(record), repr(record.args))


def test_the_filter_masks_exception_text_and_keeps_clean_records_as_they_are() -> None:
    try:
        raise httpx.LocalProtocolError(f"Illegal header value b'Bearer {CANARY}\\r'")
    except httpx.LocalProtocolError as err:
        record = _record("request failed", None, err)
    redact_record(record)
    assert_no_leak(_formatted(record))
    assert "LocalProtocolError" in _formatted(record)
    clean = _record("HTTP Request: %s %s", ("GET", "http://127.0.0.1/v1/models"))
    args = clean.args
    redact_record(clean)
    assert clean.msg == "HTTP Request: %s %s" and clean.args is args  # nothing to mask: nothing changed


def test_installed_on_the_kit_loggers_and_on_every_record_of_the_process() -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent
    for name in KIT_LOGGERS:
        assert sum(isinstance(f, RedactingFilter) for f in logging.getLogger(name).filters) == 1, name
    record = logging.getLogRecordFactory()("some.other.library", logging.INFO, __file__, 1, "token %s", (CANARY,), None)
    assert_no_leak(record.getMessage())


def test_a_replaced_record_factory_is_wrapped_again() -> None:
    original = logging.getLogRecordFactory()
    try:
        logging.setLogRecordFactory(logging.LogRecord)  # someone else's code resets it
        install_log_redaction()
        record = logging.getLogRecordFactory()("x", logging.INFO, __file__, 1, "%s", (CANARY,), None)
        assert_no_leak(record.getMessage())
    finally:
        logging.setLogRecordFactory(original)


def test_httpx_debug_logs_of_an_echoing_server_hold_no_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)  # a handler added after the import, as basicConfig in a later cell would
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        with HostileServer() as srv:
            httpx.get(srv.url("echo") + "/models", headers={"Authorization": f"Bearer {CANARY}"})
    finally:
        logging.getLogger().removeHandler(handler)
    assert "receive_response_headers" in caplog.text and "x-echo" in caplog.text  # the raw headers were logged
    assert_no_leak(caplog.text, stream.getvalue(), *(str(r.args) for r in caplog.records))


@pytest.mark.parametrize("order", ["basicConfig after import", "basicConfig before import"])
def test_diagnose_at_debug_level_logs_no_form_of_the_key(hostile: HostileServer, order: str) -> None:
    config = "logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format='%(name)s %(message)s')"
    script = textwrap.dedent(f"""
        import logging, sys
        {config if order.endswith("before import") else ""}
        import why403_kit
        {config if order.endswith("after import") else ""}
        from why403_kit import Secret, Target, diagnose
        report = diagnose(Target(base_url=sys.argv[1], api_key=Secret(sys.argv[2]), timeout=5))
        print(report.verdict.cause)
        logging.getLogger("why403_kit.test").debug("verdict %s for %r", report.verdict.cause, report.exchanges)
    """)
    proc = subprocess.run([sys.executable, "-c", script, hostile.url("echo"), CANARY], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "receive_response_headers.complete" in proc.stderr and "x-echo-raw" in proc.stderr  # httpcore logged the raw headers
    assert_no_leak(proc.stdout, proc.stderr)
