"""The ``why403`` nbconvert exporter: the lab template made self-contained, scrubbed and readable offline.

Registered under the ``nbconvert.exporters`` entry point, so ``jupyter nbconvert --to why403 NOTEBOOK`` works
as well as ``why403 export``. Compared with ``--to html`` it: loads nothing from any CDN (no require.js,
MathJax, mermaid or widget manager), never writes widget state, hides code by tags, adds a table of contents,
phone and print CSS, puts the verdict and the decision-path diagram first when it knows the diagnosis, and
redacts every text twice (per cell before rendering, then the whole page).

What the notebook already shows it learns from the views' own records (``render.html.VIEW_MIME``) and the report
the notebook handed over (``REPORT_MIME``), never by searching the rendered HTML.
"""

from __future__ import annotations

import copy
import html
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup, Tag
from nbconvert.exporters import HTMLExporter
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets import List, Unicode, default
from traitlets.config import Config

from .. import knowledge
from ..errors import InputError
from ..model import Report, Verdict
from ..render.html import VIEW_MIME, diagram_html, step_sections_html, verdict_html
from ..render.theme import css_variables
from .scrub import DEFAULT_SECRET_ENV, NBF, ScrubPreprocessor, safe_redact, scrub_notebook, secret_values

TEMPLATES = Path(__file__).parent / "templates"
KIND_LABELS = {"runbook": "Runbook", "faq": "FAQ", "notebook": "Notebook"}
# "notebook-only": prose about running the notebook (papermill, "fills in once the cells have run"), not for a page.
REMOVE_CELL_TAGS = ["remove-cell", "parameters", "injected-parameters", "why403-report", "notebook-only"]
REMOVE_INPUT_TAGS = ["remove-input", "hide-input"]
REMOVE_OUTPUT_TAGS = ["remove-output", "hide-output"]
_CSS_URL = re.compile(r"url\(\s*(['\"]?)(?!data:|#)[^)]*\)", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"@import[^;]*;?", re.IGNORECASE)
_FETCHING = ("img", "image", "source", "video", "audio", "iframe", "embed", "object", "track", "input", "use", "feimage")


def _local(url: str) -> bool:
    """True for references that need no fetch: inline data and in-page anchors."""
    u = url.strip().lower()
    return not u or u.startswith(("data:", "#"))


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _verdict(data: Mapping[str, Any]) -> Verdict:
    """A verdict from a notebook's record (untrusted): an unknown cause reads as unknown, missing texts come from the knowledge base."""
    v = Verdict.from_dict(data)
    c = knowledge.load().cause_or_unknown(v.cause)
    return replace(v, cause=c.id, summary=v.summary or c.summary, fix=v.fix or c.fix, title=v.title or c.title)


def _report(data: object) -> Report | None:
    """The report the notebook handed over (``REPORT_MIME``), if it reads as one."""
    if not isinstance(data, Mapping) or not isinstance(data.get("verdict"), Mapping):
        return None
    try:
        return Report.from_dict(data)
    except InputError:
        return None


def _views(nb: NotebookNode) -> list[tuple[int, dict[str, Any]]]:
    """(cell index, record) of every view the notebook displayed, in order."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            record = (out.get("data") or {}).get(VIEW_MIME)
            if isinstance(record, Mapping) and isinstance(record.get("view"), str):
                found.append((i, dict(record)))
    return found


def _html_cell(content: str) -> NotebookNode:
    cell: NotebookNode = NBF.v4.new_code_cell(source="", metadata={"tags": ["remove-input"], "transient": {"remove_source": True}})
    cell.outputs = [NBF.v4.new_output("display_data", data={"text/html": content})]
    return cell


def _responsive_diagrams(nb: NotebookNode) -> None:
    """Every decision path the notebook drew, redrawn with its stacked variant for narrow screens (the page's CSS
    picks one by width). Found by the view's own record, never by searching its HTML."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data") or {}
            record = data.get(VIEW_MIME)
            if isinstance(record, Mapping) and record.get("view") == "diagram" and isinstance(record.get("verdict"), Mapping):
                data["text/html"] = diagram_html(_verdict(record["verdict"]), responsive=True)


