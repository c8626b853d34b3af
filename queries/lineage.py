"""`prov lineage`: where a file version came from (ancestors) or what came of it (descendants).

The walk follows PROV edges level by level, one batched query per level: from an entity to the
activity that generated it and on to what that activity used; across `wasDerivedFrom` when the
change was made outside provgraph (`missing: true`, the only link there is), along every
revision with `revisions=True`, and always across a derivation another tool recorded (an
imported `wasDerivedFrom` between entities that are not two versions of one file). A node
reached twice is expanded once; later mentions are marked `seen` so the tree stays as small as
the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provgraph.model import (
    ACTIVITY,
    USED,
    WAS_ASSOCIATED_WITH,
    WAS_DERIVED_FROM,
    WAS_GENERATED_BY,
    Node,
    version_link,
)
from provgraph.stores.base import Store


@dataclass
class Step:
    node: Node
    relation: str | None = None  # PROV type of the edge from the parent (None at the root)
    properties: dict[str, Any] = field(default_factory=dict)  # that edge's properties
    children: list[Step] = field(default_factory=list)
    seen: bool = False  # expanded elsewhere in the tree
    agents: list[Node] = field(default_factory=list)  # for activities: who ran it

    def to_dict(self) -> dict[str, Any]:
        """The tree as `prov lineage --json` prints it (empty fields left out)."""
        out: dict[str, Any] = {"id": self.node.id, "name": self.node.name,
                               "label": self.node.label}
        if self.relation:
            out["relation"] = self.relation
        if self.properties:
            out["edge"] = self.properties
        if self.agents:
            out["agents"] = [a.name for a in self.agents]
        if self.seen:
            out["seen"] = True
        if self.children:
            out["children"] = [c.to_dict() for c in self.children]
        return out


def ancestors(store: Store, start: Node, depth: int | None = None,
              revisions: bool = False) -> Step:
    return _walk(store, start, depth, revisions, backwards=True)


def descendants(store: Store, start: Node, depth: int | None = None,
                revisions: bool = False) -> Step:
    return _walk(store, start, depth, revisions, backwards=False)


def _walk(store: Store, start: Node, depth: int | None, revisions: bool, backwards: bool) -> Step:
    root = Step(start)
    expanded = {start.id}
    frontier = [root]
    level = 0
    while frontier and (depth is None or level < depth):
        ids = [step.node.id for step in frontier]
        if backwards:
            edges = store.edges(ids, "out", [WAS_GENERATED_BY, USED, WAS_DERIVED_FROM,
                                             WAS_ASSOCIATED_WITH])
            links = [(e.source, e.target, e) for e in edges]
        else:
            edges = store.edges(ids, "in", [WAS_GENERATED_BY, USED, WAS_DERIVED_FROM])
            agents = store.edges(ids, "out", [WAS_ASSOCIATED_WITH])
            links = [(e.target, e.source, e) for e in edges] + [
                (e.source, e.target, e) for e in agents]
        nodes = store.nodes(other for _, other, _ in links)
        parents = {step.node.id: step.node for step in frontier}
        by_parent: dict[str, list[tuple[Node, Any]]] = {}
        for parent, other, edge in links:
            if edge.type == WAS_DERIVED_FROM and not (revisions or edge.properties.get("missing")) \
                    and version_link(parents.get(parent), nodes.get(other)):
                continue  # a file's previous version: the activity path says where it came from
            children = by_parent.setdefault(parent, [])
            if other in nodes and not any(node.id == other and e.type == edge.type
                                          for node, e in children):
                children.append((nodes[other], edge))  # once, however many relations join them
        next_frontier = []
        for step in frontier:
            children = sorted(by_parent.get(step.node.id, []),
                              key=lambda item: (item[1].type, item[0].name))
            for node, edge in children:
                if edge.type == WAS_ASSOCIATED_WITH:
                    step.agents.append(node)
                    continue
                child = Step(node, edge.type, edge.properties, seen=node.id in expanded)
                step.children.append(child)
                if not child.seen:
                    expanded.add(node.id)
                    next_frontier.append(child)
        frontier = next_frontier
        level += 1
    _expand_first_mention(root)
    _add_agents(store, root)
    return root


def _add_agents(store: Store, root: Step) -> None:
    """Who ran the activities the walk reached but did not expand: those at the depth limit
    and later mentions of one shown above (one batched query)."""
    waiting: dict[str, list[Step]] = {}

    def collect(step: Step) -> None:
        if step.node.label == ACTIVITY and not step.agents:
            waiting.setdefault(step.node.id, []).append(step)
        for child in step.children:
            collect(child)

    collect(root)
    if not waiting:
        return
    edges = store.edges(list(waiting), "out", [WAS_ASSOCIATED_WITH])
    agents = store.nodes(e.target for e in edges)
    for edge in edges:
        if edge.target in agents:
            for step in waiting[edge.source]:
                step.agents.append(agents[edge.target])


def _expand_first_mention(root: Step) -> None:
    """The search expands a node where it first reaches it (the shallowest place); a reader
    meets it first in reading order. Move each expansion there, so 'seen' means 'above'."""
    holder: dict[str, Step] = {}

    def collect(step: Step) -> None:
        for child in step.children:
            if not child.seen:
                holder[child.node.id] = child
            collect(child)

    collect(root)
    met: set[str] = {root.node.id}

    def visit(step: Step) -> None:
        for child in step.children:
            node_id = child.node.id
            if node_id not in met:
                met.add(node_id)
                owner = holder.get(node_id)
                if owner is not None and owner is not child:
                    child.children, owner.children = owner.children, []
                    child.agents = child.agents or owner.agents
                    child.seen, owner.seen = False, True
            visit(child)

    visit(root)
