"""The package and the benchmarks stay typed (mypy --strict, per pyproject), and they and the tests linted (ruff, per
pyproject): `make test` fails otherwise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "pyproject.toml")


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    # the tools of the interpreter running the tests (the venv's), never whatever is first on PATH
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


def _errors(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    return f"exit {proc.returncode}; {len(lines)} line(s):\n" + "\n".join(lines)


def test_mypy_strict_on_the_package_and_benchmarks() -> None:
    proc = _run("mypy", "--config-file", CONFIG, "--no-color-output", "--show-error-codes", "why403_kit", "benchmarks")
    assert proc.returncode == 0, "mypy found errors:\n" + _errors(proc)


def test_ruff_on_package_tests_and_benchmarks() -> None:
    proc = _run("ruff", "check", "--config", CONFIG, "--output-format", "concise", "--no-cache", "why403_kit", "tests", "benchmarks")
    assert proc.returncode == 0, "ruff found errors:\n" + _errors(proc)


def test_the_checks_can_fail(tmp_path: Path) -> None:
    # Guard against a config that silently checks nothing: both tools must reject obviously bad code.
    bad = tmp_path / "bad_module.py"
    bad.write_text("import os\n\n\ndef f(x):\n    return x + 1\n\n\ny: int = f('a')\n")
    mypy = _run("mypy", "--config-file", CONFIG, "--no-color-output", "--no-incremental", str(bad), cwd=tmp_path)
    assert mypy.returncode == 1 and "no-untyped-def" in mypy.stdout, _errors(mypy)
    ruff = _run("ruff", "check", "--config", CONFIG, "--output-format", "concise", "--no-cache", str(bad), cwd=tmp_path)
    assert ruff.returncode == 1 and "F401" in ruff.stdout, _errors(ruff)
