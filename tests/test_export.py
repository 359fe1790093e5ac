"""The HTML exports: self-contained, verdict first with the diagram, every step and finding, and never a key.

The runbook pages come from really executing ``notebooks/02_runbook.ipynb`` (against the lab, and replaying a
saved report through the CLI); the canary notebook is executed by nbclient with widget state *stored*.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from nbconvert.exporters import get_exporter

from tests._terminal import on_terminal
from tests.conftest import CANARY
from why403_kit import Lab, Secret, Target, diagnose, knowledge, write_bundle
from why403_kit.cli import main
from why403_kit.export import Why403Exporter, export_faq, export_runbook, faq_notebook

AZURE_LIKE = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"  # Azure keys are 32 hex digits: no pattern knows them
FETCHING = {"script": ("src",), "link": ("href",), "img": ("src", "srcset"), "source": ("src", "srcset"), "iframe": ("src",),
            "video": ("src", "poster"), "audio": ("src",), "embed": ("src",), "object": ("data",), "image": ("href", "xlink:href"),
            "use": ("href", "xlink:href"), "input": ("src",), "track": ("src",)}


def external_refs(page: str) -> list[str]:
    """Every reference the browser would fetch from somewhere (plain <a href> links are not fetched)."""
    soup = BeautifulSoup(page, "html.parser")
    found = []
    for name, attrs in FETCHING.items():
        for tag in soup.find_all(name):
            for attr in attrs:
                value = str(tag.get(attr) or "").strip()
                if value and not value.startswith(("data:", "#")):
                    found.append(f"<{name} {attr}={value[:80]}>")
    css = " ".join(t.get_text() for t in soup.find_all("style")) + " ".join(str(t["style"]) for t in soup.find_all(style=True))
    found += [f"css {m[:80]}" for m in re.findall(r"url\(\s*['\"]?(?!data:|#)[^)]*\)|@import[^;]*", css)]
    return found


def visible_text(page: str) -> str:
    """The page's text without styles and without the table of contents (so titles count only where they are)."""
    soup = BeautifulSoup(page, "html.parser")
    for tag in soup.find_all(["style", "script", "title", "nav"]):
        tag.decompose()
    return " ".join(soup.get_text(" ").split())


def assert_clean(page: str) -> None:
    assert external_refs(page) == []
    assert "<script" not in page.lower()
    assert "widget-state" not in page and "widget-view" not in page
    assert CANARY not in page and CANARY[8:] not in page and CANARY[-20:] not in page
    assert AZURE_LIKE not in page


