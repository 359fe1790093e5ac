"""report.json: typed fields under a schema version, a lossless round trip, old reports read, bad ones refused cleanly."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from why403_kit import SCHEMA_VERSION, InputError, Lab, Report, Secret, Target, diagnose
from why403_kit.lab import LAB_CA
from why403_kit.model import Exchange, Finding

from .conftest import CANARY


@pytest.fixture(scope="module")
def edge_report(lab: Lab) -> Report:
    return diagnose(lab.target("edge_block", api_key=Secret(CANARY)))


def test_round_trip_keeps_every_field(edge_report: Report) -> None:
    data = edge_report.to_dict()
    assert data["schema_version"] == SCHEMA_VERSION
    again = Report.from_dict(json.loads(json.dumps(data)))
    assert again.to_dict() == data
    assert again.findings == edge_report.findings and again.verdict == edge_report.verdict
    assert [e.request_id for e in again.exchanges] == [e.request_id for e in edge_report.exchanges]


def test_a_report_read_back_has_no_key_and_no_ca_bundle(edge_report: Report) -> None:
    # report.json shows the bundle's path for the reader; read back on another machine that file is gone, and a replay
    # connects nowhere: the rebuilt target holds neither the bundle nor a key.
    target = Target(base_url="https://127.0.0.1:9/v1", api_key=Secret(CANARY), ca_bundle=LAB_CA)
    data = replace(edge_report, target=target).to_dict()
    assert data["target"]["ca_bundle"] == LAB_CA and CANARY not in json.dumps(data)
    data["target"]["ca_bundle"] = "/nowhere/corp-root.pem"
    again = Report.from_dict(data)
    assert again.target.ca_bundle == "" and not again.target.api_key and again.target.key_hint.startswith("sk-proj-")


def test_a_saved_report_loads_from_its_file_or_its_dict(edge_report: Report, tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(edge_report.to_dict()), encoding="utf-8")
    assert Report.load(path).verdict == edge_report.verdict == Report.load(edge_report.to_dict()).verdict
    (tmp_path / "page.json").write_text("<html>not json</html>", encoding="utf-8")
    (tmp_path / "other.json").write_text('{"name": "package.json"}', encoding="utf-8")
    for bad, message in ((tmp_path / "missing.json", "cannot read report"), (tmp_path / "page.json", "is not JSON"),
                         (tmp_path / "other.json", "not a why403 report"), ([1, 2], "not a why403 report")):
        with pytest.raises(InputError, match=message):
            Report.load(bad)  # type: ignore[arg-type]


def test_every_finding_carries_the_answer_as_fields(edge_report: Report) -> None:
    data = edge_report.to_dict()
    live = next(f for f in data["findings"] if f["check"] == "live GET /models")
    assert (live["http_status"], live["responder"], live["observed"]) == (403, "edge", True)
    assert live["request_id"].startswith("req_lab") and live["cf_ray"] == "8f00lab000000000-AMS"
    assert 0 < live["confidence"] < 1
    v = data["verdict"]
    assert (v["cause"], v["step"], v["http_status"], v["responder"]) == ("edge_block", "credentials", 403, "edge")
    assert all(e["cf_ray"] for e in data["exchanges"]) and all(len(e["body_head"]) <= 500 for e in data["exchanges"])
    assert CANARY not in json.dumps(data)


def test_an_unversioned_report_from_0_1_still_reads() -> None:
    old = {"verdict": {"cause": "quota_exceeded", "summary": "s", "fix": "f", "title": "t", "confidence": 0.85},
           "findings": [{"step": "credentials", "check": "live GET /models", "status": "fail", "cause": "quota_exceeded",
                         "evidence": "GET x -> 429; … (responder: provider)", "fix": "f", "request_id": "req_1", "elapsed_ms": 3.0}],
           "target": {"base_url": "https://api.openai.com/v1", "api_key": "sk-proj-… (51 chars)", "timeout": 10.0},
           "started_utc": "2025-01-01T00:00:00+00:00", "elapsed_ms": 12.0}
    report = Report.from_dict(old)
    assert report.verdict.cause == "quota_exceeded" and report.findings[0].http_status is None and report.exchanges == ()
    assert not report.target.api_key  # a saved report never holds a key


@pytest.mark.parametrize(("change", "message"), [
    ({"schema_version": SCHEMA_VERSION + 1}, "upgrade"),
    ({"schema_version": "one"}, "schema_version"),
    ({"findings": {"not": "a list"}}, "not a why403 report"),
    ({"findings": [{"step": "x", "check": "y", "status": "bogus"}]}, "status 'bogus'"),
    ({"findings": [{"step": "x", "check": "y", "status": "fail", "http_status": "four hundred"}]}, "not a why403 report"),
    ({"exchanges": [{"method": "GET", "headers": ["not", "a", "map"]}]}, "headers"),
    ({"target": {"base_url": "ftp://nope"}}, "base URL"),
])
def test_a_bad_report_is_bad_input_not_a_traceback(edge_report: Report, change: dict[str, Any], message: str) -> None:
    data = {**edge_report.to_dict(), **change}
    with pytest.raises(InputError, match=message):
        Report.from_dict(data)


def test_a_secret_from_the_wire_is_masked_in_every_record() -> None:
    ex = Exchange("GET", f"https://x/v1/models?api_key={CANARY}", 401, {"x-echo": f"Bearer {CANARY}"}, f"bad key {CANARY}",
                  error=f"boom {CANARY}")
    assert CANARY not in json.dumps(ex.to_dict())
    assert CANARY not in Finding("credentials", "live", "fail", evidence=f"sent {CANARY}").evidence


def test_a_target_remembers_which_variable_its_key_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    from why403_kit import Target

    monkeypatch.setenv("MY_TEAM_KEY", "")
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert Target.from_env(api_key_env="MY_TEAM_KEY").key_env == "MY_TEAM_KEY"
    assert Target.from_env().key_env == "OPENAI_API_KEY"
    assert Target.from_env(api_key=Secret("")).key_env == ""  # given directly (a widget's field): no variable to name
    saved = Target.from_env(api_key_env="MY_TEAM_KEY").to_dict()
    assert saved["key_env"] == "MY_TEAM_KEY" and Target.from_dict(saved).key_env == "MY_TEAM_KEY"


def test_the_providers_a_target_takes_are_the_ones_named_in_words(monkeypatch: pytest.MonkeyPatch) -> None:
    from why403_kit import Target, model

    for provider in model.PROVIDER_NAMES:
        assert Target(base_url="https://gw.example/v1", provider=provider).provider == provider
    with pytest.raises(InputError, match="provider must be openai, azure or compatible, got 'bedrock'"):
        Target(base_url="https://gw.example/v1", provider="bedrock")
    monkeypatch.setitem(model.PROVIDER_NAMES, "bedrock", "Amazon Bedrock")  # one list: a provider added there is taken
    assert Target(base_url="https://gw.example/v1", provider="bedrock").provider == "bedrock"
