"""The decision path of a diagnosis as inline SVG: symptom → who answered → cause.

Drawn by the kit itself (plain string building, no renderer, no network) so that the notebook, the widget panel
and the offline HTML export show the same picture. Who answered comes from the knowledge base's ``responder`` of
each cause, so a new cause in ``causes.toml`` appears here without touching this file. The path the actual
diagnosis took is highlighted (colour, stroke and ``data-on="true"`` / aria labels, so tests and screen readers
can tell which nodes are on it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from . import knowledge

# The symptom a person sees first; "other" covers 2xx, 404, 5xx and anything else.
SYMPTOMS: tuple[tuple[str, str], ...] = (
    ("401", "401 Unauthorized"),
    ("403", "403 Forbidden"),
    ("429", "429 Too Many Requests"),
    ("other", "other status (2xx, 404, 5xx)"),
    ("tls", "TLS / certificate error"),
    ("none", "no answer at all"),
)
RESPONDERS: tuple[tuple[str, str], ...] = (
    ("provider", "the provider's API"),
    ("gateway", "a gateway (LiteLLM, APIM…)"),
    ("edge", "a CDN / WAF edge"),
    ("proxy", "a corporate proxy"),
    ("client", "nobody: your client side"),
    ("unknown", "not recognised"),
)
# How each cause usually shows itself. The knowledge base holds no status per cause (its rules match codes and
# messages whatever the status), so the usual symptom lives here; unlisted causes count as "other".
_TYPICAL: dict[str, str] = {
    **dict.fromkeys(("missing_api_key", "malformed_auth_header", "invalid_api_key", "account_inactive",
                     "org_project_mismatch", "missing_scope", "ip_not_allowed"), "401"),
    **dict.fromkeys(("auth_method_disabled", "model_access_denied", "org_verification_required", "unsupported_region",
                     "edge_block", "proxy_block", "content_blocked"), "403"),
    **dict.fromkeys(("quota_exceeded", "rate_limited"), "429"),
    "tls_interception": "tls",
    "network_error": "none",
}
_DESC = ("Each symptom leads to who answered the request, then to the causes that responder can give. "
         "The highlighted path is the one this diagnosis took.")
_STATUS_RE = re.compile(r"->\s*(\d{3})\b")
_TLS_RE = re.compile(r"certificate|\btls\b|\bssl\b", re.IGNORECASE)

# Geometry (viewBox units); the SVG scales to its container and keeps this aspect ratio.
_W, _TOP, _ROW, _NODE_H = 780, 56, 27, 21
_COLS = {"symptom": (10, 190), "responder": (265, 200), "cause": (545, 225)}
_OFF = {"fill": "#f8fafc", "stroke": "#cbd5e1", "text": "#475569", "edge": "#d5dde7"}
_ON = {"fill": "#fff4e6", "stroke": "#c2410c", "text": "#7c2d12", "edge": "#c2410c"}
_ON_OK = {"fill": "#ecfdf3", "stroke": "#15803d", "text": "#14532d", "edge": "#15803d"}


def typical_symptom(cause_id: str) -> str:
    """The symptom key (see :data:`SYMPTOMS`) a cause usually shows."""
    return _TYPICAL.get(cause_id, "other")


def _bucket(status: int) -> str:
    return str(status) if status in (401, 403, 429) else "other"


def _path_of(report_or_cause: Any) -> tuple[str, str, str]:
    """(symptom, responder, cause) the diagnosis took; the observed status wins over the cause's usual one."""
    kb = knowledge.load()
    findings: list[Any] = []
    if isinstance(report_or_cause, str):
        cause_id = report_or_cause
    elif isinstance(report_or_cause, Mapping):
        verdict = report_or_cause.get("verdict", report_or_cause)
        cause_id = str(verdict.get("cause", "unknown") if isinstance(verdict, Mapping) else "unknown")
        findings = [f for f in report_or_cause.get("findings") or [] if isinstance(f, Mapping)]
    else:
        verdict_obj = getattr(report_or_cause, "verdict", report_or_cause)
        cause_id = str(getattr(verdict_obj, "cause", "unknown"))
        findings = [vars(f) for f in getattr(report_or_cause, "findings", []) or []]
    cause = kb.cause(cause_id)
    symptom = ""
    if cause.id == "network_error":
        symptom = "none"
    elif cause.id == "tls_interception":
        symptom = "tls"
    else:
        for f in findings:
            if f.get("cause") != cause.id:
                continue
            evidence = str(f.get("evidence", ""))
            match = _STATUS_RE.search(evidence)
            if match:
                symptom = _bucket(int(match.group(1)))
                break
            if _TLS_RE.search(evidence):
                symptom = "tls"
                break
    responder = cause.responder if cause.responder in dict(RESPONDERS) else "unknown"
    return symptom or typical_symptom(cause.id), responder, cause.id


def decision_path(report_or_cause: Any) -> tuple[str, str, str]:
    """The (symptom, responder, cause) keys of the path a diagnosis took, as the diagram highlights it."""
    return _path_of(report_or_cause)


def describe_path(report_or_cause: Any) -> str:
    """The highlighted path in words (captions, print, screen readers, phones)."""
    symptom, responder, cause_id = _path_of(report_or_cause)
    title = knowledge.load().cause(cause_id).title
    return f"{dict(SYMPTOMS)[symptom]} → answered by {dict(RESPONDERS)[responder]} → {cause_id} ({title})"


