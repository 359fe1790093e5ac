"""A report's DataFrame as a table people can read in JupyterLab: what the notebooks display instead of the raw frame.

pandas' own HTML cuts every cell at 50 characters ('…' in the middle of the evidence) and shows shares as 0.1241 and
times as long ISO strings that wrap. :func:`readable_table` shows each cell whole and escaped (a log's or a server's
text is data: pandas' Styler renders cells as HTML unless told not to), shares as percentages, times short and on one
line, and long text wrapping inside its cell so the table fits the notebook's width instead of scrolling sideways.
pandas is imported only when a table is drawn.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from .theme import PALETTE

# Columns, by name, that hold a share of a whole (0..1) or a moment (ISO 8601), in the frames the reports make.
SHARE_COLUMNS = frozenset({"share"})
TIME_COLUMNS = frozenset({"first_seen", "last_seen", "example_at", "utc"})
LONG_TEXT = 30  # a column with a cell longer than this wraps inside its cells, even inside a token (an OpenAI request id: 36)

_CELL = f"text-align:left;vertical-align:top;padding:3px 4px;line-height:1.35;border-bottom:1px solid {PALETTE['line']}"
# JupyterLab's output CSS fixes every table's layout (`.jp-RenderedHTMLCommon table {table-layout: fixed}`), which splits the
# width evenly: the table sets its own, and its width, so that the text columns take what the short ones leave.
_TABLE = "border-collapse:collapse;table-layout:auto;width:100%;font-size:12px"
_HEAD = f"text-align:left;vertical-align:bottom;padding:3px 4px;background:{PALETTE['th-bg']};border-bottom:2px solid {PALETTE['th-line']}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def short_time(value: Any) -> str:
    """An ISO 8601 moment as 'YYYY-MM-DD HH:MM' (UTC when it carries an offset); anything else as it is."""
    if _missing(value) or value == "":
        return ""
    text = str(value)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M")


def percent(value: Any) -> str:
    """A share (0..1) as a percentage with one decimal: 0.1241 -> '12.4%'."""
    if _missing(value):
        return ""
    try:
        return f"{float(value):.1%}"
    except (TypeError, ValueError):
        return str(value)


def plain(value: Any) -> str:
    """Any other cell: lists joined by commas, floats without trailing noise, missing values empty."""
    if _missing(value):
        return ""
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(plain(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    if hasattr(value, "tolist"):  # a numpy array or scalar from a frame
        return plain(value.tolist())
    return str(value)


# Where a long token may break when its column needs the room: after an underscore, a slash or a dot before a letter
# (cause ids, host names, URLs), so 'gateway.ai.cloudflare.com' wraps at its dots rather than inside a word.
_BREAK_AFTER = re.compile(r"([_/]|\.(?=[A-Za-z]))")


def _escaped(show: Callable[[Any], str]) -> Callable[[Any], str]:
    return lambda value: html.escape(show(value))


def _escaped_breakable(show: Callable[[Any], str]) -> Callable[[Any], str]:
    """Escaped first, then a <wbr> (no text of its own) after each break point: an entity never holds '_', '/' or '.'."""
    return lambda value: _BREAK_AFTER.sub(r"\1<wbr>", html.escape(show(value)))


def _shower(column: str) -> Callable[[Any], str]:
    return percent if column in SHARE_COLUMNS else short_time if column in TIME_COLUMNS else plain


def _long(values: Iterable[str]) -> bool:
    return any(len(v) > LONG_TEXT or "\n" in v for v in values)


def readable_table(frame: Any) -> Any:
    """``frame`` (a report's ``to_frame()``, or columns of it) as a pandas Styler that JupyterLab shows readably: every
    cell whole and HTML-escaped, shares as percentages, times short on one line, long text wrapping in its cell."""
    from pandas.api.types import is_numeric_dtype

    styler = frame.style.hide(axis="index")
    one_line = {c for c in frame.columns if str(c) in SHARE_COLUMNS or str(c) in TIME_COLUMNS or is_numeric_dtype(frame[c])}
    wrapping = {c for c in frame.columns if c not in one_line and _long(_shower(str(c))(v) for v in frame[c])}
    # Break points only where text wraps: a short cell (a cause id) stays one token, in the HTML as on screen.
    styler = styler.format({c: (_escaped_breakable if c in wrapping else _escaped)(_shower(str(c))) for c in frame.columns})
    styler = styler.format_index(_escaped_breakable(str), axis=1)  # 'first_seen' may break (format_index would escape the <wbr>)
    styler = styler.set_table_styles([{"selector": "", "props": _TABLE}, {"selector": "th", "props": _HEAD},
                                      {"selector": "td", "props": _CELL}])
    for column in frame.columns:
        if column in one_line:
            props = {"white-space": "nowrap"}  # a time or a number is never cut in two
        elif column in wrapping:
            props = {"white-space": "pre-wrap", "overflow-wrap": "anywhere", "min-width": "6em"}  # wraps, even inside a long token
        else:
            props = {"white-space": "normal"}  # short text breaks at its spaces only when the table needs the room
        styler = styler.set_properties(subset=[column], **props)
    return styler
