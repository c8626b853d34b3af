"""Summarization (`prov summarize`): many segments merged into one workflow-like picture.

The semantics are ProvDB's `PgSum(S1..Sn, K, r)` as fixed in docs/operators.md ("How does this
team usually get from data to model?"):

- Abstraction `K` (property aggregation) names a vertex once details are ignored: by default
  an entity by its `path` (no version), an activity by `utility` and `subcommand`
  (`caffe train`, `python train.py`, `sed`), every agent as one `Agent`. A key is a list of
  property names; the label is their values joined by spaces (missing ones skipped; a vertex
  with none of them, or an empty key, is labelled by its kind).
- Provenance type of radius `r` (after Moreau, "Aggregation by provenance types", 2015): the
  type of radius 0 is the vertex's kind and label; the type of radius k adds the *set* of
  (edge type, direction, type of radius k-1) of its neighbours in its own segment. Only
  vertices of one type may share a summary vertex; `r = 0` merges purely by label.
- Path constraint: the summary never shows a derivation path that occurs in no segment. A
  derivation path follows `used`, `wasGeneratedBy` and `wasDerivedFrom` edges in PROV's
  direction (from an effect back to its causes); paths are checked up to `path_length` edges:
  2 by default (one derivation step, `test.csv <- clean <- raw.csv`: every two consecutive
  summary edges occur together in some segment), 4 to reach two activities back (stricter:
  variations seen in different segments, such as an edited solver in one and a plot in
  another, then stay apart). Merges that would create one are undone.
- Result: one vertex per class, with how many segments contain it; one edge per (class, type,
  class), with how many segments contain it and that count over n (its frequency); the
  compaction ratio, summary vertices over the total of the segments' vertices (a vertex in
  two segments counts twice).

Finding the smallest summary under the path constraint is PSPACE-complete (Miao and
Deshpande, ICDE 2019); this is a greedy merge, one segment at a time, in the order given:

1. Each vertex of the segment goes to a summary vertex of its own type: the one already there
   whose neighbourhood agrees most with the vertex's own (ties: the oldest), or a new one
   shared by the segment's vertices of that type.
2. Only the summary edges this adds can create a new path, and no earlier segment can show a
   path using an edge it did not have: so every summary path of at most `path_length` edges
   through an added derivation edge must be the image of a path of *this* segment. Earlier
   segments' paths are never stored or enumerated again; identical segments add no edge and
   cost one dictionary lookup per edge.
3. While some such path is shown by no path of the segment, the summary vertex through which
   most of the offending paths pass (always one in their interior that holds a vertex of this
   segment) is undone for this segment: of its vertices from this segment the one whose
   neighbourhood fits best stays (when there are several), the others try the next summary
   vertex of their type, then a new one. Each round either tries a summary vertex not tried
   before or separates the segment's own vertices further, so it ends, at worst with the
   segment as a copy of itself (which shows only its own paths).

Cost per segment grows with the segment and the summary neighbourhood its new edges touch,
never with the number of segments already merged (benchmarks/summarize.py: 1,000 segments in
well under 2 s).

Example: two runs of the same script summarize to one run, each part in 2 of 2 segments.

>>> from provgraph.model import Edge, Node
>>> from provgraph.queries.segment import Segment
>>> def run(n):
...     data = Node("ent-data", "Entity", {"path": "data.csv", "version": 1})
...     out = Node(f"ent-out{n}", "Entity", {"path": "out.csv", "version": n})
...     sort = Node(f"act-{n}", "Activity", {"utility": "sort"})
...     return Segment(["ent-data"], [out.id], {v.id: v for v in (data, out, sort)},
...                    [Edge("used", sort.id, data.id), Edge("wasGeneratedBy", out.id, sort.id)])
>>> s = summarize([run(1), run(2)])
>>> [(v.label, v.count) for v in s.nodes], s.compaction
([('data.csv', 2), ('out.csv', 2), ('sort', 2)], 0.5)
>>> [(e.source, e.type, e.target, e.frequency) for e in s.edges]
[('out.csv', 'wasGeneratedBy', 'sort', 1.0), ('sort', 'used', 'data.csv', 1.0)]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from provgraph.errors import ProvError
from provgraph.model import (
    ACTIVITY,
    AGENT,
    ENTITY,
    LABELS,
    USED,
    WAS_DERIVED_FROM,
    WAS_GENERATED_BY,
    Node,
)
from provgraph.queries.segment import property_text

#: Edge types a derivation path follows (in PROV's direction: effect -> cause).
DERIVATION = frozenset({USED, WAS_GENERATED_BY, WAS_DERIVED_FROM})
DEFAULT_PATH_LENGTH = 2
_KIND_ORDER = {kind: i for i, kind in enumerate(LABELS)}


# -- the abstraction K -------------------------------------------------------------------------

def parse_key(text: str | Sequence[str] | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """`"utility,subcommand"` -> `("utility", "subcommand")`; None -> the default; "" -> ()."""
    if text is None:
        return default
    parts = text.split(",") if isinstance(text, str) else list(text)
    return tuple(p.strip() for p in parts if p.strip())


@dataclass(frozen=True)
class Abstraction:
    """The properties that name an entity, an activity and an agent in the summary."""

    entity: tuple[str, ...] = ("path",)
    activity: tuple[str, ...] = ("utility", "subcommand")
    agent: tuple[str, ...] = ()

    @classmethod
    def of(cls, entity: str | Sequence[str] | None = None,
           activity: str | Sequence[str] | None = None,
           agent: str | Sequence[str] | None = None) -> Abstraction:
        """Keys as users type them (`"utility,subcommand"`); None keeps a default."""
        return cls(parse_key(entity, cls.entity), parse_key(activity, cls.activity),
                   parse_key(agent, cls.agent))

    def key(self, kind: str) -> tuple[str, ...]:
        return {ENTITY: self.entity, ACTIVITY: self.activity, AGENT: self.agent}.get(kind, ())

    def label(self, node: Node) -> str:
        values = []
        for name in self.key(node.label):
            value = node.properties.get(name)
            if value is None or value == "" or value == []:
                continue
            items = value if isinstance(value, list) else [value]
            values.append(" ".join(property_text(v) for v in items))
        return " ".join(values) or node.label

    def check(self, segments: Iterable[Any]) -> None:
        """A key that no vertex of its kind has is a mistake (a typo): say so."""
        have: dict[str, set[str]] = {kind: set() for kind in LABELS}
        for seg in segments:
            for node in seg.nodes.values():
                have.setdefault(node.label, set()).update(node.properties)
        for kind in LABELS:
            key = self.key(kind)
            if key and have[kind] and not have[kind] & set(key):
                names = sorted(have[kind] - {"project"})
                shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
                raise ProvError(f"--{kind.lower()}-key {','.join(key)}: no {kind.lower()} of "
                                f"the segments has that property (they have: {shown})")

    def describe(self) -> dict[str, str]:
        return {kind.lower(): ",".join(self.key(kind)) for kind in LABELS}


# -- the summary -------------------------------------------------------------------------------

@dataclass
class SummaryNode:
    id: str  # the label, with `#2`, `#3` ... when the path constraint kept a label apart
    kind: str  # Entity, Activity or Agent
    label: str
    count: int  # segments containing it
    members: list[tuple[int, str]] = field(default_factory=list)  # (segment index, node id)


@dataclass
class SummaryEdge:
    source: str
    target: str
    type: str
    count: int  # segments containing it
    frequency: float  # count / segments


@dataclass
class Summary:
    segments: int
    vertices: int  # vertices of all segments together (a vertex in two segments counts twice)
    nodes: list[SummaryNode]
    edges: list[SummaryEdge]
    radius: int = 0
    path_length: int = DEFAULT_PATH_LENGTH
    keys: Abstraction = field(default_factory=Abstraction)

    @property
    def compaction(self) -> float | None:
        """Summary vertices / segment vertices (None when the segments are all empty)."""
        return len(self.nodes) / self.vertices if self.vertices else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of `prov summarize --format json`."""
        return {
            "segments": self.segments,
            "compaction": self.compaction,
            "nodes": [{"id": n.id, "kind": n.kind, "label": n.label, "count": n.count}
                      for n in self.nodes],
            "edges": [{"source": e.source, "target": e.target, "type": e.type,
                       "count": e.count, "frequency": e.frequency} for e in self.edges],
        }

    def to_dot(self) -> str:
        """Graphviz DOT, drawn as segments are (queries/draw.py): `label` and `count/n` on each
        vertex, `type count/n` on each edge; edges point from effect to cause."""
        from provgraph.queries import draw

        return draw.to_dot(*self._drawing(), "summary")

    def to_mermaid(self) -> str:
        """A Mermaid flowchart (renders in GitHub Markdown): the same picture as the DOT."""
        from provgraph.queries import draw

        return draw.to_mermaid(*self._drawing())

    def _drawing(self) -> tuple[list, list]:
        from provgraph.queries import draw

        n = self.segments
        vertices = [draw.Vertex(v.id, v.kind, f"{v.label}\n{v.count}/{n}") for v in self.nodes]
        arcs = [draw.Arc(e.source, e.target, f"{e.type} {e.count}/{n}") for e in self.edges]
        return vertices, arcs


