"""Time to execute notebooks/02_runbook.ipynb headless against the training lab, as a ratio to an empty notebook.

Both run with nbclient on the same kernel (python3, this venv), in the same process, alternating, REPS times each after
one warm-up of each; the figures are medians. Each execution starts its own kernel, so the empty notebook measures the
fixed cost (kernel start, kernel_info, shutdown) and the ratio shows what the runbook adds on top.
The notebooks are copied to a temporary directory first: nothing is written into the repository's notebooks.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

NBF: Any = nbformat  # nbformat ships no type hints (as in why403_kit.export.scrub)
REPO = Path(__file__).resolve().parents[1]
RUNBOOK = "02_runbook.ipynb"
KERNEL = "python3"
REPS = 5


def _execute(path: Path, cwd: Path) -> float:
    nb = NBF.read(path, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, kernel_name=KERNEL, timeout=300, store_widget_state=True, resources={"metadata": {"path": str(cwd)}}).execute(
        stderr=subprocess.DEVNULL)  # the kernel's startup chatter; cell errors still come back as outputs
    elapsed = time.perf_counter() - t0
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    if errors:
        raise SystemExit(f"{path.name} produced an error output: {errors[0].get('ename')}: {errors[0].get('evalue')}")
    return elapsed


def main() -> None:
    # the lab, no key, no proxy: the runbook's defaults (use_lab=True, edge_block) never leave loopback
    for name in list(os.environ):
        if name.upper().endswith(("_API_KEY", "_PROXY")) or name.startswith("WHY403_"):
            del os.environ[name]
    os.environ.update(WHY403_LAB="1", MPLBACKEND="Agg", JUPYTER_PLATFORM_DIRS="1")

    with tempfile.TemporaryDirectory(prefix="why403-bench-") as tmp:
        work = Path(tmp) / "notebooks"
        shutil.copytree(REPO / "notebooks", work, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        runbook = work / RUNBOOK
        empty = work / "empty.ipynb"
        template = NBF.read(runbook, as_version=4)
        NBF.write(NBF.v4.new_notebook(metadata={"kernelspec": template.metadata["kernelspec"]}), empty)

        _execute(empty, work), _execute(runbook, work)  # warm-up: imports and bytecode caches
        empty_s: list[float] = []
        runbook_s: list[float] = []
        for _ in range(REPS):
            empty_s.append(_execute(empty, work))
            runbook_s.append(_execute(runbook, work))

    e, r = statistics.median(empty_s), statistics.median(runbook_s)
    print(f"kernel: {KERNEL} ({sys.executable}); {REPS} runs each after one warm-up, medians")
    print(f"empty notebook:  {e:.2f}s  (min {min(empty_s):.2f}s, max {max(empty_s):.2f}s)")
    print(f"{RUNBOOK}: {r:.2f}s  (min {min(runbook_s):.2f}s, max {max(runbook_s):.2f}s)")
    print(f"ratio {RUNBOOK} / empty notebook: {r / e:.2f}  (runbook adds {r - e:.2f}s)")


if __name__ == "__main__":
    main()
