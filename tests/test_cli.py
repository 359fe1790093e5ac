"""The `why403` command as a user runs it: exit codes, UTF-8 JSON, the terminal's width and colour, progress on a
terminal, messages that name what the user gave, the notebooks command, and a start-up free of heavy libraries."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from why403_kit import Lab, knowledge
from why403_kit.lab import SCENARIOS

from ._terminal import on_terminal
from .conftest import CANARY

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("pandas", "numpy", "nbconvert", "nbformat", "nbclient", "ipywidgets", "IPython", "ipykernel", "matplotlib", "papermill",
         "jupyter_client", "jupyter_core", "jupyterlab", "jupyter_server", "zmq", "duckdb", "rich")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR", "OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT")}
    return {**env, "TERM": "xterm-256color", **extra}


def _cli(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "why403_kit", *args], input=stdin, capture_output=True, text=True, timeout=120,
                          env=_env(**env), encoding="utf-8")


def _on_terminal(args: list[str], *, stdout_tty: bool, stderr_tty: bool, cols: int = 100, **env: str) -> tuple[int, str, str]:
    """Run the CLI with stdout and/or stderr on a pseudo-terminal of ``cols`` columns; return (code, stdout, stderr)."""
    return on_terminal(args, stdout_tty=stdout_tty, stderr_tty=stderr_tty, cols=cols, env=_env(**env))


# ---- start-up ------------------------------------------------------------------------------------------------
PROBE = """
import json, sys
import why403_kit.cli as cli
if sys.argv[1] == "--control":
    import pandas  # noqa: F401  (the probe must see a heavy import when there is one)
    sys.argv.pop(1)
code = cli.main(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(%r))
print("HEAVY=" + json.dumps(heavy), file=sys.stderr)
"""


def _loaded(args: list[str], stdin: str = "", **env: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE % (HEAVY,), *args], input=stdin, capture_output=True, text=True, timeout=120,
                          env=_env(**env), cwd=ROOT)
    line = next(x for x in proc.stderr.splitlines() if x.startswith("HEAVY="))
    return list(json.loads(line.removeprefix("HEAVY=")))


def test_help_classify_and_diagnose_load_no_heavy_library(lab: Lab) -> None:
    assert _loaded(["--help"]) == []
    assert _loaded(["classify"], stdin='{"status": 403, "body": "<title>Just a moment...</title>"}') == []
    assert _loaded(["diagnose", "--base-url", lab.url("edge_block")], OPENAI_API_KEY=CANARY) == []
    assert _loaded(["lab", "--list"]) == [] and _loaded(["faq"]) == []
    assert "pandas" in _loaded(["--control", "--help"])  # the probe can fail


# ---- classify --------------------------------------------------------------------------------------------------
OK = {"status": 200, "headers": {"content-type": "application/json"}, "body": '{"object": "list", "data": []}'}
EDGE = {"status": 403, "headers": {"server": "cloudflare"}, "body": "<html><title>Just a moment… Доступ запрещён</title></html>"}


@pytest.mark.parametrize(("stdin", "code"), [
    (json.dumps(OK), 0),
    (json.dumps([OK, OK]), 0),
    (json.dumps(EDGE), 1),
    (json.dumps([OK, EDGE]), 1),
    ("{not json", 2),
    ("[]", 2),
    ('["a string"]', 2),
])
def test_classify_follows_the_exit_codes(stdin: str, code: int) -> None:
    proc = _cli("classify", stdin=stdin)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    if code == 2:
        assert len(proc.stderr.strip().splitlines()) == 1 and proc.stdout == ""


def test_json_output_is_utf8_not_escapes() -> None:
    # Even when Python is told to write ASCII: pipes and files get UTF-8, which is what JSON is.
    proc = subprocess.run([sys.executable, "-m", "why403_kit", "classify"], input=json.dumps(EDGE, ensure_ascii=False).encode(), capture_output=True,
                          timeout=60, env=_env(PYTHONIOENCODING="ascii", LC_ALL="C"))
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout.decode("utf-8")
    assert "Just a moment… Доступ запрещён" in out and "\\u" not in out
    assert json.loads(out)["cause"] == "edge_block"


# ---- the terminal ----------------------------------------------------------------------------------------------
def test_the_table_fits_columns_a_terminal_and_a_pipe(lab: Lab) -> None:
    base = ["diagnose", "--base-url", lab.url("edge_block")]
    for cols in ("80", "200"):
        proc = _cli(*base, OPENAI_API_KEY=CANARY, COLUMNS=cols)
        widths = [len(line) for line in proc.stdout.splitlines()]
        assert proc.returncode == 1 and max(widths) <= int(cols) and ANSI.search(proc.stdout) is None
    assert max(len(line) for line in _cli(*base, OPENAI_API_KEY=CANARY, COLUMNS="200").stdout.splitlines()) > 100
    piped = _cli(*base, OPENAI_API_KEY=CANARY).stdout
    assert max(len(line) for line in piped.splitlines()) <= 100  # the default for a pipe
    code, out, _ = _on_terminal(base, stdout_tty=True, stderr_tty=False, cols=90, OPENAI_API_KEY=CANARY)
    plain = ANSI.sub("", out)
    assert code == 1 and 80 < max(len(line) for line in plain.splitlines()) <= 90  # the terminal's own width
    assert "\x1b[" in out  # colour on a terminal…
    _, out, _ = _on_terminal(base, stdout_tty=True, stderr_tty=False, cols=90, OPENAI_API_KEY=CANARY, NO_COLOR="1")
    assert "\x1b[" not in out and "VERDICT" in out  # …never with NO_COLOR
    assert CANARY not in plain + out


def test_progress_on_a_terminal_for_a_slow_target() -> None:
    with Lab(latency_ms=1500) as slow:  # every answer takes 1.5 s: longer than the progress line's 1 s of silence
        args = ["diagnose", "--base-url", slow.url("rate_limited")]
        code, out, err = _on_terminal(args, stdout_tty=False, stderr_tty=True, OPENAI_API_KEY=CANARY)
        assert code == 1 and "VERDICT" in out and "\x1b[" not in out
        done = [line for line in ANSI.sub("", err).splitlines() if line.strip()]
        for step in knowledge.load().steps:
            assert any(f"{step.title}:" in line and " check" in line for line in done), (step.title, err)
        assert "running: 1. Credentials" in ANSI.sub("", err)
        piped = _cli(*args, OPENAI_API_KEY=CANARY)
        assert piped.returncode == 1 and piped.stderr == ""  # no progress into a pipe or a log


def test_messages_name_the_variable_the_user_gave(lab: Lab) -> None:
    proc = _cli("diagnose", "--base-url", lab.url("ok"), "--api-key-env", "MY_TEAM_KEY", MY_TEAM_KEY="")
    assert proc.returncode == 1
    flat = " ".join(proc.stdout.split())
    assert "MY_TEAM_KEY is empty or unset" in flat and "Set MY_TEAM_KEY" in flat and "OPENAI_API_KEY" not in flat
    report = json.loads(_cli("diagnose", "--base-url", lab.url("ok"), "--api-key-env", "MY_TEAM_KEY", "--format", "json").stdout)
    assert report["verdict"]["cause"] == "missing_api_key" and "Set MY_TEAM_KEY" in report["verdict"]["fix"]


def test_lab_list_shows_each_scenarios_title() -> None:
    proc = _cli("lab", "--list")
    kb = knowledge.load()
    flat = " ".join(proc.stdout.split())
    assert proc.returncode == 0
    for name in SCENARIOS:
        assert f"{name} {kb.cause(name).title}" in flat


def test_demo_diagnoses_every_scenario_and_fits_80_columns() -> None:
    proc = _cli("demo", COLUMNS="80")
    assert proc.returncode == 0, proc.stdout
    assert f"{len(SCENARIOS)}/{len(SCENARIOS)} scenarios diagnosed to their cause" in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80


def test_demo_in_a_narrow_terminal_puts_each_fix_under_its_scenario() -> None:
    """At 60 columns the fix column got 22 characters (five to nine lines of a few words per scenario): each fix now
    goes under its scenario's row, across the width, every word of it in order."""
    proc = _cli("demo", COLUMNS="60")
    assert proc.returncode == 0, proc.stdout
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 60
    assert lines[1] == "    fix"  # the header says where the fix is
    under = "".join(line.strip() for line in lines[3:] if line.startswith("    "))
    fixes = [knowledge.load().cause(name).fix for name in SCENARIOS]
    assert "".join(under.split()) == "".join("".join(f.split()) for f in fixes)


