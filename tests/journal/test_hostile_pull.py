"""Pulled records are data, never code (issue 10, reproduction 2): a record another clone wrote
is judged before any reader sees it, a bad one is quarantined (named by `prov status`, skipped
by every reader), and a clone may only make ids in its own namespace.

Real clones talk through a real bare remote. Mallory, the attacker, writes records straight
into her own chain `refs/prov/journal/<her clone id>` with git plumbing (hash-object, mktree,
commit-tree, update-ref) and pushes it; the victim `prov pull`s and reads.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import Repo, clone_through_remote

from provgraph.repo import Repository

STAMP = "2030-01-02T03:04:05.000000+00:00"


def clone_id(repo: Repo) -> str:
    found = Repository.discover(repo.root)
    found.ensure_prov_dir()
    return found.clone_id


def plant(attacker: Repo, content: bytes | dict | list, *, trees: bool = True) -> str:
    """Append a commit holding `content` as record.json to the attacker's own journal chain
    (with the record's before/after snapshots, else her HEAD's tree), with git plumbing only;
    return it."""
    data = content if isinstance(content, bytes) else json.dumps(content).encode()

    def git(*args: str, input: bytes | None = None) -> str:
        proc = subprocess.run(["git", *args], cwd=attacker.root, env=attacker.env, input=input,
                              capture_output=True, check=True)
        return proc.stdout.decode().strip()

    blob = git("hash-object", "-w", "--stdin", input=data)
    lines = [f"100644 blob {blob}\trecord.json"]
    if trees:
        head = git("rev-parse", "HEAD^{tree}")
        given = content if isinstance(content, dict) else {}
        lines += [f"040000 tree {given.get(name) or head}\t{name}"
                  for name in ("after", "before")]
    tree = git("mktree", input=("\n".join(sorted(lines, key=lambda x: x.split("\t")[1]))
                                + "\n").encode())
    ref = f"refs/prov/journal/{clone_id(attacker)}"
    tip = subprocess.run(["git", "rev-parse", "-q", "--verify", ref], cwd=attacker.root,
                         env=attacker.env, capture_output=True, text=True).stdout.strip()
    commit = git("commit-tree", tree, *(["-p", tip] if tip else []), "-m", "prov: evil",
                 input=b"")
    git("update-ref", ref, commit)
    return commit


def capture_record(attacker: Repo, **fields) -> dict:
    """A capture record as provgraph writes one (a legacy one: no nonce), then `fields`."""
    head = attacker.git("rev-parse", "HEAD^{tree}").strip()
    record = {"format": 1, "id": "act-" + "ab" * 8, "project": "x", "command": "ls",
              "shell": False, "cwd": ".", "agent": {"name": "Mallory", "email": "m@evil"},
              "activity": {"utility": "ls"}, "used": [], "named": [], "prev": None,
              "before": head, "after": head, "started": STAMP, "ended": STAMP,
              "exit_code": 0, "status": "ok"}
    record.update(fields)
    return {k: v for k, v in record.items() if v is not ...}


def graph_record(nodes: list, edges: list, **fields) -> dict:
    record = {"format": 1, "kind": "graph", "id": "imp-" + "cd" * 8, "project": "x",
              "command": "import evil.json", "source": "evil.json", "agent": {},
              "started": STAMP, "ended": STAMP, "nodes": nodes, "edges": edges}
    record.update(fields)
    return record


@pytest.fixture
def scene(tmp_path: Path, repo_factory):
    """The victim has work of her own; Mallory cloned it and pulled the victim's journal."""
    victim = repo_factory("victim")
    victim.write("a.txt", "hello\n")
    victim.commit_all("data")
    victim.ok("cp", "a.txt", "b.txt")
    victim.ok("cp", "b.txt", "c.txt")
    mallory = clone_through_remote(victim, tmp_path)
    victim.ok("push")
    mallory.ok("pull")
    mine = json.loads(victim.ok("log", "--json").stdout)
    return victim, mallory, mine


