"""Step 6, support bundle: what a provider's support needs, as JSON and Markdown, with the key never in it."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..model import Finding, Report
from ..redact import redact, redact_obj


def support_checks(exchanges: list[dict[str, Any]]) -> list[Finding]:
    """What the bundle will hold, as a finding: how many exchanges and which request ids support can look up."""
    ids = sorted({e["headers"].get("x-request-id", "") for e in exchanges} - {""})
    return [Finding("support", "bundle", "pass", "", f"{len(exchanges)} exchanges recorded; request ids: {', '.join(ids) or 'none'}")]


def support_bundle(report: Report) -> dict[str, Any]:
    t = report.target
    path = urlsplit(t.base_url).path.rstrip("/") + "/models"
    header = '-H "api-key: $AZURE_OPENAI_API_KEY"' if t.provider == "azure" else '-H "Authorization: Bearer $OPENAI_API_KEY"'
    return redact_obj({  # type: ignore[no-any-return]
        "generated_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "verdict": report.to_dict()["verdict"],
        "target": t.to_dict(),
        "exchanges": [{k: v for k, v in e.items() if k != "body"} | {"body_head": e["body"][:500]} for e in report.exchanges],
        "request_ids": sorted({e["headers"].get("x-request-id", "") for e in report.exchanges} - {""}),
        "cf_rays": sorted({e["headers"].get("cf-ray", "") for e in report.exchanges} - {""}),
        "findings": [f.to_dict() for f in report.findings],
        "versions": {"python": platform.python_version(), "os": platform.platform(), "httpx": httpx.__version__},
        "reproduce": f"curl -sS -i {header} '{t.origin}{path}'",
    })


def write_bundle(report: Report, out_dir: str | Path) -> list[Path]:
    """Write report.json, support-bundle.json and support-bundle.md into ``out_dir``."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    bundle = support_bundle(report)
    (d / "report.json").write_text(json.dumps(report.to_dict(), indent=2))
    (d / "support-bundle.json").write_text(json.dumps(bundle, indent=2))
    lines = [f"# why403 support bundle ({bundle['generated_utc']})", "", report.to_markdown()]
    lines += ["", "Reproduce (reads the key from the environment):", "", "```", bundle["reproduce"], "```", ""]
    (d / "support-bundle.md").write_text(redact("\n".join(lines)))
    return [d / "report.json", d / "support-bundle.json", d / "support-bundle.md"]
