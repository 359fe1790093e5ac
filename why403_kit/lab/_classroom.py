"""A class on the lab: mysteries dealt in a seeded order, a hint ladder, a score over the session, an answer key.

No widgets here: :mod:`why403_kit.ui.training` draws the board over a :class:`Classroom`, and ``why403 lab
--answer-key`` writes the trainer's key from the same deal. The mysteries are every scenario the lab plays
(a scenario added to the lab is a mystery from then on), each served under an opaque URL so that nothing a
trainee sees names the cause unless the real provider's answer would.

The score: a right answer earns one point per rung of the hint ladder, minus one per hint revealed; the last rung
is the cause itself, so an answer given after it earns nothing. A mystery left for a new one counts as skipped.
"""

from __future__ import annotations

import csv
import io
import json
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .. import knowledge
from .._files import check_out_file, write_files
from ..classify import page_title
from ..errors import InputError
from ..model import Exchange, Report, Target
from ..render.markdown import cell
from ..runner import diagnose
from ._scenarios import SCENARIOS


class MysteryServer(Protocol):
    """What a classroom needs of a lab (:class:`~why403_kit.lab.Lab` is one): fresh opaque targets."""

    def target(self, scenario: str, *, opaque: bool = False, **overrides: Any) -> Target: ...

HINT_LADDER = ("HTTP status", "who answered", "error code or page title", "the cause")
POINTS = len(HINT_LADDER)  # a right answer with no hint revealed
MAX_ANSWER_KEY = 1000  # mysteries in one answer key: a term's worth of classes


def mystery_pool() -> tuple[str, ...]:
    """The scenarios a class is dealt: every one the lab plays, in the lab's order."""
    return tuple(SCENARIOS)


def deal(seed: int, count: int) -> list[str]:
    """The first ``count`` scenarios a class with ``seed`` gets: the pool shuffled, reshuffled once it is used up."""
    deck = _deck(seed)
    return [next(deck) for _ in range(count)]


def _deck(seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    while True:
        order = list(mystery_pool())
        rng.shuffle(order)
        yield from order


def _deciding_exchange(report: Report) -> Exchange | None:
    """The answer that decided the verdict: the first with the verdict's status, else the first that got none."""
    status = report.verdict.http_status
    for ex in report.exchanges:
        if status is not None and ex.status == status:
            return ex
    return next((ex for ex in report.exchanges if ex.status is None), report.exchanges[0] if report.exchanges else None)


def _code_or_title(ex: Exchange) -> str:
    """What the answer itself says: its error code or type, its page title, or the client's error."""
    if ex.status is None:
        reason = (ex.error or "no answer").split("] ", 1)[-1]
        return f"the client's error: {reason.split(' (_ssl', 1)[0][:160].rstrip('.')}"
    title = page_title(ex.body_head)
    if title:
        return f"page title {title!r}"
    try:
        body = json.loads(ex.body_head)
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):  # a code names the refusal best; a generic type less than the message
        if isinstance(error.get("code"), str) and error["code"]:
            return f"error code {error['code']!r}"
        if isinstance(error.get("message"), str) and error["message"]:
            return f"error message {error['message'][:160]!r}"
        if isinstance(error.get("type"), str) and error["type"]:
            return f"error type {error['type']!r}"
    if isinstance(error, str):
        return f"error {error[:160]!r}"
    return "no error code and no page: the answer is the API's own, accepted" if 200 <= ex.status < 300 else "no error code and no page title"


def hints_for(scenario: str, report: Report) -> tuple[str, ...]:
    """The hint ladder of one mystery: HTTP status, who answered, error code or page title, then the cause."""
    kb = knowledge.load()
    truth = kb.cause(scenario)
    ex = _deciding_exchange(report)
    base = report.target.base_url.rstrip("/")
    where = f" to {ex.method} {ex.url.removeprefix(base) or '/'}" if ex is not None else ""
    status = (f"HTTP {ex.status}{where}" if ex is not None and ex.status is not None
              else f"no HTTP status at all{where}: the request never got an answer")
    responder = report.verdict.responder if report.verdict.responder in knowledge.RESPONDER_IDS else truth.responder
    said = _code_or_title(ex) if ex is not None else "nothing: no request got an answer"
    return (f"The answer that decides is {status}.",
            f"Who answered: {kb.responder(responder).label}.",
            f"What it says: {said}.",
            f"The cause is {truth.id}: {truth.title}.")


@dataclass
class Mystery:
    """One exercise: a target the lab answers as a hidden scenario; repr shows nothing that gives it away."""

    number: int
    scenario: str = field(repr=False)
    target: Target = field(repr=False)
    report: Report | None = field(default=None, repr=False)
    hints_shown: int = 0
    answer: str = ""
    skipped: bool = False

    @property
    def answered(self) -> bool:
        return bool(self.answer)

    @property
    def solved(self) -> bool:
        return self.answer == self.scenario

    @property
    def points(self) -> int:
        return max(0, POINTS - self.hints_shown) if self.solved else 0

    def hints(self) -> tuple[str, ...]:
        """Every rung of the ladder (the board reveals them one at a time)."""
        if self.report is None:
            raise InputError(f"mystery #{self.number} has not been diagnosed yet")
        return hints_for(self.scenario, self.report)


