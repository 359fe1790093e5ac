"""The six steps and the runner: independent probes run concurrently under per-request timeouts."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import os
import platform
import random
import re
import ssl
import time
import urllib.request
from collections.abc import Awaitable, Callable, Collection, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

import httpx

from . import knowledge
from .classify import classify
from .errors import InputError
from .model import Finding, Report, Status, Target, Verdict
from .redact import redact, redact_headers, redact_obj

MAX_BODY = 1 << 20  # read at most 1 MiB of any answer
Progress = Callable[[str, str], None]
OnFindings = Callable[[str, list[Finding]], None]
STEPS = ("credentials", "network", "permissions", "headers", "ratelimits", "support")
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_STEP_ORDER = ["network", "credentials", "permissions", "headers", "ratelimits", "support"]


def _fix(cause: str) -> str:
    return knowledge.load().cause(cause).fix


def _may_send_key(url: str) -> bool:
    p = urlsplit(url)
    return p.scheme == "https" or (p.hostname or "") in _LOOPBACK


def _is_jwt(key: str) -> bool:
    """A Microsoft Entra access token (a JWT: eyJ… with three dot-separated parts), not an API key."""
    return key.startswith("eyJ") and key.count(".") == 2


def _auth_headers(t: Target) -> dict[str, str]:
    if not t.api_key:
        return {}
    key = t.api_key.reveal()
    azure_key = t.provider == "azure" and not _is_jwt(key)  # Azure: api-key for keys, Bearer for Entra tokens
    headers = {"api-key": key} if azure_key else {"Authorization": f"Bearer {key}"}
    if t.organization:
        headers["OpenAI-Organization"] = t.organization
    if t.project:
        headers["OpenAI-Project"] = t.project
    return headers


async def _exchange(client: httpx.AsyncClient, method: str, url: str, t: Target, *, auth: bool, json_body: Any = None) -> dict[str, Any]:
    """One request; returns a redacted record (never raises)."""
    headers = _auth_headers(t) if auth and _may_send_key(url) else {}
    params = {"api-version": t.api_version} if t.provider == "azure" and t.api_version and auth else None
    started = time.perf_counter()
    rec: dict[str, Any] = {"method": method, "url": redact(url), "utc": datetime.now(UTC).isoformat(timespec="seconds"),
                           "status": None, "headers": {}, "body": "", "exception": None}
    try:
        async with client.stream(method, url, headers=headers, params=params, json=json_body, timeout=t.timeout) as resp:
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= MAX_BODY:
                    rec["truncated"] = True
                    break
            rec["status"] = resp.status_code
            rec["headers"] = redact_headers(dict(resp.headers))
            rec["body"] = redact(b"".join(chunks)[:MAX_BODY].decode("utf-8", "replace"))
    except Exception as err:  # noqa: BLE001 -- network failures of any kind become evidence, not tracebacks
        rec["exception"] = redact(f"{type(err).__name__}: {err}")
    rec["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return rec


def _finding_from(step: str, check: str, rec: dict[str, Any]) -> Finding:
    d = classify(rec["status"], rec["headers"], rec["body"], rec["exception"])
    status: Status = "pass" if d.cause == "ok" else "fail"
    where = f"{rec['method']} {rec['url']} -> {rec['status'] if rec['status'] is not None else 'no answer'}"
    return Finding(step, check, status, d.cause, f"{where}; {d.evidence} (responder: {d.responder})",
                   "" if status == "pass" else d.fix, rec["headers"].get("x-request-id", ""), rec["elapsed_ms"])


# ---- step 1: credentials ------------------------------------------------------------------------
def key_value_problems(key: str) -> list[str]:
    """What is wrong with a key's characters (shared by the key lint and the pasted-request lint)."""
    problems = []
    if not key.strip():
        problems.append("the key is empty")
    if key != key.strip():
        problems.append("leading/trailing whitespace or newline")
    if key and (key[0] in "\"'" or key[-1] in "\"'"):
        problems.append("quotes around the key")
    if not key.isascii():
        problems.append("non-ASCII characters (often a smart quote or a pasted ellipsis)")
    if re.match(r"(?i)https?://", key.strip()):
        problems.append("a URL was pasted where the key belongs")
    if key.strip().lower().startswith("bearer "):
        problems.append("the key includes the word 'Bearer'")
    return problems


