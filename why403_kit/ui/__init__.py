"""Notebook views over the engine: the widget panel, the runbook, the FAQ, the training board and plots.

Nothing here decides anything: every view gathers input, calls the package and shows a
:class:`~why403_kit.model.Report` (or the knowledge base) through :mod:`why403_kit.render`.
Importing it loads ipywidgets, so the CLI never does at start-up.
"""

from __future__ import annotations

from .panel import Panel
from .runbook import Runbook, target_for

__all__ = ["Panel", "Runbook", "target_for"]
