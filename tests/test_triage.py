"""Offline triage: every input shape a user brings (HAR, JSON Lines, logs, tracebacks, junk) groups to the right causes,
huge files stay bounded by streaming and the limit, the CLI exits 0/1/2, and no key ever shows in what it prints."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from why403_kit import triage
from why403_kit.errors import InputError
from why403_kit.lab import SCENARIOS
from why403_kit.render import render, triage_text
from why403_kit.triage import TriageReport

from .conftest import CANARY

ROOT = Path(__file__).resolve().parent.parent
CF_HTML = ("<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head><body><h1>Sorry, you have been blocked</h1>"
           "<p>Cloudflare Ray ID: 8f1234567890abcd</p></body></html>")
INVALID_KEY = json.dumps({"error": {"message": f"Incorrect API key provided: {CANARY}.", "type": "invalid_request_error", "code": "invalid_api_key"}})
QUOTA = json.dumps({"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                              "type": "insufficient_quota", "code": "insufficient_quota"}})


def _entry(when: str, status: int, headers: dict[str, str], body: str, url: str = "https://api.openai.com/v1/chat/completions") -> dict[str, Any]:
    return {
        "startedDateTime": when,
        "request": {"method": "POST", "url": url, "headers": [{"name": "Authorization", "value": f"Bearer {CANARY}"},
                                                              {"name": "Content-Type", "value": "application/json"}]},
        "response": {"status": status, "headers": [{"name": k, "value": v} for k, v in headers.items()],
                     "content": {"mimeType": headers.get("content-type", ""), "text": body}},
    }


def _har(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"log": {"version": "1.2", "creator": {"name": "devtools", "version": "1"}, "pages": [], "entries": list(entries)}}


HAR = _har(
    _entry("2025-03-01T10:00:00.000Z", 403, {"content-type": "text/html", "server": "cloudflare", "cf-ray": "8f1234567890abcd-AMS"}, CF_HTML),
    _entry("2025-03-01T10:05:00.000Z", 401, {"content-type": "application/json"}, INVALID_KEY, f"https://api.openai.com/v1/models?api_key={CANARY}"),
    _entry("2025-03-01T10:06:00.000Z", 401, {"content-type": "application/json"}, INVALID_KEY),
    _entry("2025-03-02T08:00:00.000Z", 429, {"content-type": "application/json"}, QUOTA, "https://myres.openai.azure.com/openai/x"),
    _entry("2025-03-02T09:00:00.000Z", 200, {"content-type": "application/json"}, '{"object": "list", "data": []}'),
)

LOG = f"""2025-04-01 12:00:00,100 INFO HTTP Request: POST https://api.openai.com/v1/chat/completions "HTTP/1.1 200 OK"
2025-04-01 12:00:01,200 ERROR openai.AuthenticationError: Error code: 401 - {{'error': {{'message': 'Incorrect API key provided: sk-proj-****abcd', 'type': 'invalid_request_error', 'code': 'invalid_api_key'}}}}
2025-04-01 12:00:02 WARNING retrying with Authorization: Bearer {CANARY}
2025-04-01 12:00:03 ERROR httpx.ConnectError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain (_ssl.c:1006)
2025-04-01 12:00:04 ERROR openai.PermissionDeniedError: Error code: 403 - {{'error': {{'message': 'Country, region, or territory not supported', 'type': 'request_forbidden', 'code': 'unsupported_country_region_territory'}}}}
worker started, nothing to see here
"""

TRACEBACK = """2025-04-02 08:30:00 ERROR chat call failed
Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/httpcore/_sync/connection.py", line 101, in handle_request
    raise exc
httpcore.ConnectError: [Errno 111] Connection refused

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "app.py", line 12, in <module>
    client.chat.completions.create(model="gpt-4o-mini", messages=[])
openai.APIConnectionError: Connection error.
Traceback (most recent call last):
  File "app.py", line 20, in <module>
    client.chat.completions.create(model="gpt-4o-mini", messages=[])
