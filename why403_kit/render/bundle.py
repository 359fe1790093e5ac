"""The support bundle: what a provider's support needs from a report, as JSON and Markdown, never with the key."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from .._files import write_files
from ..model import SCHEMA_VERSION, Report
from ..redact import redact, redact_obj
from .json import to_json
from .markdown import report_markdown


def support_bundle(report: Report) -> dict[str, Any]:
    """The bundle as a (masked) structure: verdict, target, exchanges, request ids, cf-rays, findings, versions, a curl."""
    t = report.target
    data = report.to_dict()
    path = urlsplit(t.base_url).path.rstrip("/") + "/models"
    header = '-H "api-key: $AZURE_OPENAI_API_KEY"' if t.provider == "azure" else '-H "Authorization: Bearer $OPENAI_API_KEY"'
    return redact_obj({  # type: ignore[no-any-return]
        "generated_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "schema_version": SCHEMA_VERSION,
        "verdict": data["verdict"],
        "target": data["target"],
        "exchanges": data["exchanges"],
        "request_ids": sorted({e.request_id for e in report.exchanges} - {""}),
        "cf_rays": sorted({e.cf_ray for e in report.exchanges} - {""}),
        "findings": data["findings"],
        "versions": {"python": platform.python_version(), "os": platform.platform(), "httpx": httpx.__version__},
        "reproduce": f"curl -sS -i {header} '{t.origin}{path}'",
    })


def bundle_markdown(report: Report, bundle: dict[str, Any]) -> str:
    lines = [f"# why403 support bundle ({bundle['generated_utc']})", "", report_markdown(report), ""]
    ids = [f"- request id `{i}`" for i in bundle["request_ids"]] + [f"- cf-ray `{r}`" for r in bundle["cf_rays"]]
    if ids:
        lines += ["## Ids to quote", "", "Give these to the provider's support (or the CDN's, for a cf-ray): they find the exact "
                  "requests in their logs with them.", "", *ids]
    lines += ["", "Reproduce (reads the key from the environment):", "", "```", str(bundle["reproduce"]), "```", ""]
    return redact("\n".join(lines))


def write_bundle(report: Report, out_dir: str | Path) -> list[Path]:
    """Write report.json, support-bundle.json and support-bundle.md into ``out_dir``; return their paths.

    Every text is made before the first file is written, and each file is written whole or not at all. A directory
    that cannot be used is an InputError (check it before the run with :func:`why403_kit._files.check_out_dir`).
    """
    bundle = support_bundle(report)
    return write_files(out_dir, {
        "report.json": to_json(report.to_dict()),
        "support-bundle.json": to_json(bundle),
        "support-bundle.md": bundle_markdown(report, bundle),
    })


__all__ = ["bundle_markdown", "support_bundle", "write_bundle"]
