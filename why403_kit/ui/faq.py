"""The FAQ from the knowledge base, each answer beside a live example played by the training lab."""

from __future__ import annotations

import html

import httpx

from .. import knowledge
from ..classify import classify
from ..lab import LAB_KEY, SCENARIOS, shared_lab
from ..redact import excerpt
from ..render.theme import PALETTE


def answer_head(body: str, size: int = 220) -> str:
    """The start of an answer for a page: masked whole, then cut (a cut made first could keep a piece of a key too short
    to be recognised once its prefix, or the rest of it, is gone), then HTML-escaped."""
    return html.escape(excerpt(body, 0, 0, size))


def live_example(cause: str, *, timeout: float = 5.0) -> str:
    """Ask the lab to play ``cause`` once and show what came back and what the classifier made of it."""
    if cause not in SCENARIOS or cause in ("network_error",):
        return ""
    lab = shared_lab()
    base = lab.url(cause)
    try:
        with httpx.Client(timeout=timeout) as client:  # verification on: an intercepting proxy shows as such
            auth = {"Authorization": f"Bearer {LAB_KEY}"}
            r = client.get(f"{base}/models", headers=auth)
            if r.is_success:  # some refusals only show on use: ask for a completion with an empty (never billed) body
                r = client.post(f"{base}/chat/completions", headers=auth, json={"model": "gpt-4o-mini", "messages": []})
        status, headers, body = r.status_code, dict(r.headers), r.text
        d = classify(status, headers, body)  # the whole answer: the classifier bounds and masks what it quotes
    except httpx.HTTPError as err:
        status, body = 0, ""
        d = classify(exception=err)
    head = answer_head(body)
    return (f'<div class="why403-example" style="margin:4px 0 0 16px;font-size:12px;color:{PALETTE["note"]}">'
            f'<b>Live, from the lab</b> (<code>{html.escape(cause)}</code>): HTTP {status or "no answer"}'
            f'{f" <code>{head}</code>" if head else ""} → classified as <code>{html.escape(d.cause)}</code>, '
            f'answered by <i>{html.escape(d.responder)}</i>.</div>')


def faq_html(*, examples: bool = True) -> str:
    """Every FAQ entry: question, answer, the causes it concerns (with their fixes), and a live example."""
    kb = knowledge.load()
    parts = ['<div class="why403-faq">']
    for i, entry in enumerate(kb.faq, 1):
        causes = [kb.cause(c) for c in entry.causes if c in kb.causes]
        fixes = "".join(f"<li><code>{html.escape(c.id)}</code> {html.escape(c.title)}: {html.escape(c.fix)}</li>" for c in causes)
        example = live_example(next((c.id for c in causes if c.id in SCENARIOS), "")) if examples and causes else ""
        parts.append(f'<h3 id="faq-{i}">{html.escape(entry.q)}</h3><p>{html.escape(entry.a)}</p>'
                     f'{f"<ul>{fixes}</ul>" if fixes else ""}{example}')
    parts.append("</div>")
    return "".join(parts)
