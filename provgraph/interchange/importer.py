"""Importing W3C PROV documents written by any tool (or by `prov export`) into the graph.

The document is read through the `prov` library (PROV-JSON, PROV-N, PROV-O Turtle, PROV-XML,
PROV-JSON-LD) and translated by `provgraph.interchange.export.translate`, so a document provgraph
exported comes back exactly: same ids, same properties, and a document another tool wrote exports
again
as it was (its namespaces, its typing, its relations' ids). The graph then goes into the
journal as "graph" records (`Journal.append_graph`) and from there into both indexes, like any
capture; the operators, `prov log`, `prov show` and Cypher then see it with the rest of the
project.

    >>> summary = import_document(repo, Path("pipeline.provjson"))   # doctest: +SKIP
    >>> summary["entities"], summary["skipped"]                       # doctest: +SKIP
    (12, {'wasInformedBy': 3})

What becomes of a document:

* **Ids are kept.** Our own names come back bare (``ent-0123...``); another tool's keep their
  ``prefix:local`` form as the document writes it (``ex:model``). The prefix is the project's
  for that namespace URI (`provgraph.interchange.export.Names`): the same URI always gets the same
  prefix, and a prefix this project already gave another URI is renamed (``ex2:model``), so two
  documents' different ``ex:model`` never share a node; a name in the document's default
  namespace gets the prefix ``default``. That is the node id, in both indexes, usable with
  `store.node(id)` and as a `--src`/`--dst` of the operators. The prefixes go into the journal
  with the graph, and `prov export` writes the names back in their namespaces.
* **Elements.** ``entity``, ``activity`` and ``agent`` become `Entity`, `Activity` and `Agent`
  nodes; ``prov:label`` is the node's ``name`` (the id when there is none), an activity's
  ``prov:startTime``/``prov:endTime`` its ``started``/``ended``, every other attribute a
  property named ``prefix:local`` (``ex:rows``), with a companion ``ex:rows^^`` where the
  document typed it otherwise than provgraph would (``prov:type^^ = xsd:QName``). An id the
  document declares as several kinds (an agent that is also an entity) is one node, its kinds
  in the property ``labels``. The ``project`` is this repository's.
* **Relations.** The five the graph has (``used``, ``wasGeneratedBy``, ``wasAssociatedWith``,
  ``wasAttributedTo``, ``wasDerivedFrom``) become edges, ``prov:role`` their ``role``, the
  relation's identifier their ``id``; two relations between the same two nodes are two edges.
  Every other kind (``wasInformedBy``, ``actedOnBehalfOf``, ``specializationOf``, the
  PROV-Dictionary relations...) is skipped and counted by kind, as are relations lacking an
  end (``used(ex:run, -)``) and relations whose ends are not the kinds of node the relation
  joins (the graph, and Neo4j's schema, hold only those). Nothing is left out silently: what
  the `prov` library itself drops (a null value, a datatype it cannot resolve) is one warning
  line each.
* **Ends named but never declared** (PROV allows ``used(ex:run, ex:data)`` with no
  ``entity(ex:data)``) become bare nodes of the kind the relation implies, unless the graph
  already holds a node of that id, which is then used as it is.
* **Nothing is duplicated.** Nodes are upserted by id and edges by (type, source, target, id), and
  what the graph already holds with the same properties is not even written again: importing
  a document twice adds nothing the second time.
* **Large documents** are written as several journal records of at most `CHUNK_SIZE` elements,
  nodes first, then edges: every record's edges name nodes of the same or an earlier record, so
  a Neo4j sync running between two records never sends an edge before its ends.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provgraph.errors import BadInput, NotFound, ProvError
from provgraph.model import (
    ACTIVITY,
    AGENT,
    ENTITY,
    LABELS,
    USED,
    WAS_ASSOCIATED_WITH,
    WAS_ATTRIBUTED_TO,
    WAS_DERIVED_FROM,
    WAS_GENERATED_BY,
    Edge,
    Node,
    flatten,
)
from provgraph.repo import Repository

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
    "jsonld": "jsonld", "json-ld": "jsonld", "prov-jsonld": "jsonld",
}
#: File extensions and the format they stand for.
EXTENSIONS = {
    ".json": "json", ".provjson": "json",
    ".provn": "provn",
    ".ttl": "ttl",
    ".xml": "xml", ".provx": "xml",
    ".jsonld": "jsonld",
}
#: Node property listing the kinds of a node declared as several
#: (`provgraph.interchange.export.KINDS`).
KINDS = "labels"

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

_JSON_LD = re.compile(r'"@(context|graph)"\s*:')


@dataclass
class Document:
    """A PROV document read and translated, before it meets the graph."""

    name: str  # where it came from, for messages and the journal
    format: str
    nodes: list[Node]
    edges: list[Edge]
    skipped: Counter = field(default_factory=Counter)  # relations left out, by reason
    namespaces: dict[str, str] = field(default_factory=dict)  # prefixes its names use
    losses: list[str] = field(default_factory=list)  # what the `prov` library dropped


# --------------------------------------------------------------------------- reading


def detect_format(name: str, text: str | None = None, fmt: str | None = None,
                  by_extension: bool = True) -> str:
    """The format to read: `fmt` if given, else the file's extension, else the text's start
    (PROV-JSON-LD is JSON whatever its extension, told by its ``@context``)."""
    if fmt:
        found = FORMAT_NAMES.get(fmt.strip().lower())
        if found is None:
            raise BadInput(f"unknown PROV format {fmt!r}: use json (PROV-JSON), provn (PROV-N), "
                            "ttl (PROV-O Turtle), xml (PROV-XML) or jsonld (PROV-JSON-LD)")
        return found
    found = EXTENSIONS.get(os.path.splitext(name)[1].lower()) if by_extension else None
    if found is None and text is not None:
        found = _sniff(text)
    if found == "json" and text is not None and _JSON_LD.search(text[:65536]):
        found = "jsonld"
    if found is None:
        raise ProvError(f"cannot tell the PROV format of {name}: give --format json, provn, "
                        "ttl, xml or jsonld")
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
        raise NotFound(f"no such file: {path}") from None
    except IsADirectoryError:
        raise ProvError(f"{path} is a folder, not a PROV document") from None
    except OSError as exc:
        raise ProvError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProvError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return text, name or path, True


@dataclass
class _Parsed:
    name: str
    format: str
    loaded: Any  # provgraph.interchange.export.Loaded


def _parse(text_or_path: str | os.PathLike[str], fmt: str | None, name: str | None,
           is_text: bool | None) -> _Parsed:
    """The document as the `prov` library reads it; ProvError when it cannot."""
    from provgraph.interchange.export import load

    text, name, from_file = _load(text_or_path, name, is_text)
    fmt = detect_format(name, text, fmt, by_extension=from_file)
    try:
        return _Parsed(name, fmt, load(text, fmt))
    except (ValueError, TypeError) as exc:
        raise ProvError(f"{name}: {' '.join(str(exc).split())}") from None


def _translate(parsed: _Parsed, namespaces: Mapping[str, str] | None) -> Document:
    """The parsed document as nodes and edges named with the project's prefixes."""
    from provgraph.interchange.export import Names, translate

    try:
        found = translate(parsed.loaded.document, Names(namespaces),
                          reconcile=parsed.format == "ttl")
    except (ValueError, TypeError) as exc:
        raise ProvError(f"{parsed.name}: {' '.join(str(exc).split())}") from None
    skipped = Counter(parsed.loaded.skipped) + found.skipped
    if not found.nodes and not found.edges and not skipped:
        raise ProvError(f"{parsed.name} holds no PROV entities, activities, agents or relations")
    return Document(parsed.name, parsed.format, found.nodes, found.edges, skipped,
                    found.namespaces, list(parsed.loaded.losses))


