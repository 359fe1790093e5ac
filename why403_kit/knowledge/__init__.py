"""The knowledge base: causes (with their matching rules), steps, FAQ, symptoms and responders, loaded from TOML.

It is the single source of truth that the classifier, the probes, the CLI, the notebooks and the exports read.
Loading validates every file against its schema (required keys, types, no unknown key, unique ids, every
reference resolved, every regular expression compiled) and refuses a broken file with a :class:`KnowledgeError`
that names the file and the entry, so a typo fails the first test instead of quietly becoming ``unknown``.

Look-ups of a cause id are strict (:meth:`Knowledge.cause` raises on an id that does not exist); only input the
kit does not control (a saved report, a notebook's output) goes through :meth:`Knowledge.cause_or_unknown`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

from ..errors import KnowledgeError

# The hops that can answer a request; fixed, because the classifier, findings and the diagram speak of them.
RESPONDER_IDS = ("provider", "gateway", "edge", "proxy", "client", "unknown")
# Cause ids every knowledge base must hold: the verdict of a clean run, and the classifier's last resort.
REQUIRED_CAUSES = ("ok", "unknown")

# The schema. A key maps to (kind, required); the kinds are checked by _check_value below.
CAUSE_KEYS: dict[str, tuple[str, bool]] = {
    "id": ("id", True), "title": ("text", True), "summary": ("text", True), "fix": ("text", True), "retry": ("text", True),
    "responder": ("responder", True), "rule": ("rules", False),
}
# What a [[cause.rule]] may hold. The classifier reads these (see Rule and _rule below); a new kind of
# evidence is one entry here plus its field in Rule.
RULE_KEYS: dict[str, tuple[str, bool]] = {
    "codes": ("texts", False), "messages": ("patterns", False), "titles": ("patterns", False), "headers": ("header specs", False),
    "exceptions": ("patterns", False), "statuses": ("integers", False), "priority": ("integer", False),
    "responder": ("responder", False),
}
STEP_KEYS: dict[str, tuple[str, bool]] = {"id": ("id", True), "title": ("text", True), "explains": ("text", True)}
FAQ_KEYS: dict[str, tuple[str, bool]] = {"q": ("text", True), "a": ("text", True), "causes": ("cause ids", False)}
SYMPTOM_KEYS: dict[str, tuple[str, bool]] = {
    "id": ("id", True), "label": ("text", True), "statuses": ("integers", False), "causes": ("cause ids", False),
}
RESPONDER_KEYS: dict[str, tuple[str, bool]] = {
    "id": ("responder", True), "label": ("text", True), "messages": ("patterns", False), "header_prefixes": ("texts", False),
    "certificate_issuers": ("patterns", False), "headers": ("texts", False), "servers": ("patterns", False),
}
T = TypeVar("T")
FILES = ("causes.toml", "steps.toml", "faq.toml", "symptoms.toml", "responders.toml")


@dataclass(frozen=True)
class Rule:
    """What identifies a cause in an answer; every non-empty field must match."""

    codes: tuple[str, ...] = ()
    messages: tuple[re.Pattern[str], ...] = ()
    titles: tuple[re.Pattern[str], ...] = ()
    headers: tuple[tuple[str, re.Pattern[str] | None], ...] = ()
    exceptions: tuple[re.Pattern[str], ...] = ()
    statuses: tuple[int, ...] = ()
    priority: int = 0
    responder: str = ""  # who answered when this rule matched (a hop other than the cause's usual one); "" = the cause's


@dataclass(frozen=True)
class Cause:
    id: str
    title: str
    summary: str
    fix: str
    retry: str
    responder: str
    rules: tuple[Rule, ...] = field(default=())


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    explains: str


@dataclass(frozen=True)
class FaqEntry:
    q: str
    a: str
    causes: tuple[str, ...]


@dataclass(frozen=True)
class Symptom:
    """What a person sees first; ``statuses`` put an observed answer here, ``causes`` usually show it."""

    id: str
    label: str
    statuses: tuple[int, ...] = ()
    causes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Responder:
    """A hop that can answer a request, and what gives it away."""

    id: str
    label: str
    messages: tuple[re.Pattern[str], ...] = ()
    header_prefixes: tuple[str, ...] = ()
    certificate_issuers: tuple[re.Pattern[str], ...] = ()
    headers: tuple[str, ...] = ()  # exact (lower-case) header names only this hop sends
    servers: tuple[re.Pattern[str], ...] = ()  # searched in the Server and Via headers


def _strict(entries: Mapping[str, T], key: str, file: str, what: str) -> T:
    try:
        return entries[key]
    except KeyError:
        raise KnowledgeError(f"{file}: no {what} {key!r}") from None


@dataclass(frozen=True)
class Knowledge:
    causes: dict[str, Cause]
    steps: tuple[Step, ...]
    faq: tuple[FaqEntry, ...]
    symptoms: tuple[Symptom, ...] = ()
    fallback_symptom: str = "other"
    responders: dict[str, Responder] = field(default_factory=dict)
    verdict_order: tuple[str, ...] = ()

    def cause(self, cause_id: str) -> Cause:
        """The cause with this id; a typo raises :class:`KnowledgeError` (ids in code and data must agree)."""
        return _strict(self.causes, cause_id, "causes.toml", "cause")

    def cause_or_unknown(self, cause_id: object) -> Cause:
        """For input the kit does not control (a saved report, a notebook output): an unknown id reads as ``unknown``."""
        return self.causes.get(cause_id if isinstance(cause_id, str) else "") or self.causes["unknown"]

    def step(self, step_id: str) -> Step:
        return _strict({s.id: s for s in self.steps}, step_id, "steps.toml", "step")

    def step_title(self, step_id: str) -> str:
        """What the views call a step ('1. Credentials'); a step this knowledge base does not know (a report saved by
        another version) keeps its id."""
        return next((s.title for s in self.steps if s.id == step_id), step_id)

    def responder(self, responder_id: str) -> Responder:
        return _strict(self.responders, responder_id, "responders.toml", "responder")

    def symptom(self, symptom_id: str) -> Symptom:
        return _strict({s.id: s for s in self.symptoms}, symptom_id, "symptoms.toml", "symptom")

    def symptom_of(self, cause_id: str) -> Symptom:
        """The symptom a cause usually shows (the fallback when none lists it)."""
        return next((s for s in self.symptoms if cause_id in s.causes), self.symptom(self.fallback_symptom))

    def symptom_for(self, cause_id: str, http_status: int | None) -> Symptom:
        """Where a diagnosis lands: the symptom of the status it saw, or its cause's usual one when it saw none."""
        if http_status is None:
            return self.symptom_of(cause_id)
        return next((s for s in self.symptoms if http_status in s.statuses), self.symptom(self.fallback_symptom))


