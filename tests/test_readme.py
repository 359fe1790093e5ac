"""The README's commands and Python examples still work: a newcomer copies them first.

Every `why403 …` command line in a shell block must parse with the real CLI parser (its subcommand and flags exist),
every name a Python block imports from the kit must exist, and the self-contained examples run.
"""

from __future__ import annotations

import ast
import importlib
import re
import shlex
from pathlib import Path

import pytest

from why403_kit.cli import build_parser

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def _blocks(language: str) -> list[str]:
    return [body for lang, body in _BLOCK.findall(README.read_text("utf-8")) if lang == language]


def _command_lines() -> list[list[str]]:
    """`why403 …` invocations in the README's shell blocks, as argv lists (comments, env assignments and pipes dropped)."""
    commands: list[list[str]] = []
    for block in _blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            for part in re.split(r"&&|\|", line):
                words = shlex.split(part, comments=True)
                while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
                    words = words[1:]  # OPENAI_API_KEY=... why403 ...
                if words and words[0] == "why403":
                    commands.append(words[1:])
    return commands


COMMANDS = _command_lines()


def test_the_readme_shows_many_commands() -> None:
    # guards the extraction itself: a README rewrite that broke the parsing must not make the next test vacuous
    assert len(COMMANDS) >= 20
    assert {c[0] for c in COMMANDS} >= {"diagnose", "classify", "lab", "notebooks", "export", "triage", "demo"}


def test_the_readme_shows_every_command() -> None:
    """A newcomer learns the commands from the README: each one the CLI has is shown at least once ('faq' was not)."""
    import argparse

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(commands.choices) - {c[0] for c in COMMANDS} == set()


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c)[:60] for c in COMMANDS])
def test_every_readme_command_parses(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        build_parser().parse_args(argv)
    except SystemExit as err:
        pytest.fail(f"`why403 {' '.join(argv)}` does not parse (exit {err.code}): {capsys.readouterr().err.strip()}")


def test_every_name_a_python_example_imports_from_the_kit_exists() -> None:
    checked = 0
    for block in _blocks("python"):
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("why403_kit"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name), f"README imports {alias.name} from {node.module}, which has no such name"
                    checked += 1
    assert checked >= 5


def test_every_method_an_example_calls_on_a_report_exists() -> None:
    # `report` in the examples is a diagnosis Report or a TriageReport (the Spark job); what they call must exist
    from why403_kit import Report
    from why403_kit.triage import TriageReport

    used = {node.attr for block in _blocks("python") for node in ast.walk(ast.parse(block))
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "report"}
    assert used, "no example uses a report any more: this test guards nothing"
    missing = sorted(a for a in used if not (hasattr(Report, a) or hasattr(TriageReport, a) or a in Report.__dataclass_fields__))
    assert not missing, f"README examples call report.{missing}, which neither Report nor TriageReport has"


def test_the_from_python_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    example = next(b for b in _blocks("python") if "with Lab() as lab:" in b)
    namespace: dict[str, object] = {}
    exec(compile(example, "README.md", "exec"), namespace)  # the README's own example, run as a reader would
    printed = capsys.readouterr().out
    assert printed.startswith("quota_exceeded "), printed
