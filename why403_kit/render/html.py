"""A report as HTML: the verdict box, the findings tables, the findings by step, the diagram with its caption.

The panel, the runbook notebook and the exporter all draw with these, so a report looks the same in JupyterLab
and in an exported page. What a notebook displays goes out as a :class:`View`: its HTML plus a small JSON record
of *what* it shows (``VIEW_MIME``), which the exporter reads instead of searching the HTML.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import knowledge
from ..model import Finding, Report, Verdict
from ..redact import redact, redact_obj
from .svg import DiagramSource, decision_path_svg, describe_path, verdict_of
from .theme import PALETTE, STATUS_STYLE

COLUMNS = ["step", "check", "status", "cause", "responder", "evidence", "fix"]
LABELS = {"responder": "answered by", "request_id": "request id", "http_status": "HTTP", "elapsed_ms": "ms", "cf_ray": "cf-ray"}
VIEW_MIME = "application/vnd.why403.view+json"  # what a displayed view shows, for the exporter (never rendered)


@dataclass(frozen=True)
class View:
    """HTML to display in a notebook, with a record of what it shows (``kind`` and data such as the verdict)."""

    kind: str  # "verdict" | "diagram" | "findings"
    html: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def _repr_html_(self) -> str:
        return self.html

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/html": self.html, "text/plain": repr(self), VIEW_MIME: redact_obj({"view": self.kind, **self.data})}

    def __repr__(self) -> str:
        return f"<why403 {self.kind} view>"


def _findings(source: Report | Iterable[Finding]) -> list[Finding]:
    return list(source.findings if isinstance(source, Report) else source)


def findings_styler(source: Report | Iterable[Finding], *, columns: list[str] | None = None) -> Any:
    """A pandas Styler of the findings: one row per check, the status cell coloured."""
    import pandas as pd

    cols = columns or COLUMNS
    kb = knowledge.load()
    titles = {s.id: s.title for s in kb.steps}
    rows = [{**f.to_dict(), "step": titles.get(f.step, f.step)} for f in _findings(source)]
    frame = pd.DataFrame(rows, columns=list(Finding.__dataclass_fields__))[cols]
    frame = frame.map(lambda v: redact(v) if isinstance(v, str) else v)
    styler = frame.style.hide(axis="index").relabel_index([LABELS.get(c, c) for c in cols], axis="columns")
    if "status" in cols:
        styler = styler.map(lambda s: STATUS_STYLE.get(str(s), ""), subset=["status"])
    styler = styler.set_table_attributes('class="why403-table"').set_table_styles([
        {"selector": "", "props": "border-collapse:collapse;font-size:13px;width:100%"},
        {"selector": "th", "props": f"text-align:left;background:{PALETTE['th-bg']};padding:4px 8px;border-bottom:2px solid {PALETTE['th-line']}"},
        {"selector": "td", "props": f"text-align:left;vertical-align:top;padding:4px 8px;border-bottom:1px solid {PALETTE['line']};"
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


def _decided_by(verdict: Verdict) -> str:
    """Which finding decided the verdict, in words (empty when none did)."""
    if not verdict.step:
        return ""
    kb = knowledge.load()
    title = next((s.title for s in kb.steps if s.id == verdict.step), verdict.step)
    facts = [f"{title}: {verdict.check}"]
    if verdict.http_status is not None:
        facts.append(f"HTTP {verdict.http_status}")
    if verdict.responder in kb.responders:
        facts.append(f"answered by {kb.responder(verdict.responder).label}")
    return "; ".join(facts)


def verdict_html(verdict: Verdict | None, *, running: bool = False) -> str:
    """The verdict box: most likely cause, what it means, the fix, and which check decided it."""
    if verdict is None:
        text = "Running…" if running else "No diagnosis yet: fill in the target (or use the training lab) and press <b>Run all steps</b>."
        return (f'<div class="why403-verdict-box" style="padding:8px 12px;border-left:6px solid {PALETTE["idle"]};'
                f'background:{PALETTE["idle-soft"]}">{text}</div>')
    ok = verdict.cause == "ok"
    colour, bg = (PALETTE["good"], PALETTE["good-soft"]) if ok else (PALETTE["bad"], PALETTE["bad-soft"])
    title = html.escape(verdict.title or verdict.cause)
    decided = _decided_by(verdict)
    return redact(
        f'<div class="why403-verdict-box" style="padding:8px 12px;border-left:6px solid {colour};background:{bg}">'
        f'<div style="font-size:15px"><b>Verdict:</b> <code>{html.escape(verdict.cause)}</code> · {title}'
        f' <span style="color:{PALETTE["muted"]}">(confidence {verdict.confidence:.0%})</span></div>'
        f'<div style="margin-top:4px">{html.escape(verdict.summary)}</div>'
        f'<div style="margin-top:4px"><b>Fix:</b> {html.escape(verdict.fix)}</div>'
        + (f'<div style="margin-top:4px;font-size:12px;color:{PALETTE["muted"]}">Decided by {html.escape(decided)}</div>' if decided else "")
        + "</div>"
    )


def diagram_html(source: DiagramSource) -> str:
    """The decision-path SVG with a caption, as one HTML block."""
    return (f'<figure class="why403-figure">{decision_path_svg(source)}'
            f"<figcaption><b>This diagnosis:</b> {html.escape(describe_path(source))}. The diagram reads left to right: the "
            "symptom, who answered, the cause; the highlighted path is the one found.</figcaption></figure>")


def step_sections_html(findings: Iterable[Finding]) -> str:
    """Findings grouped by step: title, what the step checks, then the same styled table the notebooks show."""
    items = list(findings)
    parts = ["<h2>Findings</h2>"]
    for step in knowledge.load().steps:
        rows = [f for f in items if f.step == step.id]
        parts.append(f"<h3>{html.escape(step.title)}</h3><p>{html.escape(step.explains)}</p>")
        parts.append(findings_html(rows, columns=["check", "status", "cause", "responder", "evidence", "request_id"]) if rows
                     else '<p class="why403-muted">No checks recorded for this step.</p>')
    return "".join(parts)


def verdict_view(verdict: Verdict) -> View:
    return View("verdict", verdict_html(verdict), {"verdict": verdict.to_dict()})


def diagram_view(source: DiagramSource) -> View:
    return View("diagram", diagram_html(source), {"verdict": verdict_of(source).to_dict()})


def findings_view(source: Report | Iterable[Finding], *, columns: list[str] | None = None, heading: str = "") -> View:
    items = _findings(source)
    return View("findings", heading + findings_html(items, columns=columns), {"count": len(items)})


__all__ = ["COLUMNS", "VIEW_MIME", "View", "diagram_html", "diagram_view", "findings_html", "findings_styler", "findings_view",
           "step_sections_html", "verdict_html", "verdict_view"]
