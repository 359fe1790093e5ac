"""The DuckDB engine: JSON Lines, CSV and Parquet reduced to signatures in SQL, in process (no server).

DuckDB reads the files on every core, masks each line into its signature with the same pattern as the other engines
(``_signature.line_pattern``), pulls out the fields triage counts by (time, host, model, key hash) and groups by
signature; Python then judges each distinct signature once from its example line, read by the very function the
streaming engine uses (``_readers.event_from_line``). CSV and Parquet rows become JSON objects (``to_json``) first,
so every shape goes down the same road. duckdb is imported only here.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..model import REQUEST_ID_HEADERS
from ._events import (
    EXC_KEYS,
    ID_KEYS,
    KEY_KEYS,
    MAX_EVENT,
    MODEL_KEYS,
    MSG_KEYS,
    TS_KEYS,
    TS_PATTERN,
    URL_KEYS,
    URL_PATTERN,
    FieldMap,
)
from ._readers import TRACEBACK_START, ReadContext, event_from_line
from ._reduce import Reduction, SigStats, judge
from ._signature import KEY_PATTERN, line_pattern

MEMORY_LIMIT = "512MB"  # DuckDB spills to disk past this: a 10-million-line log stays well under 1 GB
FILE_COLUMN = "_why403_source_file"  # the file a record came from (per-event output), a name no log's own column takes


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _path(parts: Sequence[str]) -> str:
    return "$." + ".".join('"' + p.replace('"', '\\"') + '"' for p in parts)


def _field_paths(fields: FieldMap) -> dict[str, list[str]]:
    """JSON paths tried in order for each per-event field (the same guesses as ``_events.from_obj``)."""
    guesses = {
        "time": [_path([k]) for k in TS_KEYS] + [_path(["request", k]) for k in TS_KEYS] + ['$."headers"."date"', '$."headers"."Date"'],
        "url": [_path([k]) for k in URL_KEYS] + ['$."request"."url"'],
        "model": [_path([k]) for k in MODEL_KEYS],
        "key": [_path([k]) for k in KEY_KEYS],
        "request_id": [_path([k]) for k in ID_KEYS] + [_path(["headers", h]) for h in REQUEST_ID_HEADERS],
        "text": [_path([k]) for k in EXC_KEYS] + [_path([k]) for k in MSG_KEYS if k != "error"],
    }
    for name in ("time", "url", "model", "key", "request_id"):
        if name in fields.paths:
            guesses[name] = [_path(fields.paths[name])]
    return guesses


def _first_of(list_expr: str, lo: int, hi: int) -> str:
    return "coalesce(" + ", ".join(f"nullif({list_expr}[{i}], '')" for i in range(lo + 1, hi + 1)) + ")"


def _time_sql(raw: str) -> str:
    return (f"CASE WHEN regexp_full_match({raw}, '\\d{{9,14}}(\\.\\d+)?') THEN to_timestamp(CASE WHEN {raw}::DOUBLE > 1e11 "
            f"THEN {raw}::DOUBLE / 1000 ELSE {raw}::DOUBLE END) ELSE coalesce(try_cast(replace(nullif(regexp_extract({raw}, "
            f"{_q(TS_PATTERN)}, 0), ''), ',', '.') AS TIMESTAMPTZ), try_strptime({raw}, '%a, %d %b %Y %H:%M:%S GMT')::TIMESTAMPTZ) END")


def _events_sql(source_sql: str, fields: FieldMap, with_file: bool = False) -> str:
    """One row per non-blank record: its signature, example text and the per-event fields (and the file it came from,
    ``source``, when ``source_sql`` names it: see :func:`source_sql`)."""
    file = f", {FILE_COLUMN}" if with_file else ""
    paths = _field_paths(fields)
    flat: list[str] = []
    spans: dict[str, tuple[int, int]] = {}
    for name, ps in paths.items():
        spans[name] = (len(flat), len(flat) + len(ps))
        flat += ps
    j = "_f"
    pick = {name: _first_of(j, lo, hi) for name, (lo, hi) in spans.items()}
    url = pick["url"]
    url_host = (f"CASE WHEN regexp_extract({url}, {_q(URL_PATTERN)}, 1) <> '' THEN regexp_extract({url}, {_q(URL_PATTERN)}, 1) "
                f"WHEN regexp_full_match({url}, '[\\w.\\-]+(:\\d+)?') AND contains({url}, '.') THEN {url} END")
    text_host = f"nullif(regexp_extract({pick['text']}, {_q(URL_PATTERN)}, 1), '')"
    line_host = f"nullif(regexp_extract(line, {_q(URL_PATTERN)}, 1), '')"
    key_raw = f"nullif(regexp_extract(line, {_q(KEY_PATTERN)}, 0), '')"
    return f"""
    WITH src AS ({source_sql}),
    rows AS (
        SELECT line, starts_with(ltrim(line), '{{') AND json_valid(line) AS is_json{file} FROM src
    ),
    ex AS (
        SELECT line, is_json, CASE WHEN is_json THEN json_extract_string(line, [{", ".join(_q(p) for p in flat)}]) END AS {j}{file}
        FROM rows
    )
    SELECT
        regexp_replace(line, {_q(line_pattern(fields.deciding_keys()))}, '#', 'g') AS sig,
        line,
        CASE WHEN is_json THEN {_time_sql(pick["time"])} ELSE {_time_sql("line")} END AS ts,
        lower(split_part(coalesce(CASE WHEN is_json THEN coalesce({url_host}, {text_host}) ELSE {line_host} END, ''), '@', -1))[1:200] AS host,
        CASE WHEN is_json THEN coalesce({pick["model"]}, '')[1:100] ELSE '' END AS model,
        left(sha256(CASE WHEN is_json THEN coalesce({pick["key"]}, {key_raw}) ELSE {key_raw} END), 12) AS key,
        CASE WHEN is_json THEN coalesce({pick["request_id"]}, '')[1:200] ELSE '' END AS request_id,
        NOT is_json AND starts_with(ltrim(line), {_q(TRACEBACK_START)}) AS tb{f", {FILE_COLUMN} AS source" if with_file else ""}
    FROM ex
    """


def source_sql(kind: str, files: list[str], compression: str, limit: int | None, with_file: bool = False) -> str:
    """The SELECT that yields one ``line`` per record for a group of files of one kind; with ``with_file``, also the
    file each came from (FILE_COLUMN), kept out of the record's JSON so its signature stays the same."""
    listed = "[" + ", ".join(_q(f) for f in files) + "]"
    lim = f" LIMIT {int(limit)}" if limit is not None else ""
    named = f", filename = {_q(FILE_COLUMN)}" if with_file else ""
    row = f"to_json(struct_pack(*COLUMNS(* EXCLUDE ({FILE_COLUMN}))))::VARCHAR AS line, {FILE_COLUMN}" if with_file else "to_json(t)::VARCHAR AS line"
    if kind == "parquet":
        return f"SELECT {row} FROM read_parquet({listed}, union_by_name = true{named}) t{lim}"
    comp = f", compression = {_q(compression or 'none')}"
    if kind == "csv":
        return (f"SELECT {row} FROM read_csv({listed}, header = true, all_varchar = true, "
                f"max_line_size = {MAX_EVENT}, ignore_errors = true, store_rejects = true{comp}{named}) t{lim}")
    return (f"SELECT line{f', {FILE_COLUMN}' if with_file else ''} FROM read_csv({listed}, columns = {{'line': 'VARCHAR'}}, delim = '\\x01', "
            f"quote = '', escape = '', header = false, auto_detect = false, strict_mode = false, max_line_size = {MAX_EVENT}, "
            f"ignore_errors = true, store_rejects = true{comp}{named}){lim}")


