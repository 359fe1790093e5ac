"""The reduction every engine shares: events -> signatures (counted once each) -> causes.

An engine (the streaming Python reader, DuckDB, Spark) hands over one :class:`SigStats` per distinct signature:
how many events, when, which hosts, models, keys, and one example event. Each signature is judged once with the
kit's classifier (:func:`judge`), then the signatures join back into causes (:func:`build_report`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .. import knowledge
from ..classify import classify
from ..redact import redact
from ._events import Event
from ._model import CauseGroup, TriageReport
from ._readers import ReadContext

EXAMPLE_CHARS = 280
TOP = 10


@dataclass(frozen=True)
class Verdict:
    """What one signature is: counted as ``ok``, a ``refusal`` or ``skipped`` (with why), its cause and example."""

    counts_as: str  # "ok" | "refusal" | "skipped"
    cause: str
    confidence: float
    status: int | None
    example: str  # redacted, then cut
    where: str
    skip_reason: str = ""


@dataclass
class SigStats:
    """One distinct signature as an engine saw it."""

    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    hosts: Counter[str] = field(default_factory=Counter)
    models: Counter[str] = field(default_factory=Counter)
    keys: Counter[str] = field(default_factory=Counter)
    hours: Counter[datetime] = field(default_factory=Counter)
    example: Event | None = None
    verdict: Verdict | None = None

    def add(self, ev: Event) -> None:
        self.count += 1
        if ev.when is not None:
            if self.first is None or ev.when < self.first:
                self.first = ev.when
            if self.last is None or ev.when > self.last:
                self.last = ev.when
            self.hours[ev.when.replace(minute=0, second=0, microsecond=0)] += 1
        if ev.host:
            self.hosts[ev.host] += 1
        if ev.model:
            self.models[ev.model] += 1
        if ev.key:
            self.keys[ev.key] += 1


@dataclass
class Reduction:
    """What an engine read: the signatures and the tally of records, skips and notes."""

    engine: str
    ctx: ReadContext
    sigs: dict[str, SigStats] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)


def example_text(ev: Event) -> str:
    """The event's own words, redacted first and cut after (a cut must never drop the anchor of a key)."""
    raw = ev.body or ev.exception or (f"HTTP {ev.status}" if ev.status else "")
    text = re.sub(r"\s+", " ", redact(raw)).strip()
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"


def judge(ev: Event | None, where: str = "") -> Verdict:
    """Classify one signature's example event, once."""
    if ev is None:
        return Verdict("skipped", "", 0.0, None, "", where, "not an event")
    diag = classify(ev.status, ev.headers, ev.body, ev.exception or None)
    if diag.cause == "ok":
        return Verdict("ok", "ok", diag.confidence, ev.status, "", ev.where)
    if ev.status is None and diag.cause == "unknown":  # an error line with no status that names no known cause
        return Verdict("skipped", "unknown", diag.confidence, None, "", ev.where, "error text that names no cause")
    return Verdict("refusal", diag.cause, diag.confidence, ev.status, example_text(ev), ev.where)


def _top(counts: Counter[str]) -> list[str]:
    """The most frequent values, ties broken by value, so every engine lists them alike."""
    return [value for value, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]]


def _iso(dt: datetime | None) -> str:
    return dt.isoformat().replace("+00:00", "Z") if dt else ""


def build_report(reductions: list[Reduction], fmt: str = "") -> TriageReport:
    """Judge every signature not yet judged and join the signatures back into causes."""
    kb = knowledge.load()
    skipped: Counter[str] = Counter()
    notes: list[str] = []
    formats: Counter[str] = Counter()
    records, truncated, ok, n_sigs = 0, False, 0, 0
    by_cause: dict[str, list[tuple[SigStats, Verdict]]] = {}
    sources: list[str] = []
    engines: list[str] = []
    for red in reductions:
        skipped.update(red.ctx.skipped)
        notes += red.ctx.notes
        formats.update(red.ctx.formats)
        records += red.ctx.records
        truncated = truncated or red.ctx.truncated
        sources += red.sources
        if red.engine not in engines:
            engines.append(red.engine)
        for stats in red.sigs.values():
            n_sigs += 1
            verdict = stats.verdict or judge(stats.example)
            if verdict.counts_as == "ok":
                ok += stats.count
            elif verdict.counts_as == "skipped":
                skipped[verdict.skip_reason] += stats.count
            else:
                by_cause.setdefault(verdict.cause, []).append((stats, verdict))
    refusals = sum(s.count for items in by_cause.values() for s, _ in items)
    firsts = [s.first for items in by_cause.values() for s, _ in items if s.first]
    lasts = [s.last for items in by_cause.values() for s, _ in items if s.last]
    span = (max(lasts) - min(firsts)) if firsts and lasts else timedelta(0)
    bucket = "day" if span > timedelta(days=14) else "hour"
    groups: list[CauseGroup] = []
    for cause_id, items in sorted(by_cause.items(), key=lambda kv: (-sum(s.count for s, _ in kv[1]), kv[0])):
        cause = kb.cause(cause_id)
        count = sum(s.count for s, _ in items)
        hosts: Counter[str] = Counter()
        models: Counter[str] = Counter()
        keys: Counter[str] = Counter()
        timeline: Counter[datetime] = Counter()
        for stats, _ in items:
            hosts.update(stats.hosts)
            models.update(stats.models)
            keys.update(stats.keys)
            for hour, n in stats.hours.items():
                timeline[hour.replace(hour=0) if bucket == "day" else hour] += n
        best = max(items, key=lambda item: (item[1].confidence, item[0].count))[1]
        times_first = [s.first for s, _ in items if s.first]
        times_last = [s.last for s, _ in items if s.last]
        groups.append(CauseGroup(
            cause=cause_id, title=cause.title, count=count, share=round(count / refusals, 4),
            first_seen=_iso(min(times_first, default=None)), last_seen=_iso(max(times_last, default=None)),
            hosts=[redact(h) for h in _top(hosts)],
            statuses=sorted({v.status for _, v in items if v.status is not None}),
            models=[redact(m) for m in _top(models)],
            keys=len(keys), key_hashes=_top(keys), signatures=len(items),
            example=best.example, example_at=best.where, fix=cause.fix, retry=cause.retry, summary=cause.summary,
            timeline=[(_iso(t), n) for t, n in sorted(timeline.items())],
        ))
    if truncated and not any("not read" in n for n in notes):
        notes.append(f"stopped after {records} records (--max-events); the rest was not read")
    fmt = fmt or ("+".join(sorted(formats)) if formats else "empty")
    return TriageReport(groups=groups, events=ok + refusals, refusals=refusals, ok=ok, skipped=sum(skipped.values()),
                        format=fmt, engine="+".join(engines), sources=sources, records=records, signatures=n_sigs,
                        skipped_reasons=dict(skipped.most_common()), truncated=truncated, notes=notes, bucket=bucket)