@dataclass(frozen=True)
class Score:
    points: int
    possible: int
    solved: int
    answered: int
    skipped: int
    hints: int

    def text(self) -> str:
        parts = [f"{self.points} of {self.possible} points", f"{self.solved} of {self.answered} solved"]
        parts.append(f"{self.hints} hint{'s' if self.hints != 1 else ''} used")
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        return " · ".join(parts)


@dataclass(frozen=True)
class KeyEntry:
    """One line of the trainer's answer key."""

    number: int
    scenario: str
    title: str
    hints: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"mystery": self.number, "cause": self.scenario, "title": self.title,
                **{f"hint {i} ({name})": h for i, (name, h) in enumerate(zip(HINT_LADDER, self.hints, strict=True), 1)}}


class Classroom:
    """A session of mysteries: the same ``seed`` deals the same mysteries in the same order to every trainee."""

    def __init__(self, lab: MysteryServer, seed: int | None = None) -> None:
        self.seed = seed if seed is not None else secrets.randbelow(1 << 31)
        self.lab = lab
        self._deck = _deck(self.seed)
        self.mysteries: list[Mystery] = []

    @property
    def current(self) -> Mystery | None:
        return self.mysteries[-1] if self.mysteries else None

    def new_mystery(self, *, run: bool = True) -> Mystery:
        """Deal the next mystery (an unanswered current one counts as skipped); ``run`` diagnoses it at once."""
        if self.current is not None and not self.current.answered:
            self.current.skipped = True
        scenario = next(self._deck)
        m = Mystery(len(self.mysteries) + 1, scenario, self.lab.target(scenario, opaque=True))
        self.mysteries.append(m)
        if run:
            self.investigate(m)
        return m

    def investigate(self, mystery: Mystery | None = None) -> Report:
        """Diagnose a mystery (the current one by default) once; later calls return the same report."""
        m = mystery or self.current
        if m is None:
            raise InputError("no mystery yet: deal one with new_mystery()")
        if m.report is None:
            m.report = diagnose(m.target)
        return m.report

    def hint(self) -> str:
        """Reveal the next rung of the current mystery's ladder; each one costs a point."""
        m = self.current
        if m is None:
            raise InputError("no mystery yet: deal one with new_mystery()")
        ladder = m.hints() if m.report is not None else hints_for(m.scenario, self.investigate(m))
        if m.hints_shown < len(ladder) and not m.answered:
            m.hints_shown += 1
        return ladder[max(m.hints_shown, 1) - 1]

    def check(self, answer: str) -> bool:
        """Record the trainee's answer for the current mystery (once) and say whether it is right."""
        m = self.current
        if m is None:
            raise InputError("no mystery yet: deal one with new_mystery()")
        if not m.answered:
            if answer not in knowledge.load().causes:
                raise InputError(f"{answer!r} is not a cause id")
            m.answer = answer
        return m.solved

    def score(self) -> Score:
        answered = [m for m in self.mysteries if m.answered]
        counted = answered + [m for m in self.mysteries if m.skipped]
        return Score(sum(m.points for m in answered), POINTS * len(counted), sum(m.solved for m in answered), len(answered),
                     sum(m.skipped for m in self.mysteries), sum(m.hints_shown for m in counted))

    def answer_key(self, count: int) -> list[KeyEntry]:
        """The first ``count`` mysteries this class's seed deals, with their causes and hint ladders (for the trainer)."""
        if not 1 <= count <= MAX_ANSWER_KEY:
            raise InputError(f"an answer key holds from 1 to {MAX_ANSWER_KEY} mysteries, not {count}")
        kb = knowledge.load()
        entries = []
        reports: dict[str, Report] = {}
        for number, scenario in enumerate(deal(self.seed, count), 1):
            if scenario not in reports:
                reports[scenario] = diagnose(self.lab.target(scenario, opaque=True))
            entries.append(KeyEntry(number, scenario, kb.cause(scenario).title, hints_for(scenario, reports[scenario])))
        return entries

    def write_answer_key(self, path: str | Path, count: int) -> Path:
        """Write the answer key: CSV for ``.csv``, JSON for ``.json``, else Markdown. Give it to trainers only."""
        out = check_out_file(path, "--answer-key")  # before the mysteries are dealt and diagnosed
        entries = self.answer_key(count)
        if out.suffix.lower() == ".csv":
            buf = io.StringIO()
            rows = [e.to_dict() for e in entries]
            writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
            text = buf.getvalue()
        elif out.suffix.lower() == ".json":
            text = json.dumps({"seed": self.seed, "mysteries": [e.to_dict() for e in entries]}, indent=2, ensure_ascii=False) + "\n"
        else:
            lines = [f"# why403 training lab: answer key for seed {self.seed}", "",
                     "For the trainer. Every trainee whose board uses this seed gets these mysteries in this order.", "",
                     "| # | cause | " + " | ".join(f"hint {i}: {name}" for i, name in enumerate(HINT_LADDER, 1)) + " |",
                     "|---|---|" + "---|" * len(HINT_LADDER)]
            lines += [f"| {e.number} | `{e.scenario}` | " + " | ".join(cell(h) for h in e.hints) + " |" for e in entries]
            text = "\n".join(lines) + "\n"
        try:
            return write_files(out.parent, {out.name: text}, "--answer-key")[0]  # whole or not at all
        except OSError as err:
            raise InputError(f"cannot write the answer key to {out}: {err.strerror or err}") from None


__all__ = ["HINT_LADDER", "POINTS", "Classroom", "KeyEntry", "Mystery", "MysteryServer", "Score", "deal", "hints_for", "mystery_pool"]
