"""Step 2, network: DNS, TCP and TLS timing, the certificate issuer, proxies, egress IP and allowlist."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import os
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

from .. import knowledge
from ..classify import classify
from ..model import Finding, Status, Target
from ..redact import redact
from ._http import LOOPBACK, fix, ms, route, ssl_context
from ._step import StepContext, StepSpec

_S = "network"
_NOT_RAW = "an httpx transport was injected: the kit opens no socket of its own behind it"


def _seen(check: str, status: Status, cause: str = "", evidence: str = "", fix: str = "", **facts: Any) -> Finding:
    """A finding about what the network did in this run (observed, not a lint of the input)."""
    return Finding(_S, check, status, cause, evidence, fix, observed=True, **facts)


async def run(ctx: StepContext) -> list[Finding]:
    """DNS, TCP and TLS timing, certificate issuer, proxy environment, egress IP and allowlist (step 2)."""
    t = ctx.target
    host = urlsplit(t.base_url).hostname or ""
    if not ctx.raw_network:
        skipped = [Finding(_S, check, "skip", "", f"not measured: {_NOT_RAW}") for check in ("DNS", "TCP connect", "TLS handshake")]
        return skipped + await _proxy_egress(ctx)
    connection = asyncio.ensure_future(connection_checks(t, ctx.timeout, ctx.ssl_context()))  # TCP/TLS run beside DNS and the IP echo
    try:
        dns = await _dns(host, ctx.timeout())
        rest = await _proxy_egress(ctx)
    finally:
        conn = await connection
    return [dns, *conn, *rest]


STEP = StepSpec("network", run)


async def _dns(host: str, timeout: float) -> Finding:
    started = time.perf_counter()
    try:
        infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(host, None), timeout=timeout)
        addrs = sorted({str(i[4][0]) for i in infos})
        return _seen("DNS", "pass", "", f"{host} -> {', '.join(addrs[:4])}", elapsed_ms=ms(started))
    except (TimeoutError, OSError) as err:
        return _seen("DNS", "fail", "network_error", f"{host} does not resolve: {type(err).__name__}: {err}", fix("network_error"))


async def _proxy_egress(ctx: StepContext) -> list[Finding]:
    t = ctx.target
    s = _S
    out: list[Finding] = []
    proxies = {k: v for k, v in os.environ.items() if k.lower() in ("https_proxy", "http_proxy", "all_proxy", "no_proxy")}
    r = route(t.base_url)
    host = urlsplit(t.base_url).hostname or ""
    way = (f"requests to {host} go through {r.variable} ({r.shown}) inside a CONNECT tunnel, which the proxy cannot read" if r.proxy
           else f"requests to {host} go straight to it ({r.reason})")
    out.append(Finding(s, "proxy environment", "warn" if any(k.lower() != "no_proxy" for k in proxies) else "pass", "",
                       (", ".join(f"{k}={redact(v)}" for k, v in proxies.items()) or "no proxy variables set") + f"; {way}"))
    if t.ip_echo_url:
        ex = await ctx.send("GET", t.ip_echo_url, auth=False, record=False)  # the echo never gets the key, and is not the API
        ip = ""
        try:
            ip = str(json.loads(ex.body_head).get("ip", "")) if ex.status == 200 else ""
        except (ValueError, AttributeError):
            ip = ex.body_head.strip()[:64] if ex.status == 200 else ""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            out.append(_seen("egress IP", "warn", "", f"IP echo {ex.url} gave no usable IP ({ex.status or ex.error})", elapsed_ms=ex.elapsed_ms))
            return out
        out.append(_seen("egress IP", "pass", "", f"the provider sees you as {addr}", elapsed_ms=ex.elapsed_ms))
        if t.allowlist:
            inside = any(addr in ipaddress.ip_network(c.strip(), strict=False) for c in t.allowlist)
            out.append(Finding(s, "allowlist", "pass" if inside else "fail", "" if inside else "ip_not_allowed",
                               f"{addr} is {'inside' if inside else 'outside'} the expected allowlist {', '.join(t.allowlist)}",
                               "" if inside else fix("ip_not_allowed")))
    else:
        out.append(Finding(s, "egress IP", "skip", "", "no IP-echo URL given (--ip-echo-url); the allowlist was not compared"))
    return out


# TLS: who signed the certificate the target presented ------------------------------------------
_NAME_OIDS = {b"\x55\x04\x03": "CN", b"\x55\x04\x0a": "O", b"\x55\x04\x0b": "OU"}


def _der_items(der: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(tag, start, stop) of each DER element between pos and end."""
    while pos < end:
        tag, length = der[pos], der[pos + 1]
        pos += 2
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(der[pos : pos + n], "big")
            pos += n
        if pos + length > end:
            raise ValueError("truncated DER")
        yield tag, pos, pos + length
        pos += length


