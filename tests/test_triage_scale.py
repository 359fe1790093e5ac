"""Triage at scale: signatures count like per-event classification, the engines agree, every input shape and
compression is read, per-event output joins back, the plot and the JSON shape hold, progress shows on a terminal."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest

import why403_kit
import why403_kit.triage
from why403_kit.classify import classify
from why403_kit.errors import InputError
from why403_kit.render import render, triage_plot
from why403_kit.triage import FieldMap, TriageReport, sample, triage, triage_files
from why403_kit.triage._readers import event_from_line

from ._terminal import on_terminal
from .conftest import CANARY

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str, stdin: str | bytes | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    data = stdin.decode("latin-1") if isinstance(stdin, bytes) else stdin
    return subprocess.run([sys.executable, "-m", "why403_kit", "triage", *args], input=data, capture_output=True, text=True,
                          timeout=300, cwd=ROOT, check=False, env={**os.environ, **(env or {})})


def _per_event_counts(path: Path) -> tuple[Counter[str], int]:
    """Classify every line one by one (no signatures): the reference the signature counts must equal."""
    counts: Counter[str] = Counter()
    skipped = 0
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            _, ev = event_from_line(line, f"line {n}")
            if ev is None or not (ev.status or ev.body or ev.exception):
                skipped += 1
                continue
            cause = classify(ev.status, ev.headers, ev.body, ev.exception or None).cause
            if ev.status is None and cause == "unknown":
                skipped += 1
            else:
                counts[cause] += 1
    return counts, skipped


def _counts(report: TriageReport) -> Counter[str]:
    return Counter({g.cause: g.count for g in report.groups}) + Counter({"ok": report.ok})


def _view(report: TriageReport) -> list[tuple[Any, ...]]:
    return [(g.cause, g.count, g.first_seen, g.last_seen, g.hosts, g.statuses, g.models, g.keys, g.key_hashes, g.timeline)
            for g in report.groups]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gen") / "gateway.jsonl"
    sample.write(path, 6_000, seed=12)
    return path


def test_signature_counts_equal_classifying_every_event(generated: Path) -> None:
    expected, skipped = _per_event_counts(generated)
    assert sum(expected.values()) + skipped == 6_000 and len(expected) >= 12  # a varied log, not one cause
    for engine in ("python", "duckdb"):
        report = triage(generated, engine=engine)
        assert _counts(report) == expected, engine
        assert report.skipped == skipped and report.records == 6_000
        assert report.signatures < 600  # 6,000 events, each with its own id, time, host and key, reduce to a few hundred


def test_python_and_duckdb_engines_agree_on_every_field(generated: Path) -> None:
    py, db = triage(generated, engine="python"), triage(generated, engine="duckdb")
    assert (py.engine, db.engine) == ("python", "duckdb")
    assert _view(py) == _view(db)
    assert triage(generated).engine == "duckdb"  # auto picks DuckDB for a JSON Lines file
    top = py.groups[0]
    assert set(top.hosts) <= set(sample.HOSTS) and len(top.hosts) > 1 and set(top.models) <= set(sample.MODELS)
    assert top.keys > 10 and all(len(h) == 12 and int(h, 16) >= 0 for h in top.key_hashes)
    assert top.timeline and sum(n for _, n in top.timeline) == top.count and py.bucket == "hour"


def test_masking_keeps_what_decides_a_cause() -> None:
    base = {"status": 401, "body": json.dumps({"error": {"message": "Incorrect API key provided: sk-proj-****ab12 (request id: 2024072510422562564674066306279)",
                                                         "code": "invalid_api_key"}})}
    lines = []
    for i in range(50):  # ids, key hints, times differ: one signature
        event = dict(base, ts=f"2025-01-0{1 + i % 9}T10:{i:02d}:00Z", request_id=f"req_{i:030x}")
        event["body"] = event["body"].replace("ab12", f"{i:04x}").replace("2024072510422562564674066306279", str(10**20 + i))
        lines.append(json.dumps(event))
    lines.append(json.dumps(dict(base, status=429)))  # the status differs: another signature
    lines.append(json.dumps({"status": 401, "body": base["body"].replace("invalid_api_key", "invalid_organization")}))  # the code differs
    for engine in ("python", "duckdb"):
        src = Path(os.environ.get("TMPDIR", "/tmp")) / f"why403-mask-{os.getpid()}.jsonl"
        src.write_text("\n".join(lines) + "\n")
        try:
            report = triage(src, engine=engine)
        finally:
            src.unlink()
        assert report.signatures == 3, engine
        assert sum(g.count for g in report.groups) == 52


def test_compressed_files_globs_and_directories(tmp_path: Path, generated: Path) -> None:
    import zstandard

    data = generated.read_bytes()
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.jsonl.gz").write_bytes(gzip.compress(data))
    (tmp_path / "logs" / "b.log").write_bytes(zstandard.ZstdCompressor().compress(data))  # zstd, whatever the name
    (tmp_path / "logs" / "c.har").write_text(json.dumps({"log": {"entries": [
        {"startedDateTime": "2026-03-03T00:00:00Z", "request": {"url": "https://api.openai.com/v1/models"},
         "response": {"status": 401, "content": {"text": '{"error": {"code": "invalid_api_key"}}'}}}]}}))
    plain = triage(generated, engine="python")
    for engine in ("python", "auto"):
        both = triage(str(tmp_path / "logs" / "[ab]*"), engine=engine)
        assert both.refusals == 2 * plain.refusals and both.ok == 2 * plain.ok and both.records == 12_000
    whole = triage(tmp_path / "logs")  # a directory: every file, each through the engine that suits it
    assert whole.refusals == 2 * plain.refusals + 1 and "har" in whole.format and whole.engine == "duckdb+python"
    proc = subprocess.run([sys.executable, "-m", "why403_kit", "triage", "-", "--format", "json"], input=gzip.compress(data),
                          capture_output=True, timeout=300, cwd=ROOT, check=False)
    assert proc.returncode == 1 and json.loads(proc.stdout)["refusals"] == plain.refusals  # gzip through a pipe
    (tmp_path / "broken.gz").write_bytes(gzip.compress(data)[:5000])
    broken = _cli(str(tmp_path / "broken.gz"), "--engine", "python")
    assert broken.returncode in (1, 2) and "Traceback" not in broken.stderr
    assert _cli(str(tmp_path / "nothing-*.jsonl")).returncode == 2


def test_csv_and_parquet_through_both_engines(tmp_path: Path, generated: Path) -> None:
    con = duckdb.connect()
    src = str(generated).replace("'", "''")
    con.execute(f"COPY (SELECT ts, request_id, url, model, key_hint, status, CAST(headers AS VARCHAR) AS headers, body, message, exception "
                f"FROM read_json('{src}', format='newline_delimited', columns={{ts:'VARCHAR', request_id:'VARCHAR', url:'VARCHAR', "
                f"model:'VARCHAR', key_hint:'VARCHAR', status:'INTEGER', headers:'JSON', body:'VARCHAR', message:'VARCHAR', exception:'VARCHAR'}})) "
                f"TO '{tmp_path / 'log.parquet'}' (FORMAT parquet)")
    con.execute(f"COPY (SELECT * FROM read_parquet('{tmp_path / 'log.parquet'}')) TO '{tmp_path / 'log.csv'}' (FORMAT csv, HEADER true)")
    con.close()
    reference = triage(generated, engine="python")
    for name in ("log.parquet", "log.csv"):
        py, db = triage(tmp_path / name, engine="python"), triage(tmp_path / name, engine="duckdb")
        assert _counts(py) == _counts(db) == _counts(reference), name
        assert [g.hosts for g in py.groups] == [g.hosts for g in db.groups]


def test_field_maps_for_gateway_shapes(tmp_path: Path) -> None:
    rows = [{"request_id": f"r{i}", "startTime": f"2026-01-01T00:00:{i:02d}Z", "api_base": "https://myco.openai.azure.com", "model": "gpt-4o",
             "api_key": f"hashed{i % 3}", "status": "failure", "metadata": {"error_information": {
                 "error_code": "429", "error_class": "RateLimitError",
                 "error_message": "litellm.RateLimitError: You exceeded your current quota, please check your plan and billing details."}}}
            for i in range(30)]
    rows += [{"request_id": "ok1", "status": "success", "metadata": {}}]
    path = tmp_path / "spend.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    for engine in ("python", "duckdb"):
        report = triage(path, engine=engine, fields=["litellm"])
        assert _counts(report) == Counter({"quota_exceeded": 30, "ok": 1}), engine
        g = report.groups[0]
        assert (g.statuses, g.hosts, g.models, g.keys, g.first_seen) == ([429], ["myco.openai.azure.com"], ["gpt-4o"], 3, "2026-01-01T00:00:00Z")
    nested = tmp_path / "nested.jsonl"
    nested.write_text(json.dumps({"at": "2026-02-02T02:02:02Z", "response": {"code_http": 403, "payload": {"error": {"code": "unsupported_country_region_territory"}}}}) + "\n")
    mapping = tmp_path / "fields.toml"
    mapping.write_text('status = "response.code_http"\nbody = "response.payload"\ntime = "at"\n')
    for fields in (FieldMap.parse(["status=response.code_http", "body=response.payload", "time=at"]), FieldMap.parse(file=mapping)):
        report = triage(nested, fields=fields)
        assert _counts(report) == Counter({"unsupported_region": 1, "ok": 0}) and report.groups[0].first_seen == "2026-02-02T02:02:02Z"
    assert _cli(str(nested), "--field", "status=response.code_http", "--field", "body=response.payload").returncode == 1
    for bad in (["--field", "nonsense"], ["--field", "colour=x"], ["--fields-file", str(tmp_path / "missing.toml")]):
        proc = _cli(str(nested), *bad)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_per_event_output_joins_back(tmp_path: Path, generated: Path, suffix: str) -> None:
    for engine in ("python", "duckdb"):
        out = tmp_path / f"events-{engine}.{suffix}"
        report = triage(generated, engine=engine, per_event=out)
        con = duckdb.connect()
        reader = "read_parquet" if suffix == "parquet" else "read_csv"
        rows = con.execute(f"SELECT cause, count(*), count(DISTINCT request_id) FROM {reader}('{out}') GROUP BY cause").fetchall()
        joined = con.execute(f"SELECT count(*) FROM {reader}('{out}') e JOIN read_json('{generated}', format='newline_delimited', "
                             f"columns={{request_id: 'VARCHAR', ts: 'VARCHAR'}}) g ON e.request_id = g.request_id").fetchall()[0][0]
        con.close()
        by_cause = {cause: (n, ids) for cause, n, ids in rows}
        assert {c: n for c, (n, _) in by_cause.items()} == dict(_counts(report)), engine
        assert all(n == ids for n, ids in by_cause.values())  # one row per event, each its own request id
        assert joined == report.events
        with duckdb.connect() as con:  # every row names the file it came from, as the command line named it
            assert con.execute(f"SELECT DISTINCT source FROM {reader}('{out}')").fetchall() == [(str(generated),)], engine


def test_plot_json_shape_and_callable_package(tmp_path: Path, generated: Path) -> None:
    report = triage(generated)
    svg = tmp_path / "causes.svg"
    triage_plot(report, svg)
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and report.groups[0].cause in text and "refusals per hour" in text
    png = tmp_path / "causes.png"
    proc = _cli(str(generated), "--plot", str(png), "--format", "json")
    assert proc.returncode == 1 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(proc.stdout)
    assert list(data)[:2] == ["schema_version", "kind"] and data["schema_version"] == 1
    assert set(data) >= {"groups", "events", "refusals", "ok", "skipped", "skipped_reasons", "format", "engine", "sources", "records",
                         "signatures", "truncated", "notes", "bucket"}
    assert set(data["groups"][0]) >= {"cause", "count", "share", "first_seen", "last_seen", "hosts", "statuses", "models", "keys",
                                      "key_hashes", "example", "fix", "timeline"}
    assert why403_kit.triage.TriageReport is TriageReport  # the package, reachable by attribute
    assert why403_kit.triage(str(generated)).refusals == report.refusals  # and still callable
    from why403_kit import triage as imported

    assert imported(str(generated), engine="python").refusals == report.refusals


def test_progress_on_a_terminal_only(generated: Path, tmp_path: Path) -> None:
    env = {**os.environ, "WHY403_PROGRESS_DELAY": "0", "COLUMNS": "100"}
    for engine in ("python", "duckdb"):  # stderr a terminal of no reported size (like some CI consoles), stdout piped
        code, out, seen = on_terminal(["triage", str(generated), "--engine", engine, "--format", "json"], stdout_tty=False,
                                      stderr_tty=True, env=env, cwd=ROOT)
        assert code == 1 and json.loads(out)["refusals"] > 0, engine  # stdout holds only the report
        assert "triage" in seen and ("%" in seen or "B/s" in seen or "it/s" in seen), (engine, seen[-300:])
    quiet = _cli(str(generated), "--engine", "python", env={"WHY403_PROGRESS_DELAY": "0"})
    assert quiet.stderr == ""  # not a terminal: no bar


def test_cli_start_up_stays_light() -> None:
    # (zstandard is left out: httpx imports it at start-up whenever it is installed)
    code = ("import sys; from why403_kit import cli; cli.build_parser(); import why403_kit.triage; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'duckdb', 'pyspark', 'tqdm', 'pandas', 'matplotlib', 'pyarrow'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"


def test_cli_options_are_checked_before_reading(tmp_path: Path, generated: Path) -> None:
    for args in (["--per-event", str(tmp_path / "x.txt")], ["--per-event", str(tmp_path / "no" / "x.csv")], ["--max-events", "-1"],
                 ["--plot", str(tmp_path / "x.gif")], ["-", "--engine", "spark"]):
        proc = _cli(str(generated), *args)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, args
    with pytest.raises(InputError):
        triage_files([str(tmp_path / "missing.jsonl")])
    limited = _cli(str(generated), "--max-events", "100", "--format", "json")
    data = json.loads(limited.stdout)
    assert data["truncated"] and data["records"] == 100 and any("--max-events" in n for n in data["notes"])


def test_examples_are_redacted_before_they_are_cut(tmp_path: Path) -> None:
    """A key right before the matched words, in every format: the cut must never leave the key's secret part."""
    key_first = [f"Authorization: Bearer {CANARY} Incorrect API key provided", f"x-api-key: {CANARY[8:40]} Incorrect API key provided",
                 f"{CANARY} Incorrect API key provided: you sent it"]
    lines = []
    for i, text in enumerate(key_first):
        lines.append(f"2025-01-01 00:00:0{i} ERROR status=401 {text}")
        lines.append(json.dumps({"status": 401, "body": f"{text} {'x' * 400}", "headers": {"x-api-key": CANARY}}))
        lines.append(json.dumps({"level": "error", "message": f"openai.AuthenticationError: Error code: 401 - {text}"}))
    log = tmp_path / "keys.log"
    log.write_text("\n".join(lines) + "\n")
    jsonl = tmp_path / "keys.jsonl"
    jsonl.write_text("\n".join(line for line in lines if line.startswith("{")) + "\n")
    har = tmp_path / "keys.har"
    har.write_text(json.dumps({"log": {"entries": [{"request": {"url": f"https://api.openai.com/v1?key={CANARY}",
                                                                "headers": [{"name": "Authorization", "value": f"Bearer {CANARY}"}]},
                                                    "response": {"status": 401, "content": {"text": f"{t} {'y' * 500}"}}} for t in key_first]}}))
    arr = tmp_path / "keys.json"
    arr.write_text(json.dumps([json.loads(line) for line in lines if line.startswith("{")]))
    csv_path = tmp_path / "keys.csv"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_json('{jsonl}', format='newline_delimited', union_by_name=true)) TO '{csv_path}' (FORMAT csv, HEADER true)")
    con.execute(f"COPY (SELECT * FROM read_csv('{csv_path}', all_varchar=true)) TO '{tmp_path / 'keys.parquet'}' (FORMAT parquet)")
    con.close()
    secret = CANARY[len("sk-proj-"):]
    for path in (log, jsonl, har, arr, csv_path, tmp_path / "keys.parquet"):
        for engine in ("python", "duckdb"):
            report = triage(path, engine=engine)
            assert report.refusals >= 3, (path.name, engine)
            outputs = [json.dumps(report.to_dict()), render(report, "markdown"), render(report, "table"), repr(report)]
            for out in outputs:
                for fragment in (secret[i : i + 12] for i in range(0, len(secret) - 12, 4)):
                    assert fragment not in out, (path.name, engine, fragment)
        for fmt in ("table", "json", "markdown"):
            proc = _cli(str(path), "--format", fmt)
            assert proc.returncode == 1 and secret[:16] not in proc.stdout + proc.stderr and secret[-16:] not in proc.stdout
