"""Every view of a TriageReport: terminal text, Markdown, JSON, the causes-over-time plot (a DataFrame: ``report.to_frame()``).

Registered in :data:`why403_kit.render.FORMATS` under ``TriageReport`` (``table``, ``json``, ``markdown``), so
``why403 triage --format`` offers what is registered. Every string leaves through ``redact`` (JSON: the structure is
masked, then serialized); pandas and matplotlib are imported only inside the function that needs them.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from .._files import check_out_kind, written_whole
from ..redact import redact
from ..triage import CauseGroup, TriageReport
from .json import to_json
from .markdown import cell
from .text import PROSE_WIDTH, labelled, table, terminal_width

_COLUMNS = ["cause", "count", "share", "seen (UTC)", "status", "hosts", "keys"]
# Left out of the terminal table, in this order, when it cannot show them whole within the width (a host name cut in
# two reads as two hosts): each cause's section below the table lists its hosts and times anyway.
_OPTIONAL_COLUMNS = ("hosts", "seen (UTC)")


def _seen(g: CauseGroup) -> str:
    """First and last day seen, short: the times to the second are in the section under the table."""
    first, last = g.first_seen[:10], g.last_seen[:10]
    if not first:
        return ""
    return first if last in ("", first) else f"{first} → {last[5:] if last[:4] == first[:4] else last}"


def _cells(g: CauseGroup) -> list[str]:
    hosts = (g.hosts[0] + (f" +{len(g.hosts) - 1}" if len(g.hosts) > 1 else "")) if g.hosts else ""
    return [g.cause, str(g.count), f"{g.share:.0%}", _seen(g), ", ".join(map(str, g.statuses)), hosts, str(g.keys)]


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def headline(report: TriageReport) -> str:
    """One line: how many refusals, ok answers and skipped records, and how they were read."""
    skipped = f"{report.skipped} skipped" + (" (" + "; ".join(f"{n} {why}" for why, n in report.skipped_reasons.items()) + ")"
                                              if report.skipped_reasons else "")
    return (f"{_count(report.refusals, 'refusal')}, {report.ok} ok, {skipped}; {_count(report.records, 'record')} read "
            f"({report.format}, engine {report.engine}), {_count(report.signatures, 'signature')}"
            + (", stopped early" if report.truncated else ""))


def _fitted_table(groups: list[CauseGroup], width: int) -> str:
    """The table of causes in ``width`` columns, no cell split inside a word: the optional columns go, one at a time,
    until it fits (or none is left to drop: the lines then run long, as :func:`.text.table` lets them)."""
    names, rows = list(_COLUMNS), [_cells(g) for g in groups]
    for drop in (None, *_OPTIONAL_COLUMNS):
        if drop is not None:
            at = names.index(drop)
            names, rows = names[:at] + names[at + 1:], [r[:at] + r[at + 1:] for r in rows]
        drawn = table(rows, names, width=width, long_columns=())
        if max(len(line) for line in drawn.splitlines()) <= width:
            break
    return drawn


def _fill(text: str, width: int) -> str:
    return textwrap.fill(text, width, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False)


def triage_text(report: TriageReport, *, width: int | None = None) -> str:
    """The terminal view: the headline, one row per cause (fitted to the width), then each cause's example and fix once."""
    cols = width or terminal_width()
    prose = min(cols, PROSE_WIDTH)
    lines = [_fill(headline(report), prose)]
    lines += [labelled("note", n, prose) for n in report.notes]
    if report.groups:
        lines += ["", _fitted_table(report.groups, cols)]
        for g in report.groups:
            lines += ["", _fill(f"{g.cause} ({g.count}): {g.title}", prose)]
            if g.first_seen:
                lines.append(labelled("seen", g.first_seen if g.last_seen in ("", g.first_seen) else f"{g.first_seen} → {g.last_seen}", prose))
            for label, values in (("hosts", g.hosts), ("models", g.models)):
                if values:
                    lines.append(labelled(label, ", ".join(values), prose))
            lines.append(labelled("example", f"({g.example_at}) {g.example}" if g.example_at else g.example, prose))
            lines.append(labelled("fix", g.fix, prose))
    return redact("\n".join(lines))