class ReportPreprocessor(Preprocessor):
    """Puts the diagnosis first: verdict box, decision-path diagram and findings, each only if the notebook lacks it."""

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        _responsive_diagrams(nb)
        views = _views(nb)
        shown = {record["view"] for _, record in views}
        verdicts = [(i, record["verdict"]) for i, record in views if record["view"] == "verdict" and isinstance(record.get("verdict"), Mapping)]
        report = _report(resources.get("why403_report"))
        if report is not None:
            verdict = _verdict(report.verdict.to_dict())
        elif verdicts:
            # e.g. `jupyter nbconvert --to why403 --execute 02_runbook.ipynb`: no report handed over, but the
            # notebook's verdict view says what it decided, which is enough for the diagram.
            verdict = _verdict(verdicts[-1][1])
        else:
            return nb, resources
        extra = []
        if "diagram" not in shown:
            extra.append(diagram_html(verdict, responsive=True))
        if report is not None and "findings" not in shown:
            extra.append(step_sections_html(report.findings))
        if verdicts:
            if extra:
                nb.cells.insert(verdicts[0][0] + 1, _html_cell("".join(extra)))
        else:  # no verdict of its own: ours goes right after the title cell
            first = 1 if nb.cells and nb.cells[0].cell_type == "markdown" and nb.cells[0].source.lstrip().startswith("# ") else 0
            nb.cells.insert(first, _html_cell(verdict_html(verdict) + "".join(extra)))
        return nb, resources


def _title_of(nb: NotebookNode) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in str(cell.source).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "section"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _make_self_contained(soup: BeautifulSoup) -> None:
    """Remove everything that would fetch: scripts, stylesheet links, external images/frames, CSS url() and @import."""
    for tag in soup.find_all(["script", "base"]):
        tag.decompose()
    for tag in soup.find_all("link"):
        if not _local(str(tag.get("href", ""))):
            tag.decompose()
    for tag in soup.find_all(_FETCHING):
        if not isinstance(tag, Tag) or tag.decomposed:
            continue
        refs = [str(tag.get(a, "")) for a in ("src", "href", "xlink:href", "data", "poster")]
        if tag.get("srcset"):
            del tag["srcset"]
        external = [r for r in refs if not _local(r)]
        if not external:
            continue
        if tag.name == "img":
            note = soup.new_tag("span", attrs={"class": "why403-muted"})
            note.string = f"[image not embedded: {tag.get('alt') or external[0]}]"
            tag.replace_with(note)
        else:
            tag.decompose()
    for tag in soup.find_all(style=True):
        tag["style"] = _CSS_IMPORT.sub("", _CSS_URL.sub("none", str(tag["style"])))
    for tag in soup.find_all("style"):
        if tag.string and (_CSS_URL.search(tag.string) or _CSS_IMPORT.search(tag.string)):
            tag.string = _CSS_IMPORT.sub("", _CSS_URL.sub("none", tag.string))


def _wrap_tables(soup: BeautifulSoup) -> None:
    """Every table scrolls sideways inside its own box, so a phone never scrolls the whole page."""
    for table in soup.find_all("table"):
        parent = table.parent
        if isinstance(parent, Tag) and "why403-scroll" in (parent.get("class") or []):
            continue
        wrapper = soup.new_tag("div", attrs={"class": "why403-scroll"})
        table.wrap(wrapper)


def _label_cells(soup: BeautifulSoup) -> None:
    """Give every body cell the name of its column (``data-label``), so that narrow screens can stack a row into a
    card of 'column: value' lines instead of scrolling the table sideways."""
    for table in soup.find_all("table"):
        head = table.find("thead")
        if not isinstance(head, Tag):
            continue
        names = [th.get_text(" ", strip=True) for th in head.find_all("th")]
        if not names:
            continue
        table["class"] = " ".join([*(table.get("class") or []), "why403-stack"])
        for row in table.find_all("tr"):
            if row.find_parent("thead") is not None:
                continue
            cells = row.find_all("td", recursive=False)
            for name, td in zip(names, cells, strict=False):
                if not td.get("data-label"):
                    td["data-label"] = name


def _fill_toc(soup: BeautifulSoup) -> None:
    """A table of contents from the h2/h3 headings (h1 is the page title), with ids added where missing."""
    nav = soup.find(id="why403-toc")
    main = soup.find("main")
    if not isinstance(nav, Tag) or not isinstance(main, Tag):
        return
    taken = {str(t["id"]) for t in soup.find_all(id=True)}
    entries: list[tuple[int, str, str]] = []
    for h in main.find_all(["h2", "h3"]):
        if h.find_parent(["nav", "svg", "figure"]) is not None:
            continue
        text = h.get_text(" ", strip=True).replace("¶", "").strip()
        if not text:
            continue
        if not h.get("id"):
            h["id"] = _slug(text, taken)
        entries.append((2 if h.name == "h2" else 3, str(h["id"]), text))
    if not entries:
        nav.decompose()
        return
    parts = ['<p class="why403-toc-title">Contents</p><ul>']
    open_sub = False
    for i, (level, anchor, text) in enumerate(entries):
        if level == 3 and i and not open_sub:
            parts[-1] = parts[-1].removesuffix("</li>")
            parts.append("<ul>")
            open_sub = True
        elif level == 2 and open_sub:
            parts.append("</ul></li>")
            open_sub = False
        parts.append(f'<li><a href="#{_esc(anchor)}">{_esc(text)}</a></li>')
    if open_sub:
        parts.append("</ul></li>")
    parts.append("</ul>")
    nav.append(BeautifulSoup("".join(parts), "html.parser"))
    # Below the verdict when the page has one (the answer first, then the way through the page), else below the title.
    place = main.find(class_="why403-verdict-box") or main.find("h1")
    if isinstance(place, Tag):
        cell = place.find_parent(class_="jp-Cell")
        (cell if isinstance(cell, Tag) else place).insert_after(nav.extract())


