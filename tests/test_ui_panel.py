"""The widget panel without a browser: set fields, click buttons, read the verdict and the table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import ipywidgets as widgets
import pytest

from tests.conftest import CANARY
from why403_kit.lab import shared_lab
from why403_kit.ui import Panel


@pytest.fixture(autouse=True)
def _close_widgets() -> Iterator[None]:
    yield
    widgets.Widget.close_all()


def _state_dump() -> str:
    """Everything a notebook would save as widget state, as text."""
    return json.dumps(widgets.Widget.get_manager_state(drop_defaults=False), default=str)


def click(button: widgets.Button) -> None:
    button.click()


def test_run_all_on_edge_block_names_the_edge(tmp_path: Path) -> None:
    panel = Panel(use_lab=True, scenario="edge_block", out_dir=tmp_path)
    click(panel.run_all)
    report = panel.wait()
    assert report is not None and report.verdict.cause == "edge_block"
    assert "edge_block" in panel.verdict.value and "Fix:" in panel.verdict.value
    assert "Cloudflare" in panel.findings.value and "fail" in panel.findings.value
    assert "1 check failed, 2 passed" in panel.status["credentials"].value  # plain words, not "worst: fail"
    assert all("worst" not in panel.status[s].value and " ms)" in panel.status[s].value for s in panel.status)
    assert not panel.run_all.disabled and not panel.bundle_button.disabled


def test_findings_grouped_by_step_with_the_fix_once_and_the_ids() -> None:
    from why403_kit import knowledge

    panel = Panel(use_lab=True, scenario="edge_block")
    click(panel.run_all)
    report = panel.wait()
    assert report is not None
    table = panel.findings.value
    kb = knowledge.load()
    heads = [s.title for s in kb.steps]
    found = [table.index(h) for h in heads]  # one heading row per step, in the steps' order, each with its result in words
    assert found == sorted(found)
    assert table.count('class="why403-group"') == len(heads)
    assert "5 checks failed" not in table and "4 checks failed, 1 skipped" in table  # permissions: 4 refused probes + the paid one
    fix = kb.cause("edge_block").fix
    failing = sum(f.cause == "edge_block" for f in report.findings)
    assert failing >= 4 and table.count(fix.split(".")[0]) == 1  # said once, under the table, not on every failing row
    assert "req_lab" in table and "cf-ray 8f00lab000000000-AMS" in table
    assert "request id / cf-ray" in table


@pytest.mark.parametrize("scenario, cause", [("ok", "ok"), ("invalid_api_key", "invalid_api_key"), ("quota_exceeded", "quota_exceeded")])
def test_scenario_picker_drives_the_verdict(scenario: str, cause: str) -> None:
    panel = Panel(use_lab=True)
    panel.scenario.value = scenario
    click(panel.run_all)
    assert panel.wait() is not None
    assert panel.report is not None and panel.report.verdict.cause == cause
    assert f'<code class="why403-id">{cause}</code>' in panel.verdict.value


def test_one_step_button_runs_that_step_alone() -> None:
    panel = Panel(use_lab=True, scenario="invalid_api_key")
    click(panel.step_buttons["credentials"])
    report = panel.wait()
    assert report is not None and {f.step for f in report.findings} == {"credentials"}
    assert "1 check failed, 2 passed" in panel.status["credentials"].value and "skipped" in panel.status["network"].value


def test_typed_key_leaves_widget_state_at_once(lab: object) -> None:
    panel = Panel(use_lab=False)
    panel.base_url.value = shared_lab().url("invalid_api_key")
    panel.key.value = CANARY  # what the browser sends on Enter
    assert panel.key.value == ""
    assert CANARY not in _state_dump()
    assert "sk-proj" in panel.key_status.value and CANARY not in panel.key_status.value
    assert CANARY not in repr(panel) and CANARY not in repr(panel.key)
    click(panel.run_all)
    report = panel.wait()
    assert report is not None and report.verdict.cause == "invalid_api_key"
    for text in (_state_dump(), panel.findings.value, panel.verdict.value, panel.message.value, json.dumps(report.to_dict())):
        assert CANARY not in text


def test_key_from_named_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TEAM_KEY", CANARY)
    panel = Panel(use_lab=False)
    panel.base_url.value = shared_lab().url("ok")
    panel.key_env.value = "MY_TEAM_KEY"
    assert "$MY_TEAM_KEY" in panel.key_status.value
    assert panel.target().api_key.reveal() == CANARY
    click(panel.run_all)
    report = panel.wait()
    assert report is not None and report.verdict.cause == "ok"
    assert CANARY not in _state_dump() + panel.findings.value


def test_an_empty_named_variable_is_reported_by_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TEAM_KEY", "")
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)  # the default variable holds a key: it must not be read instead
    panel = Panel(use_lab=False)
    panel.base_url.value = shared_lab().url("ok")
    panel.key_env.value = "MY_TEAM_KEY"
    click(panel.step_buttons["credentials"])
    report = panel.wait()
    assert report is not None and report.verdict.cause == "missing_api_key"
    assert "MY_TEAM_KEY is empty or unset" in panel.findings.value
    assert "Set MY_TEAM_KEY" in report.verdict.fix and "OPENAI_API_KEY" not in report.verdict.fix + panel.verdict.value


def test_an_input_error_clears_the_previous_verdict_and_findings() -> None:
    panel = Panel(use_lab=False)
    panel.base_url.value = shared_lab().url("quota_exceeded")
    panel.key.value = "sk-proj-" + "y" * 40
    click(panel.run_all)
    assert panel.wait() is not None and "quota_exceeded" in panel.verdict.value
    assert not panel.bundle_button.disabled
    panel.base_url.value = "not a url"
    click(panel.run_all)
    assert "base URL" in panel.message.value
    assert "quota_exceeded" not in panel.verdict.value + panel.findings.value  # nothing of the old run stays under the error
    assert "No findings yet" in panel.findings.value and "No diagnosis yet" in panel.verdict.value
    assert panel.report is None and panel.bundle_button.disabled and panel.export_button.disabled
    assert all("not run yet" in panel.status[s].value for s in panel.status)


def test_training_mode_picks_mysteries_and_keeps_the_answer_to_the_board() -> None:
    from tests.test_classroom import named_causes, provider_says
    from why403_kit.lab import Classroom, mystery_pool

    room = Classroom(shared_lab(), seed=11)
    panel = Panel(training=room)
    assert list(panel.scenario.options) == [] and panel.use_lab.value
    click(panel.run_all)
    assert "no mystery yet" in panel.message.value
    for _ in mystery_pool():  # every scenario the lab plays, once each
        room.new_mystery(run=False)
    panel.refresh_mysteries()
    labels = [label for label, _ in panel.scenario.options]
    assert labels == [f"mystery #{n}" for n in range(1, len(mystery_pool()) + 1)] and panel.scenario.value == len(labels)
    for mystery in room.mysteries:
        panel.scenario.value = mystery.number
        assert panel.target().base_url == mystery.target.base_url and "/t/" in mystery.target.base_url
        click(panel.run_all)
        report = panel.wait()
        assert report is not None and report.target.base_url == mystery.target.base_url
        shown = panel.verdict.value + panel.findings.value + panel.message.value + "".join(s.value for s in panel.status.values())
        # the checks' own sentences may interpret ('rate_limited: Retry-After=2.0'): the panel shows what the wire said
        assert named_causes(shown + repr(panel.scenario)) <= provider_says(mystery.scenario), mystery.number
        assert "Fix" not in panel.findings.value and "Verdict" not in panel.verdict.value and "<table" in panel.findings.value
    assert panel.bundle_button.layout.display == "none" and panel.export_button.layout.display == "none"


def test_bad_input_lands_in_the_panel_not_a_traceback() -> None:
    panel = Panel(use_lab=False)
    panel.base_url.value = "not a url"
    click(panel.run_all)
    assert panel.report is None
    assert "base URL" in panel.message.value and "Traceback" not in panel.message.value
    panel.base_url.value = "http://127.0.0.1:9/v1"
    panel.allowlist.value = "10.0.0.0/33"
    click(panel.run_all)
    assert "allowlist" in panel.message.value


def test_run_deadline_field_reaches_the_target_and_bad_values_land_in_the_panel() -> None:
    panel = Panel(use_lab=False)
    panel.base_url.value = shared_lab().url("ok")
    assert "30 s" in panel.deadline.placeholder and panel.target().deadline == 0.0  # empty: the default, 3 request timeouts
    panel.deadline.value = " 12.5 "
    assert panel.target().deadline == 12.5 and panel.target().run_deadline == 12.5
    for bad in ("soon", "0", "-3", "99999"):
        panel.deadline.value = bad
        click(panel.run_all)
        assert panel.report is None and "deadline must be a number of seconds" in panel.message.value, bad
        assert "Traceback" not in panel.message.value


def test_ca_bundle_field_decides_which_certificates_the_run_trusts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tests._hostile import INTERCEPTOR_CA

    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    panel = Panel(use_lab=False)
    panel.base_url.value = shared_lab().url("tls_interception")
    panel.key.value = "sk-proj-" + "c" * 40
    click(panel.run_all)
    report = panel.wait()
    assert report is not None and report.verdict.cause == "tls_interception"
    panel.ca_bundle.value = str(INTERCEPTOR_CA)  # the gateway's root, as a user inside that company would give it
    click(panel.run_all)
    report = panel.wait()
    assert report is not None and report.verdict.cause == "ok" and report.target.ca_bundle == str(INTERCEPTOR_CA)
    assert f"certificate verified against the CA bundle {INTERCEPTOR_CA}" in panel.findings.value
    panel.ca_bundle.value = str(tmp_path / "missing.pem")
    click(panel.run_all)
    assert panel.report is None and "does not exist" in panel.message.value and "Traceback" not in panel.message.value


def test_ca_bundle_field_defaults_to_the_environment_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests._hostile import INTERCEPTOR_CA

    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(INTERCEPTOR_CA))
    panel = Panel(use_lab=False)
    panel.base_url.value = shared_lab().url("tls_interception")
    assert f"$SSL_CERT_FILE: {INTERCEPTOR_CA}" in panel.ca_bundle.placeholder and panel.ca_bundle.value == ""
    assert panel.target().ca_bundle == str(INTERCEPTOR_CA)


def test_bundle_button_writes_redacted_files(tmp_path: Path) -> None:
    panel = Panel(use_lab=True, scenario="rate_limited", out_dir=tmp_path)
    assert panel.bundle_button.disabled  # nothing to bundle before a run
    click(panel.run_all)
    panel.wait()
    click(panel.bundle_button)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["report.json", "support-bundle.json", "support-bundle.md"]
    assert "support-bundle.md" in panel.message.value
    assert json.loads((tmp_path / "report.json").read_text())["verdict"]["cause"] == "rate_limited"


def test_lab_switch_hides_the_real_target_fields() -> None:
    panel = Panel(use_lab=True)
    assert panel._real.layout.display == "none" and not panel.scenario.disabled
    panel.use_lab.value = False
    assert panel._real.layout.display == "" and panel.scenario.disabled


def test_dom_classes_the_browser_test_relies_on() -> None:
    panel = Panel(use_lab=True)
    assert "why403-panel" in panel._dom_classes
    assert "why403-run-all" in panel.run_all._dom_classes and "why403-verdict" in panel.verdict._dom_classes
    assert "why403-scenario" in panel.scenario._dom_classes


def test_status_lines_show_elapsed_time_while_a_slow_step_runs() -> None:
    from why403_kit import Lab

    seen: list[str] = []
    with Lab(latency_ms=600) as slow:
        panel = Panel(use_lab=False)
        panel.base_url.value = slow.url("ok")
        panel.key.value = "sk-proj-" + "x" * 40  # with a key, step 1 makes a live (slow) request
        panel.status["credentials"].observe(lambda ch: seen.append(ch["new"]), names="value")
        click(panel.run_all)
        assert panel.run_all.disabled  # no second run while one is out
        report = panel.wait()
    assert report is not None
    running = [s for s in seen if "running…" in s]
    assert any(" 0.0 s" not in s for s in running), running  # the clock advanced while the request was out
    assert "all 3 checks passed (" in seen[-1]


def test_export_button_writes_an_offline_runbook_with_the_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)  # the export's kernel inherits it; the page must not
    panel = Panel(use_lab=True, scenario="model_access_denied", out_dir=tmp_path)
    assert panel.export_button.disabled
    click(panel.run_all)
    panel.wait()
    click(panel.export_button)
    panel.wait()
    page = tmp_path / "runbook.html"
    assert page.is_file(), panel.message.value
    text = page.read_text()
    assert "model_access_denied" in text and CANARY not in text and "<script src" not in text
    assert "runbook.html" in panel.message.value and not panel.export_button.disabled
