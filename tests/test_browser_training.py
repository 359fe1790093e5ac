"""Real browser: 04_training_lab.ipynb in JupyterLab as a trainer and a trainee use it.

Run All must answer nothing (no verdict, no score, no cause named anywhere a trainee looks, opaque URLs); New mystery
must bring the new mystery's evidence; a hint and an answer then show on the board, with the score. The isolated
JupyterLab and the page of tests/_browser.py: every request beyond 127.0.0.1 is aborted and fails the test. Screenshots:
artifacts/browser-04_training-run-all.png and artifacts/browser-04_training-answered.png.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._browser import (
    ARTIFACTS,
    NOTEBOOKS,
    PANEL_MS,
    JupyterLab,
    _dismiss_toasts,
    loopback_page,
    open_notebook,
    run_all_cells,
    serve,
)
from tests.test_classroom import named_causes, provider_says
from why403_kit import knowledge
from why403_kit.lab import LAB_CA, deal

pytestmark = pytest.mark.browser
NOTEBOOK = "04_training_lab.ipynb"
RUN_ALL_SHOT = ARTIFACTS / "browser-04_training-run-all.png"
ANSWERED_SHOT = ARTIFACTS / "browser-04_training-answered.png"
OPAQUE = re.compile(r"https://127\.0\.0\.1:\d+/t/[A-Za-z0-9_-]{16}/v1")  # every mystery alike: https, its own port, a token
# Text of every output area, select menus left out (the answer picker lists every cause by design).
OUTPUT_TEXT = """() => Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-OutputArea')).map(area => {
    const copy = area.cloneNode(true); copy.querySelectorAll('select').forEach(s => s.remove()); return copy.innerText; }).join('\\n')"""


def _class_seed() -> int:
    import nbformat

    nb = nbformat.read(NOTEBOOKS / NOTEBOOK, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    match = re.search(r"class_seed = (\d+)", cell.source)
    assert match, cell.source
    return int(match.group(1))


@pytest.fixture()
def jupyter_lab(tmp_path: Path) -> Iterator[JupyterLab]:
    with serve(tmp_path) as server:
        yield server


@pytest.mark.timeout(600)
def test_training_notebook_answers_nothing_until_a_trainee_does(jupyter_lab: JupyterLab) -> None:
    from playwright.sync_api import expect

    first, second = deal(_class_seed(), 2)
    kb = knowledge.load()
    ARTIFACTS.mkdir(exist_ok=True)
    for stale in (RUN_ALL_SHOT, ANSWERED_SHOT):
        stale.unlink(missing_ok=True)
    with loopback_page(1400, failure_shot=ARTIFACTS / "browser-04_training-failure.png", server=jupyter_lab) as (page, traffic):
        open_notebook(page, jupyter_lab, NOTEBOOK)
        _dismiss_toasts(page)

        # The trainer: Run > Run All Cells, then every cell finished
        board = run_all_cells(page, ".why403-training")

        expect(board.locator(".why403-mystery")).to_contain_text("Mystery #1")
        expect(board.locator(".why403-mystery")).to_contain_text("Any key works")
        expect(board.locator(".why403-mystery")).to_contain_text(f"--ca-bundle {LAB_CA}")  # to diagnose it by hand
        note = board.locator(".why403-mystery .widget-html-content > div", has_text="Any key works")
        spacing = note.evaluate("e => parseFloat(getComputedStyle(e).lineHeight) / parseFloat(getComputedStyle(e).fontSize)")
        assert spacing <= 1.6, spacing  # ipywidgets' 28 px row height gave the 12 px note double spacing
        expect(board.locator(".why403-evidence table tr").nth(1)).to_be_visible()
        expect(board.locator(".why403-score")).to_have_text("")
        expect(board.locator(".why403-feedback")).to_have_text("")
        shown = page.evaluate(OUTPUT_TEXT)
        for giveaway in ("Right", "Not quite", "Score", "points"):
            assert giveaway not in shown, giveaway
        assert named_causes(shown) <= provider_says(first), (first, named_causes(shown))
        urls = re.findall(r"https?://127\.0\.0\.1:\d+/\S*", shown)
        assert urls and all(OPAQUE.match(u) for u in urls), urls
        first_url = OPAQUE.search(board.locator(".why403-mystery").inner_text())
        assert first_url is not None
        # the training panel's picker lists mysteries by number, never a cause
        picker = page.locator(".why403-panel .why403-scenario select option")
        assert [t.replace("\xa0", " ") for t in picker.all_text_contents()] == ["mystery #1"]  # ipywidgets shows nbsp
        _dismiss_toasts(page)
        board.scroll_into_view_if_needed()
        page.screenshot(path=str(RUN_ALL_SHOT))

        # The trainee: New mystery brings mystery #2 and its own evidence
        board.locator(".why403-new-mystery").first.click()
        expect(board.locator(".why403-mystery")).to_contain_text("Mystery #2", timeout=PANEL_MS)
        expect(board.locator(".why403-evidence")).to_contain_text("Evidence for mystery #2", timeout=PANEL_MS)
        second_url = OPAQUE.search(board.locator(".why403-mystery").inner_text())
        assert second_url is not None and second_url.group(0) != first_url.group(0)
        assert first_url.group(0) not in board.inner_text()
        expect(board.locator(".why403-feedback")).to_contain_text("#1 was left without an answer")
        expect(picker).to_have_count(2)

        # a hint, then the right answer: feedback and score appear, the hint is counted
        board.locator(".why403-hint").first.click()
        expect(board.locator(".why403-hints")).to_contain_text("HTTP status")
        expect(board.locator(".why403-hint").first).to_contain_text("Hint 2 of 4")
        assert named_causes(page.evaluate(OUTPUT_TEXT)) <= provider_says(second)
        answer = board.locator(".why403-answer select")
        labels = [t.replace("\xa0", " ") for t in answer.locator("option").all_text_contents()]
        answer.select_option(index=labels.index(f"{second}: {kb.cause(second).title}"))
        board.locator(".why403-check").first.click()
        expect(board.locator(".why403-feedback")).to_contain_text("Right", timeout=PANEL_MS)
        expect(board.locator(".why403-score")).to_contain_text("3 of 8 points · 1 of 1 solved · 1 hint used · 1 skipped")
        _dismiss_toasts(page)
        board.scroll_into_view_if_needed()
        page.screenshot(path=str(ANSWERED_SHOT))
    assert traffic.external == [], f"the page tried to reach beyond loopback: {sorted(set(traffic.external))}"
    t0 = time.monotonic()
    rc, clean = jupyter_lab.stop()
    assert clean and rc == 0, f"jupyter lab did not stop cleanly ({rc}) in {time.monotonic() - t0:.1f}s:\n{jupyter_lab.log_tail()}"
