"""Materializing a view: an activity recorded through the capture pipeline, run in-process.

The view is evaluated inside `prov` (DuckDB, or the script's shell), but recorded exactly as
`prov CMD` records a command, with the same building blocks of `provgraph.capture.command`: a
before-snapshot, a running marker (a killed `prov` is recorded as interrupted by the next one),
the work, an after-snapshot, changes made by concurrent captures set aside, one durable
journal record, and a background Neo4j sync when configured. So the activity is journaled,
indexed, pushed and synced like any capture:

- `command`: the `prov fileview -c -n NAME -q '...'` that (re)defines the view, `utility`
  `prov`, `subcommand` `fileview` (named `prov fileview #N`);
- `used`: each input's version in the before-snapshot (role `input`);
- `generated`: the output's new version (the after-snapshot's diff, as for any command);
- properties `fileview.view`, `fileview.kind`, `fileview.inputs`, `fileview.sql`,
  `fileview.dialect`, `fileview.duckdb_sql`, `fileview.engine` (`duckdb`),
  `fileview.engine_version`, `fileview.columns`, `fileview.lineage.<column>` (input
  columns as `path.column`), `fileview.rows`, `fileview.refresh`; for scripts
  `fileview.script`, `fileview.stdin`, `fileview.engine` (`shell`).

Nothing of the work tree changes until the result is complete: it is written under
`.git/prov/fileview/` and moved into place.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

from provgraph import gitio
from provgraph.capture import recovery, runner
from provgraph.errors import ProvError
from provgraph.fileview import engine, views
from provgraph.fileview.evaluate import Evaluation
from provgraph.journal.records import new_activity_id
from provgraph.model import entity_digest
from provgraph.repo import Repository
from provgraph.timestamps import now


@dataclass
class Result:
    name: str
    activity: str
    rows: int | None


def objects_in(repo: Repository, tree: str, paths: list[str]) -> dict[str, str | None]:
    """The git object of each path in a snapshot tree (None: not there)."""
    found: dict[str, str | None] = dict.fromkeys(paths)
    if not paths:
        return found
    out = repo.git("ls-tree", "-z", "--full-tree", tree, "--", *paths)
    for item in gitio.split_z(out):
        meta, _, path = item.partition("\t")
        if path in found:
            found[path] = meta.split()[2]
    return found


def check_collision(view: views.View | None, name: str, current: str | None,
                    force: bool) -> None:
    """An existing file is overwritten only when a view made it (and it was not changed)."""
    if current is None or force:
        return
    if view is not None and current in view.outputs:
        return
    if view is not None and view.last is not None:
        raise ProvError(f"{name} was changed since the view last wrote it; nothing was "
                        "overwritten (--force overwrites it)")
    raise ProvError(f"{name} already exists and was not made by a view; nothing was "
                    "overwritten (choose another name, or --force)")


def materialize(repo: Repository, definition: dict[str, Any], *, refresh: bool = False,
                force: bool = False, memory_limit: str | None = None) -> Result:
    """Evaluate `definition` into its file and record the activity; return what was made."""
    from provgraph.capture.command import Session, _concurrent_changes, finish

    name = definition["name"]
    evaluation = Evaluation(repo, definition, memory_limit).prepare()
    try:
        evaluation.check_output(name)
        definition["inputs"] = evaluation.inputs
        _check_ignored(repo, name)
        session = Session.open(os.path.join(repo.root, definition.get("cwd", ".")), repo=repo)
        inputs = evaluation.inputs
        before = session.snapshots.take()
        found = objects_in(repo, before.tree, [*inputs, name])
        existing = views.load(repo).get(name)
        if os.path.isdir(os.path.join(repo.root, name)):
            raise ProvError(f"{name} is a folder; a view's name is a file")
        check_collision(existing, name, found.pop(name), force)
        # the inputs' versions as the graph names them: why-provenance need not hash them
        evaluation.input_versions = {
            path: entity_digest(oid, before.large[path].sha256 if path in before.large else None)
            for path, oid in found.items() if oid}
        command = session.redactor.text(views.command_line(definition))
        activity: dict[str, Any] = {"utility": "prov", "subcommand": "fileview",
                                    **evaluation.properties()}
        if refresh:
            activity["fileview.refresh"] = True
        activity_id, nonce = new_activity_id(repo.clone_id)
        record: dict[str, Any] = {
            "id": activity_id,
            "nonce": nonce,
            "project": repo.project,
            "command": command,
            "shell": False,
            "cwd": definition.get("cwd", "."),
            "agent": session.agent.value(),
            "activity": activity,
            "used": [{"path": p, "oid": oid, "role": "input"}
                     for p, oid in found.items() if oid],
            "named": sorted({*inputs, name}),
            "prev": recovery.last_snapshot(repo),
            "before": before.tree,
            "before_at": before.taken,
            "fileview": {"view": definition, "inputs": found},
        }
        if session.message:
            record["message"] = session.message
        record["started"] = now()
        marker = recovery.start(repo, record, before)
        tmp = evaluation.temp_path()
        try:
            rows = evaluation.write(tmp)
            # what the next `prov` needs to tell the view's file, should this one be killed
            # before its record is written (recovery.fileview_output)
            st = os.stat(tmp)
            recovery.note(marker, "output", {"path": name, "size": st.st_size,
                                             "mtime_ns": st.st_mtime_ns, "rows": rows})
            engine.move_into_place(tmp, os.path.join(repo.root, name))
        except BaseException:
            _forget(marker)
            raise
        ended_ns = _now_ns()
        record["ended"] = now()
        after = session.snapshots.take()
        theirs = _concurrent_changes(repo, record, before, after, ended_ns)
        if theirs:
            record["concurrent_changes"] = theirs
        record["fileview"]["output"] = objects_in(repo, after.tree, [name])[name]
        if rows is not None:
            record["fileview"]["rows"] = rows
            record["activity"]["fileview.rows"] = rows
        finish(session, record, before, after, runner.Outcome(0))
        recovery.done(repo, marker, after.tree)
    finally:
        evaluation.close()
    if session.config.neo4j_configured and session.config.neo4j_autosync:
        from provgraph.remotes import neo4j as sync

        sync.start_background(repo)
    return Result(name, record["id"], rows)


def _check_ignored(repo: Repository, name: str) -> None:
    if gitio.succeeds(["check-ignore", "-q", "--", name], repo.root):
        raise ProvError(f"{name} is ignored by git (.gitignore): its versions could not be "
                        "recorded; choose another name")


def _forget(marker: recovery.Marker) -> None:
    """The work failed before the work tree changed: no activity to record."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(marker.path)


def _now_ns() -> int:
    import time

    return time.time_ns()
