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
from ..model import REQUEST_ID_HEADERS, Exchange, Finding, Report, Verdict
from ..redact import redact, redact_obj
from .svg import DiagramSource, decision_path_narrow_svg, decision_path_svg, describe_path, verdict_of
from .theme import PALETTE, STATUS_STYLE
from .words import PROBLEMS, decided_by, fixes, status_words, worst_status

# The HTML table: the step is a heading row, the fix is said once per cause below it, ids have their own column.
TABLE_COLUMNS = ["step", "check", "status", "cause", "responder", "evidence", "ids"]
STEP_COLUMNS = TABLE_COLUMNS[1:]  # under a heading that already names the step
LABELS = {"responder": "answered by", "request_id": "request id", "http_status": "HTTP", "elapsed_ms": "ms", "cf_ray": "cf-ray",
          "ids": "request id / cf-ray"}
# Headers the wire table leaves out: transport noise, and cf-ray, which has the ids column (as has the request id, whichever
# of REQUEST_ID_HEADERS carried it: see _headers_cell).
_QUIET_HEADERS = frozenset({"date", "content-length", "connection", "cf-ray", "keep-alive"})
VIEW_MIME = "application/vnd.why403.view+json"  # what a displayed view shows, for the exporter (never rendered)
# One look for every table the views draw (findings, what the wire answered, the summary by step).
_TD = f"text-align:left;vertical-align:top;padding:3px 6px;line-height:1.35;border-bottom:1px solid {PALETTE['line']}"
_TH = f"text-align:left;padding:3px 6px;background:{PALETTE['th-bg']};border-bottom:2px solid {PALETTE['th-line']};white-space:nowrap"
# The table itself: its own layout, since JupyterLab's output CSS fixes it (`.jp-RenderedHTMLCommon table {table-layout: fixed}`),
# which splits the width evenly and leaves the evidence as narrow as an empty column.
_TABLE = "border-collapse:collapse;table-layout:auto;width:100%"


def _head(labels: Iterable[str]) -> str:
    """The header cells of a table (labels are escaped)."""
    return "".join(f'<th style="{_TH}">{html.escape(label)}</th>' for label in labels)


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


def _ids_cell(f: Finding) -> str:
    """Request id and cf-ray, what a provider's support asks for, one per line."""
    parts = [f'<span class="why403-rid">{html.escape(f.request_id)}</span>'] if f.request_id else []
    parts += [f'<span class="why403-rid">cf-ray {html.escape(f.cf_ray)}</span>'] if f.cf_ray else []
    return "<br>".join(parts)


def _cell(f: Finding, column: str, kb: knowledge.Knowledge) -> str:
    if column == "status":
        return html.escape(f.status)
    if column == "step":
        return html.escape(kb.step_title(f.step))
    if column == "cause":
        return f'<code class="why403-id">{html.escape(f.cause)}</code>' if f.cause else ""
    if column == "responder":
        return html.escape(kb.responders[f.responder].label if f.responder in kb.responders else f.responder)
    if column == "ids":
        return _ids_cell(f)
    value = getattr(f, column, "")
    return "" if value is None else html.escape(str(value))


def _fixes_html(findings: Iterable[Finding]) -> str:
    """The fix once per cause the failing and warning checks name (a table row would repeat it on every check)."""
    found = fixes(findings)
    if not found:
        return ""
    lines = [f'<li><code class="why403-id">{html.escape(fx.cause)}</code> <span class="why403-muted">({fx.checks} '
             f'check{"s" if fx.checks > 1 else ""})</span>: {html.escape(fx.fix)}</li>' for fx in found]
    return (f'<div class="why403-fixes" style="margin:4px 0 8px;font-size:13px"><b>Fix</b>'
            f'<ul style="margin:2px 0 0;padding-left:20px">{"".join(lines)}</ul></div>')