def norm_code(value: str) -> str:
    """An error code or type compared loosely: lower case, punctuation removed."""
    return re.sub(r"[^a-z0-9]", "", value.lower())


def _patterns(values: list[str]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(v, re.IGNORECASE) for v in values)


def _rule(raw: dict[str, Any]) -> Rule:
    headers: list[tuple[str, re.Pattern[str] | None]] = []
    for spec in raw.get("headers", []):
        name, _, value = str(spec).partition("=")
        headers.append((name.lower(), re.compile(value, re.IGNORECASE) if value else None))
    return Rule(
        codes=tuple(norm_code(c) for c in raw.get("codes", [])),
        messages=_patterns(raw.get("messages", [])),
        titles=_patterns(raw.get("titles", [])),
        headers=tuple(headers),
        exceptions=_patterns(raw.get("exceptions", [])),
        statuses=tuple(int(s) for s in raw.get("statuses", [])),
        priority=int(raw.get("priority", 0)),
        responder=str(raw.get("responder", "")),
    )


# ---- validation ----------------------------------------------------------------------------------------------
def _compiles(value: str, where: str) -> None:
    try:
        re.compile(value, re.IGNORECASE)
    except re.error as err:
        raise KnowledgeError(f"{where}: {value!r} is not a valid regular expression ({err})") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_value(kind: str, value: Any, where: str) -> None:
    """Refuse a value of the wrong type or shape; ``where`` names the file, the entry and the key."""
    if kind in ("id", "text", "responder"):
        if not isinstance(value, str) or not value.strip():
            raise KnowledgeError(f"{where}: expected a non-empty string, got {value!r}")
        if kind == "id" and not re.fullmatch(r"[a-z0-9_]+", value):
            raise KnowledgeError(f"{where}: ids are lower-case letters, digits and '_', got {value!r}")
        if kind == "responder" and value not in RESPONDER_IDS:
            raise KnowledgeError(f"{where}: {value!r} is not a responder; the responders are {', '.join(RESPONDER_IDS)}")
        return
    if kind == "integer":
        if not _is_int(value):
            raise KnowledgeError(f"{where}: expected an integer, got {value!r}")
        return
    if kind == "rules":
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise KnowledgeError(f"{where}: expected [[cause.rule]] tables")
        return
    if not isinstance(value, list):
        raise KnowledgeError(f"{where}: expected a list, got {value!r}")
    if kind == "integers":
        if not all(_is_int(v) for v in value):
            raise KnowledgeError(f"{where}: expected a list of integers, got {value!r}")
        return
    if not all(isinstance(v, str) and v for v in value):
        raise KnowledgeError(f"{where}: expected a list of non-empty strings, got {value!r}")
    for v in value:
        if kind == "patterns":
            _compiles(v, where)
        elif kind == "header specs":
            name, _, value_re = v.partition("=")
            _compiles(name, where)
            if value_re:
                _compiles(value_re, where)


