"""The training lab: a real HTTP server on loopback that plays every refusal in the taxonomy.

``with Lab() as lab:`` serves ``lab.url(scenario)``, a base URL whose API answers as that
scenario; ``lab.base_url`` plays the lab's default scenario. ``/ip`` is an IP echo.
"""

from __future__ import annotations

import json
import ssl
import threading
from importlib.resources import files
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_J = {"content-type": "application/json"}


def _err(message: str, type_: str | None = "invalid_request_error", code: str | None = None) -> str:
    return json.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}})


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
                   "<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head><body><h1>Sorry, you have been blocked</h1>"
                   "<p>You are unable to access api.openai.com</p><p>Cloudflare Ray ID: 8f00lab000000000</p></body></html>"),
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
NOT_PLAYED = {"ok": "healthy", "unknown": "nothing to play"}
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
        if length:
            self.rfile.read(min(length, 1 << 20))
        with self.server.lock:
            self.server.count += 1
            self.server.paths.append((self.command, self.path.split("?")[0]))
            self.server.credentialed.append(bool(self.headers.get("authorization") or self.headers.get("api-key")))
        if self.server.latency:
            time.sleep(self.server.latency)  # injected latency: the point of the lab, not a race fix
        path = self.path.split("?")[0]
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
        status, headers, body = SCENARIOS[scenario]
        if scenario == "healthy":
            status, headers, body = self._healthy(path)
        self._send(status, headers, body)

    def _healthy(self, path: str) -> tuple[int, dict[str, str], str]:
        auth = self.headers.get("authorization") or ""
        api_key = self.headers.get("api-key") or ""
        if not auth and not api_key:
            return SCENARIOS["missing_api_key"]
        if auth and not auth.startswith("Bearer ") or auth.strip() != auth or "\"" in auth:
            return SCENARIOS["malformed_auth_header"]
        if path.endswith("/models"):
            return 200, {**_J, **HEALTHY_LIMITS}, json.dumps({"object": "list", "data": [{"id": m, "object": "model"} for m in ("gpt-4o-mini", "omni-moderation-latest")]})
        if "/models/" in path:
            model = path.rsplit("/", 1)[-1]
            if model in ("gpt-4o-mini", "omni-moderation-latest"):
                return 200, _J, json.dumps({"id": model, "object": "model"})
            return 404, _J, _err(f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found")
        return 200, {**_J, **HEALTHY_LIMITS}, json.dumps({"id": "chatcmpl-lab", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]})

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
