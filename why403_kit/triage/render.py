"""Every view of a TriageReport in one place: terminal text, Markdown, JSON, a DataFrame, the causes-over-time plot.

Kept together so they can move into the kit's render layer as one piece. Every string leaves through ``redact``;
pandas and matplotlib are imported only inside the function that needs them.
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from pathlib import Path
from typing import Any

from ..redact import redact, redact_obj
from ._model import CauseGroup, TriageReport

_COLUMNS = ("cause", "count", "share", "seen (UTC)", "status", "hosts", "keys")
_SHRINK = {"seen (UTC)": 18, "hosts": 14, "status": 6}  # columns that wrap, in the order they give up width, and their floor


def _short(iso: str) -> str:
    return iso[:16].replace("T", "\u00a0") if iso else ""  # a no-break space keeps date and time on one line


def _cells(g: CauseGroup) -> list[str]:
    last = g.last_seen[11:16] if g.last_seen[:10] == g.first_seen[:10] else _short(g.last_seen)
    seen = _short(g.first_seen) + (f" →\u00a0{last}" if g.last_seen and g.last_seen[:16] != g.first_seen[:16] else "")
    hosts = ", ".join(g.hosts[:3]) + (f" +{len(g.hosts) - 3}" if len(g.hosts) > 3 else "")
    return [g.cause, str(g.count), f"{g.share:.0%}", seen, ",".join(map(str, g.statuses)), hosts, str(g.keys)]


def headline(report: TriageReport) -> str:
    skipped = f"{report.skipped} skipped" + (" (" + "; ".join(f"{n} {why}" for why, n in report.skipped_reasons.items()) + ")"
                                              if report.skipped_reasons else "")
    return (f"{report.refusals} refusal(s), {report.ok} ok, {skipped}; {report.records} record(s) read, format {report.format}, "
            f"engine {report.engine}, {report.signatures} signature(s)" + (", stopped early" if report.truncated else ""))


def _width(width: int | None) -> int:
    if width:
        return width
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) >= 40 else shutil.get_terminal_size((100, 24)).columns


def _table(rows: list[list[str]], width: int) -> list[str]:
    """Columns as wide as their content; seen, hosts and status wrap (in that order of need) so the table fits ``width``."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(_COLUMNS)]
    for name, floor in _SHRINK.items():
        i = _COLUMNS.index(name)
        excess = sum(widths) + 2 * (len(widths) - 1) - width
        if excess > 0:
            widths[i] = max(floor, widths[i] - excess)
    out = ["  ".join(h.ljust(w) for h, w in zip(_COLUMNS, widths, strict=True)).rstrip(), "  ".join("-" * w for w in widths)]
    for row in rows:
        wrapped = [textwrap.wrap(c, w, break_long_words=True, break_on_hyphens=False) or [""] for c, w in zip(row, widths, strict=True)]
        for k in range(max(len(c) for c in wrapped)):
            out.append("  ".join((c[k] if k < len(c) else "").ljust(w) for c, w in zip(wrapped, widths, strict=True)).rstrip())
    return [line.replace("\u00a0", " ") for line in out]


def text(report: TriageReport, width: int | None = None) -> str:
    """The terminal view: the headline, one row per cause, then each cause's example and fix (once)."""
    cols = _width(width)
    lines = [headline(report)]
    lines += [f"note: {n}" for n in report.notes]
    if report.groups:
        lines += ["", *_table([_cells(g) for g in report.groups], cols)]
        for g in report.groups:
            lines += ["", f"{g.cause} ({g.count}): {g.title}"]
            if g.models:
                lines += textwrap.wrap(f"models: {', '.join(g.models)}", cols, subsequent_indent="  ")
            lines += textwrap.wrap(f"example ({g.example_at}): {g.example}", cols, subsequent_indent="  ")
            lines += textwrap.wrap(f"fix: {g.fix}", cols, subsequent_indent="  ")
    return redact("\n".join(lines))


def markdown(report: TriageReport) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = [f"# Triage: {report.refusals} refusal(s) in {report.events} event(s)", "", headline(report) + ".", ""]
    lines += [f"- {cell(n)}" for n in report.notes]
    if report.groups:
        lines += ["", "| cause | count | share | first seen | last seen | statuses | hosts | models | keys |",
                  "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {cell(g.cause)} | {g.count} | {g.share:.0%} | {cell(g.first_seen)} | {cell(g.last_seen)} | "
                  f"{cell(', '.join(map(str, g.statuses)))} | {cell(', '.join(g.hosts))} | {cell(', '.join(g.models))} | {g.keys} |"
                  for g in report.groups]
        for g in report.groups:
            lines += ["", f"## {g.cause}: {g.title}", "", g.summary, "", f"- **Example** ({cell(g.example_at)}): {cell(g.example)}",
                      f"- **Fix**: {g.fix}", f"- **Retry**: {g.retry}"]
    return redact("\n".join(lines) + "\n")


def to_json(report: TriageReport) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False)


def frame(report: TriageReport) -> Any:
    """The groups as a pandas DataFrame, one row per cause."""
    import pandas as pd

    rows = [redact_obj({k: v for k, v in vars(g).items() if k != "timeline"}) for g in report.groups]
    columns = [f for f in CauseGroup.__dataclass_fields__ if f != "timeline"]
    return pd.DataFrame(rows, columns=columns)


def timeline_frame(report: TriageReport) -> Any:
    """Events per cause per bucket (hour or day), wide: one column per cause."""
    import pandas as pd

    data = {g.cause: pd.Series({pd.Timestamp(t): n for t, n in g.timeline}, dtype="int64") for g in report.groups}
    return pd.DataFrame(data).fillna(0).astype("int64").sort_index()


def plot(report: TriageReport, path: str | Path | None = None) -> Any:
    """Causes over time, stacked per hour (or per day for spans over two weeks); .svg or .png by ``path``'s suffix."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4), layout="constrained")
    ax = fig.add_subplot()
    causes = [g for g in report.groups if g.timeline]
    if causes:
        buckets = sorted({t for g in causes for t, _ in g.timeline})
        from datetime import datetime

        xs = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in buckets]
        bottom = [0] * len(buckets)
        width = (1 / 24 if report.bucket == "hour" else 1.0) * 0.9
        for g in causes:
            counts = dict(g.timeline)
            ys = [counts.get(t, 0) for t in buckets]
            ax.bar(xs, ys, width=width, bottom=bottom, label=f"{g.cause} ({g.count})", align="edge")  # type: ignore[arg-type]
            bottom = [b + y for b, y in zip(bottom, ys, strict=True)]
        ax.legend(loc="upper left", fontsize="small", frameon=False)
        fig.autofmt_xdate()
    else:
        ax.text(0.5, 0.5, "no dated refusals", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel(f"refusals per {report.bucket}")
    ax.set_title(f"Refusals by cause over time ({report.refusals} in {report.events} events)")
    if path is not None:
        target = Path(path)
        if target.suffix.lower() not in (".svg", ".png"):
            from ..errors import InputError

            raise InputError(f"--plot writes .svg or .png, not {target.name}")
        fig.savefig(target, format=target.suffix.lower().lstrip("."))
    return fig
