"""Real JupyterLab and headless Chromium for the browser tests: one isolated server, one page that reaches loopback only.

The server serves a temporary copy of notebooks/ (the repo's notebooks never get outputs saved) with HOME and every
Jupyter/IPython directory isolated; only the venv's kernelspec is shared through JUPYTER_PATH. The page aborts and
records every request (and websocket) that does not go to 127.0.0.1: a test fails if there was any.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
ARTIFACTS = REPO / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

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


@contextlib.contextmanager
def serve(tmp: Path) -> Iterator[JupyterLab]:
    """A started JupyterLab in ``tmp``, stopped afterwards if the test did not stop it itself."""
    server = JupyterLab(tmp)
    try:
        server.start()
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.stop()


@dataclass
class Traffic:
    """Every URL the page asked for, and those beyond loopback (aborted): a test asserts ``external == []``."""

    seen: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)


@contextlib.contextmanager
def loopback_page(width: int, height: int = 1000, *, failure_shot: Path | None = None,
                  server: JupyterLab | None = None) -> Iterator[tuple[Any, Traffic]]:
    """A headless Chromium page that reaches 127.0.0.1 only; on a failure inside the block, a screenshot to
    ``failure_shot`` and the server's log tail are kept before the error goes on."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does it)")
    from playwright.sync_api import Route, sync_playwright

    traffic = Traffic()

    def gate(route: Route) -> None:
        url = route.request.url
        traffic.seen.append(url)
        if _is_loopback(url):
            route.continue_()
        else:
            traffic.external.append(url)
            route.abort()

    if failure_shot is not None:
        ARTIFACTS.mkdir(exist_ok=True)
        failure_shot.unlink(missing_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            context.route("**/*", gate)
            page = context.new_page()
            page.on("websocket", lambda ws: None if _is_loopback(ws.url) else traffic.external.append(ws.url))
            page.set_default_timeout(60_000)
            try:
                yield page, traffic
            except BaseException:
                if failure_shot is not None:
                    with contextlib.suppress(Exception):  # keep the original failure if the page cannot be captured
                        page.screenshot(path=str(failure_shot), full_page=True)
                if server is not None:
                    print(server.log_tail())
                raise
            context.close()
        finally:
            browser.close()
