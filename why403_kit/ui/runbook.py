"""The guided runbook behind ``02_runbook.ipynb``: run one step per cell, or replay a saved report."""

from __future__ import annotations

import atexit
import json
import threading
from pathlib import Path
from typing import Any

from .. import knowledge
from .._secret import Secret
from ..diagnose import STEPS, _verdict, diagnose, rate_limit_checks, support_checks
from ..errors import InputError
from ..lab import LAB_KEY, SCENARIOS, Lab
from ..model import Finding, Report, Target
from .tables import findings_html, verdict_html

_lab: Lab | None = None
_lab_lock = threading.Lock()


def shared_lab() -> Lab:
    """One training lab per kernel, started on first use on a free loopback port."""
    global _lab
    with _lab_lock:
        if _lab is None:
            _lab = Lab().start()
            atexit.register(_lab.stop)
        return _lab


def target_for(*, base_url: str = "", provider: str = "", model: str = "gpt-4o-mini", api_key_env: str = "OPENAI_API_KEY",
               use_lab: bool = False, lab_scenario: str = "healthy", **extra: Any) -> Target:
    """A target from notebook parameters: the lab, or a real endpoint whose key is read from the environment.

    The key is never a parameter (papermill writes parameters into the notebook); only the
    *name* of the environment variable that holds it is.
    """
    if use_lab:
        if lab_scenario not in SCENARIOS:
            raise InputError(f"unknown lab scenario {lab_scenario!r}; choose one of: {', '.join(SCENARIOS)}")
        lab = shared_lab()
        return Target(base_url=lab.url(lab_scenario), api_key=Secret(LAB_KEY), model=model, ip_echo_url=lab.ip_echo_url,
                      timeout=float(extra.pop("timeout", 5.0)), **extra)
    return Target.from_env(api_key_env=api_key_env, base_url=base_url, provider=provider, model=model, **extra)


class Runbook:
    """Runs the six steps one at a time (each notebook cell runs one) and keeps what they found."""

    def __init__(self, target: Target | None = None, *, saved: Report | None = None) -> None:
        if target is None and saved is None:
            raise InputError("a runbook needs a target or a saved report")
        self.target = target if target is not None else saved.target  # type: ignore[union-attr]
        self.saved = saved
        self.findings: dict[str, list[Finding]] = {}
        self.exchanges: list[dict[str, Any]] = []

    @classmethod
    def from_report(cls, path: str | Path) -> Runbook:
        """Replay a diagnosis saved as ``report.json`` (``why403 diagnose --out``) instead of probing."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise InputError(f"cannot read report {path}: {err}") from None
        return cls(saved=Report.from_dict(data))

    def run_step(self, step: str) -> list[Finding]:
        """Run (or replay) one step and return its findings."""
        if step not in STEPS:
            raise InputError(f"unknown step {step!r}; the steps are {', '.join(STEPS)}")
        if self.saved is not None:
            found = [f for f in self.saved.findings if f.step == step]
        elif step == "ratelimits" and self.exchanges:  # read the headers the earlier steps already got
            found = rate_limit_checks(self.exchanges)
        elif step == "support":
            found = support_checks(self.exchanges)
        else:
            part = diagnose(self.target, steps=[step])
            found = part.findings
            self.exchanges.extend(part.exchanges)
        self.findings[step] = found
        return found

    @property
    def report(self) -> Report:
        """Everything run so far as one report, with its verdict."""
        if self.saved is not None and len(self.findings) in (0, len(STEPS)):
            return self.saved
        found = [f for s in STEPS for f in self.findings.get(s, [])]
        return Report(self.target, found, _verdict(found), list(self.exchanges))

    def show(self, step: str) -> Any:
        """Run one step and display its explanation line and findings table."""
        from IPython.display import HTML

        found = self.run_step(step)
        title = next((s.title for s in knowledge.load().steps if s.id == step), step)
        counts = ", ".join(f"{n} {s}" for s in ("fail", "error", "warn", "pass", "skip") if (n := sum(f.status == s for f in found)))
        columns = ["check", "status", "cause", "evidence", "fix"]  # the section heading already names the step
        return HTML(f"<p><b>{title}</b>: {counts or 'no checks ran'}</p>" + findings_html(found, columns=columns))

    def show_verdict(self) -> Any:
        from IPython.display import HTML

        return HTML(verdict_html(self.report.verdict))
