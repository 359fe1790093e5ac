"""Findings and verdicts as HTML: styled pandas tables that read the same in JupyterLab and exports."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from .. import knowledge
from ..model import Finding, Report, Verdict
from ..redact import redact

# Background / text colours per status; chosen to stay readable when printed in grey.
STATUS_STYLE = {
    "pass": "background-color:#e3f4e1;color:#1d5c1a",
    "warn": "background-color:#fff4cc;color:#6b4e00",
    "fail": "background-color:#fbdcdc;color:#8a1414;font-weight:bold",
    "error": "background-color:#f6c6c6;color:#7a0000;font-weight:bold",
    "skip": "background-color:#f0f0f0;color:#555555",
}
COLUMNS = ["step", "check", "status", "cause", "evidence", "fix"]


def _findings(source: Report | Iterable[Finding]) -> list[Finding]:
    return list(source.findings if isinstance(source, Report) else source)


def findings_styler(source: Report | Iterable[Finding], *, columns: list[str] | None = None) -> Any:
    """A pandas Styler of the findings: one row per check, the status cell coloured."""
    import pandas as pd

    cols = columns or COLUMNS
    titles = {s.id: s.title for s in knowledge.load().steps}
    rows = [{**f.to_dict(), "step": titles.get(f.step, f.step)} for f in _findings(source)]
    frame = pd.DataFrame(rows, columns=list(Finding.__dataclass_fields__))[cols]
    frame = frame.map(lambda v: redact(v) if isinstance(v, str) else v)
    styler = frame.style.hide(axis="index")
    if "status" in cols:
        styler = styler.map(lambda s: STATUS_STYLE.get(str(s), ""), subset=["status"])
    styler = styler.set_table_attributes('class="why403-table"').set_table_styles([
        {"selector": "", "props": "border-collapse:collapse;font-size:13px;width:100%"},
        {"selector": "th", "props": "text-align:left;background:#f3f4f6;padding:4px 8px;border-bottom:2px solid #d0d4da"},
        {"selector": "td", "props": "text-align:left;vertical-align:top;padding:4px 8px;border-bottom:1px solid #e5e7eb;"
                                    "white-space:normal;overflow-wrap:normal"},
    ])
    # Long URLs and header dumps may break anywhere; the short columns keep their words whole.
    long_cols = [c for c in ("evidence", "fix") if c in cols]
    if long_cols:
        styler = styler.set_table_styles({c: [{"selector": "td", "props": "overflow-wrap:anywhere;min-width:12em"}] for c in long_cols},
                                         overwrite=False)
    if "status" in cols:
        styler = styler.set_table_styles({"status": [{"selector": "td", "props": "white-space:nowrap"}]}, overwrite=False)
    return styler


def findings_html(source: Report | Iterable[Finding], *, columns: list[str] | None = None) -> str:
    """The styled findings table as one HTML string (empty-state message when there are none)."""
    items = _findings(source)
    if not items:
        return '<p class="why403-empty"><em>No findings yet.</em></p>'
    return redact(findings_styler(items, columns=columns).to_html())


def verdict_html(verdict: Verdict | None, *, running: bool = False) -> str:
    """The verdict box: most likely cause, what it means, and the fix, on top of everything else."""
    if verdict is None:
        text = "Running…" if running else "No diagnosis yet: fill in the target (or use the training lab) and press <b>Run all steps</b>."
        return f'<div class="why403-verdict-box" style="padding:8px 12px;border-left:6px solid #9ca3af;background:#f9fafb">{text}</div>'
    ok = verdict.cause == "ok"
    colour, bg = ("#15803d", "#ecfdf3") if ok else ("#b91c1c", "#fef2f2")
    title = html.escape(verdict.title or verdict.cause)
    return redact(
        f'<div class="why403-verdict-box" style="padding:8px 12px;border-left:6px solid {colour};background:{bg}">'
        f'<div style="font-size:15px"><b>Verdict:</b> <code>{html.escape(verdict.cause)}</code> · {title}'
        f' <span style="color:#6b7280">(confidence {verdict.confidence:.0%})</span></div>'
        f'<div style="margin-top:4px">{html.escape(verdict.summary)}</div>'
        f'<div style="margin-top:4px"><b>Fix:</b> {html.escape(verdict.fix)}</div></div>'
    )
