"""The diagnosis panel: ipywidgets that gather a target, run the steps live and show the findings.

The panel holds no logic of its own: it builds a :class:`Target`, calls :func:`diagnose` in a
worker thread (so the kernel stays responsive) and renders the :class:`Report` it gets back.

In training mode (``Panel(training=classroom)``, or ``board.panel()`` on the training board) the lab picker lists
the class's mysteries by number, the target is the mystery's opaque URL, and the panel shows the step lines and what
the wire answered, never the verdict, the checks' interpretations, the causes or the fixes: the board checks the
trainee's answer.

The key never stays in widget state. The Password field syncs only on Enter or blur
(``continuous_update=False``); the moment a value arrives it is moved into a :class:`Secret`
and the field is cleared, so a notebook saved with widget state, or executed headless by
nbclient, papermill or nbmake (which store widget state by default), holds no key.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from .. import knowledge
from .._secret import Secret
from ..errors import Why403Error
from ..lab import SCENARIOS, Classroom, scenario_id, shared_lab
from ..model import CA_BUNDLE_ENV, DEFAULT_TIMEOUT, MAX_DEADLINE, PROVIDER_NAMES, RUN_DEADLINE_FACTOR, Finding, Report, Target
from ..redact import redact
from ..render.bundle import write_bundle
from ..render.html import exchanges_html, findings_html, verdict_html
from ..render.theme import PALETTE, WORST_COLOUR
from ..render.words import status_words, worst_status
from ..runner import Hooks, diagnose, step_ids

_ICON = {"idle": "○", "ready": "○", "skipped": "·", "running": "◔", "done": "●", "error": "✖"}


def _wide() -> widgets.Layout:
    return widgets.Layout(width="min(100%, 560px)")


_STYLE = {"description_width": "150px"}
# Step buttons are actions: a border, a raised look and a hover state (ipywidgets' default is a flat grey chip).
_CSS = (f"<style>.why403-panel .why403-run-step{{border:1px solid {PALETTE['idle']};border-radius:4px;background:{PALETTE['white']};"
        "box-shadow:0 1px 2px rgba(0,0,0,.12);cursor:pointer}"
        f".why403-panel .why403-run-step:hover:enabled{{background:{PALETTE['th-bg']};border-color:{PALETTE['muted']}}}"
        ".why403-panel .why403-run-step:disabled{box-shadow:none;opacity:.6}</style>")


def _auto() -> widgets.Layout:
    """Buttons as wide as their label (ipywidgets cuts labels at a fixed width otherwise)."""
    return widgets.Layout(width="auto", min_width="fit-content")


def _text(description: str, value: str = "", placeholder: str = "", tooltip: str = "") -> widgets.Text:
    return widgets.Text(value=value, description=description, placeholder=placeholder, tooltip=tooltip, layout=_wide(), style=_STYLE)


def _close_thread_loop() -> None:
    """nbclient leaves an event loop on the thread that ran it; close it so the thread ends clean."""
    with contextlib.suppress(RuntimeError):
        loop = asyncio.get_event_loop_policy().get_event_loop()
        if not loop.is_running():
            loop.close()


class Panel(widgets.VBox):
    """Fill in the target (or tick "use the training lab"), press **Run all steps**, read the verdict."""

    def __init__(self, *, use_lab: bool | None = None, scenario: str = "ok", out_dir: str | Path = "why403-output",
                 training: Classroom | None = None) -> None:
        env = os.environ
        kb = knowledge.load()
        self.training = training
        if training is not None:
            use_lab = True
        self.out_dir = Path(out_dir)
        self.report: Report | None = None
        self._secret = Secret("")
        self._thread: threading.Thread | None = None
        self._side: threading.Thread | None = None
        self._started: dict[str, float] = {}
        self._done: set[str] = set()
        self._needed_by: dict[str, str] = {}
        self._live: list[Finding] = []
        self._lock = threading.Lock()
        if use_lab is None:  # WHY403_LAB=1/0 decides; else, with no key in sight, the lab is the useful default
            flag = env.get("WHY403_LAB", "").strip().lower()
            use_lab = flag in ("1", "true", "yes") if flag else not (env.get("OPENAI_API_KEY") or env.get("AZURE_OPENAI_API_KEY"))

        self.provider = widgets.Dropdown(
            options=[("detect from URL", ""), *((name, key) for key, name in PROVIDER_NAMES.items())],
            description="Provider", layout=_wide(), style=_STYLE)
        self.base_url = _text("Base URL", env.get("OPENAI_BASE_URL", ""), "https://api.openai.com/v1")
        self.key = widgets.Password(description="API key", placeholder="paste, then press Enter (the field clears itself)",
                                    continuous_update=False, layout=_wide(), style=_STYLE)
        self.key_env = _text("or env variable", "OPENAI_API_KEY", "", "name of the environment variable holding the key")
        self.key_status = widgets.HTML()
        self.organization = _text("Organization", env.get("OPENAI_ORG_ID", ""), "org-… (optional)")
        self.project = _text("Project", env.get("OPENAI_PROJECT_ID", ""), "proj_… (optional)")
        self.model = _text("Model", "gpt-4o-mini")
        self.deployment = _text("Azure deployment", "", "(Azure only)")
        self.api_version = _text("Azure api-version", env.get("OPENAI_API_VERSION", ""), "e.g. 2024-10-21 (Azure only)")
        self.allowlist = _text("Expected allowlist", "", "IPs or CIDRs, comma separated (optional)")
        self.ip_echo_url = _text("IP-echo URL", "", "https://… returning your public IP (never sent the key)")
        self.deadline = _text("Run deadline (s)", "", f"default {RUN_DEADLINE_FACTOR * DEFAULT_TIMEOUT:g} s for the whole run, at most {MAX_DEADLINE:g}",
                              "seconds the whole run may take; every request's timeout shrinks as it nears")
        from_env = next((f"${name}: {env[name].strip()}" for name in CA_BUNDLE_ENV if env.get(name, "").strip()), "")
        self.ca_bundle = _text("CA bundle", "", f"default {from_env}" if from_env else "PEM file of CAs, e.g. your proxy's root (optional)",
                               "PEM file of CAs to verify TLS with instead of the usual trust store (default $SSL_CERT_FILE, "
                               "then $REQUESTS_CA_BUNDLE)")
        self.use_lab = widgets.Checkbox(value=use_lab, description="use the training lab", indent=False)
        self.scenario = widgets.Dropdown(options=list(SCENARIOS), value=scenario_id(scenario) if scenario_id(scenario) in SCENARIOS else "ok",
                                         description="Lab scenario", style=_STYLE)
        if training is not None:  # the class's mysteries by number: nothing in the picker names a cause
            self.scenario.description = "Mystery"
            self.refresh_mysteries()
        self.paid_probe = widgets.Checkbox(value=False, description="allow one token-spending probe (1 token)", indent=False)

        self.run_all = widgets.Button(description="Run all steps", button_style="primary", icon="play", layout=_auto())
        self.step_buttons = {s.id: widgets.Button(description=s.title, tooltip=f"Run this step alone: {s.explains}", icon="play",
                                                  layout=_auto()) for s in kb.steps}
        self.bundle_button = widgets.Button(description="Write support bundle", icon="archive", disabled=True, layout=_auto())
        self.export_button = widgets.Button(description="Export runbook (HTML)", icon="file", disabled=True, layout=_auto())
        self.status = {s.id: widgets.HTML() for s in kb.steps}
        self.verdict = widgets.HTML(verdict_html(None))
        self.findings = widgets.HTML(findings_html([]))
        self.message = widgets.HTML()

        self.key.observe(self._take_key, names="value")
        self.key_env.observe(lambda _: self._show_key_status(), names="value")
        self.use_lab.observe(lambda _: self._sync_lab(), names="value")
        self.run_all.on_click(lambda _: self.run())
        for step, button in self.step_buttons.items():
            button.on_click(lambda _, s=step: self.run([s]))
        if training is not None:  # a bundle or a runbook would carry the verdict
            self.bundle_button.layout.display = self.export_button.layout.display = "none"
            self.use_lab.disabled = True
        self.bundle_button.on_click(lambda _: self._guard(self.write_bundle))
        self.export_button.on_click(lambda _: self._in_background(self.export_runbook, "Exporting the runbook (it runs in a fresh kernel)…"))

        for w, cls in ((self.use_lab, "why403-use-lab"), (self.scenario, "why403-scenario"), (self.run_all, "why403-run-all"),
                       (self.verdict, "why403-verdict"), (self.findings, "why403-findings"), (self.message, "why403-message"),
                       (self.key, "why403-key"), (self.bundle_button, "why403-bundle"), (self.export_button, "why403-export"),
                       (self.base_url, "why403-base-url"), (self.deadline, "why403-deadline"), (self.ca_bundle, "why403-ca-bundle")):
            w.add_class(cls)
        for b in self.step_buttons.values():
            b.add_class("why403-run-step")
        for st in self.status.values():
            st.add_class("why403-step-status")
        self._real = widgets.VBox([self.provider, self.base_url, self.key, self.key_env, self.key_status, self.organization,
                                   self.project, self.model, self.deployment, self.api_version, self.allowlist, self.ip_echo_url,
                                   self.deadline, self.ca_bundle])
        self._reset_status(step_ids(), idle=True)
        self._show_key_status()
        self._sync_lab()
        intro = ("<b>why403</b> training: pick your mystery, run the steps, read the evidence; answer on the board. Any key works "
                 "in the lab." if training is not None else "<b>why403</b>: run the checklist live and name the cause.")
        super().__init__([
            widgets.HTML(_CSS + intro),
            widgets.HBox([self.use_lab, self.scenario]), self._real, self.paid_probe,
            widgets.HBox([self.run_all, self.bundle_button, self.export_button], layout=widgets.Layout(flex_flow="row wrap")),
            widgets.HBox(list(self.step_buttons.values()), layout=widgets.Layout(flex_flow="row wrap")),
            self.verdict, self.message, widgets.VBox(list(self.status.values())), self.findings,
        ])
        self.add_class("why403-panel")

    # ---- input -----------------------------------------------------------------------------
    def _take_key(self, change: dict[str, Any]) -> None:
        value = change["new"]
        if value:
            self._secret = Secret(value)
            self.key.value = ""  # out of widget state at once
            self._show_key_status()

    def _show_key_status(self) -> None:
        if self._secret:
            text = f"key held in memory: {html.escape(self._secret.hint)} (never saved or shown)"
        elif (name := self.key_env.value.strip()) and os.environ.get(name):
            text = f"key will be read from ${html.escape(name)}"
        else:
            text = "no key given: the credential checks will report a missing key"
        self.key_status.value = f'<span style="color:{PALETTE["subtle"]};font-size:12px">{text}</span>'

    def _sync_lab(self) -> None:
        self.scenario.disabled = not self.use_lab.value
        self._real.layout.display = "none" if self.use_lab.value else ""

    def refresh_mysteries(self) -> None:
        """Training mode: offer every mystery dealt so far, the newest selected."""
        if self.training is None:
            return
        numbers = [m.number for m in self.training.mysteries]
        self.scenario.options = [(f"mystery #{n}", n) for n in numbers]
        if numbers:
            self.scenario.value = numbers[-1]

    def forget_key(self) -> None:
        """Drop the key held in memory."""
        self._secret = Secret("")
        self._show_key_status()

    def target(self) -> Target:
        """The target the fields describe (raises :class:`InputError` on bad input)."""
        if self.training is not None:
            chosen = next((m for m in self.training.mysteries if m.number == self.scenario.value), None)
            if chosen is None:
                raise Why403Error("no mystery yet: press New mystery on the training board")
            return chosen.target
        if self.use_lab.value:
            return shared_lab().target(self.scenario.value, model=self.model.value.strip() or "gpt-4o-mini",
                                       allow_paid_probe=self.paid_probe.value)
        name = self.key_env.value.strip()
        # a key typed in wins; else the named variable is read, and named when it is empty (as the CLI does)
        key: dict[str, Any] = {"api_key_env": name} if name and not self._secret else {"api_key": self._secret}
        return Target.from_env(
            **key, base_url=self.base_url.value.strip(), provider=self.provider.value, organization=self.organization.value.strip(),
            project=self.project.value.strip(), model=self.model.value.strip(), deployment=self.deployment.value.strip(),
            api_version=self.api_version.value.strip(), allowlist=[c.strip() for c in self.allowlist.value.split(",") if c.strip()],
            ip_echo_url=self.ip_echo_url.value.strip(), allow_paid_probe=self.paid_probe.value,
            deadline=self.deadline.value.strip(), ca_bundle=self.ca_bundle.value.strip())  # empty: the default (a bundle from the environment)

    # ---- running ---------------------------------------------------------------------------
    def run(self, steps: list[str] | None = None, *, wait: bool = False) -> threading.Thread | None:
        """Run the steps in a worker thread; ``wait=True`` blocks until done (headless use)."""
        if self._thread is not None and self._thread.is_alive():
            self.message.value = f"<span style='color:{PALETTE['caution']}'>A run is already in progress.</span>"
            return self._thread
        try:
            target = self.target()
        except Why403Error as err:  # the old verdict and table described other input: they go, the error takes their place
            self.report = None
            self._live = []
            self._reset_status(step_ids(), idle=True)
            self.verdict.value = verdict_html(None)
            self.findings.value = findings_html([])
            self._busy(False)
            self._fail(str(err))
            return None
        wanted = list(step_ids() if steps is None else steps)
        self._thread = threading.Thread(target=self._work, args=(target, wanted), name="why403-panel", daemon=True)
        self._busy(True)
        self._reset_status(wanted)
        self._live = []
        self.message.value = ""
        self.verdict.value = self._verdict_box(None, running=True)
        self.findings.value = findings_html([])
        self._thread.start()
        if wait:
            self.wait()
        return self._thread

    def wait(self, timeout: float | None = 180.0) -> Report | None:
        """Block until the current run (and any export) ends; return the report."""
        for thread in (self._thread, self._side):
            if thread is not None:
                thread.join(timeout)
        return self.report

    def _tick(self, finished: threading.Event) -> None:
        """Refresh the elapsed time of running steps a few times a second (a clock, not a race fix)."""
        while not finished.wait(0.25):
            now = time.perf_counter()
            for step, begun in list(self._started.items()):
                if step not in self._done:
                    self.status[step].value = self._status_line(step, "running", (now - begun) * 1000)

    def _work(self, target: Target, steps: list[str]) -> None:
        finished = threading.Event()
        self._started, self._done, self._needed_by = {}, set(), {}
        threading.Thread(target=self._tick, args=(finished,), name="why403-panel-clock", daemon=True).start()
        try:
            hooks = Hooks(on_step_start=self._step_started, on_findings=self._arrived, on_step_end=self._step_ended)
            report = diagnose(target, steps=steps, hooks=hooks)
            self.report = report
            self.verdict.value = self._verdict_box(report)
            self.findings.value = self._table(report.findings, report)
            self.message.value = (f"<span style='color:{PALETTE['subtle']};font-size:12px'>{len(report.findings)} findings in "
                                  f"{report.elapsed_ms:.0f} ms</span>")
        except Exception as err:  # noqa: BLE001 - a callback's error must land in the panel, not a lost log
            self._fail(f"{type(err).__name__}: {err}", traceback.format_exc())
            self.verdict.value = self._verdict_box(None)
        finally:
            finished.set()
            self._busy(False)

    def _step_started(self, step: str, needed_by: str) -> None:
        self._started[step] = time.perf_counter()
        self._needed_by[step] = needed_by
        self.status[step].value = self._status_line(step, "running", 0)

    def _step_ended(self, step: str) -> None:
        self._done.add(step)
        elapsed = (time.perf_counter() - self._started.get(step, time.perf_counter())) * 1000
        self.status[step].value = self._status_line(step, "done", elapsed)

    def _arrived(self, step: str, found: list[Finding]) -> None:
        with self._lock:  # the table grows as each step reports
            self._live.extend(found)
            order = {s: i for i, s in enumerate(step_ids())}
            self.findings.value = self._table(sorted(self._live, key=lambda f: order.get(f.step, 99)))

    def _verdict_box(self, report: Report | None, *, running: bool = False) -> str:
        if self.training is not None and report is not None:  # the board, not the panel, says whether the trainee is right
            return (f'<div class="why403-verdict-box" style="padding:8px 12px;border-left:6px solid {PALETTE["idle"]};'
                    f'background:{PALETTE["idle-soft"]}">Diagnosis done: {html.escape(status_words(report.findings))}. Read the evidence '
                    "below and give your answer on the training board.</div>")
        return verdict_html(report.verdict if report is not None else None, running=running)

    def _table(self, findings: list[Finding] | tuple[Finding, ...], report: Report | None = None) -> str:
        if self.training is not None:  # the checks' sentences interpret (they may name a cause): show what the wire said
            if report is None:
                return "<p><em>Running the checks…</em></p>"
            return exchanges_html(report.exchanges, report.target.base_url)
        return findings_html(findings)

    def _status_line(self, step: str, state: str, elapsed_ms: float) -> str:
        kb = knowledge.load()
        title = html.escape(kb.step(step).title)
        found = [f for f in self._live if f.step == step]  # what the step reported in this run
        worst = worst_status(found)
        needed_by = self._needed_by.get(step, "")
        why = f" (needed by {html.escape(kb.step(needed_by).title)})" if needed_by else ""
        tail = {"idle": "waiting", "skipped": "skipped (not asked for)", "running": f"running… {elapsed_ms / 1000:.1f} s{why}",
                "done": f"{status_words(found)} ({elapsed_ms:.0f} ms){why}" if found else f"done in {elapsed_ms:.0f} ms{why}",
                "ready": "not run yet"}.get(state, state)
        colour = WORST_COLOUR.get(worst, PALETTE["subtle"]) if state == "done" else PALETTE["subtle"]
        return f'<span style="font-size:12px;color:{colour}">{_ICON.get(state, "")} {title}: {tail}</span>'

    def _reset_status(self, steps: list[str] | tuple[str, ...], *, idle: bool = False) -> None:
        for step in step_ids():
            state = "ready" if idle else "idle" if step in steps else "skipped"
            self.status[step].value = self._status_line(step, state, 0)

    def _busy(self, busy: bool) -> None:
        for b in (self.run_all, *self.step_buttons.values()):
            b.disabled = busy
        ready = not busy and self.report is not None
        self.bundle_button.disabled = self.export_button.disabled = not ready

    def _fail(self, message: str, detail: str = "") -> None:
        more = f"<details><summary>details</summary><pre>{html.escape(redact(detail))}</pre></details>" if detail else ""
        self.message.value = f"<div style='color:{PALETTE['bad']}'>⚠ {html.escape(redact(message))}</div>{more}"

    def _guard(self, action: Any) -> None:
        try:
            action()
        except Exception as err:  # noqa: BLE001 - shown in the panel
            self._fail(f"{type(err).__name__}: {err}", traceback.format_exc())

    def _in_background(self, action: Any, note: str) -> threading.Thread:
        """Long actions run off the kernel's main thread; their outcome (or error) lands in the message line."""
        self.message.value = f"<span style='color:{PALETTE['subtle']}'>{html.escape(note)}</span>"
        self.export_button.disabled = True

        def work() -> None:
            try:
                self._guard(action)
            finally:
                self.export_button.disabled = self.report is None
                _close_thread_loop()

        self._side = threading.Thread(target=work, name="why403-panel-export", daemon=True)
        self._side.start()
        return self._side

    # ---- outputs ---------------------------------------------------------------------------
    def write_bundle(self) -> list[Path]:
        """Write report.json and the support bundle (JSON + Markdown) for the last run."""
        if self.report is None:
            raise Why403Error("run a diagnosis first")
        paths = write_bundle(self.report, self.out_dir)
        self.message.value = "Support bundle written: " + ", ".join(f"<code>{html.escape(str(p))}</code>" for p in paths)
        return paths

    def export_runbook(self) -> Path:
        """Export the last run as a self-contained HTML runbook."""
        if self.report is None:
            raise Why403Error("run a diagnosis first")
        from ..export import export_runbook

        path: Path = export_runbook(self.out_dir, report=self.report)
        self.message.value = f"Runbook exported: <a href='{html.escape(str(path))}' target='_blank'><code>{html.escape(str(path))}</code></a>"
        return path
