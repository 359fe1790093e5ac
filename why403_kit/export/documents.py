"""The two published documents: the runbook (executed ``02_runbook.ipynb``) and the FAQ (from the knowledge base).

Called by ``why403 export`` and by the panel's export button; both return the path of one self-contained page.
"""

from __future__ import annotations

import html
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nbformat import NotebookNode

from .. import knowledge
from .._files import check_out_dir, write_files
from .._resources import notebook_path
from ..errors import ExportError, InputError
from ..lab import SCENARIOS, scenario_id
from ..model import Report
from ..render.json import to_json
from .exporter import Why403Exporter
from .scrub import NBF, REPORT_MIME

RUNBOOK = "02_runbook.ipynb"
# The last cell export_runbook appends: hands the notebook's report to the exporter (then removed by tag).
_HANDOVER = "from why403_kit.export import emit_report as _why403_emit_report\n_why403_emit_report(globals())"


def emit_report(namespace: Mapping[str, Any]) -> None:
    """Display the notebook's Report as ``REPORT_MIME`` so the exporter can draw its verdict and diagram."""
    from IPython import display as ipd

    found = namespace.get("report")
    if not isinstance(found, Report):
        holders = [v for v in namespace.values() if isinstance(v, Report) or isinstance(getattr(v, "report", None), Report)]
        found = next((v if isinstance(v, Report) else v.report for v in reversed(holders)), None)
    if isinstance(found, Report):
        show: Any = ipd.display
        show({REPORT_MIME: found.to_dict(), "text/plain": ""}, raw=True)  # text/plain: other exporters stay quiet


def default_notebook(name: str = RUNBOOK) -> Path:
    """The notebook shipped with the package (the source checkout's ``notebooks/`` in an editable install)."""
    return notebook_path(name)


def _inject(nb: NotebookNode, params: Mapping[str, Any]) -> None:
    """Papermill-style parameter injection (a cell tagged injected-parameters after the parameters cell)."""
    source = "# Parameters injected by why403 export\n" + "\n".join(f"{k} = {v!r}" for k, v in params.items())
    cell = NBF.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    at = next((i + 1 for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])), 0)
    nb.cells.insert(at, cell)


Progress = Callable[[str], None]  # told what an export is doing, a few times a second at most