# -- the algorithm -----------------------------------------------------------------------------

def summarize(segments: Sequence[Any], keys: Abstraction | None = None, radius: int = 0,
              path_length: int = DEFAULT_PATH_LENGTH) -> Summary:
    """Merge `segments` (`Segment` objects, in this order) into one summary."""
    keys = keys or Abstraction()
    if radius < 0:
        raise ProvError("--radius must be 0 or more")
    if path_length < 1:
        raise ProvError("--path-length must be 1 or more")
    keys.check(segments)
    merger = _Merger(keys, radius, path_length)
    for index, seg in enumerate(segments):
        merger.add(index, _Local.of(seg, keys, radius, merger.types))
    return merger.summary(len(segments))


class _Local:
    """One segment as integers: vertices (sorted by id), their types, edges, adjacency."""

    __slots__ = ("deriv_in", "deriv_out", "edges", "ids", "kinds", "labels", "types")

    @classmethod
    def of(cls, seg: Any, keys: Abstraction, radius: int, types: dict) -> _Local:
        self = cls()
        self.ids = sorted(seg.nodes)
        index = {node_id: i for i, node_id in enumerate(self.ids)}
        nodes = [seg.nodes[i] for i in self.ids]
        self.kinds = [v.label for v in nodes]
        self.labels = [keys.label(v) for v in nodes]
        self.edges = sorted({(index[e.source], e.type, index[e.target]) for e in seg.edges
                             if e.source in index and e.target in index})
        n = len(self.ids)
        self.deriv_out = [[] for _ in range(n)]
        self.deriv_in = [[] for _ in range(n)]
        for a, t, b in self.edges:
            if t in DERIVATION:
                self.deriv_out[a].append((t, b))
                self.deriv_in[b].append((t, a))
        current = [_intern(types, (0, k, label)) for k, label in zip(self.kinds, self.labels,
                                                                    strict=True)]
        for k in range(1, radius + 1):
            around: list[set] = [set() for _ in range(n)]
            for a, t, b in self.edges:
                around[a].add((t, 1, current[b]))
                around[b].add((t, -1, current[a]))
            current = [_intern(types, (k, current[i], frozenset(around[i]))) for i in range(n)]
        self.types = current
        return self


