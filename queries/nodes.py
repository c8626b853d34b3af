"""Finding nodes by what users type: a path (its latest version), `path@vN`, `path@*` or a
node id (provgraph's own, or one kept from an imported PROV document)."""

from __future__ import annotations

import re

from provgraph.model import Node
from provgraph.repo import ProvError

ID_PREFIXES = ("act-", "ent-", "agt-")
_VERSIONED = re.compile(r"^(?P<path>.+)@v(?P<version>\d+)$")


def find(store, reference: str) -> Node:
    """The node a reference names, or a one-line error naming the reference."""
    if reference.startswith(ID_PREFIXES):
        node = store.node(reference)
        if node is None:
            raise ProvError(f"no node with id {reference}")
        return node
    match = _VERSIONED.match(reference)
    path, version = (match["path"], int(match["version"])) if match else (reference, None)
    path = path.removeprefix("./")
    node = store.entity(path, version)
    if node is None and match is None:
        node = store.node(reference)  # an id kept from an imported document (`ex:model`)
    if node is None:
        if version is not None and store.entity(path) is not None:
            latest = store.entity(path).properties.get("version")
            raise ProvError(f"{path} has no version {version} (latest is v{latest})")
        raise ProvError(f"no recorded file {path} (provgraph knows files a command used, made "
                        "or that changed between commands)")
    return node


def resolve(store, reference: str) -> list[Node]:
    """The nodes a reference names, for operators taking sets of nodes: `path` (its latest
    version), `path@vN`, `path@*` (every version), or a node id, including ids kept from an
    imported PROV document (`ex:model`)."""
    if reference.endswith("@*"):
        path = reference[:-2].removeprefix("./")
        found = store.versions(path)
        if not found:
            raise ProvError(f"no recorded file {path}")
        return found
    return [find(store, reference)]
