"""Views defined by others run only once accepted here: `prov fileview trust NAME`.

A view's definition travels in the journal (`provgraph.fileview.views`), so `prov pull`
brings teammates' views, and with them what `prov fileview refresh` and `cat` would run: a
script view is any shell command, a SQL view any query over the repository's files (run in
the sandbox, `provgraph.sandbox`, but what it writes into a tracked file and the journal goes
back with the next `prov push`). So a definition whose latest record is in another clone's
journal chain (`View.chain` is not this clone's `repo.clone_id`) is not evaluated until the
user has seen it and accepted it, as `git` and `direnv` do with what a clone brings:

- `prov fileview trust NAME` prints the definition (query or script, inputs, folder, who
  defined it and when) and records its digest in `.git/prov/fileview/trusted.json` (never
  committed: it is this clone's decision); `--show` only prints.
- The digest is of the exact definition: a changed one (pulled later) needs accepting again.
  A definition this clone wrote itself (Alice's view, refreshed by Bob and pulled back by
  Alice) needs nothing.
- Unaccepted, `refresh` skips the view in one line naming `prov fileview trust NAME`, `cat`
  refuses, and `list`/`status`/`show` mark it "needs review". Views defined in this clone need
  nothing.
"""

from __future__ import annotations

import json
import os
from typing import Any

from provgraph.errors import ProvError
from provgraph.fileview.views import View, digest
from provgraph.repo import Repository

VERSION = 1


def _path(repo: Repository) -> str:
    return repo.prov_path("fileview/trusted.json")


def accepted(repo: Repository) -> dict[str, dict[str, Any]]:
    """What this clone has accepted: {view name: {digest, accepted, chain, agent}}."""
    from provgraph import state

    found = state.read_json(_path(repo))
    if found is None:
        return {}
    views = found.get("views") if isinstance(found, dict) else None
    if not state.dict_of(views, str, dict):
        state.warn(f"{state.shown(_path(repo))} is damaged: views defined in other clones "
                   "are accepted again only by `prov fileview trust NAME`")
        return {}
    return views


def foreign(repo: Repository, view: View) -> bool:
    """Whether the view's definition comes from another clone: its latest record is in
    another clone's journal chain, and this clone never wrote that same definition (Alice's
    view refreshed by Bob is still Alice's, for Alice)."""
    return view.chain != repo.clone_id and digest(view.definition) not in view.own


def needs_review(repo: Repository, view: View,
                 known: dict[str, dict[str, Any]] | None = None) -> bool:
    """Whether evaluating `view` waits for `prov fileview trust` (`known`: `accepted(repo)`,
    when checking many views)."""
    if not foreign(repo, view):
        return False
    entry = (accepted(repo) if known is None else known).get(view.name)
    return not (isinstance(entry, dict) and entry.get("digest") == digest(view.definition))


def author(view: View) -> str:
    """Who defined the view, as a phrase: `by alice in clone 3f2a9c1b0d4e on 2024-...`."""
    who = f" by {view.agent}" if view.agent else ""
    clone = f" in clone {view.chain}" if view.chain else " in another clone"
    when = f" on {view.defined}" if view.defined else ""
    return f"{who}{clone}{when}".strip()


def refusal(view: View) -> str:
    """One line: why the view is not run, and what to do."""
    what = "script" if view.kind == "script" else "query"
    return (f"{view.name} was defined in another clone ({author(view)}) and has not been "
            f"accepted here: `prov fileview trust {view.name}` shows its {what} and accepts "
            "it")


def check(repo: Repository, view: View) -> None:
    """Raise ProvError unless the view may be evaluated here."""
    if needs_review(repo, view):
        raise ProvError(refusal(view))


def accept(repo: Repository, view: View) -> bool:
    """Record that this clone accepts the view's current definition; False when there was
    nothing to accept (defined here, or this very definition was accepted before)."""
    from provgraph import gitio
    from provgraph.timestamps import now

    if not needs_review(repo, view):
        return False
    views = accepted(repo)
    views[view.name] = {"digest": digest(view.definition), "accepted": now(),
                        "chain": view.chain, "agent": view.agent}
    path = _path(repo)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    gitio.write_file_atomic(path, json.dumps({"version": VERSION, "views": views},
                                             indent=1, sort_keys=True).encode())
    return True