@pytest.fixture(scope="module")
def key_in_env() -> Iterator[None]:
    """The canary (and an Azure-shaped key) in the environment every kernel inherits."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_API_KEY", CANARY)
        mp.setenv("AZURE_OPENAI_API_KEY", AZURE_LIKE)
        yield


@pytest.fixture(scope="module")
def faq_page(tmp_path_factory: pytest.TempPathFactory) -> str:
    return export_faq(tmp_path_factory.mktemp("faq")).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def lab_runbook(tmp_path_factory: pytest.TempPathFactory, key_in_env: None, lab: Lab) -> str:
    """The real runbook executed as a user would: the key (the canary) read from $OPENAI_API_KEY and sent to the API."""
    params = {"use_lab": False, "base_url": lab.url("edge_block")}
    return export_runbook(tmp_path_factory.mktemp("runbook"), parameters=params).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def report_runbook(tmp_path_factory: pytest.TempPathFactory, key_in_env: None) -> tuple[str, dict[str, object]]:
    """A diagnosis saved with `diagnose --out`, replayed through `why403 export runbook --report`."""
    with Lab() as lab:
        report = diagnose(Target(base_url=lab.url("quota_exceeded"), api_key=Secret(CANARY), ip_echo_url=lab.ip_echo_url, timeout=5))
        bundle = tmp_path_factory.mktemp("bundle")
        write_bundle(report, bundle)
    out = tmp_path_factory.mktemp("runbook-report")
    proc = subprocess.run([sys.executable, "-m", "why403_kit", "export", "runbook", "--report", str(bundle / "report.json"), "--out", str(out)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    # Nothing on stderr when it is not a terminal: no progress, and no "Kernel is running over TCP without
    # encryption" from the export's kernel (it runs over IPC).
    assert proc.stderr == ""
    path = Path(proc.stdout.strip())
    assert path.parent == out and path.is_file()
    return path.read_text(encoding="utf-8"), json.loads((bundle / "report.json").read_text())


def canary_notebook() -> nbformat.NotebookNode:
    """A notebook that leaks the key every way a notebook can: widget state, stdout, HTML, repr, traceback, prose."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["papermill"] = {"parameters": {"api_key": CANARY}}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Canary\n\nSomeone pasted their key into the prose: " + CANARY),
        nbformat.v4.new_code_cell("import os\nimport ipywidgets as w\nkey = os.environ['OPENAI_API_KEY']\n"
                                  "pw = w.Password(value=key, description='key')\npw", metadata={"tags": ["remove-input"]}),
        nbformat.v4.new_code_cell("w.Text(value=os.environ['AZURE_OPENAI_API_KEY'])", metadata={"tags": ["remove-cell"]}),
        nbformat.v4.new_code_cell("print('key is', key, os.environ['AZURE_OPENAI_API_KEY'])"),
        nbformat.v4.new_code_cell("from IPython.display import HTML\nHTML(f'<p>header Authorization: Bearer {key}</p>')"),
        nbformat.v4.new_code_cell("{'api_key': key, 'note': 'a dict repr'}"),
        nbformat.v4.new_code_cell("raise ValueError(f'refused with {key}')", metadata={"tags": ["raises-exception"]}),
    ]
    return nb


@pytest.fixture(scope="module")
def executed_canary(key_in_env: None) -> nbformat.NotebookNode:
    nb = canary_notebook()
    NotebookClient(nb, timeout=120, startup_timeout=120, kernel_name="python3", store_widget_state=True, allow_errors=True).execute()
    return nb


# --- secrets -----------------------------------------------------------------------------------------------------


def test_canary_notebook_really_leaks_before_export(executed_canary: nbformat.NotebookNode) -> None:
    """Precondition: without the exporter the key is in the widget state and in the plain HTML export."""
    state = json.dumps(executed_canary.metadata["widgets"])
    assert CANARY in state and AZURE_LIKE in state
    plain, _ = HTMLExporter().from_notebook_node(executed_canary)
    assert CANARY in plain and "application/vnd.jupyter.widget-state+json" in plain
    assert external_refs(plain)  # the default export pulls require.js and friends from CDNs


def test_canary_never_reaches_the_page(executed_canary: nbformat.NotebookNode) -> None:
    page, _ = Why403Exporter().from_notebook_node(executed_canary)
    assert_clean(page)
    text = visible_text(page)
    assert "key is" in text and "[REDACTED]" in text  # the outputs are there, only the key is gone
    assert "a dict repr" in text and "ValueError" in text
    assert "Password(" not in page and "os.environ" not in text.split("key is")[0]  # remove-input hid the widget cell's code


