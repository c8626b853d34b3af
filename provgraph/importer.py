"""Importing W3C PROV documents written by any tool (or by `prov export`) into the graph.

The document is read through the `prov` library (PROV-JSON, PROV-N, PROV-O Turtle, PROV-XML)
and translated by `provgraph.export.from_document`, so a document provgraph exported comes back
exactly: same ids, same properties. The graph then goes into the journal as "graph" records
(`Journal.append_graph`) and from there into both indexes, like any capture; the operators,
`prov log`, `prov show` and Cypher then see it with the rest of the project.

    >>> summary = import_document(repo, Path("pipeline.provjson"))   # doctest: +SKIP
    >>> summary["entities"], summary["skipped"]                       # doctest: +SKIP
    (12, {'wasInformedBy': 3})

What becomes of a document:

* **Ids are kept.** Our own names come back bare (``ent-0123...``); another tool's keep their
  ``prefix:local`` form as the document writes it (``ex:model``; a name in the document's
  default namespace is its bare local part). That is the node id, in both indexes, usable with
  `store.node(id)` and as a `--src`/`--dst` of the operators.
* **Elements.** ``entity``, ``activity`` and ``agent`` become `Entity`, `Activity` and `Agent`
  nodes; ``prov:label`` is the node's ``name`` (the id when there is none), an activity's
  ``prov:startTime``/``prov:endTime`` its ``started``/``ended``, every other attribute a
  property named ``prefix:local`` (``ex:rows``). The ``project`` is this repository's.
* **Relations.** The five the graph has (``used``, ``wasGeneratedBy``, ``wasAssociatedWith``,
  ``wasAttributedTo``, ``wasDerivedFrom``) become edges. Every other kind (``wasInformedBy``,
  ``actedOnBehalfOf``, ``specializationOf``...) is skipped and counted by kind, as are
  relations lacking an end (``used(ex:run, -)``) and relations whose ends are not the kinds of
  node the relation joins (the graph, and Neo4j's schema, hold only those).
* **Ends named but never declared** (PROV allows ``used(ex:run, ex:data)`` with no
  ``entity(ex:data)``) become bare nodes of the kind the relation implies, unless the graph
  already holds a node of that id, which is then used as it is.
* **Nothing is duplicated.** Nodes are upserted by id and edges by (type, source, target), and
  what the graph already holds with the same properties is not even written again: importing
  a document twice adds nothing the second time.
* **Large documents** are written as several journal records of at most `CHUNK_SIZE` elements,
  nodes first, then edges: every record's edges name nodes of the same or an earlier record, so
  a Neo4j sync running between two records never sends an edge before its ends.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    flatten,
)
from provgraph.repo import ProvError, Repository

__all__ = ["CHUNK_SIZE", "Document", "describe", "detect_format", "import_document", "plan",
           "read", "write"]

#: Elements (nodes + edges) per journal record.
CHUNK_SIZE = 50_000

#: Format names `--format` accepts, with the usual spellings of each.
FORMAT_NAMES = {
    "json": "json", "provjson": "json", "prov-json": "json",
    "provn": "provn", "prov-n": "provn",
    "ttl": "ttl", "turtle": "ttl", "prov-o": "ttl",
    "xml": "xml", "provx": "xml", "prov-xml": "xml",
}
#: File extensions and the format they stand for.
EXTENSIONS = {
    ".json": "json", ".provjson": "json",
    ".provn": "provn",
    ".ttl": "ttl",
    ".xml": "xml", ".provx": "xml",
}

#: The kinds of node at each end of the relations the graph holds (DESIGN.md).
ENDS = {
    USED: (ACTIVITY, ENTITY),
    WAS_GENERATED_BY: (ENTITY, ACTIVITY),
    WAS_ASSOCIATED_WITH: (ACTIVITY, AGENT),
    WAS_ATTRIBUTED_TO: (ENTITY, AGENT),
    WAS_DERIVED_FROM: (ENTITY, ENTITY),
}

#: progress(stage, done, total): total None while the size of the stage is not known.
Progress = Callable[[str, int, "int | None"], None]


@dataclass
class Document:
    """A PROV document read and translated, before it meets the graph."""

    name: str  # where it came from, for messages and the journal
    format: str
    nodes: list[Node]
    edges: list[Edge]
    skipped: Counter = field(default_factory=Counter)  # relations left out, by reason


# --------------------------------------------------------------------------- reading


def detect_format(name: str, text: str | None = None, fmt: str | None = None,
                  by_extension: bool = True) -> str:
    """The format to read: `fmt` if given, else the file's extension, else the text's start."""
    if fmt:
        found = FORMAT_NAMES.get(fmt.strip().lower())
        if found is None:
            raise ProvError(f"unknown PROV format {fmt!r}: use json (PROV-JSON), provn (PROV-N), "
                            "ttl (PROV-O Turtle) or xml (PROV-XML)")
        return found
    found = EXTENSIONS.get(os.path.splitext(name)[1].lower()) if by_extension else None
    if found is None and text is not None:
        found = _sniff(text)
    if found is None:
        raise ProvError(f"cannot tell the PROV format of {name}: give --format json, provn, "
                        "ttl or xml")
    return found


def _sniff(text: str) -> str | None:
    start = text.lstrip("\ufeff \t\r\n")
    if start.startswith(("{", "[")):
        return "json"
    if start.startswith("<"):
        return "xml"
    if start.startswith("document") and start[8:9].isspace():
        return "provn"
    if start.startswith(("@prefix", "@base", "PREFIX", "BASE", "#")):
        return "ttl"
    return None


def _looks_like_text(value: str) -> bool:
    start = value.lstrip("\ufeff \t\r\n")
    return "\n" in value or start[:1] in ("{", "<", "@") or (
        start.startswith("document") and start[8:9].isspace())


def _is_text(text_or_path: str | os.PathLike[str], is_text: bool | None) -> bool:
    """A PathLike is a file; a str is a file too unless it is plainly a document (several
    lines, or starting like one), or `is_text` says which."""
    if not isinstance(text_or_path, str):
        return False
    return _looks_like_text(text_or_path) if is_text is None else is_text


def _load(text_or_path: str | os.PathLike[str], name: str | None,
          is_text: bool | None) -> tuple[str, str, bool]:
    """(text, name, whether it was read from a file)."""
    if _is_text(text_or_path, is_text):
        assert isinstance(text_or_path, str)
        return text_or_path, name or "<document>", False
    path = os.fspath(text_or_path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ProvError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise ProvError(f"{path} is a folder, not a PROV document") from None
    except OSError as exc:
        raise ProvError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProvError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return text, name or path, True


def read(text_or_path: str | os.PathLike[str], fmt: str | None = None,
         name: str | None = None, is_text: bool | None = None) -> Document:
    """Read a PROV document (a file, or its text) into nodes and edges; ProvError when it cannot.

    `fmt` is one of json, provn, ttl, xml (or a usual spelling: turtle, prov-json...); by
    default the file's extension decides, else the start of the text. A `str` is taken for a
    file name unless it is plainly a document; `is_text` settles it either way.
    """
    import prov.model as pm
    from prov.model import PROV_N_MAP

    from provgraph.export import deserialize, from_document

    text, name, from_file = _load(text_or_path, name, is_text)
    fmt = detect_format(name, text, fmt, by_extension=from_file)
    try:
        doc = deserialize(text, fmt)
        if doc.has_bundles():
            doc = doc.flattened()
        nodes, edges = from_document(doc)
    except (ValueError, TypeError) as exc:
        reason = " ".join(str(exc).split())
        raise ProvError(f"{name}: {reason}") from None
    skipped: Counter = Counter()
    relations: Counter = Counter()
    for record in doc.get_records(pm.ProvRelation):
        kind = PROV_N_MAP.get(record.get_type(), str(record.get_type()))
        if kind in EDGE_TYPES:
            relations[kind] += 1
        else:
            skipped[kind] += 1
    kept = Counter(edge.type for edge in edges)
    for kind, count in relations.items():
        if count > kept[kind]:  # from_document leaves out relations lacking an end
            skipped[f"{kind} lacking an end"] += count - kept[kind]
    if not nodes and not edges and not skipped:
        raise ProvError(f"{name} holds no PROV entities, activities, agents or relations")
    return Document(name, fmt, nodes, edges, skipped)


# --------------------------------------------------------------------------- planning


@dataclass
class Plan:
    """What to write: the document's graph checked against the graph already indexed."""

    nodes: list[Node]  # new or changed nodes, with their properties as the index will hold them
    edges: list[Edge]
    counts: Counter  # the document's nodes by label, and "relations"
    mentioned: int  # nodes the document names in a relation but never declares
    unchanged: int  # elements the graph already holds exactly
    skipped: Counter


