"""Load the refusal corpus and score the classifier on it (used by tests/test_corpus.py and benchmarks/bench_classify.py).

A case is right when the cause the classifier names is in the case's ``accept`` list. The classifier gets exactly
what the case holds: ``classify(status, headers, body, exception)``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from why403_kit import classify

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
DEV = CORPUS / "dev.jsonl"
HELDOUT = CORPUS / "heldout.jsonl"  # added by the lead; collected by someone who never saw the rules
SAMPLE = Path(__file__).parent / "fixtures" / "real-responses.jsonl"

FIELDS = ("id", "source", "provider", "client", "status", "headers", "body", "exception", "cause", "accept", "reason", "shape", "note")
SHAPES = {"json", "python-dict", "html", "html-text", "text", "exception-only", "wrapped", "truncated", "double-escaped",
          "wrapped-terminal", "other-language", "stream-error", "network", "tls"}
REAL_KEY = re.compile(r"sk-[A-Za-z0-9_-]{20,}")
SAFE_KEY = re.compile(r"xxxx|CANARY|TEST", re.IGNORECASE)
URL = re.compile(r"https?://[^\s/$.?#][^\s]*$")

# The status-only baseline: what the status line alone says, read by its RFC 9110 name, fixed before the corpus
# was looked at (never tuned to it). No status means no answer came back.
_STATUS_ONLY = {
    401: "invalid_api_key",     # Unauthorized: the credential was refused
    402: "quota_exceeded",      # Payment Required
    403: "missing_scope",       # Forbidden: known but not permitted
    404: "wrong_endpoint",      # Not Found
    407: "proxy_block",         # Proxy Authentication Required
    413: "request_too_large",   # Content Too Large
    429: "rate_limited",        # Too Many Requests
    451: "unsupported_region",  # Unavailable For Legal Reasons
}


def status_only(status: int | None) -> str:
    """The cause the status alone suggests (the baseline the classifier is compared with)."""
    if status is None:
        return "network_error"
    if 200 <= status < 300:
        return "ok"
    if status >= 500:
        return "server_error"
    return _STATUS_ONLY.get(status, "unknown")


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    provider: str
    client: str | None
    status: int | None
    headers: dict[str, str]
    body: str
    exception: str | None
    cause: str
    accept: tuple[str, ...]
    reason: str
    shape: tuple[str, ...]
    note: str

    @property
    def kind(self) -> str:
        """'exception-only' (no status, no body: what people paste from a traceback) or 'body' (an answer)."""
        return "exception-only" if self.status is None and not self.body and self.exception else "body"


def load(path: Path) -> list[Case]:
    cases = []
    for line in path.read_text("utf-8").splitlines():
        if not line.strip():
            continue
        raw: dict[str, Any] = json.loads(line)
        cases.append(Case(
            id=raw["id"], source=raw["source"], provider=raw.get("provider") or "other", client=raw.get("client"),
            status=raw.get("status"), headers=dict(raw.get("headers") or {}), body=raw.get("body") or "",
            exception=raw.get("exception"), cause=raw["cause"], accept=tuple(raw.get("accept") or (raw["cause"],)),
            reason=raw.get("reason") or "", shape=tuple(raw.get("shape") or ()), note=raw.get("note") or "",
        ))
    return cases


def load_raw(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def problems(raw_cases: Iterable[dict[str, Any]], taxonomy: set[str]) -> list[str]:
    """Everything that makes a corpus file invalid (empty when it is valid)."""
    out: list[str] = []
    ids: Counter[str] = Counter()
    for c in raw_cases:
        cid = str(c.get("id"))
        ids[cid] += 1
        missing = [f for f in FIELDS if f not in c and f != "note"]
        if missing:
            out.append(f"{cid}: missing fields {missing}")
            continue
        if c["cause"] not in taxonomy:
            out.append(f"{cid}: cause {c['cause']!r} is not a taxonomy id")
        if not isinstance(c["accept"], list) or c["cause"] not in c["accept"] or set(c["accept"]) - taxonomy:
            out.append(f"{cid}: accept {c['accept']!r} must list taxonomy ids including the cause")
        if not URL.match(str(c["source"])):
            out.append(f"{cid}: source {c['source']!r} is not a URL")
        if c["status"] is not None and not (isinstance(c["status"], int) and 100 <= c["status"] <= 599):
            out.append(f"{cid}: status {c['status']!r}")
        if not isinstance(c["headers"], dict) or not isinstance(c["body"], str):
            out.append(f"{cid}: headers must be an object and body a string")
        if not (c["body"] or c["exception"] or c["status"] is not None):
            out.append(f"{cid}: nothing to classify")
        if set(c["shape"]) - SHAPES:
            out.append(f"{cid}: unknown shape tags {sorted(set(c['shape']) - SHAPES)}")
        for m in REAL_KEY.finditer(json.dumps(c, ensure_ascii=False)):
            if not SAFE_KEY.search(m.group(0)):
                out.append(f"{cid}: real-looking key {m.group(0)[:6]}…")
    out += [f"{cid}: id used {n} times" for cid, n in ids.items() if n > 1]
    return out


def predict(case: Case) -> str:
    return classify(case.status, case.headers, case.body, case.exception).cause


@dataclass
class Score:
    """Accuracy of one predictor on a set of cases: overall, per cause, per kind, and the confusion of the misses."""

    total: int = 0
    right: int = 0
    per_cause: dict[str, list[int]] = field(default_factory=dict)  # cause -> [cases, right]
    per_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [cases, right]
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)  # (actual, predicted) over misses
    misses: list[tuple[Case, str]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 0.0

    def kind_accuracy(self, kind: str) -> float:
        n, r = self.per_kind.get(kind, [0, 0])
        return r / n if n else 0.0


def score(cases: Iterable[Case], predictor: Callable[[Case], str] = predict) -> Score:
    s = Score()
    for case in cases:
        got = predictor(case)
        ok = got in case.accept
        s.total += 1
        s.right += ok
        for table, key in ((s.per_cause, case.cause), (s.per_kind, case.kind)):
            row = table.setdefault(key, [0, 0])
            row[0] += 1
            row[1] += ok
        if not ok:
            s.confusion[(case.cause, got)] += 1
            s.misses.append((case, got))
    return s


def baseline(case: Case) -> str:
    return status_only(case.status)
