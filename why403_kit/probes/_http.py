"""What every probe shares: the one HTTP exchange (redacted, bounded, never raising), the rules for the key, and how
requests travel (proxies, the trust store).

The exchange is bounded three ways: a total deadline per request (headers and body, not just each read), a cap on
the body read *after* decompression (the helper decodes gzip and deflate itself, stopping at the cap, so a
compression bomb never inflates past it), and a cap on the bytes read off the wire. An answer whose status and
headers arrived keeps them, whatever happens to its body; ``Exchange.cut`` says why a body is incomplete.

Routing (:func:`route`): a request goes straight to its origin, except https through a proxy named by
``HTTPS_PROXY``/``ALL_PROXY`` (minus ``NO_PROXY``), which httpx reaches with a CONNECT tunnel. Plain http never
goes through a proxy: a proxy would read the key in clear.
"""

from __future__ import annotations

import asyncio
import importlib.util
import ipaddress
import json
import os
import ssl
import time
import weakref
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from .. import knowledge
from .._keys import key_control_characters
from .._secret import Secret
from ..classify import Diagnosis, classify, page_title
from ..errors import InputError
from ..model import Exchange, Finding, Status, Target, request_id_of
from ..redact import excerpt, redact, redact_headers, split_userinfo

MAX_BODY = 1 << 20  # read at most 1 MiB of any answer, counted after decompression
MAX_WIRE = 2 * MAX_BODY  # and at most this many bytes off the wire (an incompressible body grows a little when compressed)
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
ACCEPT_ENCODING = "gzip, deflate"  # what the helper decodes itself, with a bound


def fix(cause: str) -> str:
    return knowledge.load().cause(cause).fix


def may_send_key(url: str) -> bool:
    p = urlsplit(url)
    return p.scheme == "https" or (p.hostname or "") in LOOPBACK


def key_refusal(t: Target) -> str:
    """Why the key must not be sent at all ('' when it may): control characters an HTTP header cannot carry intact."""
    if not t.api_key:
        return ""
    found = key_control_characters(t.api_key.reveal())
    return f"the key holds {'; '.join(found)}" if found else ""


def can_send_key(t: Target, url: str) -> bool:
    """There is a key, it may travel intact, and ``url`` is somewhere it may go."""
    return bool(t.api_key) and not key_refusal(t) and may_send_key(url)


def is_jwt(key: str) -> bool:
    """A Microsoft Entra access token (a JWT: eyJ… with three dot-separated parts), not an API key."""
    return key.startswith("eyJ") and key.count(".") == 2


def auth_headers(t: Target) -> dict[str, str]:
    if not t.api_key or key_refusal(t):
        return {}
    key = t.api_key.reveal()
    azure_key = t.provider == "azure" and not is_jwt(key)  # Azure: api-key for keys, Bearer for Entra tokens
    headers = {"api-key": key} if azure_key else {"Authorization": f"Bearer {key}"}
    if t.organization:
        headers["OpenAI-Organization"] = t.organization
    if t.project:
        headers["OpenAI-Project"] = t.project
    return headers


# What the classifier made of each exchange still alive, by its id (an entry goes with its exchange). An answer is read
# once: the helper reads it to name who answered, and every finding about it (and a later step reading it) reuses that.
_DIAGNOSES: dict[int, Diagnosis] = {}


def diagnosis_of(ex: Exchange) -> Diagnosis:
    """What the classifier makes of one exchange (an answer that arrived is read by its status, headers and body), once."""
    found = _DIAGNOSES.get(id(ex))
    if found is None:
        found = classify(ex.status, ex.headers, ex.body_head, ex.error if ex.status is None else None)
        _remember(ex, found)
    return found


def _remember(ex: Exchange, diagnosis: Diagnosis) -> Exchange:
    _DIAGNOSES[id(ex)] = diagnosis
    weakref.finalize(ex, _DIAGNOSES.pop, id(ex), None)  # runs before the id can be reused
    return ex


# ---- routes: proxies and the trust store ------------------------------------------------------------------------------
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


