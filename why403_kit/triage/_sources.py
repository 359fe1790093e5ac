"""Sources: turn what the user named (files, globs, directories, stdin, inline text) into streams of text.

gzip and zstd are recognised by their magic bytes, whatever the file is called, and read transparently; a file that
is neither text nor Parquet is refused as "not a log" instead of being reported as "0 refusals".
"""

from __future__ import annotations

import codecs
import contextlib
import glob
import gzip
import io
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import InputError

CHUNK = 1 << 16
SNIFF = 1 << 16  # bytes looked at to tell text from binary
_GZIP, _ZSTD, _PARQUET = b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"PAR1"
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\v\x1b")


@dataclass(frozen=True)
class Source:
    """One input: a file (``path``), stdin or an in-memory text (``name`` says which)."""

    name: str
    path: Path | None = None
    stream: Any = None  # a file object (text or binary) or an iterable of lines
    text: str | None = None

    @property
    def size(self) -> int | None:
        try:
            return self.path.stat().st_size if self.path else (len(self.text) if self.text is not None else None)
        except OSError:
            return None


def expand(inputs: Iterable[str | Path], *, stdin: Any = None) -> list[Source]:
    """Files, globs and directories (walked, sorted) as sources; ``-`` is ``stdin``. Nothing found is bad input."""
    out: list[Source] = []
    for item in inputs:
        text = str(item)
        if text == "-":
            out.append(Source("<stdin>", stream=stdin))
            continue
        path = Path(text).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not files:
                raise InputError(f"{text}: the directory holds no file")
            out += [Source(str(p), p) for p in files]
        elif path.exists():
            out.append(Source(text, path))
        elif glob.has_magic(text):
            files = sorted(Path(p) for p in glob.glob(os.path.expanduser(text), recursive=True) if Path(p).is_file())
            if not files:
                raise InputError(f"{text}: no file matches")
            out += [Source(str(p), p) for p in files]
        else:
            raise InputError(f"cannot read {text}: No such file or directory")
    if not out:
        raise InputError("no input given")
    return out


def magic(source: Source) -> bytes:
    """The first bytes of a file source (b'' for streams and texts)."""
    if source.path is None:
        return b""
    try:
        with source.path.open("rb") as fh:
            return fh.read(4)
    except OSError as err:
        raise InputError(f"cannot read {source.name}: {err.strerror or err}") from None


def compression(head: bytes) -> str:
    return "gzip" if head.startswith(_GZIP) else "zstd" if head.startswith(_ZSTD) else ""


def is_parquet(source: Source) -> bool:
    return magic(source) == _PARQUET


class _Zstd(io.RawIOBase):
    """A readable zstd stream over a binary file (zstandard is imported only when a .zst file shows up)."""

    def __init__(self, raw: IO[bytes]) -> None:
        import zstandard

        self._raw = raw
        self._reader: Any = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._reader.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._reader.close()
        self._raw.close()
        super().close()


def _binary(data: bytes) -> bool:
    """Looks like no text: NUL bytes, or many control bytes outside tabs and newlines."""
    if not data:
        return False
    if b"\x00" in data:
        return True
    controls = sum(1 for b in data if b < 32 and b not in _TEXT_CONTROLS)
    return controls > len(data) // 20


def _raw_chunks(fh: IO[bytes], name: str, progress: Callable[[int], None] | None, position: Callable[[], int] | None) -> Iterator[bytes]:
    last = 0
    try:
        while chunk := fh.read(CHUNK):
            if progress and position:
                now = position()
                progress(now - last)
                last = now
            yield chunk
    except (OSError, EOFError, zlib.error) as err:
        raise InputError(f"{name}: the compressed data is corrupt ({err})") from None
    except Exception as err:  # zstandard's ZstdError is not an OSError
        if type(err).__name__ == "ZstdError":
            raise InputError(f"{name}: the compressed data is corrupt ({err})") from None
        raise


def text_chunks(source: Source, progress: Callable[[int], None] | None = None) -> Iterator[str]:
    """The text of ``source`` in chunks, decompressed, decoded as UTF-8 (bad bytes replaced).

    Raises InputError for a file that cannot be opened or read, or that is not text ("not a log").
    """
    if source.text is not None:
        yield source.text
        return
    stream = source.stream
    if source.path is None and not hasattr(stream, "read"):  # an iterable of lines
        for line in stream or ():
            yield line if line.endswith("\n") else line + "\n"
        return
    with contextlib.ExitStack() as stack:
        if source.path is not None:
            try:
                raw: IO[bytes] = stack.enter_context(source.path.open("rb"))
            except OSError as err:
                raise InputError(f"cannot read {source.name}: {err.strerror or err}") from None
        elif isinstance(stream.read(0), str):  # a text stream: already decoded
            first = True
            while chunk := stream.read(CHUNK):
                if first and "\x00" in chunk[:SNIFF]:
                    raise InputError(f"{source.name}: not a log (binary data)")
                first = False
                yield chunk
            return
        else:
            raw = stream
        base = raw
        kind = compression(_peek(raw))
        fh: IO[bytes]
        if kind == "gzip":
            fh = stack.enter_context(gzip.GzipFile(fileobj=raw))  # type: ignore[arg-type]
        elif kind == "zstd":
            fh = stack.enter_context(io.BufferedReader(_Zstd(raw)))
        else:
            fh = raw
        position = base.tell if source.path is not None else None
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        checked = False
        for chunk in _raw_chunks(fh, source.name, progress, position):
            if not checked:
                checked = True
                if _binary(chunk[:SNIFF]):
                    after = f", after {kind} decompression" if kind else ""
                    raise InputError(f"{source.name}: not a log (binary data{after})")
            yield decoder.decode(chunk)
        if tail := decoder.decode(b"", final=True):
            yield tail


def _peek(raw: IO[bytes]) -> bytes:
    """The first bytes of a binary stream without consuming them (buffered streams peek; files seek back)."""
    peek = getattr(raw, "peek", None)
    if peek is not None:
        try:
            return bytes(peek(4)[:4])
        except (OSError, ValueError):
            return b""
    try:
        pos = raw.tell()
        data = raw.read(4)
        raw.seek(pos)
        return data
    except (OSError, ValueError):
        return b""