def lint_key(t: Target) -> list[Finding]:
    key = t.api_key.reveal() if t.api_key else ""
    s = "credentials"
    if not key:
        return [Finding(s, "key present", "fail", "missing_api_key", "no key was given (value, prompt or environment variable)", _fix("missing_api_key"))]
    out: list[Finding] = []
    problems = key_value_problems(key)
    out.append(Finding(s, "key present", "pass", "", f"key given: {t.api_key.hint}"))
    if problems:
        out.append(Finding(s, "key shape", "fail", "malformed_auth_header", "; ".join(problems), _fix("malformed_auth_header")))
    else:
        k = key.strip()
        other = next((n for p, n in (("sk-or-v1-", "OpenRouter"), ("gsk_", "Groq"), ("sk-ant-", "Anthropic")) if k.startswith(p)), "")
        if other and t.provider == "openai":
            out.append(Finding(s, "key shape", "fail", "invalid_api_key", f"an {other} key is being sent to OpenAI", _fix("invalid_api_key")))
        elif t.provider == "azure" and not re.fullmatch(r"[A-Za-z0-9]{32,100}", k):
            out.append(Finding(s, "key shape", "warn", "", "Azure keys are 32 hex or 84 alphanumeric characters; this one looks different"))
        else:
            out.append(Finding(s, "key shape", "pass", "", f"shape looks plausible ({t.api_key.hint})"))
    for name, value, pattern in (("organization id", t.organization, r"org-[A-Za-z0-9]{8,}"), ("project id", t.project, r"proj_[A-Za-z0-9]{8,}")):
        if value and not re.fullmatch(pattern, value):
            out.append(Finding(s, f"{name} format", "warn", "org_project_mismatch", f"{name} {value!r} does not look like {pattern}", _fix("org_project_mismatch")))
    return out


# ---- step 2: network ----------------------------------------------------------------------------
async def network_checks(client: httpx.AsyncClient, t: Target) -> list[Finding]:
    """DNS, TCP and TLS timing, certificate issuer, proxy environment, egress IP and allowlist (step 2)."""
    host = urlsplit(t.base_url).hostname or ""
    connection = asyncio.ensure_future(connection_checks(t))  # TCP/TLS run beside DNS and the IP echo
    try:
        rest = await _dns_proxy_egress(client, t, host)
    finally:
        conn = await connection
    return rest[:1] + conn + rest[1:]


async def _dns_proxy_egress(client: httpx.AsyncClient, t: Target, host: str) -> list[Finding]:
    s = "network"
    out: list[Finding] = []
    started = time.perf_counter()
    try:
        infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(host, None), timeout=t.timeout)
        addrs = sorted({str(i[4][0]) for i in infos})
        out.append(Finding(s, "DNS", "pass", "", f"{host} -> {', '.join(addrs[:4])}", elapsed_ms=round((time.perf_counter() - started) * 1000, 1)))
    except (TimeoutError, OSError) as err:
        out.append(Finding(s, "DNS", "fail", "network_error", f"{host} does not resolve: {type(err).__name__}: {err}", _fix("network_error")))
    proxies = {k: v for k, v in os.environ.items() if k.lower() in ("https_proxy", "http_proxy", "all_proxy", "no_proxy")}
    out.append(Finding(s, "proxy environment", "warn" if any(k.lower() != "no_proxy" for k in proxies) else "pass", "",
                       ", ".join(f"{k}={redact(v)}" for k, v in proxies.items()) or "no proxy variables set"))
    if t.ip_echo_url:
        rec = await _exchange(client, "GET", t.ip_echo_url, t, auth=False)  # the echo never gets the key
        ip = ""
        try:
            ip = str(json.loads(rec["body"]).get("ip", "")) if rec["status"] == 200 else ""
        except (ValueError, AttributeError):
            ip = rec["body"].strip()[:64] if rec["status"] == 200 else ""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            out.append(Finding(s, "egress IP", "warn", "", f"IP echo {rec['url']} gave no usable IP ({rec['status'] or rec['exception']})", elapsed_ms=rec["elapsed_ms"]))
            return out
        out.append(Finding(s, "egress IP", "pass", "", f"the provider sees you as {addr}", elapsed_ms=rec["elapsed_ms"]))
        if t.allowlist:
            inside = any(addr in ipaddress.ip_network(c.strip(), strict=False) for c in t.allowlist)
            out.append(Finding(s, "allowlist", "pass" if inside else "fail", "" if inside else "ip_not_allowed",
                               f"{addr} is {'inside' if inside else 'outside'} the expected allowlist {', '.join(t.allowlist)}",
                               "" if inside else _fix("ip_not_allowed")))
    else:
        out.append(Finding(s, "egress IP", "skip", "", "no IP-echo URL given (--ip-echo-url); the allowlist was not compared"))
    return out


