"""provgraph: how every file of a git repository came to be, as a W3C PROV graph.

The Python API is the CLI's: open a project, capture commands, ask questions. Each answer is
an object whose `to_dict()` is what the command's `--json` prints.

    import provgraph

    with provgraph.open_project("my-analysis") as project:
        project.capture(["python3", "train.py", "--lr", "0.1"])    # prov python3 train.py ...
        for entry in project.log(limit=5):                          # prov log -n 5
            print(entry.activity.name, [n.name for n in entry.used])
        tree = project.lineage("model.json")                        # prov lineage model.json
        print(project.metrics("latest").to_dict())                  # prov metrics latest --json
        print(project.diff("#1", "latest").parameters)              # prov diff '#1' latest
        document = project.export("json")                           # prov export

File views are `provgraph.fileview` (`import provgraph.fileview as fv`); the error tree is
`provgraph.errors`; the stores' interface is `provgraph.stores.base.Store`. docs/api.md lists
every public name. Names are loaded when first used: `prov CMD` imports this module, and
stays free of DuckDB, click, rich and the Neo4j driver.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Public name -> the module that defines it (loaded on first use, PEP 562).
_PUBLIC = {
    "Project": "provgraph.project",
    "open_project": "provgraph.project",
    "open_store": "provgraph.project",
    "ProvError": "provgraph.errors",
    "NotFound": "provgraph.errors",
    "BadInput": "provgraph.errors",
    "GitError": "provgraph.errors",
    "StoreUnavailable": "provgraph.errors",
    "DocumentError": "provgraph.errors",
    "ShellSyntaxError": "provgraph.errors",
    "PrototxtError": "provgraph.errors",
    "Node": "provgraph.model",
    "Edge": "provgraph.model",
    "Store": "provgraph.stores.base",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> object:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'provgraph' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
