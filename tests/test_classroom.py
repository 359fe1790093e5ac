"""A class on the lab: opaque mystery URLs that all look alike (the TLS one included), the seeded deal, the hint
ladder, the score, the trainer's answer key, and `why403 lab` serving both of its listeners."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

import why403_kit.lab
from why403_kit import Lab, diagnose, knowledge
from why403_kit.cli import main
from why403_kit.errors import InputError
from why403_kit.lab import HINT_LADDER, LAB_CA, SCENARIOS, Classroom, deal, mystery_pool
from why403_kit.lab._scenarios import AZURE_SCENARIOS
from why403_kit.model import CA_BUNDLE_ENV

CAUSES = tuple(knowledge.load().causes)
# Every mystery's URL, whatever it plays: https, loopback, a port of its own, a random token.
MYSTERY_URL = re.compile(r"https://127\.0\.0\.1:(\d+)/t/[A-Za-z0-9_-]{16}/v1")


def named_causes(text: str) -> set[str]:
    """Cause ids that appear in ``text`` as whole words (``ok`` inside 'token' is not one)."""
    return {c for c in CAUSES if re.search(rf"(?<![A-Za-z0-9_]){re.escape(c)}(?![A-Za-z0-9_])", text)}


def provider_says(scenario: str) -> set[str]:
    """Cause ids the scenario's own answer carries, as the real provider's would (e.g. the code invalid_api_key)."""
    answers = [SCENARIOS[scenario], AZURE_SCENARIOS.get(scenario, (0, {}, ""))]
    return named_causes(" ".join(json.dumps(headers) + body for _, headers, body in answers))


def test_opaque_urls_play_their_scenario_and_name_nothing(lab: Lab) -> None:
    for scenario in SCENARIOS:
        url = lab.url(scenario, opaque=True)
        assert MYSTERY_URL.fullmatch(url), url
        assert named_causes(url) == set()
        assert lab.url(scenario, opaque=True) != url  # a fresh token each time: two mysteries never share a URL
        report = diagnose(lab.target(scenario, opaque=True))
        assert report.verdict.cause == scenario
        seen = " ".join(f"{e.url} {json.dumps(e.headers)} {e.body_head} {e.error or ''} {e.request_id} {e.cf_ray}" for e in report.exchanges)
        assert named_causes(seen) <= provider_says(scenario), scenario


def test_the_tls_mystery_looks_like_every_other(lab: Lab) -> None:
    # Before diagnosing, a trainee sees a URL and a target: the same scheme, host and shape for every mystery, each on a
    # fresh port of its own (never the plain lab's), and the same CA bundle, key and settings.
    ports = []
    for scenario in SCENARIOS:
        url = lab.url(scenario, opaque=True)
        match = MYSTERY_URL.fullmatch(url)
        assert match, (scenario, url)
        ports.append(int(match.group(1)))
    assert len(set(ports)) == len(ports)
    assert not {urlsplit(lab.origin).port, urlsplit(lab.tls_origin).port} & set(ports)
    targets = [lab.target(scenario, opaque=True) for scenario in SCENARIOS]
    assert all(t.ca_bundle == LAB_CA for t in targets)
    settings = {json.dumps({k: v for k, v in t.to_dict().items() if k != "base_url"}, sort_keys=True) for t in targets}
    assert len(settings) == 1, settings


def _verifies_with_the_lab_ca(url: str) -> bool:
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    context = ssl.create_default_context(cafile=LAB_CA)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=5) as raw, context.wrap_socket(raw, server_hostname=parts.hostname):
            return True
    except ssl.SSLCertVerificationError:
        return False


def test_only_verifying_the_certificate_tells_the_tls_mystery(lab: Lab) -> None:
    refused = [s for s in SCENARIOS if not _verifies_with_the_lab_ca(lab.url(s, opaque=True))]
    assert refused == ["tls_interception"]


def test_a_trainee_diagnoses_mysteries_from_a_terminal_with_the_lab_ca(lab: Lab) -> None:
    """What the board tells a trainee to run: `why403 diagnose --base-url URL --ca-bundle LAB_CA`, any key."""
    env = {k: v for k, v in os.environ.items() if k not in CA_BUNDLE_ENV} | {"OPENAI_API_KEY": "sk-proj-anything-works-here-0000"}
    for scenario in ("tls_interception", "ok", "edge_block"):
        cmd = [sys.executable, "-m", "why403_kit", "diagnose", "--base-url", lab.url(scenario, opaque=True), "--ca-bundle", LAB_CA,
               "--format", "json"]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
        assert json.loads(run.stdout)["verdict"]["cause"] == scenario, run.stderr[-2000:]


def test_a_mystery_listener_answers_only_its_own_token(lab: Lab) -> None:
    mine, other = lab.url("ok", opaque=True), lab.url("ok", opaque=True)
    origin, token = mine.split("/t/")[0], other.split("/t/")[1].split("/")[0]
    auth = {"Authorization": "Bearer sk-proj-x"}
    assert httpx.get(f"{mine}/models", headers=auth, verify=ssl.create_default_context(cafile=LAB_CA), timeout=5).status_code == 200
    for path in (f"/t/{token}/v1/models", "/s/ok/v1/models", "/s/tls_interception/v1/models", "/v1/models", "/ip"):
        r = httpx.get(f"{origin}{path}", headers=auth, verify=ssl.create_default_context(cafile=LAB_CA), timeout=5)
        assert r.status_code == 404 and "Invalid URL" in r.text, path


def test_past_the_limit_the_oldest_mystery_port_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(why403_kit.lab, "MAX_MYSTERY_LISTENERS", 2)
    verify = ssl.create_default_context(cafile=LAB_CA)
    with Lab() as small:
        first, second, third = (small.url("ok", opaque=True) for _ in range(3))
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{first}/models", verify=verify, timeout=5)
        for url in (second, third):
            assert httpx.get(f"{url}/models", headers={"Authorization": "Bearer sk-proj-x"}, verify=verify, timeout=5).status_code == 200
    for url in (second, third):  # stopping the lab closes every mystery's port
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/models", verify=verify, timeout=5)


def test_an_unknown_token_is_refused_like_an_unknown_url(lab: Lab) -> None:
    r = httpx.get(f"{lab.origin}/t/not-a-token/v1/models", headers={"Authorization": "Bearer sk-proj-x"}, timeout=5)
    assert r.status_code == 404 and "Invalid URL" in r.text
    assert named_causes(r.text) == set() and "scenario" not in r.text


def test_the_seed_deals_the_same_mysteries_in_the_same_order(lab: Lab) -> None:
    pool = mystery_pool()
    assert set(pool) == set(SCENARIOS)  # every scenario the lab plays (a new one joins the deal by itself)
    first = deal(7, len(pool))
    assert sorted(first) == sorted(pool)  # no repeat before every mystery was dealt once
    assert deal(7, 3 * len(pool)) == deal(7, 3 * len(pool)) and deal(7, len(pool)) != deal(8, len(pool))
    a, b = Classroom(lab, seed=7), Classroom(lab, seed=7)
    dealt = [(a.new_mystery(run=False).scenario, b.new_mystery(run=False).scenario) for _ in range(5)]
    assert [x for x, _ in dealt] == [y for _, y in dealt] == first[:5]
    assert a.mysteries[0].target.base_url != b.mysteries[0].target.base_url  # same mystery, each trainee's own URL


def test_hints_climb_the_ladder_and_cost_points(lab: Lab) -> None:
    room = Classroom(lab, seed=3)
    m = room.new_mystery()
    assert m.scenario not in repr(m) and m.target.base_url not in repr(m)  # printing a mystery spoils nothing
    ladder = m.hints()
    assert len(ladder) == len(HINT_LADDER) == 4
    assert named_causes(" ".join(ladder[:3])) <= provider_says(m.scenario)  # the first three rungs point, the last names
    assert m.scenario in ladder[3]
    assert room.hint() == ladder[0] and m.hints_shown == 1
    assert room.check(m.scenario) is True and m.points == 3
    assert room.hint() == ladder[0] and m.hints_shown == 1  # after the answer, hints are free
    assert room.check("edge_block" if m.scenario != "edge_block" else "ok") is True  # one answer per mystery

    wrong = room.new_mystery()
    assert room.check(next(c for c in CAUSES if c != wrong.scenario)) is False and wrong.points == 0
    given_up = room.new_mystery()
    for _ in HINT_LADDER:
        room.hint()
    assert room.hint() == given_up.hints()[3] and given_up.hints_shown == 4
    assert room.check(given_up.scenario) is True and given_up.points == 0  # the last rung is the answer itself
    room.new_mystery()
    room.new_mystery()  # the fourth was left without an answer
    score = room.score()
    assert (score.points, score.possible, score.solved, score.answered, score.skipped, score.hints) == (3, 16, 2, 3, 1, 5)
    assert score.text() == "3 of 16 points · 2 of 3 solved · 5 hints used · 1 skipped"
    with pytest.raises(InputError, match="not a cause id"):
        room.check("no_such_cause")


def test_the_hint_reads_a_page_title_as_the_classifier_does() -> None:
    from why403_kit import Exchange
    from why403_kit.classify import page_title
    from why403_kit.lab._classroom import _code_or_title

    body = "<html><head><title>\n  Access <b>Denied</b>\n</title></head><body>blocked</body></html>"
    assert page_title(body) == "Access Denied"
    assert _code_or_title(Exchange("GET", "https://gw.example/v1/models", 403, {"content-type": "text/html"}, body)) == "page title 'Access Denied'"


@pytest.mark.parametrize("suffix", [".csv", ".json", ".md"])
def test_answer_key_from_the_cli_matches_the_deal(tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / f"key{suffix}"
    assert main(["lab", "--answer-key", str(path), "--seed", "7", "--count", "6"]) == 0
    assert "for the trainer only" in capsys.readouterr().out
    expected = deal(7, 6)
    text = path.read_text(encoding="utf-8")
    if suffix == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        assert [r["cause"] for r in rows] == expected and [r["mystery"] for r in rows] == [str(n) for n in range(1, 7)]
        assert all(r["hint 4 (the cause)"].startswith(f"The cause is {r['cause']}") for r in rows)
        assert all(r["hint 1 (HTTP status)"] for r in rows)
    elif suffix == ".json":
        data = json.loads(text)
        assert data["seed"] == 7 and [m["cause"] for m in data["mysteries"]] == expected
    else:
        assert [m.group(1) for m in re.finditer(r"^\| \d+ \| `(\w+)` \|", text, re.M)] == expected
    assert "127.0.0.1" not in text and "/t/" not in text  # the key holds no URL of any lab


def test_answer_key_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "--answer-key", str(tmp_path / "k.md"), "--count", "0"]) == 2
    assert "--count" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["lab", "--answer-key", str(tmp_path / "file" / "k.md")]) == 2


@pytest.fixture()
def cli_lab() -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """`why403 lab --scenario tls_interception` as a user starts it; yields the process and its banner lines."""
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    proc = subprocess.Popen([sys.executable, "-m", "why403_kit", "lab", "--scenario", "tls_interception"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(7)]  # the banner is printed (flushed) before serving
        yield proc, lines
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        if proc.stdout is not None:
            proc.stdout.close()


def test_cli_lab_serves_the_tls_url_it_prints(cli_lab: tuple[subprocess.Popen[str], list[str]]) -> None:
    proc, lines = cli_lab
    banner = "".join(lines)
    url = re.search(r"at (https://127\.0\.0\.1:\d+/v1)", banner)
    assert url, banner
    assert "any key works" in banner
    # the handshake is answered (with a certificate no client trusts), and past it an API answers
    r = httpx.get(f"{url.group(1)}/models", headers={"Authorization": "Bearer sk-proj-anything"}, verify=False, timeout=5)
    assert r.status_code == 200 and r.json()["object"] == "list"
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{url.group(1)}/models", timeout=5)
    from why403_kit import Secret, Target

    report = diagnose(Target(base_url=url.group(1), api_key=Secret("sk-proj-" + "z" * 40), timeout=5))
    assert report.verdict.cause == "tls_interception"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0  # Ctrl-C stops it cleanly