# TLS: who signed the certificate the target presented ------------------------------------------
# Public CAs the providers and common gateways use; an issuer outside them is worth a look.
_PUBLIC_CA = re.compile(
    r"google trust services|\bgts\b|let'?s encrypt|\bisrg\b|digicert|microsoft|sectigo|comodo|usertrust|globalsign|amazon|"
    r"cloudflare|entrust|go ?daddy|starfield|identrust|baltimore|certainly|ssl\.com|zerossl|buypass|actalis|quovadis|certum|harica",
    re.IGNORECASE)
# Products that re-sign TLS for inspection, and words private inspection CAs tend to carry.
_INTERCEPTOR = re.compile(
    r"zscaler|netskope|fortinet|fortigate|palo ?alto|blue ?coat|symantec web|skyhigh|mcafee|forcepoint|websense|sophos|umbrella|"
    r"check ?point|barracuda|kaspersky|avast|eset|bitdefender|mitmproxy|charles proxy|fiddler|burp|corporate|proxy|inspection|"
    r"firewall|untrusted",
    re.IGNORECASE)
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
    s, check = "network", "certificate issuer"
    self_signed = issuer == subject
    vendor = _INTERCEPTOR.search(issuer)
    public = _PUBLIC_CA.search(issuer)
    if not verified:
        what = "self-signed" if self_signed else f"an inspection product ({vendor.group(0)})" if vendor else "not a CA your client trusts"
        return Finding(s, check, "fail", "tls_interception",
                       f"issuer {issuer!r} is {what}, not a public CA the provider uses; verification failed: {verify_error}",
                       _fix("tls_interception"))
    if vendor and not public:
        return Finding(s, check, "warn", "tls_interception",
                       f"issuer {issuer!r} names a TLS-inspection product ({vendor.group(0)}): traffic is re-signed. This trust store "
                       "accepts it, but clients with their own CA bundle (Python certifi, Node) will refuse it", _fix("tls_interception"))
    if public:
        return Finding(s, check, "pass", "", f"issuer {issuer!r} is a public CA")
    if provider in ("openai", "azure"):
        return Finding(s, check, "warn", "", f"issuer {issuer!r} is not a CA {provider} is known to use; a private root in your "
                       "trust store may be re-signing the traffic")
    return Finding(s, check, "pass", "", f"issuer {issuer!r} (verified)")


def _proxy_for(url: SplitResult) -> SplitResult | None:
    """The proxy httpx would use for ``url`` (HTTPS_PROXY/HTTP_PROXY/ALL_PROXY, minus NO_PROXY), if any."""
    proxies = urllib.request.getproxies_environment()
    host = (url.hostname or "").lower()
    bypass = [e.strip().lower().lstrip(".") for e in proxies.get("no", "").split(",") if e.strip()]
    if "*" in bypass or any(host == e or host.endswith("." + e) for e in bypass):
        return None
    if not (proxies.get(url.scheme) or proxies.get("all")):
        return None
    return urlsplit(proxies.get(url.scheme) or proxies["all"])


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


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):  # ssl.SSLError is an OSError
        await asyncio.wait_for(writer.wait_closed(), 1)


