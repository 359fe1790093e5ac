"""The lab's scenarios: one per cause id of the taxonomy, each the answer a real provider (or the hop in front of it)
was seen to send. Data only; :mod:`._server` plays them.
"""

from __future__ import annotations

import json
import re

JSON = {"content-type": "application/json"}


def openai_error(message: str, type_: str | None = "invalid_request_error", code: str | None = None, param: str | None = None) -> str:
    return json.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})


def azure_error(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}})


# scenario -> (status, headers, body). Shapes follow what real providers were seen to send.
SCENARIOS: dict[str, tuple[int, dict[str, str], str]] = {
    "ok": (200, {}, ""),  # a healthy API: every request it can serve is accepted
    "missing_api_key": (401, JSON, openai_error("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")),
    "malformed_auth_header": (401, JSON, openai_error("Missing bearer or basic authentication in header")),
    "invalid_api_key": (401, JSON, openai_error("Incorrect API key provided: sk-proj-****abcd. You can find your API key at https://platform.openai.com/account/api-keys.", code="invalid_api_key")),
    "auth_method_disabled": (403, JSON, json.dumps({"error": {"code": "AuthenticationTypeDisabled", "message": "Key based authentication is disabled for this resource."}})),
    "account_inactive": (401, JSON, openai_error("This key is associated with a deactivated account. If you feel this is an error, contact us through our help center at help.openai.com.", code="account_deactivated")),
    "org_project_mismatch": (401, JSON, openai_error("OpenAI-Organization header should match organization for API key", code="mismatched_organization")),
    "missing_scope": (401, JSON, openai_error("You have insufficient permissions for this operation. Missing scopes: api.model.read. Check that you have the correct role in your organization (Reader, Writer, Owner) and project (Member, Owner), and if you're using a restricted API key, that it has the necessary scopes.")),
    "model_access_denied": (403, JSON, openai_error("Project `proj_LAB000000000000000000000` does not have access to model `gpt-4o-mini`", code="model_not_found")),
    "org_verification_required": (403, JSON, openai_error("Your organization must be verified to use the model `gpt-image-1`. Please go to: https://platform.openai.com/settings/organization/general and click on Verify Organization.")),
    "unsupported_region": (403, JSON, openai_error("Country, region, or territory not supported", "request_forbidden", "unsupported_country_region_territory")),
    "ip_not_allowed": (401, JSON, openai_error("Your request IP does not match the configured IP allowlist for your project or organization.", code="ip_not_authorized")),
    "edge_block": (403, {"content-type": "text/html; charset=UTF-8", "server": "cloudflare", "cf-ray": "8f00lab000000000-AMS"},
                   ("<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head><body><h1>Sorry, you have been blocked</h1>"
                    "<p>You are unable to access api.openai.com</p><p>Cloudflare Ray ID: 8f00lab000000000</p></body></html>")),
    "proxy_block": (403, {"content-type": "text/html", "server": "squid/5.2", "x-squid-error": "ERR_ACCESS_DENIED 0", "via": "1.1 proxy (squid/5.2)"},
                    "<html><head><title>ERROR: The requested URL could not be retrieved</title></head><body><!-- ERR_ACCESS_DENIED --></body></html>"),
    "wrong_endpoint": (404, JSON, json.dumps({"error": {"code": "DeploymentNotFound", "message": "The API deployment for this resource does not exist."}})),
    "content_blocked": (403, JSON, json.dumps({"error": {"message": "Input was flagged for harassment", "code": 403, "metadata": {"reasons": ["harassment"]}}})),
    "quota_exceeded": (429, JSON, openai_error("You exceeded your current quota, please check your plan and billing details.", "insufficient_quota", "insufficient_quota")),
    "rate_limited": (429, {**JSON, "retry-after": "2", "x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "0",
                           "x-ratelimit-reset-requests": "1.2s", "x-ratelimit-limit-tokens": "30000", "x-ratelimit-remaining-tokens": "0",
                           "x-ratelimit-reset-tokens": "6m0s"},
                     openai_error("Rate limit reached for gpt-4o-mini in organization org-LAB on tokens per min (TPM): Limit 30000, Used 30000, Requested 20. Please try again in 2s.", "tokens", "rate_limit_exceeded")),
    # One request larger than the whole per-minute budget: the bucket is full (remaining = limit) and no Retry-After,
    # because waiting never lets it through. Played on the inference endpoints only (see INFERENCE_ONLY).
    "request_too_large": (429, {**JSON, "x-ratelimit-limit-tokens": "30000", "x-ratelimit-remaining-tokens": "30000", "x-ratelimit-reset-tokens": "0s"},
                          openai_error("Request too large for gpt-4o-mini in organization org-LAB on tokens per min (TPM): Limit 30000, Requested 45012. "
                                       "The input or output tokens must be reduced in order to run successfully. Visit "
                                       "https://platform.openai.com/account/rate-limits to learn more.", "tokens", "rate_limit_exceeded")),
    "server_error": (502, {"content-type": "text/html", "server": "cloudflare"}, "<html><head><title>api.openai.com | 502: Bad gateway</title></head></html>"),
    "network_error": (0, {}, ""),  # the connection is closed without an answer
    "tls_interception": (200, {}, ""),  # played by the TLS listener (see Lab.url)
}
HEALTHY_LIMITS = {"x-ratelimit-limit-requests": "5000", "x-ratelimit-remaining-requests": "4999", "x-ratelimit-reset-requests": "12ms",
                  "x-ratelimit-limit-tokens": "800000", "x-ratelimit-remaining-tokens": "799990", "x-ratelimit-reset-tokens": "1ms"}
