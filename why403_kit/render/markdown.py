"""A report as Markdown: the CLI's ``--format markdown`` and the body of the support bundle's ``.md``."""

from __future__ import annotations

from ..model import Report
from ..redact import redact


def _cell(value: object) -> str:
    return " ".join(str(value).split()).replace("|", "/")


def report_markdown(report: Report) -> str:
    """Verdict, fix, which check decided it, and the findings table."""
    v = report.verdict
    lines = [f"## Verdict: `{v.cause}`", "", v.summary, "", f"**Fix:** {v.fix}", ""]
    if v.step:
        facts = [f"step {v.step}, check {v.check}"] + ([f"HTTP {v.http_status}"] if v.http_status is not None else [])
        facts += [f"answered by {v.responder}"] if v.responder else []
        lines += [f"Decided by {'; '.join(facts)} (confidence {v.confidence:.0%}).", ""]
    lines += ["| step | check | status | cause | answered by | evidence | request id |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {' | '.join(_cell(x) for x in (f.step, f.check, f.status, f.cause, f.responder, f.evidence, f.request_id))} |"
              for f in report.findings]
    return redact("\n".join(lines))


__all__ = ["report_markdown"]
