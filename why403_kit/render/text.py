"""A report for the terminal: the verdict, the fix, and the findings as a plain table."""

from __future__ import annotations

from collections.abc import Sequence

from ..model import Report
from ..redact import redact

MAX_CELL = 60  # characters a column may take before its cells are cut with an ellipsis


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """Rows under headers, columns padded to the widest cell (at most ``MAX_CELL``), long cells cut with '…'."""
    widths = [min(MAX_CELL, max(len(h), *(len(r[i]) for r in rows))) if rows else len(h) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*(c if len(c) <= w else c[: w - 1] + "…" for c, w in zip(r, widths, strict=True))) for r in rows]
    return "\n".join(lines)


def report_text(report: Report) -> str:
    v = report.verdict
    rows = [[f.step, f.check, f.status, f.cause, f.evidence] for f in report.findings]
    return redact(f"VERDICT: {v.cause} - {v.summary}\nFIX: {v.fix}\n\n" + table(rows, ["step", "check", "status", "cause", "evidence"]))


__all__ = ["report_text", "table"]
