"""The knowledge base: causes (with their matching rules), steps and FAQ, loaded from TOML data.

It is the single source of truth that the classifier, CLI, notebooks and exports render.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any


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
class Knowledge:
    causes: dict[str, Cause]
    steps: tuple[Step, ...]
    faq: tuple[FaqEntry, ...]

    def cause(self, cause_id: str) -> Cause:
        return self.causes.get(cause_id) or self.causes["unknown"]


def _norm_code(value: str) -> str:
    return re.sub(r"[^a-z0-9]", "", value.lower())


def _patterns(values: list[str]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(v, re.IGNORECASE) for v in values)


def _rule(raw: dict[str, Any]) -> Rule:
    headers: list[tuple[str, re.Pattern[str] | None]] = []
    for spec in raw.get("headers", []):
        name, _, value = str(spec).partition("=")
        headers.append((name.lower(), re.compile(value, re.IGNORECASE) if value else None))
    return Rule(
        codes=tuple(_norm_code(c) for c in raw.get("codes", [])),
        messages=_patterns(raw.get("messages", [])),
        titles=_patterns(raw.get("titles", [])),
        headers=tuple(headers),
        exceptions=_patterns(raw.get("exceptions", [])),
        statuses=tuple(int(s) for s in raw.get("statuses", [])),
        priority=int(raw.get("priority", 0)),
        responder=str(raw.get("responder", "")),
    )


def _load(name: str) -> dict[str, Any]:
    return tomllib.loads(files(__package__).joinpath(name).read_text("utf-8"))


@cache
def load() -> Knowledge:
    """Load (once) and return the knowledge base."""
    causes = {
        c["id"]: Cause(
            id=str(c["id"]),
            title=str(c["title"]),
            summary=str(c["summary"]),
            fix=str(c["fix"]),
            retry=str(c["retry"]),
            responder=str(c["responder"]),
            rules=tuple(_rule(r) for r in c.get("rule", [])),
        )
        for c in _load("causes.toml")["cause"]
    }
    steps = tuple(Step(str(s["id"]), str(s["title"]), str(s["explains"])) for s in _load("steps.toml")["step"])
    faq = tuple(
        FaqEntry(str(f["q"]), str(f["a"]), tuple(f.get("causes", [])))
        for f in _load("faq.toml")["faq"]
    )
    return Knowledge(causes=causes, steps=steps, faq=faq)


norm_code = _norm_code
__all__ = ["Cause", "FaqEntry", "Knowledge", "Rule", "Step", "load", "norm_code"]
