"""What every view says about a report, written once: how a set of checks went, which check decided the verdict,
the ids to quote to support, and each fix once.

The terminal table, the Markdown, the HTML tables, the panel and the progress lines all say these things; they
differ only in markup, so the words (and the choices behind them: which fix comes first, what counts as the worst
status) live here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .. import knowledge
from ..model import Finding, Report, Verdict

PROBLEMS = ("fail", "error", "warn")  # the statuses whose fix a reader needs
_SEVERITY = ("error", "fail", "warn", "pass", "skip")  # worst first
_WORDS = (("error", "check could not run", "checks could not run"), ("fail", "check failed", "checks failed"),
          ("warn", "warning", "warnings"), ("pass", "passed", "passed"), ("skip", "skipped", "skipped"))


def worst_status(findings: Iterable[Finding]) -> str:
    """The worst status among ``findings`` (error, fail, warn, pass, skip in that order), '' when there are none."""
    found = {f.status for f in findings}
    return next((s for s in _SEVERITY if s in found), "")


def status_words(findings: Iterable[Finding]) -> str:
    """What a set of checks found, in plain words: '2 checks failed, 1 warning, 3 passed' ('all 3 checks passed')."""
    items = list(findings)
    counts = {status: sum(f.status == status for f in items) for status, _, _ in _WORDS}
    if not items:
        return "no checks ran"
    if counts["pass"] == len(items):
        return f"all {len(items)} checks passed" if len(items) > 1 else "the check passed"
    return ", ".join(f"{n} {one if n == 1 else many}" for status, one, many in _WORDS if (n := counts[status]))


def deciding_finding(report: Report) -> Finding | None:
    """The finding the verdict names (same step and check), if any."""
    v = report.verdict
    return next((f for f in report.findings if v.step and f.step == v.step and f.check == v.check), None)


def decided_by(verdict: Verdict) -> str:
    """Which check decided the verdict, in words: '1. Credentials: live GET /models; HTTP 403; answered by …'
    ('' when no check did)."""
    if not verdict.step:
        return ""
    kb = knowledge.load()
    facts = [f"{kb.step_title(verdict.step)}: {verdict.check}"]
    if verdict.http_status is not None:
        facts.append(f"HTTP {verdict.http_status}")
    if verdict.responder in kb.responders:
        facts.append(f"answered by {kb.responder(verdict.responder).label}")
    return "; ".join(facts)


def quote_ids(finding: Finding | None, quote: Callable[[str], str] = str) -> str:
    """The request id and cf-ray of an answer, the way support asks for them ('' when it had none); ``quote`` marks
    up each id (Markdown puts it in backticks)."""
    if finding is None:
        return ""
    ids = [f"request id {quote(finding.request_id)}"] if finding.request_id else []
    ids += [f"cf-ray {quote(finding.cf_ray)}"] if finding.cf_ray else []
    return ", ".join(ids)


@dataclass(frozen=True)
class Fix:
    """One fix to show, the cause (or, for a finding with no cause, the check) it answers, and how many checks need it."""

    cause: str
    fix: str
    checks: int = 0


def fixes(findings: Iterable[Finding], verdict: Verdict | None = None) -> list[Fix]:
    """Each fix once: the verdict's first (when given), then those of the checks that failed or warned, in order.

    A table row then needs no fix of its own. A finding without a fix of its own gets its cause's from the knowledge
    base; two causes with the same fix show it once.
    """
    kb = knowledge.load()
    problems = [f for f in findings if f.status in PROBLEMS]
    order: list[tuple[str, str]] = [(verdict.cause, verdict.fix)] if verdict is not None and verdict.fix else []
    for f in problems:
        fix = f.fix or (kb.causes[f.cause].fix if f.cause in kb.causes and f.cause not in ("ok", "unknown") else "")
        if fix:
            order.append((f.cause or f.check, fix))
    out: list[Fix] = []
    for key, fix in order:
        if all(key != x.cause and fix != x.fix for x in out):
            out.append(Fix(key, fix, sum((f.cause or f.check) == key for f in problems)))
    return out


__all__ = ["PROBLEMS", "Fix", "decided_by", "deciding_finding", "fixes", "quote_ids", "status_words", "worst_status"]