def reading_commands(victim: Repo) -> list[tuple[str, ...]]:
    return [("log",), ("log", "--json"), ("show", "b.txt"), ("lineage", "c.txt"),
            ("sql", "select label, count(*) from nodes group by label"),
            *(("export", "--format", fmt) for fmt in ("json", "provn", "ttl", "xml")),
            ("status",), ("status", "--json"), ("metrics", "latest"),
            ("diff", "latest~1", "latest"), ("segment", "--src", "a.txt", "--dst", "c.txt"),
            ("summarize", "--src", "a.txt", "--dst", "c.txt"), ("fileview", "list"),
            ("sync",), ("rebuild",)]


def assert_reads(victim: Repo, neo4j_uri: str) -> None:
    victim.ok("config", "set", "neo4j.uri", neo4j_uri)
    for args in reading_commands(victim):
        proc = victim.prov(*args)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, args


def assert_history_kept(victim: Repo, mine: list[dict]) -> None:
    """Each of the victim's activities still says its own command and agent."""
    logged = {a["id"]: a for a in json.loads(victim.ok("log", "--json").stdout)}
    for activity in mine:
        found = logged[activity["id"]]
        assert found["properties"]["command"] == activity["properties"]["command"], found
        assert found.get("agent") == activity.get("agent"), found
        assert "forged" not in json.dumps(found) and "pwned" not in json.dumps(found)


def quarantined(victim: Repo) -> list[dict]:
    return json.loads(victim.ok("status", "--json").stdout)["quarantine"]


def pull_one_bad(victim: Repo, mallory: Repo) -> subprocess.CompletedProcess:
    # pushed as planted, with git: `prov push` would first migrate mallory's own chain to
    # journal format 2, and the victim would judge records her provgraph rewrote
    subprocess.run(["git", "push", "-q", "origin", "refs/prov/journal/*:refs/prov/journal/*"],
                   cwd=mallory.root, env=mallory.env, check=True, capture_output=True)
    proc = victim.ok("pull")
    assert proc.stdout.endswith("; 1 quarantined, not indexed (prov status names them).\n"), \
        proc.stdout
    assert "Traceback" not in proc.stderr
    return proc


def status_line(victim: Repo) -> str:
    lines = [x for x in victim.ok("status").stdout.splitlines() if x.startswith("quarantined")]
    assert len(lines) == 1, lines
    return lines[0]


def _malformed(mallory: Repo) -> dict[str, tuple[bytes | dict | list, str]]:
    record = capture_record(mallory)
    no_id = {k: v for k, v in record.items() if k != "id"}
    return {
        "bad JSON": (b'{"id": "act-00", broken', "record.json is not JSON"),
        "a JSON list": ([record], "record.json holds a JSON list, not an object"),
        "missing id": (no_id, "the record has no id"),
        "started 5": (capture_record(mallory, started=5), "started is 5, not an ISO-8601 time"),
        "used ../../etc/passwd": (
            capture_record(mallory, used=[{"path": "../../etc/passwd", "role": "read"}]),
            "used path '../../etc/passwd' leaves the repository"),
        "used /etc/passwd": (
            capture_record(mallory, used=[{"path": "/etc/passwd", "role": "read"}]),
            "used path '/etc/passwd' leaves the repository"),
        "used .git/config": (
            capture_record(mallory, used=[{"path": ".git/config", "role": "read"}]),
            "used path '.git/config' is inside .git/"),
        "node labelled Foo": (
            graph_record([{"id": "ex:x", "label": "Foo", "properties": {}}], []),
            "graph node 'ex:x' is labelled 'Foo', not Entity, Activity or Agent"),
        "edge type Bar": (
            graph_record([{"id": "ex:x", "label": "Entity", "properties": {}}],
                         [{"type": "Bar", "source": "ex:x", "target": "ex:x",
                           "properties": {}}]),
            "graph edge type 'Bar' is not one of the five PROV relations"),
    }


