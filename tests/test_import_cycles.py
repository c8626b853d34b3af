"""No import cycles between provgraph's modules: a module never needs, even lazily inside a
function, a module that needs it back. A cycle is how a layered design starts to rot (the
flow is one way: cli -> capture -> ingestors -> journal -> stores -> queries). Imports under
`if TYPE_CHECKING:` are annotations only and do not count."""

from __future__ import annotations

import ast
import graphlib
import importlib
from pathlib import Path

from test_error_tree import library_modules

MODULES = set(library_modules())


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    """ids of the nodes under `if TYPE_CHECKING:`."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(child) for stmt in node.body for child in ast.walk(stmt)}
    return skipped


def imports_of(name: str) -> set[str]:
    """The provgraph modules `name` imports, at the top or inside a function."""
    tree = ast.parse(Path(importlib.import_module(name).__file__).read_text())
    skipped = _type_checking_blocks(tree)
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from provgraph.x import y`: y may be a module
                whole = f"{node.module}.{alias.name}"
                found.add(whole if whole in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {module for module in found if module in MODULES and module != name}


def test_no_module_imports_one_that_imports_it_back():
    graph = {name: imports_of(name) for name in MODULES}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        raise AssertionError("import cycle: " + " -> ".join(reversed(exc.args[1]))) from None


def test_the_scan_reads_imports():
    assert "provgraph.journal.replay" in imports_of("provgraph.journal.indexer")
    assert "provgraph.fileview.messages" in imports_of("provgraph.fileview.tables")  # lazy
