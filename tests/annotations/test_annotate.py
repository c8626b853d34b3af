"""`prov note`, `prov tag`, `prov set` (issue 15, part 4): annotations that never rewrite
history, on real repositories, through the real `prov`, read back from both indexes."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import PROV, Repo, clone_through_remote
from graph import neo4j_store

from provgraph.journal.records import Journal, new_id
from provgraph.queries.nodes import find, view
from provgraph.repo import Repository
from provgraph.timestamps import now


def show(repo: Repo, node: str) -> dict:
    return json.loads(repo.ok("show", node, "--json").stdout)


def props(repo: Repo, node: str) -> dict:
    return show(repo, node)["properties"]


def records(repo: Repo) -> int:
    """How many records every journal chain of `repo` holds."""
    refs = repo.git("for-each-ref", "--format=%(objectname)", "refs/prov/journal/").split()
    return int(repo.git("rev-list", "--count", *refs).strip()) if refs else 0


def fails(repo: Repo, *args: str) -> str:
    """`prov ARGS` must fail with one line on stderr, recording nothing; that line."""
    before = records(repo)
    proc = repo.prov(*args)
    assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert records(repo) == before
    return proc.stderr.strip()


@pytest.fixture
def work(repo: Repo) -> Repo:
    """Two runs by two agents, a file with two versions."""
    repo.write("raw.csv", "3\n1\n2\n")
    repo.commit_all("data")
    repo.ok("sort", "-o", "sorted.csv", "raw.csv")
    repo.ok("sort", "-r", "-o", "sorted.csv", "raw.csv",
            env={"PROV_AGENT": "Bob <bob@example.com>"})
    return repo


def annotate_all(repo: Repo) -> None:
    repo.ok("tag", "#1", "baseline", "v1")
    repo.ok("tag", "latest", "best", "v1", "best")
    repo.ok("note", "latest", "reversed: better")
    repo.ok("note", "latest", "checked twice", env={"PROV_AGENT": "Bob <bob@example.com>"})
    repo.ok("set", "latest", "lr=0.01", "epochs=12", "ok=true", "who=team vision", "big=1e3")
    repo.ok("tag", "sorted.csv@v1", "stale")
    repo.ok("note", "sorted.csv", "the one we ship")  # PATH: its latest version
    repo.ok("set", "Alice", "team=data")
    repo.ok("tag", "bob@example.com", "reviewer")  # an agent by email


def check_annotations(read) -> None:
    """`read(name)`: a node's properties by its name, from some index."""
    run = read("sort #2")
    assert run["tags"] == ["best", "v1"]
    assert run["notes"] == ["reversed: better", "checked twice"]
    assert run["notes.by"] == ["Alice", "Bob"]
    assert all(at.startswith("20") and "T" in at for at in run["notes.at"])
    assert (run["lr"], run["epochs"], run["ok"], run["who"], run["big"]) == (
        0.01, 12, True, "team vision", 1000.0)
    assert type(run["epochs"]) is int and type(run["ok"]) is bool
    assert run["annotated.keys"] == ["big", "epochs", "lr", "ok", "who"]
    assert run["command"] == "sort -r -o sorted.csv raw.csv"  # the record itself is untouched
    assert read("sort #1")["tags"] == ["baseline", "v1"]
    assert read("sorted.csv@v1")["tags"] == ["stale"]
    assert read("sorted.csv@v2")["notes"] == ["the one we ship"]
    assert "tags" not in read("sorted.csv@v2") and "notes" not in read("sorted.csv@v1")
    assert read("Alice")["team"] == "data"
    assert read("Bob")["tags"] == ["reviewer"]


def test_note_tag_and_set_a_run_a_version_and_an_agent(work):
    annotate_all(work)
    check_annotations(lambda name: props(work, name))
    shown = work.ok("show", "latest").stdout
    assert "tags  best, v1" in shown and "set   epochs = 12" in shown
    notes = [line for line in shown.splitlines() if line.startswith("note")]
    assert len(notes) == 2 and notes[0].endswith("Alice: reversed: better")
    assert notes[1].endswith("Bob: checked twice")
    assert re.match(r"note  \d{4}-\d\d-\d\d \d\d:\d\d Alice", notes[0]), notes[0]  # when
    first = work.ok("log").stdout.splitlines()[0]
    assert first.endswith("  [best, v1]"), first