def findings_html(source: Report | Iterable[Finding], *, columns: list[str] | None = None, group: bool = True,
                  with_fixes: bool = True) -> str:
    """The findings as one compact table, grouped by step (a heading row with the step's result in words), then
    each cause's fix once. Request ids and cf-ray have their own column, where support asks for them."""
    items = _findings(source)
    if not items:
        return '<p class="why403-empty"><em>No findings yet.</em></p>'
    kb = knowledge.load()
    cols = [c for c in (columns or TABLE_COLUMNS) if not (group and c == "step")]
    head = _head(LABELS.get(c, c) for c in cols)
    order = [s.id for s in kb.steps]
    steps = sorted({f.step for f in items}, key=lambda s: order.index(s) if s in order else len(order)) if group else [""]
    body = []
    for step in steps:
        rows = [f for f in items if f.step == step] if group else items
        if group:
            body.append(f'<tr class="why403-group"><th colspan="{len(cols)}" style="text-align:left;padding:6px 6px 2px;'
                        f'border-bottom:1px solid {PALETTE["th-line"]}">{html.escape(kb.step_title(step))}'
                        f' <span style="font-weight:normal;color:{PALETTE["muted"]}">· {html.escape(status_words(rows))}</span></th></tr>')
        for f in rows:
            cells = []
            for c in cols:
                style = _TD + (";" + STATUS_STYLE.get(f.status, "") + ";white-space:nowrap" if c == "status" else "")
                style += ";overflow-wrap:anywhere;min-width:12em" if c == "evidence" else ""
                style += ";font-family:monospace;font-size:11px;overflow-wrap:anywhere" if c == "ids" else ""
                style += ";white-space:nowrap" if c == "cause" else ""
                cells.append(f'<td class="why403-col-{c}" data-label="{html.escape(LABELS.get(c, c))}" style="{style}">'
                             f"{_cell(f, c, kb)}</td>")
            body.append(f'<tr data-status="{f.status}">{"".join(cells)}</tr>')
    table = (f'<table class="why403-table why403-findings-table" style="{_TABLE};font-size:12.5px;line-height:1.35">'
             f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
    return redact(table + (_fixes_html(items) if with_fixes else ""))


def _headers_cell(ex: Exchange) -> str:
    """The telling headers of an answer, one per line: not the quiet ones, nor the request id the ids column shows."""
    shown = {k: v for k, v in ex.headers.items() if k not in _QUIET_HEADERS and not (k in REQUEST_ID_HEADERS and v == ex.request_id)}
    return "<br>".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in shown.items())


