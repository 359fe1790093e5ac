"""The training lab: a real HTTP server on loopback that plays every refusal in the taxonomy.

``with Lab() as lab:`` serves ``lab.url(scenario)``, a base URL whose API answers as that scenario (scenario ids
are cause ids: ``lab.url("edge_block")`` refuses as Cloudflare does, ``lab.url("ok")`` accepts); ``lab.target(s)``
is a ready :class:`~why403_kit.model.Target` for it; ``/ip`` is an IP echo. :func:`shared_lab` gives a notebook
kernel one lab for all its cells. Any key works in the lab: it never checks a key's value, only how it is sent.

For a class, ``lab.url(s, opaque=True)`` gives the scenario a listener of its own: ``https://127.0.0.1:<port>/t/<token>/v1``
on a fresh port, with a random token (kept in the lab's memory), so nothing a trainee sees names the cause, and every
mystery looks alike, ``tls_interception`` included. Each presents a certificate for 127.0.0.1: the lab's own CA
(:data:`LAB_CA`, the bundle the lab's targets verify with) signed all but the ``tls_interception`` one, whose issuer
is a gateway that no bundle holds. :class:`Classroom` deals the mysteries.

- :mod:`._scenarios`  what each scenario answers (data)
- :mod:`._server`     the HTTP handler that plays them, for OpenAI and Azure paths; the listeners and their accept loop
- :mod:`._classroom`  a class's mysteries: seeded deal, hint ladder, score, answer key
- ``tls/``           the certificates (how they were made: ``tls/README.md``)
"""

from __future__ import annotations

import atexit
import secrets
import ssl
import threading
from collections import deque
from importlib.resources import files
from typing import Any

from .._secret import Secret
from ..errors import LabError
from ..model import Target
from ._classroom import HINT_LADDER, Classroom, Mystery, Score, deal, mystery_pool
from ._scenarios import AZURE_SCENARIOS, INFERENCE_ONLY, LAB_KEY, NOT_PLAYED, SCENARIOS, TLS_SCENARIO, scenario_id
from ._server import IDLE_TIMEOUT, AcceptLoop, Handler, LabServer, Records

_TLS = files(__package__).joinpath("tls")
# The CA that signed every lab certificate but the interception one: the CA bundle of the lab's targets, and what a
# trainee gives to `why403 diagnose --ca-bundle` (or curl --cacert) to diagnose a mystery by hand.
LAB_CA = str(_TLS.joinpath("lab-ca.pem"))
MAX_MYSTERY_LISTENERS = 256  # a mystery's listener is one socket; past this many, the oldest mystery's port is closed


