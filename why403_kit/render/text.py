"""Reports for the terminal: tables that fit its width (progress while they are made: :mod:`.progress`).

Cells wrap instead of being cut, so a long URL or header dump is read whole at 80 columns as at 200. The width is
``$COLUMNS``, else the terminal's, else :data:`PIPE_WIDTH` when the output goes to a pipe or a file. Colour only
on a terminal, never with ``NO_COLOR`` set (no-color.org) or ``TERM=dumb``. Every cell is redacted before it is
wrapped: a secret cut in two by a line break could no longer be recognised.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Collection, Sequence
from typing import TextIO

from .. import knowledge
from ..model import Report
from ..redact import redact
from .words import PROBLEMS, decided_by, deciding_finding, fixes, quote_ids

PIPE_WIDTH = 100  # when the output is not a terminal and COLUMNS is unset: reads in a pasted issue or a log
PROSE_WIDTH = 100  # the verdict and the fixes above the table: longer lines of prose are hard to read
MIN_WIDTH = 40  # narrower than this and no table reads; lines then run past the edge rather than lose text
GAP = "  "
LONG_FLOOR = 40  # a column of long text (evidence, fix) keeps this many characters (a request id is 36) before short ones wrap
UNDER_INDENT = "    "  # a long column printed under its row (a narrow terminal: see table's ``under``)
# Columns of long text: they may break inside a word (URLs, header dumps); the others wrap between words only.
LONG_COLUMNS = frozenset({"evidence", "fix", "example", "summary", "title", "hosts"})

_SGR = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "bold-red": "1;31"}
STATUS_COLOUR = {"fail": "bold-red", "error": "bold-red", "warn": "yellow", "pass": "green", "skip": "dim"}


def is_terminal(stream: object) -> bool:
    """True when ``stream`` writes to a terminal; False for a pipe, a file, or one closed or replaced (pytest, Jupyter)."""
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


def terminal_width(stream: TextIO | None = None) -> int:
    """Columns to fit: ``$COLUMNS``, else the size of the terminal ``stream`` writes to, else :data:`PIPE_WIDTH`."""
    env = os.environ.get("COLUMNS", "").strip()
    if env.isdigit() and int(env) > 0:
        return max(MIN_WIDTH, int(env))
    out = stream if stream is not None else sys.stdout
    if is_terminal(out):
        try:
            return max(MIN_WIDTH, os.get_terminal_size(out.fileno()).columns)
        except (AttributeError, OSError, ValueError):  # a terminal of no size, or not a real file
            pass
    return PIPE_WIDTH


def use_colour(stream: TextIO | None = None) -> bool:
    """Colour for ``stream`` (stdout by default): only on a terminal, and never with NO_COLOR set or TERM=dumb."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return is_terminal(stream if stream is not None else sys.stdout)


def paint(text: str, style: str, colour: bool) -> str:
    return f"\x1b[{_SGR[style]}m{text}\x1b[0m" if colour and style in _SGR and text else text


def _words(cell: str) -> list[str]:
    return cell.split()


_BREAK_AFTER = "/,;&?=:"  # where a URL or a list of ids reads best when it must be split