def _intern(table: dict, key: Any) -> int:
    value = table.get(key)
    if value is None:
        value = table[key] = len(table)
    return value


class _Merger:
    """The summary so far, and the greedy merge of one more segment into it."""

    def __init__(self, keys: Abstraction, radius: int, path_length: int):
        self.keys, self.radius, self.path_length = keys, radius, path_length
        self.types: dict = {}  # provenance type -> int, shared by all segments
        self.kind: list[str] = []  # per class
        self.label: list[str] = []
        self.type: list[int] = []
        self.count: list[int] = []
        self.members: list[list[tuple[int, str]]] = []
        self.signature: list[set[tuple[str, int, int]]] = []  # (edge type, dir, other's type)
        self.by_type: dict[int, list[int]] = {}
        self.edges: dict[tuple[int, str, int], int] = {}  # (class, type, class) -> count
        self.out: dict[int, set[tuple[str, int]]] = {}  # derivation edges of the summary
        self.into: dict[int, set[tuple[str, int]]] = {}
        self.vertices = 0

    # one segment -----------------------------------------------------------------------

    def add(self, index: int, local: _Local) -> None:
        self.vertices += len(local.ids)
        if not local.ids:
            return
        mapping = self._first_choice(local)
        tried: list[set[int]] = [{c} for c in mapping]
        rounds = len(mapping) * (len(self.kind) + 2)  # more than step 3 can take
        while rounds:
            rounds -= 1
            mapped = {(mapping[a], t, mapping[b]) for a, t, b in local.edges}
            added = [e for e in mapped if e not in self.edges and e[1] in DERIVATION]
            if not added:
                break
            offending = self._offending(local, mapping, added)
            if not offending:
                break
            self._undo(local, mapping, tried, offending)
        else:  # never happens (see the module docstring); a copy of the segment is always safe
            start = self._fresh_id(mapping)
            mapping[:] = range(start, start + len(mapping))
        self._commit(index, local, mapping)

    def _first_choice(self, local: _Local) -> list[int]:
        fresh: dict[int, int] = {}
        mapping = []
        signatures = self._local_signatures(local)
        for v, t in enumerate(local.types):
            candidates = self.by_type.get(t)
            if not candidates:
                if t not in fresh:
                    fresh[t] = self._fresh_id(mapping)
                mapping.append(fresh[t])
            elif len(candidates) == 1:
                mapping.append(candidates[0])
            else:
                mine = signatures[v]
                mapping.append(max(candidates, key=lambda c: (len(mine & self.signature[c]), -c)))
        return mapping

    def _fresh_id(self, mapping: Sequence[int]) -> int:
        return max(len(self.kind) - 1, *mapping, -1) + 1 if mapping else len(self.kind)

    def _local_signatures(self, local: _Local) -> list[set[tuple[str, int, int]]]:
        signatures: list[set] = [set() for _ in local.ids]
        types = local.types
        for a, t, b in local.edges:
            signatures[a].add((t, 1, types[b]))
            signatures[b].add((t, -1, types[a]))
        return signatures

    def _offending(self, local: _Local, mapping: list[int], added: list[tuple[int, str, int]]
                   ) -> set[tuple]:
        """Summary paths (at most `path_length` edges) through an added edge that no path of
        this segment shows."""
        limit = self.path_length
        if limit < 2:
            return set()
        new_out: dict[int, set[tuple[str, int]]] = {}
        new_in: dict[int, set[tuple[str, int]]] = {}
        for a, t, b in added:
            new_out.setdefault(a, set()).add((t, b))
            new_in.setdefault(b, set()).add((t, a))
        empty: set = set()

        def outs(c: int):
            return self.out.get(c, empty) | new_out.get(c, empty)

        def ins(c: int):
            return self.into.get(c, empty) | new_in.get(c, empty)

        shown = _paths_through(added, outs, ins, limit)
        if not shown:
            return set()
        added_set = set(added)
        own_edges = [(a, t, b) for a, t, b in local.edges
                     if (mapping[a], t, mapping[b]) in added_set]

        def local_outs(v: int):
            return local.deriv_out[v]

        def local_ins(v: int):
            return local.deriv_in[v]

        witnessed = {tuple(mapping[x] if i % 2 == 0 else x for i, x in enumerate(path))
                     for path in _paths_through(own_edges, local_outs, local_ins, limit)}
        return shown - witnessed

    def _undo(self, local: _Local, mapping: list[int], tried: list[set[int]],
              offending: set[tuple]) -> None:
        """Move this segment's vertices out of the summary vertex most offending paths pass
        through (in their interior)."""
        existing = len(self.kind)
        sizes: dict[int, int] = {}
        for c in mapping:
            sizes[c] = sizes.get(c, 0) + 1
        votes: dict[int, int] = {}
        for path in offending:
            for c in set(path[2:-1:2]):
                if c in sizes and (c < existing or sizes[c] > 1):
                    votes[c] = votes.get(c, 0) + 1
        if not votes:  # cannot happen (see the module docstring); a copy is always safe
            start = self._fresh_id(mapping)
            mapping[:] = range(start, start + len(mapping))
            return
        worst = max(votes, key=lambda c: (votes[c], -c))
        moved = [v for v, c in enumerate(mapping) if c == worst]
        if len(moved) > 1:  # the segment's own vertices meet there: the one that fits best stays
            if worst < existing:
                signatures = self._local_signatures(local)
                moved.remove(max(moved, key=lambda v: len(signatures[v] & self.signature[worst])))
            else:
                moved = moved[1:]
        for v in moved:
            tried[v].add(worst)
        t = local.types[moved[0]]
        others = [c for c in self.by_type.get(t, ()) if all(c not in tried[v] for v in moved)]
        target = min(others) if others else self._fresh_id(mapping)
        for v in moved:
            mapping[v] = target

    def _commit(self, index: int, local: _Local, mapping: list[int]) -> None:
        renumber: dict[int, int] = {}
        existing = len(self.kind)
        for v, c in enumerate(mapping):
            if c >= existing and c not in renumber:
                renumber[c] = len(self.kind)
                self.kind.append(local.kinds[v])
                self.label.append(local.labels[v])
                self.type.append(local.types[v])
                self.count.append(0)
                self.members.append([])
                self.signature.append(set())
                self.by_type.setdefault(local.types[v], []).append(renumber[c])
        final = [renumber.get(c, c) for c in mapping]
        for c in set(final):
            self.count[c] += 1
        for v, c in enumerate(final):
            self.members[c].append((index, local.ids[v]))
        for key in {(final[a], t, final[b]) for a, t, b in local.edges}:
            a, t, b = key
            if key not in self.edges:
                self.edges[key] = 0
                self.signature[a].add((t, 1, self.type[b]))
                self.signature[b].add((t, -1, self.type[a]))
                if t in DERIVATION:
                    self.out.setdefault(a, set()).add((t, b))
                    self.into.setdefault(b, set()).add((t, a))
            self.edges[key] += 1

    # the result ------------------------------------------------------------------------

    def summary(self, segments: int) -> Summary:
        order = sorted(range(len(self.kind)),
                       key=lambda c: (_KIND_ORDER.get(self.kind[c], 9), self.label[c], c))
        names: dict[int, str] = {}
        taken: set[str] = set()
        for c in order:
            name, k = self.label[c], 1
            while name in taken:
                k += 1
                name = f"{self.label[c]}#{k}"
            taken.add(name)
            names[c] = name
        nodes = [SummaryNode(names[c], self.kind[c], self.label[c], self.count[c],
                             self.members[c]) for c in order]
        edges = [SummaryEdge(names[a], names[b], t, n, n / segments)
                 for (a, t, b), n in self.edges.items()]
        edges.sort(key=lambda e: (e.source, e.type, e.target))
        return Summary(segments, self.vertices, nodes, edges, self.radius, self.path_length,
                       self.keys)