MALFORMED = ["bad JSON", "a JSON list", "missing id", "started 5", "used ../../etc/passwd",
             "used /etc/passwd", "used .git/config", "node labelled Foo", "edge type Bar"]


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_record_is_quarantined_and_breaks_nothing(scene, neo4j_uri, case):
    victim, mallory, mine = scene
    content, reason = _malformed(mallory)[case]
    commit = plant(mallory, content)
    pull_one_bad(victim, mallory)
    line = status_line(victim)
    assert line.startswith(f"quarantined: 1 record from clone {clone_id(mallory)} (first: ")
    assert line.endswith(f": {reason})"), line
    [held] = quarantined(victim)
    assert held["chain"] == clone_id(mallory) and held["commit"] == commit
    assert held["reason"] == reason
    assert_reads(victim, neo4j_uri)
    assert_history_kept(victim, mine)
    assert [h["commit"] for h in quarantined(victim)] == [commit]  # the same after rebuild


def test_a_forged_copy_of_my_activity_is_quarantined(scene, neo4j_uri):
    victim, mallory, mine = scene
    target = mine[-1]  # the victim's first `cp`
    forged = capture_record(mallory, id=target["id"], command="rm -rf / (forged)",
                            activity={"utility": "rm"}, ended="2099-01-01T00:00:00+00:00")
    plant(mallory, forged)
    pull_one_bad(victim, mallory)
    assert status_line(victim).endswith(
        f"(first: {target['id']}: reuses activity id {target['id']} of clone "
        f"{clone_id(victim)})")
    assert_history_kept(victim, mine)
    victim.ok("rebuild")
    assert_history_kept(victim, mine)
    assert_reads(victim, neo4j_uri)
    assert "forged" not in victim.ok("log").stdout


def test_a_copy_with_a_nonce_fails_its_proof(scene):
    victim, mallory, mine = scene
    target = mine[-1]
    forged = capture_record(mallory, id=target["id"], nonce="00" * 16, command="rm -rf / (forged)")
    plant(mallory, forged)
    pull_one_bad(victim, mallory)
    [held] = quarantined(victim)
    assert held["reason"] == (f"id {target['id']} is not in clone {clone_id(mallory)}'s "
                              "namespace (nonce mismatch)")
    assert_history_kept(victim, mine)


@pytest.mark.parametrize("when", ["2099-01-01T00:00:00+00:00", "1999-01-01T00:00:00+00:00"])
def test_a_graph_record_cannot_overwrite_my_entity(scene, neo4j_uri, when):
    """Whether it ended after the victim's work or was backdated before it."""
    victim, mallory, mine = scene
    with victim.store() as store:
        [entity] = [n for n in store.all_nodes() if n.name == "b.txt@v1"]
        activity = store.node(mine[-1]["id"])
    nodes = [{"id": entity.id, "label": "Entity", "properties": {"name": "pwned"}},
             {"id": "ex:evil", "label": "Activity", "properties": {"name": "evil"}}]
    edges = [{"type": "wasGeneratedBy", "source": entity.id, "target": "ex:evil",
              "properties": {}}]
    plant(mallory, graph_record(nodes, edges, started=when, ended=when))
    pull_one_bad(victim, mallory)
    assert f"would change node '{entity.id}', which clone {clone_id(victim)} makes" \
        in status_line(victim)
    with victim.store() as store:
        assert store.node(entity.id).properties == entity.properties
        assert store.node(activity.id).properties == activity.properties
        assert store.node("ex:evil") is None
        assert not [e for e in store.all_edges() if e.target == "ex:evil"]
    assert_reads(victim, neo4j_uri)
    with victim.store() as store:  # after the rebuild among them
        assert store.node(entity.id).properties == entity.properties


def test_an_edge_from_my_node_is_refused(scene):
    victim, mallory, mine = scene
    edges = [{"type": "wasAssociatedWith", "source": mine[-1]["id"], "target": "ex:mallory",
              "properties": {}}]
    nodes = [{"id": "ex:mallory", "label": "Agent", "properties": {"name": "Mallory"}}]
    plant(mallory, graph_record(nodes, edges))
    pull_one_bad(victim, mallory)
    assert f"would change node '{mine[-1]['id']}', which clone {clone_id(victim)} makes" \
        in status_line(victim)
    with victim.store() as store:
        assert store.node("ex:mallory") is None