def _der_name(der: bytes, start: int, stop: int) -> str:
    parts = []
    for _, set_start, set_stop in _der_items(der, start, stop):  # RelativeDistinguishedName (SET)
        for _, atv_start, atv_stop in _der_items(der, set_start, set_stop):  # AttributeTypeAndValue
            (_, oid_start, oid_stop), (vtag, v_start, v_stop) = list(_der_items(der, atv_start, atv_stop))[:2]
            label = _NAME_OIDS.get(der[oid_start:oid_stop])
            if label:
                raw = der[v_start:v_stop]
                parts.append(f"{label}={raw.decode('utf-16-be' if vtag == 0x1E else 'utf-8', 'replace')}")
    return ", ".join(parts) or "(no CN/O)"


def cert_issuer_subject(der: bytes) -> tuple[str, str]:
    """Issuer and subject ('CN=…, O=…') of a DER certificate; stdlib only, nothing is verified here. ValueError if unreadable."""
    try:
        _, start, stop = next(_der_items(der, 0, len(der)))  # Certificate
        _, start, stop = next(_der_items(der, start, stop))  # TBSCertificate
        fields = list(_der_items(der, start, stop))
        if fields and fields[0][0] == 0xA0:  # [0] version
            fields = fields[1:]
        # serialNumber, signature, issuer, validity, subject
        return _der_name(der, *fields[2][1:]), _der_name(der, *fields[4][1:])
    except (IndexError, StopIteration, ValueError) as err:
        raise ValueError(f"unreadable certificate ({type(err).__name__})") from None


def issuer_finding(issuer: str, subject: str, verified: bool, provider: str, verify_error: str = "") -> Finding:
    """Judge the certificate issuer the target presented (step 2)."""
    check = "certificate issuer"
    self_signed = issuer == subject
    kb = knowledge.load()  # inspection CAs (products, words they carry) and public CAs are data (responders.toml)
    vendor = next((m for p in kb.responder("proxy").certificate_issuers if (m := p.search(issuer))), None)
    public = any(p.search(issuer) for p in kb.responder("provider").certificate_issuers)
    # the CA to trust is named, so the user knows which certificate to ask IT for or export from the trust store
    named = f"{issuer!r} itself (it signed its own certificate)" if self_signed else f"the root CA at the top of {issuer!r}'s chain"
    trust = f"The certificate to trust is {named}. {fix('tls_interception')}"
    if not verified:
        what = "self-signed" if self_signed else "not a CA your client trusts"
        looks = f"; it looks like a TLS-inspection CA ({vendor.group(0)!r} in its name)" if vendor else ""
        return _seen(check, "fail", "tls_interception",
                     f"issuer {issuer!r} is {what}, not a public CA the provider uses{looks}; verification failed: {verify_error}",
                     trust, responder="proxy" if vendor else "")
    if vendor and not public:
        return _seen(check, "warn", "tls_interception",
                     f"issuer {issuer!r} looks like a TLS-inspection CA ({vendor.group(0)!r} in its name): traffic is re-signed. This trust store "
                     "accepts it, but clients with their own CA bundle (Python certifi, Node) will refuse it", trust, responder="proxy")
    if public:
        return _seen(check, "pass", "", f"issuer {issuer!r} is a public CA")
    if provider in ("openai", "azure"):
        return _seen(check, "warn", "", f"issuer {issuer!r} is not a CA {provider} is known to use; a private root in your "
                     "trust store may be re-signing the traffic")
    return _seen(check, "pass", "", f"issuer {issuer!r} (verified)")


def _proxy_for(url: str) -> SplitResult | None:
    """The proxy the run's client uses for ``url`` (:func:`._http.route`): none for plain http, ever."""
    r = route(url)
    return urlsplit(r.proxy) if r.proxy else None


async def _open(host: str, port: int, proxy: SplitResult | None, timeout: float
                ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if proxy is None:
        return await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    return await asyncio.wait_for(asyncio.open_connection(proxy.hostname, proxy.port or 80), timeout)


async def _tunnel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int, proxy: SplitResult,
                  timeout: float) -> tuple[int | None, dict[str, str], str]:
    """Ask an http proxy for a CONNECT tunnel; (status, headers, status line). Its own credentials go to it only."""
    lines = [f"CONNECT {host}:{port} HTTP/1.1", f"Host: {host}:{port}"]
    if proxy.username:
        user_pass = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}".encode()
        lines.append(f"Proxy-Authorization: Basic {base64.b64encode(user_pass).decode()}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await asyncio.wait_for(writer.drain(), timeout)
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)).decode("latin-1")
    first, *rest = head.strip().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in rest)}
    words = first.split()
    status = int(words[1]) if len(words) > 1 and words[1].isdigit() else None
    return status, headers, first


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):  # ssl.SSLError is an OSError
        await asyncio.wait_for(writer.wait_closed(), 1)


