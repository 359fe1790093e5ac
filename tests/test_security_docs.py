"""README's promises match SECURITY.md, and both match the code: the limits are read from the constants that enforce
them, so changing one without the pages fails here. SECURITY.md holds no unfinished part."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from why403_kit.cli import CLASSIFY_STDIN_LIMIT
from why403_kit.lab._server import IDLE_TIMEOUT, LISTEN_BACKLOG
from why403_kit.model import DEFAULT_TIMEOUT, MAX_DEADLINE, MAX_TIMEOUT, RUN_DEADLINE_FACTOR
from why403_kit.probes._http import MAX_BODY, MAX_WIRE
from why403_kit.probes.ratelimits import MAX_WAIT

ROOT = Path(__file__).resolve().parent.parent
SECURITY = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")

# What both pages promise, each sentence built from the constant that makes it true.
PROMISES = [
    f"each request: `--timeout`, default {DEFAULT_TIMEOUT:g} s (at most {MAX_TIMEOUT:g} s), headers and body together",
    f"the whole run: `--deadline`, default {RUN_DEADLINE_FACTOR} times `--timeout` ({RUN_DEADLINE_FACTOR * DEFAULT_TIMEOUT:g} s; at most {MAX_DEADLINE:g} s)",
    f"an answer's body: at most {MAX_BODY >> 20} MiB, counted after decompression",
    f"a wait the kit reads or proposes (`Retry-After`, resets, hints): at most {MAX_WAIT / 3600:g} h",
    f"`why403 classify` stdin: at most {CLASSIFY_STDIN_LIMIT >> 20} MiB",
    f"after {IDLE_TIMEOUT:g} s of silence",
]


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize("promise", PROMISES)
def test_both_pages_state_the_limit_the_code_enforces(promise: str) -> None:
    assert promise in _flat(SECURITY), f"SECURITY.md does not say: {promise}"
    assert promise in _flat(README), f"README.md does not say: {promise}"


def test_security_states_the_rest_of_the_limits() -> None:
    flat = _flat(SECURITY)
    assert f"at most {MAX_WIRE >> 20} MiB off the wire" in flat
    assert f"{LISTEN_BACKLOG} waiting connections" in flat
    assert f"{MAX_WAIT / 3600:g} h" in flat and "RFC 9110" in flat


def test_security_has_nothing_left_to_do() -> None:
    assert "TODO" not in SECURITY and "______" not in SECURITY


def test_the_tests_security_names_exist() -> None:
    named = set(re.findall(r"`(test_[a-z0-9_]+)`", SECURITY))
    defined = {m for p in (ROOT / "tests").glob("test_*.py") for m in re.findall(r"^def (test_[a-z0-9_]+)", p.read_text(encoding="utf-8"), re.M)}
    assert named and named <= defined, named - defined