def execute_notebook(path: Path, params: Mapping[str, Any], *, timeout: int = 180, kernel_name: str = "",
                     progress: Progress | None = None) -> NotebookNode:
    """Run a notebook headless with parameters; widget state is not stored (and is scrubbed anyway).

    The kernel talks to us over IPC (Unix sockets in a private temporary directory), not TCP: nothing else on the
    machine can listen in, and ipykernel has no reason to warn that it runs over TCP without encryption.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError
    from traitlets.config import Config

    nb: NotebookNode = NBF.read(path, as_version=4)
    _inject(nb, params)
    nb.cells.append(NBF.v4.new_code_cell(_HANDOVER, metadata={"tags": ["why403-report", "remove-cell"]}))
    name = kernel_name or nb.metadata.get("kernelspec", {}).get("name") or "python3"
    code_cells = sum(c.cell_type == "code" for c in nb.cells)
    done = [0]

    def cell_ran(**_: Any) -> None:
        done[0] += 1
        if progress is not None:
            progress(f"running {path.name}: cell {done[0]} of {code_cells}")

    with tempfile.TemporaryDirectory(prefix="w403k-") as sockets:  # short: a Unix socket path holds at most ~107 bytes
        config = Config({"KernelManager": {"transport": "ipc", "ip": str(Path(sockets) / "k")}})
        client = NotebookClient(nb, timeout=timeout, startup_timeout=120, kernel_name=name, store_widget_state=False,
                                resources={"metadata": {"path": str(path.parent)}}, config=config, on_cell_executed=cell_ran)
        if progress is not None:
            progress(f"starting a kernel for {path.name}")
        try:
            client.execute()
        except CellExecutionError as err:  # the notebook broke, not the user's input: the export failed
            raise ExportError(f"{path.name} failed: {err.ename}: {err.evalue}") from None
        except (DeadKernelError, TimeoutError, RuntimeError) as err:
            raise ExportError(f"{path.name} could not be executed: {type(err).__name__}: {err}") from None
    return nb


def _exporter() -> Why403Exporter:
    make: Any = Why403Exporter  # traitlets' HasTraits.__init__ is untyped
    exporter: Why403Exporter = make()
    return exporter


def _write(out_dir: str | Path, filename: str, page: str) -> Path:
    return write_files(out_dir, {filename: page})[0]


def export_runbook(out_dir: str | Path, report: Report | Mapping[str, Any] | str | Path | None = None,
                   notebook: str | Path | None = None, *, scenario: str = "edge_block",
                   parameters: Mapping[str, Any] | None = None, timeout: int = 180, kernel_name: str = "",
                   filename: str = "runbook.html", progress: Progress | None = None) -> Path:
    """Execute the runbook notebook (against a lab scenario, or replaying ``report``) and export it; return the page."""
    check_out_dir(out_dir)  # before a kernel starts: a directory that cannot be used is bad input, said at once
    nb_path = Path(notebook) if notebook else default_notebook()
    if not nb_path.is_file():
        raise InputError(f"notebook {nb_path} not found")
    if scenario_id(scenario) not in SCENARIOS:
        raise InputError(f"unknown lab scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    rep = (report if isinstance(report, Report) else Report.load(report)) if report is not None else None
    params: dict[str, Any] = {"use_lab": True, "lab_scenario": scenario_id(scenario)}
    resources: dict[str, Any] = {"metadata": {"name": "runbook", "path": str(nb_path.parent)}, "why403_kind": "runbook"}
    with tempfile.TemporaryDirectory(prefix="why403-export-") as tmp:
        if rep is not None:
            saved = Path(tmp) / "report.json"
            saved.write_text(to_json(rep.to_dict()), encoding="utf-8")
            params["report_path"] = str(saved)
            resources["why403_report"] = rep.to_dict()
        params.update(parameters or {})
        nb = execute_notebook(nb_path, params, timeout=timeout, kernel_name=kernel_name, progress=progress)
    if progress is not None:
        progress("writing the page")
    page, _ = _exporter().from_notebook_node(nb, resources)
    return _write(out_dir, filename, page)


def _md(text: str) -> str:
    return html.escape(text, quote=False)


def faq_notebook() -> NotebookNode:
    """The FAQ as a notebook of markdown cells, grouped by the symptom people see, built from the knowledge base."""
    kb = knowledge.load()
    cells = [NBF.v4.new_markdown_cell(
        "# why403-kit FAQ: 401, 403 and 429 from OpenAI, Azure OpenAI and gateways\n\n"
        "Answers from the kit's knowledge base, the same one the classifier, the CLI and the runbook use. "
        "Grouped by the symptom you see first; each answer lists the causes it concerns and their fixes.")]
    groups: dict[str, list[knowledge.FaqEntry]] = {}
    for entry in kb.faq:
        groups.setdefault(kb.symptom_of(entry.causes[0] if entry.causes else "unknown").id, []).append(entry)
    for symptom in kb.symptoms:
        for n, entry in enumerate(groups.get(symptom.id, [])):
            items = []
            for cid in entry.causes:
                c = kb.cause(cid)
                items.append(f"<li><b>{_md(c.title)}</b> (<code class=\"why403-id\">{_md(c.id)}</code>, answered by {_md(kb.responder(c.responder).label)})"
                             f"<br>Fix: {_md(c.fix)} <span class=\"why403-muted\">Retry: {_md(c.retry)}</span></li>")
            head = f"## {symptom.label}\n\n" if n == 0 else ""
            cells.append(NBF.v4.new_markdown_cell(
                f"{head}### {entry.q}\n\n<p class=\"why403-faq-answer\">{_md(entry.a)}</p>\n\n"
                f"<ul class=\"why403-faq-causes\">{''.join(items)}</ul>\n"))
    rows = "".join(
        f"<tr><td><code class=\"why403-id\">{_md(c.id)}</code></td><td>{_md(c.title)}</td><td>{_md(kb.symptom_of(c.id).label)}</td>"
        f"<td>{_md(kb.responder(c.responder).label)}</td><td>{_md(c.fix)}</td></tr>"
        for c in kb.causes.values())
    cells.append(NBF.v4.new_markdown_cell(
        "## Every cause at a glance\n\n<table class=\"why403-table why403-glance\"><thead><tr><th>cause</th><th>what it means</th>"
        f"<th>usual symptom</th><th>who answered</th><th>fix</th></tr></thead><tbody>{rows}</tbody></table>\n"))
    nb: NotebookNode = NBF.v4.new_notebook(cells=cells)
    nb.metadata["title"] = "why403-kit FAQ"
    return nb


def export_faq(out_dir: str | Path, *, filename: str = "faq.html", progress: Progress | None = None) -> Path:
    """Export the FAQ (no kernel needed) and return the page."""
    check_out_dir(out_dir)
    if progress is not None:
        progress("writing the FAQ page")
    page, _ = _exporter().from_notebook_node(faq_notebook(), {"metadata": {"name": "faq"}, "why403_kind": "faq"})
    return _write(out_dir, filename, page)


__all__ = ["Progress", "default_notebook", "emit_report", "execute_notebook", "export_faq", "export_runbook",
           "faq_notebook"]
