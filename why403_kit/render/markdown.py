"""A report as Markdown: the CLI's ``--format markdown`` and the body of the support bundle's ``.md``."""

from __future__ import annotations

from ..model import Report
from ..redact import redact
from .text import deciding_finding, fixes

_ESCAPE = str.maketrans({"\\": "\\\\", "|": "\\|", "<": "\\<", "`": "\\`", "*": "\\*"})


def cell(value: object) -> str:
    """One table cell: Markdown's table and inline syntax escaped, line breaks kept as ``<br>``."""
    lines = [" ".join(line.split()).translate(_ESCAPE) for line in redact(str(value)).splitlines()]
    return "<br>".join(line for line in lines if line)


def report_markdown(report: Report) -> str:
    """Verdict, which check decided it, the ids to quote, each fix once, and the findings table."""
    v = report.verdict
    lines = [f"## Verdict: `{v.cause}`" + (f" · {v.title}" if v.title else ""), "", v.summary, ""]
    if v.step:
        facts = [f"step {v.step}, check {v.check}"] + ([f"HTTP {v.http_status}"] if v.http_status is not None else [])
        facts += [f"answered by {v.responder}"] if v.responder else []
        lines += [f"Decided by {'; '.join(facts)} (confidence {v.confidence:.0%}).", ""]
    decider = deciding_finding(report)
    if decider is not None and (decider.request_id or decider.cf_ray):
        ids = ([f"request id `{decider.request_id}`"] if decider.request_id else []) + ([f"cf-ray `{decider.cf_ray}`"] if decider.cf_ray else [])
        lines += [f"**Quote to the provider's support:** {', '.join(ids)}", ""]
    pairs = fixes(report)
    if len(pairs) == 1:
        lines += [f"**Fix:** {pairs[0][1]}", ""]
    elif pairs:
        lines += ["**Fix**, once per cause:", ""] + [f"- `{cause}`: {fix}" for cause, fix in pairs] + [""]
    columns = ["step", "check", "status", "cause", "answered by", "evidence", "request id"]
    with_ray = any(f.cf_ray for f in report.findings)
    columns += ["cf-ray"] if with_ray else []
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for f in report.findings:
        values = [f.step, f.check, f.status, f.cause, f.responder, f.evidence, f.request_id] + ([f.cf_ray] if with_ray else [])
        lines.append("| " + " | ".join(cell(x) for x in values) + " |")
    return redact("\n".join(lines))


__all__ = ["cell", "report_markdown"]
