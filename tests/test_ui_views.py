"""Runbook, FAQ, training board and plots: the notebooks' building blocks, tested without a kernel."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from why403_kit import knowledge
from why403_kit.errors import InputError
from why403_kit.render import findings_html, verdict_html
from why403_kit.runner import step_ids
from why403_kit.ui import Runbook, target_for
from why403_kit.ui.faq import faq_html
from why403_kit.ui.plots import backoff_figure, headroom, headroom_figure
from why403_kit.ui.training import TrainingLab


def test_runbook_runs_each_step_and_reaches_the_verdict() -> None:
    rb = Runbook(target_for(use_lab=True, lab_scenario="quota_exceeded"))
    for step in step_ids():
        rb.run_step(step)
    assert set(rb.findings) == set(step_ids())
    assert rb.report.verdict.cause == "quota_exceeded"
    assert any("quota" in f.evidence.lower() or f.cause == "quota_exceeded" for f in rb.findings["ratelimits"] + rb.findings["credentials"])


def test_runbook_replays_a_saved_report_without_probing(tmp_path: Path) -> None:
    rb = Runbook(target_for(use_lab=True, lab_scenario="ip_not_allowed"))
    for step in step_ids():
        rb.run_step(step)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(rb.report.to_dict()))
    replay = Runbook.from_report(path)
    assert replay.run_step("credentials") == rb.findings["credentials"]
    assert replay.report.verdict.cause == "ip_not_allowed"


def test_runbook_rejects_unknown_steps_and_unreadable_reports(tmp_path: Path) -> None:
    rb = Runbook(target_for(use_lab=True))
    with pytest.raises(InputError, match="unknown step"):
        rb.run_step("dns")
    (tmp_path / "r.json").write_text("<html>not json</html>")
    with pytest.raises(InputError, match="cannot read report"):
        Runbook.from_report(tmp_path / "r.json")
    with pytest.raises(InputError, match="unknown lab scenario"):
        target_for(use_lab=True, lab_scenario="nope")


def test_tables_colour_status_and_escape_evidence() -> None:
    rb = Runbook(target_for(use_lab=True, lab_scenario="edge_block"))
    html = findings_html(rb.run_step("credentials"))
    assert "why403-table" in html and "#fbdcdc" in html  # a fail cell is coloured
    assert "<title>" not in html  # the HTML page the edge sent is shown as text, not markup
    assert "No diagnosis yet" in verdict_html(None)


def test_faq_renders_every_question_with_live_examples() -> None:
    page = faq_html()
    kb = knowledge.load()
    for entry in kb.faq:
        assert entry.q.replace("'", "&#x27;") in page
    assert page.count("Live, from the lab") >= len(kb.faq) - 2
    pairs = re.findall(r"from the lab</b> \(<code>(\w+)</code>\).*?classified as <code>(\w+)</code>", page)
    assert len(pairs) >= len(kb.faq) - 2
    assert all(played == classified for played, classified in pairs), pairs


def test_training_board_scores_answers() -> None:
    board = TrainingLab(seed=3)
    first = board.new_mystery()
    assert first.scenario not in repr(first)  # printing the mystery spoils nothing
    assert board.check(first.scenario) is True
    second = board.new_mystery()
    assert board.check("unknown") is (second.scenario == "unknown")
    assert board.score_text() == f"{1 + (second.scenario == 'unknown')} / 2 mysteries solved"
    assert "Score" in board.score.value


def test_headroom_and_plots_read_rate_limit_headers() -> None:
    headers = {"x-ratelimit-limit-tokens": "30000", "x-ratelimit-remaining-tokens": "7500", "x-ratelimit-reset-tokens": "6m0s",
               "x-ratelimit-limit-requests": "-1", "retry-after": "3"}
    hr = headroom(headers)
    assert hr["tokens"] == {"limit": 30000.0, "remaining": 7500.0, "reset_s": 360.0}
    assert hr["requests"]["limit"] == -1.0 and hr["requests"]["remaining"] is None
    import matplotlib

    matplotlib.use("Agg")
    fig = headroom_figure({"sample": headers})
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert "25%" in labels  # 7500 of 30000 tokens left
    fig2 = backoff_figure(headers)
    assert any("Retry-After = 3 s" in t.get_text() for t in fig2.axes[0].get_legend().get_texts())
