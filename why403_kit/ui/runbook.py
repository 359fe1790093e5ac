"""The guided runbook behind ``02_runbook.ipynb``: one step per cell through the runner's session, or a saved report replayed.

No runner of its own: a :class:`~why403_kit.runner.Session` keeps what each cell's step found and recorded, so
step 5 reads the answers steps 1 and 3 got in earlier cells, exactly as a full :func:`diagnose` run would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from ..errors import InputError
from ..lab import shared_lab
from ..model import Finding, Report, Target
from ..render.html import STEP_COLUMNS, View, diagram_view, findings_view, summary_view, verdict_view
from ..render.words import status_words
from ..runner import Session, decide, step_ids


def target_for(*, base_url: str = "", provider: str = "", model: str = "gpt-4o-mini", api_key_env: str = "OPENAI_API_KEY",
               use_lab: bool = False, lab_scenario: str = "ok", **extra: Any) -> Target:
    """A target from notebook parameters: the lab, or a real endpoint whose key is read from the environment.

    The key is never a parameter (papermill writes parameters into the notebook); only the
    *name* of the environment variable that holds it is.
    """
    if use_lab:
        return shared_lab().target(lab_scenario, model=model, **extra)
    return Target.from_env(api_key_env=api_key_env, base_url=base_url, provider=provider, model=model, **extra)


class Runbook:
    """Runs the six steps one at a time (each notebook cell runs one) and keeps what they found."""

    def __init__(self, target: Target | None = None, *, saved: Report | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        if target is None and saved is None:
            raise InputError("a runbook needs a target or a saved report")
        self.saved = saved
        self.target: Target = target if target is not None else saved.target  # type: ignore[union-attr]
        self.session = Session(self.target, transport=transport)
        self._replayed: dict[str, list[Finding]] = {}

    @classmethod
    def from_report(cls, path: str | Path) -> Runbook:
        """Replay a diagnosis saved as ``report.json`` (``why403 diagnose --out``) instead of probing."""
        return cls(saved=Report.load(path))

    @property
    def findings(self) -> dict[str, list[Finding]]:
        """What each step run (or replayed) so far found."""
        return self._replayed if self.saved is not None else self.session.findings

    def run_step(self, step: str) -> list[Finding]:
        """Run (or replay) one step and return its findings."""
        if step not in step_ids():
            raise InputError(f"unknown step {step!r}; the steps are {', '.join(step_ids())}")
        if self.saved is not None:
            self._replayed[step] = [f for f in self.saved.findings if f.step == step]
            return self._replayed[step]
        self.session.run([step])
        return self.session.findings[step]

    @property
    def report(self) -> Report:
        """Everything run so far as one report, with its verdict."""
        if self.saved is None:
            return self.session.report()
        if len(self._replayed) in (0, len(step_ids())):
            return self.saved
        found = tuple(f for s in step_ids() for f in self._replayed.get(s, []))
        return Report(self.target, found, decide(found), self.saved.exchanges, self.saved.started_utc, self.saved.elapsed_ms)

    def show(self, step: str) -> View:
        """Run one step and show its result in words, its findings table (ids included) and each cause's fix once."""
        found = self.run_step(step)  # the section's heading names the step: the view says only how it went
        return findings_view(found, columns=STEP_COLUMNS, group=False, heading=f"<p><b>Result:</b> {status_words(found)}</p>")

    def show_verdict(self) -> View:
        return verdict_view(self.report.verdict)

    def show_diagram(self) -> View:
        return diagram_view(self.report)

    def show_findings(self) -> View:
        """Every finding in one table grouped by step (the panel's view)."""
        return findings_view(self.report)

    def show_summary(self) -> View:
        """One line per step: its result in words and the checks that did not pass (the step tables hold the evidence)."""
        return summary_view(self.report)