@dataclass(frozen=True)
class Route:
    """How requests to one URL travel: ``proxy`` ('' = straight to the origin), the variable that named it, and why."""

    proxy: str = ""
    variable: str = ""
    reason: str = ""

    @property
    def shown(self) -> str:
        """The proxy for people: its password masked."""
        return redact(self.proxy)


def _env(name: str) -> tuple[str, str]:
    """(variable, value) of a proxy variable, the lower-case spelling first (as curl, urllib and httpx read them)."""
    for variable in (name.lower(), name.upper()):
        value = os.environ.get(variable, "").strip()
        if value:
            return variable, value
    return "", ""


def _bypassed(host: str, port: int, no_proxy: str) -> str:
    """The NO_PROXY entry that sends ``host`` straight to its origin ('' when none): '*', a host or domain
    (``example.com`` also covers its subdomains, ``.example.com`` only them), an IP address or network, ``host:port``."""
    host = host.lower().strip("[]")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return entry
        name = entry.split("://", 1)[-1]
        name, _, entry_port = name.rpartition(":") if name.count(":") == 1 else (name, "", "")
        if entry_port and entry_port != str(port):
            continue
        name = name.strip("[]")
        if address is not None:
            try:
                if address in ipaddress.ip_network(name, strict=False):
                    return entry
            except ValueError:
                pass
            continue
        domain = name.removeprefix("*").removeprefix(".")
        if (host == domain and not name.startswith(".")) or host.endswith("." + domain):
            return entry
    return ""


def route(url: str) -> Route:
    """How a request to ``url`` travels. Plain http never goes through a proxy (it would read the key in clear); https
    goes through ``HTTPS_PROXY`` (else ``ALL_PROXY``) unless ``NO_PROXY`` names the host, inside a CONNECT tunnel."""
    p = urlsplit(url)
    if p.scheme != "https":
        return Route(reason="plain http is never sent through a proxy")
    variable, proxy = _env("https_proxy")
    if not proxy:
        variable, proxy = _env("all_proxy")
    if not proxy:
        return Route(reason="no proxy variable set")
    no_var, no_proxy = _env("no_proxy")
    if entry := _bypassed(p.hostname or "", p.port or 443, no_proxy):
        return Route(reason=f"{no_var} names {entry}")
    if "://" not in proxy:
        proxy = "http://" + proxy  # as httpx reads a proxy given without a scheme
    _, _, password = split_userinfo(proxy)
    if password:
        Secret(password)  # masked everywhere from now on, Proxy-Authorization's base64 of user:password included
    return Route(proxy, variable, f"{variable} names a proxy")


def check_route(r: Route) -> None:
    """Refuse (InputError) a proxy the kit cannot use, rather than fail with a library's ImportError or ValueError."""
    if not r.proxy:
        return
    scheme = urlsplit(r.proxy).scheme.lower()
    if scheme not in PROXY_SCHEMES:
        raise InputError(f"{r.variable}={r.shown}: a proxy URL must start with http://, https:// or socks5://; fix or unset "
                         f"{r.variable} (or name the API's host in NO_PROXY)")
    if scheme.startswith("socks") and importlib.util.find_spec("socksio") is None:
        raise InputError(f"{r.variable}={r.shown} is a SOCKS proxy: that needs the socksio package (pip install 'httpx[socks]'), "
                         f"as your own client does; or unset {r.variable}, or name the API's host in NO_PROXY")


def ssl_context(t: Target) -> ssl.SSLContext:
    """The trust store TLS is verified with: the target's CA bundle, else httpx's default (SSL_CERT_FILE, then certifi)."""
    if t.ca_bundle:
        if os.path.isdir(t.ca_bundle):
            return ssl.create_default_context(capath=t.ca_bundle)
        return ssl.create_default_context(cafile=t.ca_bundle)
    return httpx.create_ssl_context()