async def _peer_cert_unverified(host: str, port: int, proxy: SplitResult | None, timeout: float) -> bytes:
    """Handshake WITHOUT verification only to read the certificate's issuer; nothing is sent over it, least of all the key."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    reader, writer = await _open(host, port, proxy, timeout)
    try:
        if proxy is not None and (await _tunnel(reader, writer, host, port, proxy, timeout))[0] != 200:
            return b""
        await asyncio.wait_for(writer.start_tls(ctx, server_hostname=host), timeout)
        obj = writer.get_extra_info("ssl_object")
        return (obj.getpeercert(binary_form=True) if obj else None) or b""
    finally:
        await _close(writer)


async def connection_checks(t: Target) -> list[Finding]:
    """TCP connect and TLS handshake timing to the target's origin, and who issued its certificate (step 2)."""
    s = "network"
    url = urlsplit(t.base_url)
    host = url.hostname or ""
    https = url.scheme == "https"
    port = url.port or (443 if https else 80)
    if not https and host not in _LOOPBACK:
        return [Finding(s, "TCP connect", "skip", "", f"plain http to {host}: not contacted (the key must not travel over http)")]
    proxy = _proxy_for(url)
    if proxy is not None and proxy.scheme != "http":
        return [Finding(s, "TCP connect", "skip", "", f"proxy {redact(proxy.geturl())} is not an http:// proxy; connection not measured")]
    via = f" via proxy {proxy.hostname}:{proxy.port or 80}" if proxy else ""
    started = time.perf_counter()
    try:
        reader, writer = await _open(host, port, proxy, t.timeout)
    except (OSError, TimeoutError) as err:
        return [Finding(s, "TCP connect", "fail", "network_error", f"TCP connect to {host}:{port}{via} failed: {type(err).__name__}: {err}",
                        _fix("network_error"), elapsed_ms=_ms(started))]
    out = [Finding(s, "TCP connect", "pass", "", f"connected to {host}:{port}{via} in {_ms(started)} ms", elapsed_ms=_ms(started))]
    try:
        if proxy is not None:
            tunnel_started = time.perf_counter()
            status, headers, line = await _tunnel(reader, writer, host, port, proxy, t.timeout)
            if status != 200:
                d = classify(status, headers, "")
                cause = d.cause if d.cause not in ("unknown", "ok") else "proxy_block"
                out.append(Finding(s, "proxy tunnel", "fail", cause, f"CONNECT {host}:{port} -> {line!r}; {d.evidence}", _fix(cause),
                                   elapsed_ms=_ms(tunnel_started)))
                return out
            out.append(Finding(s, "proxy tunnel", "pass", "", f"proxy opened a tunnel to {host}:{port}", elapsed_ms=_ms(tunnel_started)))
        if not https:
            out.append(Finding(s, "TLS handshake", "skip", "", "plain http (loopback): no TLS"))
            return out
        tls_started = time.perf_counter()
        try:
            await asyncio.wait_for(writer.start_tls(httpx.create_ssl_context(), server_hostname=host), t.timeout)
        except ssl.SSLCertVerificationError as err:
            reason = err.verify_message or str(err)
            out.append(Finding(s, "TLS handshake", "fail", "tls_interception", f"certificate verification failed: {reason}",
                               _fix("tls_interception"), elapsed_ms=_ms(tls_started)))
            try:
                der = await _peer_cert_unverified(host, port, proxy, t.timeout)
                issuer, subject = cert_issuer_subject(der)
                out.append(issuer_finding(issuer, subject, False, t.provider, reason))
            except (OSError, TimeoutError, ValueError) as err2:
                out.append(Finding(s, "certificate issuer", "warn", "tls_interception",
                                   f"verification failed ({reason}) and the certificate could not be read: {type(err2).__name__}"))
            return out
        except (OSError, TimeoutError) as err:  # ssl.SSLError is an OSError
            text = f"{type(err).__name__}: {err}"
            d = classify(None, {}, "", text)
            cause = d.cause if d.cause != "unknown" else "network_error"
            out.append(Finding(s, "TLS handshake", "fail", cause, f"TLS handshake with {host}:{port} failed: {text}", _fix(cause),
                               elapsed_ms=_ms(tls_started)))
            return out
        obj = writer.get_extra_info("ssl_object")
        version = obj.version() if obj else "?"
        out.append(Finding(s, "TLS handshake", "pass", "", f"{version} with {host}, certificate verified, in {_ms(tls_started)} ms",
                           elapsed_ms=_ms(tls_started)))
        der = (obj.getpeercert(binary_form=True) if obj else None) or b""
        try:
            issuer, subject = cert_issuer_subject(der)
            out.append(issuer_finding(issuer, subject, True, t.provider))
        except ValueError:
            out.append(Finding(s, "certificate issuer", "warn", "", "the certificate could not be read"))
        return out
    finally:
        await _close(writer)


# ---- step 4: request shape ----------------------------------------------------------------------
def lint_request_shape(t: Target) -> list[Finding]:
    s = "headers"
    out: list[Finding] = []
    p = urlsplit(t.base_url)
    if p.scheme == "http" and (p.hostname or "") not in _LOOPBACK:
        out.append(Finding(s, "scheme", "fail", "wrong_endpoint", f"{t.base_url} uses plain http; the key was not sent", _fix("wrong_endpoint")))
    if re.search(r"/v1/v1\b|/openai/openai\b", p.path):
        out.append(Finding(s, "base URL path", "fail", "wrong_endpoint", f"doubled path segment in {t.base_url}", _fix("wrong_endpoint")))
    if re.search(r"/(chat/completions|responses|completions|embeddings)/?$", p.path):
        out.append(Finding(s, "base URL path", "fail", "wrong_endpoint", f"an endpoint path was pasted into the base URL: {p.path}", _fix("wrong_endpoint")))
    if t.provider == "azure" and "/openai/v1" not in p.path and not t.api_version:
        out.append(Finding(s, "api-version", "fail", "wrong_endpoint", "Azure deployment paths need ?api-version=YYYY-MM-DD", _fix("wrong_endpoint")))
    if t.provider == "azure":
        jwt = bool(t.api_key) and _is_jwt(t.api_key.reveal())
        out.append(Finding(s, "auth header", "pass", "", "Entra token sent as 'Authorization: Bearer'" if jwt
                           else "key sent as 'api-key' header (Azure key auth)"))
    if not out:
        out.append(Finding(s, "base URL", "pass", "", f"{t.base_url} is well formed for provider {t.provider}"))
    return out