def test_nbconvert_cli_to_why403_is_registered_and_clean(executed_canary: nbformat.NotebookNode, tmp_path: Path) -> None:
    assert get_exporter("why403") is Why403Exporter
    src = tmp_path / "executed.ipynb"
    nbformat.write(executed_canary, src)
    jupyter = Path(sys.executable).with_name("jupyter")
    proc = subprocess.run([str(jupyter), "nbconvert", "--to", "why403", str(src), "--output-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "executed.html").read_text(encoding="utf-8")
    assert_clean(page)
    assert CANARY not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_nbconvert_execute_then_export_is_scrubbed_after_execution(key_in_env: None, tmp_path: Path) -> None:
    """`--execute` stores widget state by default; the scrub runs after execution, so it never reaches the page."""
    src = tmp_path / "canary.ipynb"
    nbformat.write(canary_notebook(), src)
    jupyter = Path(sys.executable).with_name("jupyter")
    proc = subprocess.run([str(jupyter), "nbconvert", "--to", "why403", "--execute", str(src), "--output-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "canary.html").read_text(encoding="utf-8")
    assert_clean(page)
    assert "key is" in visible_text(page)  # it did execute


def test_scrub_strips_widgets_and_papermill_metadata(executed_canary: nbformat.NotebookNode) -> None:
    from why403_kit.export import scrub_notebook, secret_values

    nb, _ = scrub_notebook(nbformat.from_dict(json.loads(json.dumps(executed_canary))), secret_values())
    dumped = nbformat.writes(nb)
    assert "widgets" not in nb.metadata and "papermill" not in nb.metadata
    assert CANARY not in dumped and AZURE_LIKE not in dumped and "widget-view" not in dumped


def test_advice_sentences_survive_redaction(faq_page: str) -> None:
    """A placeholder such as "'Authorization: Bearer <key>'" holds no secret: the advice stays readable after redaction."""
    assert "Authorization: Bearer &lt;key&gt;" in faq_page
    assert "api-key: &lt;key&gt;" in faq_page


# --- self-contained pages ------------------------------------------------------------------------------------------


def test_external_resources_are_removed_even_when_a_notebook_asks_for_them() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Hostile\n\n![logo](https://cdn.example.com/logo.png) and a [plain link](https://example.com/)")]
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": (
        '<script src="https://cdn.example.com/x.js"></script><link rel="stylesheet" href="https://cdn.example.com/x.css">'
        '<img src="http://img.example.com/a.png" alt="remote"><div style="background:url(https://img.example.com/b.png)">b</div>'
        '<style>@import url("https://fonts.example.com/f.css"); .x{background:url(//img.example.com/c.png)}</style>'
        '<iframe src="https://example.com/frame"></iframe><svg><image href="https://img.example.com/d.svg"/></svg>')})]
    nb.cells.append(cell)
    plain, _ = HTMLExporter().from_notebook_node(nb)
    assert len(external_refs(plain)) >= 6  # the checker sees them
    page, _ = Why403Exporter().from_notebook_node(nb)
    assert external_refs(page) == []
    assert "<script" not in page
    assert 'href="https://example.com/"' in page  # a plain hyperlink in prose is fine
    assert "[image not embedded: logo]" in page or "[image not embedded: remote]" in page


@pytest.mark.slow
def test_both_documents_are_self_contained(faq_page: str, lab_runbook: str) -> None:
    for page in (faq_page, lab_runbook):
        assert_clean(page)
        assert page.lstrip().lower().startswith("<!doctype html>")
        assert '<meta content="width=device-width, initial-scale=1.0" name="viewport"/>' in page or 'name="viewport"' in page
        assert "@media print" in page and "@media (max-width" in page
        soup = BeautifulSoup(page, "html.parser")
        # responsive tables: every table scrolls inside its own box
        tables = soup.find_all("table")
        assert tables and all("why403-scroll" in (t.parent.get("class") or []) for t in tables)
        # table of contents: links to headings that exist
        nav = soup.find(id="why403-toc")
        assert nav is not None
        targets = [a["href"][1:] for a in nav.find_all("a")]
        assert len(targets) >= 5 and all(soup.find(id=t) is not None for t in targets)


# --- runbook content -------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_lab_runbook_shows_verdict_first_diagram_steps_and_findings(lab_runbook: str, lab: Lab) -> None:
    soup = BeautifulSoup(lab_runbook, "html.parser")
    text = visible_text(lab_runbook)
    cause = knowledge.load().causes["edge_block"]
    # verdict first: the first box of the page body, before the first step
    box = soup.find(class_="why403-verdict-box")
    assert box is not None and cause.title in box.get_text() and "edge_block" in box.get_text()
    steps = knowledge.load().steps
    assert text.index(cause.title) < text.index(steps[0].title)
    for step in steps:
        assert step.title in text
    # the findings: every check the same diagnosis produces, with its request ids
    expected = diagnose(Target(base_url=lab.url("edge_block"), api_key=Secret("sk-proj-LAB-x-000000000000"), timeout=5))
    for f in expected.findings:
        assert f.check in text
    assert "req_lab" in text
    assert f"({len(CANARY)} chars)" in text  # the key really was read and used, and only its hint is shown
    assert_clean(lab_runbook)
    # the diagram, right after the verdict, with the path this diagnosis took highlighted
    svg = soup.find("svg", attrs={"data-why403": "decision-path"})
    assert svg is not None and svg["data-path"] == "403/edge/edge_block"
    assert {g["data-node"] for g in svg.find_all("g", attrs={"data-on": "true"})} == {"symptom:403", "responder:edge", "cause:edge_block"}
    assert str(lab_runbook).index("why403-verdict-box") < str(lab_runbook).index('data-why403="decision-path"')
    # code is hidden by tags: no source, no parameters
    assert "runbook.show(" not in lab_runbook and "lab_scenario =" not in lab_runbook and "emit_report" not in lab_runbook


@pytest.mark.slow
def test_runbook_page_says_what_was_diagnosed_when_and_by_which_kit(lab_runbook: str, lab: Lab) -> None:
    from importlib.metadata import version

    soup = BeautifulSoup(lab_runbook, "html.parser")
    about = soup.find(class_="why403-about")
    assert about is not None, "no header saying what was diagnosed"
    facts = {dt.get_text(strip=True): dt.find_next_sibling("dd").get_text(" ", strip=True) for dt in about.find_all("dt")}
    assert facts["diagnosed"] == lab.url("edge_block") and facts["provider"] == "compatible" and facts["model"] == "gpt-4o-mini"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", facts["diagnosed at"])
    masthead = soup.find(class_="why403-masthead")
    assert masthead is not None and f"why403-kit {version('why403-kit')}" in masthead.get_text(" ") and "UTC" in masthead.get_text()


@pytest.mark.slow
def test_runbook_reads_as_a_page_verdict_then_contents_no_notebook_talk_no_repeats(lab_runbook: str) -> None:
    soup = BeautifulSoup(lab_runbook, "html.parser")
    page = str(soup.body)
    h1, box, toc = page.index("<h1"), page.index('class="why403-verdict-box"'), page.index('id="why403-toc"')
    assert h1 < box < toc  # the verdict before the table of contents
    text = visible_text(lab_runbook)
    for notebook_talk in ("fill in once", "papermill", "the cells below", "Run it top to bottom", "have run"):
        assert notebook_talk not in text
    # each step's table once: the closing section summarises the steps instead of repeating every table
    tables = soup.find_all("table", class_="why403-findings-table")
    assert len(tables) == len(knowledge.load().steps)
    assert text.count("key given: sk-proj-") == 1
    summary = soup.find("table", class_="why403-summary")
    assert summary is not None and len(summary.find_all("tr", attrs={"data-status": True})) == len(knowledge.load().steps)
    # the ids support asks for, and each cause's fix once per step rather than on every row
    assert "cf-ray 8f00lab000000000-AMS" in text and re.search(r"req_lab\d{29}", text)
    fix = knowledge.load().causes["edge_block"].fix
    assert text.count(fix) <= 1 + len([t for t in tables if "edge_block" in t.get_text()])  # the verdict box + once per step
    # the path drawn twice: the full map and the stacked one for narrow screens, the same three nodes on each
    narrow = soup.find("svg", attrs={"data-why403": "decision-path-narrow"})
    assert narrow is not None and narrow["data-path"] == "403/edge/edge_block"
    assert len(narrow.find_all("g", attrs={"data-on": "true"})) == 3


def test_cli_export_shows_progress_on_a_terminal_and_no_kernel_warning(tmp_path: Path) -> None:
    """stderr is a terminal (a pty): a status line tells what the export does; the kernel's TCP warning never shows."""
    code, out, shown = on_terminal(["export", "runbook", "--out", str(tmp_path)], stdout_tty=False, stderr_tty=True, timeout=240)
    assert code == 0, shown
    assert re.search(r"why403: running 02_runbook\.ipynb: cell \d+ of \d+", shown), shown
    assert shown.endswith("\x1b[K")  # the status line is erased at the end
    assert "without encryption" not in shown and "WARNING" not in shown
    assert Path(out.strip()).is_file()


@pytest.mark.slow
def test_runbook_from_a_saved_report(report_runbook: tuple[str, dict[str, object]]) -> None:
    page, report = report_runbook
    assert_clean(page)
    text = visible_text(page)
    verdict = report["verdict"]
    assert isinstance(verdict, dict) and verdict["cause"] == "quota_exceeded"
    assert str(verdict["title"]) in text
    findings = report["findings"]
    assert isinstance(findings, list)
    for f in findings:
        assert f["check"] in text
        if f["request_id"]:
            assert f["request_id"] in text
    svg = BeautifulSoup(page, "html.parser").find("svg", attrs={"data-why403": "decision-path"})
    assert svg is not None and svg["data-path"] == "429/provider/quota_exceeded"
    for step in knowledge.load().steps:
        assert step.title in text


def test_report_is_laid_out_when_the_notebook_has_no_verdict_of_its_own(lab: Lab) -> None:
    report = diagnose(Target(base_url=lab.url("proxy_block"), api_key=Secret("sk-proj-LAB-x-000000000000"), ip_echo_url=lab.ip_echo_url, timeout=5))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Plain notebook\n\nNo verdict here."),
                                         nbformat.v4.new_markdown_cell("## Notes\n\nSome prose.")])
    page, _ = Why403Exporter().from_notebook_node(nb, {"why403_report": report.to_dict(), "why403_kind": "runbook"})
    text = visible_text(page)
    title = knowledge.load().causes["proxy_block"].title
    assert text.index("Plain notebook") < text.index(title) < text.index("Some prose.")
    assert 'data-path="403/proxy/proxy_block"' in page
    for step in knowledge.load().steps:
        assert step.title in text
    for f in report.findings:
        assert f.check in text


