"""The triage report: data only (its views live in ``why403_kit.render.triage``, registered in FORMATS).

``to_dict`` is the stable JSON shape (``schema_version``); every string in it is redacted in the structure, before
anything is serialized or cut.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..redact import redact_obj

SCHEMA_VERSION = 1
# The columns of the per-event output (each event's cause, for joining back), in order, whichever engine writes it.
PER_EVENT_COLUMNS = ("time", "host", "status", "model", "key_hash", "request_id", "signature", "cause", "source", "record")


@dataclass(frozen=True)
class CauseGroup:
    """One cause seen in the input: how often, when, where, for which keys, an example and what to do."""

    cause: str
    title: str
    count: int
    share: float  # of all refusals (successful events excluded)
    first_seen: str
    last_seen: str
    hosts: list[str]  # most frequent first
    statuses: list[int]
    models: list[str]  # most frequent first
    keys: int  # distinct keys or key hints seen (each counted by a stable hash, never shown)
    key_hashes: list[str]  # the most frequent keys' hashes, to match against your own list of key hashes
    signatures: int  # distinct refusal texts (ids, times and numbers masked) behind this cause
    example: str  # redacted first, then cut
    example_at: str
    fix: str
    retry: str
    summary: str
    timeline: list[tuple[str, int]] = field(default_factory=list)  # (bucket start, events) in the report's bucket


@dataclass(frozen=True)
class TriageReport:
    """Refusals grouped by cause, plus what was ok and what could not be read (and why)."""

    groups: list[CauseGroup]
    refusals: int
    ok: int
    skipped: int
    format: str
    engine: str = "python"
    sources: list[str] = field(default_factory=list)
    records: int = 0  # lines, entries or rows read
    signatures: int = 0  # distinct signatures classified
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    truncated: bool = False  # stopped early (--max-events, or an endless record): the rest was not read
    notes: list[str] = field(default_factory=list)
    bucket: str = "hour"  # the timeline's bucket

    @property
    def events(self) -> int:
        """Events that got an answer: ok plus refusals (skipped records are not events)."""
        return self.ok + self.refusals

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape: ``schema_version`` first, then the counts, the groups, the notes."""
        fields = asdict(self)
        data = {"schema_version": SCHEMA_VERSION, "kind": "triage", "groups": fields.pop("groups"), "events": self.events, **fields}
        for group in data["groups"]:
            group["timeline"] = [list(point) for point in group["timeline"]]
        return dict(redact_obj(data))

    def to_frame(self) -> Any:
        """The groups as a pandas DataFrame, one row per cause (pandas is imported only here)."""
        import pandas as pd

        rows = [redact_obj({k: v for k, v in asdict(g).items() if k != "timeline"}) for g in self.groups]
        return pd.DataFrame(rows, columns=[f for f in CauseGroup.__dataclass_fields__ if f != "timeline"])
