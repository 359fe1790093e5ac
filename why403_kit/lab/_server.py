"""The lab's HTTP handler (plays a scenario per request, as the OpenAI API, Azure OpenAI or a hop in front of them), its
listeners, and the one thread that accepts connections for all of them."""

from __future__ import annotations

import contextlib
import json
import logging
import selectors
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from ._scenarios import (
    AZURE_API_VERSION,
    AZURE_BAD_BEARER,
    AZURE_MISSING_KEY,
    AZURE_NOT_FOUND,
    AZURE_SCENARIOS,
    HEALTHY_LIMITS,
    INFERENCE_ONLY,
    INFERENCE_PATHS,
    JSON,
    LAB_DEPLOYMENTS,
    MISSING_REQUEST_SCOPE,
    SCENARIOS,
    TLS_SCENARIO,
    openai_error,
    scenario_id,
)

log = logging.getLogger(__name__)


IDLE_TIMEOUT = 10.0  # seconds a connection may stay silent before the lab closes it (and its thread ends)
LISTEN_BACKLOG = 1024  # connections waiting to be accepted (socketserver's default of 5 refuses a class that clicks at once)
MAX_REQUEST_BODY = 1 << 20  # bytes of a request body the lab reads


class Handler(BaseHTTPRequestHandler):
    server: LabServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep stderr quiet (and key-free)
        pass

    def send_response(self, code: int, message: str | None = None) -> None:
        """The status line and a Date, but no Server header: BaseHTTPRequestHandler's own ('BaseHTTP/0.6 Python/…') is no
        provider's or middlebox's, and would show in every trainee's evidence. A scenario that plays a named server
        (Cloudflare, Squid) sends its name among its headers; the lab's own error pages (send_error) come here too."""
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("date", self.date_time_string())

    def _send(self, status: int, headers: dict[str, str], body: str) -> None:
        data = body.encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("x-request-id", f"req_lab{self.server.records.count:029d}")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_REQUEST_BODY:  # a body the lab would wait for forever, or read past the limit: refused, said once
            self.close_connection = True
            self._send(400 if length < 0 else 413, JSON, openai_error(f"Content-Length must be a number from 0 to {MAX_REQUEST_BODY}"))
            return
        raw = self.rfile.read(length) if length else b""
        auth = self.headers.get("authorization") or ""
        api_key = self.headers.get("api-key") or ""
        records = self.server.records
        with records.lock:
            records.count += 1
            records.tls_count += self.server.scenario == TLS_SCENARIO
            records.paths.append((self.command, self.path.split("?")[0]))
            records.credentialed.append(bool(auth or api_key))
            records.schemes.append("api-key" if api_key else auth.split(" ", 1)[0].lower() if auth else "")
        if self.server.latency:
            time.sleep(self.server.latency)  # injected latency: the point of the lab, not a race fix
        path, _, query = self.path.partition("?")
        if path == "/ip" and not self.server.tokens:
            self._send(200, JSON, json.dumps({"ip": self.client_address[0]}))
            return
        scenario = self.server.scenario
        if path.startswith("/s/") and not self.server.tokens:
            scenario, _, rest = path[3:].partition("/")
            scenario, path = scenario_id(scenario), "/" + rest
        elif path.startswith("/t/") or self.server.tokens:  # an opaque training URL: the token names nothing, the map stays in memory
            token, _, rest = path[3:].partition("/") if path.startswith("/t/") else ("", "", "")
            found = self.server.tokens.get(token)
            if found is None:
                self._send(404, JSON, openai_error(f"Invalid URL ({self.command} {path})"))
                return
            scenario, path = found, "/" + rest
        if scenario not in SCENARIOS:
            self._send(404, JSON, openai_error(f"unknown lab scenario {scenario!r}"))
            return
        if scenario == TLS_SCENARIO:  # past the (untrusted) handshake, an intercepting proxy passes a healthy API through
            scenario = "ok"
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
        elif scenario in INFERENCE_ONLY and not path.endswith(INFERENCE_PATHS if scenario == "missing_scope" else INFERENCE_PATHS[:2]):
            answer = self._healthy(path, body)  # listing and retrieving models (and, for verification, moderation) still works
        elif scenario == "missing_scope":
            answer = 401, JSON, MISSING_REQUEST_SCOPE
        elif scenario == "ok":
            answer = self._healthy(path, body)
        else:
            answer = SCENARIOS[scenario]
        self._send(*answer)

    def _billable(self) -> None:
        with self.server.records.lock:
            self.server.records.billable.append((self.command, self.path.split("?")[0]))

    def _healthy(self, path: str, body: Any) -> tuple[int, dict[str, str], str]:
        auth = self.headers.get("authorization") or ""
        api_key = self.headers.get("api-key") or ""
        if not auth and not api_key:
            return SCENARIOS["missing_api_key"]
        if (auth and not auth.startswith("Bearer ")) or auth.strip() != auth or "\"" in auth:
            return SCENARIOS["malformed_auth_header"]
        ok = {**JSON, **HEALTHY_LIMITS}
        if self.command == "GET" and path.endswith("/models"):
            return 200, ok, json.dumps({"object": "list", "data": [{"id": m, "object": "model"} for m in ("gpt-4o-mini", "omni-moderation-latest")]})
        if self.command == "GET" and "/models/" in path:
            model = path.rsplit("/", 1)[-1]
            if model in ("gpt-4o-mini", "omni-moderation-latest"):
                return 200, JSON, json.dumps({"id": model, "object": "model"})
            return 404, JSON, openai_error(f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found")
        if self.command == "POST" and path.endswith(("/chat/completions", "/responses", "/moderations")):
            return self._inference(path, body, ok)
        return 404, JSON, openai_error(f"Invalid URL ({self.command} {path})")

    def _inference(self, path: str, body: Any, ok: dict[str, str]) -> tuple[int, dict[str, str], str]:
        """Validate like the API does (before any inference); a valid chat or responses call is billable."""
        b = body if isinstance(body, dict) else {}
        if path.endswith("/moderations"):
            if not b.get("input"):
                return 400, JSON, openai_error("Missing required parameter: 'input'.", param="input", code="missing_required_parameter")
            return 200, ok, json.dumps({"id": "modr-lab", "model": b.get("model", "omni-moderation-latest"), "results": [{"flagged": False}]})
        azure = path.startswith("/openai/")
        if not azure and not b.get("model"):
            return 400, JSON, openai_error("you must provide a model parameter", param="model")
        items, cap, minimum = (("messages", "max_completion_tokens", 1) if path.endswith("/chat/completions") else ("input", "max_output_tokens", 16))
        if not b.get(items):
            return 400, JSON, openai_error(f"Invalid '{items}': empty array. Expected an array with minimum length 1, but got an empty array instead.",
                                 param=items, code="empty_array")
        limit = b.get(cap, b.get("max_tokens"))
        if limit is not None and (not isinstance(limit, int) or limit < minimum):
            return 400, JSON, openai_error(f"Invalid '{cap}': integer below minimum value. Expected a value >= {minimum}, but got {limit} instead.",
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
        if not AZURE_API_VERSION.fullmatch(version):
            return AZURE_NOT_FOUND  # Azure answers a missing or unknown api-version with 404 "Resource not found"
        if scenario in AZURE_SCENARIOS and not (scenario == "missing_scope" and self.command == "GET"):
            return AZURE_SCENARIOS[scenario]
        if (scenario in INFERENCE_ONLY and self.command == "GET") or scenario == "ok":
            return self._azure_healthy(path, body)
        return SCENARIOS[scenario]

    def _azure_healthy(self, path: str, body: Any) -> tuple[int, dict[str, str], str]:
        limits = {**JSON, "x-ratelimit-remaining-requests": "99", "x-ratelimit-remaining-tokens": "99000", "x-ms-region": "East US 2"}
        if self.command == "GET" and path.rstrip("/") == "/openai/models":
            return 200, JSON, json.dumps({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})
        parts = path.strip("/").split("/")  # openai, deployments, {d}, …
        if len(parts) < 3 or parts[1] != "deployments":
            return AZURE_NOT_FOUND
        if parts[2] not in LAB_DEPLOYMENTS:
            return AZURE_SCENARIOS["wrong_endpoint"]
        rest = "/".join(parts[3:])
        if self.command == "GET" and not rest:
            return 200, JSON, json.dumps({"id": parts[2], "model": "gpt-4o-mini", "status": "succeeded", "object": "deployment"})
        if self.command == "POST" and rest == "chat/completions":
            return self._inference(path, body, limits)
        return AZURE_NOT_FOUND

    do_GET = do_POST = do_PUT = do_DELETE = _handle


@dataclass
class Records:
    """What a lab's listeners saw, all of them in one place and in the order it happened (never a key's value)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    count: int = 0
    tls_count: int = 0  # requests that reached a listener playing tls_interception: none should, no client may trust it
    paths: list[tuple[str, str]] = field(default_factory=list)
    credentialed: list[bool] = field(default_factory=list)  # whether each request carried a credential
    schemes: list[str] = field(default_factory=list)  # 'bearer', 'api-key' or '' per request
    billable: list[tuple[str, str]] = field(default_factory=list)  # requests the lab answered with inference (would spend tokens)


class LabServer(ThreadingHTTPServer):
    """One listener of the lab: a thread per connection, each bounded by ``idle_timeout``; with ``tls``, the handshake
    runs in that thread (never in ``accept``, where one silent client would stop every other), bounded too.

    ``tokens`` maps opaque training tokens to scenarios (never sent to a client); a listener that holds tokens is a
    mystery's own and answers nothing but ``/t/<its token>/…``. Connections are accepted by an :class:`AcceptLoop`.
    """

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], handler: type[Handler], *, records: Records, scenario: str = "ok",
                 latency: float = 0.0, idle_timeout: float = IDLE_TIMEOUT, tls: ssl.SSLContext | None = None,
                 tokens: dict[str, str] | None = None) -> None:
        super().__init__(address, handler)
        self.records = records
        self.scenario = scenario
        self.latency = latency
        self.idle_timeout = idle_timeout
        self.tls = tls
        self.tokens: dict[str, str] = dict(tokens or {})

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def finish_request(self, request: Any, client_address: Any) -> None:
        """In the connection's own thread: the TLS handshake (bounded by ``idle_timeout``), then the handler."""
        request.settimeout(self.idle_timeout)  # every read and write of the connection: an idle client is let go
        handler: Any = self.RequestHandlerClass
        if self.tls is None:
            handler(request, client_address, self)
            return
        try:
            secure = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ValueError):  # a client that never says hello, or does not trust the lab: its own problem
            return
        try:
            handler(secure, client_address, self)
        finally:
            with contextlib.suppress(OSError):
                secure.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection that broke or sent nonsense ends quietly: no traceback on the lab's stderr."""
        log.debug("lab: connection from %s ended with an error", client_address, exc_info=True)


class AcceptLoop:
    """One thread accepts connections for every listener of a lab (its plain port, its TLS port, a port per mystery):
    a mystery costs a socket, not a thread, and :meth:`stop` is one wake-up away however many listeners there are.

    Listeners are added and closed from any thread; the loop applies the change (a self-pipe wakes it), or the caller
    does when the loop is not running. Each accepted connection gets its own thread (``process_request``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[LabServer] = []
        self._closing: list[tuple[LabServer, threading.Event]] = []
        self._changed = True
        self._running = False
        self._stopping = False
        self._stopped = threading.Event()
        self._stopped.set()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)

    def add(self, server: LabServer) -> None:
        server.socket.setblocking(False)  # a connection that went away between select and accept never blocks the loop
        with self._lock:
            self._listeners.append(server)
            self._changed = True
        self._wake()

    def close(self, server: LabServer, timeout: float = 10.0) -> None:
        """Stop accepting on ``server`` and close it: when this returns, its port refuses (open connections finish on
        their own). Never called from the loop's own thread."""
        closed = threading.Event()
        with self._lock:
            if server not in self._listeners:
                return
            self._listeners.remove(server)
            self._changed = True
            by_loop = self._running  # the loop unregisters it before closing it, so its number is never reused under it
            if by_loop:
                self._closing.append((server, closed))
        if by_loop:
            self._wake()
            closed.wait(timeout)
        else:
            server.server_close()

    def run(self) -> None:
        """Accept until :meth:`stop` (or an exception, e.g. Ctrl-C in ``why403 lab``); then every listener is still open."""
        with self._lock:
            if self._running:
                raise RuntimeError("the lab's accept loop is already running")
            if self._stopping:  # stopped before it ever ran (stop() may come before the thread starts): done
                return
            self._running, self._changed = True, True
            self._stopped.clear()
        registered: set[LabServer] = set()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self._wake_r, selectors.EVENT_READ, None)
                while True:
                    with self._lock:
                        if self._stopping:
                            break
                        changed, self._changed = self._changed, False
                        wanted, closing, self._closing = set(self._listeners), self._closing, []
                    if changed:
                        for server in registered - wanted:
                            selector.unregister(server.socket)
                        for server in wanted - registered:
                            selector.register(server.socket, selectors.EVENT_READ, server)
                        registered = wanted
                    for server, closed in closing:
                        server.server_close()
                        closed.set()
                    for key, _ in selector.select():
                        if key.data is None:
                            with contextlib.suppress(OSError):
                                while self._wake_r.recv(512):
                                    pass
                        else:
                            self._accept(key.data)
        finally:
            with self._lock:
                self._running = False
                closing, self._closing = self._closing, []
            for server, closed in closing:
                server.server_close()
                closed.set()
            self._stopped.set()

    @staticmethod
    def _accept(server: LabServer) -> None:
        try:
            request, address = server.get_request()
        except OSError:  # nobody there any more (or the listener was closed): nothing to serve
            return
        try:
            server.process_request(request, address)  # a thread of its own
        except Exception:  # noqa: BLE001 - e.g. no thread could be started: this client goes, the others stay served
            server.handle_error(request, address)
            server.shutdown_request(request)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop for good (and wait for it); the listeners stay open until :meth:`close_all`."""
        with self._lock:
            self._stopping = True
        self._wake()
        self._stopped.wait(timeout)

    def close_all(self) -> None:
        with self._lock:
            servers, self._listeners, self._changed = self._listeners, [], True
        for server in servers:
            server.server_close()
        for end in (self._wake_r, self._wake_w):
            end.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full (a wake-up is pending anyway) or closed (the lab stopped)
            self._wake_w.send(b"x")