def _paths_through(edges: Iterable[tuple[int, str, int]], outs, ins, limit: int) -> set[tuple]:
    """Every path (c0, t1, c1, ..., tk, ck), 2 <= k <= limit edges, that uses one of `edges`,
    following `outs(c)`/`ins(c)` -> (type, neighbour) pairs."""
    backwards: dict[tuple[int, int], list[tuple]] = {}
    forwards: dict[tuple[int, int], list[tuple]] = {}

    def back(c: int, room: int) -> list[tuple]:  # paths ending at c, 0..room edges
        key = (c, room)
        if key not in backwards:
            found = [(c,)]
            if room:
                for t, p in ins(c):
                    found.extend((*path, t, c) for path in back(p, room - 1))
            backwards[key] = found
        return backwards[key]

    def forth(c: int, room: int) -> list[tuple]:  # paths starting at c, 0..room edges
        key = (c, room)
        if key not in forwards:
            found = [(c,)]
            if room:
                for t, n in outs(c):
                    found.extend((c, t, *path) for path in forth(n, room - 1))
            forwards[key] = found
        return forwards[key]

    paths: set[tuple] = set()
    for a, t, b in edges:
        for head in back(a, limit - 1):
            room = limit - 1 - len(head) // 2
            for tail in forth(b, room):
                if len(head) + len(tail) > 2:  # at least two edges
                    paths.add((*head, t, *tail))
    return paths
