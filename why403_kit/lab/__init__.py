"""The training lab: a real HTTP server on loopback that plays every refusal in the taxonomy.

``with Lab() as lab:`` serves ``lab.url(scenario)``, a base URL whose API answers as that scenario (scenario ids
are cause ids: ``lab.url("edge_block")`` refuses as Cloudflare does, ``lab.url("ok")`` accepts); ``lab.target(s)``
is a ready :class:`~why403_kit.model.Target` for it; ``/ip`` is an IP echo. :func:`shared_lab` gives a notebook
kernel one lab for all its cells. Any key works in the lab: it never checks a key's value, only how it is sent.

For a class, ``lab.url(s, opaque=True)`` hides the scenario behind a random token (``/t/<token>/v1``, kept in the
lab's memory), so nothing a trainee sees names the cause; :class:`Classroom` deals the mysteries.

- :mod:`._scenarios`  what each scenario answers (data)
- :mod:`._server`     the HTTP handler that plays them, for OpenAI and Azure paths
- :mod:`._classroom`  a class's mysteries: seeded deal, hint ladder, score, answer key
"""

from __future__ import annotations

import atexit
import secrets
import ssl
import threading
from importlib.resources import files
from typing import Any

from .._secret import Secret
from ..errors import LabError
from ..model import Target
from ._classroom import HINT_LADDER, Classroom, Mystery, Score, deal, mystery_pool
from ._scenarios import AZURE_SCENARIOS, INFERENCE_ONLY, LAB_KEY, NOT_PLAYED, SCENARIOS, TLS_SCENARIO, scenario_id
from ._server import IDLE_TIMEOUT, Handler, LabServer


def _known(scenario: str) -> str:
    """The scenario id for ``scenario`` (aliases accepted); an unknown one is a :class:`LabError`."""
    sid = scenario_id(scenario)
    if sid not in SCENARIOS:
        raise LabError(f"unknown lab scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    return sid


MAX_LATENCY_MS = 60_000.0  # injected latency is for watching a slow API, not for hanging one


class Lab:
    """A lab server on 127.0.0.1 (port 0 = any free port), run in a background thread.

    ``idle_timeout``: seconds a connection may stay silent (before its request, or between two) before the lab closes
    it, so idle clients never hold its threads; the TLS handshake is bounded by it too and runs in the connection's
    own thread, never in ``accept``.
    """

    def __init__(self, scenario: str = "ok", port: int = 0, latency_ms: float = 0.0, *, idle_timeout: float = IDLE_TIMEOUT) -> None:
        sid = _known(scenario)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise LabError(f"--port must be a whole number from 0 (any free port) to 65535, got {port!r}")
        if not isinstance(latency_ms, (int, float)) or not 0 <= latency_ms <= MAX_LATENCY_MS:
            raise LabError(f"--latency-ms must be between 0 and {MAX_LATENCY_MS:g}, got {latency_ms!r}")
        if not isinstance(idle_timeout, (int, float)) or not 0 < idle_timeout <= 3600:
            raise LabError(f"idle_timeout must be between 0 and 3600 seconds, got {idle_timeout!r}")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        certs = files(__package__).joinpath("tls")
        ctx.load_cert_chain(str(certs.joinpath("lab-cert.pem")), str(certs.joinpath("lab-key.pem")))
        try:
            self._server = LabServer(("127.0.0.1", port), Handler, idle_timeout=idle_timeout)
            # An HTTPS listener with a self-signed certificate plays a TLS-intercepting proxy.
            self._tls = LabServer(("127.0.0.1", 0), Handler, idle_timeout=idle_timeout, tls=ctx)
        except OSError as err:
            raise LabError(f"cannot serve the lab on 127.0.0.1:{port}: {err.strerror or err}") from None
        self._server.scenario = sid
        self._server.latency = latency_ms / 1000
        self._tls.tokens = self._server.tokens  # one private token -> scenario map for both listeners
        self._threads: list[threading.Thread] = []

    @property
    def scenario(self) -> str:
        return self._server.scenario

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        return self.url(self._server.scenario)

    @property
    def ip_echo_url(self) -> str:
        return f"{self.origin}/ip"

    @property
    def tls_origin(self) -> str:
        """The TLS listener (a self-signed certificate, as an intercepting proxy presents)."""
        return f"https://127.0.0.1:{self._tls.server_address[1]}"

    def url(self, scenario: str, *, opaque: bool = False) -> str:
        """Base URL of an API that answers as ``scenario``.

        ``opaque=True`` gives a fresh URL whose path is a random token the lab maps to the scenario in memory
        (``/t/<token>/v1``): for training, where the URL must not name the cause.
        """
        sid = _known(scenario)
        origin = self.tls_origin if sid == TLS_SCENARIO else self.origin
        if opaque:
            token = secrets.token_urlsafe(12)
            with self._server.lock:
                self._server.tokens[token] = sid
            return f"{origin}/t/{token}/v1"
        return f"{origin}/v1" if sid == TLS_SCENARIO else f"{origin}/s/{sid}/v1"

    def azure_url(self, scenario: str) -> str:
        """An Azure OpenAI endpoint base (…/openai) whose deployments answer as ``scenario``."""
        return self.url(scenario).removesuffix("/v1") + "/openai"

    def target(self, scenario: str, *, opaque: bool = False, **overrides: Any) -> Target:
        """A target for ``scenario`` with the lab's (not real) key and IP echo; ``overrides`` set any other field."""
        values: dict[str, Any] = {"base_url": self.url(scenario, opaque=opaque), "api_key": Secret(LAB_KEY),
                                  "ip_echo_url": self.ip_echo_url, "timeout": 5.0}
        values.update(overrides)
        return Target(**values)

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

    def start(self) -> Lab:
        if not self._threads:
            for server, name in ((self._server, "why403-lab"), (self._tls, "why403-lab-tls")):
                server.serving = True  # from now on stop() must wait for its loop (shutdown() before the loop starts is fine)
                thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
                thread.start()
                self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving and close both listeners; at once when the lab was never started, and safe to call twice."""
        for server in (self._server, self._tls):
            if server.serving:  # shutdown() waits for a serve_forever loop: one that never ran would never answer
                server.shutdown()
            server.server_close()
        self._threads = []

    def serve_forever(self) -> None:
        """Serve both listeners in this thread until interrupted (``why403 lab``), then close them."""
        self._tls.serving = True
        tls = threading.Thread(target=self._tls.serve_forever, name="why403-lab-tls", daemon=True)
        tls.start()
        self._threads = [tls]
        try:
            self._server.serve_forever()
        finally:
            self.stop()

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_shared: Lab | None = None
_shared_lock = threading.Lock()


def shared_lab() -> Lab:
    """One training lab per process (a notebook kernel), started on first use on a free loopback port."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Lab().start()
            atexit.register(_shared.stop)
        return _shared


__all__ = ["AZURE_SCENARIOS", "HINT_LADDER", "INFERENCE_ONLY", "LAB_KEY", "NOT_PLAYED", "SCENARIOS", "TLS_SCENARIO", "Classroom", "Lab",
           "Mystery", "Score", "deal", "mystery_pool", "scenario_id", "shared_lab"]
