"""Second line of defence before any export: strip widget state and papermill parameters, redact every text.

The panel already clears its Password field, but a notebook executed headless with ``store_widget_state=True``
(the nbclient default) keeps every widget value in ``metadata.widgets``, papermill keeps its parameters in
``metadata.papermill``, and any cell may print a key. Nothing of that may reach an exported page.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import nbformat
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets import List, Unicode

from .._secret import Secret
from ..redact import MASK, redact

NBF: Any = nbformat  # nbformat ships no type hints; one Any-typed handle keeps the rest of the package strict
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
REPORT_MIME = "application/vnd.why403.report+json"  # a report handed from the executed notebook to the exporter
BINARY_MIMES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"})
# Environment variables whose exact values are masked too, for keys no pattern recognises (Azure's 32 hex digits).
DEFAULT_SECRET_ENV = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "OPENROUTER_API_KEY", "GROQ_API_KEY", "ANTHROPIC_API_KEY")
_MIN_SECRET = 8  # shorter values would mask ordinary words


def secret_values(env_names: Iterable[str] = DEFAULT_SECRET_ENV) -> tuple[str, ...]:
    """The values of the named environment variables that are long enough to be credentials.

    Each is held in a :class:`~why403_kit.Secret` as it is read, so the masking pass knows it from then on in every
    derived form (base64 of ``Bearer <key>``, escaped, URL-encoded, without its prefix), not only as written here.
    """
    values = {os.environ.get(n, "").strip() for n in env_names}
    found = tuple(sorted((v for v in values if len(v) >= _MIN_SECRET), key=len, reverse=True))
    for value in found:
        Secret(value)
    return found


def safe_redact(text: str, secrets: Iterable[str] = ()) -> str:
    """:func:`why403_kit.redact.redact` plus the exact ``secrets`` (values no key pattern recognises)."""
    out = text
    for value in secrets:
        if value:
            out = out.replace(value, MASK)
    return redact(out)


def _redact_any(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return safe_redact(value, secrets)
    if isinstance(value, dict):
        return type(value)((k, _redact_any(v, secrets)) for k, v in value.items())
    if isinstance(value, list):
        return [_redact_any(v, secrets) for v in value]
    return value


def _scrub_output(output: NotebookNode, secrets: tuple[str, ...]) -> NotebookNode:
    kind = output.get("output_type")
    if kind == "stream":
        output["text"] = safe_redact(str(output.get("text", "")), secrets)
    elif kind == "error":
        output["ename"] = safe_redact(str(output.get("ename", "")), secrets)
        output["evalue"] = safe_redact(str(output.get("evalue", "")), secrets)
        output["traceback"] = [safe_redact(str(line), secrets) for line in output.get("traceback", [])]
    if "data" in output:
        data = output["data"]
        for mime in list(data):
            if mime not in BINARY_MIMES:
                data[mime] = _redact_any(data[mime], secrets)
    if "metadata" in output:
        output["metadata"] = _redact_any(output["metadata"], secrets)
    return output


def scrub_notebook(nb: NotebookNode, secrets: Iterable[str] = ()) -> tuple[NotebookNode, dict[str, Any] | None]:
    """Scrub ``nb`` in place; return it and the report the notebook handed over (``REPORT_MIME`` output), if any."""
    found = tuple(secrets)
    report: dict[str, Any] | None = None
    nb.metadata.pop("widgets", None)
    nb.metadata.pop("papermill", None)
    nb["metadata"] = _redact_any(nb.metadata, found)
    for cell in nb.cells:
        cell["source"] = safe_redact(str(cell.get("source", "")), found)
        cell.metadata.pop("papermill", None)
        cell["metadata"] = _redact_any(cell.metadata, found)
        if "outputs" not in cell:
            continue
        kept = []
        for output in cell.outputs:
            data = output.get("data") or {}
            if WIDGET_VIEW in data or WIDGET_STATE in data:
                continue  # a widget has no static form; its state may hold what was typed into it
            if REPORT_MIME in data:
                if isinstance(data[REPORT_MIME], dict):
                    report = _redact_any(dict(data[REPORT_MIME]), found)
                continue
            kept.append(_scrub_output(output, found))
        cell["outputs"] = kept
    return nb, report


class ScrubPreprocessor(Preprocessor):
    """nbconvert preprocessor around :func:`scrub_notebook`; the why403 exporter always runs it last."""

    secret_env = List(Unicode(), default_value=list(DEFAULT_SECRET_ENV),
                      help="environment variables whose exact values are masked").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        nb, report = scrub_notebook(nb, secret_values(self.secret_env))
        if report is not None and not resources.get("why403_report"):
            resources["why403_report"] = report
        return nb, resources


__all__ = ["DEFAULT_SECRET_ENV", "REPORT_MIME", "ScrubPreprocessor", "safe_redact", "scrub_notebook", "secret_values"]
