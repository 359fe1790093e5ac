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