def connect(threads: int | None = None) -> Any:
    import duckdb

    spill = os.path.join(tempfile.gettempdir(), "why403-duckdb")  # never a .tmp folder in the user's working directory
    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "preserve_insertion_order": "false", "temp_directory": spill})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar_print = false")  # DuckDB would draw its own bar on stdout, inside --format json
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def _run(con: Any, sql: str, progress: Callable[[float], None] | None) -> list[tuple[Any, ...]]:
    """Run ``sql``; while it runs, report DuckDB's own progress (0..100) from this thread."""
    if progress is None:
        return list(con.execute(sql).fetchall())
    con.execute("SET enable_progress_bar = true")  # progress is tracked only when enabled; we draw it on stderr
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["rows"] = con.execute(sql).fetchall()
        except Exception as err:  # noqa: BLE001 -- handed back to the caller's thread below
            box["error"] = err

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.2)
        try:
            done = float(con.query_progress())
        except Exception:  # noqa: BLE001 -- progress is a nicety; the query's own errors surface below
            done = -1
        if done >= 0:
            progress(done)
    if "error" in box:
        raise box["error"]
    return list(box["rows"])


def reduce_group(kind: str, files: list[str], compression: str, ctx: ReadContext, *, progress: Callable[[float], None] | None = None,
                 threads: int | None = None) -> tuple[Reduction, int]:
    """Reduce one group of files of one kind; returns the reduction and how many traceback starts were seen (the
    streaming engine must read files that hold tracebacks, which span lines)."""
    import duckdb

    con = connect(threads)
    events = _events_sql(source_sql(kind, files, compression, ctx.limit), ctx.fields)
    sql = f"""
    WITH ev AS ({events})
    SELECT sig, count(*) AS n, min(ts), max(ts), any_value(line),
        histogram(host) FILTER (WHERE host <> ''), histogram(model) FILTER (WHERE model <> ''),
        histogram(key) FILTER (WHERE key IS NOT NULL), histogram(date_trunc('hour', ts)) FILTER (WHERE ts IS NOT NULL),
        count_if(tb)
    FROM ev GROUP BY sig
    """
    try:
        rows = _run(con, sql, progress)
        rejected = con.execute("SELECT count(*) FROM reject_errors").fetchall()[0][0] if kind != "parquet" else 0
    except duckdb.Error as err:
        raise InputError(f"{', '.join(files)[:200]}: DuckDB cannot read it as {kind} ({str(err).splitlines()[0][:200]})") from None
    finally:
        con.close()
    red = Reduction("duckdb", ctx, sources=list(files))
    tracebacks = 0
    where = Path(files[0]).name if len(files) == 1 else f"one of {len(files)} files"  # DuckDB groups lines: which one is not kept
    blank = 0
    for sig, n, first, last, line, hosts, models, keys, hours, tb in rows:
        tracebacks += int(tb or 0)
        if line is None or not line.strip():
            blank += int(n)
            continue
        _, ev = event_from_line(line, where, ctx.fields)
        stats = SigStats(count=int(n), first=_utc(first), last=_utc(last), hosts=Counter(hosts or {}), models=Counter(models or {}),
                         keys=Counter(keys or {}), hours=Counter({_utc(h): c for h, c in (hours or {}).items()}), example=ev,
                         verdict=judge(ev) if ev is not None and (ev.status or ev.body or ev.exception) else None)
        if stats.verdict is None:
            reason = "not an event" if line.lstrip().startswith("{") else "line that reports nothing"
            ctx.skip(reason, stats.count)
            continue
        red.sigs[sig] = stats
    ctx.records += sum(int(r[1]) for r in rows) + int(rejected)
    if blank:
        ctx.skip("blank line", blank)
    if rejected:
        ctx.skip(f"{'line' if kind == 'lines' else 'row'} over {MAX_EVENT >> 20} MiB or unreadable", int(rejected))
    if ctx.limit is not None and ctx.records >= ctx.limit:
        ctx.truncated = True
    ctx.formats["jsonl" if kind == "lines" else kind] += 1
    return red, tracebacks


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value


