"""The classifier on every real response collected from public reports, and on hostile input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from why403_kit import classify
from why403_kit.knowledge import load

CASES = [json.loads(line) for line in (Path(__file__).parent / "fixtures" / "real-responses.jsonl").read_text().splitlines() if line]
TAXONOMY = {
    "ok", "missing_api_key", "malformed_auth_header", "invalid_api_key", "auth_method_disabled", "account_inactive",
    "org_project_mismatch", "missing_scope", "model_access_denied", "org_verification_required", "unsupported_region",
    "ip_not_allowed", "edge_block", "proxy_block", "tls_interception", "wrong_endpoint", "content_blocked",
    "quota_exceeded", "rate_limited", "request_too_large", "server_error", "network_error", "unknown",
}


def test_knowledge_covers_exactly_the_taxonomy() -> None:
    assert set(load().causes) == TAXONOMY


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_real_response(case: dict) -> None:
    d = classify(case["status"], case["headers"], case["body"], case.get("exception"))
    assert d.cause in case["accept"], d.evidence
    assert d.evidence and d.fix
    assert d.responder in {"provider", "edge", "gateway", "proxy", "client", "unknown"}


@pytest.mark.parametrize(
    ("status", "headers", "body", "exception", "expected"),
    [
        # wordings and wrappers that are not in the sample
        (401, {}, '{"error":{"message":"Incorrect API key provided: sk-abc***xyz.","code":"invalid_api_key"}}', None, "invalid_api_key"),
        (502, {"content-type": "application/json"}, '{"error":{"message":"upstream: {\\"error\\":{\\"code\\":\\"insufficient_quota\\"}}"}}', None, "quota_exceeded"),
        (403, {"server": "cloudflare", "cf-ray": "8a1-AMS"}, "<html><head><title>Attention Required! | Cloudflare</title></head></html>", None, "edge_block"),
        (403, {}, "error code: 1020", None, "edge_block"),
        (407, {"Proxy-Authenticate": "Basic realm=corp"}, "", None, "proxy_block"),
        (403, {"X-Zscaler-Transaction": "1"}, "<html>Website blocked</html>", None, "proxy_block"),
        (403, {}, '{"error":{"code":"AuthenticationTypeDisabled","message":"Key based authentication is disabled for this resource."}}', None, "auth_method_disabled"),
        (404, {}, '{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}', None, "wrong_endpoint"),
        (401, {}, '{"error":{"message":"OpenAI-Project header should match project for API key","code":"mismatched_project"}}', None, "org_project_mismatch"),
        (401, {}, '{"error":{"message":"Not allowed","code":"ip_not_authorized"}}', None, "ip_not_allowed"),
        (429, {"retry-after": "3"}, "", None, "rate_limited"),
        (429, {}, '{"error":{"type":"insufficient_quota","code":"project_spend_limit_exceeded"}}', None, "quota_exceeded"),
        (403, {}, '{"error":{"message":"Input was flagged for self-harm","code":403,"metadata":{"reasons":["self-harm"]}}}', None, "content_blocked"),
        (None, {}, "", "httpx.ConnectError: [Errno 111] Connection refused", "network_error"),
        (None, {}, "", "ssl.SSLCertVerificationError: self-signed certificate in certificate chain", "tls_interception"),
        (503, {}, '{"error":{"message":"The engine is currently overloaded, please try again later","type":"server_error"}}', None, "server_error"),
        (200, {}, '{"object":"list","data":[{"id":"omni-moderation-latest"}]}', None, "ok"),
        # Azure OpenAI shapes the lab plays on deployment paths
        (401, {}, '{"error":{"code":"401","message":"Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."}}', None, "missing_api_key"),
        (401, {}, '{"statusCode":401,"message":"Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired."}', None, "invalid_api_key"),
        (401, {}, '{"statusCode":401,"message":"Access token is missing"}', None, "missing_api_key"),
        (404, {}, '{"error":{"code":"404","message":"Resource not found"}}', None, "wrong_endpoint"),
        (401, {}, '{"error":{"code":"PermissionDenied","message":"The principal `x` lacks the required data action `Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action`."}}', None, "missing_scope"),
        (403, {"policy-id": "ThrowExceptionDueToTrafficDenied"}, '{"error":{"code":"403","message":"Access denied due to Virtual Network/Firewall rules."}}', None, "ip_not_allowed"),
    ],
)
def test_generalises(status, headers, body, exception, expected) -> None:  # type: ignore[no-untyped-def]
    assert classify(status, headers, body, exception).cause == expected


@pytest.mark.parametrize(
    "body",
    ["", "{", "[[[[" * 5000, "\x00\xff" * 100, "{'a': " * 3000, "<html>" + "x" * 10_000_000, b"\xff\xfe binary", {"error": None}],
)
def test_never_raises(body) -> None:  # type: ignore[no-untyped-def]
    d = classify("not-a-status", {"X": object()}, body)  # type: ignore[arg-type]
    assert d.cause in TAXONOMY