def _known(scenario: str) -> str:
    """The scenario id for ``scenario`` (aliases accepted); an unknown one is a :class:`LabError`."""
    sid = scenario_id(scenario)
    if sid not in SCENARIOS:
        raise LabError(f"unknown lab scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    return sid


def _server_context(name: str) -> ssl.SSLContext:
    """A TLS server context presenting ``tls/<name>-cert.pem`` (the leaf, then its CA)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(_TLS.joinpath(f"{name}-cert.pem")), str(_TLS.joinpath(f"{name}-key.pem")))
    return ctx


MAX_LATENCY_MS = 60_000.0  # injected latency is for watching a slow API, not for hanging one


class Lab:
    """A lab server on 127.0.0.1 (port 0 = any free port), run in a background thread.

    Its listeners: the plain one (``origin``: ``/s/<scenario>/v1``, ``/ip``), the TLS one that plays
    ``tls_interception`` for the plain lab (``tls_origin``), and one per opaque mystery URL. One thread accepts for
    all of them. ``idle_timeout``: seconds a connection may stay silent (before its request, or between two) before
    the lab closes it, so idle clients never hold its threads; the TLS handshake is bounded by it too and runs in the
    connection's own thread, never in ``accept``.
    """

    def __init__(self, scenario: str = "ok", port: int = 0, latency_ms: float = 0.0, *, idle_timeout: float = IDLE_TIMEOUT) -> None:
        sid = _known(scenario)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise LabError(f"--port must be a whole number from 0 (any free port) to 65535, got {port!r}")
        if not isinstance(latency_ms, (int, float)) or not 0 <= latency_ms <= MAX_LATENCY_MS:
            raise LabError(f"--latency-ms must be between 0 and {MAX_LATENCY_MS:g}, got {latency_ms!r}")
        if not isinstance(idle_timeout, (int, float)) or not 0 < idle_timeout <= 3600:
            raise LabError(f"idle_timeout must be between 0 and 3600 seconds, got {idle_timeout!r}")
        self._trusted_tls, self._intercepting_tls = _server_context("lab"), _server_context("interceptor")
        self._records = Records()
        self._idle_timeout = idle_timeout
        self._latency = latency_ms / 1000
        self._loop = AcceptLoop()
        self._lock = threading.Lock()
        self._mysteries: deque[LabServer] = deque()
        self._thread: threading.Thread | None = None
        self._closed = False
        try:
            self._server = self._listen(port, sid)
            # An HTTPS listener whose certificate a gateway nobody trusts issued plays a TLS-intercepting proxy.
            self._tls = self._listen(0, TLS_SCENARIO, tls=self._intercepting_tls)
        except LabError:
            self._loop.close_all()
            raise

    def _listen(self, port: int, scenario: str, *, tls: ssl.SSLContext | None = None, tokens: dict[str, str] | None = None) -> LabServer:
        try:
            server = LabServer(("127.0.0.1", port), Handler, records=self._records, scenario=scenario, latency=self._latency,
                               idle_timeout=self._idle_timeout, tls=tls, tokens=tokens)
        except OSError as err:
            raise LabError(f"cannot serve the lab on 127.0.0.1:{port}: {err.strerror or err}") from None
        self._loop.add(server)
        return server

    @property
    def scenario(self) -> str:
        return self._server.scenario

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def base_url(self) -> str:
        return self.url(self._server.scenario)

    @property
    def ip_echo_url(self) -> str:
        return f"{self.origin}/ip"

    @property
    def tls_origin(self) -> str:
        """The plain lab's TLS listener: it presents a certificate from an issuer no bundle holds, as an intercepting proxy does."""
        return f"https://127.0.0.1:{self._tls.port}"

    @property
    def ca_bundle(self) -> str:
        """The CA bundle the lab's targets verify TLS with (:data:`LAB_CA`)."""
        return LAB_CA

    def url(self, scenario: str, *, opaque: bool = False) -> str:
        """Base URL of an API that answers as ``scenario``.

        ``opaque=True`` gives a fresh listener on a port of its own, whose only URL is ``https://127.0.0.1:<port>/t/<token>/v1``
        (the token random, mapped to the scenario in the lab's memory): for training, where nothing in the URL may tell
        one cause from another. Verify it with :data:`LAB_CA`; the ``tls_interception`` one does not verify with it.
        """
        sid = _known(scenario)
        if not opaque:
            return f"{self.tls_origin}/v1" if sid == TLS_SCENARIO else f"{self.origin}/s/{sid}/v1"
        token = secrets.token_urlsafe(12)
        with self._lock:
            if self._closed:
                raise LabError("the lab has stopped: start a new one")
            tls = self._intercepting_tls if sid == TLS_SCENARIO else self._trusted_tls
            listener = self._listen(0, sid, tls=tls, tokens={token: sid})
            self._mysteries.append(listener)
            oldest = self._mysteries.popleft() if len(self._mysteries) > MAX_MYSTERY_LISTENERS else None
        if oldest is not None:
            self._loop.close(oldest)
        return f"https://127.0.0.1:{listener.port}/t/{token}/v1"

    def azure_url(self, scenario: str) -> str:
        """An Azure OpenAI endpoint base (…/openai) whose deployments answer as ``scenario``."""
        return self.url(scenario).removesuffix("/v1") + "/openai"

    def target(self, scenario: str, *, opaque: bool = False, **overrides: Any) -> Target:
        """A target for ``scenario`` with the lab's (not real) key and IP echo, and for an opaque (https) one the lab's CA
        bundle; ``overrides`` set any other field."""
        values: dict[str, Any] = {"base_url": self.url(scenario, opaque=opaque), "api_key": Secret(LAB_KEY),
                                  "ip_echo_url": self.ip_echo_url, "timeout": 5.0, "ca_bundle": LAB_CA if opaque else ""}
        values.update(overrides)
        return Target(**values)

    @property
    def request_count(self) -> int:
        return self._records.count

    @property
    def requests(self) -> list[tuple[str, str]]:
        return list(self._records.paths)

    @property
    def credentialed(self) -> list[bool]:
        return list(self._records.credentialed)

    @property
    def tls_request_count(self) -> int:
        """HTTP requests that reached a listener playing tls_interception: none should, since no client may trust it."""
        return self._records.tls_count

    @property
    def auth_schemes(self) -> list[str]:
        """How each request carried its credential: 'bearer', 'api-key' or '' (never the value)."""
        return list(self._records.schemes)

    @property
    def billable(self) -> list[tuple[str, str]]:
        """(method, path) of each request the lab answered with inference: those a real provider would bill."""
        return list(self._records.billable)

    def start(self) -> Lab:
        """Serve every listener from a background thread (once)."""
        with self._lock:
            if self._closed:
                raise LabError("the lab has stopped: start a new one")
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop.run, name="why403-lab", daemon=True)
                self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every listener; at once when the lab was never started, and safe to call twice."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        self._loop.stop()
        if thread is not None:
            thread.join(10)
        self._loop.close_all()

    def serve_forever(self) -> None:
        """Serve every listener in this thread until interrupted (``why403 lab``), then close them."""
        try:
            self._loop.run()
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


__all__ = ["AZURE_SCENARIOS", "HINT_LADDER", "INFERENCE_ONLY", "LAB_CA", "LAB_KEY", "NOT_PLAYED", "SCENARIOS", "TLS_SCENARIO", "Classroom", "Lab",
           "Mystery", "Score", "deal", "mystery_pool", "scenario_id", "shared_lab"]
