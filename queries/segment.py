"""Segmentation (`prov segment`): how a result was derived from some data, as a subgraph.

The semantics are ProvDB's `PgSeg(Vsrc, Vdst, B)` as fixed in docs/operators.md. A derivation
step runs, in PROV's direction, from an entity back to what it came from: through the activity
that generated it to what that activity used (`e -wasGeneratedBy-> a -used-> e'`, one
activity), or across a revision made outside provgraph (`e -wasDerivedFrom{missing}-> e'`, no
activity; every revision with `follow_revisions`), or across a derivation another tool recorded
(an imported `wasDerivedFrom` between entities that are not two versions of one file). The
*core* is every vertex on such a path
from a destination back to a source, passing at most `hops` activities; the *segment* adds the
context (every entity a core activity used or generated, and the agents) and every edge among
its vertices whose type is not excluded.

The search is bidirectional and bounded: one breadth-first search forwards from the sources and
one backwards from the destinations run a hop at a time, each hop one batched query to the
store, and the side that finishes first confines the other to the vertices it reached (a vertex
on a path from d back to s is an ancestor of d *and* a descendant of s, and so is every vertex
between it and d). Paths are never enumerated and the graph is never loaded: the cost grows
with the region the two searches touch.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from provgraph.errors import BadInput, NotFound, ProvError
from provgraph.model import (
    ACTIVITY,
    AGENT,
    EDGE_TYPES,
    ENTITY,
    USED,
    WAS_ASSOCIATED_WITH,
    WAS_ATTRIBUTED_TO,
    WAS_DERIVED_FROM,
    WAS_GENERATED_BY,
    Edge,
    Node,
    version_link,
)
from provgraph.stores.base import Store


@dataclass(frozen=True)
class Predicate:
    """`key=glob`: a node matches when its property `key` (or any item of a list) matches the
    glob. `agent=` matches agents by name, email or the email's user (ignoring case), and the
    activities and entities associated with or attributed to them; `label=` matches
    Entity/Activity/Agent; `id=` the node id."""

    key: str
    pattern: str

    @classmethod
    def parse(cls, text: str) -> Predicate:
        key, eq, pattern = text.partition("=")
        if not eq or not key.strip():
            raise ProvError(f"--exclude-node {text!r}: expected KEY=PATTERN, e.g. 'path=*.log'")
        return cls(key.strip(), pattern)

    def matches_value(self, value: Any) -> bool:
        values = value if isinstance(value, list) else [value]
        return any(v is not None and fnmatch.fnmatchcase(property_text(v), self.pattern)
                   for v in values)

    def matches(self, node: Node) -> bool:
        if self.key == "label":
            return self.matches_value(node.label)
        if self.key == "id":
            return self.matches_value(node.id)
        if self.key == "agent":  # people are named loosely: Bob, bob, bob@example.com
            if node.label != AGENT:
                return False
            email = str(node.properties.get("email") or "")
            names = [node.properties.get("name"), email, email.partition("@")[0]]
            return any(fnmatch.fnmatch(str(n).lower(), self.pattern.lower()) for n in names if n)
        return self.matches_value(node.properties.get(self.key))

    def __str__(self) -> str:
        return f"{self.key}={self.pattern}"


def property_text(value: Any) -> str:
    """A property value as a person types it in a pattern or reads it in a label: booleans as
    JSON spells them (`true`, the way `prov log --json` shows them), not Python's `True`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class Criteria:
    """The boundary criteria B of a segmentation."""

    exclude_edges: frozenset[str] = frozenset()
    exclude_nodes: tuple[Predicate, ...] = ()
    hops: int | None = None  # activities a path may pass through
    since: str | None = None  # ISO times: activities that started before / ended after are out
    until: str | None = None
    context: bool = True
    follow_revisions: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.exclude_edges) - set(EDGE_TYPES)
        if unknown:
            raise BadInput(f"unknown edge type {sorted(unknown)[0]!r} "
                            f"(edge types: {', '.join(EDGE_TYPES)})")
        if self.hops is not None and self.hops < 0:
            raise ProvError("--hops must be 0 or more")
        self.exclude_edges = frozenset(self.exclude_edges)
        self.exclude_nodes = tuple(self.exclude_nodes)

    def as_dict(self) -> dict[str, Any]:
        return {"exclude_edges": sorted(self.exclude_edges),
                "exclude_nodes": [str(p) for p in self.exclude_nodes], "hops": self.hops,
                "since": self.since, "until": self.until, "context": self.context,
                "follow_revisions": self.follow_revisions}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Criteria:
        return cls(exclude_edges=frozenset(data.get("exclude_edges", ())),
                   exclude_nodes=tuple(Predicate.parse(p) for p in data.get("exclude_nodes", ())),
                   hops=data.get("hops"), since=data.get("since"), until=data.get("until"),
                   context=data.get("context", True),
                   follow_revisions=data.get("follow_revisions", False))


