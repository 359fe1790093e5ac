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
LAPTOP = 1366
CAUSE_IDS = sorted(knowledge.load().causes)
# [checked, broken]: every visible element whose whole text is a cause id, and those whose text runs over two lines
BROKEN_IDS = """(ids) => { const want = new Set(ids); let checked = 0; const broken = [];
  for (const el of document.querySelectorAll('code, td, span, li, a, b')) {
    const text = el.textContent.trim();
    if (!want.has(text) || el.getClientRects().length === 0) continue;
    checked += 1;
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const rects = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const range = document.createRange(); range.selectNodeContents(node);
      rects.push(...Array.from(range.getClientRects()).filter(r => r.width > 0));
    }
    const tops = rects.map(r => r.top), height = Math.max(...rects.map(r => r.height));
    if (Math.max(...tops) - Math.min(...tops) > height / 2) broken.push(text);  // a second line, not a pixel of rounding
  }
  return [checked, broken]; }"""


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
    page.screenshot(path=str(ARTIFACTS / f"export-{name}-{PHONE}px-full.png"), full_page=True)
    # nothing scrolls sideways: not the page, and no table or figure inside it either (tables become cards)
    widths = page.evaluate("[document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]")
    assert max(widths[:2]) <= widths[2], widths
    overflowing = page.evaluate("""Array.from(document.querySelectorAll('main *')).filter(e => {
        const r = e.getBoundingClientRect(); return r.width > 0 && (r.right > window.innerWidth + 1 || e.scrollWidth > e.clientWidth + 1)
          && getComputedStyle(e).overflowX !== 'visible'; }).map(e => e.tagName + '.' + e.className).slice(0, 5)""")
    assert overflowing == []
    # and the text is not shrunk to fit: body text stays at a readable size
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('main p')).fontSize)")
    assert size >= 14
    assert attempted == []
    page.context.close()


def test_decision_path_is_redrawn_legibly_at_phone_width(browser: Browser, pages: dict[str, Path]) -> None:
    page, _ = open_offline(browser, pages["runbook"], width=PHONE)
    wide = page.locator('svg[data-why403="decision-path"]')
    narrow = page.locator('svg[data-why403="decision-path-narrow"]')
    assert not wide.is_visible() and narrow.is_visible()
    narrow.scroll_into_view_if_needed()
    narrow.screenshot(path=str(ARTIFACTS / f"export-runbook-diagram-{PHONE}px.png"))
    box = narrow.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE
    scale = box["width"] / float(narrow.get_attribute("viewBox").split()[2])  # type: ignore[union-attr]
    sizes = [float(s) * scale for s in narrow.locator("g[data-on=true] text").evaluate_all("ts => ts.map(t => t.getAttribute('font-size'))")]
    assert sizes and min(sizes) >= 13, sizes  # CSS pixels on a phone: the full map here would be about 6
    labels = narrow.locator("g[data-on=true]").evaluate_all("gs => gs.map(g => g.getAttribute('data-node'))")
    assert labels == ["symptom:403", "responder:edge", "cause:edge_block"]
    page.context.close()
    wide_page, _ = open_offline(browser, pages["runbook"], width=LAPTOP)
    assert wide_page.locator('svg[data-why403="decision-path"]').is_visible()
    assert not wide_page.locator('svg[data-why403="decision-path-narrow"]').is_visible()
    wide_page.context.close()


def test_faq_table_of_every_cause_fits_a_laptop_screen(browser: Browser, pages: dict[str, Path]) -> None:
    page, _ = open_offline(browser, pages["faq"], width=LAPTOP)
    table = page.locator("table.why403-glance")
    table.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"export-faq-{LAPTOP}px-glance.png"))
    fits = table.evaluate("""t => { const box = t.closest('.why403-scroll'); const main = t.closest('main').getBoundingClientRect();
        const r = t.getBoundingClientRect();
        return [box.scrollWidth <= box.clientWidth, r.right <= main.right + 1, r.left >= main.left - 1, window.innerWidth]; }""")
    assert fits[:3] == [True, True, True], fits
    page.context.close()


@pytest.mark.parametrize("width", [PHONE, LAPTOP])
@pytest.mark.parametrize("name", ["runbook", "faq"])
def test_cause_ids_never_break_mid_word(browser: Browser, pages: dict[str, Path], name: str, width: int) -> None:
    page, _ = open_offline(browser, pages[name], width=width)
    checked, broken = page.evaluate(BROKEN_IDS, CAUSE_IDS)
    assert checked >= (len(CAUSE_IDS) if name == "faq" else 3) and broken == [], (checked, broken)
    # control: squeezed into a box narrower than the word, an id does break, and the check sees it
    page.add_style_tag(content="code.why403-id { display: inline-block; width: 3ch; white-space: normal !important; "
                               "word-break: break-all !important; }")
    _, squeezed = page.evaluate(BROKEN_IDS, CAUSE_IDS)
    assert squeezed, "the check cannot see a broken id"
    page.context.close()
