"""The canary sweep: the canary key through every entry point, and every artefact the kit makes checked for it.

Artefact kinds: stdout and stderr of each CLI command in each ``--format``; ``report.json`` and both bundle files;
log records at DEBUG; exception messages and tracebacks; reprs and the library's renderings; an executed notebook with
its widget state (the panel, the key typed into its Password field, the key also in the environment) and the bundle
the panel wrote; exported HTML (the runbook of a saved canary run, the FAQ, the executed panel notebook); and triage
output in every format of a log full of keys. The servers echo the key back in every form (``tests/_hostile.py``);
``tests/_leaks.py`` looks for it the way an attacker would. Zero hits, in every one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import shutil
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from why403_kit import InputError, Report, Secret, Target, diagnose, render, support_bundle
from why403_kit.render import findings_html, verdict_html

from ._hostile import HostileServer, echo_forms
from ._inproc import run_cli
from ._leaks import leaks
from .conftest import CANARY

ROOT = Path(__file__).resolve().parent.parent
AZURE_KEY = secrets.token_hex(16)  # 32 hex digits, like an Azure key: no pattern knows it, only the live registry
AZURE = {"provider": "azure", "deployment": "gpt4o", "api_version": "2024-10-21"}


def assert_clean(artefacts: dict[str, str | bytes], *keys: str) -> None:
    """No artefact holds any of ``keys`` (default: the canary) in any form the leak detector knows."""
    hits = {name: found for name, text in artefacts.items() for key in (keys or (CANARY,)) if (found := leaks(text, key))}
    assert not hits, f"{len(hits)} artefact(s) leak: " + "; ".join(f"{n}: {h[:2]}" for n, h in list(hits.items())[:5])


@pytest.fixture()
def key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)


@pytest.fixture()
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "why403_kit"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield caplog


def _files(out: Path) -> dict[str, str]:
    return {f"file {p.name}": p.read_text(encoding="utf-8") for p in sorted(out.iterdir()) if p.is_file()}


# ---- the CLI ---------------------------------------------------------------------------------------------------------
CASES = [("echo", "openai"), ("echo_ok", "openai"), ("echo_html", "openai"), ("echo", "azure"), ("echo_html", "azure")]


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
@pytest.mark.parametrize(("behaviour", "provider"), CASES)
def test_diagnose_prints_writes_and_logs_no_key(hostile: HostileServer, tmp_path: Path, key_env: None, debug_logs: pytest.LogCaptureFixture,
                                                fmt: str, behaviour: str, provider: str) -> None:
    args = ["diagnose", "--base-url", hostile.url(behaviour), "--format", fmt, "--timeout", "5", "--out", str(tmp_path)]
    if provider == "azure":
        args += ["--provider", "azure", "--api-key-env", "AZURE_OPENAI_API_KEY", "--deployment", "gpt4o", "--api-version", "2024-10-21"]
    before = len(hostile.received)
    code, out, err = run_cli(args)
    assert code == 1, err[-2000:]
    key = AZURE_KEY if provider == "azure" else CANARY
    assert any(r.credential == key for r in hostile.received[before:])  # the server got the key and echoed it back
    artefacts: dict[str, str | bytes] = {"stdout": out, "stderr": err, "logs at DEBUG": debug_logs.text, **_files(tmp_path)}
    assert set(artefacts) >= {"file report.json", "file support-bundle.json", "file support-bundle.md"}
    assert "receive_response_headers" in debug_logs.text  # the raw headers were logged, and masked
    if fmt == "json":
        json.loads(out)
    assert_clean(artefacts, CANARY, AZURE_KEY)


def test_classify_prints_no_key(key_env: None) -> None:
    forms = echo_forms(CANARY)
    answer = {"status": 401, "headers": {**{f"x-echo-{k}": v for k, v in forms.items()}, CANARY.lower(): "1", "authorization": f"Bearer {CANARY}"},
              "body": json.dumps({"error": {"message": f"Incorrect API key provided: {CANARY}", "code": "invalid_api_key"}, "echo": forms}),
              "exception": f"openai.AuthenticationError: Error code: 401 - {{'error': {{'message': 'Incorrect API key provided: {CANARY}'}}}}"}
    artefacts: dict[str, str | bytes] = {}
    for name, stdin in (("one", json.dumps(answer)), ("a list", json.dumps([answer, answer])), ("bad status", json.dumps({**answer, "status": CANARY})),
                        ("not JSON", f"Authorization: Bearer {CANARY}"), ("nested", "[" * 5000 + json.dumps(CANARY))):
        code, out, err = run_cli(["classify"], stdin)
        assert code in (1, 2), (name, err)
        artefacts |= {f"{name}: stdout": out, f"{name}: stderr": err}
    assert_clean(artefacts)


def _log_full_of_keys(tmp_path: Path) -> Path:
    forms = echo_forms(CANARY)
    lines = [f"2025-05-01T10:00:0{i}Z ERROR status=401 Authorization: Bearer {CANARY}{' ' * 26} Incorrect API key provided" for i in range(3)]
    lines += [json.dumps({"time": "2025-05-01T10:01:00Z", "status": 401, "headers": {"api-key": CANARY, f"x-echo-{k}": v},
                          "body": {"error": {"message": f"Incorrect API key provided: {v}", "code": "invalid_api_key"}}}) for k, v in forms.items()]
    lines += [f"2025-05-01 10:02:00 ERROR openai.AuthenticationError: Error code: 401 - {{'error': {{'message': 'Incorrect API key provided: {CANARY}', "
              "'type': 'invalid_request_error', 'code': 'invalid_api_key'}}",
              f"2025-05-01 10:03:00 WARNING GET https://api.openai.com/v1/models?api_key={CANARY} -> 403 <title>Access denied for {CANARY}</title>"]
    path = tmp_path / "app.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_triage_of_a_log_full_of_keys_prints_none(tmp_path: Path, key_env: None, fmt: str) -> None:
    code, out, err = run_cli(["triage", str(_log_full_of_keys(tmp_path)), "--format", fmt])
    assert code == 1 and "invalid_api_key" in out, err[-2000:]
    assert_clean({"stdout": out, "stderr": err})


def test_bad_input_holding_the_key_is_refused_without_it(tmp_path: Path, key_env: None) -> None:
    artefacts: dict[str, str | bytes] = {}
    for args in (["diagnose", "--base-url", f"https://127.0.0.1:9/v1?api_key={CANARY}\r\n"], ["diagnose", "--base-url", f"http://svc:{CANARY}@[::1/v1"],
                 ["diagnose", "--allowlist", CANARY], ["diagnose", "--model", f"{CANARY}\t"], ["diagnose", "--org", f"{CANARY}\r"],
                 ["diagnose", "--ca-bundle", f"/nonexistent/{CANARY}.pem"], ["diagnose", "--out", f"{tmp_path}/{CANARY}\n"],
                 ["lab", "--scenario", CANARY], ["export", "runbook", "--report", str(tmp_path / f"{CANARY}.json"), "--out", str(tmp_path)],
                 ["triage", f"/nonexistent/{CANARY}"], [CANARY]):
        code, out, err = run_cli(args)
        assert code == 2 and "Traceback" not in err, (args, err)
        artefacts |= {f"{args[:2]}: stdout": out, f"{args[:2]}: stderr": err}
    assert_clean(artefacts)


# ---- the library: reports, renderings, reprs, exceptions ------------------------------------------------------------------
def _library_artefacts(report: Report) -> dict[str, str | bytes]:
    frame = report.to_frame()
    replayed = Report.from_dict(json.loads(json.dumps(report.to_dict())))
    out: dict[str, str | bytes] = {
        "repr(report)": repr(report), "str(report)": str(report), "repr(target)": repr(report.target), "repr(exchanges)": repr(report.exchanges),
        "repr(findings)": repr(report.findings), "repr(verdict)": repr(report.verdict), "target.to_dict()": json.dumps(report.target.to_dict()),
        "report.to_dict()": json.dumps(report.to_dict()), "support_bundle()": json.dumps(support_bundle(report)),
        "findings_html()": findings_html(report), "verdict_html()": verdict_html(report.verdict),
        "to_frame().to_string()": frame.to_string(), "to_frame().to_html()": frame.to_html(), "repr(replayed)": repr(replayed),
        "repr(secret)": repr(report.target.api_key), "f-string of the secret": f"{report.target.api_key} {report.target.api_key!s:>40}",
    }
    return out | {f"render {fmt}": render(report, fmt) for fmt in ("table", "json", "markdown")}


@pytest.mark.parametrize(("behaviour", "provider"), CASES)
def test_reports_renderings_and_reprs_hold_no_key(hostile: HostileServer, debug_logs: pytest.LogCaptureFixture, behaviour: str, provider: str) -> None:
    key = AZURE_KEY if provider == "azure" else CANARY
    report = diagnose(Target(base_url=hostile.url(behaviour), api_key=Secret(key), timeout=5, **(AZURE if provider == "azure" else {})))
    assert_clean(_library_artefacts(report) | {"logs at DEBUG": debug_logs.text}, CANARY, AZURE_KEY)


def test_exceptions_hold_no_key(hostile: HostileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from why403_kit import Lab, runner
    from why403_kit.errors import StepError

    raised: list[BaseException] = []
    for make in (lambda: Target(allowlist=[CANARY]), lambda: Target(base_url=f"http://svc:{CANARY}@[::1/v1"),
                 lambda: Target(base_url=f"https://h/v1?key={CANARY}\r"), lambda: Target(model=f"{CANARY}\n"), lambda: Target(timeout=CANARY),
                 lambda: Target(ca_bundle=f"/x/{CANARY}"), lambda: Report.from_dict({"findings": [{"status": CANARY}], "verdict": {}}),
                 lambda: Lab(scenario=CANARY)):
        with pytest.raises(InputError) as err:
            make()
        raised.append(err.value)

    async def broken(ctx: Any) -> list[Any]:  # a probe bug whose message holds the key, in every form
        raise RuntimeError(f"a probe bug with {CANARY} in its message, and {json.dumps(echo_forms(CANARY))}")

    monkeypatch.setattr(runner, "REGISTRY", tuple(dataclasses.replace(s, run=broken) if s.id == "headers" else s for s in runner.REGISTRY))
    target = Target(base_url=hostile.url("echo"), api_key=Secret(CANARY), timeout=5)
    with pytest.raises(StepError) as step_error:
        diagnose(target, steps=["headers"], allow_errors=False)
    raised.append(step_error.value)
    kept = diagnose(target, steps=["headers"])  # by default the bug is an error finding, masked
    assert any(f.status == "error" for f in kept.findings)
    artefacts: dict[str, str | bytes] = {f"{type(e).__name__} {i}": f"{e}\n{e!r}\n{e.args}\n" + "".join(traceback.format_exception(e))
                                         for i, e in enumerate(raised)}
    artefacts["error finding"] = json.dumps(kept.to_dict())
    assert_clean(artefacts)


# ---- notebooks, widget state and exported pages ----------------------------------------------------------------------------
def _execute(path: Path) -> Any:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3", store_widget_state=True, resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)
    return nb


def test_the_panel_notebook_its_widget_state_bundle_and_export_hold_no_key(hostile: HostileServer, tmp_path: Path, key_env: None) -> None:
    import nbformat

    from why403_kit.export.exporter import Why403Exporter

    path = tmp_path / "01_diagnose.ipynb"
    shutil.copy(ROOT / "notebooks" / "01_diagnose.ipynb", path)
    nb = nbformat.read(path, as_version=4)
    # What a user does: untick the lab, point at an endpoint (one that echoes the key in every form), type the key, press Enter.
    nb.cells.insert(2, nbformat.v4.new_code_cell(
        f"import os\npanel.use_lab.value = False\npanel.base_url.value = {hostile.url('echo')!r}\n"
        "panel.key.value = os.environ['OPENAI_API_KEY']\n"))
    nb.cells.append(nbformat.v4.new_code_cell(  # what the panel's "Write support bundle" button does, and what it shows
        f"from pathlib import Path\npanel.out_dir = Path({str(tmp_path / 'bundle')!r})\nprint(panel.write_bundle())\n"
        "print(panel.verdict.value)\nprint(panel.findings.value)\nreport"))
    nbformat.write(nb, path)
    before = len(hostile.received)
    executed = _execute(path)
    assert any(r.credential == CANARY for r in hostile.received[before:])  # the typed key went to the echoing server
    assert "widgets" in executed.metadata  # the state was saved, as nbclient, nbmake and papermill do
    text = path.read_text(encoding="utf-8")
    assert "invalid_api_key" in text
    page, _ = Why403Exporter().from_notebook_node(executed, {"metadata": {"name": "panel"}})
    assert_clean({"executed notebook (outputs and widget state)": text, "exported page of it": page, **_files(tmp_path / "bundle")})


def test_exported_runbook_of_a_canary_run_and_the_faq_hold_no_key(hostile: HostileServer, tmp_path: Path, key_env: None) -> None:
    from why403_kit import write_bundle

    report = diagnose(Target(base_url=hostile.url("echo"), api_key=Secret(CANARY), timeout=5))
    saved = write_bundle(report, tmp_path / "run")[0]
    code, out, err = run_cli(["export", "runbook", "--report", str(saved), "--out", str(tmp_path / "site")])
    assert code == 0, err[-2000:]
    code2, out2, err2 = run_cli(["export", "faq", "--out", str(tmp_path / "site")])
    assert code2 == 0, err2[-2000:]
    pages = _files(tmp_path / "site")
    assert set(pages) == {"file runbook.html", "file faq.html"} and "invalid_api_key" in pages["file runbook.html"]
    assert_clean({"stdout": out + out2, "stderr": err + err2, **pages})
