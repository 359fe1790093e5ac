"""render.frames: a report's DataFrame as a table readable in JupyterLab (whole cells, escaped, shares in %, short times)."""

from __future__ import annotations

import math

import pandas as pd

from why403_kit.render import readable_table
from why403_kit.render.frames import short_time


def test_every_cell_and_label_is_escaped_whole_and_the_index_hidden() -> None:
    hostile = '<img src=x onerror="alert(1)"><script>window.x = 1</script>' + " evidence" * 30
    frame = pd.DataFrame([{"check": "live", "evidence": hostile, "<b>label</b>": "<i>x</i>", "hosts": ["a<b>", "c"],
                           "confidence": 0.95, "http_status": None}])
    page = readable_table(frame).to_html().replace("<wbr>", "")  # break points, no text of their own
    assert "<script" not in page and "<img" not in page and "<b>label" not in page and "<i>x" not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;label&lt;/b&gt;" in page and "a&lt;b&gt;, c" in page
    assert page.count(" evidence") == 30 and "..." not in page and "…" not in page  # the whole text, not cut
    assert ">0<" not in page  # no index column
    assert ">0.95<" in page and ">None<" not in page and ">nan<" not in page


def test_shares_are_percentages_and_times_short_on_one_line() -> None:
    frame = pd.DataFrame([{"cause": "quota_exceeded", "share": 0.1241, "first_seen": "2026-03-02T00:05:59Z",
                           "last_seen": "2026-03-02T03:00:00+02:00", "example_at": "", "example": "x " * 40, "count": 7}])
    page = readable_table(frame).to_html().replace("<wbr>", "")
    assert ">12.4%<" in page and "0.1241" not in page
    assert ">2026-03-02 00:05<" in page and ">2026-03-02 01:00<" in page and "T00:05" not in page  # in UTC
    styles = page.split("</style>")[0]
    nowrap = styles.split("white-space: nowrap")[0].rsplit("}", 1)[-1]  # the selectors of the one-line rule
    assert all(f"_col{i}" in nowrap for i in (1, 2, 3, 6)), styles
    wrapping = styles.split("white-space: pre-wrap")[0].rsplit("}", 1)[-1]
    assert "_col5" in wrapping and "overflow-wrap: anywhere" in styles


def test_a_time_that_is_not_iso_is_shown_as_it_is() -> None:
    assert short_time("yesterday") == "yesterday" and short_time(math.nan) == "" and short_time(None) == ""
