"""Real browser: JupyterLab on loopback, 01_diagnose.ipynb in headless Debian Chromium, the panel run on `edge_block`.

The server and the page come from tests/_browser.py (an isolated JupyterLab; every request beyond 127.0.0.1 aborted,
recorded, and failing the test). The screenshot is kept as artifacts/browser-01_diagnose-edge_block.png.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._browser import (
    ARTIFACTS,
    KERNEL_IDLE_MS,
    NOTEBOOKS,
    SHUTDOWN_S,
    VERDICT_MS,
    JupyterLab,
    _dismiss_toasts,
    loopback_page,
    open_notebook,
    run_all_cells,
    serve,
)
from tests.conftest import CANARY
from why403_kit import knowledge

pytestmark = pytest.mark.browser

NOTEBOOK = "01_diagnose.ipynb"
SCREENSHOT = ARTIFACTS / "browser-01_diagnose-edge_block.png"
ERROR_SHOT = ARTIFACTS / "browser-01_diagnose-input-error.png"
SCENARIO = "edge_block"


@pytest.fixture()
def jupyter_lab(tmp_path: Path) -> Iterator[JupyterLab]:
    if not (NOTEBOOKS / NOTEBOOK).is_file():
        pytest.fail(f"{NOTEBOOKS / NOTEBOOK} is missing")
    with serve(tmp_path) as server:
        yield server


@pytest.mark.timeout(600)  # the bounded waits below add up to more than the suite's default 300 s in the worst case
def test_panel_runs_edge_block_in_real_browser(jupyter_lab: JupyterLab) -> None:
    from playwright.sync_api import expect

    t0 = time.monotonic()
    ARTIFACTS.mkdir(exist_ok=True)
    failure_shot = ARTIFACTS / "browser-01_diagnose-failure.png"
    for stale in (SCREENSHOT, ERROR_SHOT):  # a screenshot left by an earlier run proves nothing
        stale.unlink(missing_ok=True)
    with loopback_page(1400, failure_shot=failure_shot, server=jupyter_lab) as (page, traffic):
        kernel_id = open_notebook(page, jupyter_lab, NOTEBOOK)
        expect(page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\| Idle"))).to_be_visible(timeout=KERNEL_IDLE_MS)
        sessions = jupyter_lab.sessions()
        assert [s["kernel"]["id"] for s in sessions] == [kernel_id], f"the page did not attach to the started kernel: {sessions}"
        _dismiss_toasts(page)

        # Run > Run All Cells; every cell finishes (the notebook's own run cells included) before the panel is touched
        panel = run_all_cells(page, ".why403-panel")
        verdict = panel.locator(".why403-verdict")
        expect(verdict).to_be_attached()  # may be empty (zero height) until a run
        expect(verdict).not_to_contain_text(SCENARIO)  # nothing stale: the verdict must come from this run

        use_lab = panel.locator(".why403-use-lab input[type=checkbox]")
        expect(use_lab).to_be_checked()  # no key in the server's environment: the lab is the default

        select = panel.locator(".why403-scenario select")
        labels = [t.strip() for t in select.locator("option").all_text_contents()]
        label = SCENARIO if SCENARIO in labels else next((t for t in labels if SCENARIO in t), None)
        assert label is not None, f"{SCENARIO} not among the scenario options: {labels}"
        select.select_option(label=label)
        expect(select).to_have_value(re.compile(SCENARIO))

        panel.locator("button.why403-run-all, .why403-run-all button").first.click()
        expect(verdict).to_contain_text(SCENARIO, timeout=VERDICT_MS)
        expect(verdict).to_contain_text(knowledge.load().cause(SCENARIO).title)
        # the verdict's summary and fix read as prose, not double-spaced (ipywidgets' 28 px row height)
        spacing = verdict.locator(".why403-verdict-box > div").nth(1).evaluate(
            "e => parseFloat(getComputedStyle(e).lineHeight) / parseFloat(getComputedStyle(e).fontSize)")
        assert spacing <= 1.6, spacing
        expect(panel.locator(".why403-findings table tr").nth(1)).to_be_attached()
        steps = knowledge.load().steps
        statuses = panel.locator(".why403-step-status")
        expect(statuses).to_have_count(len(steps))  # one line per step
        # statuses in plain words, never "worst: fail"
        expect(statuses.first).to_contain_text("1 check failed, 2 passed")
        assert not any("worst" in t for t in statuses.all_inner_texts())
        # the findings grouped by step (a heading row each, in order), the fix said once, the ids visible
        groups = panel.locator(".why403-findings tr.why403-group")
        expect(groups).to_have_count(len(steps))
        assert [t.split(" ·")[0].strip() for t in groups.all_inner_texts()] == [s.title for s in steps]
        findings_text = panel.locator(".why403-findings").inner_text()
        assert "cf-ray 8f00lab000000000-AMS" in findings_text and "req_lab" in findings_text
        assert findings_text.count(knowledge.load().cause(SCENARIO).fix) == 1
        # the step buttons look like buttons: a visible border and a pointer, not flat grey chips
        looks = panel.locator(".why403-run-step").first.evaluate(
            "b => { const s = getComputedStyle(b); return [s.borderTopWidth, s.borderTopStyle, s.cursor, s.boxShadow]; }")
        assert float(looks[0].removesuffix("px")) >= 1 and looks[1] == "solid" and looks[2] == "pointer" and looks[3] != "none", looks

        # no cell raised (JupyterLab renders an error output as stderr text holding the traceback or "Name: value")
        errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]',
                              has_text=re.compile(r"Traceback|\w+(Error|Exception)\b"))
        assert errors.count() == 0, errors.first.inner_text()

        _dismiss_toasts(page)
        panel.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOT), full_page=True)

        # A key typed into the Password field leaves the page and the saved notebook at once,
        # even with "save widget state" switched on.
        use_lab.uncheck()
        key = panel.locator(".why403-key input")
        key.fill(CANARY)
        key.press("Enter")
        expect(key).to_have_value("", timeout=VERDICT_MS)
        expect(panel).to_contain_text("key held in memory")
        # the widget input swallows keyboard shortcuts: save with the notebook toolbar's button
        page.locator('.jp-NotebookPanel-toolbar [data-command="docmanager:save"]').first.click()
        saved = jupyter_lab.root / NOTEBOOK
        deadline = time.monotonic() + 60
        while '"widgets"' not in saved.read_text() and time.monotonic() < deadline:
            page.wait_for_timeout(250)  # poll interval that keeps the routed page alive
        text = saved.read_text()
        assert '"application/vnd.jupyter.widget-state+json"' in text, "widget state was not saved: the check would prove nothing"
        assert CANARY not in text and CANARY not in page.content()

        # An input error replaces the old verdict and findings instead of sitting under them.
        base_url = panel.locator(".why403-base-url input")
        base_url.fill("not a url")
        base_url.press("Tab")
        panel.locator("button.why403-run-all, .why403-run-all button").first.click()
        expect(panel.locator(".why403-message")).to_contain_text("base URL", timeout=VERDICT_MS)
        expect(verdict).not_to_contain_text(SCENARIO)
        expect(verdict).to_contain_text("No diagnosis yet")
        expect(panel.locator(".why403-findings")).to_contain_text("No findings yet")
        expect(panel.locator(".why403-findings tr")).to_have_count(0)
        expect(panel.locator(".why403-bundle button, button.why403-bundle").first).to_be_disabled()
        _dismiss_toasts(page)
        panel.scroll_into_view_if_needed()
        page.screenshot(path=str(ERROR_SHOT), full_page=True)

    assert traffic.seen, "the gate saw no request at all: the route was not installed"
    assert traffic.external == [], f"the page tried to reach beyond loopback: {sorted(set(traffic.external))}"
    assert SCREENSHOT.stat().st_size > 10_000

    rc, clean = jupyter_lab.stop()
    assert clean, f"jupyter lab ignored SIGTERM for {SHUTDOWN_S}s and was killed:\n{jupyter_lab.log_tail()}"
    assert rc == 0, f"jupyter lab exited with {rc}:\n{jupyter_lab.log_tail()}"
    assert jupyter_lab.kernel_files() == [], f"kernels left behind: {jupyter_lab.kernel_files()}"
    print(f"browser test body: {time.monotonic() - t0:.1f}s")
