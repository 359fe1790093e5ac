"""Every notebook runs headless against the lab, and neither the committed nor the executed ones hold a key.

Execution stores widget state (nbclient's default, and what nbmake and papermill do), because
that is where a Password value would leak.
"""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import CANARY

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def test_the_six_notebooks_exist() -> None:
    assert NAMES == ["01_diagnose.ipynb", "02_runbook.ipynb", "03_faq.ipynb", "04_training_lab.ipynb", "05_rate_limits.ipynb",
                     "06_triage.ipynb"]


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_is_clean(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert "widgets" not in nb.metadata and "papermill" not in nb.metadata
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: cell {cell.id} has outputs"
        assert set(cell.metadata) <= {"tags"}, f"{name}: cell {cell.id} carries metadata {sorted(cell.metadata)}"
    assert CANARY not in (NOTEBOOKS / name).read_text()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the notebooks; the kernel sees the canary as its key and is told to use the lab."""
    for name in NAMES:
        shutil.copy(NOTEBOOKS / name, tmp_path / name)
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    monkeypatch.setenv("WHY403_LAB", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return tmp_path


def execute(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)
    return nb


def outputs_text(nb: nbformat.NotebookNode) -> str:
    return "\n".join(json.dumps(o) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def assert_no_canary(path: Path) -> None:
    text = path.read_text()
    assert CANARY not in text
    assert CANARY[8:30] not in text  # not even a fragment of the secret part


@pytest.mark.parametrize("name", [n for n in NAMES if n != "01_diagnose.ipynb"])
def test_notebook_runs_headless_without_leaking(workdir: Path, name: str) -> None:
    nb = execute(workdir / name)
    assert not any(o.output_type == "error" for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert_no_canary(workdir / name)


def test_diagnose_notebook_with_a_typed_key_saves_no_key(workdir: Path) -> None:
    path = workdir / "01_diagnose.ipynb"
    nb = nbformat.read(path, as_version=4)
    # What a user does in the panel: untick the lab, point at an endpoint, type the key and press Enter.
    typed = nbformat.v4.new_code_cell(
        "import os\nfrom why403_kit.lab import shared_lab\n"
        "panel.use_lab.value = False\npanel.base_url.value = shared_lab().url('invalid_api_key')\n"
        "panel.key.value = os.environ['OPENAI_API_KEY']")
    nb.cells.insert(2, typed)
    nbformat.write(nb, path)
    nb = execute(path)
    assert "widgets" in nb.metadata  # state was stored, as nbclient/nbmake/papermill do by default
    assert "invalid_api_key" in outputs_text(nb)
    assert_no_canary(path)


def test_runbook_verdict_box_fills_in(workdir: Path) -> None:
    nb = nbformat.read(workdir / "02_runbook.ipynb", as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = params.source.replace('lab_scenario = "edge_block"', 'lab_scenario = "proxy_block"')
    nbformat.write(nb, workdir / "02_runbook.ipynb")
    nb = execute(workdir / "02_runbook.ipynb")
    box = next(c for c in nb.cells if "verdict_box = display" in c.source)
    html = box.outputs[0]["data"]["text/html"]
    assert "<code class=\"why403-id\">proxy_block</code>" in html and "Fix:" in html
    text = outputs_text(nb)
    import why403_kit.knowledge as kb

    for step in kb.load().steps:
        assert step.title in text


def test_papermill_runs_the_runbook_for_a_target_and_a_saved_report(workdir: Path, tmp_path: Path) -> None:
    import papermill

    out = workdir / "runbook-out.ipynb"
    papermill.execute_notebook(str(workdir / "02_runbook.ipynb"), str(out), parameters={"lab_scenario": "quota_exceeded"},
                               kernel_name="python3", cwd=str(workdir), progress_bar=False, store_widget_state=False)
    nb = nbformat.read(out, as_version=4)
    assert nb.metadata.papermill.parameters == {"lab_scenario": "quota_exceeded"}  # no secret is ever a parameter
    assert "why403-id\\\">quota_exceeded</code>" in outputs_text(nb)  # outputs_text is JSON: quotes escaped
    assert_no_canary(out)

    # Replay: a report saved by `why403 diagnose --out` renders without probing anything.
    from why403_kit.runner import step_ids
    from why403_kit.ui import Runbook, target_for

    rb = Runbook(target_for(use_lab=True, lab_scenario="ip_not_allowed"))
    for step in step_ids():
        rb.run_step(step)
    saved = tmp_path / "report.json"
    saved.write_text(json.dumps(rb.report.to_dict()))
    replay = workdir / "replay-out.ipynb"
    papermill.execute_notebook(str(workdir / "02_runbook.ipynb"), str(replay), parameters={"report_path": str(saved), "use_lab": False},
                               kernel_name="python3", cwd=str(workdir), progress_bar=False)
    assert "why403-id\\\">ip_not_allowed</code>" in outputs_text(nbformat.read(replay, as_version=4))


def test_training_notebook_run_all_answers_nothing(workdir: Path) -> None:
    """What a trainer sees after Run All: mystery #1 and its evidence under an opaque URL, no answer, no score."""
    from tests.test_classroom import named_causes, provider_says
    from why403_kit.lab import deal

    nb = execute(workdir / "04_training_lab.ipynb")
    assert not any(o.output_type == "error" for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    seed = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    first = deal(int(seed.source.split("class_seed =")[1].split()[0]), 1)[0]
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    shown = [m["state"]["value"] for m in state.values() if m["model_name"] == "HTMLModel"]
    shown += [m["state"].get("description", "") for m in state.values() if m["model_name"] == "ButtonModel"]
    text = "\n".join(shown) + outputs_text(nb)
    assert "Mystery #1" in text and "/t/" in text and "/s/" not in text
    assert "Evidence for mystery #1" in text and "<table" in text
    assert named_causes(text) <= provider_says(first), first  # the cause is nowhere, unless the lab's own answer says it
    for giveaway in ("Right", "Not quite", "Score", "points"):
        assert giveaway not in text


def test_triage_notebook_shows_the_table_and_the_plot(workdir: Path) -> None:
    nb = execute(workdir / "06_triage.ipynb")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    tables = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert tables and "invalid_api_key" in tables[0] and "signatures" in tables[0]  # the per-cause table
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the causes-over-time plot
    assert any(" refusal" in o.get("text", "") and "engine duckdb" in o.get("text", "") for o in outputs)


def test_triage_notebook_shows_markup_in_a_log_as_text(workdir: Path, tmp_path: Path) -> None:
    """A refusal's text is data: a WAF page or a hostile log line must show as text in the 'what to do' table, not be
    rendered (pandas' Styler does not escape by default: the page's markup broke the table, and a <script> would run)."""
    import papermill

    log = tmp_path / "gateway.jsonl"
    page = ('<html><head><title>Attention Required! | Cloudflare</title></head><body><h1 id="walk-h1">Sorry, you have been '
            'blocked</h1><script>window.walk403 = 1</script><table><tr><td>Ray ID: 8f00aa00bb00cc00</td></tr></table></body></html>')
    rows = [{"ts": f"2026-03-02T00:0{i}:00Z", "status": 403, "url": "https://api.openai.com/v1/chat/completions", "body": page}
            for i in range(3)]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(str(workdir / "06_triage.ipynb"), str(out), parameters={"log_path": str(log)},
                               kernel_name="python3", cwd=str(workdir), progress_bar=False)
    nb = nbformat.read(out, as_version=4)
    html_outputs = [o.data["text/html"] for c in nb.cells if c.cell_type == "code" for o in c.outputs
                    if "text/html" in o.get("data", {})]
    fixes = next(h for h in html_outputs if "edge_block" in h and "Do not retry" in h)  # the example-and-fix table
    assert "&lt;h1" in fixes and "&lt;script&gt;" in fixes, fixes[:2000]
    assert "<h1" not in fixes and "<script" not in fixes and 'id="walk-h1"' not in fixes


def test_the_runbook_says_each_step_once() -> None:
    """Each step of 02_runbook opened with a copy of steps.toml's `explains`, then said the same again at length ('429
    means two different things…', then '429 has two meanings…'): a reader got every idea twice, and the copy of the
    knowledge base could drift from it. The notebook's own paragraph is enough."""
    from why403_kit import knowledge

    nb = nbformat.read(NOTEBOOKS / "02_runbook.ipynb", as_version=4)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for step in knowledge.load().steps:
        assert f"## {step.title}" in prose, step.title
        assert step.explains not in prose, step.id


class _Table(HTMLParser):
    """The header labels and the cells (as text, markup unescaped once) of an HTML table."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._in: str = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        if tag in ("th", "td") and self.rows:
            self._in = tag
            self.rows[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td"):
            self._in = ""

    def handle_data(self, data: str) -> None:
        if self._in:
            self.rows[-1][-1] += data

    def columns(self) -> dict[str, list[str]]:
        """The columns by label: the first row is the header (an index, if any, drawn as the first cell of each row)."""
        head, *rows = [r for r in self.rows if r] or [[]]
        return {name.strip(): [r[i].strip() for r in rows if i < len(r)] for i, name in enumerate(head)}


def _table(html_text: str) -> dict[str, list[str]]:
    parser = _Table()
    parser.feed(html_text)
    return parser.columns()


def _html_outputs(nb: nbformat.NotebookNode) -> list[str]:
    return [o.data["text/html"] for c in nb.cells if c.cell_type == "code" for o in c.outputs if "text/html" in o.get("data", {})]


def test_diagnose_notebook_shows_each_findings_evidence_whole(workdir: Path) -> None:
    """pandas' own HTML cut every cell at 50 characters ('...' in the middle of the evidence)."""
    nb = execute(workdir / "01_diagnose.ipynb")
    table = next(_table(h) for h in _html_outputs(nb) if "<table" in h and "evidence" in _table(h))
    evidence = [e for e in table["evidence"] if e]
    assert evidence and max(map(len, evidence)) > 60, evidence
    assert not any(e.endswith(("...", "…")) for e in evidence), evidence
    assert any("refused as invalid before any inference, so the key may call chat/completions" in e for e in evidence), evidence


def test_triage_notebook_tables_show_shares_short_times_and_the_logs_text_as_text(workdir: Path, tmp_path: Path) -> None:
    import papermill

    log = tmp_path / "gateway.jsonl"
    rows = [{"ts": f"2026-03-02T0{i}:15:42Z", "status": 401, "url": "https://api.openai.com/v1/chat/completions", "model": "<b>gpt</b>",
             "body": json.dumps({"error": {"message": "Incorrect API key provided: sk-proj-****abcd. You can find your API key at "
                                           "https://platform.openai.com/account/api-keys.", "type": "invalid_request_error",
                                           "code": "invalid_api_key"}})} for i in range(7)]
    rows.append({"ts": "2026-03-02T09:00:00Z", "status": 429, "url": "https://api.openai.com/v1/chat/completions", "model": "gpt-4o",
                 "body": json.dumps({"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                                               "type": "insufficient_quota", "code": "insufficient_quota"}})})
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(str(workdir / "06_triage.ipynb"), str(out), parameters={"log_path": str(log)},
                               kernel_name="python3", cwd=str(workdir), progress_bar=False)
    outputs = _html_outputs(nbformat.read(out, as_version=4))
    per_cause = next(h for h in outputs if "signatures" in _table(h))
    table = _table(per_cause)
    assert sorted(table["share"]) == ["12.5%", "87.5%"], table["share"]
    assert table["first_seen"][table["cause"].index("invalid_api_key")] == "2026-03-02 00:15", table["first_seen"]
    assert table["last_seen"][table["cause"].index("invalid_api_key")] == "2026-03-02 06:15", table["last_seen"]
    assert "<b>gpt</b>" in table["models"] and "&lt;b&gt;gpt&lt;/b&gt;" in per_cause and "<b>gpt" not in per_cause
    fixes = _table(next(h for h in outputs if "example" in _table(h)))
    example = fixes["example"][fixes["cause"].index("invalid_api_key")]
    assert "You can find your API key at" in example and not example.endswith(("...", "…")), example
