"""The synthetic lifecycle generator (benchmarks/generate_lifecycle.py): the graph's shape,
determinism, PROV-JSON that PROV tools read, and loading into both indexes."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter, defaultdict
from pathlib import Path

import prov.model as pm
import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
import generate_lifecycle as gl

from provgraph.interchange.export import parse, serialize
from provgraph.model import Edge, Node
from provgraph.stores.neo4j import ENDPOINTS


def graph(**options):
    nodes, edges = [], []
    for n, e in gl.stream(**options):
        nodes += n
        edges += e
    return nodes, edges


def test_shape():
    nodes, edges = graph(vertices=3000, seed=7, fan_in=(2, 4), fan_out=(1, 3), files=50,
                         external=0.1)
    assert len(nodes) == 3000  # the target, exactly
    ids = [n["id"] for n in nodes]
    assert len(set(ids)) == len(ids)
    label = {n["id"]: n["label"] for n in nodes}
    assert set(Counter(label.values())) == {"Entity", "Activity", "Agent"}
    position = {n["id"]: i for i, n in enumerate(nodes)}
    used, made = defaultdict(list), defaultdict(list)
    for edge in edges:
        source, target = ENDPOINTS[edge["type"]]
        assert (label[edge["source"]], label[edge["target"]]) == (source, target)
        if edge["type"] == "used":
            used[edge["source"]].append(edge["target"])
            # derivation runs back in time: what an activity used existed before it
            assert position[edge["target"]] < position[edge["source"]]
        elif edge["type"] == "wasGeneratedBy":
            made[edge["target"]].append(edge["source"])
            assert position[edge["source"]] > position[edge["target"]]
        elif edge["type"] == "wasDerivedFrom":
            old = nodes[position[edge["target"]]]["properties"]
            new = nodes[position[edge["source"]]]["properties"]
            assert (new["path"], new["version"]) == (old["path"], old["version"] + 1)
    activities = [n for n in nodes if n["label"] == "Activity"]
    for activity in activities:
        assert 2 <= len(used[activity["id"]]) <= 4
        assert 1 <= len(made[activity["id"]]) <= 3
        files = sorted(int(nodes[position[e]]["properties"]["path"][6:-4])  # data/fN.csv
                       for e in used[activity["id"]])
        assert activity["properties"]["operands"] == [f"f{f}.csv" for f in files]
    missing = [e for e in edges if e["properties"].get("missing")]
    revisions = [e for e in edges if e["type"] == "wasDerivedFrom"]
    assert missing and len(missing) < len(revisions)  # some changes were made outside prov
    versions = Counter(n["properties"]["path"] for n in nodes if n["label"] == "Entity")
    assert len(versions) <= 50 and max(versions.values()) > 20  # recent files keep changing


def test_activities_and_vertices_agree():
    by_activities = graph(activities=200, seed=3)
    count = len(by_activities[0])
    assert graph(vertices=count, seed=3) == by_activities


@pytest.mark.parametrize("seed", range(20))
def test_exactly_the_vertices_asked_for(seed):
    nodes, edges = graph(vertices=60 + seed, seed=seed, files=300, fan_in=(3, 6), agents=2)
    assert len(nodes) == 60 + seed
    ids = {n["id"] for n in nodes}
    assert all(e["source"] in ids and e["target"] in ids for e in edges)


def test_deterministic_whatever_the_chunks():
    nodes, edges = graph(vertices=2000, seed=11, chunk=50_000)
    chunks = list(gl.stream(vertices=2000, seed=11, chunk=100))
    assert len(chunks) > 10
    assert [n for c in chunks for n in c[0]] == nodes
    assert [e for c in chunks for e in c[1]] == edges
    assert graph(vertices=2000, seed=12) != (nodes, edges)
    # every chunk's edges end in vertices of that chunk or an earlier one
    seen: set[str] = set()
    for chunk_nodes, chunk_edges in chunks:
        seen.update(n["id"] for n in chunk_nodes)
        assert all(e["source"] in seen and e["target"] in seen for e in chunk_edges)


def test_generate_keeps_its_old_signature():
    nodes, _ = gl.generate(50, 20, 2, (1, 2), (1, 1), 1.0, 5)
    assert sum(n["label"] == "Activity" for n in nodes) == 50
    assert {n["id"] for n in nodes if n["label"] == "Agent"} == {"agt-synth-0", "agt-synth-1"}


def test_prov_json_reads_back(tmp_path: Path):
    out = tmp_path / "graph.json"
    sink = gl.ProvJsonSink(out)
    result = gl.load(gl.stream(vertices=400, seed=2, chunk=300, external=0.2), [sink])
    sink.close()
    assert not [p for p in tmp_path.iterdir() if p != out]  # no temporary files left
    text = out.read_text()
    doc = pm.ProvDocument.deserialize(content=text, format="json")  # the `prov` library
    assert len(list(doc.get_records(pm.ProvElement))) == result["vertices"] == 400
    assert len(list(doc.get_records(pm.ProvRelation))) == result["edges"]
    nodes, edges = graph(vertices=400, seed=2, external=0.2)
    reference = serialize([Node(n["id"], n["label"], n["properties"]) for n in nodes],
                          [Edge(e["type"], e["source"], e["target"], e["properties"])
                           for e in edges], "json")
    assert parse(text, "json") == parse(reference, "json")  # exactly what `prov export` says
    back_nodes, back_edges = parse(text, "json")
    assert {n.id: n.properties for n in back_nodes} == {n["id"]: n["properties"] for n in nodes}
    assert sorted((e.key, json.dumps(e.properties)) for e in back_edges) == sorted(
        ((e["type"], e["source"], e["target"]), json.dumps(e["properties"])) for e in edges)


def test_journal_load_shows_in_prov_log(repo):
    sink = gl.JournalSink(repo.root)
    gl.load(gl.stream(activities=30, seed=4, chunk=40), [sink])
    assert "appended" in sink.close() and sink.records > 3
    log = json.loads(repo.ok("log", "--json", "-n", "2").stdout)
    assert [entry["id"] for entry in log] == ["act-synth-29", "act-synth-28"]
    assert log[0]["used"] and log[0]["generated"]
    nodes, edges = graph(activities=30, seed=4)
    counts = json.loads(repo.ok("sql", "--json", "SELECT (SELECT count(*) FROM nodes) AS n, "
                                "(SELECT count(*) FROM edges) AS e").stdout)
    assert counts == [{"n": len(nodes), "e": len(edges)}]


def test_embedded_index_written_directly(tmp_path: Path):
    from provgraph.queries.log import log
    from provgraph.stores.embedded import EmbeddedStore

    path = tmp_path / "graph.duckdb"
    sink = gl.EmbeddedSink(path, "synthetic")
    result = gl.load(gl.stream(vertices=1000, seed=5, chunk=500), [sink])
    sink.close()
    with EmbeddedStore(path, read_only=True) as store:
        counts = store.counts()
        assert counts["Entity"] + counts["Activity"] + counts["Agent"] == 1000
        assert counts["edges"] == result["edges"]
        last = log(store, 1)[0]
        assert last.activity.properties["project"] == "synthetic"
        assert last.agents and last.used and last.generated


def test_neo4j_load(neo4j_uri: str):
    from provgraph.stores.neo4j import Neo4jStore

    tag = os.urandom(4).hex()
    project = f"test-generator-{tag}"
    sink = gl.Neo4jSink(neo4j_uri, project)
    try:
        result = gl.load(gl.stream(vertices=300, seed=6, prefix=tag, chunk=200), [sink])
        sink.close()
        with Neo4jStore(neo4j_uri, project) as store:
            counts = store.counts()
            assert sum(counts[label] for label in ("Entity", "Activity", "Agent")) == 300
            assert counts["edges"] == result["edges"]
    finally:
        with Neo4jStore(neo4j_uri, project) as store:
            store.delete_project()


@pytest.mark.parametrize("bad", [{}, {"activities": 1, "vertices": 1},
                                 {"activities": 1, "fan_in": (0, 1)}])
def test_bad_parameters(bad):
    with pytest.raises(ValueError):
        next(gl.stream(**bad))
