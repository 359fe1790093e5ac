"""Hostile servers on loopback, for tests: answers that echo the key, drip, reset, inflate or pretend, and a proxy
that records every byte it is sent.

    with HostileServer(drip_interval=0.2) as srv:          # plain HTTP; HostileServer(tls=True) adds an https listener
        base = srv.url("echo")                            # http://127.0.0.1:PORT/b/echo/v1 (the kit appends /models …)
        srv.url("captive_portal", tls=True)               # https://127.0.0.1:TLSPORT/b/captive_portal/v1
        srv.received                                      # every request read: method, target, headers, body, raw bytes
        srv.seen                                          # every byte any client sent, TLS decrypted

    with RecordingProxy() as proxy:                       # HTTP proxy: CONNECT tunnels and plain absolute-form forwarding
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        ...
        proxy.seen, proxy.connects, proxy.forwards        # what reached the proxy (a key must never be in proxy.seen)

Behaviours (``BEHAVIOURS``; the path ``/b/<name>/…`` picks one, whatever follows):

- ``echo`` 401 with OpenAI's invalid-key error, echoing the request's credential in every derived form: raw, without
  its prefix, base64 of ``Bearer <key>``, Basic auth of ``:<key>`` and ``user:<key>``, URL-safe base64, fully
  URL-encoded, ``\\u``-escaped JSON, hex, bytes ``repr`` with a CR, split by an escaped CRLF; in header values, as
  header *names*, in the JSON body and in the message. ``echo_ok`` the same with 200 and a model list;
  ``echo_html`` a 403 HTML page whose title and text hold the key.
- ``drip_headers`` / ``drip_body`` / ``drip_chunks`` send one byte every ``drip_interval`` seconds (in the header
  block, in a fixed-length body, as one-byte chunks) until the client goes, the server stops, or ``drip_limit`` s.
- ``reset_mid_body`` sends a 401 with its headers and part of its JSON body, then resets the connection (RST).
- ``gzip_bomb`` / ``deflate_bomb`` a 200 whose small compressed body inflates to ``bomb_size`` bytes.
- ``captive_portal`` a 200 HTML Wi-Fi login page; ``truncated_json`` a 200 model list cut mid-object (its
  Content-Length is honest); ``huge_body`` a 200 JSON body of ``huge_size`` bytes, streamed chunked.
- ``redirect`` a 307 to ``redirect_to`` (set it to another server's URL to prove the key is not carried along).

Every connection serves one request and closes; TLS handshakes run in the connection's thread, never in accept.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

LAB_TLS = Path(__file__).resolve().parent.parent / "why403_kit" / "lab" / "tls"
LAB_CA = LAB_TLS / "lab-ca.pem"  # signed the lab's certificate for 127.0.0.1 and localhost: trust it to talk TLS to the kit
INTERCEPTOR_CA = LAB_TLS / "interceptor-ca.pem"  # the issuer of the lab's tls_interception certificate (no bundle holds it)
_MAX_HEAD = 64 * 1024
_MAX_BODY = 4 << 20


@dataclass
class Received:
    """One request as the server read it."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k.lower() == name.lower()), "")

    @property
    def credential(self) -> str:
        """The key the client sent (``Authorization: Bearer`` or ``api-key``), '' if none."""
        auth = self.header("authorization")
        return auth[7:] if auth.lower().startswith("bearer ") else auth or self.header("api-key")


def _read_head(conn: socket.socket) -> tuple[bytes, bytes] | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk or len(data) > _MAX_HEAD:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def _parse(head: bytes) -> tuple[str, str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    method, target, *_ = [*lines[0].split(" "), "", ""]
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:] if line)]
    return method, target, headers


def _read_request(conn: socket.socket) -> Received | None:
    got = _read_head(conn)
    if got is None:
        return None
    head, body = got
    method, target, headers = _parse(head)
    length = next((int(v) for k, v in headers if k.lower() == "content-length" and v.isdigit()), 0)
    while len(body) < min(length, _MAX_BODY):
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return Received(method, target, headers, body, head + body)


def _head(status: int, reason: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers), "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _response(status: int, reason: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    return _head(status, reason, [*headers, ("Content-Length", str(len(body)))]) + body


