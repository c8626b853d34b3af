"""The journal: the durable record of every capture, kept in git under `refs/prov/journal/`.

Each capture is one commit on this clone's chain `refs/prov/journal/<clone-id>`. Its tree holds
`record.json` (the activity: command, times, agent, used files, ingestor fragments) and the
`before` and `after` snapshot trees, so pushing the ref shares the implicit versions too.
Clones only ever append to their own chain, so fetching another clone's chain never conflicts.

The journal is the source of truth; both indexes are rebuilt from it.
"""

from __future__ import annotations

import json
import os
import time
from collections import namedtuple
from collections.abc import Iterator

from provgraph import gitio
from provgraph.repo import Repository
from provgraph.snapshot import locked

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds on `prov CMD`
    from typing import Any

REF_PREFIX = "refs/prov/journal/"
FORMAT = 1


class Entry(namedtuple("Entry", "commit chain record")):
    """One record read back from the journal.

    Fields:
        commit: str
        chain: str  # the clone id whose chain holds it
        record: dict[str, Any]
    """

    __slots__ = ()


class Journal:
    def __init__(self, repo: Repository):
        self.repo = repo
        self.ref = REF_PREFIX + repo.clone_id

    def append(self, record: dict[str, Any]) -> str:
        """Make `record` durable and return its commit id.

        Objects are fsync'd as they are written; the ref moves with compare-and-swap under a
        lock, so eight concurrent captures all land, in some order, with no lock error.
        """
        record = {"format": FORMAT, **record}
        objects = self.repo.objects
        blob = objects.write("blob", json.dumps(record, sort_keys=True).encode())
        entries = [gitio.TreeEntry("100644", "record.json", blob)]
        entries += [
            gitio.TreeEntry("40000", name, record[name])
            for name in ("before", "after")
            if record.get(name)
        ]
        tree = objects.write_tree(entries)
        ident = _ident(record.get("agent") or {})
        when = f"{int(time.time())} +0000"
        message = f"prov: {record.get('command', '')}"[:2000]
        with locked(self.repo.prov_path("journal.lock")):
            for attempt in range(100):
                tip = self.tip()
                commit = objects.write_commit(tree, [tip] if tip else [], ident, when, message)
                try:
                    gitio.update_ref(self.repo.common_dir, self.ref, commit, tip, self.repo.root)
                    return commit
                except gitio.RefMoved:
                    # a git process holds or moved the ref (a fetch into our own chain?):
                    # re-parent and retry
                    time.sleep((1 + os.urandom(1)[0] / 32) * 0.001 * (attempt + 1))
        raise gitio.GitError(f"could not update {self.ref} after 100 attempts")

    def append_graph(self, nodes: list[dict[str, Any]], edges: list[dict[str, Any]],
                     source: str, agent: dict[str, str] | None = None) -> str:
        """Record provenance captured elsewhere (an imported document, generated data):
        nodes `{"id", "label", "properties"}` and edges `{"type", "source", "target",
        "properties"}` taken into the graph as they are, ids kept."""
        from provgraph.timestamps import now

        stamp = now()
        return self.append({
            "kind": "graph",
            "id": "imp-" + os.urandom(8).hex(),
            "project": self.repo.project,
            "command": f"import {source}",
            "source": source,
            "agent": agent or {},
            "started": stamp,
            "ended": stamp,
            "nodes": nodes,
            "edges": edges,
        })

    def tip(self) -> str | None:
        """Where this clone's chain ends (read without a process)."""
        if os.path.exists(os.path.join(self.repo.common_dir, "reftable")):
            out = self.repo.git("rev-parse", "-q", "--verify", self.ref, check=False)
            return out.decode().strip() or None
        return gitio.read_ref(self.repo.common_dir, self.ref)

    def tips(self) -> dict[str, str]:
        """Every journal chain this repository knows (its own and those fetched from others)."""
        out = self.repo.git("for-each-ref", "--format=%(refname) %(objectname)", REF_PREFIX)
        tips = {}
        for line in out.decode().splitlines():
            ref, oid = line.rsplit(" ", 1)
            tips[ref[len(REF_PREFIX) :]] = oid
        return tips

    def entries(self, since: dict[str, str] | None = None,
                tips: dict[str, str] | None = None) -> Iterator[Entry]:
        """Records reachable from `tips` (default: now) but not from `since`, oldest first
        per chain. Callers that record what they have read pass the tips they will record."""
        since = since or {}
        tips = self.tips() if tips is None else tips
        with gitio.CatFile(self.repo.root) as cat:
            for chain, tip in sorted(tips.items()):
                if since.get(chain) == tip:
                    continue
                args = ["rev-list", "--reverse", tip]
                if since.get(chain):
                    args.append("^" + since[chain])
                commits = self.repo.git(*args).decode().split()
                for commit in commits:
                    found = cat.read(f"{commit}:record.json")
                    if found is None:
                        continue  # not a record commit: ignore rather than fail
                    yield Entry(commit, chain, json.loads(found[2]))

    def count(self) -> int:
        tips = list(self.tips().values())
        if not tips:
            return 0
        return int(self.repo.git("rev-list", "--count", *tips).decode())


def _ident(agent: dict[str, Any]) -> str:
    name = (agent.get("name") or "provgraph").replace("<", "").replace(">", "").strip()
    email = (agent.get("email") or "").replace("<", "").replace(">", "").strip()
    return f"{name or 'provgraph'} <{email}>"


def new_activity_id() -> str:
    """Random, so that clones never collide; stored in the record, so stable across rebuilds."""
    return "act-" + os.urandom(8).hex()
