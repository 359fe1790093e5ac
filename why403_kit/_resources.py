"""Files that ship inside the package: the notebooks.

One source: the checkout's top-level ``notebooks/``. The wheel carries it as ``why403_kit/notebooks/`` (mapped
in pyproject.toml); an editable install does not map it, so the checkout's directory is read there. Everything
that needs a notebook (``why403 notebooks``, ``why403 export runbook``) asks here.
"""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

from ._files import check_out_dir, written_whole
from .errors import InputError


def notebooks_dir() -> Path:
    """The directory of the shipped notebooks: inside the installed package, else the source checkout's."""
    packaged = files(__package__ or "why403_kit") / "notebooks"
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / "notebooks"
    if checkout.is_dir():
        return checkout
    raise InputError("the notebooks are not installed with this why403-kit (neither why403_kit/notebooks nor a checkout's notebooks/)")


def notebook_path(name: str) -> Path:
    """One shipped notebook by file name ('02_runbook.ipynb')."""
    path = notebooks_dir() / name
    if not path.is_file():
        raise InputError(f"no notebook {name!r} ships with why403-kit; there are: {', '.join(shipped_notebooks())}")
    return path


def shipped_notebooks() -> list[str]:
    return sorted(p.name for p in notebooks_dir().glob("*.ipynb"))


def write_notebooks(out_dir: str | Path, *, force: bool = False) -> list[tuple[Path, str]]:
    """Copy every shipped notebook into ``out_dir``; one existing there is kept unless ``force``.

    Returns (path, 'wrote' | 'kept') per notebook. A notebook someone has worked in is never overwritten by accident.
    """
    out = check_out_dir(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        done = []
        for name in shipped_notebooks():
            target = out / name
            if target.exists() and not force:
                done.append((target, "kept"))
                continue
            with written_whole(target, "--out") as part:  # whole or not at all, and never onto a directory or a pipe
                shutil.copyfile(notebooks_dir() / name, part)
            done.append((target, "wrote"))
    except OSError as err:
        raise InputError(f"cannot write the notebooks into {out}: {err.strerror or err}") from None
    return done


__all__ = ["notebook_path", "notebooks_dir", "shipped_notebooks", "write_notebooks"]