def exchanges_html(exchanges: Iterable[Exchange], base_url: str = "") -> str:
    """What the wire showed, answer by answer: request, status, telling headers, ids, and the start of the body (or
    the client's error). No interpretation (no cause, no 'answered by'): the evidence a trainee reads. An answer
    identical to the one above it says so instead of repeating it."""
    items = list(exchanges)
    if not items:
        return '<p class="why403-empty"><em>No requests were answered.</em></p>'
    base = base_url.rstrip("/")
    heads = ["request", "HTTP", "headers", "request id / cf-ray", "answer"]
    styles = ["white-space:nowrap", "white-space:nowrap;font-weight:bold", "font-size:11px;overflow-wrap:anywhere;min-width:12em",
              "font-family:monospace;font-size:11px;overflow-wrap:anywhere",
              "font-family:monospace;font-size:11px;overflow-wrap:anywhere;min-width:14em"]
    rows = []
    previous: tuple[str, str] | None = None
    for ex in items:
        path = ex.url.removeprefix(base) if base and ex.url.startswith(base) else ex.url
        headers = _headers_cell(ex)
        ids = "<br>".join(html.escape(x) for x in (ex.request_id, f"cf-ray {ex.cf_ray}" if ex.cf_ray else "") if x)
        answer = html.escape(ex.body_head[:400] + ("…" if len(ex.body_head) > 400 or ex.truncated else "") if ex.status is not None
                             else (ex.error or ""))
        same = previous == (headers, answer)
        previous = (headers, answer)
        if same:
            headers = answer = '<em style="font-family:inherit">same as above</em>'
        status = str(ex.status) if ex.status is not None else "no answer"
        cells = [f"{html.escape(ex.method)} {html.escape(path)}", status, headers, ids, answer]
        rows.append("<tr>" + "".join(f'<td data-label="{h}" style="{_TD};{st}">{c}</td>' for h, st, c in zip(heads, styles, cells, strict=True))
                    + "</tr>")
    head = _head(heads)
    return redact(f'<table class="why403-table why403-exchanges" style="{_TABLE};font-size:12.5px">'
                  f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def summary_html(report: Report) -> str:
    """One line per step: its result in words and the checks that did not pass (the tables above hold the evidence)."""
    kb = knowledge.load()
    rows = []
    for step in kb.steps:
        found = [f for f in report.findings if f.step == step.id]
        if not found:
            continue
        worst = worst_status(found)
        problems = ", ".join(html.escape(f.check) for f in found if f.status in PROBLEMS)
        rows.append(f'<tr data-status="{worst}"><td style="{_TD};white-space:nowrap" data-label="step">{html.escape(step.title)}</td>'
                    f'<td style="{_TD};{STATUS_STYLE.get(worst, "")}" data-label="result">{html.escape(status_words(found))}</td>'
                    f'<td style="{_TD}" data-label="did not pass">{problems}</td></tr>')
    head = _head(("step", "result", "did not pass"))
    return redact(f'<table class="why403-table why403-summary" style="{_TABLE};font-size:13px">'
                  f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def verdict_html(verdict: Verdict | None, *, running: bool = False) -> str:
    """The verdict box: most likely cause, what it means, the fix, and which check decided it."""
    if verdict is None:
        text = "Running…" if running else "No diagnosis yet: fill in the target (or use the training lab) and press <b>Run all steps</b>."
        return (f'<div class="why403-verdict-box" style="padding:8px 12px;line-height:1.45;border-left:6px solid {PALETTE["idle"]};'
                f'background:{PALETTE["idle-soft"]}">{text}</div>')
    ok = verdict.cause == "ok"
    colour, bg = (PALETTE["good"], PALETTE["good-soft"]) if ok else (PALETTE["bad"], PALETTE["bad-soft"])
    title = html.escape(verdict.title or verdict.cause)
    decided = decided_by(verdict)
    return redact(
        # a line-height of its own: in the panel, ipywidgets' HTML widget sets its row height (28 px) as line-height
        f'<div class="why403-verdict-box" style="padding:8px 12px;line-height:1.45;border-left:6px solid {colour};background:{bg}">'
        f'<div style="font-size:15px"><b>Verdict:</b> <code class="why403-id">{html.escape(verdict.cause)}</code> · {title}'
        f' <span style="color:{PALETTE["muted"]}">(confidence {verdict.confidence:.0%})</span></div>'
        f'<div style="margin-top:4px">{html.escape(verdict.summary)}</div>'
        f'<div style="margin-top:4px"><b>Fix:</b> {html.escape(verdict.fix)}</div>'
        + (f'<div style="margin-top:4px;font-size:12px;color:{PALETTE["muted"]}">Decided by {html.escape(decided)}</div>' if decided else "")
        + "</div>"
    )


def diagram_html(source: DiagramSource, *, responsive: bool = False) -> str:
    """The decision-path SVG with a caption, as one HTML block.

    ``responsive`` adds the stacked drawing for narrow screens (``why403-narrow``) beside the full map
    (``why403-wide``); a stylesheet shows one of them (the exported pages' does, by width). Without a stylesheet
    both would show, so notebooks get the full map only.
    """
    if responsive:
        drawing = (f'<div class="why403-wide">{decision_path_svg(source)}</div>'
                   f'<div class="why403-narrow">{decision_path_narrow_svg(source)}</div>')
        how = ("The full map reads left to right (on narrow screens, top to bottom): the symptom, who answered, the cause; "
               "the highlighted path is the one found.")
    else:
        drawing = decision_path_svg(source)
        how = "The diagram reads left to right: the symptom, who answered, the cause; the highlighted path is the one found."
    return (f'<figure class="why403-figure">{drawing}'
            f"<figcaption><b>This diagnosis:</b> {html.escape(describe_path(source))}. {how}</figcaption></figure>")


def step_sections_html(findings: Iterable[Finding]) -> str:
    """Findings grouped by step: title, what the step checks, its result in words, then its table and fixes."""
    items = list(findings)
    parts = ["<h2>Findings</h2>"]
    for step in knowledge.load().steps:
        rows = [f for f in items if f.step == step.id]
        parts.append(f"<h3>{html.escape(step.title)}</h3><p>{html.escape(step.explains)}</p>")
        parts.append(f"<p><b>Result:</b> {html.escape(status_words(rows))}</p>"
                     + findings_html(rows, columns=STEP_COLUMNS, group=False) if rows
                     else '<p class="why403-muted">No checks recorded for this step.</p>')
    return "".join(parts)


def verdict_view(verdict: Verdict) -> View:
    return View("verdict", verdict_html(verdict), {"verdict": verdict.to_dict()})


def diagram_view(source: DiagramSource) -> View:
    return View("diagram", diagram_html(source), {"verdict": verdict_of(source).to_dict()})


def findings_view(source: Report | Iterable[Finding], *, columns: list[str] | None = None, heading: str = "",
                  group: bool = True) -> View:
    items = _findings(source)
    return View("findings", heading + findings_html(items, columns=columns, group=group), {"count": len(items)})


def summary_view(report: Report) -> View:
    return View("summary", summary_html(report), {"verdict": report.verdict.to_dict()})


__all__ = ["STEP_COLUMNS", "TABLE_COLUMNS", "VIEW_MIME", "View", "diagram_html", "diagram_view", "exchanges_html",
           "findings_html", "findings_view", "step_sections_html", "summary_html",
           "summary_view", "verdict_html", "verdict_view"]
