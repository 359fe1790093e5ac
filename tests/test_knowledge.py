"""The knowledge base is validated: a broken file is refused with an error naming the file and the entry."""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest

from why403_kit import knowledge
from why403_kit.errors import KnowledgeError

SHIPPED = Path(str(files("why403_kit.knowledge")))


@pytest.fixture()
def kb_dir(tmp_path: Path) -> Path:
    """A copy of the shipped knowledge files, to break one at a time."""
    for name in knowledge.FILES:
        shutil.copy(SHIPPED / name, tmp_path / name)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"the test's anchor {old!r} is not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_shipped_files_load_and_the_copy_loads_alike(kb_dir: Path) -> None:
    assert knowledge.load_from(kb_dir) == knowledge.load()


@pytest.mark.parametrize(("name", "old", "new", "says"), [
    ("causes.toml", 'id = "edge_block"', 'id = "invalid_api_key"', ["causes.toml", "'invalid_api_key' appears twice"]),
    ("causes.toml", 'id = "unknown"', 'id = "unknowable"', ["causes.toml", "'unknown' is missing"]),
    ("causes.toml", 'responder = "edge"', 'responder = "cdn"', ["causes.toml", "cause 'edge_block'", "'cdn' is not a responder"]),
    ("causes.toml", 'responder = "edge"', 'respnder = "edge"', ["causes.toml", "cause 'edge_block'", "unknown key(s) respnder"]),
    ("causes.toml", 'title = "Rate limit reached"\n', "", ["causes.toml", "cause 'rate_limited'", "missing required key 'title'"]),
    ("causes.toml", "titles = ['attention required'", "titles = ['attention (required'", ["causes.toml", "cause 'edge_block', rule 1",
                                                                                        "'attention (required' is not a valid regular expression"]),
    ("causes.toml", "statuses = [451]", 'statuses = ["451"]', ["causes.toml", "cause 'unsupported_region', rule 3", "list of integers"]),
    ("causes.toml", "statuses = [451]", "status = [451]", ["causes.toml", "cause 'unsupported_region', rule 3", "unknown key(s) status"]),
    ("faq.toml", 'causes = ["quota_exceeded", "rate_limited"]', 'causes = ["quota_exceded", "rate_limited"]',
     ["faq.toml", "faq #3", "refers to cause 'quota_exceded'"]),
    ("symptoms.toml", '"rate_limited", "request_too_large"]', '"rate_limted", "request_too_large"]',
     ["symptoms.toml", "symptom '429'", "refers to cause 'rate_limted'"]),
    ("symptoms.toml", 'fallback = "other"', 'fallback = "misc"', ["symptoms.toml", "fallback", "symptom 'misc'"]),
    ("steps.toml", '"ratelimits", "support"]', '"ratelimits"]', ["steps.toml", "verdict_order", "every step exactly once"]),
    ("responders.toml", '"provider returned error"', '"provider returned (error"', ["responders.toml", "responder 'gateway'",
                                                                                      "not a valid regular expression"]),
    ("responders.toml", 'id = "client"', 'id = "customer"', ["responders.toml", "'customer' is not a responder"]),
    ("steps.toml", "[[step]]", "[[step]\n", ["steps.toml", "not valid TOML"]),
])
def test_a_broken_file_is_refused_naming_file_and_entry(kb_dir: Path, name: str, old: str, new: str, says: list[str]) -> None:
    _edit(kb_dir / name, old, new)
    with pytest.raises(KnowledgeError) as err:
        knowledge.load_from(kb_dir)
    for part in says:
        assert part in str(err.value)


def test_rule_keys_are_one_constant_the_classifier_stream_extends(kb_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _edit(kb_dir / "causes.toml", "statuses = [451]", "statuses = [451]\n  vendors = [\"acme\"]")
    with pytest.raises(KnowledgeError, match="unknown key"):
        knowledge.load_from(kb_dir)
    monkeypatch.setitem(knowledge.RULE_KEYS, "vendors", ("texts", False))
    assert knowledge.load_from(kb_dir).causes["unsupported_region"].rules


def test_look_ups_are_strict_inside_and_lenient_for_untrusted_input() -> None:
    kb = knowledge.load()
    with pytest.raises(KnowledgeError, match="no cause 'edge_blok'"):
        kb.cause("edge_blok")
    assert kb.cause_or_unknown("edge_blok").id == "unknown" and kb.cause_or_unknown(None).id == "unknown"
    assert kb.cause_or_unknown("edge_block").id == "edge_block"


def test_symptoms_place_a_diagnosis_by_what_it_saw() -> None:
    kb = knowledge.load()
    assert kb.symptom_for("invalid_api_key", None).id == "401"  # nothing seen: the cause's usual symptom
    assert kb.symptom_for("invalid_api_key", 403).id == "403"   # seen: the status decides
    assert kb.symptom_for("wrong_endpoint", 404).id == kb.fallback_symptom == "other"
    assert kb.symptom_for("network_error", None).id == "none"


def test_a_registry_that_disagrees_with_steps_toml_stops_the_import() -> None:
    # A [[step]] without a probe: the package refuses to load rather than silently skip that step.
    code = (
        "import dataclasses, sys\n"
        "import why403_kit.knowledge as k\n"
        "from why403_kit.errors import KnowledgeError\n"
        "kb = k.load()\n"
        "k.load = lambda: dataclasses.replace(kb, steps=kb.steps + (k.Step('dns', '7. DNS', 'resolves'),))\n"
        "for name in [m for m in sys.modules if m.startswith('why403_kit.probes')]:\n"
        "    del sys.modules[name]\n"
        "try:\n"
        "    import why403_kit.probes\n"
        "except KnowledgeError as err:\n"
        "    print('refused:', err)\n"
        "else:\n"
        "    print('loaded')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.stdout.strip() == "refused: steps.toml: step(s) 'dns' have no probe in why403_kit.probes.REGISTRY", proc.stderr


def test_a_step_title_for_the_views_and_an_unknown_step_keeps_its_id() -> None:
    kb = knowledge.load()
    assert [kb.step_title(s.id) for s in kb.steps] == [s.title for s in kb.steps]
    assert kb.step_title("a-step-from-a-newer-report") == "a-step-from-a-newer-report"
