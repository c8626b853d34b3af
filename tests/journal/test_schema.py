"""The journal's schema (provgraph/journal/schema.py): every kind of record provgraph writes passes
it, written by the real `prov` (so validation has no false positives), and what readers could not
take is refused with a reason of a few words."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import PROV, clone_through_remote
from test_hostile_pull import capture_record, clone_id, plant, pull_one_bad, quarantined

from provgraph.journal import schema
from provgraph.journal.ids import owned_id
from provgraph.journal.records import Journal, new_activity_id
from provgraph.repo import Repository


def raw_records(repo) -> list[dict]:
    found = Repository.discover(repo.root)
    journal = Journal(found)
    return [json.loads(data) for _c, _chain, data in journal.raw_entries({}, journal.tips())]


def test_every_record_provgraph_writes_is_sound(repo, tmp_path):
    repo.write("data.csv", "1,cat\n2,dog\n")
    repo.write("big.bin", "x" * 2000)
    repo.write(".gitignore", "ignored.txt\n")
    repo.commit_all("data")
    repo.ok("config", "set", "capture.large_file_limit", "1000")
    repo.ok("cp", "data.csv", "copy.csv")  # a capture (traced where tracing works)
    repo.ok("sh", "-c", "cat data.csv > ignored.txt; echo y >> big.bin")  # ignored, large
    repo.ok("-m", "a note", "sort", "data.csv")
    repo.ok("git", "add", "-A")
    repo.ok("git", "commit", "-qm", "commit under prov")  # the git ingestor's record
    repo.ok("fileview", "-c", "-n", "cats.csv", "-q", "select * from {data.csv:noheader}")
    repo.ok("fileview", "-n", "virtual.csv", "-q", "select 1 as one")
    repo.ok("fileview", "drop", "virtual.csv")
    doc = {"prefix": {"ex": "http://example.org/"}, "entity": {"ex:e": {"ex:n": 1}},
           "activity": {"ex:a": {}}, "used": {"_:u": {"prov:activity": "ex:a",
                                                       "prov:entity": "ex:e"}}}
    (tmp_path / "doc.json").write_text(json.dumps(doc))
    repo.ok("import", str(tmp_path / "doc.json"))
    # an interrupted capture, recorded by the next prov
    script = "open('ready.txt','w').write('r'); import time; time.sleep(60)"
    proc = subprocess.Popen([PROV, sys.executable, "-c", script], cwd=repo.root, env=repo.env,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while not repo.path("ready.txt").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    repo.ok("status")

    records = raw_records(repo)
    assert any(r.get("status") == "interrupted" for r in records)
    assert {"graph", "view"} <= {r.get("kind") for r in records}
    assert any("fileview" in r for r in records) and any("large" in r for r in records)
    assert any(r.get("activity", {}).get("git.commit") for r in records)
    for record in records:
        assert schema.problem(record, 40) is None, record
        if record.get("kind") in (None, "graph"):  # ids proven by the clone's nonce
            prefix = record["id"].split("-")[0]
            assert record["id"] == owned_id(prefix, clone_id(repo), record["nonce"])
    assert json.loads(repo.ok("status", "--json").stdout)["quarantine"] == []
    assert len(list(Journal(Repository.discover(repo.root)).entries())) == len(records)


def test_activity_ids_keep_their_format_and_prove_their_clone():
    ident, nonce = new_activity_id("9f2c0a1b2c3d")
    assert schema.ACTIVITY_ID.match(ident)
    assert owned_id("act", "9f2c0a1b2c3d", nonce) == ident
    assert owned_id("act", "000000000000", nonce) != ident  # another clone: another id


HEAD = "a" * 40


def base(**fields) -> dict:
    record = {"id": "act-" + "0" * 16, "started": "2030-01-02T03:04:05.000001+00:00",
              "ended": "2030-01-02T03:04:06+00:00", "before": HEAD, "after": HEAD}
    record.update(fields)
    return record


@pytest.mark.parametrize(("record", "reason"), [
    (base(id=7), "id 7 is not act-<16 hex digits>"),
    (base(id="act-../../x"), "id 'act-../../x' is not act-<16 hex digits>"),
    (base(ended="yesterday"), "ended is 'yesterday', not an ISO-8601 time"),
    (base(ended="2030-13-45T00:00:00"), "ended is '2030-13-45T00:00:00', not an ISO-8601 time"),
    (base(before="HEAD"), "before is 'HEAD', not a git object id"),
    (base(prev="b" * 39), f"prev is '{'b' * 39}', not a git object id"),
    (base(agent="mallory"), "agent is a JSON string, not an object"),
    (base(agent={"name": 5}), "agent name is 5, not a string"),
    (base(cwd="../.."), "cwd '../..' leaves the repository"),
    (base(used="a.txt"), "used is a JSON string, not a list"),
    (base(used=[{"path": "a/./b"}]), "used path 'a/./b' is not a normalised repository path"),
    (base(used=[{"path": ".GIT/hooks"}]), "used path '.GIT/hooks' is inside .git/"),
    (base(used=[{"path": "a\\b", "role": "read"}, {"path": "sub/.git/index"}]), None),
    (base(fileview={"view": {"name": "o.csv", "query": "select 1"},
                    "inputs": {"sub/.git/config": None}}),
     "fileview input 'sub/.git/config' is inside .git/"),
    (base(used=[{"path": "a", "oid": "zz"}]), "used oid is 'zz', not a git object id"),
    (base(named=["/etc"]), "named '/etc' leaves the repository"),
    (base(activity={"x": 2**70}), "activity property 'x' is an integer beyond 64 bits"),
    (base(activity={"x": "\ud800"}), "activity property 'x' is not valid Unicode text"),
    (base(activity={"": 1}), "activity has a property with an empty name"),
    (base(entities={"b.txt": {"name": "pwned"}}),
     "the annotation of 'b.txt' would replace its 'name'"),
    (base(large={"big": {"sha256": "0" * 64, "size": -1, "pointer": HEAD}}),
     "large file 'big' has no size"),
    (base(trace={"written": {"../x": True}}), "trace written path '../x' leaves the repository"),
    (base(fileview={"view": {"name": "../out.csv", "query": "select 1"}}),
     "view name '../out.csv' leaves the repository"),
    ({"kind": "view", "id": "view-" + "0" * 16, "started": "2030-01-01T00:00:00+00:00",
      "ended": "2030-01-01T00:00:00+00:00", "action": "define",
      "view": {"name": "v.csv", "kind": "script", "script": "true", "stdin": ["/etc/shadow"]}},
     "view stdin '/etc/shadow' leaves the repository"),
    ({"kind": "graph", "id": "imp-" + "0" * 16, "started": "2030-01-01T00:00:00+00:00",
      "ended": "2030-01-01T00:00:00+00:00", "nodes": [{"id": "", "label": "Entity"}]},
     "a graph node id is '', not a non-empty string"),
    ({"kind": 3}, "kind 3 is not a string"),
    (None, "record.json holds a JSON null, not an object"),
])
def test_what_readers_cannot_take_is_refused(record, reason):
    assert schema.problem(record, 40) == reason


def test_later_kinds_and_formats_are_skipped_not_judged():
    assert not schema.readable({"kind": "forecast", "id": 1})
    assert not schema.readable(base(format=3))
    assert schema.problem({"kind": "forecast"}, 40) is None
    assert schema.readable(base())


def test_a_snapshot_tree_holding_dot_dot_is_quarantined(tmp_path, repo_factory):
    """git mktree accepts an entry named `..`: a diff of such a tree names `../passwd`."""
    victim = repo_factory("victim")
    mallory = clone_through_remote(victim, tmp_path)
    victim.ok("true")
    victim.ok("push")

    def git(*args: str, input: bytes | None = None) -> str:
        return subprocess.run(["git", *args], cwd=mallory.root, env=mallory.env, input=input,
                              capture_output=True, check=True).stdout.decode().strip()

    blob = git("hash-object", "-w", "--stdin", input=b"root:x:0:0\n")
    inner = git("mktree", input=f"100644 blob {blob}\tpasswd\n".encode())
    up = git("mktree", input=f"040000 tree {inner}\t..\n".encode())
    head = git("rev-parse", "HEAD^{tree}")
    commit = plant(mallory, capture_record(mallory, before=head, after=up))
    pull_one_bad(victim, mallory)
    [held] = quarantined(victim)
    assert held["commit"] == commit
    assert held["reason"] == "its snapshot holds the path '../passwd', which leaves the repository"
    assert "passwd" not in victim.ok("sql", "select name from nodes").stdout