def test_nothing_unexpected_in_an_index_breaks_export_or_sync(repo, neo4j_uri):
    """The defence behind the door: a label or type already in an index is left out, counted."""
    repo.ok("sh", "-c", "echo 1 > a.txt")
    with repo.store() as store:
        pass
    from provgraph.model import Edge, Node
    from provgraph.stores.embedded import EmbeddedStore

    with EmbeddedStore(store.path) as index:
        index.write([Node("x:foo", "Foo", {"name": "foo"})], [Edge("Bar", "x:foo", "x:foo")],
                    "p")
    for fmt in ("json", "provn", "ttl", "xml"):
        proc = repo.prov("export", "--format", fmt)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ("prov: warning: export left out 1 node(s) of a label other than "
                               "Entity, Activity and Agent and 1 edge(s) of a type other than "
                               "the five PROV relations\n")
        assert "foo" not in proc.stdout
    repo.ok("config", "set", "neo4j.uri", neo4j_uri)
    proc = repo.prov("sync")
    assert proc.returncode == 0, proc.stderr
    assert "sync left out 1 node(s)" in proc.stderr and proc.stderr.count("\n") == 1


def test_a_teammate_is_no_attacker(scene, tmp_path, neo4j_uri):
    """Legitimate records arrive and are indexed: captures, a view, an imported document, a
    round trip of the victim's own graph."""
    victim, bob, mine = scene
    bob.ok("sh", "-c", "cat a.txt a.txt > d.txt")
    bob.ok("fileview", "-n", "view.csv", "-q", "select 1 as one")
    doc = {"prefix": {"ex": "http://example.org/"},
           "entity": {"ex:raw": {"prov:label": "raw data"}},
           "activity": {"ex:clean": {}},
           "wasGeneratedBy": {"_:g": {"prov:entity": "ex:raw", "prov:activity": "ex:clean"}}}
    (tmp_path / "doc.json").write_text(json.dumps(doc))
    bob.ok("import", str(tmp_path / "doc.json"))
    exported = tmp_path / "all.json"
    bob.ok("export", "-o", str(exported))
    bob.ok("import", str(exported))  # a round trip: nothing new
    bob.ok("push")
    proc = victim.ok("pull")
    assert "quarantined" not in proc.stdout and proc.stderr == ""
    assert quarantined(victim) == []
    assert not [x for x in victim.ok("status").stdout.splitlines() if "quarantin" in x]
    with victim.store() as store:
        assert store.node("ex:raw").name == "raw data"
        assert store.node("ex:clean").label == "Activity"
    logged = json.loads(victim.ok("log", "--json").stdout)
    assert "sh -c 'cat a.txt a.txt > d.txt'" in [a["properties"].get("command") for a in logged]
    assert "view.csv" in victim.ok("fileview", "list").stdout
    assert_history_kept(victim, mine)
    assert_reads(victim, neo4j_uri)
    assert quarantined(victim) == []


