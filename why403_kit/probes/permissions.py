"""Step 3, permissions and model access: which endpoints and model the key may use, without spending tokens."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from ..model import Exchange, Finding, Target
from ._http import can_send_key, diagnosis_of, finding_from, not_the_api, shape_problem, where, wire_finding
from ._step import StepContext, StepSpec


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


def expected_shape(url: str) -> str:
    """The kind of answer (a key of SHAPES) the API gives, with a 2xx, to a request for ``url``."""
    path = urlsplit(url).path.rstrip("/")
    return next((kind for end, kind in (("/chat/completions", "chat"), ("/responses", "responses"), ("/moderations", "moderation"))
                 if path.endswith(end)), "model")


def scope_finding(check: str, ex: Exchange, kind: str, azure: bool = False) -> Finding:
    """What a token-free probe says about the key's permission on one endpoint (step 3)."""
    s = "permissions"
    st = ex.status
    d = diagnosis_of(ex)
    endpoint = urlsplit(ex.url).path.rsplit("/", 2)[-2:]
    name = "/".join(endpoint) if endpoint[0] == "chat" else endpoint[-1]
    generic = d.cause in ("unknown", "wrong_endpoint", "content_blocked")  # a validation error, not a refusal of the key
    if kind == "invalid" and st in (400, 422) and generic:
        return wire_finding(s, check, "pass", ex, evidence=f"{where(ex)}: refused as invalid before any inference, so the key may call {name}")
    if kind == "invalid" and st is not None and 200 <= st < 300 and d.cause == "ok":
        if problem := shape_problem(expected_shape(ex.url), ex):  # the API never accepts it: only its own answer's shape excuses a 200
            return not_the_api(s, check, ex, problem)
        return wire_finding(s, check, "warn", ex, evidence=f"{where(ex)}: the server accepted a deliberately invalid request (a lenient gateway?)")
    if st in (404, 405) and not azure and d.cause in ("unknown", "wrong_endpoint"):
        return wire_finding(s, check, "warn", ex, evidence=f"{where(ex)}: this server does not offer {name}")
    return finding_from(s, check, ex, expect=expected_shape(ex.url))


async def run(ctx: StepContext) -> list[Finding]:
    """Step 3: model (or deployment) access and token-free scope probes; the paid probe only with allow_paid_probe."""
    t = ctx.target
    base = t.base_url.rstrip("/")
    if not can_send_key(t, base):
        return [Finding("permissions", "model access", "skip", "", "no usable key: permissions not probed")]

    async def probe(check: str, method: str, url: str, kind: str, body: Any = None) -> Finding:
        ex = await ctx.send(method, url, auth=True, json_body=body)  # recorded: the rate-limit step reads their headers too
        return scope_finding(check, ex, kind, t.provider == "azure") if kind != "model" else finding_from("permissions", check, ex, expect="model")

    model_url = _azure_deployment_url(t, base) if t.provider == "azure" else f"{base}/models/{t.model}"
    probes = [probe(f"model {t.model}" if t.provider != "azure" else f"deployment {t.deployment or t.model}", "GET", model_url, "model")]
    probes += [probe(check, "POST", url, kind, body) for check, url, kind, body in free_probes(t, base)]
    out = list(await asyncio.gather(*probes))
    if t.allow_paid_probe:
        ex = await ctx.send("POST", _chat_url(t, base), auth=True, json_body=paid_probe_body(t))
        out.append(finding_from("permissions", "paid probe (1 token)", ex, expect="chat"))
    else:
        out.append(Finding("permissions", "paid probe", "skip", "", "token-spending probe not allowed (--allow-paid-probe)"))
    return out


STEP = StepSpec("permissions", run)
