"""Every lab scenario diagnosed to its cause over loopback, through the library and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from why403_kit import Lab, Secret, Target, diagnose
from why403_kit.diagnose import backoff_plan, parse_duration
from why403_kit.lab import SCENARIOS

from .conftest import CANARY

SCENARIO_NAMES = list(SCENARIOS)


def _expected(name: str) -> str:
    return "ok" if name == "healthy" else name


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_library_diagnoses_each_scenario(lab: Lab, scenario: str) -> None:
    report = diagnose(Target(base_url=lab.url(scenario), api_key=Secret(CANARY), ip_echo_url=lab.ip_echo_url, timeout=5))
    assert report.verdict.cause == _expected(scenario)
    assert {f.step for f in report.findings} == {"credentials", "network", "permissions", "headers", "ratelimits", "support"}
    frame = report.to_frame()
    assert list(frame.columns) == ["step", "check", "status", "cause", "evidence", "fix", "request_id", "elapsed_ms"]
    assert CANARY not in json.dumps(report.to_dict()) and CANARY not in repr(report)


@pytest.mark.parametrize("scenario", ["healthy", "edge_block", "quota_exceeded", "rate_limited", "network_error"])
def test_cli_json(lab: Lab, scenario: str) -> None:
    env = {**os.environ, "MY_KEY": CANARY}
    env.pop("OPENAI_API_KEY", None)
    proc = subprocess.run(
        [sys.executable, "-m", "why403_kit", "diagnose", "--base-url", lab.url(scenario), "--api-key-env", "MY_KEY",
         "--ip-echo-url", lab.ip_echo_url, "--allowlist", "127.0.0.0/8", "--format", "json", "--timeout", "5"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert CANARY not in proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data["verdict"]["cause"] == _expected(scenario)
    assert set(data["findings"][0]) == {"step", "check", "status", "cause", "evidence", "fix", "request_id", "elapsed_ms"}
    assert proc.returncode == (0 if scenario == "healthy" else 1)


def test_allowlist_outside_fails(lab: Lab) -> None:
    report = diagnose(Target(base_url=lab.url("healthy"), api_key=Secret(CANARY), ip_echo_url=lab.ip_echo_url, allowlist=["203.0.113.0/24"]))
    assert report.verdict.cause == "ip_not_allowed"


def test_no_token_spent_without_opt_in(lab: Lab) -> None:
    before = len(lab.requests)
    diagnose(Target(base_url=lab.url("healthy"), api_key=Secret(CANARY), ip_echo_url=lab.ip_echo_url))
    made = lab.requests[before:]
    assert not [p for m, p in made if m == "POST"], made
    diagnose(Target(base_url=lab.url("healthy"), api_key=Secret(CANARY), allow_paid_probe=True))
    assert any(p.endswith("/chat/completions") for m, p in lab.requests[before:])


def test_rate_limit_math() -> None:
    assert parse_duration("6m0s") == 360 and parse_duration("20ms") == pytest.approx(0.02) and parse_duration("1.5s") == 1.5
    assert parse_duration("soon") is None
    plan = backoff_plan(7.0)
    assert plan[0] >= 7.0 and all(d <= 30 for d in plan[1:])
