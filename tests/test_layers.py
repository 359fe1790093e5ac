"""The package's imports (read with ast, lazy ones included) form no circle and never reach up a layer.

A module may import its own layer or the ones below it. When a change needs an upward import, the code is in the
wrong layer: move it down, or hand the higher layer a value (a record, a hook) instead.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "why403_kit"

# Lowest first. Each entry is the top-level module or package under why403_kit; "" is the package's __init__.
LAYERS: list[set[str]] = [
    {"_keys", "_secret", "redact", "_logs", "errors", "_files", "_resources"},  # masking (_keys <- _secret <- redact <- _logs), errors, output files, the shipped notebooks
    {"knowledge"},                    # validated TOML
    {"model"},                        # the records
    {"classify"},                     # one answer -> a diagnosis
    {"probes"},                       # one module per step + the registry
    {"runner", "triage"},             # the engines: live diagnosis, offline triage
    {"render"},                       # every view of a report
    {"lab"},                          # the training server
    {"export"},                       # nbconvert pages (reads render, lab)
    {"ui"},                           # widgets (reads everything below, exports lazily)
    {"cli", "__main__", ""},          # the shell and the public API
]
# Circles another stream is removing; a pair listed here is tolerated, nothing else.
ALLOWED_CYCLES: set[frozenset[str]] = set()


def modules(root: Path, name: str) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under ``root`` (a package named ``name``)."""
    found = {}
    for path in root.rglob("*.py"):
        parts = [name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(module: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The package's own modules that ``module`` imports, anywhere in its body."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in known else origin for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` where c is a name: the deepest module
                target = target.rpartition(".")[0]
            if target and target != module:
                yield target


def graph(root: Path, name: str) -> dict[str, set[str]]:
    known = modules(root, name)
    return {m: set(imports(m, p, known)) for m, p in known.items()}


def component(module: str, name: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_of(module: str, name: str, layers: list[set[str]]) -> int:
    comp = component(module, name)
    return next(i for i, layer in enumerate(layers) if comp in layer)


def upward_imports(edges: dict[str, set[str]], name: str, layers: list[set[str]]) -> list[str]:
    return sorted(f"{m} -> {t}" for m, targets in edges.items() for t in targets
                  if layer_of(t, name, layers) > layer_of(m, name, layers))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle, each as the list of modules on it (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                found.append(sorted(scc))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer() -> None:
    edges = graph(PACKAGE, "why403_kit")
    unplaced = sorted({component(m, "why403_kit") for m in edges} - set().union(*LAYERS))
    assert unplaced == [], f"put these in a layer of LAYERS: {unplaced}"


def test_no_import_circle() -> None:
    found = [c for c in cycles(graph(PACKAGE, "why403_kit")) if frozenset(c) not in ALLOWED_CYCLES]
    assert found == []


def test_no_import_reaches_up_a_layer() -> None:
    assert upward_imports(graph(PACKAGE, "why403_kit"), "why403_kit", LAYERS) == []


def test_the_checks_see_a_circle_and_an_upward_import(tmp_path: Path) -> None:
    pkg = tmp_path / "toy"
    (pkg / "views").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "model.py").write_text("def f():\n    from .views import page  # lazy, still counted\n")
    (pkg / "views" / "__init__.py").write_text("from .page import render\n")
    (pkg / "views" / "page.py").write_text("from .. import model\n")
    edges = graph(pkg, "toy")
    assert edges["toy.views.page"] == {"toy.model"} and edges["toy.model"] == {"toy.views.page"}
    assert cycles(edges) == [["toy.model", "toy.views.page"]]
    assert upward_imports(edges, "toy", [{"model"}, {"views"}, {""}]) == ["toy.model -> toy.views.page"]
