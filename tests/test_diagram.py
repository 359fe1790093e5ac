"""The decision-path diagram: valid SVG, every cause drawn, and exactly the diagnosis's path highlighted."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from why403_kit import Lab, Secret, Target, diagnose, knowledge
from why403_kit.render.svg import decision_path_svg

NS = "{http://www.w3.org/2000/svg}"


def typical_symptom(cause: str) -> str:
    return knowledge.load().symptom_of(cause).id


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises on anything that is not well-formed XML
    assert root.tag == f"{NS}svg"
    return root


def on_nodes(root: ET.Element) -> set[str]:
    return {g.attrib["data-node"] for g in root.iter(f"{NS}g") if g.attrib.get("data-on") == "true" and "data-node" in g.attrib}


def all_nodes(root: ET.Element) -> set[str]:
    return {g.attrib["data-node"] for g in root.iter(f"{NS}g") if "data-node" in g.attrib}


@pytest.mark.parametrize("cause", sorted(knowledge.load().causes))
def test_every_cause_highlights_its_own_path(cause: str) -> None:
    c = knowledge.load().causes[cause]
    root = parse(decision_path_svg(cause))
    expected = {f"symptom:{typical_symptom(cause)}", f"responder:{c.responder}", f"cause:{cause}"}
    assert on_nodes(root) == expected
    assert root.attrib["data-path"] == f"{typical_symptom(cause)}/{c.responder}/{cause}"
    edges_on = [p for p in root.iter(f"{NS}path") if p.attrib.get("data-on") == "true"]
    assert len(edges_on) == 2
    assert all(float(p.attrib["stroke-width"]) > 2 for p in edges_on)
    # the highlight is also in words, for screen readers and for people printing in grey
    labels = {g.attrib["data-node"]: g.attrib["aria-label"] for g in root.iter(f"{NS}g") if "data-node" in g.attrib}
    assert all(labels[n].endswith("on the diagnosis path") for n in expected)
    assert sum(v.endswith("on the diagnosis path") for v in labels.values()) == 3
    assert cause in root.attrib["aria-label"]


def test_whole_taxonomy_is_drawn_from_the_knowledge_base() -> None:
    root = parse(decision_path_svg("edge_block"))
    kb = knowledge.load()
    assert {f"cause:{c}" for c in kb.causes} <= all_nodes(root)
    assert {f"symptom:{s.id}" for s in kb.symptoms} <= all_nodes(root)
    assert {f"responder:{r}" for r in knowledge.RESPONDER_IDS} <= all_nodes(root)
    # No external renderer, no external reference of any kind.
    svg = decision_path_svg("edge_block")
    assert "href" not in svg and "<script" not in svg and "url(" not in svg


def test_observed_status_and_responder_win_over_the_usual_ones() -> None:
    # read from the verdict's fields: the evidence sentence says 401 on purpose, and is not read
    report = {
        "verdict": {"cause": "invalid_api_key", "summary": "", "fix": "", "http_status": 403, "responder": "gateway"},
        "findings": [{"step": "credentials", "check": "live GET /models", "status": "fail", "cause": "invalid_api_key",
                      "evidence": "GET https://gw.example/v1/models -> 401; gateway says invalid key"}],
    }
    root = parse(decision_path_svg(report))
    assert on_nodes(root) == {"symptom:403", "responder:gateway", "cause:invalid_api_key"}
    # no status seen (a lint, or no answer): the cause's usual symptom; an unknown responder name: the cause's own
    root = parse(decision_path_svg({"verdict": {"cause": "invalid_api_key", "responder": "martian"}}))
    assert on_nodes(root) == {"symptom:401", "responder:provider", "cause:invalid_api_key"}


def test_report_from_the_lab(lab: Lab) -> None:
    for scenario, expected in (
        ("edge_block", {"symptom:403", "responder:edge", "cause:edge_block"}),
        ("quota_exceeded", {"symptom:429", "responder:provider", "cause:quota_exceeded"}),
        ("network_error", {"symptom:none", "responder:client", "cause:network_error"}),
        ("ok", {"symptom:other", "responder:provider", "cause:ok"}),
        ("server_error", {"symptom:other", "responder:edge", "cause:server_error"}),  # Cloudflare's 502 page: the edge answered
    ):
        report = diagnose(Target(base_url=lab.url(scenario), api_key=Secret("sk-proj-LAB-not-real-0000000000"),
                                 ip_echo_url=lab.ip_echo_url, timeout=5))
        assert on_nodes(parse(decision_path_svg(report))) == expected, scenario
        assert on_nodes(parse(decision_path_svg(report.to_dict()))) == expected, scenario


def test_unknown_input_falls_back_to_unknown_and_text_is_escaped() -> None:
    root = parse(decision_path_svg("no_such_cause"))
    assert "cause:unknown" in on_nodes(root)
    svg = decision_path_svg("malformed_auth_header")  # its fix contains '<key>' and quotes
    parse(svg)
    assert "&lt;key&gt;" in svg and "<key>" not in svg


def test_ok_path_is_green_and_failures_are_not() -> None:
    assert "#15803d" in decision_path_svg("ok")
    assert "#15803d" not in decision_path_svg("edge_block")
