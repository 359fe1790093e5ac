"""Step 4, request headers and format: the target's URL shape, and a request pasted from the user's app."""

from __future__ import annotations

import json
import re
import shlex
from urllib.parse import urlsplit

from ..model import PROVIDER_NAMES, Finding, Target
from ._http import LOOPBACK, fix, is_jwt
from ._step import StepContext, StepSpec
from .credentials import key_value_problems


def lint_request_shape(t: Target) -> list[Finding]:
    s = "headers"
    out: list[Finding] = []
    p = urlsplit(t.base_url)
    if t.stripped_userinfo:
        out.append(Finding(s, "base URL user info", "fail", "malformed_auth_header",
                           f"the base URL held user info ({t.stripped_userinfo}@): it was removed for this run, because an HTTP client "
                           "sends it as 'Authorization: Basic …' in place of your key, and the API refuses that",
                           f"Remove '{t.stripped_userinfo}@' from the base URL (OPENAI_BASE_URL, or your client's base_url): the key goes in "
                           "the Authorization header, never in the URL."))
    if p.scheme == "http" and (p.hostname or "") not in LOOPBACK:
        out.append(Finding(s, "scheme", "fail", "wrong_endpoint", f"{t.base_url} uses plain http; the key was not sent", fix("wrong_endpoint")))
    if re.search(r"/v1/v1\b|/openai/openai\b", p.path):
        out.append(Finding(s, "base URL path", "fail", "wrong_endpoint", f"doubled path segment in {t.base_url}", fix("wrong_endpoint")))
    if re.search(r"/(chat/completions|responses|completions|embeddings)/?$", p.path):
        out.append(Finding(s, "base URL path", "fail", "wrong_endpoint", f"an endpoint path was pasted into the base URL: {p.path}", fix("wrong_endpoint")))
    if t.provider == "azure" and "/openai/v1" not in p.path and not t.api_version:
        out.append(Finding(s, "api-version", "fail", "wrong_endpoint", "Azure deployment paths need ?api-version=YYYY-MM-DD", fix("wrong_endpoint")))
    if t.provider == "azure":
        jwt = bool(t.api_key) and is_jwt(t.api_key.reveal())
        out.append(Finding(s, "auth header", "pass", "", "Entra token sent as 'Authorization: Bearer'" if jwt
                           else "key sent as 'api-key' header (Azure key auth)"))
    if not out:
        out.append(Finding(s, "base URL", "pass", "", f"{t.base_url} is well formed (provider: {PROVIDER_NAMES.get(t.provider, t.provider)})"))
    return out


def lint_request(text: str, provider: str = "") -> list[Finding]:
    """Lint a request your own app sends, pasted as a curl command, raw headers or a HAR entry (step 4)."""
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
        out.append(Finding(s, "credential header", "fail", "missing_api_key", "no Authorization or api-key header in the request", fix("missing_api_key")))
    if auth is not None:
        if not auth.startswith("Bearer "):
            out.append(Finding(s, "Authorization scheme", "fail", "malformed_auth_header", f"Authorization does not start with 'Bearer ' (starts {auth[:7]!r})", fix("malformed_auth_header")))
        token = auth[7:] if auth.startswith("Bearer ") else auth
        if problems := key_value_problems(token):
            out.append(Finding(s, "Authorization value", "fail", "malformed_auth_header", "; ".join(problems), fix("malformed_auth_header")))
        if azure and api_key is None and token.startswith("sk-"):
            out.append(Finding(s, "Azure auth", "fail", "malformed_auth_header", "an API key sent as Bearer to Azure: Azure key auth wants the 'api-key' header", fix("malformed_auth_header")))
    if api_key is not None and not azure:
        out.append(Finding(s, "api-key header", "warn", "malformed_auth_header", "'api-key' is Azure's header; OpenAI and most gateways read 'Authorization: Bearer'", fix("malformed_auth_header")))
    ctype = names.get("content-type")
    if ctype is not None and "json" not in ctype.lower():
        out.append(Finding(s, "Content-Type", "warn", "", f"Content-Type is {ctype!r}; the API expects application/json"))
    for name, pattern in (("openai-organization", r"org-[A-Za-z0-9]+"), ("openai-project", r"proj_[A-Za-z0-9]+")):
        if name in names and not re.fullmatch(pattern, names[name].strip()):
            out.append(Finding(s, f"{name} format", "fail", "org_project_mismatch", f"{name} is {names[name]!r}, not like {pattern}", fix("org_project_mismatch")))
    if url:
        p = urlsplit(url)
        if p.scheme == "http" and (p.hostname or "") not in LOOPBACK:
            out.append(Finding(s, "scheme", "fail", "wrong_endpoint", f"{url} is plain http", fix("wrong_endpoint")))
        if "/v1/v1/" in p.path:
            out.append(Finding(s, "path", "fail", "wrong_endpoint", f"doubled /v1 in {p.path}", fix("wrong_endpoint")))
        if azure and "/openai/v1" not in p.path and "api-version=" not in p.query:
            out.append(Finding(s, "api-version", "fail", "wrong_endpoint", "Azure deployment URL without ?api-version=", fix("wrong_endpoint")))
    return out or [Finding(s, "pasted request", "pass", "", f"{len(headers)} headers checked; nothing wrong found")]


async def run(ctx: StepContext) -> list[Finding]:
    """Step 4: the target's URL shape, and the request the user pasted, if any. Nothing is sent."""
    t = ctx.target
    return lint_request_shape(t) + (lint_request(t.pasted_request, t.provider) if t.pasted_request else [])


STEP = StepSpec("headers", run)
