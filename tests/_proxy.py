"""A tiny HTTP CONNECT proxy on loopback for tests: it tunnels to loopback targets only and records what clients sent."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _Tunnel(socketserver.BaseRequestHandler):
    server: _ProxyServer

    def handle(self) -> None:
        client: socket.socket = self.request
        client.settimeout(5)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        self.server.record(head)
        target = head.split(b"\r\n", 1)[0].split()[1].decode()
        host, _, port = target.rpartition(":")
        if self.server.deny or host not in ("127.0.0.1", "localhost"):
            client.sendall(b'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="corp"\r\nContent-Length: 0\r\n\r\n')
            return
        upstream = socket.create_connection((host, int(port)), timeout=5)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pump(src: socket.socket, dst: socket.socket, record: bool) -> None:
            try:
                while data := src.recv(65536):
                    if record:
                        self.server.record(data)
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

        back = threading.Thread(target=pump, args=(upstream, client, False), daemon=True)
        back.start()
        pump(client, upstream, True)
        back.join(5)
        upstream.close()


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, deny: bool) -> None:
        super().__init__(("127.0.0.1", 0), _Tunnel)
        self.deny = deny
        self.lock = threading.Lock()
        self.seen = b""  # every byte clients sent to the proxy (request heads and tunnelled data)
        self.connects = 0

    def record(self, data: bytes) -> None:
        with self.lock:
            self.seen += data
            self.connects += data.startswith(b"CONNECT ")


@contextmanager
def connect_proxy(deny: bool = False) -> Iterator[_ProxyServer]:
    srv = _ProxyServer(deny)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)
