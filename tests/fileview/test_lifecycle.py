"""Views over time: virtual definitions, list/show/drop, stale and refreshed views, views of
views, definitions in the journal travelling through push/pull, replay and Neo4j unaffected."""

from __future__ import annotations

import json
import subprocess

from conftest import clone_through_remote
from graph import Graph, neo4j_store

COUNT = "select _c1 as label, count(*) as n from {data.csv} group by _c1 order by _c1"


def test_a_virtual_view_is_a_definition_evaluated_on_demand(repo):
    repo.write("data.csv", "1,cat\n2,dog\n3,cat\n")
    proc = repo.ok("fileview", "-n", "counts.csv", "-q", COUNT)
    assert "Defined the view counts.csv" in proc.stderr
    assert not repo.path("counts.csv").exists()
    assert repo.ok("fileview", "cat", "counts.csv").stdout == "label,n\ncat,2\ndog,1\n"
    assert repo.ok("fileview", "cat", "counts.csv", "--format", "jsonl").stdout == (
        '{"label":"cat","n":2}\n{"label":"dog","n":1}\n')
    subprocess.run("echo first > log.txt && prov fileview cat counts.csv >> log.txt",
                   shell=True, cwd=repo.root, env=repo.env, check=True)
    assert repo.read("log.txt") == "first\nlabel,n\ncat,2\ndog,1\n"  # appended, not truncated
    repo.write("data.csv", "1,cat\n")  # a virtual view is always current
    assert repo.ok("fileview", "cat", "counts.csv").stdout == "label,n\ncat,1\n"

    assert repo.ok("fileview", "list").stdout == "counts.csv  sql     virtual       data.csv\n"
    [listed] = json.loads(repo.ok("fileview", "list", "--json").stdout)
    assert listed["definition"]["query"] == COUNT and listed["materialized"] is False
    show = repo.ok("fileview", "show", "counts.csv").stdout
    assert f"sql      {COUNT}" in show and "kind     sql (virtual)" in show
    assert f"command  prov fileview -n counts.csv -q '{COUNT}'" in show
    assert repo.ok("fileview", "status").stdout == "counts.csv  virtual (not materialized)\n"
    assert Graph.of(repo).activities() == []  # a definition is no activity

    # refresh NAME materializes a virtual view
    assert "counts.csv: refreshed (1 rows)" in repo.ok("fileview", "refresh", "counts.csv").stdout
    assert repo.read("counts.csv") == "label,n\ncat,1\n"
    assert repo.ok("fileview", "status").stdout == "counts.csv  up to date\n"

    repo.ok("fileview", "drop", "counts.csv")
    assert repo.ok("fileview", "list").stdout == ""
    assert repo.read("counts.csv") == "label,n\ncat,1\n"  # the file stays


def test_status_says_which_views_are_stale_and_refresh_makes_new_activities(repo):
    repo.write("data.csv", "1,cat\n2,dog\n")
    repo.write("other.csv", "x\n1\n")
    repo.commit_all("data")
    repo.ok("fileview", "-c", "-n", "counts.csv", "-q", COUNT)
    repo.ok("fileview", "-c", "-n", "copy.csv", "-q", "select * from {other.csv}")
    assert repo.ok("fileview", "status").stdout == ("copy.csv    up to date\n"
                                                    "counts.csv  up to date\n")
    assert "counts.csv: up to date" in repo.ok("fileview", "refresh").stdout

    repo.write("data.csv", "1,cat\n2,dog\n3,dog\n")
    repo.path("copy.csv").unlink()
    states = json.loads(repo.ok("fileview", "status", "--json").stdout)
    assert states == [{"name": "copy.csv", "state": "missing", "changed": [],
                       "needs_review": False},
                      {"name": "counts.csv", "state": "stale", "changed": ["data.csv"],
                       "needs_review": False}]
    assert repo.ok("fileview", "status", "counts.csv").stdout == \
        "counts.csv  stale: data.csv changed\n"

    out = repo.ok("fileview", "refresh").stdout
    assert "copy.csv: refreshed (1 rows)" in out and "counts.csv: refreshed (2 rows)" in out
    assert repo.read("counts.csv") == "label,n\ncat,1\ndog,2\n"
    assert repo.read("copy.csv") == "x\n1\n"
    assert "up to date" in repo.ok("fileview", "status", "counts.csv").stdout

    graph = Graph.of(repo)
    made = [a for a in graph.activities()
            if a.properties.get("fileview.view") == "counts.csv"]
    assert [graph.used(a) for a in made] == [["data.csv@v1"], ["data.csv@v2"]]
    assert [graph.generated(a) for a in made] == [["counts.csv@v1"], ["counts.csv@v2"]]
    assert made[1].properties.get("fileview.refresh") is True
    assert graph.edge("wasDerivedFrom", "counts.csv@v2", "counts.csv@v1") is not None
    show = repo.ok("fileview", "show", "counts.csv").stdout
    assert f"by activity {made[1].id}, 2 rows" in show


