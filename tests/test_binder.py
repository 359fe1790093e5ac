"""Binder: binder/ alone builds an environment that runs the notebooks, the way repo2docker would.

repo2docker (with a binder/ folder) installs `binder/requirements.txt` with pip from the repository root and ignores
the root pyproject.toml, so the file's last line `.` installs the package. The slow test does exactly that in a fresh
venv made by the system Python 3.11, from a copy of the repository's files (tracked and not ignored, as a push would
carry them: no .venv, no egg-info), then runs notebooks/01_diagnose.ipynb headless in that venv's own kernel with the
widget state stored, and checks the executed notebook holds no error and no trace of the canary key.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import CANARY

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)$")
TEST_ONLY = {"pytest", "pytest-timeout", "playwright", "mypy", "ruff", "pandas-stubs", "greenlet", "pyee"}

RUNNER = r"""
import json, sys
from pathlib import Path
import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

src, out = Path(sys.argv[1]), Path(sys.argv[2])
nb = nbformat.read(src, as_version=4)
# one probe cell at the end reads the kernel's peak RSS (KiB on Linux); it is removed before the notebook is written
nb.cells.append(nbformat.v4.new_code_cell("import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"))
km = KernelManager(kernel_name="python3")
NotebookClient(nb, km=km, timeout=180, store_widget_state=True, resources={"metadata": {"path": str(src.parent)}}).execute()
probe = nb.cells.pop()
rss_mb = int(probe.outputs[0]["text"]) / 1024
nbformat.write(nb, out)
print(json.dumps({"argv": km.kernel_spec.argv, "kernel_max_rss_mb": rss_mb}))
"""


def _requirement_lines() -> list[str]:
    lines = [ln.split("#", 1)[0].strip() for ln in (BINDER / "requirements.txt").read_text().splitlines()]
    return [ln for ln in lines if ln]


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in _requirement_lines()[:-1]:
        m = PIN.match(line)
        assert m, f"binder/requirements.txt: not pinned with ==: {line!r}"
        name = canonicalize_name(m.group(1))
        assert name not in pins, f"binder/requirements.txt pins {name} twice"
        pins[name] = m.group(2)
    return pins


def test_binder_files_pin_everything_the_notebooks_need() -> None:
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    lines = _requirement_lines()
    assert lines[-1] == ".", "the last line must install the package itself (repo2docker skips the root pyproject with binder/)"
    pins = _pins()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    needed = [Requirement(r) for r in project["dependencies"]]  # everything `pip install why403-kit` brings
    for req in needed:
        name = canonicalize_name(req.name)
        assert name in pins, f"binder/requirements.txt lacks {req}"
        assert req.specifier.contains(pins[name], prereleases=True), f"binder pins {name}=={pins[name]}, pyproject wants {req}"
    assert not TEST_ONLY & set(pins), f"test-only tools pinned for Binder: {sorted(TEST_ONLY & set(pins))}"
    assert not [p for p in BINDER.iterdir() if p.name in ("environment.yml", "Dockerfile")], "environment.yml/Dockerfile would override requirements.txt"


def _repo_copy(dest: Path) -> Path:
    """The files a push would carry: tracked, plus untracked ones not ignored (work in progress of this checkout)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _system_python() -> str:
    for candidate in (shutil.which("python3.11"), str(Path(sys.base_prefix) / "bin" / "python3.11")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail("python3.11 not found: Binder's runtime.txt asks for 3.11")


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{' '.join(cmd)} -> exit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc  # type: ignore[no-any-return]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_binder_environment_runs_01_diagnose(tmp_path: Path) -> None:
    repo = _repo_copy(tmp_path / "repo")
    venv = tmp_path / "venv"
    py = venv / "bin" / "python"

    # Only PIP_* settings that keep the cache: a reused wheel cache makes reruns fast.
    pip_env = {k: v for k, v in os.environ.items() if k not in ("PIP_NO_CACHE_DIR", "PIP_REQUIRE_VIRTUALENV", "PYTHONPATH")}
    t0 = time.monotonic()
    _run([_system_python(), "-m", "venv", str(venv)])
    _run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", "binder/requirements.txt"],
         cwd=repo, env=pip_env)
    build_s = time.monotonic() - t0
    _run([str(py), "-m", "pip", "check"], env=pip_env)

    # The package comes from the venv (a real, non-editable install with its knowledge files), not from the checkout.
    where = _run([str(py), "-c", "import why403_kit, why403_kit.knowledge as k; k.load(); print(why403_kit.__file__)"],
                 cwd=tmp_path).stdout.strip()
    assert Path(where).is_relative_to(venv), where
    frozen = {canonicalize_name(n): v for n, _, v in (ln.partition("==") for ln in
              _run([str(py), "-m", "pip", "freeze", "--exclude-editable"]).stdout.splitlines()) if v}
    pins = _pins()
    drift = {n: (v, frozen.get(n)) for n, v in pins.items() if frozen.get(n) != v}
    assert not drift, f"installed versions differ from the pins: {drift}"
    unpinned = sorted(set(frozen) - set(pins))
    assert not unpinned, f"installed but not pinned (next month's class would get other versions): {unpinned}"

    # Run the notebook in that venv's own kernel, isolated from the user's Jupyter and IPython directories.
    home = tmp_path / "home"
    home.mkdir()
    run_env = {k: v for k, v in os.environ.items()
               if not k.startswith(("JUPYTER", "IPYTHON", "PYTHON", "VIRTUAL_ENV", "WHY403_")) and not k.upper().endswith("_PROXY")}
    run_env.update(HOME=str(home), JUPYTER_PATH=str(venv / "share" / "jupyter"), JUPYTER_CONFIG_DIR=str(home / "cfg"),
                   JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_RUNTIME_DIR=str(home / "rt"), IPYTHONDIR=str(home / "ipy"),
                   JUPYTER_PLATFORM_DIRS="1", MPLBACKEND="Agg", OPENAI_API_KEY=CANARY, WHY403_LAB="1",
                   PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    notebooks = repo / "notebooks"
    out = tmp_path / "01_diagnose.executed.ipynb"
    t1 = time.monotonic()
    proc = _run([str(py), "-c", RUNNER, str(notebooks / "01_diagnose.ipynb"), str(out)], cwd=notebooks, env=run_env, timeout=600)
    run_s = time.monotonic() - t1
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    argv = result["argv"]
    # mybinder guarantees 1 GB of RAM (2 GB at most, then the kernel is restarted): the notebook must fit well within
    assert 0 < result["kernel_max_rss_mb"] < 1024, f"kernel peak RSS {result['kernel_max_rss_mb']:.0f} MB"
    venv_mb = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20
    assert Path(argv[0]).parent == py.parent or argv[0] in ("python", "python3"), f"the kernel is not the venv's python: {argv}"

    text = out.read_text()
    nb = json.loads(text)
    errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    assert "application/vnd.jupyter.widget-state+json" in nb["metadata"].get("widgets", {}), "widget state was not stored"
    assert CANARY not in text and CANARY[8:30] not in text, "the canary key leaked into the executed notebook"
    assert CANARY not in proc.stdout + proc.stderr
    print(f"binder venv build {build_s:.1f}s ({venv_mb:.0f} MB on disk), 01_diagnose run {run_s:.1f}s, "
          f"kernel peak RSS {result['kernel_max_rss_mb']:.0f} MB")
