"""The exported pages in a real browser with no network: they render, read well at 375 px, and fetch nothing.

Headless Debian Chromium through Playwright; every request that is not file: or data: is recorded and aborted.
Screenshots are kept in artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from nbconvert import HTMLExporter
from playwright.sync_api import Browser, Page, Route, sync_playwright

from tests.conftest import CANARY
from why403_kit import knowledge
from why403_kit.export import export_faq, export_runbook, faq_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
PHONE = 375


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("site")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_API_KEY", CANARY)
        runbook = export_runbook(out, scenario="edge_block")
    plain, _ = HTMLExporter().from_notebook_node(faq_notebook())
    (out / "plain.html").write_text(plain, encoding="utf-8")
    return {"runbook": runbook, "faq": export_faq(out), "plain": out / "plain.html"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        yield b
        b.close()


def open_offline(browser: Browser, path: Path, width: int = 1100) -> tuple[Page, list[str]]:
    """Open a page from disk with every non-local request blocked; return the page and what it tried to fetch."""
    attempted: list[str] = []
    context = browser.new_context(viewport={"width": width, "height": 900})

    def guard(route: Route) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            attempted.append(url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) or r.url in attempted else attempted.append(r.url))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_load_state("networkidle")
    return page, attempted


def test_the_guard_sees_cdn_requests_of_a_plain_export(browser: Browser, pages: dict[str, Path]) -> None:
    """Control: the default nbconvert page tries to reach a CDN, so an empty list below means something."""
    page, attempted = open_offline(browser, pages["plain"])
    assert any(u.startswith("https://") for u in attempted), attempted
    page.context.close()


def test_runbook_renders_offline(browser: Browser, pages: dict[str, Path]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page, attempted = open_offline(browser, pages["runbook"])
    page.screenshot(path=str(ARTIFACTS / "export-runbook.png"), full_page=True)
    text = page.inner_text("body")
    cause = knowledge.load().causes["edge_block"]
    assert cause.title in text and "edge_block" in text
    for step in knowledge.load().steps:
        assert step.title in text
    assert page.locator(".why403-verdict-box").first.is_visible()
    diagram = page.locator('svg[data-why403="decision-path"]')
    assert diagram.is_visible()
    assert diagram.locator('g[data-on="true"]').count() == 3
    assert CANARY not in page.content()
    assert attempted == []
    page.context.close()


def test_faq_renders_offline(browser: Browser, pages: dict[str, Path]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page, attempted = open_offline(browser, pages["faq"])
    page.screenshot(path=str(ARTIFACTS / "export-faq.png"), full_page=True)
    text = " ".join(page.inner_text("body").split())
    for entry in knowledge.load().faq:
        assert entry.q in text
    assert attempted == []
    page.context.close()


@pytest.mark.parametrize("name", ["runbook", "faq"])
def test_readable_at_phone_width(browser: Browser, pages: dict[str, Path], name: str) -> None:
    page, attempted = open_offline(browser, pages[name], width=PHONE)
    page.screenshot(path=str(ARTIFACTS / f"export-{name}-{PHONE}px.png"), full_page=False)
    widths = page.evaluate("[document.documentElement.scrollWidth, document.body.scrollWidth]")
    assert max(widths) <= PHONE + 2, widths  # the page itself never scrolls sideways; wide tables scroll in their box
    # and the text is not shrunk to fit: body text stays at a readable size
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('main p')).fontSize)")
    assert size >= 14
    wide = page.evaluate("""Array.from(document.querySelectorAll('table')).filter(t => {
        const box = t.closest('.why403-scroll'); return !box || box.getBoundingClientRect().width > window.innerWidth + 1; }).length""")
    assert wide == 0
    assert attempted == []
    page.context.close()