def test_the_same_on_neo4j(work, neo4j_uri):
    work.ok("config", "set", "neo4j.uri", neo4j_uri)
    work.ok("sync")
    annotate_all(work)
    work.ok("sync")
    with neo4j_store(work) as store:
        check_annotations(lambda name: find(store, name).properties)
        shown = view(store, find(store, "latest"))
        assert shown.node.properties["tags"] == ["best", "v1"]
        with work.store() as embedded:
            assert ({n.id: n.properties for n in store.all_nodes()}
                    == {n.id: n.properties for n in embedded.all_nodes()})
    best = json.loads(work.ok("cypher", "MATCH (n {project: $project}) WHERE 'best' IN n.tags "
                                        "RETURN n.name AS name", "--json").stdout)
    assert best == [{"name": "sort #2"}]
    work.ok("tag", "latest", "--remove", "best")
    work.ok("set", "latest", "--unset", "lr")
    work.ok("sync")
    with neo4j_store(work) as store:
        run = find(store, "latest").properties
        assert run["tags"] == ["v1"] and "lr" not in run and run["epochs"] == 12
        assert run["annotated.keys"] == ["big", "epochs", "ok", "who"]


def test_removing_and_unsetting_and_a_later_catch_up(work):
    work.ok("log")  # the runs are indexed: the annotations come in a later catch-up
    annotate_all(work)
    work.ok("tag", "latest", "--remove", "v1")
    work.ok("set", "latest", "--unset", "who", "ok=false")
    run = props(work, "latest")
    assert run["tags"] == ["best"] and "who" not in run and run["ok"] is False
    # the agent is written again by each of its captures: its annotations stay
    work.ok("cp", "raw.csv", "copy.csv")
    assert props(work, "Alice")["team"] == "data"
    # a file's next version is another node: the annotation stays with the version annotated
    work.ok("sort", "-o", "sorted.csv", "raw.csv")
    assert "notes" not in props(work, "sorted.csv") and props(work, "sorted.csv@v2")["notes"]


def test_a_rebuild_gives_the_same_graph(work):
    annotate_all(work)
    with work.store() as store:
        before = {n.id: n.properties for n in store.all_nodes()}
    work.ok("rebuild")
    with work.store() as store:
        assert {n.id: n.properties for n in store.all_nodes()} == before
    check_annotations(lambda name: props(work, name))


def test_bad_input_is_one_line_and_records_nothing(work):
    assert "no recorded file nosuch.csv" in fails(work, "tag", "nosuch.csv", "x")
    assert "no run #9" in fails(work, "note", "#9", "text")
    assert "no node with id act-0000000000000000" in fails(
        work, "set", "act-0000000000000000", "a=1")
    assert fails(work, "tag", "latest", "") == "prov: an empty tag"
    assert "is not a tag" in fails(work, "tag", "latest", "two words")
    assert fails(work, "note", "latest", "  ") == "prov: an empty note: a note says something"
    assert "'exit_code' is reserved" in fails(work, "set", "latest", "exit_code=0")
    assert "'tags' is reserved" in fails(work, "set", "latest", "tags=x")
    assert "has a recorded 'option_arguments'" in fails(work, "set", "latest",
                                                        "option_arguments=x")
    assert "'path' is reserved" in fails(work, "set", "sorted.csv", "path=x")
    assert "lr= gives no value: to remove a key, use --unset lr" in fails(
        work, "set", "latest", "lr=")
    assert "'lr' is not KEY=VALUE" in fails(work, "set", "latest", "lr")
    assert "has no 'lr' set by prov set" in fails(work, "set", "latest", "--unset", "lr")
    assert "has no tag 'best'" in fails(work, "tag", "latest", "--remove", "best")
    assert "not a name" in fails(work, "set", "latest", "a b=1")
    assert "nothing to record" in fails(work, "set", "latest")


def test_a_runs_own_tags_are_kept_and_cannot_be_removed(repo):
    repo.ok("true", env={"PROV_ACTIVITY_PROPERTIES": json.dumps({"tags": ["sweep-1"]})})
    repo.ok("tag", "latest", "best")
    assert props(repo, "latest")["tags"] == ["best", "sweep-1"]
    assert "recorded by the run itself" in fails(repo, "tag", "latest", "--remove", "sweep-1")
    repo.ok("tag", "latest", "--remove", "best")
    assert props(repo, "latest")["tags"] == ["sweep-1"]


