"""Export time and page size of the runbook: ``--to why403`` beside a plain ``--to html``, same executed notebook, same run.

The runbook notebook is executed once against the lab (edge_block); both exporters then convert that very
notebook, in process (median of several runs, alternating) and through ``jupyter nbconvert`` (process start
included). Also counted: what each page would fetch from the network and whether the canary-free scrub held.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nbconvert import HTMLExporter

from why403_kit.export import Why403Exporter, default_notebook, execute_notebook
from why403_kit.export.scrub import NBF

RUNS = 5
CLI_RUNS = 3
_FETCH = re.compile(r"<(?:script|img|iframe|source)\b[^>]*\bsrc=[\"']?(?!data:|#)[^\s\"'>]+|<link\b[^>]*\bhref=[\"']?(?!data:|#)[^\s\"'>]+",
                    re.IGNORECASE)


def _median_seconds(fn: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    t0 = time.perf_counter()
    nb = execute_notebook(default_notebook(), {"use_lab": True, "lab_scenario": "edge_block"})
    executed_s = time.perf_counter() - t0

    classes: list[Any] = [Why403Exporter, HTMLExporter]  # traitlets constructors are untyped
    why, plain = (cls() for cls in classes)
    why_page, _ = why.from_notebook_node(nb, {"why403_kind": "runbook"})
    plain_page, _ = plain.from_notebook_node(nb)
    # alternate the two so machine load hits both alike
    why_t: list[float] = []
    plain_t: list[float] = []
    for _ in range(RUNS):
        why_t.append(_median_seconds(lambda: why.from_notebook_node(nb, {"why403_kind": "runbook"}), 1))
        plain_t.append(_median_seconds(lambda: plain.from_notebook_node(nb), 1))
    why_s, plain_s = statistics.median(why_t), statistics.median(plain_t)

    with tempfile.TemporaryDirectory(prefix="why403-bench-") as tmp:
        src = Path(tmp) / "runbook.ipynb"
        NBF.write(nb, str(src))
        jupyter = str(Path(sys.executable).with_name("jupyter"))

        def cli(to: str) -> None:
            subprocess.run([jupyter, "nbconvert", "--to", to, str(src), "--output-dir", tmp, "--output", f"cli-{to}"],
                           check=True, capture_output=True, timeout=300)

        cli_why, cli_plain = [], []
        for _ in range(CLI_RUNS):
            cli_why.append(_median_seconds(lambda: cli("why403"), 1))
            cli_plain.append(_median_seconds(lambda: cli("html"), 1))
        cli_why_s, cli_plain_s = statistics.median(cli_why), statistics.median(cli_plain)
        cli_why_kb = (Path(tmp) / "cli-why403.html").stat().st_size / 1024
        cli_plain_kb = (Path(tmp) / "cli-html.html").stat().st_size / 1024

    why_kb, plain_kb = len(why_page.encode()) / 1024, len(plain_page.encode()) / 1024
    print(f"runbook notebook executed once against the lab (edge_block): {executed_s:.1f} s")
    print(f"{'':34}{'why403':>12}{'plain html':>12}{'ratio':>8}")
    print(f"{'export time, in process (median ' + str(RUNS) + ')':34}{why_s * 1000:>10.0f}ms{plain_s * 1000:>10.0f}ms{why_s / plain_s:>8.2f}")
    print(f"{'jupyter nbconvert CLI (median ' + str(CLI_RUNS) + ')':34}{cli_why_s:>11.2f}s{cli_plain_s:>11.2f}s{cli_why_s / cli_plain_s:>8.2f}")
    print(f"{'page size':34}{why_kb:>10.0f}KB{plain_kb:>10.0f}KB{why_kb / plain_kb:>8.2f}")
    print(f"{'page size, CLI output':34}{cli_why_kb:>10.0f}KB{cli_plain_kb:>10.0f}KB{cli_why_kb / cli_plain_kb:>8.2f}")
    print(f"{'external fetches in the page':34}{len(_FETCH.findall(why_page)):>12}{len(_FETCH.findall(plain_page)):>12}")
    print(f"{'<script> elements':34}{why_page.lower().count('<script'):>12}{plain_page.lower().count('<script'):>12}")
    print(f"{'decision-path diagram':34}{'yes' if 'data-why403=' in why_page else 'no':>12}{'yes' if 'data-why403=' in plain_page else 'no':>12}")
    if _FETCH.findall(why_page) or "<script" in why_page.lower():
        print("FAIL: the why403 page fetches something", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