def test_views_of_views_refresh_upstream_first(repo):
    repo.write("data.csv", "1,cat\n2,dog\n")
    repo.ok("fileview", "-c", "-n", "counts.csv", "-q", COUNT)
    repo.ok("fileview", "-c", "-n", "top.csv", "-q",
            "select label from {counts.csv} order by n desc, label limit 1")
    assert repo.read("top.csv") == "label\ncat\n"
    repo.write("data.csv", "1,cat\n2,dog\n3,dog\n")
    assert repo.ok("fileview", "status").stdout == ("counts.csv  stale: data.csv changed\n"
                                                    "top.csv     up to date\n")
    out = repo.ok("fileview", "refresh", "top.csv", "counts.csv").stdout.splitlines()
    assert [line.split(":")[0] for line in out] == ["counts.csv", "top.csv"]
    assert repo.read("top.csv") == "label\ndog\n"
    graph = Graph.of(repo)
    last = graph.activities()[-1]
    assert graph.used(last) == ["counts.csv@v2"] and graph.generated(last) == ["top.csv@v2"]


def test_definitions_travel_through_push_and_pull(tmp_path, repo_factory):
    alice = repo_factory("alice")
    alice.write("data.csv", "1,cat\n2,dog\n")
    alice.commit_all("data")
    bob = clone_through_remote(alice, tmp_path)

    alice.ok("fileview", "-c", "-n", "counts.csv", "-q", COUNT)
    alice.ok("fileview", "-n", "dogs.csv", "-q", "select * from {data.csv} where _c1 = 'dog'")
    alice.ok("push")
    assert "Pulled 2 new record(s)" in bob.ok("pull").stdout

    # Alice's views run at Bob's only once he has accepted them (tests/fileview/
    # test_view_trust.py has the rest)
    assert bob.ok("fileview", "list").stdout == (
        "counts.csv  sql     materialized  data.csv  (needs review: prov fileview trust "
        "counts.csv)\n"
        "dogs.csv    sql     virtual       data.csv  (needs review: prov fileview trust "
        "dogs.csv)\n")
    bob.ok("fileview", "trust", "counts.csv")
    bob.ok("fileview", "trust", "dogs.csv")
    assert bob.ok("fileview", "cat", "dogs.csv").stdout == "_c0,_c1\n2,dog\n"
    # Alice's file is not in Bob's work tree: refresh makes it here, as Bob's activity
    assert bob.ok("fileview", "status", "counts.csv").stdout == \
        "counts.csv  the file is not there\n"
    bob.ok("fileview", "refresh")
    assert bob.read("counts.csv") == alice.read("counts.csv")
    bob.ok("fileview", "drop", "dogs.csv")
    bob.ok("push")
    alice.ok("pull")
    assert alice.ok("fileview", "list").stdout == "counts.csv  sql     materialized  data.csv\n"

    graph = Graph.of(alice)
    runs = [a for a in graph.activities() if a.properties.get("fileview.view") == "counts.csv"]
    assert len(runs) == 2
    assert {graph.nodes[e.target].name for e in graph.edges
            if e.type == "wasAssociatedWith" and e.source in {r.id for r in runs}} == \
        {"Alice", "Bob"}


def test_view_records_replay_and_sync_like_any_record(synced):
    repo = synced
    repo.write("data.csv", "1,cat\n2,dog\n")
    repo.ok("cp", "data.csv", "before.txt")
    repo.ok("fileview", "-n", "v.csv", "-q", COUNT)  # a record of kind view
    repo.ok("fileview", "-c", "-n", "counts.csv", "-q", COUNT)
    repo.ok("fileview", "drop", "v.csv")
    repo.ok("cp", "counts.csv", "after.txt")

    graph = Graph.of(repo)
    assert [a.name for a in graph.activities()] == ["cp #1", "prov fileview #2", "cp #3"]
    assert graph.used(graph.node("cp #3")) == ["counts.csv@v1"]
    repo.ok("rebuild")
    rebuilt = Graph.of(repo)
    assert set(rebuilt.nodes) == set(graph.nodes)
    assert {e.key for e in rebuilt.edges} == {e.key for e in graph.edges}

    repo.ok("sync")
    with neo4j_store(repo) as neo4j:
        nodes = neo4j.all_nodes()
        assert {n.id for n in nodes} == set(graph.nodes)
        [activity] = [n for n in nodes if n.name == "prov fileview #2"]
        assert activity.properties["fileview.lineage.label"] == ["data.csv._c1"]
        assert activity.properties["fileview.columns"] == ["label", "n"]


def test_refresh_goes_on_past_a_failing_view_and_exits_1(repo):
    repo.write("a.csv", "x\n1\n")
    repo.write("b.csv", "x\n2\n")
    repo.ok("fileview", "-c", "-n", "va.csv", "-q", "select x from {a.csv}")
    repo.ok("fileview", "-c", "-n", "vb.csv", "-q", "select x from {b.csv}")
    repo.path("a.csv").unlink()
    repo.write("b.csv", "x\n3\n")
    assert repo.ok("fileview", "status").stdout == ("va.csv  stale: a.csv changed\n"
                                                    "vb.csv  stale: b.csv changed\n")
    proc = repo.prov("fileview", "refresh")
    assert proc.returncode == 1
    assert proc.stderr == "prov: va.csv: input a.csv does not exist\n"
    assert proc.stdout.startswith("vb.csv: refreshed (1 rows)")
    assert repo.read("va.csv") == "x\n1\n" and repo.read("vb.csv") == "x\n3\n"