def test_a_closed_pipe_is_no_traceback() -> None:
    with subprocess.Popen([sys.executable, "-m", "why403_kit", "classify"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=_env()) as proc:
        assert proc.stdin and proc.stdout and proc.stderr
        proc.stdin.write(json.dumps([EDGE] * 3000).encode())  # far more JSON than a pipe holds
        proc.stdin.close()
        proc.stdout.read(100)
        proc.stdout.close()  # the reader leaves, as `| head` does
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 141 and "Traceback" not in err and "Exception ignored" not in err


# ---- notebooks -------------------------------------------------------------------------------------------------
def test_notebooks_are_written_kept_and_forced(tmp_path: Path) -> None:
    out = tmp_path / "nbs"
    first = _cli("notebooks", "--out", str(out))
    shipped = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert first.returncode == 0 and sorted(p.name for p in out.glob("*.ipynb")) == shipped
    assert f"jupyter lab {out}" in first.stderr
    assert (out / "02_runbook.ipynb").read_bytes() == (ROOT / "notebooks" / "02_runbook.ipynb").read_bytes()
    (out / "01_diagnose.ipynb").write_text("my own work")
    again = _cli("notebooks", "--out", str(out))
    assert again.returncode == 0 and f"kept {out / '01_diagnose.ipynb'}" in again.stdout
    assert (out / "01_diagnose.ipynb").read_text() == "my own work"
    forced = _cli("notebooks", "--out", str(out), "--force")
    assert forced.returncode == 0 and json.loads((out / "01_diagnose.ipynb").read_text())["cells"]
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    bad = _cli("notebooks", "--out", str(blocker))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_every_command_says_what_it_does_and_every_option_has_help() -> None:
    """`why403 classify --help` printed only its usage line: a newcomer could not learn what stdin it reads. Each
    command's own --help now opens with what it does, and no option is left without a word on it."""
    import argparse

    from why403_kit.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in commands.choices.items():
        assert command.description, name
        bare = [a.option_strings for a in command._actions if a.option_strings and a.help in (None, "") and a.dest != "help"]
        assert not bare, (name, bare)
    shown = _cli("classify", "--help")
    assert shown.returncode == 0 and "stdin" in shown.stdout and "exit" in shown.stdout


def test_classify_with_nothing_on_stdin_says_so() -> None:
    proc = _cli("classify", stdin="")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "stdin is empty" in proc.stderr and "Expecting value" not in proc.stderr, proc.stderr
