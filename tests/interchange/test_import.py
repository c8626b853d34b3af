"""`prov import`: W3C PROV from another repository's `prov export`, or from any other tool, into
the journal and both indexes, ids kept, nothing duplicated, every bad input one line."""

from __future__ import annotations

import json
import os

import pytest
from graph import Graph

from provgraph.errors import ProvError
from provgraph.interchange.importer import detect_format, import_document
from provgraph.journal.records import Journal
from provgraph.model import EDGE_TYPES
from provgraph.repo import Repository

TRAIN = """\
import sys
params, data = sys.argv[1:3]
open("model.txt", "w").write(open(params).read() + open(data).read())
open("train.log", "a").write("trained\\n")
"""


def neo4j_store(repo):
    """The Neo4j index of `repo`, through the library (as `prov cypher` reaches it)."""
    from provgraph.config import Config
    from provgraph.remotes import neo4j as sync

    r = Repository.discover(repo.root)
    return sync.Target(Config(r.root, r.prov_dir)).store(r.project)


def project(repo) -> str:
    return Repository.discover(repo.root).project


def records(repo) -> int:
    """Journal records in the repository."""
    r = Repository.discover(repo.root)
    r.ensure_prov_dir()
    return Journal(r).count()


def graph_of(store) -> tuple[dict, dict]:
    """Nodes (label, properties but the project) by id, and edge properties by key."""
    nodes = {n.id: (n.label, {k: v for k, v in n.properties.items() if k != "project"})
             for n in store.all_nodes()}
    edges = {e.key: e.properties for e in store.all_edges()}
    return nodes, edges


def one_line_error(proc) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("prov: "), proc.stderr
    return lines[0]


@pytest.fixture
def captured(repo_factory):
    """Repository A: real captures with two agents, a change made outside prov, lists of
    options and operands, a version chain."""
    a = repo_factory("a")
    a.write("train.py", TRAIN)
    a.write("raw.csv", "3\n1\n2\n")
    a.write("params.yaml", "lr: 0.1\n")
    a.commit_all("inputs")
    a.ok("sort", "-r", "-o", "sorted.csv", "raw.csv")
    a.ok("python3", "train.py", "params.yaml", "sorted.csv")
    a.write("params.yaml", "lr: 0.05\n")  # outside prov
    a.ok("python3", "train.py", "params.yaml", "sorted.csv",
         env={"PROV_AGENT": "Bob <bob@example.com>"})
    return a


# ------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("fmt", ["json", "provn", "ttl", "xml"])
def test_an_export_imported_elsewhere_is_the_same_graph(captured, repo_factory, tmp_path, fmt):
    a, b = captured, repo_factory("b")
    exported = tmp_path / f"a.{fmt if fmt != 'json' else 'provjson'}"
    a.ok("export", "--format", fmt, "-o", str(exported))

    out = b.ok("import", str(exported)).stdout
    with a.store() as sa, b.store() as sb:
        assert graph_of(sb) == graph_of(sa)  # every id, label, property and edge
        counts = sa.counts()
        assert {n.properties["project"] for n in sb.all_nodes()} == {project(b)}
    assert out.strip() == (
        f"Imported {counts['Entity']} entities, {counts['Activity']} activities, "
        f"{counts['Agent']} agents and {counts['edges']} relations from {exported}.")
    assert out.count("\n") == 1

    # the queries work on it as on a capture: by path, by id, in the log
    assert "missing=True" in b.ok("show", "params.yaml@v2").stdout
    model = Graph.of(a).node("model.txt@v2")
    shown = b.ok("show", model.id).stdout
    assert shown.startswith(f"Entity {model.id}  model.txt@v2")
    assert "-[wasGeneratedBy]-> python3 train.py" in shown
    log_a, log_b = (json.loads(r.ok("log", "--json").stdout) for r in (a, b))
    assert [(e["id"], e["agent"], e["used"], e["generated"]) for e in log_b] == \
        [(e["id"], e["agent"], e["used"], e["generated"]) for e in log_a]
    assert b.ok("lineage", "model.txt").stdout == a.ok("lineage", "model.txt").stdout


@pytest.mark.parametrize("fmt", ["json", "provn", "ttl", "xml"])
def test_import_reads_standard_input_and_tells_the_format_from_the_text(captured, repo_factory,
                                                                        fmt):
    b = repo_factory("b")
    text = captured.ok("export", "--format", fmt).stdout
    summary = json.loads(b.ok("import", "-", "--json", input=text).stdout)
    assert summary["format"] == fmt and summary["source"] == "<stdin>"
    with captured.store() as sa, b.store() as sb:
        assert graph_of(sb) == graph_of(sa)


