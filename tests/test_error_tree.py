"""One error tree (provgraph/errors.py): every exception the library raises on purpose is a
ProvError, or one of the few internal signals below that never leave the module that catches
them. Scanned from the source, so a new `raise SomethingElse(...)` fails here."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
from pathlib import Path

import pytest

from provgraph import errors
from provgraph.errors import ProvError

#: Internal signals: raised and caught inside the library, never shown to a user.
INTERNAL = {
    "provgraph.journal.schema.Invalid",  # a record's problem; quarantine turns it into a reason
    "provgraph.journal.indexer.NeedsRebuild",  # caught by the indexer: rebuild from the journal
    "provgraph.state.Damaged",  # a derived file is made again by whoever catches it
    "provgraph.stores.adjacency.SearchDamaged",  # the same, for the search index
    "provgraph.fileview.why.rewriting.Refuse",  # why-provenance declines a query; the view runs
    "provgraph.sweep.Stopped",  # SIGTERM during a sweep: a KeyboardInterrupt, files put back
}
#: Built-in (and SQLite's) exceptions some modules raise on purpose, each caught by its caller.
BUILTIN_ALLOWED = {
    # parsers of `config set` values: check_key turns ValueError into one ProvError line
    ("provgraph.config", "ValueError"),
    # a qualified name's empty local part, caught in the same module; unserializable values
    ("provgraph.interchange.export", "ValueError"),
    ("provgraph.interchange.export", "TypeError"),
    # an external ingestor's failure: the registry reports it as one warning, the capture goes on
    ("provgraph.ingestors.external", "ValueError"),
    ("provgraph.ingestors.external", "PermissionError"),
    ("provgraph.ingestors.external", "TimeoutError"),
    ("provgraph.ingestors.external", "RuntimeError"),
    # the POSIX parser's programming error (an empty argv never reaches it from the CLI)
    ("provgraph.ingestors.posix", "ValueError"),
    # a name the package does not have: module __getattr__ must say so with AttributeError
    ("provgraph", "AttributeError"),
    # a search index cut short is SQLite's own damage, which `SearchIndex.beside` catches
    ("provgraph.stores.adjacency", "sqlite3.DatabaseError"),
}


def library_modules() -> list[str]:
    """Every module of the installed package except the CLI (which prints, never raises)."""
    names = []
    for package in ("provgraph", "provgraph.ingestors", "provgraph.queries"):
        folder = Path(importlib.import_module(package).__file__).parent
        for path in sorted(folder.rglob("*.py")):
            if "audit" in path.parts:  # the sitecustomize runs inside the user's Python
                continue
            parts = [p for p in path.relative_to(folder).with_suffix("").parts
                     if p != "__init__"]
            names.append(".".join([package, *parts]))
    return sorted(set(names))


def raised_names(module_name: str) -> list[tuple[int, str]]:
    module = importlib.import_module(module_name)
    tree = ast.parse(Path(inspect.getfile(module)).read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            func = node.exc.func
            if isinstance(func, ast.Name):
                found.append((node.lineno, func.id))
            elif isinstance(func, ast.Attribute):
                found.append((node.lineno, ast.unparse(func)))
    return found


def resolve(module_name: str, dotted: str) -> object | None:
    """What a raised name means in its module (or among the built-ins)."""
    value: object = importlib.import_module(module_name)
    for part in dotted.split("."):
        value = getattr(value, part, None)
        if value is None:
            return getattr(builtins, dotted, None)
    return value


def test_the_tree() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), ProvError), name
    assert issubclass(errors.BadInput, ValueError)  # code that caught ValueError still does
    assert issubclass(errors.GitError, RuntimeError)
    for name in ("ShellSyntaxError", "PrototxtError", "DocumentError"):
        assert issubclass(getattr(errors, name), errors.BadInput), name
    assert str(errors.PrototxtError("expected ':'", line=3)) == "line 3: expected ':'"


def test_the_old_homes_still_import() -> None:
    from provgraph.capture.shell import ShellSyntaxError
    from provgraph.gitio import GitError
    from provgraph.ingestors.caffe.prototxt import PrototxtError
    from provgraph.repo import ProvError as FromRepo

    assert (ShellSyntaxError, GitError, PrototxtError, FromRepo) == (
        errors.ShellSyntaxError, errors.GitError, errors.PrototxtError, ProvError)


@pytest.mark.parametrize("module_name", library_modules())
def test_the_library_raises_only_errors_of_the_tree(module_name: str) -> None:
    strays = []
    for line, dotted in raised_names(module_name):
        value = resolve(module_name, dotted)
        if not isinstance(value, type):
            continue  # a function that builds the exception; its class is checked where defined
        qualified = f"{value.__module__}.{value.__qualname__}"
        if issubclass(value, ProvError) or any(issubclass(value, _class(name))
                                               for name in INTERNAL):
            continue
        shown = value.__name__ if value.__module__ == "builtins" else qualified
        if (module_name, shown) in BUILTIN_ALLOWED:
            continue
        strays.append(f"{module_name}:{line} raises {qualified}")
    assert not strays, "raise an error of provgraph.errors instead:\n" + "\n".join(strays)


def _class(qualified: str) -> type:
    module, _, name = qualified.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_the_scan_sees_every_part_of_the_package() -> None:
    names = library_modules()
    for expected in ("provgraph.capture.command", "provgraph.journal.replay",
                     "provgraph.interchange.importer", "provgraph.remotes.neo4j",
                     "provgraph.stores.neo4j", "provgraph.fileview.why",
                     "provgraph.ingestors.caffe.prototxt", "provgraph.queries.runs"):
        assert expected in names
