"""File views: files derived from the project's files by SQL or a script, with provenance.

ProvDB's file views (Miao and Deshpande, IEEE Data Eng. Bull. 41(4), 2018) make an ad hoc
transformation a declared one: a derived file defined as SQL over existing files. Here the SQL
runs on DuckDB (streaming, bounded memory), is parsed and checked by sqlglot, and the
materialization is an activity of the PROV graph with the input versions it used, the
output version it generated, the query, the engine and the column lineage.

    import provgraph.fileview as fv
    from provgraph.repo import Repository

    repo = Repository.discover(".")
    view = fv.definition(repo, "results.csv", query="select ... from {testfile.csv} as t")
    fv.define(repo, view, materialize=True)      # prov fileview -c -n results.csv -q '...'
    fv.cat(repo, "results.csv")                  # prov fileview cat results.csv
    [s.state for s in fv.status(repo)]           # prov fileview status
    fv.refresh(repo)                             # prov fileview refresh
    fv.accept(repo, "results.csv")               # prov fileview trust results.csv

Views defined in another clone (pulled) are evaluated only once accepted (`accept`, module
`trust`); SQL runs in DuckDB's sandbox (`provgraph.sandbox`), inputs and outputs inside the
work tree (`paths`).

Modules: `tables` (files as tables), `sql` (placeholders, sqlglot, lineage), `script`
(script views), `engine` (DuckDB settings, output), `evaluate` (one evaluation),
`materialize` (the recorded activity), `views` (definitions in the journal), `staleness`
(staleness), `paths` (where a view may read and write), `trust` (others' views).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from provgraph.errors import BadInput, ProvError
from provgraph.repo import Repository

TYPE_CHECKING = False
if TYPE_CHECKING:
    from provgraph.fileview.materialize import Result
    from provgraph.fileview.staleness import ViewStatus
    from provgraph.fileview.views import View


def definition(repo: Repository, name: str, *, query: str | None = None,
               script: str | None = None, stdin: list[str] | tuple[str, ...] = (),
               dialect: str = "duckdb", header: bool | None = None, format: str | None = None,
               cwd: str | None = None) -> dict[str, Any]:
    """A view definition from what a user typed (paths relative to `cwd`, default: here).

    Its `inputs` are filled in when it is checked (`define`)."""
    from provgraph.fileview.engine import output_format
    from provgraph.fileview.paths import input_path, output_path
    from provgraph.fileview.sql import DIALECTS

    cwd = os.path.abspath(cwd or os.getcwd())
    if not name or name.endswith(("/", os.sep)):
        raise ProvError("a view needs a file name: -n results.csv")
    rel = repo.relpath(name, cwd)
    if rel is None:
        raise ProvError(f"the output {name} is outside the repository {repo.root}")
    output_path(repo.root, rel)
    if (query is None) == (script is None):
        raise ProvError("a view is SQL (-q 'select ...') or a script (-s 'cmd | cmd'): "
                        "give one of them")
    base = {"name": rel, "cwd": _relative_cwd(repo, cwd)}
    if script is not None:
        stdin_paths = []
        for path in stdin:
            if repo.relpath(path, cwd) is None:
                raise ProvError(f"input {path} is outside the repository")
            stdin_paths.append(input_path(repo.root, os.path.relpath(cwd, repo.root), path))
        return {**base, "kind": "script", "script": script, "stdin": stdin_paths,
                "format": None}
    if stdin:
        raise ProvError("-i feeds a script's standard input; in SQL, name files as {path}")
    if dialect not in DIALECTS:
        raise BadInput(f"unknown SQL dialect {dialect} (one of {', '.join(DIALECTS)})")
    view = {**base, "kind": "sql", "query": query, "dialect": dialect, "header": header,
            "format": output_format(rel, format)}
    if format:
        view["format_given"] = True
    return view


def _relative_cwd(repo: Repository, cwd: str) -> str:
    rel = os.path.relpath(cwd, repo.root)
    return "." if rel == "." else rel.replace(os.sep, "/")


@dataclass
class Defined:
    name: str
    materialized: Result | None  # the activity, when written


def define(repo: Repository, view: dict[str, Any], *, materialize: bool = False,
           force: bool = False, memory_limit: str | None = None) -> Defined:
    """Check a definition and record it: written now as an activity (`materialize`), or kept
    as a virtual view in the journal."""
    from provgraph.fileview import materialize as mat
    from provgraph.fileview import views
    from provgraph.fileview.evaluate import Evaluation
    from provgraph.fileview.staleness import current_objects

    repo.ensure_prov_dir()
    if materialize:
        return Defined(view["name"], mat.materialize(repo, view, force=force,
                                                     memory_limit=memory_limit))
    evaluation = Evaluation(repo, view, memory_limit).prepare()
    try:
        evaluation.check_output(view["name"])
        view["inputs"] = evaluation.inputs
    finally:
        evaluation.close()
    current = current_objects(repo, [view["name"]])[view["name"]]
    mat.check_collision(views.load(repo).get(view["name"]), view["name"], current, force)
    from provgraph.capture.command import Agent

    views.append_definition(repo, view, Agent(repo).value(),
                            views.command_line(view, materialize=False))
    return Defined(view["name"], None)


def list_views(repo: Repository) -> dict[str, View]:
    from provgraph.fileview import views

    return views.load(repo)


def show(repo: Repository, name: str) -> View:
    from provgraph.fileview import views

    return views.get(repo, name)


def cat(repo: Repository, name: str, format: str | None = None,
        memory_limit: str | None = None) -> None:
    """Evaluate a view to standard output (nothing is recorded or written)."""
    from provgraph.fileview import views
    from provgraph.fileview.evaluate import Evaluation
    from provgraph.fileview.trust import check

    view = views.get(repo, name)
    check(repo, view)  # defined in another clone: only once accepted
    evaluation = Evaluation(repo, view.definition, memory_limit)
    try:
        evaluation.prepare().cat(format)
    finally:
        evaluation.close()


def accept(repo: Repository, name: str) -> bool:
    """Accept the current definition of the view `name`, defined in another clone, so that
    `refresh` and `cat` evaluate it; False when there was nothing to accept."""
    from provgraph.fileview import trust as tr
    from provgraph.fileview import views

    return tr.accept(repo, views.get(repo, name))


def drop(repo: Repository, name: str) -> None:
    """Forget a view (its file, if any, stays: it is a file like any other now)."""
    import shlex

    from provgraph.capture.command import Agent
    from provgraph.fileview import views

    views.get(repo, name)
    views.append_drop(repo, name, Agent(repo).value(), shlex.join(["prov", "fileview", "drop",
                                                                    name]))


def status(repo: Repository, names: list[str] | None = None) -> list[ViewStatus]:
    from provgraph.fileview import staleness as st
    from provgraph.fileview import views
    from provgraph.fileview.trust import accepted, needs_review

    found = views.load(repo)
    if names:
        found = {n: views.get(repo, n) for n in names}
    states = st.status(repo, found)
    known = accepted(repo)
    for state in states:
        state.needs_review = needs_review(repo, state.view, known)
    return states


@dataclass
class Refreshed:
    name: str
    action: str  # "refreshed", "up to date", "skipped: ...", "failed: ..." (also: not
    # accepted, see `trust`)
    result: Result | None = None


def refresh(repo: Repository, names: list[str] | None = None, force: bool = False,
            memory_limit: str | None = None) -> list[Refreshed]:
    """Re-materialize stale (and missing) views, each as a new activity, upstream views
    first. Named views are materialized even when virtual; `force` also rewrites fresh views
    and files changed since a view wrote them."""
    from provgraph.fileview import materialize as mat
    from provgraph.fileview import staleness as st
    from provgraph.fileview import views
    from provgraph.fileview.trust import needs_review, refusal

    every = views.load(repo)
    chosen = {n: views.get(repo, n) for n in names} if names else {
        n: v for n, v in every.items() if v.materialized}
    done: list[Refreshed] = []
    for view in _upstream_first(chosen):
        view = views.load(repo)[view.name]  # an upstream refresh may have changed its state
        [state] = st.status(repo, {view.name: view})
        named = bool(names)
        if state.state == "fresh" and not force:
            done.append(Refreshed(view.name, "up to date"))
            continue
        if state.state == "virtual" and not named:
            continue
        if state.state == "modified" and not force:
            done.append(Refreshed(view.name, "skipped: the file was changed since the view "
                                             "wrote it (--force overwrites it)"))
            continue
        if needs_review(repo, view):  # defined in another clone, not accepted here
            done.append(Refreshed(view.name, f"failed: {refusal(view)}"))
            continue
        try:
            result = mat.materialize(repo, view.definition, refresh=view.last is not None,
                                     force=force, memory_limit=memory_limit)
        except ProvError as exc:  # one view failing does not stop the others
            done.append(Refreshed(view.name, f"failed: {exc}"))
            continue
        done.append(Refreshed(view.name, "refreshed", result))
    return done


def _upstream_first(chosen: dict[str, View]) -> list[View]:
    """Views ordered so that a view comes after the views whose files it reads."""
    ordered: list[View] = []
    seen: set[str] = set()

    def visit(view: View, path: tuple[str, ...]) -> None:
        if view.name in seen or view.name in path:
            return
        for name in view.inputs:
            if name in chosen:
                visit(chosen[name], (*path, view.name))
        seen.add(view.name)
        ordered.append(view)

    for view in chosen.values():
        visit(view, ())
    return ordered
