"""The terminal and Markdown views: tables fit the width and cut nothing, each fix once, the ids support asks for."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from why403_kit import Lab, Report, Secret, diagnose, knowledge
from why403_kit.model import Finding
from why403_kit.render import render, write_bundle
from why403_kit.render.markdown import cell, report_markdown
from why403_kit.render.text import faq_text, fit_widths, report_text, table, wrap_cell

from .conftest import CANARY

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
LONG = ("GET https://gateway.example.internal/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21 -> 403; "
        "page title 'Attention Required! | Cloudflare'; headers server=cloudflare cf-cache-status=DYNAMIC")


@pytest.fixture(scope="module")
def edge(lab: Lab) -> Report:
    return diagnose(lab.target("edge_block", api_key=Secret(CANARY)))


def columns(text: str) -> tuple[list[str], list[tuple[int, int]], list[str]]:
    """The header names, each column's (start, end) read from the dashes under the header, and the lines below."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("-") and set(line) <= {"-", " "})
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", lines[at])]
    names = [lines[at - 1][s:e].strip() for s, e in spans]
    return names, spans, lines[at + 1:]


def column_text(text: str, name: str, skip: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    """Everything printed in one column, top to bottom, without whitespace (to compare with what went in)."""
    names, spans, body = columns(text)
    start, end = spans[names.index(name)]
    last = len(names) - 1 == names.index(name)
    return "".join((line[start:] if last else line[start:end]).replace(" ", "") for line in body if line.strip() not in skip)


def squeeze(*texts: str) -> str:
    return "".join("".join(t.split()) for t in texts)


@pytest.mark.parametrize("width", [40, 60, 80, 120, 200])
def test_a_table_fits_the_width_and_cuts_nothing(width: int) -> None:
    rows = [["credentials", "live GET /models", "fail", LONG], ["network", "DNS", "pass", "api.openai.com -> 162.159.140.245"],
            ["support", "bundle", "pass", "request ids: " + ", ".join(f"req_{i:032x}" for i in range(4))]]
    text = table(rows, ["step", "check", "status", "evidence"], width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    for i, name in enumerate(["step", "check", "status", "evidence"]):
        assert column_text(text, name) == squeeze(*(r[i] for r in rows))  # every character, in order


def test_short_columns_keep_their_words_and_long_ones_split_at_slashes() -> None:
    assert wrap_cell("org_verification_required", 10, breakable=False) == ["org_verification_required"]
    # a word too long for any line starts on the line it follows: 'see' (or 'GET') is not left alone above its URL
    assert wrap_cell("see https://api.openai.com/v1/chat/completions now", 30) == ["see https://api.openai.com/v1/", "chat/completions now"]
    assert wrap_cell("GET http://127.0.0.1:43403/s/edge_block/v1/models/gpt-4o-mini -> 403", 50) == [
        "GET http://127.0.0.1:43403/s/edge_block/v1/models/", "gpt-4o-mini -> 403"]
    assert wrap_cell("a https://api.openai.com/v1/chat/completions", 20)[0] == "a"  # not "a https://": too short a head
    assert wrap_cell("a\n\nb", 10) == ["a", "", "b"]
    # Long text gives way first, then short columns down to their longest word; when nothing fits, nothing is cut.
    assert fit_widths([11, 22, 80], [11, 22, 40], [11, 16, 8], [False, False, True], 70) == [11, 19, 40]
    assert fit_widths([30, 80], [30, 40], [30, 8], [False, True], 20) == [30, 8]


@pytest.mark.parametrize("width", [80, 200])
def test_the_report_reads_at_80_and_200_columns(edge: Report, width: int) -> None:
    text = report_text(edge, width=width, colour=False)
    assert max(len(line) for line in text.splitlines()) <= width
    titles = {s.title for s in knowledge.load().steps}
    evidence = column_text(text, "evidence", skip=titles)
    expected = [f.evidence + (f"request id {f.request_id}, cf-ray {f.cf_ray}" if f.status == "fail" else "") for f in edge.findings]
    assert evidence == squeeze(*expected)
    assert [line for line in text.splitlines() if line in titles] == [s.title for s in knowledge.load().steps]  # grouped by step
    assert ANSI.search(text) is None and CANARY not in text


def test_the_fix_is_shown_once_per_cause(edge: Report) -> None:
    other = Finding("ratelimits", "429 kind", "fail", "quota_exceeded", "429 insufficient_quota", knowledge.load().cause("quota_exceeded").fix)
    report = replace(edge, findings=(*edge.findings, other))
    assert sum(f.cause == "edge_block" for f in report.findings) == 5
    for text in (report_text(report, width=80, colour=False), report_markdown(report)):
        flat = " ".join(text.split())
        assert flat.count("Do not retry in a loop") == 1  # five failing rows, one fix
        assert flat.count("Add credits or raise the spend limit") == 1


def test_request_ids_and_cf_ray_where_a_user_looks(edge: Report, tmp_path: Path) -> None:
    ray = next(f.cf_ray for f in edge.findings if f.cf_ray)
    first = next(f.request_id for f in edge.findings if f.status == "fail")
    text = " ".join(report_text(edge, width=200, colour=False).split())
    assert f"QUOTE request id {first}, cf-ray {ray}" in text
    md = report_markdown(edge)
    assert f"request id `{first}`, cf-ray `{ray}`" in md and "| request id | cf-ray |" in md
    assert sum(f"| {ray} |" in line for line in md.splitlines()) == sum(bool(f.cf_ray) for f in edge.findings)
    bundle = (write_bundle(edge, tmp_path)[2]).read_text(encoding="utf-8")
    assert "## Ids to quote" in bundle and f"- cf-ray `{ray}`" in bundle
    assert all(f"- request id `{e.request_id}`" in bundle for e in edge.exchanges)


def test_markdown_escapes_pipes_and_line_breaks_in_cells(edge: Report) -> None:
    assert cell("Attention Required! | Cloudflare") == "Attention Required! \\| Cloudflare"
    assert cell("first line\nsecond <b>line</b> `x` *y*") == "first line<br>second \\<b>line\\</b> \\`x\\` \\*y\\*"
    odd = Finding("headers", "pasted | request", "warn", "", "line one | with a pipe\nline two")
    md = report_markdown(replace(edge, findings=(*edge.findings, odd)))
    rows = [line for line in md.splitlines() if line.startswith("|")]
    cells = {len(re.split(r"(?<!\\)\|", row)) for row in rows}
    assert len(cells) == 1  # every row splits into as many cells as the header: no pipe or newline broke one
    assert "line one \\| with a pipe<br>line two" in md


def test_every_format_hides_a_key_even_when_wrapped(lab: Lab) -> None:
    report = diagnose(lab.target("invalid_api_key", api_key=Secret(CANARY)))
    leak = Finding("headers", "pasted request", "fail", "invalid_api_key", "header Authorization: Bearer " + CANARY)
    report = replace(report, findings=(*report.findings, leak))
    for width in (40, 80, 200):
        text = report_text(report, width=width, colour=False)
        assert CANARY not in text and CANARY[8:30] not in "".join(text.split())
    for fmt in ("json", "markdown"):
        assert CANARY[8:30] not in render(report, fmt)


@pytest.mark.parametrize("width", [40, 80, 200])
def test_the_faq_wraps_to_the_width_and_keeps_every_word(width: int) -> None:
    text = faq_text(width=width)
    assert max(len(line) for line in text.splitlines()) <= max(width, max(len(w) + 3 for w in text.split()))
    faq = knowledge.load().faq
    assert squeeze(text) == squeeze(*(f"Q: {e.q}A: {e.a}" for e in faq))  # every word, in order, nothing cut
    assert text.count("\nQ: ") == len(faq) - 1


def test_the_report_reads_at_60_columns_with_the_evidence_under_each_check(edge: Report) -> None:
    """Too narrow for four columns (the evidence got 22 characters and every request id was split in two): each
    check's evidence goes under its row, across the width, and the ids a user quotes stay whole on one line."""
    text = report_text(edge, width=60, colour=False)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 60
    ids = [f.request_id for f in edge.findings if f.request_id and f.status == "fail"]
    assert ids and all(any(rid in line for line in lines) for rid in ids)
    body = lines[lines.index("    evidence") + 2:]
    titles = {s.title for s in knowledge.load().steps}
    evidence = "".join(line.strip() for line in body if line.startswith("    "))
    expected = [f.evidence + (f"request id {f.request_id}, cf-ray {f.cf_ray}" if f.status == "fail" else "") for f in edge.findings]
    assert "".join(evidence.split()) == squeeze(*expected)  # every character, in order
    rows = [line for line in body if line and not line.startswith(" ") and line not in titles]
    assert [line.split()[0] for line in rows] == [f.check.split()[0] for f in edge.findings]
    wide = report_text(edge, width=100, colour=False).splitlines()
    assert next(line for line in wide if line.startswith("check")).split() == ["check", "status", "cause", "evidence"]  # a column
    assert "    evidence" not in wide