class RoutingTransport(httpx.AsyncBaseTransport):
    """Sends each request the way :func:`route` says: one transport per proxy (or none), made on first use."""

    def __init__(self, verify: ssl.SSLContext) -> None:
        self._verify = verify
        self._transports: dict[str, httpx.AsyncHTTPTransport] = {}

    def _transport(self, r: Route) -> httpx.AsyncHTTPTransport:
        if r.proxy not in self._transports:
            check_route(r)
            self._transports[r.proxy] = httpx.AsyncHTTPTransport(verify=self._verify, proxy=r.proxy or None)
        return self._transports[r.proxy]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transport(route(str(request.url))).handle_async_request(request)

    async def aclose(self) -> None:
        for transport in self._transports.values():
            await transport.aclose()


def make_client(t: Target, transport: httpx.AsyncBaseTransport | None = None, verify: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    """The run's client: no redirects followed, no environment read behind :func:`route`'s back (``trust_env=False``),
    TLS verified with :func:`ssl_context`. Refuses (InputError) a proxy the target's requests would need and cannot use."""
    if transport is None:
        check_route(route(t.base_url))
        transport = RoutingTransport(verify or ssl_context(t))
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)


# ---- the exchange -------------------------------------------------------------------------------------------------
class _BoundedDecoder:
    """Content-Encoding undone with a bound: never more than ``limit`` bytes out, however small the input."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding
        self.limit = limit
        self.unsupported = encoding not in ("", "identity", "gzip", "x-gzip", "deflate")
        self.over = False
        self._zlib: Any = None
        self._first = True
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()

    def feed(self, data: bytes, have: int) -> bytes:
        """Decoded bytes of ``data``, at most one more than the room left (so the caller sees it went over)."""
        room = self.limit - have + 1
        out: bytes
        if self._zlib is None or self.unsupported:
            self.over = len(data) > room - 1
            return data[:room]
        try:
            out = self._zlib.decompress(data, room)
        except zlib.error:
            if not (self._first and self.encoding == "deflate"):
                raise
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send it
            out = self._zlib.decompress(data, room)
        self._first = False
        if len(out) >= room or self._zlib.unconsumed_tail:
            self.over = True
        return out[: room]


@dataclass
class _Answer:
    """What arrived so far: kept whatever stops the reading."""

    status: int | None = None
    headers: dict[str, str] | None = None
    body: bytearray = field(default_factory=bytearray)
    wire: int = 0
    cut: str = ""
    detail: str = ""


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} bytes"


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _read(client: httpx.AsyncClient, method: str, url: str, got: _Answer, *, headers: dict[str, str],
                params: dict[str, str] | None, json_body: Any, timeout: float) -> None:
    async with client.stream(method, url, headers=headers, params=params, json=json_body, timeout=timeout) as resp:
        got.status = resp.status_code
        got.headers = {k.lower(): v for k, v in redact_headers(dict(resp.headers)).items()}
        in_memory = resp.is_stream_consumed  # an answer made in memory (httpx.MockTransport): read and decoded already
        encoding = "" if in_memory else resp.headers.get("content-encoding", "").strip().lower()
        decoder = _BoundedDecoder(encoding, MAX_BODY)
        if decoder.unsupported:
            got.cut, got.detail = "undecodable", f"the body is {encoding}-encoded, which the kit does not decode"
        try:
            async for chunk in _one(resp.content) if in_memory else resp.aiter_raw():
                got.wire += len(chunk)
                got.body += decoder.feed(chunk, len(got.body))
                if decoder.over:
                    inflated = encoding not in ("", "identity") and not decoder.unsupported
                    got.cut = "inflated" if inflated else got.cut or "larger"
                    got.detail = (f"the body inflates past the {_size(MAX_BODY)} the kit reads ({encoding}: {_size(got.wire)} on the wire)"
                                  if inflated else got.detail or f"the body is larger than the {_size(MAX_BODY)} the kit reads")
                    return
                if got.wire >= MAX_WIRE:
                    got.cut, got.detail = "larger", f"the body is larger than the {_size(MAX_WIRE)} the kit reads off the wire"
                    return
        except zlib.error as err:
            got.cut, got.detail = "undecodable", f"the {encoding} body is corrupt ({err})"


async def exchange(client: httpx.AsyncClient, method: str, url: str, t: Target, *, auth: bool, timeout: float,
                   json_body: Any = None) -> Exchange:
    """One request, as a redacted :class:`Exchange` (never raises). ``timeout`` (from the step's budget) bounds the
    whole request, body included, and each network operation in it."""
    utc = datetime.now(UTC).isoformat(timespec="seconds")
    if auth and (refusal := key_refusal(t)):
        return Exchange(method=method, url=redact(url), status=None, error=redact(f"not sent: {refusal}, which an HTTP header cannot carry intact"),
                        responder="client", utc=utc)
    headers = {"Accept-Encoding": ACCEPT_ENCODING, **(auth_headers(t) if auth and may_send_key(url) else {})}
    params = {"api-version": t.api_version} if t.provider == "azure" and t.api_version and auth else None
    started = time.perf_counter()
    got = _Answer()
    error: str | None = None
    try:
        async with asyncio.timeout(timeout):
            await _read(client, method, url, got, headers=headers, params=params, json_body=json_body, timeout=timeout)
    except TimeoutError:  # the request's deadline (httpx's own timeouts are httpx.TimeoutException, below)
        took = time.perf_counter() - started
        if got.status is None:
            error = f"Timeout: the answer was too slow (no status line and headers within the request's deadline of {timeout:g} s)"
        else:
            got.cut, got.detail = "slow", f"the answer was too slow ({got.wire} bytes of body in {took:.1f} s, the request's deadline)"
    except Exception as err:  # noqa: BLE001 -- network failures of any kind become evidence, not tracebacks
        text = f"{type(err).__name__}: {err}"
        if got.status is None:
            error = text
        else:
            got.cut, got.detail = "reset", f"the connection broke after {got.wire} bytes of body ({text})"
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    answer_headers = got.headers or {}
    body = redact(bytes(got.body[:MAX_BODY]).decode("utf-8", "replace"))
    error = redact(error) if error is not None else None
    diagnosis = classify(got.status, answer_headers, body, error if got.status is None else None)
    responder = answered_by(diagnosis.responder, got.status, body, url, t) if not got.cut else diagnosis.responder
    return _remember(Exchange(
        method=method, url=redact(url), status=got.status, headers=answer_headers, body_head=body, elapsed_ms=elapsed,
        responder=responder, request_id=request_id_of(answer_headers), cf_ray=answer_headers.get("cf-ray", ""), error=error,
        truncated=bool(got.cut), utc=utc, cut=got.cut, cut_detail=redact(got.detail)), diagnosis)


# ---- who answered ----------------------------------------------------------------------------------------------------
def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        port = None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def api_shaped(body: str) -> bool:
    """The body is an API's own JSON object: an error object with a message (OpenAI, Azure, Anthropic, Gemini and the
    compatible servers all answer so) or one of the success objects the probes ask for."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return False
    if not isinstance(data, dict):
        return False
    error = data.get("error")
    if isinstance(error, dict):
        return isinstance(error.get("message"), str)
    return isinstance(data.get("object"), str) or any(
        isinstance(data.get(key), list if kind == "list" else str) for _, key, kind in SHAPES.values())


