"""`pip install why403-kit` as a user gets it: the wheel, built from what a push carries, installed into a fresh venv
outside the checkout, and every command run from an empty directory.

Dependencies come from the package registries through pip's cache, as any user's install would. The wheel size,
the install time and the CLI's start-up imports are printed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from tests.conftest import CANARY
from tests.test_binder import _repo_copy, _run, _system_python

HEAVY = ["pandas", "numpy", "nbconvert", "nbformat", "nbclient", "ipywidgets", "IPython", "matplotlib", "jupyter_client", "jupyterlab"]
PROBE = "import sys, why403_kit.cli as c; c.main(sys.argv[1:]); print(sorted({m.split('.')[0] for m in sys.modules} & set(%r)))"


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_wheel_installs_and_every_command_runs_from_an_empty_directory(tmp_path: Path) -> None:
    repo = _repo_copy(tmp_path / "repo")
    dist = tmp_path / "dist"
    _run([_system_python(), "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(repo)], cwd=tmp_path)
    wheel = next(dist.glob("why403_kit-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(p.name for p in (repo / "notebooks").glob("*.ipynb"))
    assert sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("why403_kit/notebooks/")) == shipped
    assert "why403_kit/export/templates/why403/index.html.j2" in names and not [n for n in names if n.startswith(("tests/", "notebooks/"))]

    venv = tmp_path / "venv"
    bin_dir = venv / "bin"
    pip_env = {k: v for k, v in os.environ.items() if k not in ("PIP_NO_CACHE_DIR", "PIP_REQUIRE_VIRTUALENV", "PYTHONPATH")}
    t0 = time.monotonic()
    _run([_system_python(), "-m", "venv", str(venv)])
    _run([str(bin_dir / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q", str(wheel)], env=pip_env, cwd=tmp_path)
    install_s = time.monotonic() - t0
    _run([str(bin_dir / "python"), "-m", "pip", "check"], env=pip_env)

    empty = tmp_path / "empty"
    empty.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTER", "IPYTHON", "PYTHON", "VIRTUAL_ENV", "WHY403_", "OPENAI", "AZURE", "COLUMNS"))
           and not k.upper().endswith("_PROXY")}
    env.update(HOME=str(home), JUPYTER_PATH=str(venv / "share" / "jupyter"), JUPYTER_CONFIG_DIR=str(home / "cfg"),
               JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_RUNTIME_DIR=str(home / "rt"), IPYTHONDIR=str(home / "ipy"),
               JUPYTER_PLATFORM_DIRS="1", MPLBACKEND="Agg", PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")

    def why403(*args: str, code: int = 0, stdin: str = "", **extra: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(bin_dir / "why403"), *args], input=stdin, capture_output=True, text=True, cwd=empty,
                              env={**env, **extra}, timeout=600)
        assert proc.returncode == code, f"why403 {' '.join(args)} -> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        assert "Traceback" not in proc.stderr and CANARY not in proc.stdout + proc.stderr
        return proc

    where = _run([str(bin_dir / "python"), "-c", "import why403_kit; print(why403_kit.__file__)"], cwd=empty, env=env).stdout.strip()
    assert Path(where).is_relative_to(venv), where  # the installed package, not the checkout

    # Start-up: the light commands import none of the heavy libraries, in the installed package too.
    t1 = time.monotonic()
    for args, stdin in ((["--help"], ""), (["classify"], '{"status": 200}')):
        loaded = _run([str(bin_dir / "python"), "-c", PROBE % (HEAVY,), *args], input=stdin, cwd=empty, env=env).stdout.strip()
        assert loaded.splitlines()[-1] == "[]", (args, loaded)
    help_s = (time.monotonic() - t1) / 2

    assert "diagnose" in why403("--help").stdout
    assert "scenarios diagnosed to their cause" in why403("demo").stdout
    why403("classify", stdin='{"status": 200, "body": "{}"}')
    why403("classify", code=1, stdin='{"status": 403, "body": "<title>Attention Required! | Cloudflare</title>"}')
    why403("classify", code=2, stdin="{not json")
    assert "Blocked by a CDN or WAF" in why403("lab", "--list").stdout
    assert "Q:" in why403("faq").stdout

    lab = subprocess.Popen([str(bin_dir / "why403"), "lab", "--scenario", "edge_block"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, cwd=empty, env=env)
    try:
        assert lab.stdout
        banner = lab.stdout.readline()
        base = re.search(r" at (http://\S+)", banner)
        assert base, banner
        diag = why403("diagnose", "--base-url", base.group(1), "--out", "bundle", code=1, OPENAI_API_KEY=CANARY)
        assert "edge_block" in diag.stdout and (empty / "bundle" / "report.json").is_file()
    finally:
        lab.terminate()
        lab.communicate(timeout=30)

    (empty / "app.jsonl").write_text(json.dumps({"status": 401, "body": {"error": {"message": f"Incorrect API key provided: {CANARY}",
                                                                                  "code": "invalid_api_key"}}}) + "\n")
    assert "invalid_api_key" in why403("triage", "app.jsonl", code=1).stdout

    why403("notebooks", "--out", "nbs")
    assert sorted(p.name for p in (empty / "nbs").glob("*.ipynb")) == shipped
    assert why403("export", "faq", "--out", "site").stdout.strip().endswith("faq.html")
    t2 = time.monotonic()
    why403("export", "runbook", "--out", "site")
    runbook_s = time.monotonic() - t2
    why403("export", "runbook", "--report", "bundle/report.json", "--out", "replayed")
    for page in (empty / "site" / "faq.html", empty / "site" / "runbook.html", empty / "replayed" / "runbook.html"):
        text = page.read_text(encoding="utf-8")
        assert "<html" in text and CANARY not in text
    assert "edge_block" in (empty / "replayed" / "runbook.html").read_text(encoding="utf-8")
    _run([str(bin_dir / "python"), "-c", "from why403_kit.ui import Panel; Panel"], cwd=empty, env=env)
    assert sorted(p.name for p in empty.iterdir()) == ["app.jsonl", "bundle", "nbs", "replayed", "site"]  # wrote only where asked

    print(f"wheel {wheel.stat().st_size / 1024:.0f} KiB; fresh venv install {install_s:.1f}s; "
          f"why403 --help/classify in a subprocess {help_s:.2f}s; export runbook {runbook_s:.1f}s")
