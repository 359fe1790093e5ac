"""The training board: a mystery's evidence, a hint ladder, the trainee's answer and the score, kept in step.

The board draws a :class:`~why403_kit.lab.Classroom` (the deal, the hints, the score live there). It never answers
for the trainee: nothing on it names the cause until the trainee has answered or climbed the last rung of the hint
ladder, and the score appears with the first answer. The evidence is what the wire showed (requests, statuses,
headers, ids, bodies), under opaque URLs; the cause and "who answered" are the trainee's to find.
"""

from __future__ import annotations

import html
import threading
from pathlib import Path

import ipywidgets as widgets

from .. import knowledge
from ..lab import HINT_LADDER, LAB_CA, LAB_KEY, Classroom, Mystery, shared_lab
from ..render.html import exchanges_html
from ..render.theme import PALETTE
from .panel import Panel

_boards: dict[int | None, TrainingLab] = {}
_boards_lock = threading.Lock()


def training_board(seed: int | None = None) -> TrainingLab:
    """This kernel's board for ``seed``: running the cell again shows the same board (same mystery, same score)."""
    with _boards_lock:
        board = _boards.get(seed)
        if board is None:
            board = _boards[seed] = TrainingLab(seed=seed)
        return board


class TrainingLab(widgets.VBox):
    """New mystery, its evidence, hints on demand, your answer, the score over the session."""

    def __init__(self, *, seed: int | None = None, classroom: Classroom | None = None, start: bool = True) -> None:
        self.classroom = classroom or Classroom(shared_lab(), seed)
        kb = knowledge.load()
        options = [("— pick the cause you diagnosed —", ""), *sorted((f"{c.id}: {c.title}", c.id) for c in kb.causes.values())]
        self.answer = widgets.Dropdown(options=options, value="", description="Your answer", style={"description_width": "100px"},
                                       layout=widgets.Layout(width="min(100%, 560px)"))
        wide = widgets.Layout(width="auto", min_width="fit-content")  # ipywidgets cuts labels at a fixed width otherwise
        self.check_button = widgets.Button(description="Check my answer", button_style="primary", disabled=True, layout=wide)
        self.new_button = widgets.Button(description="New mystery", icon="question", layout=wide)
        self.hint_button = widgets.Button(description="Hint", icon="lightbulb-o", disabled=True, layout=wide)
        self.header = widgets.HTML()
        self.hints = widgets.HTML()
        self.evidence = widgets.HTML()
        self.feedback = widgets.HTML()
        self.score = widgets.HTML()  # empty until the first answer: nothing to score before a trainee has answered
        self._panel: Panel | None = None
        self.new_button.on_click(lambda _: self.new_mystery())
        self.hint_button.on_click(lambda _: self.hint())
        self.check_button.on_click(lambda _: self.check(self.answer.value))
        self.answer.observe(lambda _: self._sync_buttons(), names="value")
        for w, cls in ((self.header, "why403-mystery"), (self.evidence, "why403-evidence"), (self.hints, "why403-hints"),
                       (self.feedback, "why403-feedback"), (self.score, "why403-score"), (self.new_button, "why403-new-mystery"),
                       (self.hint_button, "why403-hint"), (self.check_button, "why403-check"), (self.answer, "why403-answer")):
            w.add_class(cls)
        super().__init__([self.header, widgets.HBox([self.new_button, self.hint_button]), self.hints, self.evidence,
                          widgets.HBox([self.answer, self.check_button], layout=widgets.Layout(flex_flow="row wrap")),
                          self.feedback, self.score])
        self.add_class("why403-training")
        if start:
            self.new_mystery()
        else:
            self._show()

    def __repr__(self) -> str:  # the text/plain of the board's output: short, and naming nothing
        m = self.current
        return f"<why403 training board: mystery #{m.number if m else 0}, {self.classroom.score().answered} answered>"

    # ---- the session -------------------------------------------------------------------------
    @property
    def seed(self) -> int:
        return self.classroom.seed

    @property
    def mysteries(self) -> list[Mystery]:
        return self.classroom.mysteries

    @property
    def current(self) -> Mystery | None:
        return self.classroom.current

    def new_mystery(self) -> Mystery:
        """Deal the next mystery and show its evidence (board, evidence and score change together)."""
        previous = self.current
        m = self.classroom.new_mystery(run=False)
        self.answer.value = ""
        self.feedback.value = (f"<span style='color:{PALETTE['caution']}'>Mystery #{previous.number} was left without an answer: "
                               "it counts as skipped.</span>" if previous is not None and previous.skipped else "")
        self.evidence.value = f"<p><em>Diagnosing mystery #{m.number}…</em></p>"
        self._show()
        self.classroom.investigate(m)
        self._show()
        if self._panel is not None:
            self._panel.refresh_mysteries()
        return m

    def hint(self) -> str:
        """Reveal the next rung of the ladder (HTTP status → who answered → code or page title → cause); each costs a point."""
        text = self.classroom.hint()
        self._show()
        return text

    def check(self, cause: str) -> bool:
        """Record the trainee's answer for the current mystery and say whether it was right (and why)."""
        m = self.current
        if m is None or not cause:
            self.feedback.value = "Pick the cause you diagnosed first." if m is not None else "Start a mystery first."
            return False
        if m.answered:
            self.feedback.value = f"Mystery #{m.number} is already answered: press <b>New mystery</b> for the next one."
            return m.solved
        right = self.classroom.check(cause)
        truth = knowledge.load().cause(m.scenario)
        if right:
            self.feedback.value = (f"<span style='color:{PALETTE['good']}'>✔ Right: <code>{truth.id}</code>, {m.points} of "
                                   f"{len(HINT_LADDER)} points. Fix: {html.escape(truth.fix)}</span>")
        else:
            self.feedback.value = (f"<span style='color:{PALETTE['bad']}'>✖ Not quite: it was <code>{truth.id}</code> "
                                   f"({html.escape(truth.title)}). {html.escape(truth.summary)}</span>")
        self._show()
        return right

    def score_text(self) -> str:
        return self.classroom.score().text()

    def panel(self) -> Panel:
        """The diagnosis panel in training mode: its picker lists this board's mysteries, it never shows a verdict."""
        if self._panel is None:
            self._panel = Panel(training=self.classroom)
        return self._panel

    def write_answer_key(self, path: str | Path, count: int = 20) -> Path:
        """For the trainer: the first ``count`` mysteries of this seed with their causes and hints (CSV, JSON or Markdown)."""
        return self.classroom.write_answer_key(path, count)

    # ---- drawing -----------------------------------------------------------------------------
    def _sync_buttons(self) -> None:
        m = self.current
        open_ = m is not None and not m.answered
        self.check_button.disabled = not (open_ and self.answer.value)
        self.hint_button.disabled = not open_ or m is None or m.hints_shown >= len(HINT_LADDER)
        shown = m.hints_shown if m is not None else 0
        self.hint_button.description = (f"Hint {shown + 1} of {len(HINT_LADDER)}: {HINT_LADDER[shown]}" if shown < len(HINT_LADDER)
                                        else "No more hints")

    def _show(self) -> None:
        m = self.current
        if m is None:
            self.header.value = "<b>No mystery yet</b>: press <b>New mystery</b>."
            self._sync_buttons()
            return
        url, ca = html.escape(m.target.base_url), html.escape(m.target.ca_bundle or LAB_CA)

        def flag(name: str) -> str:  # a line may wrap between words, never inside an option's name
            return f"<span style='white-space:nowrap'>{name}</span>"

        # line-height of its own: ipywidgets' HTML sets the widget row's (28 px), which spread 12 px text over double spacing
        self.header.value = (f"<div style='font-size:15px'><b>Mystery #{m.number}</b> · target <code>{url}</code>"
                             f"</div><div style='font-size:12px;line-height:1.5;color:{PALETTE['subtle']}'>Any key works in the lab (it never checks a "
                             f"key's value), e.g. <code>{LAB_KEY}</code>. The lab's certificates come from its own CA, <code>{ca}</code>. "
                             "Diagnose it yourself too: the panel (<code>board.panel()</code>), or in a terminal "
                             f"<code>why403 diagnose {flag('--base-url')} {url} {flag('--ca-bundle')} {ca}</code> "
                             f"(curl: <code>{flag('--cacert')} {ca}</code>).</div>")
        if m.report is not None:
            self.evidence.value = (f"<p style='margin:6px 0 2px'><b>Evidence for mystery #{m.number}</b>: what the lab answered to "
                                   "each request the kit sent</p>" + exchanges_html(m.report.exchanges, m.target.base_url))
            ladder = m.hints()[: m.hints_shown]
            self.hints.value = ("<ol style='margin:4px 0'>" + "".join(
                f"<li><b>{html.escape(HINT_LADDER[i])}</b>: {html.escape(text)}</li>" for i, text in enumerate(ladder)) + "</ol>"
                                if ladder else "")
        score = self.classroom.score()
        self.score.value = f"<b>Score:</b> {html.escape(score.text())}" if score.answered else ""
        self._sync_buttons()


__all__ = ["TrainingLab", "training_board"]
