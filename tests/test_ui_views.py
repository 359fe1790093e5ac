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


def _board_text(board: TrainingLab) -> str:
    """Everything the board shows a trainee (its widgets' HTML and labels, their reprs), but the answer picker, which
    lists every cause by design."""
    parts = (board.header, board.evidence, board.hints, board.feedback, board.score, board.hint_button, board.new_button)
    shown = [w.value if hasattr(w, "value") else w.description for w in parts] + [repr(w) for w in parts] + [repr(board.current)]
    return "\n".join(shown)


def test_training_board_shows_evidence_but_never_the_answer_until_one_is_given() -> None:
    from tests.test_classroom import named_causes, provider_says

    board = TrainingLab(seed=5)
    first = board.current
    assert first is not None and first.number == 1
    text = _board_text(board)
    assert "Mystery #1" in text and "/t/" in board.header.value and "Any key works" in board.header.value
    from why403_kit.lab import LAB_CA

    # how to diagnose it by hand: every mystery is https, verified with the lab's CA (the command is ready to paste)
    header_text = re.sub(r"<[^>]+>", "", board.header.value)
    assert f"why403 diagnose --base-url {first.target.base_url} --ca-bundle {LAB_CA}" in header_text
    assert "<table" in board.evidence.value and "request id / cf-ray" in board.evidence.value
    assert named_causes(text) <= provider_says(first.scenario)  # no cause named unless the lab's answer itself says it
    assert board.score.value == "" and board.feedback.value == ""  # no answer, no score: nothing answered for the trainee
    assert "Right" not in text and "Not quite" not in text

    board.hint()
    assert "HTTP status" in board.hints.value and "Hint 2 of 4" in board.hint_button.description
    assert board.check_button.disabled  # no answer picked yet
    board.answer.value = first.scenario
    assert not board.check_button.disabled
    board.check_button.click()
    assert "Right" in board.feedback.value and "3 of 4 points" in board.feedback.value
    assert "3 of 4 points · 1 of 1 solved · 1 hint used" in board.score.value
    assert board.check_button.disabled and board.hint_button.disabled


def test_new_mystery_refreshes_the_evidence_and_a_skipped_one_is_said() -> None:
    board = TrainingLab(seed=9)
    first_evidence, first_url = board.evidence.value, board.current.target.base_url if board.current else ""
    board.new_button.click()
    second = board.current
    assert second is not None and second.number == 2
    assert "Mystery #2" in board.header.value and "mystery #2" in board.evidence.value
    assert board.evidence.value != first_evidence and first_url not in board.evidence.value + board.header.value
    assert second.target.base_url in board.header.value
    assert "#1 was left without an answer" in board.feedback.value and "skipped" in board.feedback.value
    assert board.score.value == ""  # still nothing answered
    board.check(next(c for c in knowledge.load().causes if c != second.scenario))
    assert "Not quite" in board.feedback.value and "0 of 8 points · 0 of 1 solved · 0 hints used · 1 skipped" in board.score.value


def test_running_the_board_cell_again_keeps_the_session() -> None:
    from why403_kit.ui.training import training_board

    board = training_board(seed=424242)
    mystery = board.current
    again = training_board(seed=424242)
    assert again is board and again.current is mystery and len(board.mysteries) == 1  # no mystery silently skipped


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
    assert any("first retry after 3 s (Retry-After 3)" in t.get_text() for t in fig2.axes[0].get_legend().get_texts())


def test_the_faq_masks_an_answer_before_cutting_it() -> None:
    import secrets

    from why403_kit import Secret
    from why403_kit.ui.faq import answer_head

    from ._leaks import leaks

    key = secrets.token_hex(16)  # an Azure-shaped key: nothing but the live registry recognises it
    Secret(key)
    body = "x" * 200 + " key " + key + " and the rest of the page"  # the first 220 characters keep 15 of its 32
    assert not leaks(answer_head(body), key)
    assert answer_head("<b>short</b>") == "&lt;b&gt;short&lt;/b&gt;"