async def _peer_cert_unverified(host: str, port: int, proxy: SplitResult | None, timeout: Callable[[], float]) -> bytes:
    """Handshake WITHOUT verification only to read the certificate's issuer; nothing is sent over it, least of all the key."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    reader, writer = await _open(host, port, proxy, timeout())
    try:
        if proxy is not None and (await _tunnel(reader, writer, host, port, proxy, timeout()))[0] != 200:
            return b""
        await asyncio.wait_for(writer.start_tls(ctx, server_hostname=host), timeout())
        obj = writer.get_extra_info("ssl_object")
        return (obj.getpeercert(binary_form=True) if obj else None) or b""
    finally:
        await _close(writer)


async def connection_checks(t: Target, timeout: Callable[[], float], verify: ssl.SSLContext | None = None) -> list[Finding]:
    """TCP connect and TLS handshake timing to the target's origin, and who issued its certificate (step 2).

    Plain http is measured with a direct connection (the run never sends it through a proxy); https through the proxy
    the run's client uses, tunnelled. ``timeout()`` is asked before each operation (the run's budget shrinks);
    ``verify`` is the trust store of the run's client (the target's CA bundle, if it has one).
    """
    s = _S
    url = urlsplit(t.base_url)
    host = url.hostname or ""
    https = url.scheme == "https"
    port = url.port or (443 if https else 80)
    if not https and host not in LOOPBACK:
        return [Finding(s, "TCP connect", "skip", "", f"plain http to {host}: not contacted (the key must not travel over http)")]
    proxy = _proxy_for(t.base_url)
    if proxy is not None and proxy.scheme != "http":
        return [Finding(s, "TCP connect", "skip", "", f"proxy {redact(proxy.geturl())} is not an http:// proxy; connection not measured")]
    via = f" via proxy {proxy.hostname}:{proxy.port or 80}" if proxy else ""
    started = time.perf_counter()
    try:
        reader, writer = await _open(host, port, proxy, timeout())
    except (OSError, TimeoutError) as err:
        return [_seen("TCP connect", "fail", "network_error", f"TCP connect to {host}:{port}{via} failed: {type(err).__name__}: {err}",
                      fix("network_error"), elapsed_ms=ms(started), responder="client")]
    out = [_seen("TCP connect", "pass", "", f"connected to {host}:{port}{via} in {ms(started)} ms", elapsed_ms=ms(started))]
    try:
        if proxy is not None:
            tunnel_started = time.perf_counter()
            status, headers, line = await _tunnel(reader, writer, host, port, proxy, timeout())
            if status != 200:
                d = classify(status, headers, "")
                cause, confidence = (d.cause, d.confidence) if d.cause not in ("unknown", "ok") else ("proxy_block", 0.9)
                out.append(_seen("proxy tunnel", "fail", cause, f"CONNECT {host}:{port} -> {line!r}; {d.evidence}", fix(cause),
                                 elapsed_ms=ms(tunnel_started), http_status=status, responder="proxy", confidence=confidence))
                return out
            out.append(_seen("proxy tunnel", "pass", "", f"proxy opened a tunnel to {host}:{port}", elapsed_ms=ms(tunnel_started),
                             http_status=status, responder="proxy"))
        if not https:
            out.append(Finding(s, "TLS handshake", "skip", "", "plain http (loopback): no TLS"))
            return out
        tls_started = time.perf_counter()
        bundle = f" against the CA bundle {t.ca_bundle}" if t.ca_bundle else ""
        try:
            await asyncio.wait_for(writer.start_tls(verify or ssl_context(t), server_hostname=host), timeout())
        except ssl.SSLCertVerificationError as err:
            reason = err.verify_message or str(err)
            out.append(_seen("TLS handshake", "fail", "tls_interception", f"certificate verification{bundle} failed: {reason}",
                             fix("tls_interception"), elapsed_ms=ms(tls_started), responder="client"))
            try:
                der = await _peer_cert_unverified(host, port, proxy, timeout)
                issuer, subject = cert_issuer_subject(der)
                out.append(issuer_finding(issuer, subject, False, t.provider, reason))
            except (OSError, TimeoutError, ValueError) as err2:
                out.append(_seen("certificate issuer", "warn", "tls_interception",
                                 f"verification failed ({reason}) and the certificate could not be read: {type(err2).__name__}"))
            return out
        except (OSError, TimeoutError) as err:  # ssl.SSLError is an OSError
            text = f"{type(err).__name__}: {err}"
            d = classify(None, {}, "", text)
            cause = d.cause if d.cause != "unknown" else "network_error"
            out.append(_seen("TLS handshake", "fail", cause, f"TLS handshake with {host}:{port} failed: {text}", fix(cause),
                             elapsed_ms=ms(tls_started), responder=d.responder, confidence=d.confidence))
            return out
        obj = writer.get_extra_info("ssl_object")
        version = obj.version() if obj else "?"
        out.append(_seen("TLS handshake", "pass", "", f"{version} with {host}, certificate verified{bundle}, in {ms(tls_started)} ms",
                         elapsed_ms=ms(tls_started)))
        der = (obj.getpeercert(binary_form=True) if obj else None) or b""
        try:
            issuer, subject = cert_issuer_subject(der)
            out.append(issuer_finding(issuer, subject, True, t.provider))
        except ValueError:
            out.append(_seen("certificate issuer", "warn", "", "the certificate could not be read"))
        return out
    finally:
        await _close(writer)