def test_the_verdict_does_not_depend_on_the_order_of_pulls(tmp_path, repo_factory):
    """Bob and Mallory push to two remotes; Carol pulls Bob first, Dave Mallory first. Both
    end with the same index and the same quarantine: Bob's old-style record and Mallory's copy
    of its id are both held (neither proves the id, neither is Carol's or Dave's own), and so
    are two imports declaring one node two ways."""
    alice = repo_factory("alice")
    alice.write("a.txt", "1\n")
    alice.commit_all("data")
    bob = clone_through_remote(alice, tmp_path)
    mallory = Repo(tmp_path / "mallory", alice.env)
    subprocess.run(["git", "clone", "-q", str(tmp_path / "remote.git"), str(mallory.root)],
                   check=True, env=alice.env)
    other = tmp_path / "other.git"
    subprocess.run(["git", "init", "-q", "--bare", str(other)], check=True)
    legacy = "act-" + "12" * 8
    plant(bob, capture_record(bob, id=legacy, command="bob's old work"))
    plant(bob, graph_record([{"id": "ex:model", "label": "Entity",
                              "properties": {"name": "model", "acc": 0.9}}], [],
                            id="imp-" + "01" * 8))
    plant(bob, capture_record(bob, id="act-" + "34" * 8, command="bob's other work",
                              ended="2030-01-03T00:00:00+00:00"))
    plant(mallory, capture_record(mallory, id=legacy, command="rm -rf / (forged)",
                                  ended="2031-01-01T00:00:00+00:00"))
    plant(mallory, graph_record([{"id": "ex:model", "label": "Entity",
                                  "properties": {"name": "pwned"}}], [], id="imp-" + "02" * 8))
    bob.ok("push")
    mallory.git("remote", "add", "other", str(other))
    mallory.ok("push", "other")

    carol = Repo(tmp_path / "carol", alice.env)
    dave = Repo(tmp_path / "dave", alice.env)
    for clone in (carol, dave):
        subprocess.run(["git", "clone", "-q", str(tmp_path / "remote.git"), str(clone.root)],
                       check=True, env=alice.env)
        clone.git("remote", "add", "other", str(other))
    carol.ok("pull", "origin")
    carol.ok("log")
    carol.ok("pull", "other")
    dave.ok("pull", "other")
    dave.ok("log")
    dave.ok("pull", "origin")

    def state(clone: Repo):
        rows = clone.ok("sql", "select id, label, name, properties from nodes order by id").stdout
        held = {(h["chain"], h["commit"], h["reason"]) for h in quarantined(clone)}
        return rows, held

    assert state(carol) == state(dave)
    rows, held = state(carol)
    assert "bob's other work" in rows and "forged" not in rows and "pwned" not in rows
    assert "bob's old work" not in rows and "ex:model" not in rows
    reasons = sorted(reason for _c, _k, reason in held)
    assert reasons == sorted([
        f"activity id {legacy} is claimed by several clones "
        f"({', '.join(sorted([clone_id(bob), clone_id(mallory)]))})"] * 2 + [
        f"declares node 'ex:model', which clone {clone_id(mallory)} declares otherwise",
        f"declares node 'ex:model', which clone {clone_id(bob)} declares otherwise"])
    carol.ok("rebuild")
    assert state(carol) == (rows, held)


def test_a_chain_not_named_like_a_clone_is_not_taken_in(scene):
    victim, mallory, _mine = scene
    plant(mallory, capture_record(mallory))
    mallory.git("update-ref", "refs/prov/journal/NOT-A-CLONE",
                mallory.git("rev-parse", f"refs/prov/journal/{clone_id(mallory)}").strip())
    mallory.ok("push")
    proc = victim.ok("pull")
    assert "NOT-A-CLONE" in proc.stderr and proc.stderr.count("\n") == 1
    assert victim.git("for-each-ref", "refs/prov/journal/NOT-A-CLONE") == ""


def test_a_pulled_record_cannot_rename_my_agent(scene):
    """Mallory may claim Alice's email (attribution is what a record says, as in git), but the
    agent node keeps the name Alice's own records give it, even with Mallory's record last."""
    victim, mallory, mine = scene
    forged = capture_record(mallory, id="act-" + "ef" * 8, command="ls",
                            agent={"name": "rm -rf / (forged)", "email": "alice@example.com"},
                            ended="2099-01-01T00:00:00+00:00")
    plant(mallory, forged)
    mallory.ok("push")
    assert "quarantined" not in victim.ok("pull").stdout
    for _ in ("incremental", "rebuilt"):
        with victim.store() as store:
            [agent] = [n for n in store.all_nodes() if n.label == "Agent"]
        assert agent.properties["name"] == "Alice"
        assert_history_kept(victim, mine)
        victim.ok("rebuild")


def test_a_pulled_annotation_never_lands_on_a_shared_version(scene):
    """An ingestor's annotation (`entities`) describes files the command generated; a record
    that first meets a.txt (a version every clone shares) cannot annotate it, even backdated."""
    victim, mallory, _mine = scene
    forged = capture_record(mallory, id="act-" + "fe" * 8, command="cat a.txt",
                            used=[{"path": "a.txt", "role": "read"}],
                            entities={"a.txt": {"evil.note": "pwned"}},
                            started="1999-01-01T00:00:00+00:00",
                            ended="1999-01-01T00:00:01+00:00")
    plant(mallory, forged)
    mallory.ok("push")
    assert "quarantined" not in victim.ok("pull").stdout
    with victim.store() as store:
        [a] = [n for n in store.all_nodes() if n.name == "a.txt@v1"]
    assert "evil.note" not in a.properties