def _displayed(obj: object) -> nbformat.NotebookNode:
    """The output a notebook stores when a cell displays ``obj`` (IPython's formatter, without a kernel)."""
    from IPython.core.formatters import DisplayFormatter

    data, metadata = DisplayFormatter().format(obj)
    return nbformat.v4.new_output("display_data", data=data, metadata=metadata)


def test_diagram_follows_the_notebooks_verdict_view_even_without_a_handed_over_report() -> None:
    """`jupyter nbconvert --to why403 --execute 02_runbook.ipynb` hands no report over: the verdict view says what it decided."""
    from why403_kit.model import Verdict
    from why403_kit.render.html import verdict_view

    cause = knowledge.load().causes["rate_limited"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Runbook"), nbformat.v4.new_code_cell("box")])
    nb.cells[1].outputs = [_displayed(verdict_view(Verdict(cause.id, cause.summary, cause.fix, cause.title, 0.8, http_status=429)))]
    page, _ = Why403Exporter().from_notebook_node(nb)
    assert 'data-path="429/provider/rate_limited"' in page
    assert page.index("why403-verdict-box") < page.index('data-why403="decision-path"')
    assert "<h2>Findings</h2>" not in page  # nothing to invent: no findings were handed over


def test_a_notebook_diagram_is_inlined_once_not_duplicated() -> None:
    """The notebook's own diagram view: inline SVG (selectable text), no second copy, and no verdict view is needed for it."""
    from why403_kit.render.html import diagram_view

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Runbook"), nbformat.v4.new_code_cell("d")])
    nb.cells[1].outputs = [_displayed(diagram_view("edge_block"))]
    page, _ = Why403Exporter().from_notebook_node(nb, {"why403_report": {"verdict": {"cause": "edge_block"}}})
    assert page.count('data-why403="decision-path"') == 1
    assert "data:image/svg+xml" not in page


# --- FAQ ---------------------------------------------------------------------------------------------------------------


def test_faq_has_every_question_answer_and_fix(faq_page: str) -> None:
    assert_clean(faq_page)
    text = visible_text(faq_page)
    kb = knowledge.load()
    for entry in kb.faq:
        assert entry.q in text
        assert " ".join(entry.a.split()) in text
    for cause in kb.causes.values():
        assert cause.title in text
    soup = BeautifulSoup(faq_page, "html.parser")
    toc = soup.find(id="why403-toc")
    assert toc is not None and all(entry.q in toc.get_text() for entry in kb.faq)
    assert faq_notebook().cells  # the same notebook nbconvert users can export


# --- CLI ---------------------------------------------------------------------------------------------------------------


def test_cli_export_faq_prints_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "faq", "--out", str(tmp_path / "site")]) == 0
    out = capsys.readouterr().out.strip()
    assert out == str(tmp_path / "site" / "faq.html") and Path(out).is_file()