def answered_by(responder: str, status: int | None, body: str, url: str, t: Target) -> str:
    """Who answered: the classifier's word (a hop's own marks, or the cause's usual responder), except that an answer it
    could not place ('unknown': an expected validation error, say) that is the API's own JSON from the target's origin
    (no redirect is followed, so that origin answered) is the provider's."""
    if responder != "unknown" or status is None or _origin(url) != _origin(t.base_url) or not api_shaped(body):
        return responder
    return "provider"


# ---- what a 2xx must look like -------------------------------------------------------------------------------------
# The API's answer to each request the probes send, when it accepts it: anything else that answers 200 is something in
# the provider's place (a captive portal, a login page, a proxy), never a sign the key works.
SHAPES: dict[str, tuple[str, str, str]] = {  # kind -> (what it is, a key the object holds, the type of its value)
    "models": ("a list of models (a JSON object with a 'data' list)", "data", "list"),
    "model": ("a model or deployment object (a JSON object with an 'id')", "id", "str"),
    "moderation": ("a moderation result (a JSON object with a 'results' list)", "results", "list"),
    "chat": ("a chat completion (a JSON object with a 'choices' list)", "choices", "list"),
    "responses": ("a response object (a JSON object with an 'output' list)", "output", "list"),
}


def _what_answered(ex: Exchange) -> str:
    body = ex.body_head
    kind = ex.headers.get("content-type", "").split(";")[0].strip() or "no content type"
    if not body.strip():
        return f"an empty body ({kind})"
    if "<html" in body[:2048].lower() or "<!doctype" in body[:2048].lower():
        title = page_title(body)
        return f"an HTML page titled '{title[:120]}'" if title else "an HTML page"
    try:
        data = json.loads(body)
    except RecursionError:
        return "JSON nested too deep to read"
    except json.JSONDecodeError as err:
        if body.lstrip()[:1] in ("{", "["):
            return f"JSON that does not parse ({err.msg} at character {err.pos} of {len(body)}: cut short?)"
        return f"text that is not JSON ({kind}): '{excerpt(body, 0, 0, 80).strip()}'"
    if isinstance(data, dict):
        keys = ", ".join(sorted(map(str, data))[:6]) or "none"
        return f"a JSON object of another shape (its keys: {keys})"
    return f"a JSON {type(data).__name__}"


