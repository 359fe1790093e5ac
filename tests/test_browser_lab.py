"""Real browser: JupyterLab on loopback, 01_diagnose.ipynb in headless Debian Chromium, the panel run on `edge_block`.

The server serves a temporary copy of notebooks/ (the repo's notebooks never get outputs saved) with HOME and every
Jupyter/IPython directory isolated; only the venv's kernelspec is shared through JUPYTER_PATH. Every browser request
that does not go to 127.0.0.1 is aborted and recorded, and the test fails if there was any.
The screenshot is kept as artifacts/browser-01_diagnose-edge_block.png.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import CANARY
from why403_kit import knowledge

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
NOTEBOOK = "01_diagnose.ipynb"
ARTIFACTS = REPO / "artifacts"
SCREENSHOT = ARTIFACTS / "browser-01_diagnose-edge_block.png"
ERROR_SHOT = ARTIFACTS / "browser-01_diagnose-input-error.png"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCENARIO = "edge_block"

SERVER_START_S = 90.0
SHUTDOWN_S = 30.0
KERNEL_IDLE_MS = 90_000
PANEL_MS = 120_000  # first run imports pandas and friends on a shared 2-core machine
VERDICT_MS = 60_000


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JupyterLab:
    """A `jupyter lab` process on 127.0.0.1 with a random port and token, in isolated directories."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "root"
        self.runtime = tmp / "runtime"
        self.log_path = tmp / "jupyter-lab.log"
        self.token = secrets.token_hex(24)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        drop_prefixes = ("JUPYTER", "IPYTHON", "JPY_", "WHY403_")  # WHY403_LAB=0 would untick the lab
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(drop_prefixes) and not k.upper().endswith(("_API_KEY", "_PROXY")) and k.upper() != "NO_PROXY"}
        dirs = {name: self.tmp / name for name in ("home", "config", "data", "runtime", "ipython", "settings", "workspaces")}
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        env.update(
            HOME=str(dirs["home"]),
            JUPYTER_CONFIG_DIR=str(dirs["config"]),
            JUPYTER_DATA_DIR=str(dirs["data"]),
            JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
            IPYTHONDIR=str(dirs["ipython"]),
            JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
            JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
            # the venv's kernelspec (python3 -> this venv's python) stays visible
            JUPYTER_PATH=str(Path(sys.prefix) / "share" / "jupyter"),
            JUPYTER_PLATFORM_DIRS="1",
            PYTHONUNBUFFERED="1",
        )
        # no news, no update check, no toasts asking about them
        notif = dirs["settings"] / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        notif.parent.mkdir(parents=True, exist_ok=True)
        notif.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        # start the notebook's own kernel (python3) without the "Select Kernel" dialog
        tracker = dirs["settings"] / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
        tracker.parent.mkdir(parents=True, exist_ok=True)
        # and attach every cell to the DOM (no windowing), so prompts and outputs of all cells can be inspected
        tracker.write_text(json.dumps({"autoStartDefaultKernel": True, "windowingMode": "none"}))
        # the worst case for secrets: the user told JupyterLab to save widget state into the notebook
        widgets_settings = dirs["settings"] / "@jupyter-widgets" / "jupyterlab-manager" / "plugin.jupyterlab-settings"
        widgets_settings.parent.mkdir(parents=True, exist_ok=True)
        widgets_settings.write_text(json.dumps({"saveState": True}))
        return env

    def start(self) -> None:
        shutil.copytree(NOTEBOOKS, self.root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        env = self.env()
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between probe and bind: retry with another
            self.port = _free_port()
            cmd = [sys.executable, "-m", "jupyterlab", "--no-browser",
                   "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                   f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
                   "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                   "--ServerApp.open_browser=False"]
            if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
                cmd.append("--allow-root")
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(cmd, env=env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True)
            if self._wait_ready():
                return
            last_error = self.log_tail()
            self._reap()
            if "already in use" not in last_error:
                break
        raise AssertionError(f"jupyter lab did not become ready:\n{last_error}")

    def _wait_ready(self) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + SERVER_START_S
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                try:
                    r = client.get(f"{self.url}/api/status", params={"token": self.token})
                    if r.status_code == 200:
                        return True
                except httpx.TransportError:
                    pass
                try:  # doubles as the poll interval, and notices an early exit at once
                    self.proc.wait(timeout=0.25)
                    return False
                except subprocess.TimeoutExpired:
                    continue
        return False

    def _api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"token {self.token}"}, timeout=10.0, trust_env=False)

    def start_session(self, path: str, kernel: str = "python3") -> str:
        """Start the notebook's session from the REST API; returns the kernel id.

        The page then attaches to this session instead of starting a kernel itself (JupyterLab may start one, shut it
        down and start another while the page loads, and cells sent in between are lost).
        """
        with self._api() as client:
            r = client.post("/api/sessions", json={"path": path, "name": path, "type": "notebook", "kernel": {"name": kernel}})
            r.raise_for_status()
            return str(r.json()["kernel"]["id"])

    def wait_kernel_idle(self, kernel_id: str, timeout_s: float, pause: Callable[[], None]) -> None:
        """Poll the server's view of the kernel until it is idle (it learns the state once a client talks to it).

        `pause` is the poll interval; with a page open it must let Playwright run (page.wait_for_timeout), or the
        page's routed requests wait for a handler that never runs.
        """
        deadline = time.monotonic() + timeout_s
        state = ""
        with self._api() as client:
            while time.monotonic() < deadline:
                r = client.get(f"/api/kernels/{kernel_id}")
                state = r.json().get("execution_state", "") if r.status_code == 200 else f"HTTP {r.status_code}"
                if state == "idle":
                    return
                if state == "dead" or r.status_code == 404:
                    break
                assert self.proc is not None and self.proc.poll() is None, "jupyter lab exited"
                pause()
        raise AssertionError(f"kernel {kernel_id} never became idle (last state {state!r}):\n{self.log_tail()}")

    def sessions(self) -> list[dict[str, Any]]:
        with self._api() as client:
            return list(client.get("/api/sessions").json())

    def kernel_files(self) -> list[str]:
        return sorted(p.name for p in self.runtime.glob("kernel-*.json"))

    def stop(self) -> tuple[int | None, bool]:
        """SIGTERM, wait; SIGKILL on timeout. Returns (returncode, clean) where clean = exited on its own."""
        if self.proc is None:
            return None, True
        clean = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=SHUTDOWN_S)
            except subprocess.TimeoutExpired:
                clean = False
        self._reap()
        rc = self.proc.returncode
        return rc, clean

    def _reap(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: takes the kernels along
            self.proc.wait(timeout=SHUTDOWN_S)

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return "(no log)"


@pytest.fixture()
def jupyter_lab(tmp_path: Path) -> Iterator[JupyterLab]:
    if not (NOTEBOOKS / NOTEBOOK).is_file():
        pytest.fail(f"{NOTEBOOKS / NOTEBOOK} is missing")
    server = JupyterLab(tmp_path)
    try:
        server.start()
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.stop()


def _is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.hostname == "127.0.0.1"


def _accept_kernel_dialog(page) -> None:  # type: ignore[no-untyped-def]
    """Whenever JupyterLab asks "Select Kernel", keep the proposed kernel (the notebook's python3)."""
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")

    def accept() -> None:
        dialog.locator(".jp-mod-accept").first.click()

    page.add_locator_handler(dialog, accept)


def _dismiss_toasts(page) -> None:  # type: ignore[no-untyped-def]
    for button in page.locator(".Toastify__close-button").all():
        if button.is_visible():
            button.click()


def open_notebook(page, jupyter_lab: JupyterLab, notebook: str) -> str:  # type: ignore[no-untyped-def]
    """Open ``notebook`` in the page on a kernel started for it, and wait until that kernel is idle; its id."""
    kernel_id = jupyter_lab.start_session(notebook)
    _accept_kernel_dialog(page)
    page.goto(f"{jupyter_lab.url}/lab/tree/{notebook}?token={jupyter_lab.token}")
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(state="visible", timeout=KERNEL_IDLE_MS)
    jupyter_lab.wait_kernel_idle(kernel_id, KERNEL_IDLE_MS / 1000, lambda: page.wait_for_timeout(250))
    page.locator('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(timeout=KERNEL_IDLE_MS)
    return kernel_id


def run_all_cells(page, shown: str) -> Any:  # type: ignore[no-untyped-def]
    """Run > Run All Cells as a user does; wait for the widget ``shown`` (a CSS selector), then for every cell to finish
    (each code cell numbered, no widget error). Returns the widget's locator."""
    from playwright.sync_api import expect

    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item", has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$"))).click()
    widget = page.locator(shown)
    widget.wait_for(state="visible", timeout=PANEL_MS)
    prompts = page.locator(".jp-NotebookPanel .jp-CodeCell .jp-InputPrompt")
    expect(prompts.filter(has_text="[*]")).to_have_count(0, timeout=PANEL_MS)
    texts = [t.strip() for t in prompts.all_text_contents()]
    assert texts and all(re.fullmatch(r"\[\d+\]:", t) for t in texts), f"cells left unexecuted: {texts}"
    expect(page.locator(".jp-OutputArea", has_text="Error displaying widget")).to_have_count(0)
    return widget


