"""The Spark engine in local mode (a real JVM, real executors running the kit's classifier through mapInPandas):
its counts and fields equal the local engines' on the same generated log. One SparkSession for the whole module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from why403_kit.triage import TriageReport, sample, triage, triage_spark

pytestmark = pytest.mark.slow


def _view(report: TriageReport) -> list[tuple[Any, ...]]:
    return [(g.cause, g.count, g.first_seen, g.last_seen, g.hosts, g.statuses, g.models, g.keys, g.key_hashes, g.timeline)
            for g in report.groups]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    if shutil.which("java") is None:
        pytest.fail("Java is missing: .ci/run installs openjdk-17-jre-headless; install it to run the Spark test")
    import os
    import sys

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("why403-test").config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false").config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", "4").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spark") / "gateway.jsonl"
    sample.write(path, 3_000, seed=99)
    return path


def test_spark_engine_counts_equal_the_local_engines(spark: Any, log: Path) -> None:
    local = triage(log, engine="python")
    on_spark = triage(log, engine="spark")
    assert on_spark.engine == "spark" and (on_spark.records, on_spark.ok, on_spark.refusals) == (local.records, local.ok, local.refusals)
    assert _view(on_spark) == _view(local) == _view(triage(log, engine="duckdb"))


def test_triage_spark_takes_a_dataframe_of_lines_or_of_rows(spark: Any, log: Path, tmp_path: Path) -> None:
    local = triage(log, engine="python")
    lines = spark.read.text(str(log))  # one string column: each value is a raw line
    assert [(g.cause, g.count) for g in triage_spark(lines).groups] == [(g.cause, g.count) for g in local.groups]
    rows = spark.read.json(str(log))  # structured rows: turned back into JSON objects on the executors
    rows.write.parquet(str(tmp_path / "lake"))
    from_lake = triage_spark(spark.read.parquet(str(tmp_path / "lake")))
    assert {g.cause: g.count for g in from_lake.groups} == {g.cause: g.count for g in local.groups}
    assert from_lake.ok == local.ok and [g.first_seen for g in from_lake.groups] == [g.first_seen for g in local.groups]


def _per_event_rows(path: str) -> list[tuple[Any, ...]]:
    import duckdb

    # a CSV's text as written (no type guessing), so both formats compare alike
    source = f"read_csv('{path}', header = true, all_varchar = true)" if path.endswith(".csv") else f"read_parquet('{path}')"
    with duckdb.connect() as con:
        return sorted(con.execute("SELECT time, host, CAST(status AS INTEGER), model, key_hash, request_id, signature, cause "
                                  f"FROM {source}").fetchall(), key=repr)


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_per_event_on_spark_equals_the_local_engines(spark: Any, log: Path, tmp_path: Path, suffix: str) -> None:
    # Each event's cause, for joining back: the same rows (time, host, status, model, key hash, request id, signature,
    # cause) whichever engine wrote them; the command line streams Spark's into its one local file.
    # (A signature's id is the masked whole line on DuckDB and Spark, the masked event on the streaming engine.)
    python, duck, on_spark = (tmp_path / f"{engine}.{suffix}" for engine in ("python", "duckdb", "spark"))
    report = triage(log, engine="python", per_event=python)
    triage(log, engine="duckdb", per_event=duck)
    assert triage(log, engine="spark", per_event=on_spark).refusals == report.refusals
    rows = _per_event_rows(str(on_spark))
    assert rows == _per_event_rows(str(duck)) and len(rows) == report.events
    assert [r[:6] + r[7:] for r in rows] == [r[:6] + r[7:] for r in _per_event_rows(str(python))]
    assert len({r[5] for r in rows}) == len(rows) and all(r[0].endswith("Z") for r in rows)  # one row per event, times in UTC


def test_triage_spark_writes_per_event_where_the_lake_is(spark: Any, log: Path, tmp_path: Path) -> None:
    # On a cluster the file is Spark's to write (a directory of parts at an s3://, dbfs:/ or hdfs:// path), never
    # something collected on the driver; an existing path is refused, not replaced.
    local = tmp_path / "duckdb.parquet"
    triage(log, engine="duckdb", per_event=local)
    lake = tmp_path / "causes.parquet"
    report = triage_spark(spark.read.text(str(log)), per_event=str(lake))
    assert lake.is_dir() and (lake / "_SUCCESS").exists()
    assert _per_event_rows(f"{lake}/*.parquet") == _per_event_rows(str(local)) and report.refusals > 0
    from why403_kit.errors import InputError

    with pytest.raises(InputError, match="cannot write there"):
        triage_spark(spark.read.text(str(log)), per_event=str(lake))
    assert _per_event_rows(f"{lake}/*.parquet") == _per_event_rows(str(local))