# ---- what the echo sends back ------------------------------------------------------------------------------------
def echo_forms(key: str) -> dict[str, str]:
    """The credential in every derived form, by name (all of them safe as HTTP header values)."""
    body = key.split("-", 2)[-1] if key.startswith("sk-") else key
    return {
        "raw": key,
        "noprefix": body,
        "bearer-b64": base64.b64encode(f"Bearer {key}".encode()).decode(),
        "basic-blank-user": "Basic " + base64.b64encode(f":{key}".encode()).decode(),
        "basic-user": "Basic " + base64.b64encode(f"svc:{key}".encode()).decode(),
        "b64url": base64.urlsafe_b64encode(key.encode()).decode().rstrip("="),
        "noprefix-b64": base64.b64encode(body.encode()).decode(),
        "urlencoded": "".join(f"%{b:02X}" for b in key.encode()),
        "json-u": "".join(f"\\u{ord(c):04x}" for c in key),
        "hex": key.encode().hex(),
        "repr-cr": repr((key + "\r").encode()),
        "split-crlf": key[:20] + "\\r\\n" + key[20:],
    }


def _echo_headers(key: str) -> list[tuple[str, str]]:
    forms = echo_forms(key)
    headers = [("x-echo-" + name, value) for name, value in forms.items()]
    # as header names: only token characters are allowed there, so the key itself, without prefix, and URL-safe base64
    headers += [(name, "1") for name in (key, forms["noprefix"], forms["b64url"]) if name and all(c.isalnum() or c in "-_" for c in name)]
    return headers


