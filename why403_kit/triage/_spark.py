"""The Spark engine: the same signature reduction on a cluster, the kit's classifier on the executors.

Each line (or row, turned into a JSON object) is masked into its signature with the shared pattern (Java's regex
reads it like Python's and DuckDB's), the per-event fields are pulled out, and the events are grouped by signature.
The distinct signatures are judged by ``mapInPandas`` with the very function the other engines use, so the job runs
unchanged under ``spark-submit``, on Databricks or EMR (the executors need why403-kit installed). Only the distinct
signatures and their per-host/model/key/hour counts come back to the driver. Each event's cause, for joining back,
is the events joined to their judged signature on the cluster (:func:`per_event_frame`): ``triage_spark`` writes it
where the lake is, ``--engine spark --per-event`` streams it into one local file. pyspark is imported only here.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from ..errors import InputError
from ..model import REQUEST_ID_HEADERS
from ._events import EXC_KEYS, ID_KEYS, KEY_KEYS, MODEL_KEYS, MSG_KEYS, TS_KEYS, TS_PATTERN, URL_KEYS, URL_PATTERN, FieldMap
from ._model import PER_EVENT_COLUMNS, TriageReport
from ._readers import TRACEBACK_START, ReadContext, event_from_line
from ._reduce import Reduction, SigStats, Verdict, build_report, judge
from ._signature import KEY_PATTERN, line_pattern, sig_id
from ._sources import Source, compression, is_parquet, magic

_JUDGED = ("sig string, counts_as string, cause string, confidence double, status int, example string, at string, "
           "skip_reason string")


def session() -> Any:
    """The active SparkSession, or a new one on $WHY403_SPARK_MASTER (default ``local[*]``)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError("the spark engine needs pyspark (pip install 'why403-kit[spark]') and Java 17+") from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    master = os.environ.get("WHY403_SPARK_MASTER", "local[*]")
    if master.startswith("local"):  # local workers run this interpreter, where the kit is installed
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder: Any = SparkSession.builder
    spark = (builder.master(master).appName("why403-triage")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _judge_batches(fields: FieldMap) -> Any:
    """The function mapInPandas runs on the executors: judge each distinct signature's example line once."""

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pandas as pd

        for batch in batches:
            rows: list[tuple[Any, ...]] = []
            for sig, line in zip(batch["sig"], batch["line"], strict=True):
                if line is None or not str(line).strip():
                    rows.append((sig, "skipped", "", 0.0, None, "", "", "blank line"))
                    continue
                kind, ev = event_from_line(str(line), "a row of the DataFrame", fields)
                if ev is None or not (ev.status or ev.body or ev.exception):
                    reason = "not an event" if kind == "json" else "line that reports nothing"
                    rows.append((sig, "skipped", "", 0.0, None, "", "", reason))
                    continue
                v = judge(ev)
                rows.append((sig, v.counts_as, v.cause, v.confidence, v.status, v.example, v.where, v.skip_reason))
            yield pd.DataFrame(rows, columns=["sig", "counts_as", "cause", "confidence", "status", "example", "at", "skip_reason"]).astype(
                {"status": "Int32"})

    return run


def _first(cols: list[Any]) -> Any:
    from pyspark.sql import functions as F

    return F.coalesce(*[F.when(c != "", c) for c in cols])


def _time(raw: Any) -> Any:
    from pyspark.sql import functions as F

    epoch = raw.rlike(r"^\d{9,14}(\.\d+)?$")
    as_double = raw.cast("double")
    iso = F.regexp_replace(F.regexp_extract(raw, TS_PATTERN, 0), ",", ".")
    http = F.regexp_extract(raw, r"\d{1,2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2}", 0)
    return (F.when(epoch, F.timestamp_micros((F.when(as_double > 1e11, as_double / 1000).otherwise(as_double) * 1_000_000).cast("long")))
            .otherwise(F.coalesce(F.try_to_timestamp(F.when(iso != "", iso)),
                                  F.try_to_timestamp(F.when(http != "", http), F.lit("d MMM yyyy HH:mm:ss")))))


def _events(lines: Any, fields: FieldMap, pattern: str) -> Any:
    """One row per record: sig, line, ts, host, model, key, request_id, tb."""
    from pyspark.sql import functions as F

    m = F.from_json(F.col("line"), "map<string,string>")
    df = lines.withColumn("_m", F.when(F.ltrim(F.col("line")).startswith("{"), m))
    top = F.col("_m")

    def at(path: tuple[str, ...]) -> Any:
        if len(path) == 1:
            return top.getItem(path[0])
        return F.get_json_object(top.getItem(path[0]), "$" + "".join(f"['{p}']" for p in path[1:]))

    def guesses(name: str, keys: tuple[str, ...], extra: Sequence[tuple[str, ...]] = ()) -> Any:
        if name in fields.paths:
            return _first([at(fields.paths[name])])
        return _first([at((k,)) for k in keys] + [at(p) for p in extra])

    ts_raw = guesses("time", TS_KEYS, [("request", k) for k in TS_KEYS] + [("headers", "date"), ("headers", "Date")])
    url = guesses("url", URL_KEYS, [("request", "url")])
    text = _first([at((k,)) for k in EXC_KEYS] + [at((k,)) for k in MSG_KEYS if k != "error"])
    url_host = F.regexp_extract(url, URL_PATTERN, 1)
    bare = F.when(url.rlike(r"^[\w.\-]+(:\d+)?$") & url.contains("."), url)
    host_json = F.coalesce(F.when(url_host != "", url_host), bare, F.when(F.regexp_extract(text, URL_PATTERN, 1) != "", F.regexp_extract(text, URL_PATTERN, 1)))
    host_text = F.when(F.regexp_extract("line", URL_PATTERN, 1) != "", F.regexp_extract("line", URL_PATTERN, 1))
    is_json = top.isNotNull()
    host = F.lower(F.substring_index(F.coalesce(F.when(is_json, host_json).otherwise(host_text), F.lit("")), "@", -1)).substr(1, 200)
    key_raw = F.when(F.regexp_extract("line", KEY_PATTERN, 0) != "", F.regexp_extract("line", KEY_PATTERN, 0))
    key_field = guesses("key", KEY_KEYS)
    key = F.substring(F.sha2(F.when(is_json, F.coalesce(key_field, key_raw)).otherwise(key_raw), 256), 1, 12)
    model = F.when(is_json, F.coalesce(guesses("model", MODEL_KEYS), F.lit("")).substr(1, 100)).otherwise(F.lit(""))
    ts = F.when(is_json, _time(ts_raw)).otherwise(_time(F.col("line")))
    request_id = F.when(is_json, F.coalesce(guesses("request_id", ID_KEYS, [("headers", h) for h in REQUEST_ID_HEADERS]), F.lit("")).substr(1, 200))
    return df.select(
        F.regexp_replace("line", pattern, "#").alias("sig"), "line", ts.alias("ts"), host.alias("host"), model.alias("model"),
        key.alias("key"), F.coalesce(request_id, F.lit("")).alias("request_id"), (~is_json & F.ltrim(F.col("line")).startswith(TRACEBACK_START)).alias("tb"),
    )


def _utc(micros: Any) -> datetime | None:
    return datetime.fromtimestamp(int(micros) / 1e6, UTC) if micros is not None else None


PerEventSink = Callable[[Any], None]  # takes the per-event DataFrame while the events are still cached


def per_event_frame(ev: Any, rows: list[Any]) -> Any:
    """Each judged event's cause, in the per-event columns the other engines write: the events joined on the cluster to
    their signature's verdict (the distinct signatures are few, so they travel as a broadcast table)."""
    from pyspark.sql import functions as F

    judged = [(r["sig"], sig_id(r["sig"]), r["cause"], r["status"]) for r in rows if r["counts_as"] not in (None, "skipped")]
    causes = ev.sparkSession.createDataFrame(judged, "sig string, signature string, cause string, status int")
    zone = ev.sparkSession.conf.get("spark.sql.session.timeZone")  # timestamps print in the session's zone: shift to UTC
    when = F.date_format(F.to_utc_timestamp("ts", zone), "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'")
    return ev.join(F.broadcast(causes), "sig").select(
        F.coalesce(when, F.lit("")).alias("time"), "host", "status", "model", F.col("key").alias("key_hash"), "request_id",
        "signature", "cause", F.lit("").alias("source"), F.lit("").alias("record")).select(*PER_EVENT_COLUMNS)  # the one order


def reduce_lines(lines: Any, fields: FieldMap, ctx: ReadContext, sources: list[str], per_event: PerEventSink | None = None) -> Reduction:
    """The reduction on the cluster; ``lines`` is a DataFrame with one string column ``line``. ``per_event`` receives
    each event's cause as a DataFrame (:func:`per_event_frame`) before the cached events are let go."""
    from pyspark.sql import functions as F

    ev = _events(lines, fields, line_pattern(fields.deciding_keys())).persist()
    try:
        sigs = ev.groupBy("sig").agg(F.count(F.lit(1)).alias("n"), F.unix_micros(F.min("ts")).alias("first"),
                                     F.unix_micros(F.max("ts")).alias("last"), F.first("line").alias("line"),
                                     F.sum(F.col("tb").cast("int")).alias("tb"))
        judged = sigs.select("sig", "line").mapInPandas(_judge_batches(fields), _JUDGED)
        rows = sigs.drop("line").join(judged, "sig", "left").collect()
        dims: dict[str, dict[str | None, Counter[Any]]] = {}
        for dim in ("host", "model", "key"):
            counts: dict[str | None, Counter[Any]] = {}
            for r in ev.where(F.col(dim).isNotNull() & (F.col(dim) != "")).groupBy("sig", dim).count().collect():
                counts.setdefault(r["sig"], Counter())[r[dim]] = int(r["count"])
            dims[dim] = counts
        hours: dict[str | None, Counter[Any]] = {}
        for r in (ev.where(F.col("ts").isNotNull()).groupBy("sig", F.unix_micros(F.date_trunc("hour", "ts")).alias("h")).count().collect()):
            hours.setdefault(r["sig"], Counter())[_utc(r["h"])] = int(r["count"])
        if per_event is not None:
            per_event(per_event_frame(ev, rows))
    finally:
        ev.unpersist()
    red = Reduction("spark", ctx, sources=sources)
    tracebacks = 0
    for r in rows:
        n = int(r["n"])
        ctx.records += n
        tracebacks += int(r["tb"] or 0)
        if r["counts_as"] == "skipped" and r["skip_reason"] in ("blank line", "not an event", "line that reports nothing"):
            ctx.skip(r["skip_reason"], n)
            continue
        sig = r["sig"]
        verdict = Verdict(r["counts_as"], r["cause"] or "", float(r["confidence"] or 0.0), r["status"], r["example"] or "",
                          r["at"] or "", r["skip_reason"] or "")
        red.sigs[sig] = SigStats(count=n, first=_utc(r["first"]), last=_utc(r["last"]), hosts=dims["host"].get(sig, Counter()),
                                 models=dims["model"].get(sig, Counter()), keys=dims["key"].get(sig, Counter()),
                                 hours=hours.get(sig, Counter()), verdict=verdict)
    if tracebacks:
        ctx.notes.append(f"{tracebacks} Python traceback(s): Spark reads them line by line; the streaming engine (--engine python) "
                         "reads each as one event")
    ctx.formats["spark"] += 1
    return red


def _as_lines(df: Any, column: str | None) -> Any:
    from pyspark.sql import functions as F

    if column is None and len(df.columns) == 1 and dict(df.dtypes)[df.columns[0]] == "string":
        column = df.columns[0]
    if column is not None:
        if column not in df.columns:
            raise InputError(f"the DataFrame has no column {column!r} (columns: {', '.join(df.columns)})")
        return df.select(F.col(column).cast("string").alias("line"))
    return df.select(F.to_json(F.struct(*[F.col(c) for c in df.columns])).alias("line"))


def write_frame(path: str) -> PerEventSink:
    """A sink that writes the per-event DataFrame with Spark to ``path`` (a directory of parts, as Spark writes; ``.csv``
    gives CSV with a header, anything else Parquet), refusing to replace what is there."""
    if not path.strip():
        raise InputError("per_event is empty: name a path Spark can write (s3://…, dbfs:/…, a directory)")

    def write(frame: Any) -> None:
        writer = frame.write.mode("errorifexists")
        try:
            if path.lower().rstrip("/").endswith(".csv"):
                writer.option("header", "true").csv(path)
            else:
                writer.parquet(path)
        except Exception as err:  # noqa: BLE001 -- Spark raises its own AnalysisException family; say it in one line
            raise InputError(f"per_event {path}: Spark cannot write there ({str(err).strip().splitlines()[0][:200]})") from None

    return write


def triage_dataframe(df: Any, *, column: str | None = None, fields: FieldMap | None = None, per_event: str | None = None) -> TriageReport:
    fmap = fields or FieldMap()
    ctx = ReadContext(fields=fmap)
    sink = write_frame(per_event) if per_event is not None else None
    return build_report([reduce_lines(_as_lines(df, column), fmap, ctx, ["<DataFrame>"], sink)])


def reduce_sources(sources: list[Source], opts: Any, per_event: PerEventSink | None = None) -> TriageReport:
    """``--engine spark``: JSON Lines and log files, CSV and Parquet, read by Spark itself; ``per_event`` receives each
    event's cause (the command line streams it into its one local file)."""
    streams = [s.name for s in sources if s.path is None]
    if streams:
        raise InputError("the spark engine reads files (a path, a glob, a directory), not stdin; use --engine python or duckdb")
    spark = session()
    frames = []
    for source in sources:
        path = str(source.path)
        if is_parquet(source):
            frames.append(_as_lines(spark.read.parquet(path), None))
        elif path.lower().endswith((".csv", ".csv.gz")):
            frames.append(_as_lines(spark.read.option("header", "true").csv(path), None))
        else:
            if compression(magic(source)) == "zstd" or (compression(magic(source)) == "gzip" and not path.endswith(".gz")):
                raise InputError(f"{source.name}: Spark reads gzip files named .gz; decompress it or use --engine duckdb")
            frames.append(spark.read.text(path).select("value").withColumnRenamed("value", "line"))
    lines = frames[0]
    for frame in frames[1:]:
        lines = lines.unionByName(frame)
    if opts.max_events is not None:
        lines = lines.limit(opts.max_events)
    ctx = ReadContext(fields=opts.fields, limit=opts.max_events)
    red = reduce_lines(lines, opts.fields, ctx, [s.name for s in sources], per_event)
    if opts.max_events is not None and ctx.records >= opts.max_events:
        ctx.truncated = True
    return build_report([red])
