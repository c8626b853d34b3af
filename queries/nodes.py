"""Finding nodes by what users type: a path (its latest version), `path@vN`, `path@*`, a
RUN (`#14`, `latest`, `latest~N`, `caffe train #14`: queries.runs, the one resolver of runs),
a node id (provgraph's own, or one kept from an imported PROV document) or a node's name."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from provgraph.errors import NotFound, ProvError
from provgraph.model import ACTIVITY, USED, WAS_GENERATED_BY, Edge, Node
from provgraph.queries.runs import find_run, is_run_reference, is_run_shorthand
from provgraph.stores.base import Store

ID_PREFIXES = ("act-", "ent-", "agt-")
_VERSIONED = re.compile(r"^(?P<path>.+)@v(?P<version>\d+)$")


def split_version(reference: str) -> tuple[str, int | None]:
    """`PATH@vN` as (PATH, N); anything else as (itself, None). The one reading of the
    version suffix, shared by every command that takes a file's version (`prov show`,
    `prov fileview why`...), so they all agree on what `a@vb@v2` or `x@v` name."""
    match = _VERSIONED.match(reference)
    return (match["path"], int(match["version"])) if match else (reference, None)


def find(store: Store, reference: str, path: str | None = None) -> Node:
    """The node a reference names, or a one-line error naming the reference.

    `reference` is what the user typed; `path` the repository path it names from the folder
    they typed it in (the CLI works it out), when it can name one. A RUN's shorthands
    (`#14`, `latest`, `latest~N`) are runs; an activity's name is tried before a path."""
    if reference.startswith(ID_PREFIXES):
        node = store.node(reference)
        if node is None:
            raise NotFound(f"no node with id {reference}")
        return node
    if is_run_shorthand(reference):
        return find_run(store, reference)
    if is_run_reference(reference) and store.named(reference.strip(), ACTIVITY):
        return find_run(store, reference)
    typed = (path if path is not None else reference).removeprefix("./")
    name, version = split_version(typed)
    node = store.entity(name, version)
    if node is None:
        node = store.node(reference)  # an id kept from an imported document (`ex:model`)
    if node is None:
        node = _named(store, reference)  # an agent (`Alice`), an imported node's label
    if node is None:
        if is_run_reference(reference):
            return find_run(store, reference)  # says there is no such run
        if version is not None and store.entity(name) is not None:
            latest = store.entity(name).properties.get("version")
            raise ProvError(f"{name} has no version {version} (latest is v{latest})")
        raise NotFound(f"no recorded file {name} (provgraph knows files a command used, made "
                        "or that changed between commands)")
    return node


def _named(store: Store, name: str) -> Node | None:
    found = store.named(name)
    if len(found) > 1:
        listed = ", ".join(f"{n.label.lower()} {n.id}" for n in found)
        raise ProvError(f"{name} names {len(found)} nodes: {listed}; give an id")
    return found[0] if found else None


def resolve(store: Store, reference: str, path: str | None = None) -> list[Node]:
    """The nodes a reference names, for operators taking sets of nodes: what `find` takes,
    and `path@*` (every version). `path`: as for `find`."""
    typed = path if path is not None else reference
    if typed.endswith("@*"):
        name = typed[:-2].removeprefix("./")
        found = store.versions(name)
        if not found:
            raise NotFound(f"no recorded file {name}")
        return found
    return [find(store, reference, path)]


@dataclass
class Deletion:
    """How a file the record holds went away."""

    path: str
    by: Node | None  # the run that deleted it; None when it went outside prov


def deletion(store: Store, entity: Node) -> Deletion | None:
    """For a version of a file the record says is gone now: how it went (on the embedded
    index, which keeps where each path stands)."""
    path = entity.properties.get("path")
    if entity.label != "Entity" or not isinstance(path, str) or not store.deleted(path):
        return None
    by = store.deleted_by(path)
    if by is not None and _made_or_used_after(store, path, by):
        by = None  # made again after that run, then removed outside prov
    return Deletion(path, by)


def _made_or_used_after(store: Store, path: str, run: Node) -> bool:
    latest = store.entity(path)
    if latest is None:
        return False
    edges = store.edges([latest.id], "both", [USED, WAS_GENERATED_BY])
    others = store.nodes({e.source if e.target == latest.id else e.target for e in edges})
    ended = str(run.properties.get("ended") or "")
    return any(str(n.properties.get("ended") or "") > ended for n in others.values()
               if n.label == ACTIVITY)


@dataclass
class Gone:
    """A recorded file that is not in the work tree now, and how it went."""

    path: str
    how: str  # "deleted" (by a recorded run), "removed outside prov", "not in the work tree"
    by: Node | None  # the run that deleted it

    def to_dict(self) -> dict:
        by = self.by
        return {"path": self.path, "how": self.how,
                "by": {"id": by.id, "name": by.name, "ended": by.properties.get("ended")}
                if by else None}


@dataclass
class NodeView:
    """`prov show`: one node with its properties, its edges and the nodes at their other
    ends, and (for a file's version) whether the file is gone."""

    node: Node
    outgoing: list[tuple[Edge, Node]]  # (edge, its target)
    incoming: list[tuple[Edge, Node]]  # (edge, its source)
    gone: Gone | None = None

    def to_dict(self) -> dict:
        node = self.node
        return {
            "id": node.id, "label": node.label, "properties": node.properties,
            **({"gone": self.gone.to_dict()} if self.gone else {}),
            "out": [{"type": e.type, "target": e.target, "name": other.name,
                     "properties": e.properties} for e, other in self.outgoing],
            "in": [{"type": e.type, "source": e.source, "name": other.name,
                    "properties": e.properties} for e, other in self.incoming],
        }


def view(store: Store, node: Node, root: str | None = None) -> NodeView:
    """What `prov show` prints of `node`. `root`, the work tree, lets it say that a recorded
    file is not there (removed since the last capture) when no record says so yet."""
    outgoing = store.edges([node.id], "out")
    incoming = store.edges([node.id], "in")
    others = store.nodes([e.target for e in outgoing] + [e.source for e in incoming])
    return NodeView(node, [(e, others[e.target]) for e in outgoing],
                    [(e, others[e.source]) for e in incoming], _gone(store, node, root))


def _gone(store: Store, node: Node, root: str | None) -> Gone | None:
    found = deletion(store, node)
    if found is not None:
        return Gone(found.path, "deleted" if found.by else "removed outside prov", found.by)
    path = node.properties.get("path") if node.label == "Entity" else None
    if (root is not None and isinstance(path, str) and store.entity(path) is not None
            and not os.path.lexists(os.path.join(root, path))):
        return Gone(path, "not in the work tree", None)
    return None
