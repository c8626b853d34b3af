"""Journal format 2: records carry what their snapshots say, content lives on its own chain,
the journal alone rebuilds the same index, and format 1 journals are migrated on first use."""

from __future__ import annotations

import json
import shutil
import subprocess

from conftest import Repo
from format1 import to_format1


def _graph(repo: Repo) -> tuple[set, set]:
    with repo.store() as store:
        nodes = {(n.id, n.label, json.dumps(n.properties, sort_keys=True, default=str))
                 for n in store.all_nodes()}
        edges = {(e.type, e.source, e.target, json.dumps(e.properties, sort_keys=True))
                 for e in store.all_edges()}
    return nodes, edges


def _chain(repo: Repo) -> str:
    return "refs/prov/journal/" + repo.read(".git/prov/clone-id").strip()


def _records(repo: Repo) -> list[dict]:
    return [json.loads(repo.git("cat-file", "blob", f"{c}:record.json"))
            for c in repo.git("rev-list", "--reverse", _chain(repo)).split()]


def _history(repo: Repo) -> None:
    """Captures that exercise every part of a record's diff: outputs, used files, an edit
    outside prov, a deletion, a file rewritten with the same bytes."""
    repo.write("data.csv", "x\n1\n2\n")
    repo.ok("sh", "-c", "sort data.csv > sorted.csv")
    repo.write("data.csv", "x\n3\n")  # outside prov
    repo.ok("sh", "-c", "sort data.csv > sorted.csv; cat data.csv > copy.csv")
    repo.ok("sh", "-c", "cat data.csv > copy.csv")  # the same bytes again
    repo.ok("rm", "copy.csv")


def test_a_record_commit_holds_the_record_only_and_content_is_kept_apart(repo: Repo):
    repo.write("in.txt", "hello\n")
    repo.ok("sh", "-c", "cat in.txt > out.txt")
    tip = _chain(repo)
    assert repo.git("ls-tree", "--name-only", tip).split() == ["record.json"]
    record = _records(repo)[-1]
    assert record["format"] == 2
    diff = record["diff"]
    made = {change[0]: change for change in diff["made"]}
    assert set(made) == {"out.txt"} and made["out.txt"][1] == "A"
    out_oid = made["out.txt"][3]
    assert diff["sizes"][out_oid] == 6
    assert diff["used"] == [repo.git("rev-parse", f"{record['before']}:in.txt").strip()]
    content = "refs/prov/content/" + repo.read(".git/prov/clone-id").strip()
    kept = repo.git("ls-tree", content).split()
    assert record["after"] in kept and record["before"] in kept


def test_the_journal_alone_rebuilds_the_same_index(repo: Repo, tmp_path):
    _history(repo)
    expected = _graph(repo)
    assert len(expected[0]) > 8
    # a clone that has the journal and nothing else: no snapshot tree, no blob
    bare = tmp_path / "journal-only.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True, env=repo.env)
    repo.git("push", "-q", str(bare), "HEAD:refs/heads/main", f"{_chain(repo)}:{_chain(repo)}")
    other = Repo(tmp_path / "other", repo.env)
    subprocess.run(["git", "clone", "-q", str(bare), str(other.root)], check=True, env=repo.env)
    other.git("fetch", "-q", "origin", "refs/prov/journal/*:refs/prov/journal/*")
    record = _records(repo)[1]
    assert subprocess.run(["git", "cat-file", "-e", record["after"]], cwd=other.root,
                          env=repo.env).returncode != 0  # no content here
    assert _graph(other) == expected
    other.ok("rebuild")
    assert _graph(other) == expected


def test_a_format1_journal_is_migrated_on_first_use(repo: Repo):
    _history(repo)
    expected = _graph(repo)
    ids = [r["id"] for r in _records(repo)]
    to_format1(repo.root, repo.env)
    old = repo.git("rev-list", _chain(repo)).split()
    assert {r["format"] for r in _records(repo)} == {1}
    assert "before" in repo.git("ls-tree", "--name-only", _chain(repo)).split()
    shutil.rmtree(repo.path(".git/prov/index.duckdb"), ignore_errors=True)
    repo.path(".git/prov/index.duckdb").unlink(missing_ok=True)

    repo.ok("log")  # the first read migrates

    records = _records(repo)
    assert [r["id"] for r in records] == ids and {r["format"] for r in records} == {2}
    assert repo.git("ls-tree", "--name-only", _chain(repo)).split() == ["record.json"]
    messages = repo.git("log", "--format=%B", _chain(repo))
    assert all(f"(migrated from {commit})" in messages for commit in old)
    content = "refs/prov/content/" + repo.read(".git/prov/clone-id").strip()
    kept = set(repo.git("ls-tree", "-r", "-t", "--format=%(objectname)", content).split())
    assert {r["after"] for r in records} <= kept
    assert _graph(repo) == expected
    repo.ok("rebuild")
    assert _graph(repo) == expected
    repo.ok("sh", "-c", "echo more > more.txt")  # and the chain goes on
    assert len(_records(repo)) == len(ids) + 1
