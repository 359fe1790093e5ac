"""The decision path of a diagnosis as inline SVG: symptom → who answered → cause.

Drawn by the kit itself (plain string building, no renderer, no network) so that the notebook, the widget panel
and the offline HTML export show the same picture. Symptoms, responders and causes all come from the knowledge
base, so a new cause in ``causes.toml`` appears here without touching this file. The path is read from the
verdict's fields (the status it saw, who answered), never from evidence text; it is highlighted (colour, stroke
and ``data-on="true"`` / aria labels, so tests and screen readers can tell which nodes are on it).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from .. import knowledge
from ..model import Report, Verdict
from .theme import DIAGRAM_OFF, DIAGRAM_ON, DIAGRAM_ON_OK, PALETTE

_DESC = ("Each symptom leads to who answered the request, then to the causes that responder can give. "
         "The highlighted path is the one this diagnosis took.")

# Geometry (viewBox units); the SVG scales to its container and keeps this aspect ratio.
_W, _TOP, _ROW, _NODE_H = 780, 56, 27, 21
_COLS = {"symptom": (10, 190), "responder": (265, 200), "cause": (545, 225)}

DiagramSource = Report | Verdict | Mapping[str, Any] | str


def verdict_of(source: DiagramSource) -> Verdict:
    """The verdict of a Report, a report.json dict, a verdict dict, a Verdict or a bare cause id (untrusted: lenient)."""
    if isinstance(source, Report):
        return source.verdict
    if isinstance(source, Verdict):
        return source
    if isinstance(source, Mapping):
        inner = source.get("verdict", source)
        try:
            return Verdict.from_dict(inner if isinstance(inner, Mapping) else {})
        except (TypeError, ValueError):
            return Verdict.from_dict({"cause": inner.get("cause") if isinstance(inner, Mapping) else None})
    return Verdict(str(source), "", "")


def decision_path(source: DiagramSource) -> tuple[str, str, str]:
    """(symptom, responder, cause) keys of the path a diagnosis took: the status it saw and who answered, when known."""
    kb = knowledge.load()
    verdict = verdict_of(source)
    cause = kb.cause_or_unknown(verdict.cause)
    symptom = kb.symptom_for(cause.id, verdict.http_status).id
    responder = verdict.responder if verdict.responder in knowledge.RESPONDER_IDS else cause.responder
    return symptom, responder, cause.id


def describe_path(source: DiagramSource) -> str:
    """The highlighted path in words (captions, print, screen readers, phones)."""
    kb = knowledge.load()
    symptom, responder, cause_id = decision_path(source)
    return f"{kb.symptom(symptom).label} → answered by {kb.responder(responder).label} → {cause_id} ({kb.cause(cause_id).title})"


def _node(kind: str, key: str, label: str, tip: str, x: float, y: float, w: float, on: bool, colours: dict[str, str]) -> str:
    c = colours if on else DIAGRAM_OFF
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
    colour = colours["edge"] if on else DIAGRAM_OFF["edge"]
    width = 3 if on else 1.1
    cls = "edge on" if on else "edge"
    return (f'<path class="{cls}" data-on="{"true" if on else "false"}" d="M{x1},{y1:.1f} C{mid},{y1:.1f} {mid},{y2:.1f} {x2},{y2:.1f}" '
            f'fill="none" stroke="{colour}" stroke-width="{width}"/>')


def decision_path_svg(source: DiagramSource) -> str:
    """Inline SVG of symptom → who answered → cause for a Report, a report.json dict, a Verdict or a cause id."""
    kb = knowledge.load()
    symptom, responder, cause_id = decision_path(source)
    colours = DIAGRAM_ON_OK if cause_id == "ok" else DIAGRAM_ON
    resp_keys = list(kb.responders)
    causes = sorted(kb.causes.values(), key=lambda c: resp_keys.index(c.responder))
    height = _TOP + _ROW * len(causes) + 12
    span = _ROW * (len(causes) - 1)

    cause_y = {c.id: _TOP + i * _ROW for i, c in enumerate(causes)}
    resp_y: dict[str, float] = {}
    for key in resp_keys:
        ys = [cause_y[c.id] for c in causes if c.responder == key]
        resp_y[key] = sum(ys) / len(ys) if ys else 0.0
    # Keep responders without causes out of the way but still drawn (evenly between their neighbours).
    for i, key in enumerate(resp_keys):
        if not resp_y[key]:
            resp_y[key] = _TOP + span * (i + 0.5) / len(resp_keys)
    sym_y = {s.id: _TOP + span * (i + 0.5) / len(kb.symptoms) for i, s in enumerate(kb.symptoms)}

    sx, sw = _COLS["symptom"]
    rx, rw = _COLS["responder"]
    cx, cw = _COLS["cause"]
    edges_off: list[str] = []
    pairs = {(kb.symptom_of(c.id).id, c.responder) for c in causes}
    for s_key, r_key in sorted(pairs):
        if (s_key, r_key) != (symptom, responder):
            edges_off.append(_edge(sx + sw, sym_y[s_key], rx, resp_y[r_key], False, colours))
    for c in causes:
        if c.id != cause_id:
            edges_off.append(_edge(rx + rw, resp_y[c.responder], cx, cause_y[c.id], False, colours))
    edges_on = [
        _edge(sx + sw, sym_y[symptom], rx, resp_y[responder], True, colours),
        _edge(rx + rw, resp_y[responder], cx, cause_y[cause_id], True, colours),
    ]
    nodes = [_node("symptom", s.id, s.label, s.label, sx, sym_y[s.id], sw, s.id == symptom, colours) for s in kb.symptoms]
    nodes += [_node("responder", r.id, r.label, f"answered by: {r.label}", rx, resp_y[r.id], rw, r.id == responder, colours)
              for r in kb.responders.values()]
    nodes += [_node("cause", c.id, c.id, f"{c.title}. Fix: {c.fix}", cx, cause_y[c.id], cw, c.id == cause_id, colours) for c in causes]

    title = f"Decision path: {describe_path(source)}"
    heads = "".join(
        f'<text x="{x}" y="24" font-size="13" font-weight="700" fill="{PALETTE["heading"]}">{escape(h)}</text>'
        for x, h in ((sx, "1. Symptom"), (rx, "2. Who answered"), (cx, "3. Cause"))
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="why403-diagram" data-why403="decision-path" '
        f'data-path="{escape(symptom)}/{escape(responder)}/{escape(cause_id)}" viewBox="0 0 {_W} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" role="img" aria-label={quoteattr(title)} '
        f'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif">'
        f"<title>{escape(title)}</title>"
        f"<desc>{escape(_DESC)}</desc>"
        f'<rect width="{_W}" height="{height}" fill="{PALETTE["white"]}"/>{heads}'
        f'<line x1="10" y1="34" x2="{_W - 10}" y2="34" stroke="{PALETTE["rule"]}"/>'
        f'<g class="edges">{"".join(edges_off)}</g><g class="path">{"".join(edges_on)}</g>'
        f'<g class="nodes">{"".join(nodes)}</g></svg>'
    )


_NARROW_W = 340  # viewBox width of the stacked drawing: about 1 unit per CSS pixel on a 375 px phone


def decision_path_narrow_svg(source: DiagramSource) -> str:
    """The same path for narrow screens: the three stages stacked top to bottom, each naming the node taken and how
    many it was chosen from, at a size a phone shows legibly (the full map would shrink to unreadable)."""
    kb = knowledge.load()
    symptom, responder, cause_id = decision_path(source)
    cause = kb.cause(cause_id)
    colours = DIAGRAM_ON_OK if cause_id == "ok" else DIAGRAM_ON
    stages = [
        ("symptom", symptom, "1. Symptom", [kb.symptom(symptom).label], f"one of {len(kb.symptoms)} symptoms"),
        ("responder", responder, "2. Who answered", [kb.responder(responder).label], f"one of {len(kb.responders)} who may answer"),
        ("cause", cause_id, "3. Cause", [cause_id, *textwrap.wrap(cause.title, 38)], f"one of {len(kb.causes)} causes"),
    ]
    parts: list[str] = []
    y = 8.0
    for i, (kind, key, head, lines, note) in enumerate(stages):
        parts.append(f'<text x="10" y="{y + 14:.1f}" font-size="14" font-weight="700" fill="{PALETTE["heading"]}">{escape(head)}</text>')
        y += 24
        box_h = 16 + 19 * len(lines)
        label = " ".join(lines)
        texts = "".join(
            f'<text x="22" y="{y + 22 + 19 * n:.1f}" fill="{colours["text"]}" font-size="{15 if n == 0 else 13.5}"'
            f'{" font-weight=" + chr(34) + "700" + chr(34) if n == 0 else ""}>{escape(line)}</text>'
            for n, line in enumerate(lines))
        parts.append(
            f'<g class="node on" data-node="{kind}:{escape(key)}" data-on="true" aria-label={quoteattr(f"{kind} {label}: on the diagnosis path")}>'
            f'<rect x="10" y="{y:.1f}" width="{_NARROW_W - 20}" height="{box_h}" rx="8" fill="{colours["fill"]}" '
            f'stroke="{colours["stroke"]}" stroke-width="2.2"/>{texts}</g>')
        y += box_h
        parts.append(f'<text x="12" y="{y + 16:.1f}" font-size="12.5" fill="{DIAGRAM_OFF["text"]}">{escape(note)}</text>')
        y += 22
        if i < len(stages) - 1:
            mid = _NARROW_W / 2
            parts.append(f'<path class="edge on" data-on="true" d="M{mid},{y:.1f} L{mid},{y + 16:.1f}" stroke="{colours["edge"]}" '
                         f'stroke-width="3" fill="none"/><path d="M{mid - 7},{y + 10:.1f} L{mid},{y + 19:.1f} L{mid + 7},{y + 10:.1f}" '
                         f'stroke="{colours["edge"]}" stroke-width="3" fill="none"/>')
            y += 24
    height = y + 4
    title = f"Decision path: {describe_path(source)}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="why403-diagram why403-diagram-narrow" data-why403="decision-path-narrow" '
        f'data-path="{escape(symptom)}/{escape(responder)}/{escape(cause_id)}" viewBox="0 0 {_NARROW_W} {height:.0f}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" role="img" aria-label={quoteattr(title)} '
        f'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif">'
        f"<title>{escape(title)}</title><desc>{escape(_DESC)}</desc>"
        f'<rect width="{_NARROW_W}" height="{height:.0f}" fill="{PALETTE["white"]}"/>{"".join(parts)}</svg>'
    )


__all__ = ["decision_path", "decision_path_narrow_svg", "decision_path_svg", "describe_path", "verdict_of"]
