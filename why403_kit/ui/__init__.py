"""Notebook views over the engine: the widget panel, styled tables and plots.

Nothing here decides anything: every view reads a :class:`~why403_kit.model.Report` (or the
knowledge base) and renders it. Importing this package needs the ``jupyter`` extra.
"""

from __future__ import annotations

from .panel import Panel
from .runbook import Runbook, shared_lab, target_for
from .tables import findings_html, findings_styler, verdict_html

__all__ = ["Panel", "Runbook", "findings_html", "findings_styler", "shared_lab", "target_for", "verdict_html"]
