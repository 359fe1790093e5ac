"""What `pip install why403-kit` brings: every runtime dependency, every subpackage, the notebooks from their one
source (the top-level notebooks/), found the same way by the CLI and the exporter. The slow test_wheel.py installs it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from why403_kit._resources import notebook_path, notebooks_dir, shipped_notebooks
from why403_kit.errors import InputError
from why403_kit.export import default_notebook

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# The design card's packages, and what the exports and notebooks need.
RUNTIME = {"httpx", "pandas", "ipywidgets", "ipykernel", "jupyterlab", "nbclient", "nbconvert", "nbformat", "papermill", "matplotlib",
           "duckdb", "zstandard", "tqdm"}
TEST_TOOLS = {"pytest", "pytest-timeout", "playwright", "mypy", "ruff", "pandas-stubs", "types-tqdm", "hypothesis"}


def test_a_plain_install_brings_every_runtime_package() -> None:
    project = PYPROJECT["project"]
    assert {Requirement(r).name for r in project["dependencies"]} >= RUNTIME
    assert {Requirement(r).name for r in project["optional-dependencies"]["test"]} == TEST_TOOLS  # test tools only


def test_every_subpackage_and_the_notebooks_ship() -> None:
    tool = PYPROJECT["tool"]["setuptools"]
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "why403_kit").rglob("__init__.py")}
    # directories of data only (no module), each declared too: setuptools warns about any that is not
    data = {".".join(d.relative_to(ROOT).parts) for d in (ROOT / "why403_kit").rglob("*")
            if d.is_dir() and d.name != "__pycache__" and any(f.is_file() for f in d.iterdir()) and not (d / "__init__.py").exists()}
    assert data >= {"why403_kit.lab.tls", "why403_kit.triage.data"}
    assert found | data | {"why403_kit.notebooks"} == set(tool["packages"]), "a directory that ships is missing from [tool.setuptools] packages"
    assert tool["package-dir"] == {"why403_kit.notebooks": "notebooks"}
    assert tool["package-data"]["why403_kit.notebooks"] == ["*.ipynb"]


def test_the_notebooks_have_one_source() -> None:
    assert notebooks_dir() == ROOT / "notebooks"  # an editable install reads the checkout's directory
    assert shipped_notebooks() == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert default_notebook() == notebook_path("02_runbook.ipynb") == ROOT / "notebooks" / "02_runbook.ipynb"
    with pytest.raises(InputError, match=r"no notebook 'nope\.ipynb' ships with why403-kit"):
        notebook_path("nope.ipynb")


def test_the_build_says_nothing_about_data_directories(tmp_path: Path) -> None:
    """Every directory that ships is declared, so building says nothing: each data directory not listed as a package
    (templates, lab/tls, triage/data) cost 40 lines of setuptools' 'Package would be ignored' in `make demo`'s first run."""
    from tests.test_binder import _repo_copy

    repo = _repo_copy(tmp_path / "repo")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--disable-pip-version-check", "-w",
                           str(tmp_path / "dist"), str(repo)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    said = proc.stdout + proc.stderr
    assert "BuildBackendWarning" not in said and "would be ignored" not in said, said[-4000:]
    names = zipfile.ZipFile(next((tmp_path / "dist").glob("why403_kit-*.whl"))).namelist()
    for data in ("why403_kit/export/templates/why403/index.html.j2", "why403_kit/export/templates/why403/conf.json",
                 "why403_kit/export/templates/why403/static/why403.css", "why403_kit/lab/tls/lab-ca.pem",
                 "why403_kit/triage/data/refusals.jsonl", "why403_kit/knowledge/causes.toml", "why403_kit/py.typed"):
        assert data in names, data