def triage_markdown(report: TriageReport) -> str:
    """The Markdown view: headline, notes, the table of causes, then a section per cause."""
    lines = [f"# Triage: {_count(report.refusals, 'refusal')} in {_count(report.events, 'event')}", "", headline(report) + ".", ""]
    lines += [f"- {cell(n)}" for n in report.notes]
    if report.groups:
        lines += ["", "| cause | count | share | first seen | last seen | statuses | hosts | models | keys |",
                  "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {cell(g.cause)} | {g.count} | {g.share:.0%} | {cell(g.first_seen)} | {cell(g.last_seen)} | "
                  f"{cell(', '.join(map(str, g.statuses)))} | {cell(', '.join(g.hosts))} | {cell(', '.join(g.models))} | {g.keys} |"
                  for g in report.groups]
        for g in report.groups:
            at = f" ({cell(g.example_at)})" if g.example_at else ""
            lines += ["", f"## {g.cause}: {g.title}", "", g.summary, "", f"- **Example**{at}: {cell(g.example)}",
                      f"- **Fix**: {g.fix}", f"- **Retry**: {g.retry}"]
    return redact("\n".join(lines) + "\n")


def triage_json(report: TriageReport) -> str:
    """The stable JSON shape (``schema_version`` first), masked as a structure, then serialized."""
    return to_json(report.to_dict())


def plot_path(path: str | Path) -> Path:
    """``path`` as a place for the plot: an .svg or .png file in an existing directory, nothing there but a regular file
    (InputError otherwise; the CLI asks before it reads a log, :func:`triage_plot` again before it draws)."""
    return check_out_kind(path, "--plot", (".svg", ".png"))


def triage_plot(report: TriageReport, path: str | Path | None = None) -> Any:
    """Causes over time, stacked per hour (or per day for spans over two weeks); .svg or .png by ``path``'s suffix,
    written whole or not at all."""
    target = plot_path(path) if path is not None else None
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    causes = [g for g in report.groups if g.timeline]
    # The legend goes beside the axes (over them it hid the bars) and the figure grows to hold one line per cause.
    fig = Figure(figsize=(11, max(4.0, 0.6 + 0.19 * len(causes))), layout="constrained")
    ax = fig.add_subplot()
    if causes:
        buckets = sorted({t for g in causes for t, _ in g.timeline})
        from datetime import datetime

        xs = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in buckets]
        bottom = [0] * len(buckets)
        width = (1 / 24 if report.bucket == "hour" else 1.0) * 0.9
        palette = matplotlib.colormaps["tab20"]  # 20 colours: one per cause (the default ten went round twice)
        for i, g in enumerate(causes):
            counts = dict(g.timeline)
            ys = [counts.get(t, 0) for t in buckets]
            ax.bar(xs, ys, width=width, bottom=bottom, label=f"{g.cause} ({g.count})", align="edge",  # type: ignore[arg-type]
                   color=palette(i % palette.N))
            bottom = [b + y for b, y in zip(bottom, ys, strict=True)]
        fig.legend(loc="outside right upper", fontsize="small", frameon=False)
        fig.autofmt_xdate()
    else:
        ax.text(0.5, 0.5, "no dated refusals", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel(f"refusals per {report.bucket}")
    ax.set_title(f"Refusals by cause over time ({report.refusals} in {report.events} events)")
    if target is not None:
        with written_whole(target, "--plot") as part:
            fig.savefig(part, format=target.suffix.lower().lstrip("."))
    return fig


__all__ = ["headline", "plot_path", "triage_json", "triage_markdown", "triage_plot", "triage_text"]
