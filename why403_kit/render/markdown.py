"""A report as Markdown: the CLI's ``--format markdown`` and the body of the support bundle's ``.md``."""

from __future__ import annotations

from ..model import Report
from ..redact import redact
from .words import decided_by, deciding_finding, fixes, quote_ids

_ESCAPE = str.maketrans({"\\": "\\\\", "|": "\\|", "<": "\\<", "`": "\\`", "*": "\\*"})


def cell(value: object) -> str:
    """One table cell: Markdown's table and inline syntax escaped, line breaks kept as ``<br>``."""
    lines = [" ".join(line.split()).translate(_ESCAPE) for line in redact(str(value)).splitlines()]
    return "<br>".join(line for line in lines if line)


def report_markdown(report: Report) -> str:
    """Verdict, which check decided it, the ids to quote, each fix once, and the findings table."""
    v = report.verdict
    lines = [f"## Verdict: `{v.cause}`" + (f" · {v.title}" if v.title else ""), "", v.summary, ""]
    if decided := decided_by(v):
        lines += [f"Decided by {decided} (confidence {v.confidence:.0%}).", ""]
    if ids := quote_ids(deciding_finding(report), lambda x: f"`{x}`"):
        lines += [f"**Quote to the provider's support:** {ids}", ""]
    found = fixes(report.findings, v)
    if len(found) == 1:
        lines += [f"**Fix:** {found[0].fix}", ""]
    elif found:
        lines += ["**Fix**, once per cause:", ""] + [f"- `{fx.cause}`: {fx.fix}" for fx in found] + [""]
    columns = ["step", "check", "status", "cause", "answered by", "evidence", "request id"]
    with_ray = any(f.cf_ray for f in report.findings)
    columns += ["cf-ray"] if with_ray else []
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for f in report.findings:
        values = [f.step, f.check, f.status, f.cause, f.responder, f.evidence, f.request_id] + ([f.cf_ray] if with_ray else [])
        lines.append("| " + " | ".join(cell(x) for x in values) + " |")
    return redact("\n".join(lines))


__all__ = ["cell", "report_markdown"]
