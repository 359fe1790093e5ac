"""Where the kit writes: an output directory checked before any work starts, and files that are written whole or not at all.

``why403 diagnose --out DIR`` runs for up to its deadline before it writes; ``why403 export`` executes a notebook. A
directory that cannot be used must stop them at once (bad input, exit 2), not after the work, and a failure while
writing must never leave a half-written ``report.json`` behind: each file goes to a temporary name in the same
directory and is renamed into place, which is atomic on one filesystem.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from .errors import InputError


def _umask() -> int:
    """The process's umask (read once: setting it back at once is the only way to read it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_NEW_FILE_MODE = 0o666 & ~_umask()  # what open() would give a new file: reports and pages are for sharing, not 0600


def check_out_dir(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as a directory the kit can write into (it exists, or can be created); InputError naming the problem."""
    if not str(path).strip():
        raise InputError(f"{flag} is empty: name a directory")
    if any(ord(c) < 32 for c in str(path)):
        raise InputError(f"{flag} holds a control character (a line break?): name a directory on one line")
    out = Path(path).expanduser()
    for place in (out, *out.parents):
        try:
            exists, is_dir = place.exists(), place.is_dir()
        except OSError as err:  # a name too long, a loop of links
            raise InputError(f"{flag} {out}: {err.strerror or err}") from None
        if not exists:
            continue
        if not is_dir:
            what = "exists and is not a directory" if place == out else f"is under {place}, which is a file, not a directory"
            raise InputError(f"{flag} {out} {what}")
        if not os.access(place, os.W_OK | os.X_OK):
            raise InputError(f"{flag} {out}: {place} is not writable")
        return out
    return out


def check_out_file(path: str | Path, flag: str) -> Path:
    """``path`` as a file the kit may write: its directory usable, and nothing there but a regular file it may replace
    (never a directory, a device such as /dev/null, a pipe or a socket)."""
    out = Path(path).expanduser()
    if not out.name:
        raise InputError(f"{flag} {out} names a directory: name a file")
    check_out_dir(out.parent, flag)
    if (out.exists() or out.is_symlink()) and not out.is_file():
        raise InputError(f"{flag} {out} exists and is not a regular file")
    return out


def check_out_kind(path: str | Path, flag: str, suffixes: tuple[str, ...]) -> Path:
    """``path`` as a file of one of the kinds ``suffixes`` name (``.svg``, ``.csv``…), in a directory that exists, and
    nothing there but a regular file (:func:`check_out_file`); InputError naming the problem."""
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise InputError(f"{flag} writes {' or '.join(suffixes)}, not {out.name}")
    if not out.expanduser().resolve().parent.is_dir():
        raise InputError(f"{flag}: {out.parent} is not a directory")
    return check_out_file(out, flag)


@contextlib.contextmanager
def written_whole(path: str | Path, flag: str) -> Iterator[Path]:
    """A temporary file beside ``path`` to write, renamed onto ``path`` when the block ends and removed if it raises: the
    way to write whole or not at all for a writer that wants a path of its own (DuckDB's COPY, matplotlib's savefig).

    ``path`` is checked first (:func:`check_out_file`); its directory is created if needed."""
    out = check_out_file(path, flag)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    except OSError as err:
        raise InputError(f"{flag} {out}: cannot write there: {err.strerror or err}") from None
    os.close(fd)
    try:
        yield Path(tmp)
        try:  # mkstemp made it 0600: keep the mode of the file it replaces, else the one open() would give
            mode = out.stat().st_mode & 0o7777
        except OSError:
            mode = _NEW_FILE_MODE
        os.chmod(tmp, mode)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_files(out_dir: str | Path, texts: Mapping[str, str], flag: str = "--out") -> list[Path]:
    """Write each ``name -> text`` into ``out_dir`` (created if needed) whole or not at all; return the paths.

    Each file replaces a regular file of that name, never anything else (a directory, a device, a pipe); every name is
    checked before the first file is written."""
    out = check_out_dir(out_dir, flag)
    for name in texts:
        check_out_file(out / name, flag)
    written: list[Path] = []
    for name, text in texts.items():
        with written_whole(out / name, flag) as tmp:
            tmp.write_text(text, encoding="utf-8")
        written.append(out / name)
    return written


__all__ = ["check_out_dir", "check_out_file", "check_out_kind", "write_files", "written_whole"]