def test_a_graph_exported_and_imported_back_into_itself_adds_nothing(captured):
    text = captured.ok("export").stdout
    before = records(captured)
    out = captured.ok("import", "-", input=text).stdout
    assert out.startswith("Nothing new in <stdin>: its ")
    assert records(captured) == before


# ------------------------------------------------------------------ another tool's document


def foreign_document(token: str) -> dict:
    """PROV-JSON as another workflow tool writes it: its own prefix, blank-node relation ids,
    labels, typed attributes, times, and relations provgraph has no edge for."""
    ex = f"ex:{{}}-{token}".format
    return {
        "prefix": {"ex": "http://example.org/pipeline#", "foaf": "http://xmlns.com/foaf/0.1/"},
        "entity": {
            ex("faces"): {"prov:label": "faces.csv", "ex:rows": 1200,
                          "prov:type": {"$": "ex:Dataset", "type": "prov:QUALIFIED_NAME"}},
            ex("clean"): {"prov:label": "faces-clean.csv", "ex:rows": 1187},
            ex("model"): {"prov:label": "model.pkl", "ex:accuracy": 0.93},
        },
        "activity": {
            ex("cleaning"): {"prov:label": "clean faces", "prov:startTime": "2024-03-01T09:00:00Z",
                             "prov:endTime": "2024-03-01T09:05:00Z"},
            ex("training"): {"prov:label": "train model", "prov:startTime": "2024-03-01T10:00:00Z",
                             "prov:endTime": "2024-03-01T11:30:00Z", "ex:epochs": 20},
        },
        "agent": {
            ex("alice"): {"prov:label": "Alice", "foaf:mbox": "mailto:alice@example.org",
                          "prov:type": {"$": "prov:Person", "type": "prov:QUALIFIED_NAME"}},
            ex("lab"): {"prov:label": "the lab"},
        },
        "used": {
            "_:u1": {"prov:activity": ex("cleaning"), "prov:entity": ex("faces")},
            "_:u2": {"prov:activity": ex("training"), "prov:entity": ex("clean"),
                     "prov:role": "training set"},
        },
        "wasGeneratedBy": {
            "_:g1": {"prov:entity": ex("clean"), "prov:activity": ex("cleaning")},
            "_:g2": {"prov:entity": ex("model"), "prov:activity": ex("training"),
                     "prov:time": "2024-03-01T11:30:00Z"},
            # an entity the document names but never declares
            "_:g3": {"prov:entity": ex("report"), "prov:activity": ex("training")},
        },
        "wasDerivedFrom": {
            "_:d1": {"prov:generatedEntity": ex("clean"), "prov:usedEntity": ex("faces")},
        },
        "wasAssociatedWith": {
            "_:a1": {"prov:activity": ex("cleaning"), "prov:agent": ex("alice")},
            "_:a2": {"prov:activity": ex("training"), "prov:agent": ex("alice")},
        },
        "wasAttributedTo": {
            "_:t1": {"prov:entity": ex("model"), "prov:agent": ex("alice")},
            # ends of the wrong kinds: an activity is not an agent
            "_:t2": {"prov:entity": ex("model"), "prov:agent": ex("cleaning")},
        },
        "wasInformedBy": {
            "_:i1": {"prov:informed": ex("training"), "prov:informant": ex("cleaning")},
        },
        "actedOnBehalfOf": {
            "_:b1": {"prov:delegate": ex("alice"), "prov:responsible": ex("lab")},
        },
    }


def test_another_tools_document_keeps_its_ids_on_both_indexes(synced, tmp_path):
    token = os.urandom(4).hex()  # the Neo4j server is shared: ids of this test's own
    path = tmp_path / "pipeline.json"
    path.write_text(json.dumps(foreign_document(token), indent=1))

    out = synced.ok("import", str(path)).stdout
    assert out == (
        f"Imported 4 entities, 2 activities, 2 agents and 9 relations (1 of the nodes only "
        f"named by a relation) from {path}; skipped 1 actedOnBehalfOf, "
        f"1 wasAttributedTo between the wrong kinds of node, 1 wasInformedBy.\n")

    training, model = f"ex:training-{token}", f"ex:model-{token}"
    entries = json.loads(synced.ok("log", "--json").stdout)
    assert [(e["id"], e["name"], e["agent"], e["used"], e["generated"]) for e in entries] == [
        (training, "train model", ["Alice"], ["faces-clean.csv"],
         sorted(["model.pkl", f"ex:report-{token}"])),
        (f"ex:cleaning-{token}", "clean faces", ["Alice"], ["faces.csv"], ["faces-clean.csv"]),
    ]

    synced.ok("sync")
    with synced.store() as embedded, neo4j_store(synced) as neo4j:
        for store in (embedded, neo4j):
            node = store.node(training)
            assert node is not None and node.label == "Activity"
            assert node.properties == {
                "name": "train model", "project": project(synced), "ex:epochs": 20,
                "started": "2024-03-01T10:00:00.000000+00:00",
                "ended": "2024-03-01T11:30:00.000000+00:00"}
            assert store.node(model).properties["ex:accuracy"] == 0.93
            assert store.node(f"ex:alice-{token}").properties["prov:type"] == "prov:Person"
            assert store.node(f"ex:alice-{token}").properties["prov:type^^"] == "xsd:QName"
            assert store.node(f"ex:report-{token}").label == "Entity"
            [used] = [e for e in store.edges([training], "out") if e.type == "used"]
            assert used.properties == {"role": "training set"}
        assert graph_of(neo4j) == graph_of(embedded)
        assert {e.type for e in neo4j.all_edges()} == set(EDGE_TYPES)