def _split_word(word: str, width: int) -> list[str]:
    """A word longer than ``width`` in pieces: after a slash, comma… in the piece's last half, else at the edge."""
    pieces = []
    while len(word) > width:
        cut = max((i + 1 for i in range(width // 2, width) if word[i] in _BREAK_AFTER), default=width)
        if 0 < len(word) - cut < 4 < cut:  # no stray comma or two digits alone on the last line
            cut = len(word) - 4
        pieces.append(word[:cut])
        word = word[cut:]
    return [*pieces, word] if word else pieces


def _head_piece(word: str, room: int) -> int:
    """Where to cut ``word`` so its head fills ``room`` characters left on a line: after its last slash, comma…
    in the last half of that room (0 when there is none, or too little room to be worth it: 'https://' alone reads badly)."""
    if room < 8:
        return 0
    return max((i + 1 for i in range(room // 2, room) if word[i] in _BREAK_AFTER), default=0)


def wrap_cell(cell: str, width: int, *, breakable: bool = True) -> list[str]:
    """``cell`` in lines of at most ``width``, between words; a longer word is, only when ``breakable``, split across
    lines, starting on the line it follows ('GET' is not left alone above its URL); otherwise it gets a line of its
    own. Nothing is cut; blank lines and line breaks in the cell are kept."""
    lines: list[str] = []
    for paragraph in cell.splitlines() or [""]:
        current = ""
        for word in paragraph.split():
            if current and len(current) + 1 + len(word) <= width:
                current += " " + word
                continue
            if current and breakable and len(word) > width and (cut := _head_piece(word, width - len(current) - 1)):
                current += " " + word[:cut]
                word = word[cut:]
            if current:
                lines.append(current)
            if len(word) > width and breakable:
                *full, current = _split_word(word, width)
                lines += full
            else:
                current = word
        lines.append(current)
    return lines


def fit_widths(natural: Sequence[int], floors: Sequence[int], minimums: Sequence[int], long: Sequence[bool], room: int) -> list[int]:
    """Column widths within ``room`` characters: natural widths when they fit, else long columns give way first.

    Long columns shrink to their floor, then short columns to their longest word, then long columns to their
    minimum; widest first at each stage so the columns stay balanced. When even that does not fit, the widths
    stay there and the lines run long: text is never cut.
    """
    widths = list(natural)
    stages = [
        [(i, floors[i]) for i in range(len(widths)) if long[i]],
        [(i, minimums[i]) for i in range(len(widths)) if not long[i]],
        [(i, minimums[i]) for i in range(len(widths)) if long[i]],
    ]
    for stage in stages:
        while sum(widths) > room:
            movable = [i for i, lowest in stage if widths[i] > lowest]
            if not movable:
                break
            widest = max(movable, key=lambda i: widths[i])
            widths[widest] -= 1
    return widths


def _longest(values: list[str], measure: str = "line") -> int:
    pieces = [p for v in values for p in (v.splitlines() if measure == "line" else _words(v))]
    return max((len(p) for p in pieces), default=0)


def _column_widths(cells: list[list[str]], heads: list[str], long: list[bool], total: int) -> tuple[list[int], list[int]]:
    """Each column's width within ``total`` characters, and the floor of each (what a long column keeps if it can)."""
    n = len(heads)
    natural = [max(len(heads[i]), _longest([r[i] for r in cells])) for i in range(n)]
    word = [max(_longest([heads[i]], "word"), _longest([r[i] for r in cells], "word")) for i in range(n)]
    minimums = [min(natural[i], max(8, _longest([heads[i]], "word"))) if long[i] else word[i] for i in range(n)]
    floors = [min(natural[i], max(LONG_FLOOR, minimums[i])) for i in range(n)]
    return fit_widths(natural, floors, minimums, long, total - len(GAP) * (n - 1)), floors


def table(rows: Sequence[Sequence[str]], headers: Sequence[str], *, width: int | None = None, colour: bool = False,
          long_columns: Collection[str] = LONG_COLUMNS, headings: Sequence[str] | None = None, under: str | None = None) -> str:
    """Rows under headers, fitted to ``width`` columns (the terminal's when None): cells wrap, nothing is cut.

    Columns named in ``long_columns`` hold long text and give way first. ``headings``, one per row, starts a
    titled group (a blank line, then the heading) wherever it changes: the step of a finding, for instance.
    A column called ``status`` is coloured by its value when ``colour`` is on. ``under`` names a long column that,
    when the width cannot give it its floor (a narrow terminal), goes under each row, indented, across the whole
    width, instead of in a sliver that would split every id in it.
    """
    total = width or terminal_width()
    cells = [[redact(str(c)) for c in row] for row in rows]
    heads = [str(h) for h in headers]
    long = [h in long_columns for h in heads]
    widths, floors = _column_widths(cells, heads, long, total)
    below: list[str] = []
    if under in heads and widths[(k := heads.index(under))] < floors[k]:
        below = [r[k] for r in cells]
        cells, heads, long = [r[:k] + r[k + 1:] for r in cells], heads[:k] + heads[k + 1:], long[:k] + long[k + 1:]
        widths, _ = _column_widths(cells, heads, long, total)
    n = len(heads)

    def line(parts: Sequence[str], styles: Sequence[str] = ()) -> str:
        padded = [p.ljust(w) for p, w in zip(parts, widths, strict=True)]
        if colour:
            padded = [paint(p, s, True) if s else p for p, s in zip(padded, [*styles, *[""] * n], strict=False)]
        return GAP.join(padded).rstrip()

    out = [line(heads, ["bold"] * n)]
    if below:
        out.append(paint(UNDER_INDENT + str(under), "bold", colour))
    out.append(line(["-" * w for w in widths]))
    status_at = heads.index("status") if "status" in heads else -1
    current: str | None = None
    for r, row in enumerate(cells):
        if headings is not None and headings[r] != current:
            current = headings[r]
            out += ["", paint(current, "bold", colour)]
        wrapped = [wrap_cell(c, widths[i], breakable=long[i]) for i, c in enumerate(row)]
        styles = [""] * n
        if status_at >= 0:
            styles[status_at] = STATUS_COLOUR.get(row[status_at], "")
        for k in range(max(len(w) for w in wrapped)):
            out.append(line([w[k] if k < len(w) else "" for w in wrapped], styles if k == 0 else ()))
        if below and below[r]:
            out += [(UNDER_INDENT + piece).rstrip() for piece in wrap_cell(below[r], max(1, total - len(UNDER_INDENT)))]
    return "\n".join(out)


def labelled(label: str, text: str, width: int, *, colour: bool = False, highlight: tuple[str, str] | None = None) -> str:
    """``LABEL    text`` with the text wrapped under itself (a hanging indent), for the lines above a table.

    ``highlight`` (word, style) paints the first occurrence of a word once the text is wrapped (colour codes would
    otherwise count as characters).
    """
    indent = " " * 9
    text = redact(text)  # before wrapping: a secret split over two lines would no longer be recognised
    body = "\n".join(textwrap.fill(p, width, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False)
                     for p in text.splitlines() if p.strip())[len(indent):]
    if highlight and colour:
        body = body.replace(highlight[0], paint(highlight[0], highlight[1], True), 1)
    return (paint(label.ljust(8), "bold", colour) + " " + body) if label else indent + body


def faq_text(*, width: int | None = None) -> str:
    """The FAQ of the knowledge base for the terminal: each question and its answer wrapped to the width."""
    prose = min(width or terminal_width(), PROSE_WIDTH)
    blocks = []
    for entry in knowledge.load().faq:
        blocks.append("\n".join([textwrap.fill(f"Q: {entry.q}", prose, subsequent_indent="   ", break_on_hyphens=False),
                                  textwrap.fill(f"A: {entry.a}", prose, subsequent_indent="   ", break_on_hyphens=False)]))
    return redact("\n\n".join(blocks))


def report_text(report: Report, *, width: int | None = None, colour: bool | None = None) -> str:
    """Verdict, what decided it, the ids to quote, each fix once, then the findings grouped by step."""
    total = width or terminal_width()
    prose = min(total, PROSE_WIDTH)
    paint_on = use_colour() if colour is None else colour
    v = report.verdict
    kb = knowledge.load()
    verdict_style = "green" if v.cause == "ok" else "bold-red"
    head = [labelled("VERDICT", f"{v.cause}: {v.title or v.summary} (confidence {v.confidence:.0%})", prose, colour=paint_on,
                     highlight=(v.cause, verdict_style))]
    if v.title and v.summary:
        head.append(labelled("", v.summary, prose))
    if decided := decided_by(v):
        head.append(labelled("DECIDED", decided, prose, colour=paint_on))
    if ids := quote_ids(deciding_finding(report)):
        head.append(labelled("QUOTE", f"{ids} (for the provider's support)", prose, colour=paint_on))
    for n, fx in enumerate(fixes(report.findings, v)):
        head.append(labelled("FIX" if n == 0 else "", f"{fx.cause}: {fx.fix}", prose, colour=paint_on))
    rows = []
    for f in report.findings:
        evidence = f.evidence
        if f.status in PROBLEMS and (ids := quote_ids(f)):
            evidence += "\n" + ids
        rows.append([f.check, f.status, f.cause, evidence])
    body = table(rows, ["check", "status", "cause", "evidence"], width=total, colour=paint_on,
                 headings=[kb.step_title(f.step) for f in report.findings], under="evidence")
    return redact("\n".join(head) + "\n\n" + body)


__all__ = ["PIPE_WIDTH", "STATUS_COLOUR", "faq_text", "fit_widths", "is_terminal", "labelled", "paint", "report_text", "table",
           "terminal_width", "use_colour", "wrap_cell"]
