"""Class exercises: the lab plays a mystery cause, the trainee diagnoses it and checks the answer."""

from __future__ import annotations

import html
import random
from dataclasses import dataclass, field

import ipywidgets as widgets

from .. import knowledge
from ..lab import SCENARIOS, shared_lab
from ..model import Target
from ..render.theme import PALETTE

# Scenarios a class can tell apart from the evidence alone (ok is a fair mystery too). Scenario ids are cause ids.
MYSTERIES = [s for s in SCENARIOS if s != "network_error"]


@dataclass
class Mystery:
    """One exercise: a target the lab answers as a hidden scenario."""

    number: int
    scenario: str = field(repr=False)  # the answer: hidden from repr so printing a mystery spoils nothing
    target: Target = field(repr=False)
    answered: str = ""

    @property
    def solved(self) -> bool:
        return self.answered == self.scenario


class TrainingLab(widgets.VBox):
    """A score board: new mystery, pick the cause you diagnosed, check it; the score is kept per session."""

    def __init__(self, *, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self.mysteries: list[Mystery] = []
        kb = knowledge.load()
        options = sorted((f"{c.id}: {c.title}", c.id) for c in kb.causes.values())
        self.answer = widgets.Dropdown(options=options, description="Your answer", style={"description_width": "100px"},
                                       layout=widgets.Layout(width="min(100%, 520px)"))
        self.check_button = widgets.Button(description="Check my answer", button_style="primary", disabled=True)
        self.new_button = widgets.Button(description="New mystery", icon="question")
        self.feedback = widgets.HTML()
        self.score = widgets.HTML()
        self.new_button.on_click(lambda _: self.new_mystery())
        self.check_button.on_click(lambda _: self.check(self.answer.value))
        super().__init__([widgets.HBox([self.new_button]), self.answer, self.check_button, self.feedback, self.score])
        self.add_class("why403-training")
        self._show_score()

    @property
    def current(self) -> Mystery | None:
        return self.mysteries[-1] if self.mysteries else None

    def new_mystery(self) -> Mystery:
        """Start a new exercise; its target points at the lab, the scenario stays hidden."""
        scenario = self._rng.choice(MYSTERIES)
        m = Mystery(len(self.mysteries) + 1, scenario, shared_lab().target(scenario))
        self.mysteries.append(m)
        self.check_button.disabled = False
        self.feedback.value = f"Mystery #{m.number} started: diagnose <code>mystery.target</code>, then pick the cause."
        return m

    def check(self, cause: str) -> bool:
        """Record an answer for the current mystery and say whether it was right (and why)."""
        m = self.current
        if m is None:
            self.feedback.value = "Start a mystery first."
            return False
        m.answered = cause
        kb = knowledge.load()
        truth = kb.cause(m.scenario)
        if m.solved:
            self.feedback.value = f"<span style='color:{PALETTE['good']}'>✔ Right: <code>{truth.id}</code>. {html.escape(truth.fix)}</span>"
        else:
            self.feedback.value = (f"<span style='color:{PALETTE['bad']}'>✖ Not quite: it was <code>{truth.id}</code> ({html.escape(truth.title)}). "
                                   f"{html.escape(truth.summary)}</span>")
        self.check_button.disabled = True
        self._show_score()
        return m.solved

    def _show_score(self) -> None:
        self.score.value = f"<b>Score:</b> {self.score_text()}"

    def score_text(self) -> str:
        answered = [m for m in self.mysteries if m.answered]
        return f"{sum(m.solved for m in answered)} / {len(answered)} mysteries solved"