def _echo_json(key: str, status_ok: bool) -> bytes:
    forms = echo_forms(key)
    doc: dict[str, object] = {"echo": {name: f"@@{name}@@" for name in forms}}
    if status_ok:
        doc |= {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "owned_by": key}]}
    else:
        doc["error"] = {"message": f"Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com/account/api-keys.",
                        "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}
    text = json.dumps(doc)
    for name, value in forms.items():  # written raw, so the \u escapes stay escapes in the JSON text
        text = text.replace(f"@@{name}@@", value.replace("\\", "\\\\") if name in ("repr-cr",) else value)
    return text.encode()


Handler = Callable[["HostileServer", socket.socket, Received], None]


def _echo(srv: HostileServer, conn: socket.socket, req: Received) -> None:
    conn.sendall(_response(401, "Unauthorized", [("content-type", "application/json"), *_echo_headers(req.credential)],
                           _echo_json(req.credential, False)))


def _echo_ok(srv: HostileServer, conn: socket.socket, req: Received) -> None:
    conn.sendall(_response(200, "OK", [("content-type", "application/json"), *_echo_headers(req.credential)], _echo_json(req.credential, True)))


def _echo_html(srv: HostileServer, conn: socket.socket, req: Received) -> None:
    key = req.credential
    forms = echo_forms(key)
    page = (f"<!DOCTYPE html><html><head><title>Access denied for {key}</title></head><body><h1>Forbidden</h1>"
            + "".join(f"<p>{name}: {value}</p>" for name, value in forms.items()) + "</body></html>")
    conn.sendall(_response(403, "Forbidden", [("content-type", "text/html"), ("x-echo-raw", key)], page.encode()))


def _drip(srv: HostileServer, conn: socket.socket, data: bytes) -> None:
    deadline = time.monotonic() + srv.drip_limit
    for i in range(len(data)):
        if srv.stopping.wait(srv.drip_interval) or time.monotonic() > deadline:
            return
        conn.sendall(data[i : i + 1])


def _drip_headers(srv: HostileServer, conn: socket.socket, req: Received) -> None:
    conn.sendall(b"HTTP/1.1 401 Unauthorized\r\n")
    _drip(srv, conn, b"content-type: application/json\r\nx-padding: " + b"a" * 4000 + b"\r\n\r\n")


def _drip_body(srv: HostileServer, conn: socket.socket, req: Received) -> None:
    body = json.dumps({"error": {"message": "Incorrect API key provided." + " " * 4000, "code": "invalid_api_key"}}).encode()
    conn.sendall(_head(401, "Unauthorized", [("content-type", "application/json"), ("content-length", str(len(body)))]))
    _drip(srv, conn, body)


def _drip_chunks(srv: HostileServer, conn: socket.socket, req: Received) -> None:
    conn.sendall(_head(401, "Unauthorized", [("content-type", "application/json"), ("transfer-encoding", "chunked")]))
    deadline = time.monotonic() + srv.drip_limit
    for ch in json.dumps({"error": {"message": "x" * 4000}}).encode():
        if srv.stopping.wait(srv.drip_interval) or time.monotonic() > deadline:
            return
        conn.sendall(b"1\r\n" + bytes([ch]) + b"\r\n")


def _reset_mid_body(srv: HostileServer, conn: socket.socket, req: Received) -> None:
    body = json.dumps({"error": {"message": "Incorrect API key provided: sk-proj-****abcd. " + "x" * 2000, "type": "invalid_request_error",
                                 "code": "invalid_api_key"}}).encode()
    conn.sendall(_head(401, "Unauthorized", [("content-type", "application/json"), ("x-request-id", "req_hostile_reset"),
                                            ("content-length", str(len(body)))]) + body[:120])
    time.sleep(0.05)  # let the head and the first bytes leave before the reset (ordering, not a race: RST drops unsent data)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # linger on, 0 s: close sends RST


def _bomb(encoding: str) -> Handler:
    def handler(srv: HostileServer, conn: socket.socket, req: Received) -> None:
        conn.sendall(_response(200, "OK", [("content-type", "application/json"), ("content-encoding", encoding)], srv.bomb(encoding)))
    return handler


def _captive_portal(srv: HostileServer, conn: socket.socket, req: Received) -> None:
    page = (b"<!DOCTYPE html><html><head><title>Hotel Wi-Fi - Sign in</title></head><body><h1>Welcome</h1>"
            b"<form method='post' action='/login'><input name='room'><input name='surname'><button>Connect</button></form></body></html>")
    conn.sendall(_response(200, "OK", [("content-type", "text/html; charset=utf-8"), ("cache-control", "no-store")], page))


def _truncated_json(srv: HostileServer, conn: socket.socket, req: Received) -> None:
    conn.sendall(_response(200, "OK", [("content-type", "application/json")], b'{"object":"list","data":[{"id":"gpt-4o-mini","object":"mod'))


def _huge_body(srv: HostileServer, conn: socket.socket, req: Received) -> None:
    conn.sendall(_head(200, "OK", [("content-type", "application/json"), ("transfer-encoding", "chunked")]))
    piece = b'{"id":"gpt-4o-mini","object":"model"},' * 1600
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    conn.sendall(f"{12:x}\r\n".encode() + b'{"data":[   ' + b"\r\n")
    sent = 12
    while sent < srv.huge_size and not srv.stopping.is_set():
        conn.sendall(chunk)
        sent += len(piece)
    conn.sendall(b"0\r\n\r\n")


def _redirect(srv: HostileServer, conn: socket.socket, req: Received) -> None:
    conn.sendall(_response(307, "Temporary Redirect", [("location", srv.redirect_to or "/elsewhere/v1/models")]))


BEHAVIOURS: dict[str, Handler] = {
    "echo": _echo, "echo_ok": _echo_ok, "echo_html": _echo_html,
    "drip_headers": _drip_headers, "drip_body": _drip_body, "drip_chunks": _drip_chunks,
    "reset_mid_body": _reset_mid_body, "gzip_bomb": _bomb("gzip"), "deflate_bomb": _bomb("deflate"),
    "captive_portal": _captive_portal, "truncated_json": _truncated_json, "huge_body": _huge_body, "redirect": _redirect,
}


# ---- servers -----------------------------------------------------------------------------------------------------
class _Listener:
    """Accepts on one loopback port and hands each connection to ``serve`` in its own thread."""

    def __init__(self, serve: Callable[[socket.socket], None], context: ssl.SSLContext | None = None) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.serve = serve
        self.context = context
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.open: set[socket.socket] = set()
        self.threads: list[threading.Thread] = []
        self.thread = threading.Thread(target=self._accept, name=f"hostile-accept-{self.port}", daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._handle, args=(conn,), name=f"hostile-conn-{self.port}", daemon=True)
            with self.lock:
                self.open.add(conn)
                self.threads.append(t)
            t.start()

    def _handle(self, raw: socket.socket) -> None:
        conn = raw
        try:
            raw.settimeout(5)
            if self.context is not None:
                conn = self.context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
                with self.lock:
                    self.open.add(conn)
                conn.do_handshake()  # here, in this connection's thread: an idle client blocks nobody else
            self.serve(conn)
        except (OSError, ValueError):
            pass  # clients that go away, handshakes that fail: part of the job
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            with self.lock:
                self.open.discard(raw)
                self.open.discard(conn)

    def close(self) -> None:
        self.stopping.set()
        self.sock.close()
        self.thread.join(5)
        with self.lock:
            conns, threads = list(self.open), list(self.threads)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        for t in threads:
            t.join(5)


class HostileServer:
    """A loopback HTTP server (and, with ``tls=True``, an https one beside it) that answers with a named behaviour."""

    def __init__(self, *, tls: bool = False, drip_interval: float = 1.0, drip_limit: float = 120.0, bomb_size: int = 64 << 20,
                 huge_size: int = 64 << 20, redirect_to: str = "") -> None:
        self.tls = tls
        self.drip_interval = drip_interval
        self.drip_limit = drip_limit
        self.bomb_size = bomb_size
        self.huge_size = huge_size
        self.redirect_to = redirect_to
        self.stopping = threading.Event()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._bombs: dict[str, bytes] = {}
        self._plain: _Listener | None = None
        self._secure: _Listener | None = None

    def start(self) -> HostileServer:
        self._plain = _Listener(self._serve)
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(LAB_TLS / "lab-cert.pem", LAB_TLS / "lab-key.pem")
            self._secure = _Listener(self._serve, ctx)
        return self

    def stop(self) -> None:
        self.stopping.set()
        for listener in (self._plain, self._secure):
            if listener is not None:
                listener.close()

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def url(self, behaviour: str, *, tls: bool = False) -> str:
        """The base URL whose every path answers with ``behaviour``."""
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}; known: {', '.join(BEHAVIOURS)}")
        listener = self._secure if tls else self._plain
        if listener is None:
            raise RuntimeError("start the server (and pass tls=True for an https URL) first")
        return f"{'https' if tls else 'http'}://127.0.0.1:{listener.port}/b/{behaviour}/v1"

    @property
    def seen(self) -> bytes:
        """Every byte of every request read (TLS decrypted)."""
        with self._lock:
            return b"".join(r.raw for r in self.received)

    def bomb(self, encoding: str) -> bytes:
        """``bomb_size`` bytes of a JSON-looking document, compressed (made once per server)."""
        if encoding not in self._bombs:
            data = b'{"data":[' + b" " * (self.bomb_size - 10) + b"]"
            self._bombs[encoding] = gzip.compress(data, 9) if encoding == "gzip" else zlib.compress(data, 9)
        return self._bombs[encoding]

    def _serve(self, conn: socket.socket) -> None:
        req = _read_request(conn)
        if req is None:
            return
        with self._lock:
            self.received.append(req)
        parts = urlsplit(req.target).path.split("/")
        handler = BEHAVIOURS.get(parts[2]) if len(parts) > 2 and parts[1] == "b" else None
        if handler is None:
            conn.sendall(_response(404, "Not Found", [("content-type", "application/json")], b'{"error":{"message":"no such behaviour"}}'))
            return
        handler(self, conn, req)