def _check_table(raw: object, keys: Mapping[str, tuple[str, bool]], where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise KnowledgeError(f"{where}: expected a table, got {raw!r}")
    if unknown := sorted(set(raw) - set(keys)):
        raise KnowledgeError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(keys)}")
    for key, (kind, required) in keys.items():
        if key in raw:
            _check_value(kind, raw[key], f"{where}: key {key!r}")
        elif required:
            raise KnowledgeError(f"{where}: missing required key {key!r}")
    return raw


def _entries(data: dict[str, Any], name: str, array: str, keys: Mapping[str, tuple[str, bool]], top: Iterable[str] = (),
             label: Callable[[int, dict[str, Any]], str] | None = None) -> list[dict[str, Any]]:
    """The [[array]] tables of one file, each checked against ``keys``; only ``top`` keys may sit beside them."""
    if unknown := sorted(set(data) - {array, *top}):
        raise KnowledgeError(f"{name}: unknown top-level key(s) {', '.join(unknown)}")
    raw = data.get(array)
    if not isinstance(raw, list) or not raw:
        raise KnowledgeError(f"{name}: expected at least one [[{array}]] entry")
    out = []
    for n, entry in enumerate(raw, 1):
        ident = entry.get("id") if isinstance(entry, dict) else None
        where = f"{name}: {array} {ident!r}" if isinstance(ident, str) else f"{name}: {array} #{n}"
        if label is not None and isinstance(entry, dict):
            where = f"{name}: {label(n, entry)}"
        out.append(_check_table(entry, keys, where))
    return out


def _unique(entries: list[dict[str, Any]], key: str, name: str, array: str) -> None:
    seen: set[object] = set()
    for entry in entries:
        value = entry[key]
        if value in seen:
            raise KnowledgeError(f"{name}: {array} {value!r} appears twice ({key} must be unique)")
        seen.add(value)


def _refs(ids: Iterable[str], known: Mapping[str, object] | set[str], where: str, what: str = "cause") -> None:
    for ref in ids:
        if ref not in known:
            raise KnowledgeError(f"{where}: refers to {what} {ref!r}, which does not exist")


def _read(root: Traversable, name: str) -> tuple[str, dict[str, Any]]:
    path = root.joinpath(name)
    label = str(path)
    try:
        return label, tomllib.loads(path.read_text("utf-8"))
    except OSError as err:
        raise KnowledgeError(f"{label}: cannot be read ({err.strerror or err})") from None
    except tomllib.TOMLDecodeError as err:
        raise KnowledgeError(f"{label}: not valid TOML ({err})") from None