def read(text_or_path: str | os.PathLike[str], fmt: str | None = None,
         name: str | None = None, is_text: bool | None = None,
         namespaces: Mapping[str, str] | None = None) -> Document:
    """Read a PROV document (a file, or its text) into nodes and edges; ProvError when it cannot.

    `fmt` is one of json, provn, ttl, xml, jsonld (or a usual spelling: turtle, prov-json...);
    by default the file's extension decides, else the start of the text. A `str` is taken for
    a file name unless it is plainly a document; `is_text` settles it either way.
    `namespaces` are the project's prefixes, which the names take
    (`provgraph.interchange.export.Names`).
    """
    return _translate(_parse(text_or_path, fmt, name, is_text), namespaces)


# --------------------------------------------------------------------------- planning


@dataclass
class Plan:
    """What to write: the document's graph checked against the graph already indexed."""

    nodes: list[Node]  # new or changed nodes, with their properties as the index will hold them
    edges: list[Edge]
    counts: Counter  # the document's nodes by kind, and "relations"
    mentioned: int  # nodes the document names in a relation but never declares
    unchanged: int  # elements the graph already holds exactly
    skipped: Counter
    namespaces: dict[str, str] = field(default_factory=dict)


def _batches(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def kinds_of(node: Node) -> list[str]:
    """A node's PROV kinds, its label first (`KINDS` lists them when there are several)."""
    listed = node.properties.get(KINDS)
    others = [kind for kind in listed if kind in LABELS] if isinstance(listed, list) else []
    return list(dict.fromkeys([node.label, *others]))


def _merged(old: Node | None, node: Node, project: str) -> Node:
    """The node the graph will hold: the document's, declared as it says; where the graph
    holds the id as another kind, one node of both kinds (PROV lets an agent be an entity),
    the document's properties over the graph's."""
    properties = {"name": node.id, **node.properties}
    kinds = kinds_of(node)
    if old is not None and old.label != node.label:
        kinds = list(dict.fromkeys([*kinds_of(old), *kinds]))
        properties = {**old.properties, **properties}
        label = old.label
    else:
        if old is not None:
            kinds = list(dict.fromkeys([*kinds, *kinds_of(old)]))
        label = node.label
    properties.pop(KINDS, None)
    if len(kinds) > 1:
        properties[KINDS] = kinds
    return Node(node.id, label, {**flatten(properties), "project": project})


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

    kinds: dict[str, list[str]] = {}  # id -> kinds, for what the graph will hold afterwards
    nodes: list[Node] = []
    counts: Counter = Counter()
    for node in document.nodes:
        merged = _merged(existing.get(node.id), node, project)
        kinds[node.id] = kinds_of(merged)
        counts.update(kinds_of(node))
        nodes.append(merged)

    mentioned: dict[str, str] = {}  # ends the document names but never declares -> label
    placeholders: dict[str, Node] = {}
    edges: dict[tuple[str, str, str, str], Edge] = {}
    for edge in document.edges:
        wanted = ENDS[edge.type]
        fits = True
        for end, label in zip((edge.source, edge.target), wanted, strict=True):
            known = kinds.get(end)
            if known is None:  # named, never declared: the graph's node, or PROV implies it
                known = kinds_of(existing[end]) if end in existing else [label]
                kinds[end] = known
                mentioned[end] = known[0]
                if end not in existing:
                    placeholders[end] = Node(end, label, {"name": end, "project": project})
            fits = fits and label in known
        if fits:
            flat = Edge(edge.type, edge.source, edge.target, flatten(edge.properties))
            edges[flat.identity] = flat
        else:
            skipped[f"{edge.type} between the wrong kinds of node"] += 1

    counts.update(mentioned.values())
    counts["relations"] = len(edges)
    # What the graph already holds exactly is not written again.
    new_nodes = [node for node in [*placeholders.values(), *nodes]
                 if not _same_node(existing.get(node.id), node)]
    sources = sorted({edge.source for edge in edges.values()})
    present: dict[tuple[str, str, str, str], Edge] = {}
    stage = "comparing relations with the graph"
    for done, part in enumerate(_batches(sources, batch), 1):
        for edge in store.edges(part, "out"):
            if edge.identity in edges:
                present[edge.identity] = edge
        if progress:
            progress(stage, min(done * batch, len(sources)), len(sources))
    new_edges = [edge for key, edge in edges.items()
                 if key not in present or present[key].properties != edge.properties]
    unchanged = len(placeholders) + len(nodes) + len(edges) - len(new_nodes) - len(new_edges)
    return Plan(new_nodes, new_edges, counts, len(mentioned), unchanged, skipped,
                dict(document.namespaces))


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
    from provgraph.capture.command import Agent
    from provgraph.journal.records import Journal

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
            source=label, agent=agent, namespaces=plan.namespaces))
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
    as they are), ``skipped`` (relations and nodes left out, by kind), ``records`` (journal
    records appended) and ``losses`` (what the `prov` library dropped reading it, one line
    each: a null value, a datatype that does not resolve...).
    """
    from provgraph.capture.command import recover
    from provgraph.config import Config
    from provgraph.journal.indexer import open_index

    if progress:
        shown = name or ("the document" if _is_text(text_or_path, is_text)
                         else os.fspath(text_or_path))
        progress(f"reading {shown}", 0, None)
    parsed = _parse(text_or_path, fmt, name, is_text)
    repo.ensure_prov_dir()
    recover(repo)

    def indexing(done: int, total: int) -> None:
        if progress:
            progress("indexing the journal", done, total)

    with open_index(repo, progress=indexing) as store:
        document = _translate(parsed, store.meta("namespaces", {}))
        decided = plan(store, document, repo.project, progress)
    commits = write(repo, decided, document.name, progress, chunk_size)
    if commits:
        open_index(repo, progress=indexing).close()
        config = Config(repo.root, repo.prov_dir)
        if config.neo4j_configured and config.neo4j_autosync:
            from provgraph.remotes import neo4j as sync

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
        "losses": document.losses,
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