# ---- the recording proxy -----------------------------------------------------------------------------------------
@dataclass
class RecordingProxy:
    """An HTTP proxy on loopback: CONNECT tunnels and plain absolute-form requests, to loopback targets only.

    It records every byte a client sends it (request heads, tunnelled bytes, forwarded requests): a test asserts
    that no credential is in :attr:`seen`. ``deny=True`` answers every request with 407.
    """

    deny: bool = False
    seen: bytes = b""
    connects: int = 0
    forwards: int = 0
    targets: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listener: _Listener | None = None

    def start(self) -> RecordingProxy:
        self._listener = _Listener(self._serve)
        return self

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> RecordingProxy:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._listener is not None, "start the proxy first"
        return self._listener.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def server_address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def record(self, data: bytes) -> None:
        with self._lock:
            self.seen += data

    def _serve(self, client: socket.socket) -> None:
        got = _read_head(client)
        if got is None:
            return
        head, rest = got
        self.record(head + rest)
        method, target, _headers = _parse(head)
        with self._lock:
            self.targets.append(f"{method} {target}")
        if method == "CONNECT":
            with self._lock:
                self.connects += 1
            host, _, port = target.rpartition(":")
        else:
            with self._lock:
                self.forwards += 1
            parts = urlsplit(target)
            host, port = parts.hostname or "", str(parts.port or 80)
        if self.deny or host.strip("[]") not in ("127.0.0.1", "localhost", "::1"):
            client.sendall(_response(407, "Proxy Authentication Required", [("proxy-authenticate", 'Basic realm="corp"')]))
            return
        upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
        try:
            if method == "CONNECT":
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
            else:
                parts = urlsplit(target)
                origin_form = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                upstream.sendall(head.replace(target.encode("latin-1"), origin_form.encode("latin-1"), 1) + rest)
            self._pump(client, upstream)
        finally:
            upstream.close()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        def copy(src: socket.socket, dst: socket.socket, record: bool) -> None:
            try:
                while data := src.recv(65536):
                    if record:
                        self.record(data)
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

        back = threading.Thread(target=copy, args=(upstream, client, False), daemon=True)
        back.start()
        copy(client, upstream, True)
        back.join(5)


@contextlib.contextmanager
def recording_proxy(deny: bool = False) -> Iterator[RecordingProxy]:
    with RecordingProxy(deny=deny) as proxy:
        yield proxy
