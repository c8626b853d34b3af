"""The PROV graph provgraph builds: W3C PROV's words for nodes and edges.

Nodes are `Entity` (one version of one file), `Activity` (one command run) and `Agent` (a
person). Edges keep PROV's names and directions: (Activity)-[used]->(Entity),
(Entity)-[wasGeneratedBy]->(Activity), (Activity)-[wasAssociatedWith]->(Agent),
(Entity)-[wasAttributedTo]->(Agent), (Entity)-[wasDerivedFrom]->(Entity).

Property values are scalars or homogeneous lists of scalars (what Neo4j can hold); nested data
from ingestors is flattened to dotted keys (`caffe.test.accuracy`).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

ENTITY, ACTIVITY, AGENT = "Entity", "Activity", "Agent"
LABELS = (ENTITY, ACTIVITY, AGENT)

USED = "used"
WAS_GENERATED_BY = "wasGeneratedBy"
WAS_ASSOCIATED_WITH = "wasAssociatedWith"
WAS_ATTRIBUTED_TO = "wasAttributedTo"
WAS_DERIVED_FROM = "wasDerivedFrom"
EDGE_TYPES = (USED, WAS_GENERATED_BY, WAS_ASSOCIATED_WITH, WAS_ATTRIBUTED_TO, WAS_DERIVED_FROM)


@dataclass
class Node:
    id: str
    label: str
    properties: dict[str, Any] = field(default_factory=dict)  # includes name and project

    @property
    def name(self) -> str:
        return self.properties.get("name", self.id)


@dataclass
class Edge:
    type: str
    source: str
    target: str
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.type, self.source, self.target)

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """What makes an edge one edge: its ends, and the relation's own `id` where an
        imported PROV document states two relations between the same two nodes (every edge
        provgraph records itself has none: one per type and ends)."""
        relation = self.properties.get("id")
        return (self.type, self.source, self.target, relation if isinstance(relation, str) else "")


def json_safe(value: Any) -> Any:
    """`value` with every NaN as None, all the way down: JSON has no NaN (a series marks a
    missing value with NaN; `--json` prints it as null)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    return value


def version_link(source: Node | None, target: Node | None) -> bool:
    """Whether a wasDerivedFrom from `source` to `target` links two versions of one file
    (provgraph's version chain, PROV's revision), rather than a derivation another tool
    recorded: the wasGeneratedBy/used path already says where a version came from, while an
    imported derivation may be all there is."""
    return (source is not None and target is not None
            and source.label == ENTITY and target.label == ENTITY
            and source.properties.get("path") is not None
            and source.properties.get("path") == target.properties.get("path"))


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:16]


def entity_digest(oid: str, sha256: str | None = None) -> str:
    """A version's `digest` property: its git blob id, or `sha256:...` for a large file (whose
    snapshot trees hold a pointer blob instead of the content)."""
    return f"sha256:{sha256}" if sha256 else oid


def entity_id(project: str, path: str, digest: str, origin: str) -> str:
    """Stable across rebuilds and clones: what the version is, and what made it.

    `origin` says where the version came from, using only what its own journal record says, so
    that every clone derives the same id whatever other records it also holds:
    - the id of the activity that generated it;
    - `seen:<activity id>` for a change made outside provgraph, found by that activity's
      before-snapshot (the same content coming back later is a new version, never a cycle);
    - "" for a version that was simply there when provgraph first met the file (the same in
      every clone: two clones using the committed data.csv use one entity).
    """
    return "ent-" + _short_hash(project, path, digest, origin)


def agent_id(project: str, name: str, email: str) -> str:
    return "agt-" + _short_hash(project, email.lower() or name)


def flatten(properties: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts become dotted keys; lists stay lists when their items are all scalars of one
    type, and become JSON text otherwise; None values are dropped (Neo4j has no null property).
    """
    if not prefix and not any(v is None or isinstance(v, (dict, list, tuple))
                              for v in properties.values()):
        return dict(properties)  # already flat: the common case, kept cheap
    flat: dict[str, Any] = {}
    for key, value in properties.items():
        name = f"{prefix}{key}"
        if value is None:
            continue
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        elif isinstance(value, (list, tuple)):
            flat[name] = _homogeneous(list(value))
        else:
            flat[name] = value
    return flat


def _homogeneous(values: list[Any]) -> Any:
    kinds = {type(v) for v in values}
    if kinds <= {int, float} and kinds:
        return [float(v) for v in values] if float in kinds else values
    if len(kinds) <= 1 and kinds <= {str, bool, int, float}:
        return values
    return json.dumps(values)
