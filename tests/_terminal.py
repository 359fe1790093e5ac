"""Run the CLI with stdout and/or stderr on a real pseudo-terminal, as a user at a terminal would."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path


def on_terminal(args: list[str], *, stdout_tty: bool, stderr_tty: bool, cols: int | None = None, env: dict[str, str] | None = None,
                cwd: Path | None = None, timeout: float = 120) -> tuple[int, str, str]:
    """``python -m why403_kit *args`` with the chosen streams on a terminal of ``cols`` columns (None: a terminal that
    reports no size, like some CI consoles), the others piped. Returns (exit code, stdout, stderr); what the terminal
    showed has its line ends as plain ``\\n``."""
    master, slave = pty.openpty()
    if cols is not None:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
    piped: list[tuple[bytes, bytes]] = []
    with subprocess.Popen([sys.executable, "-m", "why403_kit", *args], stdin=subprocess.DEVNULL,
                          stdout=slave if stdout_tty else subprocess.PIPE, stderr=slave if stderr_tty else subprocess.PIPE,
                          env=env, cwd=cwd) as proc:
        os.close(slave)
        reader = threading.Thread(target=lambda: piped.append(proc.communicate(timeout=timeout)))  # the piped stream, meanwhile
        reader.start()
        seen = b""
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            try:
                chunk = os.read(master, 65536) if ready else b""
            except OSError:  # EIO: every writer of the terminal is gone
                chunk = b""
            if not chunk:
                break
            seen += chunk
        os.close(master)
        reader.join(timeout=timeout)
    out, err = (x.decode() if x else "" for x in piped[0])
    tty = seen.decode(errors="replace").replace("\r\n", "\n")
    return proc.returncode, tty if stdout_tty else out, tty if stderr_tty else err
