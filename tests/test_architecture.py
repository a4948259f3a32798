"""The package's shape: dependencies point one way, with no cycles and no hidden imports.

Layers, lowest first: ``_utils`` <- ``nets`` <- ``hub`` <- ``training`` / ``classifier`` <- ``over_sampling`` / ``datasets`` / ``metrics`` / ``fer2013`` / ``readers`` / ``plots`` <-
``cli``. A module imports only from its own layer or lower ones, never from a higher one, not
even inside a function; function-level imports of the package's own modules are for keeping
``cganbalance --help`` fast, so only the command line has them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "cganbalance"

LAYERS = {
    "_utils": 0,
    "nets": 1,
    "hub": 2,
    "training": 3,
    "classifier": 3,
    "over_sampling": 4,
    "datasets": 4,
    "metrics": 4,
    "fer2013": 4,
    "readers": 4,
    "plots": 4,
    "cli": 5,
    "demo": 5,
    "__main__": 5,
    "__init__": 6,
}
#: Modules that may import the package's own modules inside functions (to keep `--help` fast).
LAZY_IMPORTERS = {"cli", "__main__"}


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, root: Path = ROOT):
    """``(imported module, inside a function)`` for each import of a cganbalance module."""
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    nested = {id(n) for f in functions for n in ast.walk(f) if n is not f}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                target = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        for t in targets:
            if t == "cganbalance" or t.startswith("cganbalance."):
                yield t, id(node) in nested


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def test_every_module_has_a_layer():
    assert {_top(m) for m in MODULES} <= set(LAYERS), sorted({_top(m) for m in MODULES} - set(LAYERS))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    mine = LAYERS[_top(module)]
    upward = [t for t, _ in _imports(MODULES[module]) if LAYERS[_top(t)] > mine]
    assert not upward, f"{module} (layer {mine}) imports higher layers: {upward}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_function_level_imports_of_the_package(module):
    if _top(module) in LAZY_IMPORTERS:
        return
    hidden = sorted({t for t, inside in _imports(MODULES[module]) if inside})
    assert not hidden, f"{module} imports {hidden} inside functions: import them at the top of the module"


def _graph(modules: dict[str, Path], root: Path = ROOT) -> dict[str, set[str]]:
    graph = {m: set() for m in modules}
    for m, path in modules.items():
        for t, _ in _imports(path, root):
            while t not in modules and "." in t:  # `from .nets import Generator` names a module's attribute
                t = t.rpartition(".")[0]
            if t in modules and t != m:
                graph[m].add(t)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (as a path that ends where it starts), or None."""
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in state and (found := visit(t, stack + [t])):
                return found
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m, [m])):
            return found
    return None


def test_no_import_cycles():
    cycle = _cycle(_graph(MODULES))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checks_can_fail(tmp_path):
    """An upward import inside a function and a cycle, in a made-up package, are both found."""
    root = tmp_path / "cganbalance"
    (root / "nets").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "nets" / "__init__.py").write_text("def f():\n    from ..over_sampling import CGANOverSampler\n")
    (root / "over_sampling.py").write_text("from .nets import Generator\n")
    modules = {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    assert list(_imports(root / "nets" / "__init__.py", root)) == [("cganbalance.over_sampling", True)]
    assert _cycle(_graph(modules, root)) == ["cganbalance.nets", "cganbalance.over_sampling", "cganbalance.nets"]
