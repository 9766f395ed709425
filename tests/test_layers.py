"""The package's layers import only downward, without cycles, from the top of each module.

A small AST walk over ``inpaint_core``: every import of a project module is read (wherever it
is written) and checked against the layer table below. A module may import its own layer or
any layer under it, never one above; nothing in the package imports the checkout's entry
points (``app.py``, ``train/``, ``hubconf.py``); project imports sit at the top of a module,
not inside functions; and the import graph between modules has no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "inpaint_core"

# lowest first: a module may import its own layer and those before it
LAYERS = [
    ("core", ["inpaint_core.engine", "inpaint_core.checkpoint"]),
    ("models, fills, data", ["inpaint_core.models", "inpaint_core.fills", "inpaint_core.data"]),
    ("registry", ["inpaint_core.registry"]),
    ("eval, scene", ["inpaint_core.eval", "inpaint_core.scene"]),
    ("training", ["inpaint_core.training"]),
    ("app, cli", ["inpaint_core.app", "inpaint_core.cli", "inpaint_core.__main__"]),
]
ENTRY_POINTS = ("app", "train", "hubconf")


def layer_of(module: str) -> int | None:
    for i, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _top_statements(body: list[ast.stmt]) -> set[int]:
    """The statements a module runs on import: its own, and those under its top-level if/try
    blocks (not those inside a function or class defined there)."""
    top = set()
    for node in body:
        top.add(id(node))
        if isinstance(node, ast.If):
            top |= _top_statements(node.body) | _top_statements(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *[h.body for h in node.handlers]):
                top |= _top_statements(block)
    return top


def imports_of(source: str, module: str, known: set[str]) -> list[tuple[str, int, bool]]:
    """(imported project module, line, at the top of the module) for each project import in
    ``source``, the text of ``module``. Relative imports are resolved against the module's
    package; ``from pkg import name`` is ``pkg.name`` where that is a module, else ``pkg``."""
    tree = ast.parse(source)
    top = _top_statements(tree.body)
    package = module if f"{module}.__init__" in known or module == "inpaint_core" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # from . import x, from ..pkg import y
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - (node.level - 1)])
                base = f"{anchor}.{base}".rstrip(".") if base else anchor
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for name in names:
            root = name.split(".")[0]
            if root == "inpaint_core" or root in ENTRY_POINTS:
                found.append((name, node.lineno, id(node) in top))
    return sorted(found, key=lambda f: f[1])


MODULES = project_modules()
PACKAGES = {f"{name}.__init__" for name, path in MODULES.items() if path.name == "__init__.py"}
GRAPH = {name: imports_of(path.read_text(encoding="utf-8"), name, set(MODULES) | PACKAGES)
         for name, path in MODULES.items()}


def test_every_module_has_a_layer():
    missing = [m for m in MODULES if m != "inpaint_core" and layer_of(m) is None]
    assert not missing, f"modules outside the layer table (add them to LAYERS): {missing}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_only_downward(module):
    if module == "inpaint_core":  # the package's front door re-exports the public API
        return
    mine = layer_of(module)
    bad = []
    for name, line, at_top in GRAPH[module]:
        if name.split(".")[0] in ENTRY_POINTS:
            bad.append(f"line {line}: imports the checkout's entry point {name}")
            continue
        if name == "inpaint_core":
            bad.append(f"line {line}: imports from the package's front door; import from the module that defines it")
            continue
        theirs = layer_of(name)
        if theirs is not None and theirs > mine:
            bad.append(f"line {line}: {name} ({LAYERS[theirs][0]}) is above {module} ({LAYERS[mine][0]})")
        if not at_top:
            bad.append(f"line {line}: {name} is imported inside a function; project imports go at the top")
    assert not bad, "\n".join(bad)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycles():
    graph = {m: {name for name, _, _ in GRAPH[m] if name in MODULES and name != m and name != "inpaint_core"}
             for m in MODULES}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_walk_sees_a_cycle_and_an_upward_import():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert layer_of("inpaint_core.app.models") > layer_of("inpaint_core.training.loop") > layer_of(
        "inpaint_core.eval.metrics") > layer_of("inpaint_core.registry") > layer_of("inpaint_core.models.album") > \
        layer_of("inpaint_core.engine")


LAYOUT = {("inpaint_core.app.ui", "build_demo")}  # the app's gr.Blocks layout: one page, read top to bottom
MAX_FUNCTION_LINES = 80


def test_functions_are_short():
    """Every function outside the app's page layout fits on a screen (80 lines), so it can be read whole."""
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (name, node.name) not in LAYOUT:
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "functions over 80 lines:\n" + "\n".join(long)


def test_the_walk_reads_relative_imports_the_front_door_and_nested_imports():
    known = {"inpaint_core", "inpaint_core.registry", "inpaint_core.models", "inpaint_core.models.__init__",
             "inpaint_core.models.album", "inpaint_core.models.satellite", "inpaint_core.engine"}
    source = """
from inpaint_core import make_inpainter
from . import satellite
from ..registry import FILLS
import inpaint_core.engine as engine
if True:
    def later():
        from inpaint_core.registry import FILLS
try:
    from inpaint_core.engine import Inpainter
except ImportError:
    pass
"""
    found = imports_of(source, "inpaint_core.models.album", known)
    assert [(name, top) for name, _, top in found] == [
        ("inpaint_core", True), ("inpaint_core.models.satellite", True), ("inpaint_core.registry", True),
        ("inpaint_core.engine", True), ("inpaint_core.registry", False), ("inpaint_core.engine", True)]