# ---- step 5: rate limits ------------------------------------------------------------------------
_DUR = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(value: str) -> float | None:
    """Seconds in an OpenAI reset duration ('6m0s', '20ms', '1.5s'); None when unreadable."""
    v = value.strip()
    try:
        return float(v)
    except ValueError:
        pass
    parts = _DUR.findall(v)
    if not parts or "".join(a + b for a, b in parts) != v:
        return None
    return sum(float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u] for n, u in parts)


def retry_after(headers: dict[str, str]) -> float | None:
    h = {k.lower(): v for k, v in headers.items()}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return float(h[name]) * scale
        except (KeyError, ValueError):
            continue
    return None


def backoff_plan(retry_after_s: float | None, attempts: int = 6, base: float = 0.5, cap: float = 30.0, seed: int | None = 0) -> list[float]:
    """Delays in seconds: exponential with full jitter, capped, never shorter than Retry-After."""
    rng = random.Random(seed)
    delays = [min(cap, base * 2 ** n) * (0.5 + rng.random() / 2) for n in range(attempts)]
    if retry_after_s is not None:
        delays[0] = max(delays[0], retry_after_s)
    return [round(d, 3) for d in delays]


def rate_limit_checks(records: list[dict[str, Any]]) -> list[Finding]:
    s = "ratelimits"
    out: list[Finding] = []
    for rec in records:
        h = rec["headers"]
        for kind in ("requests", "tokens"):
            limit, remaining = h.get(f"x-ratelimit-limit-{kind}"), h.get(f"x-ratelimit-remaining-{kind}")
            if limit is None or remaining is None:
                continue
            try:
                lim, rem = float(limit), float(remaining)
            except ValueError:
                continue
            reset = parse_duration(h.get(f"x-ratelimit-reset-{kind}", "") or "0")
            if lim < 0:
                out.append(Finding(s, f"{kind} headroom", "warn", "", f"{kind}: limit reported as {limit} (Azure sends -1 when it does not say)"))
                continue
            pct = 100 * rem / lim if lim else 0
            status: Status = "fail" if rem <= 0 else "warn" if pct < 10 else "pass"
            out.append(Finding(s, f"{kind} headroom", status, "rate_limited" if status == "fail" else "",
                               f"{kind}: {rem:g} of {lim:g} left ({pct:.0f}%), resets in {reset if reset is not None else '?'} s",
                               _fix("rate_limited") if status == "fail" else ""))
        if rec["status"] == 429:
            ra = retry_after(h)
            d = classify(rec["status"], h, rec["body"])
            plan = backoff_plan(ra) if d.cause == "rate_limited" else []
            out.append(Finding(s, "429 kind", "fail", d.cause,
                               f"{d.cause}: Retry-After={ra if ra is not None else 'absent'}; "
                               + (f"backoff plan {plan} s" if plan else "do not retry: retries cannot fix this"), d.fix))
        if out:
            break
    return out or [Finding(s, "rate-limit headers", "skip", "", "no x-ratelimit-* headers in any answer")]


# ---- step 6: support bundle ---------------------------------------------------------------------
def support_bundle(report: Report) -> dict[str, Any]:
    t = report.target
    path = urlsplit(t.base_url).path.rstrip("/") + "/models"
    header = '-H "api-key: $AZURE_OPENAI_API_KEY"' if t.provider == "azure" else '-H "Authorization: Bearer $OPENAI_API_KEY"'
    return redact_obj({  # type: ignore[no-any-return]
        "generated_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "verdict": report.to_dict()["verdict"],
        "target": t.to_dict(),
        "exchanges": [{k: v for k, v in e.items() if k != "body"} | {"body_head": e["body"][:500]} for e in report.exchanges],
        "request_ids": sorted({e["headers"].get("x-request-id", "") for e in report.exchanges} - {""}),
        "cf_rays": sorted({e["headers"].get("cf-ray", "") for e in report.exchanges} - {""}),
        "findings": [f.to_dict() for f in report.findings],
        "versions": {"python": platform.python_version(), "os": platform.platform(), "httpx": httpx.__version__},
        "reproduce": f"curl -sS -i {header} '{t.origin}{path}'",
    })