def write_per_event(kind: str, files: list[str], compression: str, ctx: ReadContext, causes: dict[str, tuple[str, str, int | None]],
                    out: Path, fmt: str, threads: int | None = None) -> int:
    """Each event's signature id and cause, for joining back (a second pass over the files)."""
    con = connect(threads)
    try:
        con.execute("CREATE TEMP TABLE causes (sig VARCHAR, signature VARCHAR, cause VARCHAR, status INTEGER)")
        con.executemany("INSERT INTO causes VALUES (?, ?, ?, ?)", [(s, sid, c, st) for s, (sid, c, st) in causes.items()])
        events = _events_sql(source_sql(kind, files, compression, ctx.limit, with_file=True), ctx.fields, with_file=True)
        options = "(FORMAT parquet)" if fmt == "parquet" else "(FORMAT csv, HEADER true)"
        # the file's name as the streaming engine gives it; DuckDB does not say which line of it (record stays empty)
        con.execute(f"""COPY (SELECT strftime(ev.ts, '%Y-%m-%dT%H:%M:%S.%fZ') AS time, ev.host, c.status, ev.model, ev.key AS key_hash,
                     ev.request_id, c.signature, c.cause, ev.source, '' AS record FROM ({events}) ev JOIN causes c USING (sig)) TO {_q(str(out))} {options}""")
        return int(con.execute("SELECT count(*) FROM read_" + ("parquet" if fmt == "parquet" else "csv") + f"({_q(str(out))})").fetchall()[0][0])
    finally:
        con.close()


def available() -> bool:
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return False
    return True