def load_from(directory: str | Path | Traversable) -> Knowledge:
    """Load and validate the knowledge files in ``directory`` (:func:`load` reads the package's own)."""
    root: Traversable = Path(directory) if isinstance(directory, (str, Path)) else directory
    docs = {name: _read(root, name) for name in FILES}

    name, data = docs["causes.toml"]
    raw_causes = _entries(data, name, "cause", CAUSE_KEYS)
    _unique(raw_causes, "id", name, "cause")
    causes: dict[str, Cause] = {}
    for c in raw_causes:
        for n, rule in enumerate(c.get("rule", []), 1):
            _check_table(rule, RULE_KEYS, f"{name}: cause {c['id']!r}, rule {n}")
            if not rule.keys() - {"priority"}:
                raise KnowledgeError(f"{name}: cause {c['id']!r}, rule {n}: a rule needs something to match, not only a priority")
        causes[c["id"]] = Cause(c["id"], c["title"], c["summary"], c["fix"], c["retry"], c["responder"],
                                tuple(_rule(r) for r in c.get("rule", [])))
    for required in REQUIRED_CAUSES:
        if required not in causes:
            raise KnowledgeError(f"{name}: cause {required!r} is missing; every knowledge base needs it")

    name, data = docs["steps.toml"]
    raw_steps = _entries(data, name, "step", STEP_KEYS, top=("verdict_order",))
    _unique(raw_steps, "id", name, "step")
    steps = tuple(Step(s["id"], s["title"], s["explains"]) for s in raw_steps)
    raw_order = data.get("verdict_order")
    _check_value("texts", raw_order, f"{name}: key 'verdict_order'")
    order = [str(step) for step in raw_order or []]
    if sorted(order) != sorted(s.id for s in steps):
        raise KnowledgeError(f"{name}: verdict_order {order!r} must name every step exactly once")

    name, data = docs["faq.toml"]
    raw_faq = _entries(data, name, "faq", FAQ_KEYS, label=lambda n, e: f"faq #{n} ({str(e.get('q', ''))[:40]!r})")
    _unique(raw_faq, "q", name, "question")
    for n, f in enumerate(raw_faq, 1):
        _refs(f.get("causes", []), causes, f"{name}: faq #{n} ({f['q'][:40]!r})")
    faq = tuple(FaqEntry(f["q"], f["a"], tuple(f.get("causes", []))) for f in raw_faq)

    name, data = docs["symptoms.toml"]
    raw_symptoms = _entries(data, name, "symptom", SYMPTOM_KEYS, top=("fallback",))
    _unique(raw_symptoms, "id", name, "symptom")
    placed: dict[object, str] = {}
    for s in raw_symptoms:
        where = f"{name}: symptom {s['id']!r}"
        _refs(s.get("causes", []), causes, where)
        for key in ("causes", "statuses"):
            for value in s.get(key, []):
                if (key, value) in placed:
                    raise KnowledgeError(f"{where}: {value!r} is already listed under symptom {placed[key, value]!r}")
                placed[key, value] = s["id"]
    symptoms = tuple(Symptom(s["id"], s["label"], tuple(s.get("statuses", [])), tuple(s.get("causes", []))) for s in raw_symptoms)
    fallback = data.get("fallback")
    _refs([fallback] if isinstance(fallback, str) else ["(missing)"], {s.id for s in symptoms}, f"{name}: key 'fallback'", "symptom")

    name, data = docs["responders.toml"]
    raw_responders = _entries(data, name, "responder", RESPONDER_KEYS)
    _unique(raw_responders, "id", name, "responder")
    responders = {r["id"]: Responder(r["id"], r["label"], _patterns(r.get("messages", [])), tuple(r.get("header_prefixes", [])),
                                     _patterns(r.get("certificate_issuers", [])), tuple(h.lower() for h in r.get("headers", [])),
                                     _patterns(r.get("servers", []))) for r in raw_responders}
    if missing := [r for r in RESPONDER_IDS if r not in responders]:
        raise KnowledgeError(f"{name}: responder(s) {', '.join(missing)} missing; every one of {', '.join(RESPONDER_IDS)} is drawn")
    responders = {r: responders[r] for r in RESPONDER_IDS}

    return Knowledge(causes=causes, steps=steps, faq=faq, symptoms=symptoms, fallback_symptom=str(fallback),
                     responders=responders, verdict_order=tuple(order))


@cache
def load() -> Knowledge:
    """Load (once), validate and return the package's knowledge base."""
    return load_from(files(__package__))


__all__ = ["CAUSE_KEYS", "RESPONDER_IDS", "RULE_KEYS", "Cause", "FaqEntry", "Knowledge", "Responder", "Rule", "Step", "Symptom",
           "load", "load_from", "norm_code"]
