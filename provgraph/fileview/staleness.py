"""Which materialized views are stale: an input changed since the view last wrote its file.

The comparison is by content, as provgraph sees files: a fresh snapshot of the work tree (the
same one the next capture would take, cheap thanks to git's stat cache) against the git
objects the last materialization read and wrote. A view is

- `fresh`: every input is as it was read, and the file as it was written;
- `stale`: an input changed or disappeared since (listed in `changed`);
- `modified`: the inputs are as read, but the file was changed since the view wrote it;
- `missing`: the file is gone (deleted, or made in another clone: `refresh` makes it here);
- `virtual`: a definition never materialized (or last redefined without `-c`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from provgraph.fileview.materialize import objects_in
from provgraph.fileview.views import View
from provgraph.repo import Repository


@dataclass
class ViewStatus:
    view: View
    state: str  # fresh, stale, modified, missing, virtual
    changed: list[str] = field(default_factory=list)  # inputs changed or gone
    needs_review: bool = False  # defined in another clone, not accepted (fileview.trust)

    @property
    def name(self) -> str:
        return self.view.name

    def describe(self) -> str:
        if self.state == "stale":
            text = "stale: " + ", ".join(self.changed) + " changed"
        else:
            text = {"fresh": "up to date",
                    "modified": "the file was changed since it was written",
                    "missing": "the file is not there",
                    "virtual": "virtual (not materialized)"}[self.state]
        if self.needs_review:
            text += f"; needs review (prov fileview trust {self.name})"
        return text


def current_objects(repo: Repository, paths: list[str]) -> dict[str, str | None]:
    """The git object each path has in the work tree now (a snapshot; None: no such file)."""
    from provgraph.capture.snapshot import Snapshotter
    from provgraph.config import Config

    repo.ensure_prov_dir()
    limit = Config(repo.root, repo.prov_dir).large_file_limit
    tree = Snapshotter(repo, limit).take().tree
    return objects_in(repo, tree, sorted(set(paths)))


def status(repo: Repository, views: dict[str, View]) -> list[ViewStatus]:
    paths = [p for v in views.values() if v.materialized and v.last
             for p in [v.name, *v.last.inputs]]
    now = current_objects(repo, paths) if paths else {}
    found = []
    for view in views.values():
        if not view.materialized or view.last is None:
            found.append(ViewStatus(view, "virtual"))
            continue
        last = view.last
        changed = [p for p, oid in last.inputs.items() if now.get(p) != oid]
        if changed:
            found.append(ViewStatus(view, "stale", changed))
        elif now.get(view.name) is None:
            found.append(ViewStatus(view, "missing"))
        elif now.get(view.name) != last.output:
            found.append(ViewStatus(view, "modified"))
        else:
            found.append(ViewStatus(view, "fresh"))
    return found