def write_bundle(report: Report, out_dir: str | Path) -> list[Path]:
    """Write report.json, support-bundle.json and support-bundle.md into ``out_dir``."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    bundle = support_bundle(report)
    (d / "report.json").write_text(json.dumps(report.to_dict(), indent=2))
    (d / "support-bundle.json").write_text(json.dumps(bundle, indent=2))
    lines = [f"# why403 support bundle ({bundle['generated_utc']})", "", report.to_markdown()]
    lines += ["", "Reproduce (reads the key from the environment):", "", "```", bundle["reproduce"], "```", ""]
    (d / "support-bundle.md").write_text(redact("\n".join(lines)))
    return [d / "report.json", d / "support-bundle.json", d / "support-bundle.md"]


# ---- step 3: permissions -----------------------------------------------------------------------
def _azure_deployment_url(t: Target, base: str) -> str:
    """Azure: the deployment's URL, whether the base already names it (…/openai/deployments/d) or not (…/openai)."""
    return base if "/deployments/" in urlsplit(base).path else f"{base}/deployments/{t.deployment or t.model}"


def _chat_url(t: Target, base: str) -> str:
    return f"{_azure_deployment_url(t, base)}/chat/completions" if t.provider == "azure" else f"{base}/chat/completions"


def paid_probe_body(t: Target) -> dict[str, Any]:
    """The smallest request that runs inference: one output token (only with allow_paid_probe)."""
    body: dict[str, Any] = {"messages": [{"role": "user", "content": "ping"}], "max_completion_tokens": 1}
    return body if t.provider == "azure" else {"model": t.model, **body}


# Requests that can spend no token: the free moderation endpoint, and bodies invalid on purpose (an empty
# input and a zero output-token cap) that the API refuses after authorising the key but before any inference.
INVALID_CHAT = {"messages": [], "max_completion_tokens": 0}
INVALID_RESPONSES = {"input": [], "max_output_tokens": 0}


