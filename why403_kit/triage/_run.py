"""Triage's pipeline: sources -> engine per source -> signatures -> judged once -> causes (-> per-event file).

``auto`` sends JSON Lines, CSV and Parquet files to DuckDB and everything else (HAR, plain logs with tracebacks,
stdin, in-memory text) to the streaming reader; ``spark`` sends everything to Spark. Each engine returns
:class:`Reduction`s (signatures with their counts) that ``build_report`` judges and joins.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .._files import check_out_kind, written_whole
from ..errors import InputError
from . import _duckdb
from ._events import NO_FIELDS, Event, FieldMap
from ._model import PER_EVENT_COLUMNS, TriageReport
from ._progress import Meters
from ._readers import TRACEBACK_START, LinesReader, ReadContext, pick_reader, read_source, sniff_head
from ._reduce import Reduction, SigStats, build_report, judge
from ._signature import sig_id, signature
from ._sources import Source, compression, expand, is_parquet, magic, text_chunks

ENGINE_NAMES = ("auto", "python", "duckdb", "spark")


@dataclass
class Options:
    engine: str = "auto"
    fields: FieldMap = NO_FIELDS
    max_events: int | None = None
    per_event: Path | None = None
    progress: Meters | None = None  # a meter per read, drawn by the caller (render.progress.bars); None draws nothing
    threads: int | None = None
    notes: list[str] = field(default_factory=list)


def _kind(source: Source) -> tuple[str, str]:
    """(kind, compression) of a file source: 'parquet', 'csv', 'lines' (JSON Lines without tracebacks) or 'stream'."""
    if source.path is None:
        return "stream", ""
    if is_parquet(source):
        return "parquet", ""
    comp = compression(magic(source))
    chunks = text_chunks(source)
    try:
        head = sniff_head(chunks, source.name)
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()
    reader = pick_reader(head)
    if reader.name == "csv":
        return "csv", comp
    if isinstance(reader, LinesReader):
        rows = [line.strip() for line in head.text.splitlines() if line.strip()]
        # a traceback spans lines, so only the streaming reader can read it (one inside a JSON string does not count)
        if rows and rows[0].startswith("{") and not any(row.startswith(TRACEBACK_START) for row in rows):
            return "lines", comp
    return "stream", comp


def _python(sources: list[Source], opts: Options, ctx: ReadContext, writer: _PerEvent | None) -> Reduction:
    red = Reduction("python", ctx, sources=[s.name for s in sources])
    sigs = red.sigs
    for source in sources:
        if ctx.truncated:
            break
        bar = opts.progress(f"triage {Path(source.name).name}", total=source.size if source.path else None) if opts.progress else None
        try:
            events = read_source(ctx, source, text_chunks(source, bar.advance if bar and source.path else None))
            for ev in events:
                sig = signature(ev.status, ev.headers, ev.body, ev.exception)
                stats = sigs.get(sig)
                if stats is None:
                    stats = sigs[sig] = SigStats(example=ev, verdict=judge(ev))
                stats.add(ev)
                if writer is not None:
                    writer.row(ev, sig, stats, source.name)
        finally:
            if bar:
                bar.close()
    return red


def _duck(kind: str, comp: str, files: list[str], opts: Options, ctx: ReadContext) -> tuple[Reduction, int]:
    bar = opts.progress(f"triage (duckdb) {len(files)} file(s)", total=100, unit="%") if opts.progress else None
    try:
        return _duckdb.reduce_group(kind, files, comp, ctx, progress=bar.percent if bar else None, threads=opts.threads)
    finally:
        if bar:
            bar.close()


class _PerEvent:
    """Each event's cause for joining back: CSV rows streamed by the Python engine; DuckDB writes its own parts."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.fmt = "parquet" if out.suffix.lower() == ".parquet" else "csv"
        self.tmp = Path(tempfile.mkdtemp(prefix="why403-per-event-"))
        self.parts: list[Path] = []
        self._fh: IO[str] | None = None
        self._csv: Any = None
        self._ids: dict[str, str] = {}

    def row(self, ev: Event, sig: str, stats: SigStats, source: str) -> None:
        verdict = stats.verdict
        if verdict is None or verdict.counts_as == "skipped":
            return
        if self._csv is None:
            path = self.tmp / "python.csv"
            self.parts.append(path)
            self._fh = path.open("w", newline="", encoding="utf-8")
            self._csv = csv.writer(self._fh)
            self._csv.writerow(PER_EVENT_COLUMNS)
        sid = self._ids.get(sig) or self._ids.setdefault(sig, sig_id(sig))
        when = ev.when.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if ev.when else ""
        self._csv.writerow([when, ev.host, ev.status if ev.status is not None else "", ev.model, ev.key or "", ev.request_id, sid,
                            verdict.cause, source, ev.where])

    def duck_part(self, kind: str, files: list[str], comp: str, ctx: ReadContext, red: Reduction, threads: int | None) -> None:
        causes = {sig: (sig_id(sig), s.verdict.cause, s.verdict.status) for sig, s in red.sigs.items()
                  if s.verdict is not None and s.verdict.counts_as != "skipped"}
        path = self.tmp / f"duckdb-{len(self.parts)}.csv"
        _duckdb.write_per_event(kind, files, comp, ctx, causes, path, "csv", threads)
        self.parts.append(path)

    def spark_part(self, frame: Any) -> None:
        """Spark's per-event DataFrame, streamed to this machine a partition at a time (the file is local; on a cluster,
        ``triage_spark(df, per_event="s3://…")`` writes it where the lake is)."""
        path = self.tmp / f"spark-{len(self.parts)}.csv"
        self.parts.append(path)
        with path.open("w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(PER_EVENT_COLUMNS)
            for row in frame.toLocalIterator():  # per_event_frame gives PER_EVENT_COLUMNS, in order
                out.writerow(["" if value is None else value for value in row])

    def finish(self, write: bool = True) -> int:
        """Write the parts as the one output file (whole or not at all), or with ``write=False`` only drop them."""
        if self._fh is not None:
            self._fh.close()
        try:
            if not write:
                return 0
            con = _duckdb.connect()
            try:
                if not self.parts:
                    empty = self.tmp / "empty.csv"
                    empty.write_text(",".join(PER_EVENT_COLUMNS) + "\n")
                    self.parts.append(empty)
                cols = ", ".join(f"{c}::VARCHAR AS {c}" if c != "status" else "TRY_CAST(status AS INTEGER) AS status" for c in PER_EVENT_COLUMNS)
                union = " UNION ALL BY NAME ".join(
                    f"SELECT {cols} FROM read_csv('{p}', header = true, all_varchar = true, union_by_name = true)" for p in self.parts)
                options = "(FORMAT parquet)" if self.fmt == "parquet" else "(FORMAT csv, HEADER true)"
                with written_whole(self.out, "--per-event") as part:
                    con.execute(f"COPY ({union}) TO '{str(part).replace(chr(39), chr(39) * 2)}' {options}")
                return int(con.execute(f"SELECT count(*) FROM ({union})").fetchall()[0][0])
            finally:
                con.close()
        finally:
            for part in self.tmp.iterdir():
                part.unlink()
            self.tmp.rmdir()


def _as_sources(source: Any) -> list[Source]:
    if isinstance(source, Source):
        return [source]
    if isinstance(source, list) and source and all(isinstance(s, Source) for s in source):
        return source
    if isinstance(source, Path):
        return expand([source])
    if isinstance(source, str):
        if "\n" in source or source.lstrip()[:1] in ("{", "["):
            return [Source("<text>", text=source)]
        return expand([source])
    if isinstance(source, (list, tuple)) and source and all(isinstance(s, Path) for s in source):
        return expand(source)
    if hasattr(source, "read"):
        return [Source(getattr(source, "name", "<stream>") if isinstance(getattr(source, "name", None), str) else "<stream>", stream=source)]
    if isinstance(source, Iterable):
        return [Source("<lines>", stream=source)]
    raise InputError(f"cannot triage a {type(source).__name__}")


def run(sources: list[Source], opts: Options) -> TriageReport:
    if opts.engine not in ENGINE_NAMES:
        raise InputError(f"unknown engine {opts.engine!r}; choose one of {', '.join(ENGINE_NAMES)}")
    if opts.max_events is not None and opts.max_events < 0:
        raise InputError("--max-events must be 0 or more")
    if opts.per_event is not None:  # before anything is read
        check_out_kind(opts.per_event, "--per-event", (".parquet", ".csv"))
    writer = _PerEvent(opts.per_event) if opts.per_event is not None else None
    try:
        report = _reduce(sources, opts, writer)
    except BaseException:
        if writer is not None:  # nothing is written from a run that failed: the parts go, an older file stays
            writer.finish(write=False)
        raise
    if writer is not None:
        writer.finish()
    return report


def _reduce(sources: list[Source], opts: Options, writer: _PerEvent | None) -> TriageReport:
    """Every source through its engine, into one report; each event's cause to ``writer`` when there is one."""
    if opts.engine == "spark":
        from ._spark import reduce_sources

        return reduce_sources(sources, opts, writer.spark_part if writer is not None else None)
    ctx = ReadContext(fields=opts.fields, limit=opts.max_events)
    reductions: list[Reduction] = []
    stream: list[Source] = []
    groups: dict[tuple[str, str], list[Source]] = {}
    use_duck = opts.engine in ("auto", "duckdb") and _duckdb.available() and opts.max_events is None
    if opts.engine == "duckdb" and not _duckdb.available():
        raise InputError("the duckdb engine needs the duckdb package (pip install duckdb)")
    if opts.engine == "duckdb" and opts.max_events is not None:
        opts.notes.append("--max-events reads in order with the streaming engine")
    for source in sources:
        kind, comp = _kind(source) if use_duck else ("stream", "")
        if kind == "stream":
            stream.append(source)
        else:
            groups.setdefault((kind, comp), []).append(source)
    if opts.engine == "duckdb" and stream:
        opts.notes.append(f"read with the streaming engine (DuckDB reads JSON Lines, CSV and Parquet): {', '.join(s.name for s in stream)[:300]}")
    for (kind, comp), members in groups.items():
        files = [str(s.path) for s in members]
        red, tracebacks = _duck(kind, comp, files, opts, ReadContext(fields=opts.fields, limit=opts.max_events))
        if tracebacks:  # tracebacks span lines: only the streaming reader reads them as one event each
            stream += members
            continue
        reductions.append(red)
        if writer is not None:
            writer.duck_part(kind, files, comp, red.ctx, red, opts.threads)
    if stream:
        reductions.append(_python(stream, opts, ctx, writer))
    report = build_report(reductions)
    if opts.notes:
        report.notes.extend(opts.notes)
    return report
