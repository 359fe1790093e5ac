"""Step 1, credentials: key present and well formed, and a live free call with it."""

from __future__ import annotations

import re

from .._keys import key_control_characters
from ..model import Finding, Target
from ._http import can_send_key, finding_from, fix, key_refusal, may_send_key
from ._step import StepContext, StepSpec


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
        if t.key_env:  # name the variable the user chose, not the default one the advice is written for
            advice = fix("missing_api_key").replace("OPENAI_API_KEY", t.key_env)
            return [Finding(s, "key present", "fail", "missing_api_key", f"the environment variable {t.key_env} is empty or unset", advice)]
        return [Finding(s, "key present", "fail", "missing_api_key", "no key was given (value, prompt or environment variable)", fix("missing_api_key"))]
    out: list[Finding] = []
    problems = key_value_problems(key)
    out.append(Finding(s, "key present", "pass", "", f"key given: {t.api_key.hint}"))
    if found := key_control_characters(key):
        windows = any(c.startswith("CR ") and c.endswith("at the end") for c in found)
        out.append(Finding(s, "key characters", "fail", "malformed_auth_header",
                           f"the key holds {'; '.join(found)}" + (" (a Windows line ending, as a .env file saved on Windows leaves)" if windows else "")
                           + ": an HTTP header cannot carry it intact, so the key was not sent",
                           "Remove the invisible characters from the key where it is stored (re-save a .env file with Unix line endings, "
                           "or strip the value when you read it), then run again."))
    if problems:
        out.append(Finding(s, "key shape", "fail", "malformed_auth_header", "; ".join(problems), fix("malformed_auth_header")))
    else:
        k = key.strip()
        other = next((n for p, n in (("sk-or-v1-", "OpenRouter"), ("gsk_", "Groq"), ("sk-ant-", "Anthropic")) if k.startswith(p)), "")
        if other and t.provider == "openai":
            out.append(Finding(s, "key shape", "fail", "invalid_api_key", f"an {other} key is being sent to OpenAI", fix("invalid_api_key")))
        elif t.provider == "azure" and not re.fullmatch(r"[A-Za-z0-9]{32,100}", k):
            out.append(Finding(s, "key shape", "warn", "", "Azure keys are 32 hex or 84 alphanumeric characters; this one looks different"))
        else:
            out.append(Finding(s, "key shape", "pass", "", f"shape looks plausible: {t.api_key.hint}"))
    for name, value, pattern in (("organization id", t.organization, r"org-[A-Za-z0-9]{8,}"), ("project id", t.project, r"proj_[A-Za-z0-9]{8,}")):
        if value and not re.fullmatch(pattern, value):
            out.append(Finding(s, f"{name} format", "warn", "org_project_mismatch", f"{name} {value!r} does not look like {pattern}", fix("org_project_mismatch")))
    return out


async def run(ctx: StepContext) -> list[Finding]:
    """Step 1: the key's shape, then a free GET {base}/models with it."""
    t = ctx.target
    base = t.base_url.rstrip("/")
    out = lint_key(t)
    if can_send_key(t, base):
        out.append(finding_from("credentials", "live GET /models", await ctx.send("GET", f"{base}/models", auth=True), expect="models"))
    elif t.api_key and may_send_key(base) and (refusal := key_refusal(t)):
        out.append(Finding("credentials", "live GET /models", "skip", "", f"not sent: {refusal}"))
    return out


STEP = StepSpec("credentials", run)