def _node(kind: str, key: str, label: str, tip: str, x: float, y: float, w: float, on: bool, colours: dict[str, str]) -> str:
    c = colours if on else _OFF
    state = "on the diagnosis path" if on else "not taken"
    weight = ' font-weight="700"' if on else ""
    stroke_w = 2.2 if on else 1
    return (
        f'<g class="node{" on" if on else ""}" data-node="{kind}:{escape(key)}" data-on="{"true" if on else "false"}" '
        f'aria-label={quoteattr(f"{kind} {label}: {state}")}>'
        f"<title>{escape(tip)}</title>"
        f'<rect x="{x}" y="{y - _NODE_H / 2:.1f}" width="{w}" height="{_NODE_H}" rx="6" fill="{c["fill"]}" '
        f'stroke="{c["stroke"]}" stroke-width="{stroke_w}"/>'
        f'<text x="{x + 9}" y="{y + 4.3:.1f}" fill="{c["text"]}" font-size="12.5"{weight}>{escape(label)}</text></g>'
    )


def _edge(x1: float, y1: float, x2: float, y2: float, on: bool, colours: dict[str, str]) -> str:
    mid = (x1 + x2) / 2
    colour = colours["edge"] if on else _OFF["edge"]
    width = 3 if on else 1.1
    cls = "edge on" if on else "edge"
    return (f'<path class="{cls}" data-on="{"true" if on else "false"}" d="M{x1},{y1:.1f} C{mid},{y1:.1f} {mid},{y2:.1f} {x2},{y2:.1f}" '
            f'fill="none" stroke="{colour}" stroke-width="{width}"/>')


def decision_path_svg(report_or_cause: Any) -> str:
    """Inline SVG of symptom → who answered → cause for a Report, a report.json dict, a Verdict or a cause id."""
    kb = knowledge.load()
    symptom, responder, cause_id = _path_of(report_or_cause)
    colours = _ON_OK if cause_id == "ok" else _ON
    resp_keys = [k for k, _ in RESPONDERS]
    causes = sorted(kb.causes.values(), key=lambda c: resp_keys.index(c.responder) if c.responder in resp_keys else len(resp_keys))
    height = _TOP + _ROW * len(causes) + 12
    span = _ROW * (len(causes) - 1)

    cause_y = {c.id: _TOP + i * _ROW for i, c in enumerate(causes)}
    resp_y: dict[str, float] = {}
    for key, _ in RESPONDERS:
        ys = [cause_y[c.id] for c in causes if (c.responder if c.responder in resp_keys else "unknown") == key]
        resp_y[key] = sum(ys) / len(ys) if ys else 0.0
    # Keep responders without causes out of the way but still drawn (evenly between their neighbours).
    for i, (key, _) in enumerate(RESPONDERS):
        if not resp_y[key]:
            resp_y[key] = _TOP + span * (i + 0.5) / len(RESPONDERS)
    sym_y = {key: _TOP + span * (i + 0.5) / len(SYMPTOMS) for i, (key, _) in enumerate(SYMPTOMS)}

    sx, sw = _COLS["symptom"]
    rx, rw = _COLS["responder"]
    cx, cw = _COLS["cause"]
    edges_off: list[str] = []
    pairs = {(typical_symptom(c.id), c.responder if c.responder in resp_keys else "unknown") for c in causes}
    for s_key, r_key in sorted(pairs):
        if (s_key, r_key) != (symptom, responder):
            edges_off.append(_edge(sx + sw, sym_y[s_key], rx, resp_y[r_key], False, colours))
    for c in causes:
        r_key = c.responder if c.responder in resp_keys else "unknown"
        if c.id != cause_id:
            edges_off.append(_edge(rx + rw, resp_y[r_key], cx, cause_y[c.id], False, colours))
    edges_on = [
        _edge(sx + sw, sym_y[symptom], rx, resp_y[responder], True, colours),
        _edge(rx + rw, resp_y[responder], cx, cause_y[cause_id], True, colours),
    ]
    nodes = [_node("symptom", k, label, label, sx, sym_y[k], sw, k == symptom, colours) for k, label in SYMPTOMS]
    nodes += [_node("responder", k, label, f"answered by: {label}", rx, resp_y[k], rw, k == responder, colours) for k, label in RESPONDERS]
    nodes += [_node("cause", c.id, c.id, f"{c.title}. Fix: {c.fix}", cx, cause_y[c.id], cw, c.id == cause_id, colours) for c in causes]

    title = f"Decision path: {describe_path(report_or_cause)}"
    heads = "".join(
        f'<text x="{x}" y="24" font-size="13" font-weight="700" fill="#0f172a">{escape(h)}</text>'
        for x, h in ((sx, "1. Symptom"), (rx, "2. Who answered"), (cx, "3. Cause"))
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="why403-diagram" data-why403="decision-path" '
        f'data-path="{escape(symptom)}/{escape(responder)}/{escape(cause_id)}" viewBox="0 0 {_W} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" role="img" aria-label={quoteattr(title)} '
        f'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif">'
        f"<title>{escape(title)}</title>"
        f"<desc>{escape(_DESC)}</desc>"
        f'<rect width="{_W}" height="{height}" fill="#ffffff"/>{heads}'
        f'<line x1="10" y1="34" x2="{_W - 10}" y2="34" stroke="#e2e8f0"/>'
        f'<g class="edges">{"".join(edges_off)}</g><g class="path">{"".join(edges_on)}</g>'
        f'<g class="nodes">{"".join(nodes)}</g></svg>'
    )


__all__ = ["RESPONDERS", "SYMPTOMS", "decision_path", "decision_path_svg", "describe_path", "typical_symptom"]
