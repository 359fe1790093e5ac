"""Run the `why403` command in this process, with its own stdin, stdout and stderr: what the fuzzers and the canary
sweep call many times (a subprocess per call would cost a Python start-up each). An exception that escapes
``main`` is written to the captured stderr as the traceback a user would have seen, and the exit code is -1."""

from __future__ import annotations

import contextlib
import io
import sys
import traceback
from collections.abc import Sequence
from unittest import mock

from why403_kit.cli import main


def run_cli(args: Sequence[str], stdin: str | bytes = "") -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``why403 ARGS`` with ``stdin`` as its standard input."""
    out, err = io.StringIO(), io.StringIO()
    data = stdin.encode("utf-8", "surrogateescape") if isinstance(stdin, str) else stdin
    fake_in = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace")
    with mock.patch.object(sys, "stdin", fake_in), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except BaseException:  # noqa: BLE001 -- what escapes main is what a user sees as a traceback
            err.write(traceback.format_exc())
            code = -1
    return code, out.getvalue(), err.getvalue()