@dataclass
class Segment:
    """A segment: its vertices (core and context), the edges among them, and how it was asked.

    `core` holds the ids on derivation paths; the other ids in `nodes` are context.
    """

    sources: list[str]
    destinations: list[str]
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    core: set[str] = field(default_factory=set)
    criteria: Criteria = field(default_factory=Criteria)

    def __bool__(self) -> bool:
        return bool(self.nodes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": self.sources,
            "destinations": self.destinations,
            "criteria": self.criteria.as_dict(),
            "nodes": [{"id": n.id, "label": n.label, "properties": n.properties,
                       "core": n.id in self.core} for n in self.nodes.values()],
            "edges": [{"type": e.type, "source": e.source, "target": e.target,
                       "properties": e.properties} for e in self.edges],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        nodes = {n["id"]: Node(n["id"], n["label"], n["properties"]) for n in data["nodes"]}
        return cls(
            sources=list(data["sources"]),
            destinations=list(data["destinations"]),
            nodes=nodes,
            edges=[Edge(e["type"], e["source"], e["target"], e.get("properties", {}))
                   for e in data["edges"]],
            core={n["id"] for n in data["nodes"] if n.get("core")},
            criteria=Criteria.from_dict(data.get("criteria", {})),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


# -- the search ----------------------------------------------------------------------------------

#: How a search moves, per direction: (edge types to follow, direction of the store query).
#: Backwards from a destination: entity -wasGeneratedBy-> activity -used-> entity, and revisions;
#: forwards from a source the same edges are walked against their direction.
_DERIVATION = (WAS_GENERATED_BY, USED, WAS_DERIVED_FROM)
INFINITY = float("inf")


class _Search:
    """One breadth-first search: the fewest activities from a start to each vertex reached
    (a vertex that is an activity counts itself)."""

    def __init__(self, starts: list[Node], backwards: bool, filter_: _Filter, hops: int | None,
                 bound=None):
        self.direction = "out" if backwards else "in"
        self.backwards = backwards
        self.filter = filter_
        self.hops = hops
        self.bound = bound  # activities beyond this time cannot lie on a path (see _bounds)
        self.within: set[str] | None = None  # set by confine()
        self.dist: dict[str, int] = {}
        for node in starts:
            if filter_.allows(node):
                self.dist[node.id] = _cost(node)
        self.frontier = set(self.dist)

    @property
    def done(self) -> bool:
        return not self.frontier

    def confine(self, region: set[str]) -> None:
        """Only vertices the other search reached can lie on a path between the two ends."""
        self.within = region
        self.frontier &= region

    def expand(self, store) -> None:
        """One hop: one query for every edge out of the frontier, one for the agents of the
        new vertices when an agent predicate needs them."""
        links = store.step(self.frontier, self.direction, self.filter.follow)
        fresh = {node.id: node for _, node in links if node.id not in self.filter.verdict}
        self.filter.judge(store, fresh)
        changed: set[str] = set()
        for edge, node in links:
            here = edge.source if self.direction == "out" else edge.target
            if not self.filter.passes(edge, node):
                continue
            if self.within is not None and node.id not in self.within:
                continue
            if self.bound is not None and node.label == ACTIVITY and self._beyond(node):
                continue
            cost = self.dist[here] + _cost(node)
            if self.hops is not None and cost > self.hops:
                continue
            if cost < self.dist.get(node.id, INFINITY):
                self.dist[node.id] = cost
                changed.add(node.id)
        self.frontier = changed

    def _beyond(self, activity: Node) -> bool:
        if self.backwards:  # it ended before the first source was being made
            ended = _instant(activity.properties.get("ended"), "ended")
            return ended is not None and ended < self.bound
        started = _instant(activity.properties.get("started"), "started")
        return started is not None and started > self.bound


def _bounds(store: Store, sources: list[Node], destinations: list[Node], slack: float):
    """Time bounds from PROV's ordering constraint (generation precedes usage): every activity
    on a path from s to d ended after s's generation started and started before d's generation
    ended. The bounds need every end to have been generated by a timed activity; `slack`
    seconds absorb clock differences between the clones that recorded the graph."""
    import datetime as dt

    makers: dict[str, Node] = {}
    for edge, activity in store.step([n.id for n in sources + destinations], "out",
                                     [WAS_GENERATED_BY]):
        makers[edge.source] = activity
    margin = dt.timedelta(seconds=slack)

    def times(ends: list[Node], key: str) -> list | None:
        found = [_instant(makers[n.id].properties.get(key), key) if n.id in makers else None
                 for n in ends]
        return found if found and None not in found else None

    lower, upper = times(sources, "started"), times(destinations, "ended")
    return (min(lower) - margin if lower else None, max(upper) + margin if upper else None)


def _cost(node: Node) -> int:
    return 1 if node.label == ACTIVITY else 0


class _Filter:
    """The boundary criteria as verdicts on vertices and edges (cached per vertex)."""

    def __init__(self, criteria: Criteria):
        self.criteria = criteria
        self.follow = [t for t in _DERIVATION if t not in criteria.exclude_edges]
        self.verdict: dict[str, bool] = {}
        self.nodes: dict[str, Node] = {}
        self.by_agent = [p for p in criteria.exclude_nodes if p.key == "agent"]
        self.since = _instant(criteria.since, "--since")
        self.until = _instant(criteria.until, "--until")

    def passes(self, edge: Edge, node: Node) -> bool:
        if edge.type == WAS_DERIVED_FROM and not (self.criteria.follow_revisions
                                                   or edge.properties.get("missing")) \
                and version_link(self.nodes.get(edge.source), self.nodes.get(edge.target)):
            return False  # a file's previous version: its activity path says it (an imported
            # derivation between other entities may be all there is: followed)
        return self.verdict.get(node.id, False)

    def allows(self, node: Node) -> bool:
        if node.id not in self.verdict:
            self.verdict[node.id] = self._allowed(node)
            self.nodes[node.id] = node
        return self.verdict[node.id]

    def judge(self, store, fresh: dict[str, Node]) -> None:
        """Verdicts for vertices met for the first time (their agents fetched in one query)."""
        for node in fresh.values():
            self.allows(node)
        if not self.by_agent:
            return
        people = [i for i, n in fresh.items() if self.verdict[i] and n.label != AGENT]
        kinds = [t for t in (WAS_ASSOCIATED_WITH, WAS_ATTRIBUTED_TO)
                 if t not in self.criteria.exclude_edges]  # an excluded edge tells nothing
        for edge, agent in store.step(people, "out", kinds) if kinds else []:
            if any(p.matches(agent) for p in self.by_agent):
                self.verdict[edge.source] = False

    def _allowed(self, node: Node) -> bool:
        if any(p.matches(node) for p in self.criteria.exclude_nodes):
            return False
        if node.label == ACTIVITY and (self.since or self.until):
            started = _instant(node.properties.get("started"), "started")
            ended = _instant(node.properties.get("ended"), "ended") or started
            if started is None:
                return False  # no time: not known to be inside the window
            if self.since and started < self.since:
                return False
            if self.until and ended > self.until:
                return False
        return True


def _instant(value: Any, what: str):
    """An ISO time as an aware datetime (a time without zone is local, as git reads it)."""
    if value is None or value == "":
        return None
    import datetime as dt

    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        if what.startswith("--"):
            raise ProvError(f"{what} {value!r}: expected an ISO date or time, "
                            "e.g. 2026-11-26 or 2026-11-26T14:30") from None
        return None
    return moment if moment.tzinfo else moment.astimezone()


#: Seconds by which the clocks of the clones that recorded a graph may disagree.
CLOCK_SLACK = 3600.0


def segment(store: Store, sources: Iterable[str], destinations: Iterable[str],
            criteria: Criteria | None = None, clock_slack: float = CLOCK_SLACK) -> Segment:
    """`PgSeg(sources, destinations, criteria)` on either store (node ids in, a Segment out)."""
    criteria = criteria or Criteria()
    sources, destinations = list(dict.fromkeys(sources)), list(dict.fromkeys(destinations))
    ends = store.nodes(sources + destinations)
    filter_ = _Filter(criteria)
    filter_.judge(store, dict(ends))
    starts = [ends[i] for i in sources if i in ends]
    goals = [ends[i] for i in destinations if i in ends]
    lower, upper = _bounds(store, starts, goals, clock_slack)
    forward = _Search(starts, False, filter_, criteria.hops, upper)
    backward = _Search(goals, True, filter_, criteria.hops, lower)
    # Lockstep, the smaller frontier first; the first search to finish confines the other.
    while not (forward.done or backward.done):
        smaller = forward if len(forward.frontier) <= len(backward.frontier) else backward
        smaller.expand(store)
    finished, other = (forward, backward) if forward.done else (backward, forward)
    other.confine(set(finished.dist))
    while not other.done:
        other.expand(store)

    core = set()
    for node_id, d_src in forward.dist.items():
        d_dst = backward.dist.get(node_id)
        if d_dst is None:
            continue
        node = filter_.nodes[node_id]
        if criteria.hops is None or d_src + d_dst - _cost(node) <= criteria.hops:
            core.add(node_id)
    nodes = {i: filter_.nodes[i] for i in core}
    if criteria.context and core:
        _add_context(store, nodes, filter_)
    edges = _induced(store, nodes, criteria)
    return Segment(sources, destinations, dict(sorted(nodes.items())), edges, core, criteria)


def _add_context(store: Store, nodes: dict[str, Node], filter_: _Filter) -> None:
    """Every entity a core activity used or generated, then the agents of what is included."""
    excluded = filter_.criteria.exclude_edges
    activities = [i for i, n in nodes.items() if n.label == ACTIVITY]
    links = []
    if USED not in excluded:
        links += store.step(activities, "out", [USED])
    if WAS_GENERATED_BY not in excluded:
        links += store.step(activities, "in", [WAS_GENERATED_BY])
    _admit(store, nodes, filter_, [node for _, node in links if node.label == ENTITY])
    kinds = [t for t in (WAS_ASSOCIATED_WITH, WAS_ATTRIBUTED_TO) if t not in excluded]
    if kinds:
        agents = store.step(list(nodes), "out", kinds)
        _admit(store, nodes, filter_, [node for _, node in agents if node.label == AGENT])


def _admit(store: Store, nodes: dict[str, Node], filter_: _Filter, candidates: list[Node]) -> None:
    fresh = {n.id: n for n in candidates if n.id not in filter_.verdict}
    filter_.judge(store, fresh)
    for node in candidates:
        if filter_.verdict.get(node.id):
            nodes.setdefault(node.id, node)


def _induced(store: Store, nodes: dict[str, Node], criteria: Criteria) -> list[Edge]:
    """Every edge among the segment's vertices whose type is not excluded."""
    kinds = [t for t in EDGE_TYPES if t not in criteria.exclude_edges]
    if not nodes or not kinds:
        return []
    edges = store.edges(list(nodes), "out", kinds)
    return sorted((e for e in edges if e.target in nodes), key=lambda e: e.identity)


# -- saved segments ------------------------------------------------------------------------------


def _saved_path(repo, name: str) -> str:
    import os
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ProvError(f"segment name {name!r}: use letters, digits, '.', '_' and '-'")
    folder = repo.prov_path("segments")
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, name + ".json")


def save(repo, name: str, seg: Segment) -> str:
    """Keep a segment under a name (in .git/prov/segments/), for `prov summarize --segments`."""
    from provgraph import gitio

    path = _saved_path(repo, name)
    gitio.write_file_atomic(path, seg.to_json().encode())
    return path


def load(repo, name: str) -> Segment:
    import os

    path = _saved_path(repo, name)
    if not os.path.exists(path):
        known = saved(repo)
        raise NotFound(f"no saved segment {name!r}"
                        + (f" (saved: {', '.join(known)})" if known else
                           " (save one with prov segment ... --save NAME)"))
    from provgraph import state

    data = state.read_json(path)
    damaged = ProvError(f"{state.shown(path)} is damaged: save the segment again (prov segment "
                        f"... --save {name}), or remove the file")
    if not _sound_saved(data):
        raise damaged
    try:
        return Segment.from_dict(data)
    except (ProvError, KeyError, TypeError, ValueError, AttributeError):
        raise damaged from None


def _sound_saved(data: Any) -> bool:
    """Whether a saved segment has the shape `Segment.to_dict` writes."""
    from provgraph import state

    def strings(item: Any, *keys: str) -> bool:
        return isinstance(item, dict) and all(isinstance(item.get(k), str) for k in keys)

    return (isinstance(data, dict) and state.list_of(data.get("sources"), str)
            and state.list_of(data.get("destinations"), str)
            and state.list_of(data.get("nodes"), dict)
            and all(strings(n, "id", "label") and isinstance(n.get("properties"), dict)
                    for n in data["nodes"])
            and state.list_of(data.get("edges"), dict)
            and all(strings(e, "type", "source", "target")
                    and isinstance(e.get("properties", {}), dict) for e in data["edges"])
            and isinstance(data.get("criteria", {}), dict))


def saved(repo) -> list[str]:
    import os

    folder = repo.prov_path("segments")
    if not os.path.isdir(folder):
        return []
    return sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".json"))
