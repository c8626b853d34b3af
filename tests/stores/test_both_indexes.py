"""One suite, every index: the embedded DuckDB index, its adjacency copy and the real Neo4j
server hold the same graph for the same captures, and the queries answer the same on each."""

from __future__ import annotations

import contextlib
import json

import pytest
from graph import neo4j_store

from provgraph.queries.lineage import ancestors, descendants
from provgraph.queries.log import log
from provgraph.queries.nodes import find
from provgraph.stores.adjacency import SearchIndex
from provgraph.stores.base import Store

TRAIN = """\
import sys
params, data = sys.argv[1:3]
open("model.txt", "w").write(open(params).read() + open(data).read())
open("train.log", "a").write("trained\\n")
"""


@pytest.fixture
def history(synced):
    """Captures touching every part of the model: in-place edits, changes made outside prov,
    a shell list, a pipeline, a deletion, a large file, two agents."""
    repo = synced
    repo.write("train.py", TRAIN)
    repo.write("raw.csv", "3\n1\n2\n")
    repo.write("params.yaml", "lr: 0.1\n")
    repo.write("old.txt", "bye\n")
    repo.commit_all("inputs")
    repo.ok("sort", "-o", "sorted.csv", "raw.csv")
    repo.ok("python3", "train.py", "params.yaml", "sorted.csv")
    repo.write("params.yaml", "lr: 0.05\n")  # outside prov
    repo.ok("python3", "train.py", "params.yaml", "sorted.csv",
            env={"PROV_AGENT": "Bob <bob@example.com>"})
    repo.ok("sed -i s/3/4/ sorted.csv && cat sorted.csv | wc -l > count.txt; rm old.txt")
    repo.path("weights.bin").write_bytes(b"w" * 5000)
    repo.ok("cp", "weights.bin", "best.bin", env={"PROV_LARGE_FILE_LIMIT": "1KB"})
    repo.ok("sync")
    return repo


def test_the_same_graph_on_both_indexes(history):
    with history.store() as embedded, neo4j_store(history) as neo4j:
        nodes = {n.id: n.properties for n in embedded.all_nodes()}
        edges = sorted((e.key, json.dumps(e.properties, sort_keys=True))
                       for e in embedded.all_edges())
        assert {n.id: n.properties for n in neo4j.all_nodes()} == nodes
        assert sorted((e.key, json.dumps(e.properties, sort_keys=True))
                      for e in neo4j.all_edges()) == edges
        assert neo4j.counts() == embedded.counts()
        assert neo4j.counts()["Activity"] == 7


def open_kind(history, kind):
    if kind == "neo4j":
        return neo4j_store(history)
    embedded = history.store()
    if kind == "embedded":
        return embedded
    with embedded:  # the adjacency copy beside it, caught up
        return SearchIndex.beside(embedded)


@pytest.mark.parametrize("kind", ["embedded", "adjacency", "neo4j"])
def test_queries_answer_the_same_on_either_index(history, kind):
    store = open_kind(history, kind)
    assert isinstance(store, Store)  # the one interface the queries are written against
    with contextlib.closing(store):
        entries = log(store)
        assert [e.activity.name for e in entries][:3] == ["cp #7", "rm #6", "cat #5"]
        bob_run = next(e for e in entries if e.activity.name == "python3 train.py #3")
        assert [a.name for a in bob_run.agents] == ["Bob"]
        assert [n.name for n in bob_run.used] == ["params.yaml@v2", "sorted.csv@v1", "train.py@v1"]
        assert [n.name for n in bob_run.generated] == ["model.txt@v2", "train.log@v2"]
        model = find(store, "model.txt")
        tree = ancestors(store, model)
        [run] = tree.children
        assert run.node.name == "python3 train.py #3"
        assert sorted(c.node.name for c in run.children) == [
            "params.yaml@v2", "sorted.csv@v1", "train.py@v1"]
        params = next(c for c in run.children if c.node.name == "params.yaml@v2")
        assert [(c.relation, c.node.name, c.properties) for c in params.children] == [
            ("wasDerivedFrom", "params.yaml@v1", {"missing": True})]
        down = descendants(store, find(store, "raw.csv"))
        assert [c.node.name for c in down.children] == ["sort #1"]
        assert find(store, "best.bin").properties["digest"].startswith("sha256:")
        assert "deleted" in find(store, entries[1].activity.id).properties


