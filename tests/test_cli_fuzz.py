"""The CLI's arguments, fuzzed: whatever a user (or a script gone wrong) types, `why403` exits 0, 1 or 2, never prints
a traceback, never prints the key, and says bad input in one line.

Hypothesis (fixed seed: the project's profile in conftest) picks a subcommand, a set of its flags and a hostile value
for each: huge, negative, NaN and infinite numbers, unicode, control characters, the canary in every position, and
paths to directories, devices, files and nothing. The CLI runs in this process (``tests/_inproc.py``); a few cases
run through the real entry point in a subprocess at the end. Three things are held back so an example costs
milliseconds, each said where it is done: ``lab`` serves nothing (its server stops as soon as the banner is out),
``export runbook`` executes no notebook (a kernel takes seconds; its arguments are still checked first), and base
URLs are loopback servers that answer at once (the lab and the hostile servers' fast behaviours) or broken ones.
``demo`` (no arguments) and ``triage`` (fuzzed by the triage stream) are not fuzzed here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from why403_kit import Lab
from why403_kit.errors import ExportError

from ._hostile import LAB_CA, HostileServer
from ._inproc import run_cli
from ._leaks import leaks
from .conftest import CANARY

ROOT = Path(__file__).resolve().parent.parent
NUMBERS = ["0", "-1", "-0", "1", "0.001", "1e309", "-1e309", "nan", "NaN", "inf", "-inf", "9" * 60, "70000", "65535", "3.5", "1_000",
           "0x10", "١٢", "", " ", "5 "]
WORDS = ["", " ", "\x00", "\r", "\n", "a\r\nb", "\t", "ü", "☃", "\u200b", "\ufeff", "\ud83d\ude00", "%s%n", "{}", "[", "'", '"', "\\", "..",
         "-", "--", "-x", "--help", CANARY, f"Bearer {CANARY}", f" {CANARY}\r", CANARY.upper(), CANARY[8:]]
BROKEN_URLS = ["", "not a url", "ftp://x/v1", "http://", "https://", "http://[::1/v1", "http://127.0.0.1:70000/v1", "http://127.0.0.1:0/v1",
               "http://127.0.0.1:-1/v1", "https://127.0.0.1:9/v1\r\nX: y", f"http://svc:{CANARY}@127.0.0.1:9/v1",
               f"http://127.0.0.1:9/v1?api_key={CANARY}", "http://ü.example/v1", "javascript:alert(1)", "http://10.0.0.1:9/v1"]
FAST_BEHAVIOURS = ["echo", "echo_ok", "echo_html", "captive_portal", "truncated_json", "reset_mid_body", "redirect", "gzip_bomb"]


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("fuzz")
    (base / "dir").mkdir()
    (base / "file.txt").write_text("hello")
    (base / "report.json").write_text(json.dumps({"verdict": {"cause": CANARY}, "findings": [{"status": "pass", "evidence": CANARY}]}))
    (base / "request.txt").write_text(f"curl https://api.openai.com/v1/models -H 'Authorization: Bearer {CANARY}\r'")
    return {"dir": str(base / "dir"), "new": str(base / "new" / "deeper"), "file": str(base / "file.txt"), "under a file": str(base / "file.txt" / "x"),
            "report": str(base / "report.json"), "request": str(base / "request.txt"), "nothing": str(base / "nothing" / CANARY),
            "root": "/", "null": "/dev/null", "zero": "/dev/zero", "proc": "/proc/self/status", "long": "/" + "x" * 5000}


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Lab, HostileServer]]:
    with Lab() as lab, HostileServer(bomb_size=4 << 20, huge_size=4 << 20) as hostile:
        yield lab, hostile


def _value(draw: Any, places: dict[str, str], *extra: str) -> str:
    return str(draw(st.one_of(st.sampled_from(NUMBERS + WORDS + list(extra)), st.sampled_from(sorted(places.values())),
                              st.text(max_size=12))))


@st.composite
def command_lines(draw: Any, places: dict[str, str], lab: Lab, hostile: HostileServer) -> list[str]:
    command = draw(st.sampled_from(["diagnose", "diagnose", "diagnose", "classify", "lab", "notebooks", "export", "faq", "nonsense", ""]))
    args = [command] if command else []
    if command == "diagnose":
        urls = [lab.url(s) for s in ("ok", "invalid_api_key", "edge_block", "rate_limited")] + [hostile.url(b) for b in FAST_BEHAVIOURS]
        paths = sorted(places.values())

        def either(valid: list[str], hostile_values: list[str]) -> Any:  # half the time a value that works, so runs get far
            return st.one_of(st.sampled_from(valid), st.sampled_from(hostile_values))

        flags = {
            "--base-url": either(urls, BROKEN_URLS), "--provider": either(["openai", "azure", "compatible"], ["Azure", CANARY, ""]),
            "--api-key-env": either(["OPENAI_API_KEY"], ["NO_SUCH_VARIABLE", "", "PATH", CANARY]),
            "--timeout": either(["2", "0.5"], NUMBERS), "--deadline": either(["3", "0"], NUMBERS),
            "--format": either(["table", "json", "markdown"], ["html", CANARY]), "--out": either([places["dir"], places["new"]], paths),
            "--ca-bundle": either([str(LAB_CA)], paths), "--request-file": either([places["request"]], [*paths, "-"]),
            "--ip-echo-url": either([lab.ip_echo_url], BROKEN_URLS[:6]), "--allowlist": either(["10.0.0.0/8", "127.0.0.1"], ["10.0.0.0/33", CANARY, ","]),
        }
        for name in ("--org", "--project", "--model", "--deployment", "--api-version"):
            flags[name] = either(["gpt-4o-mini", "org-AbCdEf123456", "proj_AbCdEf123456", "gpt4o", "2024-10-21"], WORDS)
        chosen = draw(st.lists(st.sampled_from(sorted(flags)), max_size=4, unique=True))
        if "--base-url" not in chosen:
            chosen.append("--base-url")  # never the real API: nothing but loopback answers here, and the default host would wait
        if "--timeout" not in chosen:
            args += ["--timeout", "2"]
        for name in chosen:
            args += [name, draw(flags[name])]
        if draw(st.booleans()):
            args.append("--allow-paid-probe")
    elif command == "lab":
        for name in draw(st.lists(st.sampled_from(["--port", "--scenario", "--latency-ms", "--list", "--answer-key", "--seed", "--count"]),
                                  max_size=3, unique=True)):
            if name == "--list":
                args.append(name)
            elif name == "--answer-key":
                args += [name, draw(st.sampled_from([places["dir"], places["under a file"], places["null"], places["root"], "/proc/self/x.md"]))]
            else:
                args += [name, _value(draw, places, "ok", "edge_block", "healthy", "0")]
    elif command == "notebooks":
        args += ["--out", _value(draw, places)] + (["--force"] if draw(st.booleans()) else [])
    elif command == "export":
        args.append(draw(st.sampled_from(["runbook", "faq", "runbook", CANARY, ""])))
        for name in draw(st.lists(st.sampled_from(["--out", "--report", "--scenario", "--notebook"]), max_size=3, unique=True)):
            args += [name, _value(draw, places, "edge_block", "ok")]
    elif command in ("nonsense", "faq") and draw(st.booleans()):
        args.append(_value(draw, places))
    return args


STDIN = st.one_of(
    st.sampled_from(["", "{", "[" * 3000, "null", "[]", "[1]", '{"status": true}', '{"status": 1e999}', '{"status": "401", "headers": []}',
                     json.dumps({"status": 401, "headers": {"authorization": f"Bearer {CANARY}", CANARY: "x"}, "body": CANARY}),
                     json.dumps([{"status": 403, "body": f"<title>{CANARY}</title>"}] * 3), "\x00\xff garbage"]),
    st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20), st.just(CANARY)),
                 lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["status", "headers", "body", "exception", CANARY]),
                                                                                     inner, max_size=4)), max_leaves=12).map(json.dumps),
)


def _check(args: list[str], code: int, out: str, err: str) -> None:
    where = f"why403 {' '.join(map(repr, args))} -> exit {code}\nstderr: {err[-1500:]}"
    assert code in (0, 1, 2), where
    assert "Traceback" not in err, where
    assert not leaks(out + "\n" + err), f"{where}\nleaks: {leaks(out + err)[:2]}"
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("why403: "), where
    if code in (0, 1) and args[:1] == ["diagnose"] and "json" in args:
        json.loads(out)


@pytest.fixture(scope="module")
def quiet(places: dict[str, str]) -> Iterator[None]:
    """What the fuzzer holds back (see the module docstring), and the canary as the key in the environment."""
    def no_kernel(*args: Any, **kwargs: Any) -> Any:
        raise ExportError("the runbook notebook is not executed under the fuzzer")

    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and k not in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")}
    here = os.getcwd()
    os.chdir(places["dir"])  # a relative --out ('..', 'ü') lands in the fuzzer's own directory, never in the checkout
    try:
        with mock.patch.dict(os.environ, {**env, "OPENAI_API_KEY": CANARY, "WHY403_LAB": "0"}, clear=True), \
                mock.patch.object(Lab, "serve_forever", Lab.stop), mock.patch("why403_kit.export.documents.execute_notebook", no_kernel):
            yield
    finally:
        os.chdir(here)


@settings(max_examples=300)
@given(data=st.data())
def test_any_command_line_exits_0_1_or_2_without_a_traceback_or_the_key(data: st.DataObject, places: dict[str, str],
                                                                        servers: tuple[Lab, HostileServer], quiet: None) -> None:
    args = data.draw(command_lines(places, *servers))
    stdin = data.draw(STDIN) if args[:1] == ["classify"] else ""
    code, out, err = run_cli(args, stdin)
    event(f"{args[0] if args else '(none)'} exit {code}")  # --hypothesis-show-statistics: what the examples reached
    _check(args, code, out, err)


@settings(max_examples=200)
@given(stdin=STDIN)
def test_any_stdin_to_classify_exits_0_1_or_2_without_a_traceback_or_the_key(stdin: str, quiet: None) -> None:
    code, out, err = run_cli(["classify"], stdin)
    _check(["classify"], code, out, err)
    if code in (0, 1):
        json.loads(out)


REAL = [
    (["diagnose", "--base-url", "ECHO", "--timeout", "nan"], ""),
    (["diagnose", "--base-url", "ECHO", "--timeout", "2", "--format", "json", "--request-file", "/dev/zero"], ""),
    (["diagnose", "--base-url", f"http://svc:{CANARY}@[::1/v1"], ""),
    (["lab", "--port", "70000"], ""),
    (["classify"], "[" * 100_000),
    (["notebooks", "--out", "/dev/null/x"], ""),
    (["export", "faq", "--out", "/proc/self/status"], ""),
    ([CANARY], ""),
]


@pytest.mark.parametrize(("args", "stdin"), REAL)
def test_the_real_entry_point_agrees(args: list[str], stdin: str, servers: tuple[Lab, HostileServer]) -> None:
    args = [a.replace("ECHO", servers[1].url("echo")) for a in args]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()} | {"OPENAI_API_KEY": CANARY}
    proc = subprocess.run([sys.executable, "-m", "why403_kit", *args], input=stdin, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    _check(args, proc.returncode, proc.stdout, proc.stderr)