def test_prov_show_finds_an_imported_id(repo, tmp_path):
    path = tmp_path / "pipeline.json"
    path.write_text(json.dumps(foreign_document("t")))
    repo.ok("import", str(path))
    shown = repo.ok("show", "ex:training-t").stdout
    assert shown.startswith("Activity ex:training-t  train model")


def test_hand_written_provn_and_turtle_keep_their_prefixed_ids(repo, tmp_path):
    (tmp_path / "run.provn").write_text("""\
document
  prefix ex <http://example.org/>
  entity(ex:data, [ex:rows=3, prov:label="data.csv"])
  activity(ex:train, 2024-01-01T00:00:00Z, -)
  agent(ex:bob, [prov:type='prov:Person'])
  used(ex:train, ex:data, -)
  wasGeneratedBy(ex:model, ex:train, -)
  wasAssociatedWith(ex:train, ex:bob, -)
  actedOnBehalfOf(ex:bob, ex:carol)
endDocument
""")
    (tmp_path / "run.ttl").write_text("""\
@prefix prov: <http://www.w3.org/ns/prov#> .
@prefix ex: <http://example.org/> .
ex:model a prov:Entity ; prov:wasDerivedFrom ex:data ; ex:size 42 .
ex:evaluate a prov:Activity ; prov:used ex:model ; prov:wasInformedBy ex:train .
""")
    assert repo.ok("import", str(tmp_path / "run.provn")).stdout.endswith(
        "; skipped 1 actedOnBehalfOf.\n")
    assert repo.ok("import", str(tmp_path / "run.ttl")).stdout.endswith(
        "; skipped 1 wasInformedBy.\n")
    with repo.store() as store:
        nodes, edges = graph_of(store)
    assert nodes == {
        "ex:data": ("Entity", {"name": "data.csv", "ex:rows": 3}),
        "ex:train": ("Activity", {"name": "ex:train",
                                  "started": "2024-01-01T00:00:00.000000+00:00"}),
        "ex:bob": ("Agent", {"name": "ex:bob", "prov:type": "prov:Person",
                             "prov:type^^": "xsd:QName"}),
        # Turtle's bare 42 is an xsd:integer: kept as such for export
        "ex:model": ("Entity", {"name": "ex:model", "ex:size": 42, "ex:size^^": "xsd:integer"}),
        "ex:evaluate": ("Activity", {"name": "ex:evaluate"}),
    }
    assert set(edges) == {
        ("used", "ex:train", "ex:data"), ("wasGeneratedBy", "ex:model", "ex:train"),
        ("wasAssociatedWith", "ex:train", "ex:bob"), ("wasDerivedFrom", "ex:model", "ex:data"),
        ("used", "ex:evaluate", "ex:model"),
    }


# ------------------------------------------------------------------------ idempotency


def test_importing_twice_duplicates_nothing(synced, tmp_path):
    token = os.urandom(4).hex()
    document = foreign_document(token)
    path = tmp_path / "pipeline.provjson"
    path.write_text(json.dumps(document))
    synced.ok("import", str(path))
    after_first = records(synced)
    synced.ok("sync")
    with synced.store() as store:
        first = graph_of(store)

    again = synced.ok("import", str(path)).stdout
    assert again.startswith(f"Nothing new in {path}: its 4 entities, 2 activities, 2 agents and "
                            "9 relations")
    assert records(synced) == after_first  # not even a journal record

    # a new edition of the document: only what changed is written, as upserts
    document["entity"][f"ex:model-{token}"]["ex:accuracy"] = 0.95
    path.write_text(json.dumps(document))
    changed = synced.ok("import", "--json", str(path)).stdout
    assert json.loads(changed)["written"] == 1
    synced.ok("sync", "--full")  # every element pushed again: MERGE, never a second node
    with synced.store() as embedded, neo4j_store(synced) as neo4j:
        nodes, edges = graph_of(embedded)
        assert set(nodes) == set(first[0]) and edges == first[1]
        assert nodes[f"ex:model-{token}"][1]["ex:accuracy"] == 0.95
        assert graph_of(neo4j) == (nodes, edges)
        assert neo4j.counts() == embedded.counts()


