"""Where a view may read and write: inside the work tree, outside `.git/`, symbolic links
followed.

A path's words are not where it leads: a committed symbolic link `etcdir -> /etc` makes
`{etcdir/passwd}` read `/etc/passwd`, and an output `out/x.csv` under a link `out -> /tmp`
writes outside the repository. So every input and output is resolved (`os.path.realpath`)
and must land in the work tree and outside `.git/`. An input is recorded by the path it
resolves to (`latest.csv -> runs/3.csv` reads, and records, `runs/3.csv`): the recorded
inputs are the files the view was allowed to read. An output must be named by its own path,
not through a link (git would see the link, not the file).

A definition pulled from another clone is checked the same way before it runs (`check`): its
name, folder and inputs are whatever its author wrote into the record.
"""

from __future__ import annotations

import os
from typing import Any

from provgraph.errors import ProvError


def _lexical(root: str, full: str) -> str | None:
    """`full` (normalised) as a path from `root`, or None if outside it or under `.git/`."""
    rel = os.path.relpath(full, root)
    if rel in (".", "..") or rel.startswith(".." + os.sep):
        return None
    if rel.split(os.sep, 1)[0] == ".git":
        return None
    return rel


def input_path(root: str, cwd: str, written: str) -> str:
    """The repository path (from the root, `/`-separated) of the file an input names,
    written relative to `cwd` (a folder from the root): symbolic links followed."""
    full = os.path.normpath(os.path.join(root, cwd, written))
    if _lexical(root, full) is None:
        raise ProvError(f"input {written} is outside the repository")
    real = os.path.realpath(full)
    rel = _lexical(os.path.realpath(root), real)
    if rel is None:
        raise ProvError(f"input {written} leads outside the work tree through a symbolic link "
                        f"(to {real}); a view reads only files of the repository")
    return rel.replace(os.sep, "/")


def output_path(root: str, name: str) -> str:
    """Check that the output `name` (a repository path) is written where it says: inside the
    work tree, outside `.git/`, through no symbolic link. Returns `name`."""
    if (not name or os.path.isabs(name) or "\0" in name
            or os.path.normpath(name).replace(os.sep, "/") != name
            or _lexical(root, os.path.join(root, name)) is None):
        raise ProvError(f"the output {name!r} is not a file of the repository (nothing was "
                        "written)")
    real = os.path.realpath(os.path.join(root, name))
    real_root = os.path.realpath(root)
    rel = _lexical(real_root, real)
    if rel is None:
        raise ProvError(f"the output {name} leads outside the work tree through a symbolic "
                        f"link (to {real}); nothing was written")
    if rel.replace(os.sep, "/") != name:
        raise ProvError(f"the output {name} is reached through a symbolic link (it is "
                        f"{rel.replace(os.sep, '/')}): name the file itself (nothing was "
                        "written)")
    return name


def folder(root: str, cwd: str) -> str:
    """A definition's folder (from the root): inside the work tree, through no link out."""
    if cwd in ("", "."):
        return "."
    if os.path.isabs(cwd) or "\0" in cwd:
        raise ProvError(f"the view's folder {cwd!r} is not a folder of the repository")
    full = os.path.normpath(os.path.join(root, cwd))
    if (_lexical(root, full) is None
            or _lexical(os.path.realpath(root), os.path.realpath(full)) is None):
        raise ProvError(f"the view's folder {cwd!r} is not a folder of the repository")
    return cwd


_KINDS = ("sql", "script")


def check(root: str, definition: dict[str, Any]) -> None:
    """A definition as a record holds it (this clone's or pulled): every field provgraph
    uses has the type it expects, and every path stays in the work tree. Raises ProvError."""
    from provgraph.fileview.engine import OUTPUT_FORMATS

    name = definition.get("name")
    if not isinstance(name, str):
        raise ProvError("a view definition without a name")
    kind = definition.get("kind", "sql")
    if kind not in _KINDS:
        raise ProvError(f"{name}: unknown kind of view {kind!r}")
    cwd = definition.get("cwd", ".")
    if not isinstance(cwd, str):
        raise ProvError(f"{name}: the view's folder is not a path")
    output_path(root, name)
    folder(root, cwd)
    if kind == "script":
        stdin = definition.get("stdin") or []
        if not isinstance(definition.get("script"), str) or not isinstance(stdin, list) or \
                not all(isinstance(p, str) for p in stdin):
            raise ProvError(f"{name}: a script view needs a script and a list of input files")
        for path in stdin:
            input_path(root, ".", path)
        return
    if not isinstance(definition.get("query"), str):
        raise ProvError(f"{name}: a SQL view needs a query")
    header = definition.get("header")
    if header is not None and not isinstance(header, bool):
        raise ProvError(f"{name}: header is true, false or null")
    fmt = definition.get("format")
    if fmt is not None and fmt not in OUTPUT_FORMATS:
        raise ProvError(f"{name}: unknown output format {fmt!r}")
    if not isinstance(definition.get("dialect", "duckdb"), str):
        raise ProvError(f"{name}: the SQL dialect is not a name")