def free_probes(t: Target, base: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(check, url, kind, body) of the token-free scope probes; kind is 'free' (served free) or 'invalid'."""
    if t.provider == "azure":
        return [("chat/completions scope", _chat_url(t, base), "invalid", dict(INVALID_CHAT))]
    return [
        ("moderations (free)", f"{base}/moderations", "free", {"model": "omni-moderation-latest", "input": "ping"}),
        ("chat/completions scope", f"{base}/chat/completions", "invalid", {"model": t.model, **INVALID_CHAT}),
        ("responses scope", f"{base}/responses", "invalid", {"model": t.model, **INVALID_RESPONSES}),
    ]


def scope_finding(check: str, rec: dict[str, Any], kind: str, azure: bool = False) -> Finding:
    """What a token-free probe says about the key's permission on one endpoint (step 3)."""
    s = "permissions"
    st = rec["status"]
    d = classify(st, rec["headers"], rec["body"], rec["exception"])
    where = f"{rec['method']} {rec['url']} -> {st if st is not None else 'no answer'}"
    endpoint = urlsplit(rec["url"]).path.rsplit("/", 2)[-2:]
    name = "/".join(endpoint) if endpoint[0] == "chat" else endpoint[-1]
    generic = d.cause in ("unknown", "wrong_endpoint", "content_blocked")  # a validation error, not a refusal of the key
    if kind == "invalid" and st in (400, 422) and generic:
        return Finding(s, check, "pass", "", f"{where}: refused as invalid before any inference, so the key may call {name}",
                       request_id=rec["headers"].get("x-request-id", ""), elapsed_ms=rec["elapsed_ms"])
    if kind == "invalid" and st is not None and 200 <= st < 300:
        return Finding(s, check, "warn", "", f"{where}: the server accepted a deliberately invalid request (a lenient gateway?)",
                       request_id=rec["headers"].get("x-request-id", ""), elapsed_ms=rec["elapsed_ms"])
    if st in (404, 405) and not azure and d.cause in ("unknown", "wrong_endpoint"):
        return Finding(s, check, "warn", "", f"{where}: this server does not offer {name}",
                       request_id=rec["headers"].get("x-request-id", ""), elapsed_ms=rec["elapsed_ms"])
    return _finding_from(s, check, rec)


# ---- runner -------------------------------------------------------------------------------------
def _verdict(findings: list[Finding]) -> Verdict:
    kb = knowledge.load()
    fails = [f for f in findings if f.status in ("fail", "error") and f.cause]
    if not fails:
        c = kb.cause("ok")
        return Verdict("ok", c.summary, c.fix, c.title, 0.9)
    # a refusal observed on the wire outranks a lint; earlier steps outrank later ones
    wire = [f for f in fails if "->" in f.evidence] or fails
    best = min(wire, key=lambda f: _STEP_ORDER.index(f.step) if f.step in _STEP_ORDER else 99)
    c = kb.cause(best.cause)
    return Verdict(c.id, c.summary, c.fix, c.title, 0.85)


async def adiagnose(target: Target, *, transport: httpx.AsyncBaseTransport | None = None, progress: Progress | None = None,
                    steps: Collection[str] | None = None, on_findings: OnFindings | None = None) -> Report:
    """Run the steps (all six unless ``steps`` names some) against ``target``; network trouble becomes findings.

    ``progress(step, "running" | "done")`` and ``on_findings(step, findings)`` fire as each step
    starts and ends, so a view can grow its table while the other probes are still out.
    """
    wanted = set(STEPS if steps is None else steps)
    if unknown := wanted - set(STEPS):
        raise InputError(f"unknown step(s) {', '.join(sorted(unknown))}; the steps are {', '.join(STEPS)}")
    notify = progress or (lambda step, state: None)
    deliver = on_findings or (lambda step, found: None)
    started = time.perf_counter()
    utc = datetime.now(UTC).isoformat(timespec="seconds")
    t = target
    base = t.base_url.rstrip("/")
    findings: list[Finding] = []
    exchanges: list[dict[str, Any]] = []
    async with httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=True) as client:
        async def step(name: str, work: Awaitable[list[Finding]]) -> list[Finding]:
            notify(name, "running")
            try:
                result = await work
            except Exception as err:  # noqa: BLE001 -- one broken step becomes an error finding; the others still report
                result = [Finding(name, "step", "error", "unknown", f"{type(err).__name__}: {err}")]
            deliver(name, result)
            notify(name, "done")
            return result

        async def credentials() -> list[Finding]:
            out = lint_key(t)
            if t.api_key and _may_send_key(base):
                rec = await _exchange(client, "GET", f"{base}/models", t, auth=True)
                exchanges.append(rec)
                out.append(_finding_from("credentials", "live GET /models", rec))
            return out

        async def permissions() -> list[Finding]:
            if not (t.api_key and _may_send_key(base)):
                return [Finding("permissions", "model access", "skip", "", "no usable key: permissions not probed")]

            async def probe(check: str, method: str, url: str, kind: str, body: Any = None) -> Finding:
                rec = await _exchange(client, method, url, t, auth=True, json_body=body)
                exchanges.append(rec)  # the rate-limit step reads their headers too
                return scope_finding(check, rec, kind, t.provider == "azure") if kind != "model" else _finding_from("permissions", check, rec)

            model_url = _azure_deployment_url(t, base) if t.provider == "azure" else f"{base}/models/{t.model}"
            probes = [probe(f"model {t.model}" if t.provider != "azure" else f"deployment {t.deployment or t.model}", "GET", model_url, "model")]
            probes += [probe(check, "POST", url, kind, body) for check, url, kind, body in free_probes(t, base)]
            out = list(await asyncio.gather(*probes))
            if t.allow_paid_probe:
                rec2 = await _exchange(client, "POST", _chat_url(t, base), t, auth=True, json_body=paid_probe_body(t))
                exchanges.append(rec2)
                out.append(_finding_from("permissions", "paid probe (1 token)", rec2))
            else:
                out.append(Finding("permissions", "paid probe", "skip", "", "token-spending probe not allowed (--allow-paid-probe)"))
            return out

        async def sync(fn: Callable[[Target], list[Finding]]) -> list[Finding]:
            return fn(t)

        work = {
            "credentials": lambda: credentials(), "network": lambda: network_checks(client, t),
            "permissions": lambda: permissions(),
            "headers": lambda: sync(lambda tt: lint_request_shape(tt) + (lint_request(tt.pasted_request, tt.provider) if tt.pasted_request else [])),
        }
        # rate limits read the headers of the live exchanges, so asking for them alone still probes
        work_steps = ["credentials"] if "ratelimits" in wanted and not wanted & {"credentials", "permissions"} else []
        running = [n for n in work if n in wanted or n in work_steps]
        groups = await asyncio.gather(*(step(n, work[n]()) for n in running))
    for name, g in zip(running, groups, strict=True):
        if name in wanted:
            findings.extend(g)
    if "ratelimits" in wanted:
        notify("ratelimits", "running")
        rl = rate_limit_checks(exchanges)
        findings.extend(rl)
        deliver("ratelimits", rl)
        notify("ratelimits", "done")
    report = Report(t, findings, _verdict(findings), exchanges, utc)
    if "support" in wanted:
        notify("support", "running")
        ids = sorted({e["headers"].get("x-request-id", "") for e in exchanges} - {""})
        sb = [Finding("support", "bundle", "pass", "", f"{len(exchanges)} exchanges recorded; request ids: {', '.join(ids) or 'none'}")]
        findings.extend(sb)
        deliver("support", sb)
        notify("support", "done")
    report.elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    return report


