"""Triage: group the refusals in a log of any size by cause, offline (nothing is sent anywhere).

The road, as data: sources (files, globs, directories, stdin; gzip and zstd read transparently) -> readers (one per
format, a registry) -> events -> signatures (request ids, times, key hints, numbers and hex masked) -> each distinct
signature judged once by the kit's classifier -> causes, with counts, times, hosts, models and key hashes.
The reduction runs in one of three engines: the streaming Python reader (HAR, logs, stdin), DuckDB in process
(JSON Lines, CSV, Parquet) or Spark (a data lake). Module map::

    _sources.py   inputs -> text chunks (globs, directories, gzip/zstd, "not a log")
    _readers.py   Reader interface + READERS registry: har, json-array, json, csv, parquet, lines
    _events.py    records -> Event (field guesses, FieldMap and presets for gateway shapes)
    _signature.py the masking shared by every engine (Python re, DuckDB RE2, Spark's Java regex)
    _reduce.py    signatures -> judged once -> causes (build_report)
    _duckdb.py    the DuckDB engine          _spark.py   the Spark engine (triage_spark takes a DataFrame)
    _run.py       engine choice (ENGINE_NAMES), per-event output
    _progress.py  the progress hook (Meters) its caller hands it; render/progress.py draws it
    _model.py     TriageReport, CauseGroup (data only; JSON shape with schema_version)
    sample.py     a generated gateway log from real refusal texts (notebook, tests, make bench)

Its views (terminal table, Markdown, JSON, the causes-over-time plot) live in ``why403_kit.render.triage`` and are
registered in ``why403_kit.render.FORMATS``: ``render(report, "markdown")``.

``why403_kit.triage`` is this package and is also callable: ``why403_kit.triage(path)`` is
``why403_kit.triage.triage(path)``, so ``from why403_kit import triage; triage("app.log")`` keeps working.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

from ._events import PRESETS, Event, FieldMap
from ._model import SCHEMA_VERSION, CauseGroup, TriageReport
from ._progress import Meter, Meters
from ._readers import READERS, ReadContext, Reader
from ._run import ENGINE_NAMES, Options, _as_sources, run
from ._signature import mask_text, signature
from ._sources import expand


def triage(source: Any, *, engine: str = "auto", fields: FieldMap | list[str] | dict[str, str] | None = None,
           max_events: int | None = None, per_event: str | Path | None = None, progress: Meters | None = None,
           threads: int | None = None) -> TriageReport:
    """Group the refusals in ``source`` by cause.

    ``source``: a path, a glob (``logs/*.jsonl.gz``), a directory, a list of paths, inline text (a str holding a newline
    or starting with '{' / '['), a file object (text or binary; gzip and zstd are detected), or an iterable of lines.
    ``engine``: ``auto`` (DuckDB for JSON Lines, CSV and Parquet files; the streaming reader otherwise), ``python``,
    ``duckdb`` or ``spark``. ``fields``: where the status, body, time... sit (``["status=response.status"]``, a preset
    name such as ``"litellm"``, or a FieldMap). ``max_events``: read at most this many records (everything otherwise).
    ``per_event``: write each event's cause to this .parquet or .csv file. ``progress``: a factory of meters that
    show how far the reading got (``bars()`` from ``why403_kit.render.progress``: a bar on stderr when it is a terminal).
    Bad input raises InputError.
    """
    opts = Options(engine=engine, fields=_field_map(fields), max_events=max_events, per_event=Path(per_event) if per_event else None,
                   progress=progress, threads=threads)
    return run(_as_sources(source), opts)


def triage_files(names: list[str], *, stdin: Any = None, engine: str = "auto", fields: FieldMap | list[str] | None = None,
                 max_events: int | None = None, per_event: str | Path | None = None, progress: Meters | None = None,
                 threads: int | None = None) -> TriageReport:
    """:func:`triage` for what a command line names: files, globs, directories and ``-`` (``stdin``)."""
    return triage(expand(names, stdin=stdin), engine=engine, fields=fields, max_events=max_events, per_event=per_event,
                  progress=progress, threads=threads)


def triage_spark(df: Any, *, column: str | None = None, fields: FieldMap | list[str] | None = None,
                 per_event: str | None = None) -> TriageReport:
    """Triage a Spark DataFrame on its cluster: a column of raw lines (``spark.read.text``: ``value``) or structured
    rows (``spark.read.json``/``parquet``). The reduction and the classification run on the executors.

    ``per_event``: a path Spark writes each event's cause to, for joining back (``s3://…/causes.parquet``, a
    ``.csv`` path for CSV; Parquet otherwise): the columns ``triage(per_event=…)`` writes, as Spark writes (a
    directory of parts). An existing path is refused, never replaced."""
    from ._spark import triage_dataframe

    return triage_dataframe(df, column=column, fields=_field_map(fields), per_event=per_event)


def _field_map(fields: FieldMap | list[str] | dict[str, str] | None) -> FieldMap:
    """A FieldMap, from one or from ``NAME=PATH`` specs and preset names, or a ``{name: path}`` dict."""
    if isinstance(fields, FieldMap):
        return fields
    if isinstance(fields, dict):
        return FieldMap.parse([f"{k}={v}" for k, v in fields.items()])
    return FieldMap.parse(list(fields or []))


class _CallableModule(types.ModuleType):
    """``why403_kit.triage(...)`` calls :func:`triage`, while ``why403_kit.triage.TriageReport`` stays reachable.

    A module cannot be called, and a function in its place (``from .triage import triage`` in the parent package)
    would hide the package's other names, so this package's module object takes a class that can be called: the
    documented way to customise a module (``module.__class__ = ...``, Python 3.5+).
    """

    def __call__(self, source: Any, **kwargs: Any) -> TriageReport:
        return triage(source, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = [
    "ENGINE_NAMES", "PRESETS", "READERS", "SCHEMA_VERSION", "CauseGroup", "Event", "FieldMap", "Meter", "Meters", "ReadContext", "Reader",
    "TriageReport", "mask_text", "signature", "triage", "triage_files", "triage_spark",
]