openai.RateLimitError: Error code: 429 - {'error': {'message': 'Rate limit reached for gpt-4o-mini on tokens per min (TPM): Limit 30000, Used 30000, Requested 20.', 'type': 'tokens', 'param': None, 'code': 'rate_limit_exceeded'}}
"""


def _causes(report: TriageReport) -> dict[str, int]:
    return {g.cause: g.count for g in report.groups}


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "why403_kit", "triage", *args], input=stdin, capture_output=True, text=True,
                          timeout=120, cwd=ROOT, check=False)


def test_har_groups_entries_by_cause_with_times_hosts_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "session.har"
    path.write_text(json.dumps(HAR, indent=2))  # pretty-printed, as devtools saves it
    report = triage(path)
    assert report.format == "har"
    assert _causes(report) == {"invalid_api_key": 2, "edge_block": 1, "quota_exceeded": 1}
    assert (report.ok, report.refusals, report.events, report.skipped) == (1, 4, 5, 0)
    key = report.groups[0]
    assert key.cause == "invalid_api_key" and key.share == 0.5 and key.statuses == [401]
    assert (key.first_seen, key.last_seen) == ("2025-03-01T10:05:00Z", "2025-03-01T10:06:00Z")
    assert key.hosts == ["api.openai.com"] and key.fix and key.retry == "no" and key.example_at.startswith("entry ")
    edge = next(g for g in report.groups if g.cause == "edge_block")
    assert "cloudflare" in edge.example.lower() or "cf-ray" in edge.example.lower()
    assert next(g for g in report.groups if g.cause == "quota_exceeded").hosts == ["myres.openai.azure.com"]
    assert triage(json.dumps(HAR)).to_dict()["groups"] == report.to_dict()["groups"]  # minified, inline
    failed = _entry("2025-03-03T00:00:00Z", 0, {}, "")
    failed["response"]["_error"] = "net::ERR_CONNECTION_REFUSED"  # Chrome's record of a request that got no answer
    assert _causes(triage(json.dumps(_har(failed)))) == {"network_error": 1}


def test_har_entry_too_large_to_parse_is_scanned_and_reported(tmp_path: Path) -> None:
    huge = _entry("2025-03-01T11:00:00Z", 401, {"content-type": "application/json"}, "x" * (20 << 20) + '"{[\\"')
    path = tmp_path / "big.har"
    path.write_text(json.dumps(_har(HAR["log"]["entries"][1], huge, HAR["log"]["entries"][3])))
    report = triage(path)
    # the 20 MiB entry is not parsed, but its status, time and host are read from its head: a 401 is not lost
    assert _causes(report) == {"invalid_api_key": 2, "quota_exceeded": 1} and report.skipped == 0
    key = next(g for g in report.groups if g.cause == "invalid_api_key")
    assert key.last_seen == "2025-03-01T11:00:00Z" and "entry 2" in key.example_at + " ".join(report.notes)
    assert any("entry 2 is over 16 MiB" in n and "HTTP 401" in n for n in report.notes)


def test_json_lines_in_different_shapes() -> None:
    lines = [
        json.dumps({"ts": "2025-05-01T00:00:00Z", "status": 401, "headers": {"content-type": "application/json"}, "body": INVALID_KEY}),
        json.dumps({"timestamp": 1746057600, "level": "error", "error_type": "RateLimitError", "url": "https://gw.example.com/v1/chat",
                    "message": "Error code: 429 - {'error': {'message': 'You exceeded your current quota', 'type': 'insufficient_quota', "
                               "'code': 'insufficient_quota'}}"}),
        json.dumps({"level": "ERROR", "message": "litellm.AuthenticationError: AuthenticationError: OpenAIException - Error code: 401 - "
                                                 "{'error': {'message': 'Incorrect API key provided', 'code': 'invalid_api_key'}}"}),
        json.dumps({"response": {"status_code": 403, "headers": {"server": "cloudflare", "content-type": "text/html"}, "text": CF_HTML}}),
        json.dumps({"status": 200, "body": {"id": "chatcmpl-1"}}),
        json.dumps({"level": "info", "message": "worker ready"}),
        "{not json at all",
    ]
    report = triage(lines)
    assert report.format == "jsonl"
    assert _causes(report) == {"invalid_api_key": 2, "quota_exceeded": 1, "edge_block": 1}
    assert (report.ok, report.skipped) == (1, 2)
    quota = next(g for g in report.groups if g.cause == "quota_exceeded")
    assert quota.first_seen == "2025-05-01T00:00:00Z" and quota.hosts == ["gw.example.com"] and quota.statuses == [429]


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_request_ids_are_read_from_every_header_the_live_checks_read(tmp_path: Path, engine: str) -> None:
    # Azure (APIM) answers carry apim-request-id or x-ms-request-id, some gateways request-id: support needs each of them.
    azure_403 = json.dumps({"error": {"code": "403", "message": "Access denied due to Virtual Network/Firewall rules."}})
    ids = {"x-request-id": "req_1a", "apim-request-id": "0f1e2d3c-apim", "x-ms-request-id": "9a8b7c6d-ms", "request-id": "gw-42"}
    log = tmp_path / "azure.jsonl"
    log.write_text("".join(json.dumps({"ts": f"2025-05-01T00:00:0{i}Z", "status": 403, "headers": {header: value}, "body": azure_403}) + "\n"
                           for i, (header, value) in enumerate(ids.items())), encoding="utf-8")
    out = tmp_path / "events.csv"
    report = triage(log, engine=engine, per_event=out)
    assert report.events == len(ids)
    with out.open(encoding="utf-8", newline="") as fh:
        assert sorted(row["request_id"] for row in csv.DictReader(fh)) == sorted(ids.values())


def test_json_array_and_a_truncated_one() -> None:
    items = [{"status": 429, "body": QUOTA}, {"status": 401, "body": INVALID_KEY}]
    report = triage(json.dumps(items, indent=1))
    assert report.format == "json-array" and _causes(report) == {"quota_exceeded": 1, "invalid_api_key": 1}
    cut = triage(json.dumps(items)[:-30])
    assert _causes(cut) == {"quota_exceeded": 1} and cut.skipped == 1


def test_plain_log_lines_with_sdk_exceptions_and_tls_error() -> None:
    report = triage(LOG)
    assert report.format == "text"
    assert _causes(report) == {"invalid_api_key": 1, "tls_interception": 1, "unsupported_region": 1}
    assert report.ok == 1 and report.skipped == 2  # the Bearer retry line names no cause; the last line is chatter
    tls = next(g for g in report.groups if g.cause == "tls_interception")
    assert tls.first_seen == "2025-04-01T12:00:03Z" and "CERTIFICATE_VERIFY_FAILED" in tls.example


def test_tracebacks_become_one_event_each_at_their_error_line() -> None:
    report = triage(TRACEBACK.splitlines())
    assert _causes(report) == {"network_error": 1, "rate_limited": 1}
    net = next(g for g in report.groups if g.cause == "network_error")
    assert net.first_seen == "2025-04-02T08:30:00Z"  # dated by the log line that introduced it
    assert next(g for g in report.groups if g.cause == "rate_limited").statuses == [429]


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"hello\nworld\n", b"[INFO] all good\n", b"{\"log\": {\"entries\": [", b"[[[[[[[[[[[[[["])
def test_garbage_and_empty_text_never_raise(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.txt"
    path.write_bytes(content)
    report = triage(path)
    assert report.refusals == 0 and report.ok == 0
    assert isinstance(render(report, "markdown"), str) and json.dumps(report.to_dict())


@pytest.mark.parametrize("content", [os.urandom(200_000), b"\x00\xff" * 1000, b"\x00" * 100_000])
def test_binary_input_is_not_a_log(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.bin"
    path.write_bytes(content)
    with pytest.raises(InputError, match="not a log"):
        triage(path)
    proc = _cli(str(path))
    assert proc.returncode == 2 and "not a log" in proc.stderr and "Traceback" not in proc.stderr and proc.stdout == ""


def test_unreadable_path_raises_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        triage(tmp_path / "missing.har")
    with pytest.raises(InputError):
        triage(tmp_path)  # a directory


def test_twenty_megabytes_are_read_whole_unless_a_limit_is_asked(tmp_path: Path) -> None:
    line = json.dumps({"status": 401, "body": INVALID_KEY}) + "\n"
    path = tmp_path / "big.jsonl"
    n = (20 << 20) // len(line) + 1
    with path.open("w") as fh:
        fh.write(line * n)
    for engine in ("python", "duckdb"):
        whole = triage(path, engine=engine)  # no silent cap: every line is read
        assert not whole.truncated and whole.refusals == n and whole.records == n and whole.signatures == 1
    report = triage(path, max_events=2_000)
    assert report.truncated and report.refusals == 2_000 and _causes(report) == {"invalid_api_key": 2_000}
    assert any("--max-events" in n for n in report.notes)
    one_line = tmp_path / "one-line.log"
    one_line.write_text("Error code: 401 " * ((20 << 20) // 16))  # 20 MB without a newline: one oversized line, skipped
    long_report = triage(one_line)
    assert (long_report.skipped, long_report.refusals) == (1, 0) and long_report.skipped_reasons == {"line over 1 MiB": 1}


def test_every_lab_scenario_triages_to_its_own_cause() -> None:
    no_body = {"network_error": "httpx.ConnectError: [Errno 111] Connection refused",
               "tls_interception": "httpx.ConnectError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate"}
    names = list(SCENARIOS)
    lines = [json.dumps({"exception": no_body[n]} if n in no_body else dict(zip(("status", "headers", "body"), SCENARIOS[n], strict=True)))
             for n in names]
    report = triage(lines)
    assert report.ok == 1 and report.skipped == 0
    got = {g.example_at: g.cause for g in report.groups}
    expected = {f"line {i}": n for i, n in enumerate(names, 1) if n != "ok"}
    assert got == expected and all(g.count == 1 for g in report.groups)


def test_views_table_frame_and_markdown() -> None:
    report = triage(json.dumps(HAR))
    frame = report.to_frame()
    assert list(frame["cause"]) == [g.cause for g in report.groups] and int(frame["count"].sum()) == 4
    md = render(report, "markdown")
    assert "| invalid_api_key | 2 | 50% |" in md and "## edge_block" in md
    text = triage_text(report, width=80)
    assert "hosts" in text.splitlines()[2] and "api.openai.com" in text  # the hosts column the README promises
    assert max(len(line) for line in text.splitlines()[2:8]) <= 80


def test_cli_exit_codes_and_formats(tmp_path: Path) -> None:
    har = tmp_path / "s.har"
    har.write_text(json.dumps(HAR))
    proc = _cli(str(har))
    assert proc.returncode == 1 and "invalid_api_key" in proc.stdout and "4 refusals" in proc.stdout
    data = json.loads(_cli(str(har), "--format", "json").stdout)
    assert data["refusals"] == 4 and data["groups"][0]["cause"] == "invalid_api_key"
    assert _cli(str(har), "--format", "markdown").stdout.startswith("# Triage")
    healthy = _cli("-", stdin='{"status": 200, "body": ""}\nworker ready\n')
    assert healthy.returncode == 0 and "0 refusals, 1 ok" in healthy.stdout
    missing = _cli(str(tmp_path / "nope.har"))
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1 and "Traceback" not in missing.stderr


def test_canary_never_leaves_in_any_format(tmp_path: Path) -> None:
    har = tmp_path / "leaky.har"
    har.write_text(json.dumps(HAR))
    log = tmp_path / "leaky.log"
    log.write_text(LOG + f"2025-04-01 12:00:05 ERROR openai.AuthenticationError: Error code: 401 - Incorrect API key provided: {CANARY}\n"
                   + json.dumps({"status": 401, "url": f"https://api.openai.com/v1?key={CANARY}", "headers": {"set-cookie": CANARY},
                                 "message": f"Incorrect API key provided: {CANARY}"}) + "\n")
    for path in (har, log):
        report = triage(path)
        assert report.refusals >= 3
        outputs = [json.dumps(report.to_dict()), render(report, "markdown"), report.to_frame().to_string(), repr(report)]
        outputs += [_cli(str(path), "--format", fmt).stdout for fmt in ("table", "json", "markdown")]
        for out in outputs:
            assert CANARY not in out and CANARY[8:30] not in out


def test_plot_legend_stays_clear_of_the_bars(tmp_path: Path) -> None:
    """With every cause in the log (the generated sample has about twenty), the legend sits beside the axes and inside
    the figure (drawn over the axes, it hid the bars it names), and no two causes share a colour (ten colours went
    round twice)."""
    from why403_kit.render import triage_plot
    from why403_kit.triage import sample

    log = tmp_path / "gateway.jsonl"
    sample.write(log, 4000)
    report = triage(str(log))
    assert len(report.groups) >= 15
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = triage_plot(report, tmp_path / "causes.png")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # lays the figure out as savefig did
    renderer = canvas.get_renderer()
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
    assert len(legends) == 1
    box = legends[0].get_window_extent(renderer)
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent(renderer)), (box, ax.get_window_extent(renderer))
    whole = fig.bbox
    assert whole.x0 <= box.x0 and box.x1 <= whole.x1 and whole.y0 <= box.y0 and box.y1 <= whole.y1, (box, whole)
    dated = len([g for g in report.groups if g.timeline])
    assert len(legends[0].get_texts()) == dated
    assert len({tuple(h.get_facecolor()) for h in legends[0].legend_handles}) == dated  # one colour per cause, none reused


@pytest.mark.parametrize("width", [60, 80, 100])
def test_terminal_view_fits_the_width_without_cutting_a_word(tmp_path: Path, width: int) -> None:
    """Every line fits (the headline and each cause's heading wrap too), and the table never splits a host name or
    an id across lines ('openrout' / 'er.ai'): a column that cannot be shown whole is left out, its values being in
    each cause's section below the table."""
    from why403_kit.render.triage import _cells
    from why403_kit.triage import sample

    log = tmp_path / "gateway.jsonl"
    sample.write(log, 4000)
    report = triage(str(log))
    text = triage_text(report, width=width)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), [line for line in lines if len(line) > width]
    start = next(i for i, line in enumerate(lines) if line.startswith("cause "))
    end = lines.index("", start)
    whole = {word for g in report.groups for cell in _cells(g) for word in cell.split()}
    whole |= {"cause", "count", "share", "seen", "(UTC)", "status", "hosts", "keys"}
    table_words = {word for line in lines[start + 2:end] for word in line.split()}
    assert table_words <= whole, sorted(table_words - whole)
    assert {g.cause for g in report.groups} <= table_words
    for g in report.groups:  # what the table may leave out is in the cause's own section
        assert all(host in text for host in g.hosts) and g.first_seen in text
