"""The training lab: a real HTTP server on loopback that plays every refusal in the taxonomy.

``with Lab() as lab:`` serves ``lab.url(scenario)``, a base URL whose API answers as that
scenario; ``lab.base_url`` plays the lab's default scenario. ``/ip`` is an IP echo.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs

_J = {"content-type": "application/json"}


def _err(message: str, type_: str | None = "invalid_request_error", code: str | None = None, param: str | None = None) -> str:
    return json.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})


def _azure_err(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}})


# scenario -> (status, headers, body). Shapes follow what real providers were seen to send.
SCENARIOS: dict[str, tuple[int, dict[str, str], str]] = {
    "healthy": (200, {}, ""),
    "missing_api_key": (401, _J, _err("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")),
    "malformed_auth_header": (401, _J, _err("Missing bearer or basic authentication in header")),
    "invalid_api_key": (401, _J, _err("Incorrect API key provided: sk-proj-****abcd. You can find your API key at https://platform.openai.com/account/api-keys.", code="invalid_api_key")),
    "auth_method_disabled": (403, _J, json.dumps({"error": {"code": "AuthenticationTypeDisabled", "message": "Key based authentication is disabled for this resource."}})),
    "account_inactive": (401, _J, _err("This key is associated with a deactivated account. If you feel this is an error, contact us through our help center at help.openai.com.", code="account_deactivated")),
    "org_project_mismatch": (401, _J, _err("OpenAI-Organization header should match organization for API key", code="mismatched_organization")),
    "missing_scope": (401, _J, _err("You have insufficient permissions for this operation. Missing scopes: api.model.read. Check that you have the correct role in your organization (Reader, Writer, Owner) and project (Member, Owner), and if you're using a restricted API key, that it has the necessary scopes.")),
    "model_access_denied": (403, _J, _err("Project `proj_LAB000000000000000000000` does not have access to model `gpt-4o-mini`", code="model_not_found")),
    "org_verification_required": (403, _J, _err("Your organization must be verified to use the model `gpt-image-1`. Please go to: https://platform.openai.com/settings/organization/general and click on Verify Organization.")),
    "unsupported_region": (403, _J, _err("Country, region, or territory not supported", "request_forbidden", "unsupported_country_region_territory")),
    "ip_not_allowed": (401, _J, _err("Your request IP does not match the configured IP allowlist for your project or organization.", code="ip_not_authorized")),
    "edge_block": (403, {"content-type": "text/html; charset=UTF-8", "server": "cloudflare", "cf-ray": "8f00lab000000000-AMS"},
                   ("<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head><body><h1>Sorry, you have been blocked</h1>"
                    "<p>You are unable to access api.openai.com</p><p>Cloudflare Ray ID: 8f00lab000000000</p></body></html>")),
    "proxy_block": (403, {"content-type": "text/html", "server": "squid/5.2", "x-squid-error": "ERR_ACCESS_DENIED 0", "via": "1.1 proxy (squid/5.2)"},
                    "<html><head><title>ERROR: The requested URL could not be retrieved</title></head><body><!-- ERR_ACCESS_DENIED --></body></html>"),
    "wrong_endpoint": (404, _J, json.dumps({"error": {"code": "DeploymentNotFound", "message": "The API deployment for this resource does not exist."}})),
    "content_blocked": (403, _J, json.dumps({"error": {"message": "Input was flagged for harassment", "code": 403, "metadata": {"reasons": ["harassment"]}}})),
    "quota_exceeded": (429, _J, _err("You exceeded your current quota, please check your plan and billing details.", "insufficient_quota", "insufficient_quota")),
    "rate_limited": (429, {**_J, "retry-after": "2", "x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "0",
                           "x-ratelimit-reset-requests": "1.2s", "x-ratelimit-limit-tokens": "30000", "x-ratelimit-remaining-tokens": "0",
                           "x-ratelimit-reset-tokens": "6m0s"},
                     _err("Rate limit reached for gpt-4o-mini in organization org-LAB on tokens per min (TPM): Limit 30000, Used 30000, Requested 20. Please try again in 2s.", "tokens", "rate_limit_exceeded")),
    "server_error": (502, {"content-type": "text/html", "server": "cloudflare"}, "<html><head><title>api.openai.com | 502: Bad gateway</title></head></html>"),
    "network_error": (0, {}, ""),  # the connection is closed without an answer
    "tls_interception": (200, {}, ""),  # played by the TLS listener (see Lab.url)
}
HEALTHY_LIMITS = {"x-ratelimit-limit-requests": "5000", "x-ratelimit-remaining-requests": "4999", "x-ratelimit-reset-requests": "12ms",
                  "x-ratelimit-limit-tokens": "800000", "x-ratelimit-remaining-tokens": "799990", "x-ratelimit-reset-tokens": "1ms"}
# The lab accepts any well-formed key; this one is obviously not real and safe to show in class.
LAB_KEY = "sk-proj-LAB-training-key-not-a-real-key-0000"
NOT_PLAYED = {"ok": "healthy", "unknown": "nothing to play"}
# Refusals that only inference endpoints give (listing models works): a restricted key without
# 'model.request', a model that needs a verified organization.
INFERENCE_ONLY = {"missing_scope", "org_verification_required"}
_MISSING_REQUEST_SCOPE = _err("You have insufficient permissions for this operation. Missing scopes: model.request. Check that you have the correct "
                              "role in your organization (Reader, Writer, Owner) and project (Member, Owner), and if you're using a restricted "
                              "API key, that it has the necessary scopes.")
_INFERENCE = ("/chat/completions", "/responses", "/moderations", "/embeddings", "/completions")
# Azure deployment paths (/openai/deployments/{d}/…) answer as Azure OpenAI does.
LAB_DEPLOYMENTS = ("gpt-4o-mini", "gpt4o")
_AZURE_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")
AZURE_MISSING_KEY = (401, _J, _azure_err("401", "Access denied due to missing subscription key. Make sure to include subscription key when "
                                                "making requests to an API."))
AZURE_BAD_BEARER = (401, _J, json.dumps({"statusCode": 401, "message": "Unauthorized. Access token is missing, invalid, audience is incorrect "
                                                                       "(https://cognitiveservices.azure.com), or have expired."}))
AZURE_NOT_FOUND = (404, _J, _azure_err("404", "Resource not found"))
AZURE_SCENARIOS: dict[str, tuple[int, dict[str, str], str]] = {
    "invalid_api_key": (401, _J, _azure_err("401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
                                                   "valid key for an active subscription and use a correct regional API endpoint for your resource.")),
    "ip_not_allowed": (403, {**_J, "policy-id": "ThrowExceptionDueToTrafficDenied", "apim-request-id": "lab-apim-0001"},
                       _azure_err("403", "Access denied due to Virtual Network/Firewall rules.")),
    "missing_scope": (401, _J, _azure_err("PermissionDenied", "The principal `lab-principal` lacks the required data action "
                                                              "`Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action` to "
                                                              "perform `POST /openai/deployments/{deployment-id}/chat/completions` operation.")),
    "rate_limited": (429, {**_J, "retry-after": "2", "retry-after-ms": "2000", "x-ratelimit-remaining-requests": "0", "x-ratelimit-remaining-tokens": "0",
                           "x-ms-region": "East US 2"},
                     _azure_err("429", "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token "
                                       "rate limit of your current OpenAI S0 pricing tier. Please retry after 2 seconds.")),
    "wrong_endpoint": (404, _J, _azure_err("DeploymentNotFound", "The API deployment for this resource does not exist. If you created the "
                                                                 "deployment within the last 5 minutes, please wait a moment and try again.")),
}
TLS_SCENARIO = "tls_interception"  # served by a TLS listener whose certificate no public CA signed


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep stderr quiet (and key-free)
        pass

    def _send(self, status: int, headers: dict[str, str], body: str) -> None:
        data = body.encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("x-request-id", f"req_lab{self.server.count:029d}")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(min(length, 1 << 20)) if length else b""
        auth = self.headers.get("authorization") or ""
        api_key = self.headers.get("api-key") or ""
        with self.server.lock:
            self.server.count += 1
            self.server.paths.append((self.command, self.path.split("?")[0]))
            self.server.credentialed.append(bool(auth or api_key))
            self.server.schemes.append("api-key" if api_key else auth.split(" ", 1)[0].lower() if auth else "")
        if self.server.latency:
            time.sleep(self.server.latency)  # injected latency: the point of the lab, not a race fix
        path, _, query = self.path.partition("?")
        if path == "/ip":
            self._send(200, _J, json.dumps({"ip": self.client_address[0]}))
            return
        scenario = self.server.scenario
        if path.startswith("/s/"):
            scenario, _, rest = path[3:].partition("/")
            path = "/" + rest
        if scenario not in SCENARIOS:
            self._send(404, _J, _err(f"unknown lab scenario {scenario!r}"))
            return
        if scenario == "network_error":
            self.close_connection = True
            self.connection.close()
            return
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if path.startswith("/openai/") and not path.startswith("/openai/v1/"):
            answer = self._azure(scenario, path, query, body)
        elif scenario in INFERENCE_ONLY and not path.endswith(_INFERENCE[:2] if scenario == "org_verification_required" else _INFERENCE):
            answer = self._healthy(path, body)  # listing and retrieving models (and, for verification, moderation) still works
        elif scenario == "missing_scope":
            answer = 401, _J, _MISSING_REQUEST_SCOPE
        elif scenario == "healthy":
            answer = self._healthy(path, body)
        else:
            answer = SCENARIOS[scenario]
        self._send(*answer)

    def _billable(self) -> None:
        with self.server.lock:
            self.server.billable.append((self.command, self.path.split("?")[0]))

    def _healthy(self, path: str, body: Any) -> tuple[int, dict[str, str], str]:
        auth = self.headers.get("authorization") or ""
        api_key = self.headers.get("api-key") or ""
        if not auth and not api_key:
            return SCENARIOS["missing_api_key"]
        if (auth and not auth.startswith("Bearer ")) or auth.strip() != auth or "\"" in auth:
            return SCENARIOS["malformed_auth_header"]
        ok = {**_J, **HEALTHY_LIMITS}
        if self.command == "GET" and path.endswith("/models"):
            return 200, ok, json.dumps({"object": "list", "data": [{"id": m, "object": "model"} for m in ("gpt-4o-mini", "omni-moderation-latest")]})
        if self.command == "GET" and "/models/" in path:
            model = path.rsplit("/", 1)[-1]
            if model in ("gpt-4o-mini", "omni-moderation-latest"):
                return 200, _J, json.dumps({"id": model, "object": "model"})
            return 404, _J, _err(f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found")
        if self.command == "POST" and path.endswith(("/chat/completions", "/responses", "/moderations")):
            return self._inference(path, body, ok)
        return 404, _J, _err(f"Invalid URL ({self.command} {path})")

    def _inference(self, path: str, body: Any, ok: dict[str, str]) -> tuple[int, dict[str, str], str]:
        """Validate like the API does (before any inference); a valid chat or responses call is billable."""
        b = body if isinstance(body, dict) else {}
        if path.endswith("/moderations"):
            if not b.get("input"):
                return 400, _J, _err("Missing required parameter: 'input'.", param="input", code="missing_required_parameter")
            return 200, ok, json.dumps({"id": "modr-lab", "model": b.get("model", "omni-moderation-latest"), "results": [{"flagged": False}]})
        azure = path.startswith("/openai/")
        if not azure and not b.get("model"):
            return 400, _J, _err("you must provide a model parameter", param="model")
        items, cap, minimum = (("messages", "max_completion_tokens", 1) if path.endswith("/chat/completions") else ("input", "max_output_tokens", 16))
        if not b.get(items):
            return 400, _J, _err(f"Invalid '{items}': empty array. Expected an array with minimum length 1, but got an empty array instead.",
                                 param=items, code="empty_array")
        limit = b.get(cap, b.get("max_tokens"))
        if limit is not None and (not isinstance(limit, int) or limit < minimum):
            return 400, _J, _err(f"Invalid '{cap}': integer below minimum value. Expected a value >= {minimum}, but got {limit} instead.",
                                 param=cap, code="integer_below_min_value")
        self._billable()
        return 200, ok, json.dumps({"id": "chatcmpl-lab", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]})

    def _azure(self, scenario: str, path: str, query: str, body: Any) -> tuple[int, dict[str, str], str]:
        """/openai/deployments/{d}/… and /openai/models: api-key header (or an Entra Bearer JWT), then ?api-version."""
        auth = self.headers.get("authorization") or ""
        api_key = self.headers.get("api-key") or ""
        if not api_key:
            if not auth:
                return AZURE_MISSING_KEY
            token = auth.removeprefix("Bearer ")
            if not (auth.startswith("Bearer ") and token.startswith("eyJ") and token.count(".") == 2):
                return AZURE_BAD_BEARER  # an API key sent as Bearer, or a token that is no JWT
        version = (parse_qs(query).get("api-version") or [""])[0]
        if not _AZURE_API_VERSION.fullmatch(version):
            return AZURE_NOT_FOUND  # Azure answers a missing or unknown api-version with 404 "Resource not found"
        if scenario in AZURE_SCENARIOS and not (scenario == "missing_scope" and self.command == "GET"):
            return AZURE_SCENARIOS[scenario]
        if (scenario in INFERENCE_ONLY and self.command == "GET") or scenario == "healthy":
            return self._azure_healthy(path, body)
        return SCENARIOS[scenario]

    def _azure_healthy(self, path: str, body: Any) -> tuple[int, dict[str, str], str]:
        limits = {**_J, "x-ratelimit-remaining-requests": "99", "x-ratelimit-remaining-tokens": "99000", "x-ms-region": "East US 2"}
        if self.command == "GET" and path.rstrip("/") == "/openai/models":
            return 200, _J, json.dumps({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})
        parts = path.strip("/").split("/")  # openai, deployments, {d}, …
        if len(parts) < 3 or parts[1] != "deployments":
            return AZURE_NOT_FOUND
        if parts[2] not in LAB_DEPLOYMENTS:
            return AZURE_SCENARIOS["wrong_endpoint"]
        rest = "/".join(parts[3:])
        if self.command == "GET" and not rest:
            return 200, _J, json.dumps({"id": parts[2], "model": "gpt-4o-mini", "status": "succeeded", "object": "deployment"})
        if self.command == "POST" and rest == "chat/completions":
            return self._inference(path, body, limits)
        return AZURE_NOT_FOUND

    do_GET = do_POST = do_PUT = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    scenario = "healthy"
    latency = 0.0
    count = 0

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.lock = threading.Lock()
        self.paths: list[tuple[str, str]] = []
        self.credentialed: list[bool] = []  # whether each request carried a credential (never the value)
        self.schemes: list[str] = []  # 'bearer', 'api-key' or '' per request (never the value)
        self.billable: list[tuple[str, str]] = []  # requests the lab answered with inference (would spend tokens)


class Lab:
    """A lab server on 127.0.0.1 (port 0 = any free port), run in a background thread."""

    def __init__(self, scenario: str = "healthy", port: int = 0, latency_ms: float = 0.0) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}")
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.scenario = scenario
        self._server.latency = latency_ms / 1000
        self._thread: threading.Thread | None = None
        # An HTTPS listener with a self-signed certificate plays a TLS-intercepting proxy.
        self._tls = _Server(("127.0.0.1", 0), _Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        certs = files(__package__).joinpath("lab_tls")
        ctx.load_cert_chain(str(certs.joinpath("lab-cert.pem")), str(certs.joinpath("lab-key.pem")))
        self._tls.socket = ctx.wrap_socket(self._tls.socket, server_side=True)

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        return self.url(TLS_SCENARIO) if self._server.scenario == TLS_SCENARIO else f"{self.origin}/v1"

    @property
    def ip_echo_url(self) -> str:
        return f"{self.origin}/ip"

    def url(self, scenario: str) -> str:
        """Base URL of an API that answers as ``scenario``."""
        if scenario == TLS_SCENARIO:
            return f"https://127.0.0.1:{self._tls.server_address[1]}/v1"
        return f"{self.origin}/s/{scenario}/v1"

    @property
    def request_count(self) -> int:
        return self._server.count

    @property
    def requests(self) -> list[tuple[str, str]]:
        return list(self._server.paths)

    @property
    def credentialed(self) -> list[bool]:
        return list(self._server.credentialed)

    @property
    def tls_request_count(self) -> int:
        """HTTP requests that reached the TLS (interception) listener: none should, since no client may trust it."""
        return self._tls.count

    @property
    def auth_schemes(self) -> list[str]:
        """How each request carried its credential: 'bearer', 'api-key' or '' (never the value)."""
        return list(self._server.schemes)

    @property
    def billable(self) -> list[tuple[str, str]]:
        """(method, path) of each request the lab answered with inference: those a real provider would bill."""
        return list(self._server.billable) + list(self._tls.billable)

    def azure_url(self, scenario: str) -> str:
        """An Azure OpenAI endpoint base (…/openai) whose deployments answer as ``scenario``."""
        return self.url(scenario).removesuffix("/v1") + "/openai"

    def start(self) -> Lab:
        self._thread = threading.Thread(target=self._server.serve_forever, name="why403-lab", daemon=True)
        self._thread.start()
        threading.Thread(target=self._tls.serve_forever, name="why403-lab-tls", daemon=True).start()
        return self

    def stop(self) -> None:
        for server in (self._server, self._tls):
            server.shutdown()
            server.server_close()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
