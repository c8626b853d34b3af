"""The segmentation search against brute force: on small random provenance DAGs held in a real
DuckDB index, every criterion drawn at random, the bounded bidirectional search must find
exactly the vertices that enumerating every derivation path finds."""

from __future__ import annotations

import fnmatch
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provgraph.model import Edge, Node
from provgraph.queries.segment import Criteria, Predicate, segment
from provgraph.stores.adjacency import SearchIndex
from provgraph.stores.embedded import EmbeddedStore

PATHS = ["a.csv", "b.log", "c.txt"]
UTILITIES = ["python3", "sed", "vi"]
AGENTS = {"agt-alice": "Alice", "agt-bob": "Bob"}
PREDICATES = ["path=*.log", "utility=vi", "agent=bob", "path=a.csv"]
TYPES = ["used", "wasGeneratedBy", "wasAssociatedWith", "wasAttributedTo", "wasDerivedFrom"]


def stamp(i: int) -> str:
    return f"2026-01-01T00:{i:02d}:00+00:00"


@st.composite
def histories(draw):
    """A lifecycle: activities in time order, each using earlier versions and writing new ones
    (each derived from the version it replaces), plus changes made outside prov."""
    nodes = [Node(i, "Agent", {"name": n, "email": f"{n.lower()}@example.com"})
             for i, n in AGENTS.items()]
    edges: list[Edge] = []
    latest: dict[str, str] = {}
    versions: dict[str, int] = {}
    entities: list[str] = []

    def new_version(path: str) -> str:
        versions[path] = versions.get(path, 0) + 1
        node_id = f"ent-{path}-{versions[path]}"
        nodes.append(Node(node_id, "Entity", {"name": f"{path}@v{versions[path]}",
                                              "path": path, "version": versions[path]}))
        entities.append(node_id)
        return node_id

    for path in draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=3, unique=True)):
        latest[path] = new_version(path)
    for i in range(draw(st.integers(1, 7))):
        if draw(st.booleans()) and draw(st.booleans()):  # a change made outside prov
            path = draw(st.sampled_from(sorted(latest)))
            old, latest[path] = latest[path], new_version(path)
            edges.append(Edge("wasDerivedFrom", latest[path], old, {"missing": True}))
        act = f"act-{i}"
        agent = draw(st.sampled_from(sorted(AGENTS)))
        nodes.append(Node(act, "Activity", {"name": f"a{i}",
                                            "utility": draw(st.sampled_from(UTILITIES)),
                                            "started": stamp(2 * i), "ended": stamp(2 * i + 1)}))
        edges.append(Edge("wasAssociatedWith", act, agent))
        for used in draw(st.lists(st.sampled_from(entities), max_size=3, unique=True)):
            edges.append(Edge("used", act, used))
        for path in draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=2, unique=True)):
            old = latest.get(path)
            latest[path] = made = new_version(path)
            edges.append(Edge("wasGeneratedBy", made, act))
            edges.append(Edge("wasAttributedTo", made, agent))
            if old:
                edges.append(Edge("wasDerivedFrom", made, old))
    sources = draw(st.lists(st.sampled_from(entities), min_size=1, max_size=2, unique=True))
    destinations = draw(st.lists(st.sampled_from(entities), min_size=1, max_size=2, unique=True))
    return nodes, edges, sources, destinations


@st.composite
def criteria(draw):
    return Criteria(
        exclude_edges=frozenset(draw(st.lists(st.sampled_from(TYPES), max_size=2))),
        exclude_nodes=tuple(Predicate.parse(p) for p in draw(
            st.lists(st.sampled_from(PREDICATES), max_size=2, unique=True))),
        hops=draw(st.none() | st.integers(0, 4)),
        since=draw(st.none() | st.integers(0, 14).map(stamp)),
        until=draw(st.none() | st.integers(0, 14).map(stamp)),
        context=draw(st.booleans()),
        follow_revisions=draw(st.booleans()),
    )


def brute_force(nodes: list[Node], edges: list[Edge], sources, destinations, c: Criteria):
    """Every derivation path enumerated, every criterion applied the obvious way."""
    by_id = {n.id: n for n in nodes}
    live = [e for e in edges if e.type not in c.exclude_edges]
    agent_of = {e.source: e.target for e in live if e.type in ("wasAssociatedWith",
                                                               "wasAttributedTo")}

    def allowed(node: Node) -> bool:
        for p in c.exclude_nodes:
            if p.key == "agent":
                people = [node.id] if node.label == "Agent" else [agent_of.get(node.id)]
                if any(a and fnmatch.fnmatch(by_id[a].properties["name"].lower(), p.pattern)
                       for a in people):
                    return False
            elif fnmatch.fnmatchcase(str(node.properties.get(p.key)), p.pattern):
                return False
        if node.label == "Activity":
            if c.since and node.properties["started"] < c.since:
                return False
            if c.until and node.properties["ended"] > c.until:
                return False
        return True

    ok = {i for i, n in by_id.items() if allowed(n)}
    steps: dict[str, list[str]] = {}
    for e in live:
        followed = e.type in ("used", "wasGeneratedBy") or (
            e.type == "wasDerivedFrom" and (c.follow_revisions or e.properties.get("missing")))
        if followed and e.source in ok and e.target in ok:
            steps.setdefault(e.source, []).append(e.target)
    core: set[str] = set()

    def walk(path: list[str]) -> None:
        here = path[-1]
        activities = sum(by_id[i].label == "Activity" for i in path)
        if c.hops is not None and activities > c.hops:
            return
        if here in sources:
            core.update(path)
        for nxt in steps.get(here, []):
            walk([*path, nxt])

    for d in destinations:
        if d in ok:
            walk([d])
    chosen = set(core)
    if c.context:
        for e in live:
            if e.type == "used" and e.source in core and e.target in ok:
                chosen.add(e.target)
            if e.type == "wasGeneratedBy" and e.target in core and e.source in ok:
                chosen.add(e.source)
        for e in live:
            if e.type in ("wasAssociatedWith", "wasAttributedTo") and e.source in chosen \
                    and e.target in ok:
                chosen.add(e.target)
    induced = {e.key for e in live if e.source in chosen and e.target in chosen}
    return core, chosen, induced


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), criteria())
def test_search_equals_brute_force(history, c):
    nodes, edges, sources, destinations = history
    with tempfile.TemporaryDirectory() as folder, \
            EmbeddedStore(Path(folder) / "index.duckdb") as store:
        store.next_generation()
        store.write(nodes, edges, "p")
        with SearchIndex.beside(store) as search:
            segments = [segment(s, sources, destinations, c, clock_slack=0)
                        for s in (store, search)]
    core, chosen, induced = brute_force(nodes, edges, sources, destinations, c)
    for seg in segments:  # DuckDB itself, and the SQLite search index the CLI walks
        assert seg.core == core
        assert set(seg.nodes) == chosen
        assert {e.key for e in seg.edges} == induced