def diagnose(target: Target, **kwargs: Any) -> Report:
    """Synchronous wrapper of :func:`adiagnose` (runs its own event loop in a worker thread if one is running)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(adiagnose(target, **kwargs))
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, adiagnose(target, **kwargs)).result()



def lint_request(text: str, provider: str = "") -> list[Finding]:
    """Lint a request your own app sends, pasted as a curl command, raw headers or a HAR entry (step 4)."""
    import shlex

    s = "headers"
    headers: list[tuple[str, str]] = []
    url = ""
    raw = text.strip()
    if raw.startswith("{"):
        try:
            entry = json.loads(raw)
            req = entry.get("request", entry) if isinstance(entry, dict) else {}
            url = str(req.get("url", ""))
            headers = [(str(h.get("name", "")), str(h.get("value", ""))) for h in req.get("headers", []) if isinstance(h, dict)]
        except (ValueError, AttributeError):
            return [Finding(s, "pasted request", "error", "", "the pasted text looks like JSON but is not a HAR entry")]
    elif raw.lower().startswith("curl"):
        try:
            words = shlex.split(raw.replace("\\\n", " "))
        except ValueError as err:
            return [Finding(s, "pasted request", "error", "", f"cannot parse the curl command: {err}")]
        for i, w in enumerate(words):
            if w in ("-H", "--header") and i + 1 < len(words):
                name, _, value = words[i + 1].partition(":")
                headers.append((name.strip(), value[1:] if value.startswith(" ") else value))
            elif w.startswith("http"):
                url = w
    else:
        for line in raw.splitlines():
            if ":" in line and not line.lower().startswith(("get ", "post ")):
                name, _, value = line.partition(":")
                headers.append((name.strip(), value[1:] if value.startswith(" ") else value))
            elif line.split()[1:2] and line.split()[1].startswith("http"):
                url = line.split()[1]
    out: list[Finding] = []
    names = {n.lower(): v for n, v in headers}
    azure = provider == "azure" or ".openai.azure.com" in url
    auth, api_key = names.get("authorization"), names.get("api-key")
    if auth is None and api_key is None:
        out.append(Finding(s, "credential header", "fail", "missing_api_key", "no Authorization or api-key header in the request", _fix("missing_api_key")))
    if auth is not None:
        if not auth.startswith("Bearer "):
            out.append(Finding(s, "Authorization scheme", "fail", "malformed_auth_header", f"Authorization does not start with 'Bearer ' (starts {auth[:7]!r})", _fix("malformed_auth_header")))
        token = auth[7:] if auth.startswith("Bearer ") else auth
        if problems := key_value_problems(token):
            out.append(Finding(s, "Authorization value", "fail", "malformed_auth_header", "; ".join(problems), _fix("malformed_auth_header")))
        if azure and api_key is None and token.startswith("sk-"):
            out.append(Finding(s, "Azure auth", "fail", "malformed_auth_header", "an API key sent as Bearer to Azure: Azure key auth wants the 'api-key' header", _fix("malformed_auth_header")))
    if api_key is not None and not azure:
        out.append(Finding(s, "api-key header", "warn", "malformed_auth_header", "'api-key' is Azure's header; OpenAI and most gateways read 'Authorization: Bearer'", _fix("malformed_auth_header")))
    ctype = names.get("content-type")
    if ctype is not None and "json" not in ctype.lower():
        out.append(Finding(s, "Content-Type", "warn", "", f"Content-Type is {ctype!r}; the API expects application/json"))
    for name, pattern in (("openai-organization", r"org-[A-Za-z0-9]+"), ("openai-project", r"proj_[A-Za-z0-9]+")):
        if name in names and not re.fullmatch(pattern, names[name].strip()):
            out.append(Finding(s, f"{name} format", "fail", "org_project_mismatch", f"{name} is {names[name]!r}, not like {pattern}", _fix("org_project_mismatch")))
    if url:
        p = urlsplit(url)
        if p.scheme == "http" and (p.hostname or "") not in _LOOPBACK:
            out.append(Finding(s, "scheme", "fail", "wrong_endpoint", f"{url} is plain http", _fix("wrong_endpoint")))
        if "/v1/v1/" in p.path:
            out.append(Finding(s, "path", "fail", "wrong_endpoint", f"doubled /v1 in {p.path}", _fix("wrong_endpoint")))
        if azure and "/openai/v1" not in p.path and "api-version=" not in p.query:
            out.append(Finding(s, "api-version", "fail", "wrong_endpoint", "Azure deployment URL without ?api-version=", _fix("wrong_endpoint")))
    return out or [Finding(s, "pasted request", "pass", "", f"{len(headers)} headers checked; nothing wrong found")]
