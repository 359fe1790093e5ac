"""Real browser: 02_runbook.ipynb run in JupyterLab (headless Debian Chromium), its tables measured as drawn.

JupyterLab's output CSS sets ``table-layout: fixed`` on every table in an HTML output (``.jp-RenderedHTMLCommon
table``): a table without its own layout then splits the width evenly, so the evidence column got as little room as
an empty cause column. The screenshot is kept as artifacts/browser-02_runbook.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._browser import ARTIFACTS, JupyterLab, _dismiss_toasts, loopback_page, open_notebook, run_all_cells, serve

pytestmark = pytest.mark.browser
NOTEBOOK = "02_runbook.ipynb"
SHOT = ARTIFACTS / "browser-02_runbook.png"
# Each findings table in the notebook: the width of every header cell, by its label, and the table's layout.
WIDTHS = """() => Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-OutputArea .why403-findings-table')).map(t => ({
    layout: getComputedStyle(t).tableLayout,
    widths: Object.fromEntries(Array.from(t.querySelectorAll('thead th')).map(th => [th.textContent, th.getBoundingClientRect().width])),
}))"""


@pytest.fixture()
def jupyter_lab(tmp_path: Path) -> Iterator[JupyterLab]:
    with serve(tmp_path) as server:
        yield server


@pytest.mark.timeout(600)
def test_runbook_tables_give_the_evidence_the_room(jupyter_lab: JupyterLab) -> None:
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    SHOT.unlink(missing_ok=True)
    with loopback_page(1280, failure_shot=ARTIFACTS / "browser-02_runbook-failure.png", server=jupyter_lab) as (page, traffic):
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
    assert traffic.seen and traffic.external == [], f"the page asked for something off loopback: {traffic.external}"
