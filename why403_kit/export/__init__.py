"""Offline HTML exports of the runbook and the FAQ through nbconvert (``why403 export``, ``--to why403``).

Pages are self-contained (no script, stylesheet, font or image from any host), hide code by tags, carry a
table of contents, phone and print CSS, the verdict first with the decision-path diagram, and never a secret.
"""

from __future__ import annotations

from .documents import (
    default_notebook,
    emit_report,
    execute_notebook,
    export_faq,
    export_runbook,
    faq_notebook,
)
from .exporter import ReportPreprocessor, Why403Exporter
from .scrub import REPORT_MIME, ScrubPreprocessor, safe_redact, scrub_notebook, secret_values

__all__ = [
    "REPORT_MIME", "ReportPreprocessor", "ScrubPreprocessor", "Why403Exporter", "default_notebook",
    "emit_report", "execute_notebook", "export_faq", "export_runbook", "faq_notebook", "safe_redact",
    "scrub_notebook", "secret_values",
]
