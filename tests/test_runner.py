"""The one runner: dependencies run visibly, a session keeps what ran between calls, a broken step is contained."""

from __future__ import annotations

import dataclasses

import pytest

from why403_kit import Hooks, Secret, Session, StepError, Target, diagnose, runner
from why403_kit.model import Finding

from .conftest import CANARY
from .fake_provider import BASE_URL, IP_ECHO_URL, FakeProvider


def _target() -> Target:
    return Target(base_url=BASE_URL, api_key=Secret(CANARY), ip_echo_url=IP_ECHO_URL, timeout=5)


def test_rate_limits_alone_runs_credentials_first_and_says_so() -> None:
    fake = FakeProvider()
    started: list[tuple[str, str]] = []
    report = diagnose(_target(), transport=fake.transport, steps=["ratelimits"],
                      hooks=Hooks(on_step_start=lambda step, needed_by: started.append((step, needed_by))))
    assert started == [("credentials", "ratelimits"), ("ratelimits", "")]  # the dependency first, and named as one
    note = next(f for f in report.findings if f.step == "credentials")
    assert note.check == "run for ratelimits" and "reads the answers" in note.evidence
    assert {f.step for f in report.findings} == {"credentials", "ratelimits"}  # its findings are in the report, not hidden
    assert any(f.check == "requests headroom" and f.status == "pass" for f in report.findings)
    assert fake.seen == [("GET", "/v1/models")]


def test_a_step_whose_reads_are_in_the_run_pulls_nothing_in() -> None:
    fake = FakeProvider()
    started: list[str] = []
    report = diagnose(_target(), transport=fake.transport, steps=["permissions", "ratelimits"],
                      hooks=Hooks(on_step_start=lambda step, needed_by: started.append(step)))
    assert sorted(started) == ["permissions", "ratelimits"] and started[-1] == "ratelimits"  # after what it reads
    assert ("GET", "/v1/models") not in fake.seen
    assert any(f.check == "tokens headroom" for f in report.findings)


def test_a_session_keeps_what_ran_between_calls() -> None:
    """The runbook's road: one step per cell; step 5 reads what step 1 recorded two cells earlier."""
    fake = FakeProvider()
    session = Session(_target(), transport=fake.transport)
    session.run(["credentials"])
    session.run(["headers"])
    found = session.run(["ratelimits"])
    assert fake.seen == [("GET", "/v1/models")]  # nothing pulled in again
    assert found[0].check == "requests headroom" and found[0].request_id == "req_fake0001"
    report = session.report()
    assert list(dict.fromkeys(f.step for f in report.findings)) == ["credentials", "headers", "ratelimits"]
    assert len(report.exchanges) == 1
    session.run(["credentials"])  # run again: replaces, does not pile up
    assert len(session.report().exchanges) == 1 and fake.seen == [("GET", "/v1/models")] * 2


def _broken(monkeypatch: pytest.MonkeyPatch) -> None:
    async def explode(ctx: object) -> list[Finding]:
        raise RuntimeError("a probe bug")

    registry = tuple(dataclasses.replace(s, run=explode) if s.id == "headers" else s for s in runner.REGISTRY)
    monkeypatch.setattr(runner, "REGISTRY", registry)


def test_a_broken_step_is_an_error_finding_and_the_others_still_report(monkeypatch: pytest.MonkeyPatch) -> None:
    _broken(monkeypatch)
    report = diagnose(_target(), transport=FakeProvider().transport, steps=["credentials", "headers"])
    error = next(f for f in report.findings if f.step == "headers")
    assert (error.status, error.evidence) == ("error", "RuntimeError: a probe bug")
    assert any(f.check == "live GET /models" and f.status == "pass" for f in report.findings)


def test_allow_errors_false_raises_step_error_for_whoever_writes_a_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    _broken(monkeypatch)
    with pytest.raises(StepError) as err:
        diagnose(_target(), transport=FakeProvider().transport, steps=["headers"], allow_errors=False)
    assert err.value.step == "headers" and "a probe bug" in str(err.value)


def _f(step: str, status: str, cause: str = "", *, observed: bool = False, **facts: object) -> Finding:
    return Finding(step, f"{step} check", status, cause, observed=observed, **facts)  # type: ignore[arg-type]


@pytest.mark.parametrize(("findings", "cause", "step"), [
    # a refusal seen on the wire outranks a lint, even one of an earlier step
    ([_f("headers", "fail", "wrong_endpoint"), _f("permissions", "fail", "missing_scope", observed=True)], "missing_scope", "permissions"),
    # between refusals seen on the wire, steps.toml's verdict_order decides: the network explains what follows it
    ([_f("credentials", "fail", "tls_interception", observed=True), _f("network", "fail", "proxy_block", observed=True)],
     "proxy_block", "network"),
    # only lints failed: the first of them in verdict order
    ([_f("headers", "fail", "wrong_endpoint"), _f("network", "fail", "ip_not_allowed")], "ip_not_allowed", "network"),
    # nothing failed: the accepted answer decides ok
    ([_f("headers", "pass"), _f("credentials", "pass", "ok", observed=True, http_status=200, confidence=0.99)], "ok", "credentials"),
    # nothing failed and nothing was asked of the API: ok, decided by no finding
    ([_f("headers", "pass")], "ok", ""),
])
def test_which_finding_decides_the_verdict(findings: list[Finding], cause: str, step: str) -> None:
    v = runner.decide(findings)
    assert (v.cause, v.step) == (cause, step)
    decider = next((f for f in findings if f.step == step), None)
    assert v.confidence == (decider.confidence if decider else 0.5)


def test_a_replayed_finding_with_an_unknown_cause_reads_as_unknown() -> None:
    assert runner.decide([_f("credentials", "fail", "request_too_large_v9", observed=True)]).cause == "unknown"


def test_a_step_that_ignores_the_budget_is_stopped_at_the_run_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import time

    async def stuck(ctx: object) -> list[Finding]:  # waits on something that is not a request (its own socket, a lock)
        await asyncio.sleep(3600)
        return []

    registry = tuple(dataclasses.replace(s, run=stuck) if s.id == "headers" else s for s in runner.REGISTRY)
    monkeypatch.setattr(runner, "REGISTRY", registry)
    ended: list[str] = []
    started = time.monotonic()
    target = Target(base_url=BASE_URL, api_key=Secret(CANARY), timeout=1, deadline=0.5)
    report = diagnose(target, transport=FakeProvider().transport, steps=["credentials", "headers"], hooks=Hooks(on_step_end=ended.append))
    assert time.monotonic() - started < 0.5 + runner._GRACE + 1.5
    stopped = next(f for f in report.findings if f.step == "headers")
    assert (stopped.status, stopped.check) == ("error", "deadline") and "deadline of 0.5 s" in stopped.evidence
    assert any(f.check == "live GET /models" and f.status == "pass" for f in report.findings)  # the others still report
    assert sorted(ended) == ["credentials", "headers"]
