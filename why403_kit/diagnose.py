"""The six steps and the runner: independent probes run concurrently under per-request timeouts."""

from __future__ import annotations

import asyncio
import base64
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
    except Exception as err:  # network failures become evidence, not tracebacks
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
    s = "network"
    out: list[Finding] = []
    host = urlsplit(t.base_url).hostname or ""
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
        out.append(Finding(s, "auth header", "pass", "", "key sent as 'api-key' header (Azure key auth)"))
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
            except Exception as err:
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
            path = f"{base}/models/{t.model}" if t.provider != "azure" else f"{base}/deployments/{t.deployment or t.model}"
            rec = await _exchange(client, "GET", path, t, auth=True)
            exchanges.append(rec)
            out = [_finding_from("permissions", f"model {t.model}", rec)]
            if t.allow_paid_probe:
                body = {"model": t.model, "messages": [{"role": "user", "content": "ping"}], "max_completion_tokens": 1}
                rec2 = await _exchange(client, "POST", f"{base}/chat/completions", t, auth=True, json_body=body)
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
        if "ratelimits" in wanted and not wanted & {"credentials", "permissions"}:
            work_steps = ["credentials"]
        else:
            work_steps = []
        groups = await asyncio.gather(*(step(n, work[n]()) for n in work if n in wanted or n in work_steps))
    for name, g in zip([n for n in work if n in wanted or n in work_steps], groups):
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