# ------------------------------------------------------------------------ large documents


def test_a_large_document_goes_in_chunks_nodes_first(synced):
    """Records of at most `chunk_size` elements, and no record's edge names a node of a later
    record, so that Neo4j (which matches an edge's ends) gets every edge whenever it syncs."""
    token = os.urandom(4).hex()
    entities = {f"ex:v{i}-{token}": {"ex:i": i} for i in range(12)}
    activities = {f"ex:step{i}-{token}": {} for i in range(6)}
    used = {f"_:u{i}": {"prov:activity": f"ex:step{i}-{token}", "prov:entity": f"ex:v{i}-{token}"}
            for i in range(6)}
    generated = {f"_:g{i}": {"prov:entity": f"ex:v{i + 6}-{token}",
                             "prov:activity": f"ex:step{i}-{token}"} for i in range(6)}
    text = json.dumps({"prefix": {"ex": "http://example.org/"}, "entity": entities,
                       "activity": activities, "used": used, "wasGeneratedBy": generated})
    repo = Repository.discover(synced.root)
    summary = import_document(repo, text, "json", chunk_size=5)
    assert summary["records"] == 6 and summary["written"] == 30  # 18 nodes + 12 edges

    seen: set[str] = set()
    for entry in Journal(repo).entries():
        record = entry.record
        assert len(record["nodes"]) + len(record["edges"]) <= 5
        seen.update(n["id"] for n in record["nodes"])
        assert all({e["source"], e["target"]} <= seen for e in record["edges"])
    assert len(seen) == 18

    synced.ok("sync")
    with synced.store() as embedded, neo4j_store(synced) as neo4j:
        assert embedded.counts() == {"Entity": 12, "Activity": 6, "edges": 12}
        assert graph_of(neo4j) == graph_of(embedded)


# ------------------------------------------------------------------------ bad input


def test_bad_input_is_one_line_and_exit_1(repo, tmp_path):
    assert one_line_error(repo.prov("import", "nowhere.json")) == "prov: no such file: nowhere.json"

    broken = tmp_path / "broken.json"
    broken.write_text('{"entity": {"ex:a": ')
    assert one_line_error(repo.prov("import", str(broken))).startswith(
        f"prov: {broken}: not a valid json PROV document: ")

    assert one_line_error(repo.prov("import", "--format", "yaml", str(broken))).startswith(
        "prov: unknown PROV format 'yaml': use json")

    notes = tmp_path / "notes.txt"
    notes.write_text("just some notes\n")
    assert one_line_error(repo.prov("import", str(notes))) == (
        f"prov: cannot tell the PROV format of {notes}: give --format json, provn, ttl, xml or "
        "jsonld")

    provn = tmp_path / "bad.provn"
    provn.write_text("document\n  entity(\nendDocument\n")
    assert "not a valid provn PROV document" in one_line_error(repo.prov("import", str(provn)))

    assert "not a valid json PROV document" in one_line_error(
        repo.prov("import", "-", input="[1, 2]"))
    assert one_line_error(repo.prov("import", "-", input="{}")) == (
        "prov: <stdin> holds no PROV entities, activities, agents or relations")
    assert one_line_error(repo.prov("import", str(tmp_path))) == (
        f"prov: {tmp_path} is a folder, not a PROV document")
    assert records(repo) == 0  # nothing half-imported


def test_formats_come_from_the_option_the_extension_or_the_text():
    assert detect_format("x.json") == detect_format("x.PROVJSON") == "json"
    assert detect_format("x.provn") == "provn"
    assert detect_format("x.ttl") == detect_format("x", fmt="turtle") == "ttl"
    assert detect_format("x.xml") == detect_format("x.provx") == "xml"
    assert detect_format("x.json", fmt="provn") == "provn"  # the option wins
    assert detect_format("-", ' \n{"entity": {}}') == "json"
    assert detect_format("-", "document\n") == "provn"
    assert detect_format("-", "@prefix prov: <http://www.w3.org/ns/prov#> .") == "ttl"
    assert detect_format("-", "<?xml version='1.0'?>") == "xml"
    with pytest.raises(ProvError, match=r"cannot tell the PROV format of x\.csv"):
        detect_format("x.csv", "a,b\n")
