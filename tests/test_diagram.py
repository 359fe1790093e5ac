"""The decision-path diagram: valid SVG, every cause drawn, and exactly the diagnosis's path highlighted."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from why403_kit import Lab, Secret, Target, diagnose, knowledge
from why403_kit.diagram import RESPONDERS, SYMPTOMS, decision_path_svg, typical_symptom

NS = "{http://www.w3.org/2000/svg}"


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
    assert {f"symptom:{k}" for k, _ in SYMPTOMS} <= all_nodes(root)
    assert {f"responder:{k}" for k, _ in RESPONDERS} <= all_nodes(root)
    assert {c.responder for c in kb.causes.values()} <= {k for k, _ in RESPONDERS}
    # No external renderer, no external reference of any kind.
    svg = decision_path_svg("edge_block")
    assert "href" not in svg and "<script" not in svg and "url(" not in svg


def test_observed_status_wins_over_the_usual_one() -> None:
    report = {
        "verdict": {"cause": "invalid_api_key", "summary": "", "fix": ""},
        "findings": [{"step": "credentials", "check": "live GET /models", "status": "fail", "cause": "invalid_api_key",
                      "evidence": "GET https://gw.example/v1/models -> 403; gateway says invalid key"}],
    }
    root = parse(decision_path_svg(report))
    assert on_nodes(root) == {"symptom:403", "responder:provider", "cause:invalid_api_key"}


def test_report_from_the_lab(lab: Lab) -> None:
    for scenario, expected in (
        ("edge_block", {"symptom:403", "responder:edge", "cause:edge_block"}),
        ("quota_exceeded", {"symptom:429", "responder:provider", "cause:quota_exceeded"}),
        ("network_error", {"symptom:none", "responder:client", "cause:network_error"}),
        ("healthy", {"symptom:other", "responder:provider", "cause:ok"}),
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
