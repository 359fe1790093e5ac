"""Step 5's one reader of the retry headers: the first retry waits for Retry-After, a 'try again in' hint and the reset
of every exhausted bucket, whichever is longest; the rate-limit step and the notebooks' plot propose the same plan."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from why403_kit import Lab, Secret, Target, diagnose
from why403_kit.lab._scenarios import AZURE_SCENARIOS, SCENARIOS
from why403_kit.probes.ratelimits import (
    MAX_WAIT,
    backoff_plan,
    bounded,
    headroom,
    rate_limit_checks,
    retry_after,
    retry_plan,
    retry_wait,
)

from .conftest import CANARY

PLOTS = Path(__file__).resolve().parent.parent / "why403_kit" / "ui" / "plots.py"
LAB_429 = SCENARIOS["rate_limited"][1]  # Retry-After 2, both buckets empty, tokens reset in 6m0s
TPM_MESSAGE = "Rate limit reached for gpt-4o-mini on tokens per min (TPM): Limit 30000, Used 30000, Requested 20."


def test_an_exhausted_bucket_outranks_a_short_retry_after() -> None:
    assert retry_after(LAB_429) == 2.0
    wait = retry_wait(LAB_429)
    assert wait is not None and wait.seconds == 360 and "x-ratelimit-reset-tokens 6m0s" in wait.reason
    plan = retry_plan(LAB_429)
    assert plan[0] >= 360 and plan == backoff_plan(360)


@pytest.mark.parametrize(("headers", "body", "seconds", "reason"), [
    ({"retry-after-ms": "1500", "retry-after": "9"}, "", 1.5, "retry-after-ms 1500"),  # Azure's, read first (as openai-python)
    ({"Retry-After": "7"}, "", 7.0, "Retry-After 7"),
    ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT", "date": "Wed, 21 Oct 2015 07:27:30 GMT"}, "", 30.0, "Retry-After Wed"),
    ({"retry-after": "soon"}, "", None, ""),
    ({"x-ratelimit-remaining-requests": "0", "x-ratelimit-limit-requests": "500", "x-ratelimit-reset-requests": "20ms",
      "x-ratelimit-remaining-tokens": "100", "x-ratelimit-reset-tokens": "6m0s"}, "", 0.02, "requests exhausted"),  # tokens still left
    ({"x-ratelimit-reset-tokens": "1m30s", "x-ratelimit-reset-requests": "1s"}, TPM_MESSAGE, 90.0, "tokens exhausted"),  # the message names it
    ({}, "Please try again in 6m0s.", 360.0, "try again in 6m0s"),
    ({}, "Please retry after 86400 seconds.", 86400.0, "retry after 86400 seconds"),  # Azure's daily quota in words
    # Azure's "-1" means "not said", not "exhausted": only Retry-After counts.
    ({"x-ratelimit-limit-tokens": "-1", "x-ratelimit-remaining-tokens": "-1", "x-ratelimit-reset-tokens": "5m", "retry-after": "3"}, "", 3.0,
     "Retry-After 3"),
    ({"x-rate-limit-remaining-tokens": "0", "x-rate-limit-reset-tokens": "45s"}, "", 45.0, "tokens exhausted"),  # Azure's dash spelling
])
def test_retry_wait_reads_every_hint(headers: dict[str, str], body: str, seconds: float | None, reason: str) -> None:
    wait = retry_wait(headers, body)
    if seconds is None:
        assert wait is None
    else:
        assert wait is not None and wait.seconds == pytest.approx(seconds) and reason in wait.reason


def test_headroom_reads_azure_spelling_too() -> None:
    assert headroom({"x-rate-limit-limit-tokens": "100", "x-rate-limit-remaining-tokens": "0"})["tokens"]["remaining"] == 0


@pytest.mark.parametrize("azure", [False, True])
def test_the_rate_limit_step_never_proposes_retrying_before_the_reset(lab: Lab, azure: bool) -> None:
    target = (Target(base_url=lab.azure_url("rate_limited"), api_key=Secret(CANARY), provider="azure", deployment="gpt4o",
                     api_version="2024-10-21") if azure else lab.target("rate_limited", api_key=Secret(CANARY)))
    report = diagnose(target)
    kind = next(f for f in report.findings if f.check == "429 kind")
    plan = [float(x) for x in re.search(r"backoff plan ([\d., ]+) s", kind.evidence).group(1).split(",")]  # type: ignore[union-attr]
    # OpenAI's lab answer: Retry-After 2 but tokens reset in 6m0s; Azure's: retry-after-ms 2000 and no reset header.
    assert ("x-ratelimit-reset-tokens" in AZURE_SCENARIOS["rate_limited"][1]) is False
    expected = 2.0 if azure else 360.0
    assert plan[0] == pytest.approx(expected, abs=0.5) and f"wait {expected:g} s" in kind.evidence


def test_the_plot_shows_the_plan_the_step_proposes() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from why403_kit.ui.plots import backoff_figure

    fig = backoff_figure(LAB_429)
    ax = fig.axes[0]
    kit_line = ax.get_lines()[0]
    plan = retry_plan(LAB_429)
    assert list(kit_line.get_ydata()) == pytest.approx([sum(plan[: i + 1]) for i in range(len(plan))])  # cumulative waits
    assert any("360 s" in t.get_text() and "reset-tokens" in t.get_text() for t in ax.get_legend().get_texts())
    # One parser: the plot reads no header itself (it calls retry_wait), so it cannot disagree with the step.
    literals = [n.value for n in ast.walk(ast.parse(PLOTS.read_text())) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert not [s for s in literals if re.search(r"(?i)retry-after|x-rate-?limit", s) and " " not in s]


# ---- hostile values: capped, parsed, never an infinite, negative or NaN wait ---------------------------------------------
@pytest.mark.parametrize(("value", "seconds", "capped"), [
    ("1000000000000", MAX_WAIT, True), ("inf", MAX_WAIT, True), ("1e999", MAX_WAIT, True), ("9" * 400, MAX_WAIT, True),
    ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_WAIT, True),
    ("nan", None, False), ("-5", None, False), ("-inf", None, False), ("", None, False),
    ("Sun, 06 Nov 1994 08:49:37 GMT", 37.0, False), ("Sunday, 06-Nov-94 08:49:37 GMT", 37.0, False),  # RFC 9110: IMF-fixdate, RFC 850
    ("Sun Nov  6 08:49:37 1994", 37.0, False),  # asctime: no zone written, UTC by definition
    ("Sun, 06 Nov 1994 08:40:00 GMT", 0.0, False),  # a date in the past: retry now
])
def test_retry_after_is_capped_and_http_dates_are_read(value: str, seconds: float | None, capped: bool) -> None:
    headers = {"retry-after": value, "date": "Sun, 06 Nov 1994 08:49:00 GMT"}
    wait = retry_wait(headers)
    if seconds is None:
        assert wait is None and retry_plan(headers) == backoff_plan(None)
        return
    assert wait is not None and wait.seconds == pytest.approx(seconds) and ("capped" in wait.reason) is capped
    plan = retry_plan(headers)
    assert all(0 <= d <= MAX_WAIT for d in plan) and plan[0] >= wait.seconds


@pytest.mark.parametrize(("value", "seconds"), [("1e15", MAX_WAIT), ("inf", MAX_WAIT), ("nan", None), ("-1500", None), ("1500", 1.5)])
def test_retry_after_ms_is_capped_too(value: str, seconds: float | None) -> None:
    wait = retry_wait({"retry-after-ms": value})
    assert (wait.seconds if wait else None) == seconds
    assert backoff_plan(float(value))[0] <= MAX_WAIT


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_a_limit_that_is_not_a_number_is_never_a_percentage(value: str) -> None:
    from why403_kit.model import Exchange

    ex = Exchange("GET", "https://api.example/v1/models", 200, {"x-ratelimit-limit-requests": value, "x-ratelimit-remaining-requests": "3",
                                                                "x-ratelimit-limit-tokens": "1000", "x-ratelimit-remaining-tokens": value})
    findings = rate_limit_checks([ex])
    assert not any("nan" in f.evidence.lower() or "inf" in f.evidence.lower() for f in findings), findings
    assert headroom(ex.headers)["requests"]["limit"] is None and headroom(ex.headers)["tokens"]["remaining"] is None
    assert bounded(float(value)) in (None, MAX_WAIT)
