"""Real browser: the DataFrame tables of 06_triage.ipynb and 01_diagnose.ipynb in JupyterLab (headless Debian Chromium), measured.

What a newcomer saw: shares as 0.1241, ISO times wrapping over two lines, the per-cause table scrolling sideways, and
01's findings with the evidence cut at 50 characters. Now: percentages, short times on one line, long text wrapping
inside its cell, and every table within the output's width. The screenshot is kept as artifacts/browser-06_triage.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._browser import ARTIFACTS, JupyterLab, _dismiss_toasts, loopback_page, open_notebook, run_all_cells, serve

pytestmark = pytest.mark.browser
SHOT = ARTIFACTS / "browser-06_triage.png"
STYLED = ".jp-NotebookPanel .jp-OutputArea-output table[id^='T_']"
# Every styled table in the notebook: its headers, each cell's text and how many lines it is drawn on, whether a cell's
# content overflows it, and whether the output area around the table scrolls sideways.
TABLES = """(selector) => Array.from(document.querySelectorAll(selector)).map(t => {
    const out = t.closest('.jp-OutputArea-output');
    const lines = el => {
        const range = document.createRange();
        range.selectNodeContents(el);
        return new Set(Array.from(range.getClientRects()).filter(r => r.width > 0).map(r => Math.round(r.top))).size;
    };
    return {
        heads: Array.from(t.querySelectorAll('thead th')).map(th => th.textContent.trim()),
        widths: Array.from(t.querySelectorAll('thead th')).map(th => Math.round(th.getBoundingClientRect().width)),
        rows: Array.from(t.querySelectorAll('tbody tr')).map(tr => Array.from(tr.querySelectorAll('td')).map(td => ({
            text: td.textContent, lines: lines(td), overflows: td.scrollWidth > td.clientWidth + 1}))),
        outWidth: out.clientWidth, outScroll: out.scrollWidth,
    };
})"""


@pytest.fixture()
def jupyter_lab(tmp_path: Path) -> Iterator[JupyterLab]:
    with serve(tmp_path) as server:
        yield server


def _column(table: dict[str, Any], name: str) -> list[dict[str, Any]]:
    at = table["heads"].index(name)
    return [row[at] for row in table["rows"]]


def _fits(table: dict[str, Any]) -> None:
    assert table["outScroll"] <= table["outWidth"] + 1, f"scrolls sideways: {table['outScroll']} > {table['outWidth']}"
    assert not any(cell["overflows"] for row in table["rows"] for cell in row), table


def _run_in_browser(jupyter_lab: JupyterLab, notebook: str, shot: Path | None = None) -> list[dict[str, Any]]:
    """Open ``notebook`` in JupyterLab, Run All as a user does, and measure its styled tables (only loopback is reachable)."""
    failure = ARTIFACTS / f"browser-{Path(notebook).stem}-tables-failure.png"
    # 1280 px: the file browser open beside the notebook
    with loopback_page(1280, failure_shot=failure, server=jupyter_lab) as (page, traffic):
        open_notebook(page, jupyter_lab, notebook)
        _dismiss_toasts(page)
        run_all_cells(page, STYLED)
        tables: list[dict[str, Any]] = page.evaluate(TABLES, STYLED)
        if shot is not None:
            ARTIFACTS.mkdir(exist_ok=True)
            page.locator(STYLED).first.scroll_into_view_if_needed()
            page.screenshot(path=str(shot))
    assert traffic.seen and not traffic.external, f"the page asked for something off loopback: {traffic.external}"
    return tables


@pytest.mark.timeout(600)
def test_the_triage_tables_show_percentages_short_times_and_fit_the_notebook(jupyter_lab: JupyterLab) -> None:
    SHOT.unlink(missing_ok=True)
    tables = _run_in_browser(jupyter_lab, "06_triage.ipynb", SHOT)
    per_cause = next(t for t in tables if "share" in t["heads"])
    assert len(per_cause["rows"]) > 5, per_cause
    assert all(re.fullmatch(r"\d{1,3}\.\d%", c["text"]) for c in _column(per_cause, "share")), _column(per_cause, "share")
    for name in ("first_seen", "last_seen"):
        seen = _column(per_cause, name)
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", c["text"]) and c["lines"] == 1 for c in seen), seen
    _fits(per_cause)
    fixes = next(t for t in tables if "example" in t["heads"])
    examples = _column(fixes, "example")
    assert max(c["lines"] for c in examples) > 1, examples  # long text wraps in its cell...
    _fits(fixes)  # ...and the table keeps to the notebook's width


@pytest.mark.timeout(600)
def test_the_diagnose_findings_show_the_evidence_whole_and_fit_the_notebook(jupyter_lab: JupyterLab) -> None:
    findings = next(t for t in _run_in_browser(jupyter_lab, "01_diagnose.ipynb", ARTIFACTS / "browser-01_diagnose-findings.png") if "evidence" in t["heads"])
    evidence = [c["text"] for c in _column(findings, "evidence")]
    assert evidence and max(map(len, evidence)) > 60 and not any(e.rstrip().endswith(("...", "…")) for e in evidence), evidence
    _fits(findings)