@pytest.mark.timeout(600)  # the bounded waits below add up to more than the suite's default 300 s in the worst case
def test_panel_runs_edge_block_in_real_browser(jupyter_lab: JupyterLab) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does it)")
    from playwright.sync_api import Route, expect, sync_playwright

    external: list[str] = []
    seen: list[str] = []

    def gate(route: Route) -> None:
        url = route.request.url
        seen.append(url)
        if _is_loopback(url):
            route.continue_()
        else:
            external.append(url)
            route.abort()

    t0 = time.monotonic()
    ARTIFACTS.mkdir(exist_ok=True)
    failure_shot = ARTIFACTS / "browser-01_diagnose-failure.png"
    for stale in (SCREENSHOT, ERROR_SHOT, failure_shot):  # a screenshot left by an earlier run proves nothing
        stale.unlink(missing_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.route("**/*", gate)
            page = context.new_page()
            page.on("websocket", lambda ws: None if _is_loopback(ws.url) else external.append(ws.url))
            page.set_default_timeout(60_000)
            try:
                kernel_id = open_notebook(page, jupyter_lab, NOTEBOOK)
                expect(page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\| Idle"))).to_be_visible(timeout=KERNEL_IDLE_MS)
                sessions = jupyter_lab.sessions()
                assert [s["kernel"]["id"] for s in sessions] == [kernel_id], f"the page did not attach to the started kernel: {sessions}"
                _dismiss_toasts(page)

                # Run > Run All Cells; every cell finishes (the notebook's own run cells included) before the panel is touched
                panel = run_all_cells(page, ".why403-panel")
                verdict = panel.locator(".why403-verdict")
                expect(verdict).to_be_attached()  # may be empty (zero height) until a run
                expect(verdict).not_to_contain_text(SCENARIO)  # nothing stale: the verdict must come from this run

                use_lab = panel.locator(".why403-use-lab input[type=checkbox]")
                expect(use_lab).to_be_checked()  # no key in the server's environment: the lab is the default

                select = panel.locator(".why403-scenario select")
                labels = [t.strip() for t in select.locator("option").all_text_contents()]
                label = SCENARIO if SCENARIO in labels else next((t for t in labels if SCENARIO in t), None)
                assert label is not None, f"{SCENARIO} not among the scenario options: {labels}"
                select.select_option(label=label)
                expect(select).to_have_value(re.compile(SCENARIO))

                panel.locator("button.why403-run-all, .why403-run-all button").first.click()
                expect(verdict).to_contain_text(SCENARIO, timeout=VERDICT_MS)
                expect(verdict).to_contain_text(knowledge.load().cause(SCENARIO).title)
                # the verdict's summary and fix read as prose, not double-spaced (ipywidgets' 28 px row height)
                spacing = verdict.locator(".why403-verdict-box > div").nth(1).evaluate(
                    "e => parseFloat(getComputedStyle(e).lineHeight) / parseFloat(getComputedStyle(e).fontSize)")
                assert spacing <= 1.6, spacing
                expect(panel.locator(".why403-findings table tr").nth(1)).to_be_attached()
                steps = knowledge.load().steps
                statuses = panel.locator(".why403-step-status")
                expect(statuses).to_have_count(len(steps))  # one line per step
                # statuses in plain words, never "worst: fail"
                expect(statuses.first).to_contain_text("1 check failed, 2 passed")
                assert not any("worst" in t for t in statuses.all_inner_texts())
                # the findings grouped by step (a heading row each, in order), the fix said once, the ids visible
                groups = panel.locator(".why403-findings tr.why403-group")
                expect(groups).to_have_count(len(steps))
                assert [t.split(" ·")[0].strip() for t in groups.all_inner_texts()] == [s.title for s in steps]
                findings_text = panel.locator(".why403-findings").inner_text()
                assert "cf-ray 8f00lab000000000-AMS" in findings_text and "req_lab" in findings_text
                assert findings_text.count(knowledge.load().cause(SCENARIO).fix) == 1
                # the step buttons look like buttons: a visible border and a pointer, not flat grey chips
                looks = panel.locator(".why403-run-step").first.evaluate(
                    "b => { const s = getComputedStyle(b); return [s.borderTopWidth, s.borderTopStyle, s.cursor, s.boxShadow]; }")
                assert float(looks[0].removesuffix("px")) >= 1 and looks[1] == "solid" and looks[2] == "pointer" and looks[3] != "none", looks

                # no cell raised (JupyterLab renders an error output as stderr text holding the traceback or "Name: value")
                errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]',
                                      has_text=re.compile(r"Traceback|\w+(Error|Exception)\b"))
                assert errors.count() == 0, errors.first.inner_text()

                _dismiss_toasts(page)
                panel.scroll_into_view_if_needed()
                page.screenshot(path=str(SCREENSHOT), full_page=True)

                # A key typed into the Password field leaves the page and the saved notebook at once,
                # even with "save widget state" switched on.
                use_lab.uncheck()
                key = panel.locator(".why403-key input")
                key.fill(CANARY)
                key.press("Enter")
                expect(key).to_have_value("", timeout=VERDICT_MS)
                expect(panel).to_contain_text("key held in memory")
                # the widget input swallows keyboard shortcuts: save with the notebook toolbar's button
                page.locator('.jp-NotebookPanel-toolbar [data-command="docmanager:save"]').first.click()
                saved = jupyter_lab.root / NOTEBOOK
                deadline = time.monotonic() + 60
                while '"widgets"' not in saved.read_text() and time.monotonic() < deadline:
                    page.wait_for_timeout(250)  # poll interval that keeps the routed page alive
                text = saved.read_text()
                assert '"application/vnd.jupyter.widget-state+json"' in text, "widget state was not saved: the check would prove nothing"
                assert CANARY not in text and CANARY not in page.content()

                # An input error replaces the old verdict and findings instead of sitting under them.
                base_url = panel.locator(".why403-base-url input")
                base_url.fill("not a url")
                base_url.press("Tab")
                panel.locator("button.why403-run-all, .why403-run-all button").first.click()
                expect(panel.locator(".why403-message")).to_contain_text("base URL", timeout=VERDICT_MS)
                expect(verdict).not_to_contain_text(SCENARIO)
                expect(verdict).to_contain_text("No diagnosis yet")
                expect(panel.locator(".why403-findings")).to_contain_text("No findings yet")
                expect(panel.locator(".why403-findings tr")).to_have_count(0)
                expect(panel.locator(".why403-bundle button, button.why403-bundle").first).to_be_disabled()
                _dismiss_toasts(page)
                panel.scroll_into_view_if_needed()
                page.screenshot(path=str(ERROR_SHOT), full_page=True)
            except BaseException:
                with contextlib.suppress(Exception):  # keep the original failure if the page cannot be captured
                    page.screenshot(path=str(failure_shot), full_page=True)
                print(jupyter_lab.log_tail())
                raise
            context.close()
        finally:
            browser.close()

    assert seen, "the gate saw no request at all: the route was not installed"
    assert external == [], f"the page tried to reach beyond loopback: {sorted(set(external))}"
    assert SCREENSHOT.stat().st_size > 10_000

    rc, clean = jupyter_lab.stop()
    assert clean, f"jupyter lab ignored SIGTERM for {SHUTDOWN_S}s and was killed:\n{jupyter_lab.log_tail()}"
    assert rc == 0, f"jupyter lab exited with {rc}:\n{jupyter_lab.log_tail()}"
    assert jupyter_lab.kernel_files() == [], f"kernels left behind: {jupyter_lab.kernel_files()}"
    print(f"browser test body: {time.monotonic() - t0:.1f}s")