def test_sync_is_idempotent(history):
    with neo4j_store(history) as neo4j:
        before = neo4j.counts()
        history.ok("sync")
        history.ok("sync", "--full")
        assert neo4j.counts() == before


def test_schema_labels_types_constraints_and_indexes(history):
    with neo4j_store(history) as neo4j:
        labels = neo4j.run("MATCH (n {project: $project}) UNWIND labels(n) AS l "
                           "RETURN collect(DISTINCT l) AS labels")[0]["labels"]
        assert sorted(labels) == ["Activity", "Agent", "Entity"]
        types = neo4j.run("MATCH (n {project: $project})-[r]->() "
                          "RETURN collect(DISTINCT type(r)) AS types")[0]["types"]
        assert sorted(types) == ["used", "wasAssociatedWith", "wasAttributedTo",
                                 "wasDerivedFrom", "wasGeneratedBy"]
        constraints = neo4j.run("SHOW CONSTRAINTS YIELD type, labelsOrTypes, properties "
                                "RETURN type, labelsOrTypes, properties")
        unique = {(c["labelsOrTypes"][0], tuple(c["properties"])) for c in constraints
                  if c["type"] == "UNIQUENESS"}
        # an id is one node per project: two projects sharing the database may hold one id
        assert {(label, ("project", "id")) for label in ("Entity", "Activity", "Agent")} <= unique
        assert not {(label, ("id",)) for label in ("Entity", "Activity", "Agent")} & unique
        indexes = {(i["labelsOrTypes"][0], i["properties"][0]) for i in neo4j.run(
            "SHOW INDEXES YIELD labelsOrTypes, properties WHERE labelsOrTypes IS NOT NULL "
            "RETURN labelsOrTypes, properties")}
        assert {("Entity", "path"), ("Entity", "name"), ("Entity", "project"),
                ("Activity", "name"), ("Activity", "project"), ("Agent", "project")} <= indexes
        entity = neo4j.run("MATCH (e:Entity {project: $project, path: 'sorted.csv'}) "
                           "RETURN e ORDER BY e.version LIMIT 1")[0]["e"]
        assert {"id", "name", "project", "path", "version", "digest", "size"} <= set(entity)
        activity = neo4j.run("MATCH (a:Activity {project: $project}) RETURN a LIMIT 1")[0]["a"]
        assert {"id", "name", "project", "command", "utility", "options", "operands",
                "exit_code", "started", "ended", "cwd"} <= set(activity)


def test_rebuild_neo4j_gives_identical_ids_and_counts(history):
    with neo4j_store(history) as neo4j:
        nodes = {n.id: n.properties for n in neo4j.all_nodes()}
        edges = {e.key for e in neo4j.all_edges()}
        neo4j.run("MATCH (a:Activity {project: $project}) SET a.stray = 1")
        out = history.ok("rebuild", "--neo4j").stdout
        assert "Rebuilt the index and Neo4j" in out
        assert {n.id: n.properties for n in neo4j.all_nodes()} == nodes
        assert {e.key for e in neo4j.all_edges()} == edges


def test_projects_sharing_a_database_stay_apart(history, repo_factory, neo4j_uri):
    other = repo_factory("other")
    other.ok("config", "set", "neo4j.uri", neo4j_uri)
    other.ok("sh", "-c", "echo x > x.txt")
    other.ok("sync")
    with neo4j_store(history) as mine, neo4j_store(other) as theirs:
        assert mine.project != theirs.project
        assert theirs.counts()["Activity"] == 1
        assert mine.counts()["Activity"] == 7
        assert theirs.entity("model.txt") is None
        assert mine.entity("x.txt") is None
    rows = json.loads(other.ok("cypher", "MATCH (a:Activity {project: $project}) "
                               "RETURN a.command AS c", "--json").stdout)
    assert rows == [{"c": "sh -c 'echo x > x.txt'"}]
