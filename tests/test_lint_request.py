"""Step 4: linting a request the user's own app sends."""

from __future__ import annotations

import json

import pytest

from why403_kit.probes.headers import lint_request
from why403_kit.redact import redact

from .conftest import CANARY


@pytest.mark.parametrize(("text", "cause"), [
    (f"curl https://api.openai.com/v1/models -H 'Authorization: {CANARY}'", "malformed_auth_header"),
    (f"curl https://api.openai.com/v1/models -H 'Authorization: Bearer \"{CANARY}\"'", "malformed_auth_header"),
    ("curl https://api.openai.com/v1/models", "missing_api_key"),
    (f"curl http://api.openai.com/v1/v1/models -H 'Authorization: Bearer {CANARY}'", "wrong_endpoint"),
    (f"curl 'https://res.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21' -H 'Authorization: Bearer {CANARY}'", "malformed_auth_header"),
    (f"POST https://res.openai.azure.com/openai/deployments/d/chat/completions\napi-key: {CANARY}", "wrong_endpoint"),
    (json.dumps({"request": {"url": "https://api.openai.com/v1/models", "headers": [
        {"name": "Authorization", "value": f"Bearer {CANARY}"}, {"name": "OpenAI-Organization", "value": "my org"}]}}), "org_project_mismatch"),
])
def test_lint_finds_cause(text: str, cause: str) -> None:
    findings = lint_request(text)
    assert cause in {f.cause for f in findings if f.status == "fail"}
    assert all(CANARY not in f.evidence for f in findings)


def test_clean_request_passes() -> None:
    findings = lint_request(f"curl https://api.openai.com/v1/models -H 'Authorization: Bearer {CANARY}' -H 'Content-Type: application/json'")
    assert [f.status for f in findings] == ["pass"]
    assert CANARY not in redact(str(findings))


def test_garbage_is_a_finding() -> None:
    assert lint_request("curl 'unterminated")[0].status == "error"


def test_cli_request_file(lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    req = tmp_path / "req.txt"
    req.write_text(f"curl https://api.openai.com/v1/models -H 'Authorization: {CANARY}'")
    proc = subprocess.run([sys.executable, "-m", "why403_kit", "diagnose", "--base-url", lab.url("ok"), "--request-file", str(req),
                           "--format", "json"], capture_output=True, text=True, timeout=60, env={**os.environ, "OPENAI_API_KEY": CANARY})
    assert CANARY not in proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert any(f["check"] == "Authorization scheme" and f["status"] == "fail" for f in data["findings"])
    assert proc.returncode == 1