@pytest.mark.parametrize("argv, message", [
    (["export", "runbook", "--report", "{missing}", "--out", "{out}"], "cannot read report"),
    (["export", "runbook", "--report", "{bad}", "--out", "{out}"], "not a why403 report"),
    (["export", "runbook", "--report", "{notjson}", "--out", "{out}"], "is not JSON"),
    (["export", "runbook", "--scenario", "no_such", "--out", "{out}"], "unknown lab scenario"),
    (["export", "runbook", "--notebook", "{missing}", "--out", "{out}"], "not found"),
    (["export", "faq", "--report", "{bad}", "--out", "{out}"], "runbook' only"),
    (["export", "faq", "--out", "{file}"], "not a directory"),
])
def test_cli_bad_input_is_one_line_and_exit_2(argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.json").write_text('{"verdict": "x"}')
    (tmp_path / "notjson.json").write_text("{not json")
    (tmp_path / "file").write_text("")
    paths = {"missing": tmp_path / "missing.json", "bad": tmp_path / "bad.json", "notjson": tmp_path / "notjson.json",
             "out": tmp_path / "out", "file": tmp_path / "file"}
    assert main([a.format(**{k: str(v) for k, v in paths.items()}) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_a_notebook_that_fails_during_export_is_an_export_failure_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Not bad input (exit 2): the user's arguments were fine, the notebook broke."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise RuntimeError('the runbook broke')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    broken = tmp_path / "broken.ipynb"
    nbformat.write(nb, broken)
    assert main(["export", "runbook", "--notebook", str(broken), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "broken.ipynb failed: RuntimeError: the runbook broke" in err and "Traceback" not in err


def test_template_ships_with_the_package() -> None:
    from importlib.resources import files

    root = files("why403_kit.export").joinpath("templates", "why403")
    for name in ("conf.json", "index.html.j2", "static/why403.css"):
        assert root.joinpath(name).is_file(), name
    assert json.loads(root.joinpath("conf.json").read_text())["base_template"] == "lab"


def test_scrub_masks_every_derived_form_of_an_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    import base64
    import secrets

    from why403_kit.export import scrub_notebook, secret_values

    from ._leaks import leaks

    key = secrets.token_hex(16)  # never held by a Secret in this process until secret_values reads it
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", key)
    forms = [base64.b64encode(f"Bearer {key}".encode()).decode(), key.encode().hex(), json.dumps(key.upper())]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="\n".join(forms))])])
    scrubbed, _ = scrub_notebook(nb, secret_values())
    text = json.dumps(scrubbed)
    assert not leaks(text, key), leaks(text, key)
