"""A synthetic data-science lifecycle, for benchmarks and tests at any size (10^3 to 10^6+).

Agents run activities; each activity uses a few recent versions of files (the choice is skewed
toward recently written files, as real work keeps returning to the latest data and models) and
writes new versions of a few files, each derived from the version it replaces. Now and then a
file is changed outside provgraph (an editor): a new version linked to the previous one by
`wasDerivedFrom` with `missing: true` and no activity, as the capture records such changes.
A file used before anything wrote it is a version nobody generated (source data).

The result is a PROV graph in provgraph's model (`Entity`, `Activity`, `Agent`; `used`,
`wasGeneratedBy`, `wasDerivedFrom`, `wasAttributedTo`, `wasAssociatedWith`), deterministic for
its parameters and seed, produced as a stream of chunks so that a million vertices never sit in
memory at once. Every edge's two ends are in its own chunk or an earlier one, and every
derivation points back in time (a source is always older than what is derived from it).

Shape per activity, with the defaults (fan-in 1-3, fan-out 1-2, 5 % external edits): ~2.6
vertices and ~8 edges, so `--vertices 1000000` is ~390,000 activities and ~3 million edges.

Usage:
    python benchmarks/generate_lifecycle.py --vertices 100000 --out graph.provjson
    python benchmarks/generate_lifecycle.py --activities 10000 --journal path/to/repo
    python benchmarks/generate_lifecycle.py --vertices 1000000 --index graph.duckdb \\
        --neo4j bolt://127.0.0.1:7687 --project synth-1m

Sinks (any number at once, fed from one pass of the generator):
    --out FILE        W3C PROV-JSON, as `prov export --format json` writes it (written
                      streaming, section by section; `provgraph.interchange.export.parse` reads it
                      back).
    --journal REPO    that repository's provgraph journal (created with a first commit if
                      needed), as graph records of at most --chunk elements; the next `prov`
                      command catches the embedded index up, `prov sync` loads Neo4j.
    --index FILE      a DuckDB file in the embedded index's schema, written directly by
                      `EmbeddedStore` bulk writes (a standalone index: open it with
                      `EmbeddedStore(FILE, read_only=True)`), much faster than the journal.
    --neo4j URI       a Neo4j server, under --project (batched `UNWIND ... MERGE` through
                      `Neo4jStore.write`). Ids are global in Neo4j: give each graph loaded at
                      the same time a --prefix of its own.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from provgraph.interchange import export

UTILITIES = [("python3", "train.py"), ("python3", "clean.py"), ("python3", "evaluate.py"),
             ("caffe", "train"), ("sort", None), ("Rscript", "plot.R")]

#: Share of picks taken from the recently written files (by the skewed rank); the rest is a
#: uniformly random file, possibly one nothing wrote yet.
RECENT_SHARE = 0.8
START = 1_767_225_600  # 2026-01-01T00:00:00Z; one activity a minute from then

Chunk = tuple[list[dict[str, Any]], list[dict[str, Any]]]


def stream(activities: int | None = None, vertices: int | None = None, files: int = 1000,
           agents: int = 5, fan_in: tuple[int, int] = (1, 3), fan_out: tuple[int, int] = (1, 2),
           skew: float = 1.2, external: float = 0.05, seed: int = 0, prefix: str = "synth",
           chunk: int = 50_000) -> Iterator[Chunk]:
    """The lifecycle as chunks of (nodes, edges) of about `chunk` elements each.

    Give `activities` (how many activities run) or `vertices` (the total vertex count: the
    last activities use and write no more new vertices than fit, so the graph has exactly
    `vertices` vertices unless the target is below the agents' count).

    `skew` is the exponent of the recency preference: the file written r places ago is chosen
    with weight 1 / (r + 1) ** skew (0 is uniform over the files written so far). `external`
    is the probability, per activity, that a file is changed outside provgraph just before it.
    Nodes are `{"id", "label", "properties"}`, edges `{"type", "source", "target",
    "properties"}` (the journal's graph-record format).
    """
    if (activities is None) == (vertices is None):
        raise ValueError("give activities or vertices (one of them)")
    if files < 1 or agents < 1 or not (1 <= fan_in[0] <= fan_in[1]) or not (
            1 <= fan_out[0] <= fan_out[1]):
        raise ValueError("files, agents and fan-in/out ranges must be at least 1")
    rng = random.Random(seed)
    limit = vertices if vertices is not None else None
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    count = 0  # vertices so far
    people = [f"agt-{prefix}-{i}" for i in range(agents)]
    for i, agent in enumerate(people):
        nodes.append({"id": agent, "label": "Agent",
                      "properties": {"name": f"agent{i}", "email": f"agent{i}@example.com"}})
    count += agents
    current: dict[int, tuple[str, int]] = {}  # file -> (entity id, version)
    recent: OrderedDict[int, None] = OrderedDict()  # written files, most recent last
    cumulative = list(itertools.accumulate(1.0 / (r + 1) ** skew for r in range(files)))
    random_ = rng.random

    def pick(wanted: int) -> list[int]:
        wanted = min(wanted, files)
        chosen: set[int] = set()
        while len(chosen) < wanted:
            if recent and random_() < RECENT_SHARE:
                top = len(recent)
                rank = min(bisect.bisect(cumulative, random_() * cumulative[top - 1]), top - 1)
                # a walk from the newest end: ranks are small (skewed), so this is cheap
                chosen.add(next(itertools.islice(reversed(recent), rank, None)))
            else:
                chosen.add(rng.randrange(files))
        return sorted(chosen)

    def version(file: int) -> str:
        nonlocal count
        if file not in current:  # first met: a version nobody generated
            entity = f"ent-{prefix}-{file}-1"
            nodes.append({"id": entity, "label": "Entity", "properties": _entity(file, 1)})
            current[file] = (entity, 1)
            count += 1
        return current[file][0]

    def new_version(file: int) -> tuple[str, str | None]:
        nonlocal count
        previous = current.get(file)
        number = previous[1] + 1 if previous else 1
        entity = f"ent-{prefix}-{file}-{number}"
        nodes.append({"id": entity, "label": "Entity", "properties": _entity(file, number)})
        current[file] = (entity, number)
        recent[file] = None
        recent.move_to_end(file)
        count += 1
        return entity, previous[0] if previous else None

    a = 0
    while (a < activities) if limit is None else (count < limit):
        if external and recent and random_() < external:
            # a change made outside provgraph (an editor): no activity, a missing revision
            file = pick(1)[0] if len(recent) else rng.randrange(files)
            entity, previous = new_version(file)
            if previous:
                edges.append({"type": "wasDerivedFrom", "source": entity, "target": previous,
                              "properties": {"missing": True}})
            if limit is not None and count >= limit:
                break
        activity = f"act-{prefix}-{a}"
        agent = people[rng.randrange(agents)]
        utility, sub = UTILITIES[rng.randrange(len(UTILITIES))]
        used = pick(rng.randint(*fan_in))
        made = pick(rng.randint(*fan_out))
        if limit is not None:  # near the target: only as many new vertices as it leaves room for
            room = limit - count - 2  # besides the activity and one output
            if room < 0:  # one vertex left: an edit outside provgraph of the newest file
                if recent:
                    entity, previous = new_version(next(reversed(recent)))
                    edges.append({"type": "wasDerivedFrom", "source": entity,
                                  "target": previous, "properties": {"missing": True}})
                break
            fresh = [f for f in used if f not in current]
            if len(fresh) > room:
                used = sorted([f for f in used if f in current] + fresh[:room])
        operands = [f"f{u}.csv" for u in used]
        inputs = [version(file) for file in used]  # first met: created before the activity
        started = _time(a)
        nodes.append({"id": activity, "label": "Activity", "properties": {
            "name": f"{utility} {sub} #{a + 1}" if sub else f"{utility} #{a + 1}",
            "command": " ".join(p for p in (utility, sub, *operands) if p),
            "utility": utility, **({"subcommand": sub} if sub else {}),
            "options": [], "option_arguments": [], "operands": operands,
            "exit_code": 0, "status": "ok", "started": started,
            "ended": started[:20] + "500000+00:00", "cwd": ".",
        }})
        count += 1
        edges.append({"type": "wasAssociatedWith", "source": activity, "target": agent,
                      "properties": {}})
        for entity in inputs:
            edges.append({"type": "used", "source": activity, "target": entity,
                          "properties": {"role": "argument"}})
        if limit is not None:  # the last activity writes no more than the target needs
            made = made[: max(1, limit - count)]
        for file in made:
            entity, previous = new_version(file)
            edges.append({"type": "wasGeneratedBy", "source": entity, "target": activity,
                          "properties": {}})
            edges.append({"type": "wasAttributedTo", "source": entity, "target": agent,
                          "properties": {}})
            if previous:
                edges.append({"type": "wasDerivedFrom", "source": entity, "target": previous,
                              "properties": {}})
        a += 1
        if len(nodes) + len(edges) >= chunk:
            yield nodes, edges
            nodes, edges = [], []
    if nodes or edges:
        yield nodes, edges


def generate(activities: int | None = None, files: int = 1000, agents: int = 5,
             fan_in: tuple[int, int] = (1, 3), fan_out: tuple[int, int] = (1, 2),
             skew: float = 1.2, seed: int = 0, **options: Any
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The whole lifecycle in memory: all nodes, all edges (small sizes; see `stream`)."""
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for n, e in stream(activities, files=files, agents=agents, fan_in=fan_in, fan_out=fan_out,
                       skew=skew, seed=seed, **options):
        nodes += n
        edges += e
    return nodes, edges


def _entity(file: int, number: int) -> dict[str, Any]:
    path = f"data/f{file}.csv"
    return {"name": f"{path}@v{number}", "path": path, "version": number,
            "digest": f"{(file * 1_000_003 + number * 7919) % (1 << 64):016x}",
            "size": 1000 + (file * number) % 9000}


def _time(index: int) -> str:
    """`isoformat(timespec="microseconds")` of the activity's start (what capture records)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime(START + index * 60))


# --------------------------------------------------------------------------- sinks


class Sink:
    def write(self, nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def close(self) -> str:
        """Finish; a line saying what was written."""
        return ""


class JournalSink(Sink):
    """Graph records in a repository's provgraph journal (one record a chunk)."""

    def __init__(self, root: Path):
        from provgraph.journal.records import Journal
        from provgraph.repo import Repository

        root = Path(root)
        if not (root / ".git").exists():
            root.mkdir(parents=True, exist_ok=True)
            subprocess.run(["git", "init", "-q"], cwd=root, check=True)
            subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com",
                            "commit", "-q", "--allow-empty", "-m", "synthetic lifecycle"],
                           cwd=root, check=True)
        self.root = root
        repo = Repository.discover(root)
        repo.ensure_prov_dir()
        self.journal = Journal(repo)
        self.records = 0

    def write(self, nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> None:
        self.records += 1
        self.journal.append_graph(nodes, edges,
                                  source=f"generate_lifecycle.py part {self.records}")

    def close(self) -> str:
        return f"appended {self.records} graph record(s) to {self.root}"


class EmbeddedSink(Sink):
    """A standalone DuckDB file in the embedded index's schema, by `EmbeddedStore.write`."""

    def __init__(self, path: Path, project: str):
        from provgraph.stores.embedded import EmbeddedStore

        self.path = Path(path)
        self.project = project
        self.store = EmbeddedStore(self.path)
        self.store.next_generation()

    def write(self, nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> None:
        with self.store.transaction():
            self.store.write(_nodes(nodes, self.project), _edges(edges), self.project)

    def close(self) -> str:
        self.store.db.execute("CHECKPOINT")
        self.store.close()
        return f"wrote the embedded index {self.path} (project {self.project})"


class Neo4jSink(Sink):
    """A project on a Neo4j server, by `Neo4jStore.write` (batched UNWIND MERGE)."""

    def __init__(self, uri: str, project: str):
        from provgraph.stores.neo4j import Neo4jStore

        self.store = Neo4jStore(uri, project)
        self.store.check()
        self.store.ensure_schema()

    def write(self, nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> None:
        self.store.write(_nodes(nodes), _edges(edges))

    def close(self) -> str:
        self.store.close()
        return f"loaded project {self.store.project} into Neo4j at {self.store.uri}"


class ProvJsonSink(Sink):
    """W3C PROV-JSON as `provgraph.interchange.export.serialize(..., "json")` encodes it (the same
    attribute mapping, so `provgraph.interchange.export.parse` gives back the same graph), but
    written as the elements come: each PROV-JSON section goes to a temporary file of its own, and
    the
    sections are joined at the end. Relations get blank identifiers `_:idN`."""

    SECTIONS = ("entity", "activity", "agent", "used", "wasGeneratedBy", "wasAssociatedWith",
                "wasAttributedTo", "wasDerivedFrom")
    ENDS: ClassVar[dict[str, tuple[str, str]]] = {
        "used": ("prov:activity", "prov:entity"),
        "wasGeneratedBy": ("prov:entity", "prov:activity"),
        "wasAssociatedWith": ("prov:activity", "prov:agent"),
        "wasAttributedTo": ("prov:entity", "prov:agent"),
        "wasDerivedFrom": ("prov:generatedEntity", "prov:usedEntity"),
    }

    def __init__(self, path: Path):
        self.path = Path(path)
        self.prefix = {export.NAMESPACE_PREFIX: export.NAMESPACE_URI}
        self.folder = tempfile.TemporaryDirectory(prefix=".provjson-", dir=self.path.parent)
        self.parts = {s: open(Path(self.folder.name) / s, "w") for s in self.SECTIONS}  # noqa: SIM115
        self.written = dict.fromkeys(self.SECTIONS, 0)
        self.relations = 0

    def _put(self, section: str, name: str, attributes: dict[str, Any]) -> None:
        handle = self.parts[section]
        if self.written[section]:
            handle.write(",\n")
        handle.write(f"    {json.dumps(name)}: {json.dumps(attributes, ensure_ascii=False)}")
        self.written[section] += 1

    def write(self, nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> None:
        for node in nodes:
            label = node["label"]
            props = node["properties"]
            attributes: dict[str, Any] = {}
            if props.get("name") is not None:
                attributes["prov:label"] = _prov_value(props["name"])
            if label == "Activity":
                for key, term in (("started", "prov:startTime"), ("ended", "prov:endTime")):
                    if _is_prov_time(props.get(key)):
                        attributes[term] = props[key]
            for key in sorted(props):
                value = props[key]
                if value is None or key == "name" or (
                        label == "Activity" and key in ("started", "ended")
                        and _is_prov_time(value)):
                    continue
                attributes[_qualified(key)] = _prov_value(value)
            self._put(label.lower(), _qualified(node["id"]), attributes)
        for edge in edges:
            kind = edge["type"]
            source, target = self.ENDS[kind]
            attributes = {source: _qualified(edge["source"]),
                          target: _qualified(edge["target"])}
            if kind == "wasDerivedFrom":
                attributes["prov:type"] = {"$": "prov:Revision", "type": "xsd:QName"}
            for key in sorted(edge["properties"]):
                value = edge["properties"][key]
                if value is not None:
                    attributes[_qualified(key)] = _prov_value(value)
            self.relations += 1
            self._put(kind, f"_:id{self.relations}", attributes)

    def close(self) -> str:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as out:
            out.write('{\n  "prefix": ' + json.dumps(self.prefix))
            for section in self.SECTIONS:
                handle = self.parts[section]
                handle.close()
                if not self.written[section]:
                    continue
                out.write(f',\n  "{section}": {{\n')
                with open(handle.name) as part:
                    while block := part.read(1 << 20):
                        out.write(block)
                out.write("\n  }")
            out.write("\n}\n")
        os.replace(tmp, self.path)
        self.folder.cleanup()
        return f"wrote PROV-JSON to {self.path}"


def _qualified(name: str) -> str:
    return f"{export.NAMESPACE_PREFIX}:{export.encode_local(name)}"


def _prov_value(value: Any) -> Any:
    """A property value in PROV-JSON, typed as the `prov` library types it."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        kind = ("xsd:int" if -(2**31) <= value < 2**31 else
                "xsd:long" if -(2**63) <= value < 2**63 else "xsd:integer")
        return {"$": str(value), "type": kind}
    if isinstance(value, float):
        return {"$": repr(value), "type": "xsd:double"}
    if isinstance(value, str) and not export._NOT_XML_CHAR.search(value):
        return value
    return {"$": export._json_text(value), "type": "provgraph:json"}


def _is_prov_time(value: Any) -> bool:
    return export._prov_time(value) is not None


def _nodes(nodes: Iterable[dict[str, Any]], project: str | None = None) -> list:
    from provgraph.model import Node

    if project is None:
        return [Node(n["id"], n["label"], n["properties"]) for n in nodes]
    # as the journal's replay stores them: the project among the properties
    return [Node(n["id"], n["label"], {**n["properties"], "project": project}) for n in nodes]


def _edges(edges: Iterable[dict[str, Any]]) -> list:
    from provgraph.model import Edge

    return [Edge(e["type"], e["source"], e["target"], e["properties"]) for e in edges]


def load(chunks: Iterable[Chunk], sinks: list[Sink], progress: bool = False
         ) -> dict[str, float]:
    """Feed every chunk to every sink; how many vertices and edges, and the seconds taken."""
    vertices = edges = 0
    start = shown = time.perf_counter()
    for nodes, rels in chunks:
        for sink in sinks:
            sink.write(nodes, rels)
        vertices += len(nodes)
        edges += len(rels)
        if progress and time.perf_counter() - shown >= 1:
            shown = time.perf_counter()
            elapsed = shown - start
            print(f"\r{vertices:,} vertices, {edges:,} edges, {elapsed:.0f} s "
                  f"({(vertices + edges) / elapsed:,.0f} elements/s)",
                  end="", file=sys.stderr, flush=True)
    if progress and shown > start:
        print(file=sys.stderr)
    return {"vertices": vertices, "edges": edges, "seconds": time.perf_counter() - start}


def to_journal(root: Path, nodes: list[dict], edges: list[dict], chunk: int = 50_000) -> int:
    """Append an in-memory graph to a repository's journal in records of at most `chunk`
    elements (nodes first, so that every record's edges find their ends already loaded)."""
    sink = JournalSink(root)
    elements = [("node", n) for n in nodes] + [("edge", e) for e in edges]
    for start in range(0, len(elements), chunk):
        part = elements[start : start + chunk]
        sink.write([x for kind, x in part if kind == "node"],
                   [x for kind, x in part if kind == "edge"])
    return sink.records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--activities", type=int, help="how many activities run")
    size.add_argument("--vertices", type=int, help="total vertex count to reach")
    parser.add_argument("--files", type=int, default=1000, help="distinct file paths")
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--fan-in", type=int, nargs=2, default=(1, 3), metavar=("MIN", "MAX"),
                        help="files used per activity")
    parser.add_argument("--fan-out", type=int, nargs=2, default=(1, 2), metavar=("MIN", "MAX"),
                        help="files written per activity")
    parser.add_argument("--skew", type=float, default=1.2,
                        help="recency preference exponent (0: uniform)")
    parser.add_argument("--external", type=float, default=0.05,
                        help="probability per activity of a change made outside provgraph")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prefix", default="synth", help="id prefix (ent-PREFIX-...)")
    parser.add_argument("--chunk", type=int, default=50_000, help="elements per chunk/record")
    parser.add_argument("--out", help="write W3C PROV-JSON here")
    parser.add_argument("--journal", help="append to this repository's provgraph journal")
    parser.add_argument("--index", help="write this DuckDB file (embedded index schema)")
    parser.add_argument("--neo4j", metavar="URI", help="load into this Neo4j server")
    parser.add_argument("--project", default="synthetic",
                        help="project of --index and --neo4j (default: synthetic)")
    args = parser.parse_args()
    sinks: list[Sink] = []
    if args.out:
        sinks.append(ProvJsonSink(Path(args.out)))
    if args.journal:
        sinks.append(JournalSink(Path(args.journal)))
    if args.index:
        sinks.append(EmbeddedSink(Path(args.index), args.project))
    if args.neo4j:
        sinks.append(Neo4jSink(args.neo4j, args.project))
    chunks = stream(args.activities, args.vertices, args.files, args.agents,
                    tuple(args.fan_in), tuple(args.fan_out), args.skew, args.external,
                    args.seed, args.prefix, args.chunk)
    result = load(chunks, sinks, progress=True)
    print(f"{result['vertices']:,} vertices, {result['edges']:,} edges "
          f"in {result['seconds']:.1f} s")
    for sink in sinks:
        print(sink.close())


if __name__ == "__main__":
    main()
