"""Every colour the HTML views use, in one place: the panel, the tables, the verdict box, the diagram, the export's CSS.

Chosen to stay readable printed in grey and on phones. The export's stylesheet reads them as CSS variables
(:func:`css_variables`); inline styles and the SVG diagram use the values directly.
"""

from __future__ import annotations

PALETTE: dict[str, str] = {
    "fg": "#1f2937",            # body text
    "heading": "#0f172a",       # diagram column heads
    "note": "#374151",          # small explanatory text (FAQ live examples)
    "subtle": "#4b5563",        # status lines, key status
    "muted": "#6b7280",         # captions, confidence
    "line": "#e5e7eb",          # table rows, rules
    "rule": "#e2e8f0",          # the diagram's head rule
    "soft": "#f8fafc",          # boxes behind code and the contents
    "code-bg": "#f1f5f9",
    "th-bg": "#f3f4f6",
    "th-line": "#d0d4da",
    "accent": "#c2410c",        # the masthead, the highlighted path of a refusal
    "accent-soft": "#fff7ed",
    "link": "#1d4ed8",
    "stderr-bg": "#fff5f5",
    "good": "#15803d",          # ok verdicts, passed steps
    "good-soft": "#ecfdf3",
    "bad": "#b91c1c",           # refusals, errors
    "bad-soft": "#fef2f2",
    "caution": "#b45309",       # warnings
    "idle": "#9ca3af",          # nothing run yet
    "idle-soft": "#f9fafb",
    "white": "#ffffff",
}

# Background and text of a finding's status cell.
STATUS_COLOURS: dict[str, tuple[str, str]] = {
    "pass": ("#e3f4e1", "#1d5c1a"),
    "warn": ("#fff4cc", "#6b4e00"),
    "fail": ("#fbdcdc", "#8a1414"),
    "error": ("#f6c6c6", "#7a0000"),
    "skip": ("#f0f0f0", "#555555"),
}
STATUS_STYLE: dict[str, str] = {
    status: f"background-color:{bg};color:{fg}" + (";font-weight:bold" if status in ("fail", "error") else "")
    for status, (bg, fg) in STATUS_COLOURS.items()
}
# Text colour of a step's status line once it is done, by the worst status it found.
WORST_COLOUR: dict[str, str] = {"fail": PALETTE["bad"], "error": PALETTE["bad"], "warn": PALETTE["caution"], "pass": PALETTE["good"]}

# The decision-path diagram: nodes and edges off the path, on a refusal's path, on an ok path.
DIAGRAM_OFF = {"fill": PALETTE["soft"], "stroke": "#cbd5e1", "text": "#475569", "edge": "#d5dde7"}
DIAGRAM_ON = {"fill": "#fff4e6", "stroke": PALETTE["accent"], "text": "#7c2d12", "edge": PALETTE["accent"]}
DIAGRAM_ON_OK = {"fill": PALETTE["good-soft"], "stroke": PALETTE["good"], "text": "#14532d", "edge": PALETTE["good"]}


def css_variables() -> str:
    """The palette as CSS custom properties (``var(--fg)``…) for the export's stylesheet."""
    return ":root { " + " ".join(f"--{name}: {value};" for name, value in PALETTE.items()) + " }"


__all__ = ["DIAGRAM_OFF", "DIAGRAM_ON", "DIAGRAM_ON_OK", "PALETTE", "STATUS_COLOURS", "STATUS_STYLE", "WORST_COLOUR", "css_variables"]