def shape_problem(expect: str, ex: Exchange) -> str:
    """'' when the 2xx ``ex`` holds what the API answers to that request (``expect``, a key of SHAPES), read whole;
    else what answered instead, in words."""
    if ex.cut:
        return ex.cut_detail
    if not expect:
        return ""
    what, key, kind = SHAPES[expect]
    try:
        data = json.loads(ex.body_head)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict) and isinstance(data.get(key), list if kind == "list" else str):
        return ""
    return f"expected {what}, got {_what_answered(ex)}"


def where(ex: Exchange) -> str:
    """The request and its outcome in words, for evidence sentences."""
    return f"{ex.method} {ex.url} -> {ex.status if ex.status is not None else 'no answer'}"


def wire_finding(step: str, check: str, status: Status, ex: Exchange, *, cause: str = "", evidence: str = "", fix: str = "",
                 confidence: float = 1.0) -> Finding:
    """A finding about what one exchange showed: the answer's facts travel as fields, the sentence is for people."""
    return Finding(step, check, status, cause, evidence, fix, ex.request_id, ex.elapsed_ms, http_status=ex.status,
                   responder=ex.responder, cf_ray=ex.cf_ray, observed=True, confidence=confidence)


def not_the_api(step: str, check: str, ex: Exchange, problem: str) -> Finding:
    """A 2xx that is not the API's answer (or was not read whole): who answered, and what came instead."""
    if ex.cut in ("reset", "slow"):  # the provider may well have answered: the connection failed under it
        return wire_finding(step, check, "fail", ex, cause="network_error", confidence=0.6, fix=fix("network_error"),
                            evidence=f"{where(ex)}, but the body was cut: {problem}; an answer read in part proves nothing")
    return Finding(step, check, "fail", "proxy_block", f"{where(ex)}, but not the API's answer: {problem}. Something between you and "
                   "the provider answered in its place (a captive portal, a login page, a proxy)", fix("proxy_block"), ex.request_id,
                   ex.elapsed_ms, http_status=ex.status, responder="proxy", cf_ray=ex.cf_ray, observed=True, confidence=0.8)


def finding_from(step: str, check: str, ex: Exchange, expect: str = "") -> Finding:
    """What the classifier makes of one exchange, as a finding: pass only when the API accepted it with the answer it
    gives (``expect``: a kind of SHAPES) read whole; else the cause and fix."""
    d = diagnosis_of(ex)
    if d.cause == "ok" and (problem := shape_problem(expect, ex)):
        return not_the_api(step, check, ex, problem)
    head = where(ex) + (f" (the body was cut: {ex.cut_detail})" if ex.cut else "")
    if d.cause == "ok":  # the request and its status say it all
        return wire_finding(step, check, "pass", ex, cause="ok", evidence=head, confidence=d.confidence)
    return wire_finding(step, check, "fail", ex, cause=d.cause, evidence=f"{head}; {d.evidence}", fix=d.fix, confidence=d.confidence)


def ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