def test_two_tags_at_once_both_land(work):
    procs = [subprocess.Popen([PROV, "tag", "latest", name], cwd=work.root, env=work.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("left", "right")]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert props(work, "latest")["tags"] == ["left", "right"]


def test_the_python_api(work):
    import provgraph

    with provgraph.open_project(work.root) as project:
        ids = [a.id for a in (project.run("#1"), project.run("#2"))]
        before = records(work)
        done = project.tag_many(ids, ["batch"])
        assert records(work) == before + 1  # one record for all of them
        assert done.to_dict()["tag"] == ["batch"] and len(done.to_dict()["targets"]) == 2
        assert project.note("latest", "from Python").to_dict()["note"] == "from Python"
        project.set("latest", {"score": 0.5, "done": True}, unset=())
        project.tag("sorted.csv", ["ship"])
        assert [project.run(i).properties["tags"] for i in ids] == [["batch"], ["batch"]]
        run = project.run("latest").properties
        assert (run["score"], run["done"], run["notes"]) == (0.5, True, ["from Python"])
        assert project.find("sorted.csv").properties["tags"] == ["ship"]
        project.tag_many(ids, ["batch"], remove=True)
        assert "tags" not in project.run("#1").properties
    json_done = json.loads(work.ok("tag", "latest", "x", "--json").stdout)
    assert json_done["tag"] == ["x"] and json_done["targets"][0]["name"] == "sort #2"
    assert json_done["id"].startswith("ann-")


def test_a_pulled_annotation_shows_up_in_the_other_clone(work, tmp_path):
    bob = clone_through_remote(work, tmp_path)
    work.ok("tag", "latest", "best")
    work.ok("push")
    bob.ok("pull")
    assert props(bob, "latest")["tags"] == ["best"]
    bob.ok("note", "latest", "agreed")
    bob.ok("set", "#1", "checked=true")
    bob.ok("push")
    work.ok("pull")
    run = props(work, "latest")
    assert run["notes"] == ["agreed"] and run["notes.by"] == ["Bob"]
    assert props(work, "#1")["checked"] is True


def _clone_id(repo: Repo) -> str:
    found = Repository.discover(str(repo.root))
    found.ensure_prov_dir()
    return found.clone_id


def _append(repo: Repo, **fields) -> dict:
    """An annotation record as `prov` writes one (then `fields`), appended to `repo`'s own
    chain through the journal, as another clone's provgraph would."""
    found = Repository.discover(str(repo.root))
    found.ensure_prov_dir()
    record_id, nonce = new_id("ann", found.clone_id)
    stamp = now()
    record = {"kind": "annotation", "id": record_id, "nonce": nonce, "clone": found.clone_id,
              "project": found.project, "agent": {"name": "Mallory", "email": "m@evil"},
              "started": stamp, "ended": stamp, "command": "prov tag", **fields}
    Journal(found).append({k: v for k, v in record.items() if v is not ...})
    return record


def test_a_pulled_annotation_of_a_node_not_there_yet_applies_when_it_arrives(work, tmp_path):
    from provgraph.model import entity_id

    mallory = clone_through_remote(work, tmp_path)
    project = Repository.discover(str(work.root)).project
    later = work.write("later.csv", "later\n")
    digest = work.git("hash-object", str(later)).strip()
    later.unlink()
    target = entity_id(project, "later.csv", digest, "")  # the version when first met
    _append(mallory, targets=[target], tag=["early"])
    mallory.ok("push")
    work.ok("pull")
    work.ok("log")  # indexed: the annotation waits, nothing fails
    work.write("later.csv", "later\n")
    work.commit_all("later")
    work.ok("cat", "later.csv")
    assert props(work, "later.csv")["tags"] == ["early"]
    assert show(work, "later.csv")["id"] == target
    work.ok("rebuild")
    assert props(work, "later.csv")["tags"] == ["early"]


BAD = {
    "forged clone": (lambda victim: {"clone": _clone_id(victim)},
                     "as its author, not"),
    "reserved key": (lambda victim: {"set": {"exit_code": 0}},
                     "it sets key 'exit_code' is reserved"),
    "a tag with a blank": (lambda victim: {"tag": ["a b"]}, "is not a tag"),
    "targets not a list": (lambda victim: {"targets": "act-1"}, "targets are not a list"),
    "no nonce": (lambda victim: {"nonce": ...}, "the annotation has no nonce"),
    "nothing": (lambda victim: {"tag": ...}, "the annotation changes nothing"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_pulled_annotation_is_quarantined_with_one_line(work, tmp_path, case):
    mallory = clone_through_remote(work, tmp_path)
    work.ok("push")
    mallory.ok("pull")
    run = show(mallory, "latest")["id"]
    fields, reason = BAD[case]
    _append(mallory, **{"targets": [run], "tag": ["pwned"], **fields(work)})
    subprocess.run(["git", "push", "-q", "origin", "refs/prov/journal/*:refs/prov/journal/*"],
                   cwd=mallory.root, env=mallory.env, check=True, capture_output=True)
    pulled = work.ok("pull")
    assert "1 quarantined" in pulled.stdout and "Traceback" not in pulled.stderr
    [held] = json.loads(work.ok("status", "--json").stdout)["quarantine"]
    assert reason in held["reason"], held
    assert "tags" not in props(work, "latest")


def test_a_copy_of_my_annotation_in_another_chain_is_quarantined(work, tmp_path):
    mallory = clone_through_remote(work, tmp_path)
    work.ok("tag", "latest", "mine")
    work.ok("push")
    mallory.ok("pull")
    mine = json.loads(work.git("cat-file", "blob",
                               f"refs/prov/journal/{_clone_id(work)}:record.json"))
    _append(mallory, **{**{k: v for k, v in mine.items() if k not in ("format", "clone")},
                        "tag": ["pwned"]})
    subprocess.run(["git", "push", "-q", "origin", "refs/prov/journal/*:refs/prov/journal/*"],
                   cwd=mallory.root, env=mallory.env, check=True, capture_output=True)
    assert "1 quarantined" in work.ok("pull").stdout
    [held] = json.loads(work.ok("status", "--json").stdout)["quarantine"]
    assert "nonce mismatch" in held["reason"]
    assert props(work, "latest")["tags"] == ["mine"]


def test_export_then_import_in_a_fresh_repository_keeps_them(work, repo_factory, tmp_path):
    annotate_all(work)
    for fmt in ("json", "provn", "ttl", "xml"):
        document = tmp_path / f"graph.{fmt}"
        work.ok("export", "--format", fmt, "-o", str(document))
        fresh = repo_factory(f"fresh-{fmt}")
        fresh.ok("import", str(document))
        with fresh.store() as store:
            imported = {n.name: n.properties for n in store.all_nodes()}
        check_annotations(lambda name, imported=imported: imported[name])
        # and annotated again there, the imported ones are kept
        fresh.ok("tag", show(work, "latest")["id"], "imported")
        with fresh.store() as store:
            assert store.node(show(work, "latest")["id"]).properties["tags"] == [
                "best", "imported", "v1"]


def test_documents_say_where_annotations_go():
    text = (Path(__file__).parents[2] / "docs" / "annotations.md").read_text()
    for words in ("prov note", "prov tag", "prov set", "annotated.keys", "export",
                  "not (yet)"):
        assert words in text


def test_tag_where_tags_every_run_the_predicate_keeps_in_one_record(repo):
    for lr in (0.1, 0.01, 0.001):
        repo.ok("true", env={"PROV_ACTIVITY_PROPERTIES": json.dumps({"lr": lr})})
    records_before = len(repo.git("rev-list", "--all").split())
    done = repo.ok("tag", "--where", "lr < 0.05", "low-lr", "second-pass")
    assert done.stdout.strip() == "Tagged 2 runs: low-lr, second-pass"
    tagged = json.loads(repo.ok("log", "--tag", "low-lr", "--json").stdout)
    assert sorted(entry["properties"]["lr"] for entry in tagged) == [0.001, 0.01]
    assert len(repo.git("rev-list", "--all").split()) == records_before + 1  # one record
    repo.ok("tag", "--where", "lr = 0.001", "--remove", "second-pass")
    kept = json.loads(repo.ok("log", "--tag", "second-pass", "--json").stdout)
    assert [entry["properties"]["lr"] for entry in kept] == [0.01]
    for args in (["--where", "lr > 5", "x"], ["--where", "lr <", "x"],
                 ["--where", "drop(lr)", "x"]):
        proc = repo.prov("tag", *args)
        assert proc.returncode != 0, args
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
