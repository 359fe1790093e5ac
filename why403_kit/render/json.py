"""Structures as JSON: masked as a structure first, then serialized (never a text redaction over JSON, which
could cut into its escapes)."""

from __future__ import annotations

import json
from typing import Any

from ..model import Report
from ..redact import redact_obj


def to_json(data: Any, *, indent: int | None = 2) -> str:
    """``data`` with every secret masked in place, as JSON text (non-ASCII kept as is)."""
    return json.dumps(redact_obj(data), indent=indent, ensure_ascii=False)


def report_json(report: Report) -> str:
    return to_json(report.to_dict())


__all__ = ["report_json", "to_json"]