def kit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("why403-kit")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _utc(stamp: str) -> str:
    """An ISO time (``2026-11-27T07:25:13+00:00``) as people read it: ``2026-11-27 07:25:13 UTC``."""
    try:
        return datetime.fromisoformat(stamp).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return stamp


def page_header(report: object, kind: str) -> list[tuple[str, str]]:
    """(label, value) lines of the masthead: what was diagnosed (redacted), with what, when. Empty values are left out."""
    lines: list[tuple[str, str]] = []
    data = _report(report)
    if data is not None:
        t = data.target
        model = f"{t.model} (deployment {t.deployment})" if t.deployment else t.model
        lines += [("diagnosed", t.base_url), ("provider", t.provider), ("model", model)]
        lines += [("diagnosed at", _utc(data.started_utc))] if data.started_utc else []
    elif kind == "faq":
        kb = knowledge.load()
        lines.append(("knowledge base", f"{len(kb.causes)} causes, {len(kb.faq)} questions"))
    return [(k, v) for k, v in lines if v]


class Why403Exporter(HTMLExporter):
    """HTML that opens offline, shows prose and results (not code), and never holds a secret."""

    export_from_notebook = "why403 offline HTML"
    secret_env = List(Unicode(), default_value=list(DEFAULT_SECRET_ENV),
                      help="environment variables whose exact values are masked in the page").tag(config=True)

    @default("template_name")
    def _template_name_default(self) -> str:
        return "why403"

    @default("extra_template_basedirs")
    def _default_extra_template_basedirs(self) -> list[str]:
        return [str(TEMPLATES)]

    @default("exclude_input_prompt")
    def _default_exclude_input_prompt(self) -> bool:
        return True

    @default("exclude_output_prompt")
    def _default_exclude_output_prompt(self) -> bool:
        return True

    @default("embed_images")
    def _default_embed_images(self) -> bool:
        return True

    @property
    def default_config(self) -> Config:
        c = Config({"TagRemovePreprocessor": {
            "enabled": True,
            "remove_cell_tags": REMOVE_CELL_TAGS,
            "remove_input_tags": REMOVE_INPUT_TAGS,
            "remove_all_outputs_tags": REMOVE_OUTPUT_TAGS,
        }})
        base: Config = super().default_config.copy()
        base.merge(c)
        return base

    def _init_preprocessors(self) -> None:
        super()._init_preprocessors()  # type: ignore[no-untyped-call]
        # Last, after any --execute: scrub again, then lay out the diagnosis. Not switchable by configuration.
        register: Any = self.register_preprocessor
        new_scrub: Any = ScrubPreprocessor
        new_layout: Any = ReportPreprocessor
        register(new_scrub(parent=self, secret_env=self.secret_env), enabled=True)
        register(new_layout(parent=self), enabled=True)

    def from_notebook_node(self, nb: NotebookNode, resources: dict[str, Any] | None = None,  # type: ignore[override]
                           **kw: Any) -> tuple[str, dict[str, Any]]:
        secrets = secret_values(self.secret_env)
        nb, report = scrub_notebook(copy.deepcopy(nb), secrets)
        res: dict[str, Any] = dict(resources or {})
        if report is not None and not res.get("why403_report"):
            res["why403_report"] = report
        kind = str(res.get("why403_kind") or "notebook")
        res["why403_kind"] = kind
        res.setdefault("why403_kind_label", KIND_LABELS.get(kind, kind))
        res.setdefault("why403_stamp", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
        res.setdefault("why403_version", kit_version())
        res.setdefault("why403_header", page_header(res.get("why403_report"), kind))
        res.setdefault("why403_palette_css", css_variables())
        if not nb.metadata.get("title"):
            title = _title_of(nb)
            if title:
                nb.metadata["title"] = title
        page, out_resources = super().from_notebook_node(nb, res, **kw)
        soup = BeautifulSoup(page, "html.parser")
        _make_self_contained(soup)
        _label_cells(soup)
        _wrap_tables(soup)
        _fill_toc(soup)
        return safe_redact(str(soup), secrets), out_resources


__all__ = ["ReportPreprocessor", "Why403Exporter"]