def _batches(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def plan(store, document: Document, project: str, progress: Progress | None = None,
         batch: int = CHUNK_SIZE) -> Plan:
    """Decide what `document` adds to the graph in `store` (an index, read only here)."""
    skipped = Counter(document.skipped)
    declared = {node.id: node for node in document.nodes}
    ends = {end for edge in document.edges for end in (edge.source, edge.target)}
    ids = sorted(declared.keys() | ends)
    existing: dict[str, Node] = {}
    stage = "comparing with the graph"
    for done, part in enumerate(_batches(ids, batch), 1):
        existing.update(store.nodes(part))
        if progress:
            progress(stage, min(done * batch, len(ids)), len(ids))

    kinds: dict[str, str] = {}  # id -> label, for what the graph will hold after the import
    nodes: list[Node] = []
    for node in document.nodes:
        old = existing.get(node.id)
        if old is not None and old.label != node.label:
            # One id, one node: a node of another kind would be a second node in Neo4j.
            skipped[f"{node.label.lower()} whose id is already another kind of node"] += 1
            kinds[node.id] = old.label
            continue
        kinds[node.id] = node.label
        properties = {"name": node.id, **node.properties}
        nodes.append(Node(node.id, node.label, {**flatten(properties), "project": project}))

    mentioned: dict[str, str] = {}  # ends the document names but never declares -> label
    placeholders: dict[str, Node] = {}
    edges: dict[tuple[str, str, str], Edge] = {}
    for edge in document.edges:
        wanted = ENDS[edge.type]
        fits = True
        for end, label in zip((edge.source, edge.target), wanted, strict=True):
            known = kinds.get(end)
            if known is None:  # named, never declared: the graph's node, or PROV implies it
                known = existing[end].label if end in existing else label
                kinds[end] = mentioned[end] = known
                if end not in existing:
                    placeholders[end] = Node(end, label, {"name": end, "project": project})
            fits = fits and known == label
        if fits:
            edges[edge.key] = Edge(edge.type, edge.source, edge.target, flatten(edge.properties))
        else:
            skipped[f"{edge.type} between the wrong kinds of node"] += 1

    counts = Counter(node.label for node in nodes)
    counts.update(mentioned.values())
    counts["relations"] = len(edges)
    # What the graph already holds exactly is not written again.
    new_nodes = [node for node in [*placeholders.values(), *nodes]
                 if not _same_node(existing.get(node.id), node)]
    sources = sorted({edge.source for edge in edges.values()})
    present: dict[tuple[str, str, str], Edge] = {}
    stage = "comparing relations with the graph"
    for done, part in enumerate(_batches(sources, batch), 1):
        for edge in store.edges(part, "out"):
            if edge.key in edges:
                present[edge.key] = edge
        if progress:
            progress(stage, min(done * batch, len(sources)), len(sources))
    new_edges = [edge for key, edge in edges.items()
                 if key not in present or present[key].properties != edge.properties]
    unchanged = len(placeholders) + len(nodes) + len(edges) - len(new_nodes) - len(new_edges)
    return Plan(new_nodes, new_edges, counts, len(mentioned), unchanged, skipped)


def _same_node(old: Node | None, new: Node) -> bool:
    if old is None:
        return False
    if new.properties.keys() == {"name", "project"} and new.properties["name"] == new.id:
        return True  # a bare end: whatever the graph holds for that id is better
    return old.label == new.label and old.properties == new.properties


# --------------------------------------------------------------------------- writing


def write(repo: Repository, plan: Plan, source: str, progress: Progress | None = None,
          chunk_size: int = CHUNK_SIZE) -> list[str]:
    """Append the plan to the journal, nodes first, in records of at most `chunk_size`
    elements; return the records' commits."""
    from provgraph.capture import Agent
    from provgraph.journal import Journal

    elements: list[tuple[str, dict[str, Any]]] = [
        ("node", {"id": n.id, "label": n.label, "properties": n.properties})
        for n in plan.nodes
    ] + [
        ("edge", {"type": e.type, "source": e.source, "target": e.target,
                  "properties": e.properties})
        for e in plan.edges
    ]
    if not elements:
        return []
    journal = Journal(repo)
    agent = Agent(repo).value()
    parts = list(_batches(elements, max(1, chunk_size)))
    commits = []
    for number, part in enumerate(parts, 1):
        label = source if len(parts) == 1 else f"{source} (part {number} of {len(parts)})"
        commits.append(journal.append_graph(
            [x for kind, x in part if kind == "node"],
            [x for kind, x in part if kind == "edge"],
            source=label, agent=agent))
        if progress:
            progress("writing the journal", number, len(parts))
    return commits


def import_document(repo: Repository, text_or_path: str | os.PathLike[str],
                    fmt: str | None = None, *, name: str | None = None,
                    is_text: bool | None = None, progress: Progress | None = None,
                    chunk_size: int = CHUNK_SIZE) -> dict[str, Any]:
    """Import a W3C PROV document into the journal and the indexes; return what it did.

    `text_or_path`, `fmt`, `name`, `is_text`: the document, as for `read`. The embedded index
    is caught up before returning, and a background sync to Neo4j is started when one is
    configured (with `neo4j.autosync` on), as after a capture.

    The summary: ``source``, ``format``, ``entities``, ``activities``, ``agents`` and
    ``relations`` (what the document brings, ``mentioned`` of the nodes being ones it only
    names in a relation), ``written`` and ``unchanged`` (elements written, and already in the graph
    as they are), ``skipped`` (relations and nodes left out, by kind) and ``records`` (journal
    records appended).
    """
    from provgraph.capture import recover
    from provgraph.config import Config
    from provgraph.indexer import open_index

    if progress:
        shown = name or ("the document" if _is_text(text_or_path, is_text)
                         else os.fspath(text_or_path))
        progress(f"reading {shown}", 0, None)
    document = read(text_or_path, fmt, name, is_text)
    repo.ensure_prov_dir()
    recover(repo)

    def indexing(done: int, total: int) -> None:
        if progress:
            progress("indexing the journal", done, total)

    with open_index(repo, progress=indexing) as store:
        decided = plan(store, document, repo.project, progress)
    commits = write(repo, decided, document.name, progress, chunk_size)
    if commits:
        open_index(repo, progress=indexing).close()
        config = Config(repo.root, repo.prov_dir)
        if config.neo4j_configured and config.neo4j_autosync:
            from provgraph import sync

            sync.start_background(repo)
    return {
        "source": document.name,
        "format": document.format,
        "entities": decided.counts[ENTITY],
        "activities": decided.counts[ACTIVITY],
        "agents": decided.counts[AGENT],
        "relations": decided.counts["relations"],
        "mentioned": decided.mentioned,
        "written": len(decided.nodes) + len(decided.edges),
        "unchanged": decided.unchanged,
        "skipped": dict(sorted(decided.skipped.items())),
        "records": len(commits),
    }


def describe(summary: dict[str, Any]) -> str:
    """The summary as the one line `prov import` prints."""
    def count(n: int, one: str, many: str) -> str:
        return f"{n} {one if n == 1 else many}"

    parts = [count(summary["entities"], "entity", "entities"),
             count(summary["activities"], "activity", "activities"),
             count(summary["agents"], "agent", "agents")]
    what = f"{', '.join(parts)} and {count(summary['relations'], 'relation', 'relations')}"
    if summary["mentioned"]:
        what += f" ({summary['mentioned']} of the nodes only named by a relation)"
    if summary["written"] == 0:
        line = f"Nothing new in {summary['source']}: its {what} are already in the graph"
    else:
        line = f"Imported {what} from {summary['source']}"
        if summary["unchanged"]:
            line += f" ({summary['unchanged']} elements were already in the graph)"
    if summary["skipped"]:
        skipped = ", ".join(f"{n} {kind}" for kind, n in summary["skipped"].items())
        line += f"; skipped {skipped}"
    return line + "."
