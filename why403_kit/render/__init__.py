"""Every view of a report, in one layer: text (terminal), Markdown, JSON, HTML, SVG and the support bundle.

:data:`FORMATS` says which renderer turns which kind of report into which named format; the CLI's ``--format``
choices come from it. A new output format is one function and one ``FORMATS.add`` line; another kind of report
(triage's, say) registers its renderers the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import InputError
from ..model import Report
from ..triage import TriageReport
from .bundle import support_bundle, write_bundle
from .frames import readable_table
from .html import View, diagram_html, findings_html, step_sections_html, verdict_html
from .json import report_json, to_json
from .markdown import report_markdown
from .svg import decision_path, decision_path_svg, describe_path
from .text import report_text, table
from .triage import triage_json, triage_markdown, triage_plot, triage_text

R = TypeVar("R")


class Formats:
    """The registry of renderers: one per (kind of report, format name)."""

    def __init__(self) -> None:
        self._renderers: dict[tuple[type, str], Callable[[Any], str]] = {}

    def add(self, kind: type[R], name: str, renderer: Callable[[R], str]) -> None:
        self._renderers[kind, name] = renderer

    def names(self, kind: type) -> list[str]:
        """The formats a kind of report can be rendered in, in the order they were added."""
        return [name for k, name in self._renderers if k is kind]

    def render(self, obj: object, name: str) -> str:
        for kind in type(obj).__mro__:
            if (kind, name) in self._renderers:
                return self._renderers[kind, name](obj)
        raise InputError(f"no format {name!r} for a {type(obj).__name__}; choose one of: {', '.join(self.names(type(obj)))}")


FORMATS = Formats()
FORMATS.add(Report, "table", report_text)
FORMATS.add(Report, "json", report_json)
FORMATS.add(Report, "markdown", report_markdown)
FORMATS.add(TriageReport, "table", triage_text)
FORMATS.add(TriageReport, "json", triage_json)
FORMATS.add(TriageReport, "markdown", triage_markdown)


def render(obj: object, name: str) -> str:
    """``obj`` (a Report, or any kind registered in :data:`FORMATS`) in the format ``name``."""
    return FORMATS.render(obj, name)


__all__ = ["FORMATS", "Formats", "View", "decision_path", "decision_path_svg", "describe_path", "diagram_html", "findings_html",
           "readable_table", "render", "report_json", "report_markdown", "report_text", "step_sections_html", "support_bundle",
           "table", "to_json", "triage_json", "triage_markdown", "triage_plot", "triage_text", "verdict_html",
           "write_bundle"]
