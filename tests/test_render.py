"""The render layer: one registry of formats, JSON masked as a structure, the bundle, and views that say what they show."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from why403_kit import InputError, Lab, Report, Secret, diagnose, redact
from why403_kit.cli import build_parser
from why403_kit.model import Exchange
from why403_kit.render import FORMATS, Formats, render, to_json, write_bundle
from why403_kit.render.html import VIEW_MIME, exchanges_html, verdict_view

from .conftest import CANARY


@pytest.fixture(scope="module")
def report(lab: Lab) -> Report:
    return diagnose(lab.target("edge_block", api_key=Secret(CANARY)))


def test_the_cli_formats_come_from_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    assert FORMATS.names(Report) == ["table", "json", "markdown"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["diagnose", "--format", "shout"])
    monkeypatch.setitem(FORMATS._renderers, (Report, "shout"), lambda r: r.verdict.cause.upper())
    assert build_parser().parse_args(["diagnose", "--format", "shout"]).format == "shout"  # one registry line, no CLI change


def test_a_new_kind_of_report_is_one_line_per_format() -> None:
    @dataclass
    class Tally:
        count: int

    formats = Formats()
    formats.add(Tally, "table", lambda t: f"{t.count} refusals")
    assert formats.render(Tally(3), "table") == "3 refusals" and formats.names(Tally) == ["table"]
    with pytest.raises(InputError, match="no format 'json' for a Tally; choose one of: table"):
        formats.render(Tally(3), "json")


def test_json_is_masked_as_a_structure_so_escapes_survive() -> None:
    # A quote inside a credential header value: masking the serialized text would cut the JSON escape open.
    data = {"note": f'Cookie: session="{CANARY}"; path=/', "text": "ünïcode stays as is"}
    assert json.loads(redact(json.dumps(data)))  # masking JSON text keeps its escapes whole too, but structures come first
    out = to_json(data)
    assert json.loads(out)["note"].startswith("Cookie: [REDACTED]") and CANARY not in out
    assert "ünïcode" in out


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_every_format_names_the_verdict_and_hides_the_key(report: Report, fmt: str) -> None:
    text = render(report, fmt)
    assert "edge_block" in text and CANARY not in text


def test_markdown_shows_who_answered_and_what_decided(report: Report) -> None:
    text = render(report, "markdown")
    assert "Decided by 1. Credentials: live GET /models; HTTP 403; answered by a CDN / WAF edge" in text  # the words of the terminal and HTML views
    assert "| answered by |" in text and "| req_lab" in text


def test_bundle_files(report: Report, tmp_path: Path) -> None:
    paths = write_bundle(report, tmp_path)
    assert [p.name for p in paths] == ["report.json", "support-bundle.json", "support-bundle.md"]
    saved = json.loads(paths[0].read_text(encoding="utf-8"))
    assert Report.from_dict(saved).verdict == report.verdict
    bundle = json.loads(paths[1].read_text(encoding="utf-8"))
    assert bundle["cf_rays"] == ["8f00lab000000000-AMS"] and bundle["request_ids"]
    assert bundle["reproduce"].startswith('curl -sS -i -H "Authorization: Bearer $OPENAI_API_KEY"')
    assert all(CANARY not in p.read_text(encoding="utf-8") for p in paths)


def test_a_view_records_what_it_shows(report: Report) -> None:
    bundle = verdict_view(report.verdict)._repr_mimebundle_()
    assert "why403-verdict-box" in bundle["text/html"]
    assert bundle[VIEW_MIME]["view"] == "verdict" and bundle[VIEW_MIME]["verdict"]["cause"] == "edge_block"


def test_the_wire_table_shows_each_request_id_once() -> None:
    # Azure (APIM) answers carry their id in apim-request-id: the ids column shows it, the headers column must not again.
    azure = Exchange("GET", "https://r.openai.azure.com/openai/models", 401, {"apim-request-id": "0f1e-apim", "policy-id": "p"},
                     request_id="0f1e-apim")
    both = Exchange("GET", "https://gw.example/v1/models", 401, {"x-request-id": "req_1", "x-ms-request-id": "9a8b-ms"}, request_id="req_1")
    page = exchanges_html([azure, both])
    assert page.count("0f1e-apim") == 1 and page.count("req_1") == 1
    assert "policy-id: p" in page and "x-ms-request-id: 9a8b-ms" in page  # an id that is not the one shown stays in the headers
