"""Real browser: 02_runbook.ipynb run in JupyterLab (headless Debian Chromium), its tables measured as drawn.

JupyterLab's output CSS sets ``table-layout: fixed`` on every table in an HTML output (``.jp-RenderedHTMLCommon
table``): a table without its own layout then splits the width evenly, so the evidence column got as little room as
an empty cause column. The screenshot is kept as artifacts/browser-02_runbook.png.
"""

from __future__ import annotations

import pytest

from tests.test_browser_lab import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    JupyterLab,
    _dismiss_toasts,
    _is_loopback,
    open_notebook,
    run_all_cells,
)

pytestmark = pytest.mark.browser
NOTEBOOK = "02_runbook.ipynb"
SHOT = ARTIFACTS / "browser-02_runbook.png"
# Each findings table in the notebook: the width of every header cell, by its label, and the table's layout.
WIDTHS = """() => Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-OutputArea .why403-findings-table')).map(t => ({
    layout: getComputedStyle(t).tableLayout,
    widths: Object.fromEntries(Array.from(t.querySelectorAll('thead th')).map(th => [th.textContent, th.getBoundingClientRect().width])),
}))"""


@pytest.fixture()
def jupyter_lab(tmp_path):  # type: ignore[no-untyped-def]
    server = JupyterLab(tmp_path)
    try:
        server.start()
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.stop()


@pytest.mark.timeout(600)
def test_runbook_tables_give_the_evidence_the_room(jupyter_lab: JupyterLab) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does it)")
    from playwright.sync_api import Route, expect, sync_playwright

    external: list[str] = []

    def gate(route: Route) -> None:
        if _is_loopback(route.request.url):
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    ARTIFACTS.mkdir(exist_ok=True)
    SHOT.unlink(missing_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            context.route("**/*", gate)
            page = context.new_page()
            page.set_default_timeout(60_000)
            open_notebook(page, jupyter_lab, NOTEBOOK)
            _dismiss_toasts(page)
            run_all_cells(page, ".jp-OutputArea .why403-summary")
            tables = page.evaluate(WIDTHS)
            assert len(tables) >= 6, tables  # one per step
            for table in tables:
                widths = table["widths"]
                evidence = widths.pop("evidence")
                assert table["layout"] == "auto", table
                assert all(evidence > 1.5 * w for w in widths.values()), table  # the text column is the widest, by far
            first = page.locator(".jp-OutputArea .why403-findings-table").first
            first.scroll_into_view_if_needed()
            expect(first).to_be_visible()
            page.screenshot(path=str(SHOT))
        finally:
            browser.close()
    assert not external, f"the page asked for something off loopback: {external}"