# The lab accepts any well-formed key; this one is obviously not real and safe to show in class.
LAB_KEY = "sk-proj-LAB-training-key-not-a-real-key-0000"
NOT_PLAYED = {"unknown": "the kit's answer when no cause fits, not one a server gives"}
# Old scenario names still accepted as input (shown under their cause id).
ALIASES = {"healthy": "ok"}
# Refusals that only inference endpoints give (listing models works): a restricted key without
# 'model.request', a model that needs a verified organization, a request larger than the token budget.
INFERENCE_ONLY = {"missing_scope", "org_verification_required", "request_too_large"}
MISSING_REQUEST_SCOPE = openai_error("You have insufficient permissions for this operation. Missing scopes: model.request. Check that you have the correct "
                              "role in your organization (Reader, Writer, Owner) and project (Member, Owner), and if you're using a restricted "
                              "API key, that it has the necessary scopes.")
INFERENCE_PATHS = ("/chat/completions", "/responses", "/moderations", "/embeddings", "/completions")
# Azure deployment paths (/openai/deployments/{d}/…) answer as Azure OpenAI does.
LAB_DEPLOYMENTS = ("gpt-4o-mini", "gpt4o")
AZURE_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")
AZURE_MISSING_KEY = (401, JSON, azure_error("401", "Access denied due to missing subscription key. Make sure to include subscription key when "
                                                "making requests to an API."))
AZURE_BAD_BEARER = (401, JSON, json.dumps({"statusCode": 401, "message": "Unauthorized. Access token is missing, invalid, audience is incorrect "
                                                                       "(https://cognitiveservices.azure.com), or have expired."}))
AZURE_NOT_FOUND = (404, JSON, azure_error("404", "Resource not found"))
AZURE_SCENARIOS: dict[str, tuple[int, dict[str, str], str]] = {
    "invalid_api_key": (401, JSON, azure_error("401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
                                                   "valid key for an active subscription and use a correct regional API endpoint for your resource.")),
    "ip_not_allowed": (403, {**JSON, "policy-id": "ThrowExceptionDueToTrafficDenied", "apim-request-id": "lab-apim-0001"},
                       azure_error("403", "Access denied due to Virtual Network/Firewall rules.")),
    "missing_scope": (401, JSON, azure_error("PermissionDenied", "The principal `lab-principal` lacks the required data action "
                                                              "`Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action` to "
                                                              "perform `POST /openai/deployments/{deployment-id}/chat/completions` operation.")),
    "rate_limited": (429, {**JSON, "retry-after": "2", "retry-after-ms": "2000", "x-ratelimit-remaining-requests": "0", "x-ratelimit-remaining-tokens": "0",
                           "x-ms-region": "East US 2"},
                     azure_error("429", "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token "
                                       "rate limit of your current OpenAI S0 pricing tier. Please retry after 2 seconds.")),
    "wrong_endpoint": (404, JSON, azure_error("DeploymentNotFound", "The API deployment for this resource does not exist. If you created the "
                                                                 "deployment within the last 5 minutes, please wait a moment and try again.")),
}
TLS_SCENARIO = "tls_interception"  # served by a TLS listener whose certificate no public CA signed


def scenario_id(name: str) -> str:
    """A scenario id from user input: the cause id, or an old alias of it (``healthy`` is ``ok``)."""
    return ALIASES.get(name, name)
