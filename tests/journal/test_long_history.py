"""A long journal costs the reading paths what is new, not the history (issue 14, item 3).

The proof here is not a stopwatch: once a reader has read the journal, the commits of the old
records are deleted from the object store. A path that walked the history again (`git rev-list
--count` of every chain, a listing that read every record) would fail on the missing objects;
paths that read only what is new keep working. The journal generator of the benchmarks is
tested too: what it writes is what captures write, and the quarantine accepts all of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from generate_journal import generate, verify

from provgraph.journal import quarantine
from provgraph.journal.records import REF_PREFIX, Journal
from provgraph.repo import Repository


def _journal(repo) -> Journal:
    return Journal(Repository.discover(repo.root))


def _forget_old_commits(repo, keep: int = 2) -> int:
    """Delete the loose commit objects of this clone's records but the newest `keep` ones."""
    tip = repo.git("rev-parse", REF_PREFIX + repo.read(".git/prov/clone-id").strip()).strip()
    old = repo.git("rev-list", tip).split()[keep:]
    for commit in old:
        os.unlink(repo.root / ".git" / "objects" / commit[:2] / commit[2:])
    assert repo.git("rev-list", "--count", tip, check=False) == ""  # a walk now fails
    return len(old)


def test_readers_never_walk_again_what_they_have_read(repo):
    for i in range(6):
        repo.ok("sh", "-c", f"echo {i} > f{i}.txt")
    repo.ok("log", "-n", "1")  # index, quarantine ledger and counts caught up
    assert _journal(repo).count() == 6
    assert _forget_old_commits(repo) == 4

    repo.ok("sh", "-c", "echo new > g.txt")
    repo.ok("true")
    assert _journal(repo).count() == 8
    status = json.loads(repo.ok("status", "--json").stdout)
    assert status["journal"]["records"] == 8
    assert status["index"]["pending"] == 2
    assert status["quarantine"] == []
    log = repo.ok("log", "-n", "2").stdout  # the index catches up with the two new records
    assert "g.txt@v1" in log
    status = json.loads(repo.ok("status", "--json").stdout)
    assert (status["index"]["records"], status["index"]["pending"]) == (8, 0)


def test_count_is_the_number_of_records_on_every_chain(repo_factory, tmp_path):
    alice = repo_factory("alice")
    generate(alice.root, 30, chains=3, seed=1)
    repo = Repository.discover(alice.root)
    tips = Journal(repo).tips()
    walked = int(alice.git("rev-list", "--count", *tips.values()))
    assert walked == 30
    assert Journal(repo).count() == 30
    alice.ok("true")
    assert Journal(repo).count() == 31
    # counted from the ledger: kept when it is lost or damaged (made again from the journal)
    Path(repo.prov_path(quarantine.FILE)).write_text("{damaged")
    assert Journal(repo).count() == 31
    quarantine.reset(repo)
    assert Journal(repo).count() == 31


def test_a_pull_of_a_few_records_into_a_long_history_counts_those(repo_factory, tmp_path):
    alice = repo_factory("alice")
    generate(alice.root, 40, chains=2, seed=2)
    alice.ok("true")
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True, env=alice.env)
    alice.git("remote", "add", "origin", str(bare))
    alice.git("push", "-q", "origin", "HEAD")
    alice.ok("push")
    from conftest import Repo

    subprocess.run(["git", "clone", "-q", str(bare), str(tmp_path / "bob")], check=True,
                   env=alice.env)
    bob = Repo(tmp_path / "bob", alice.env)
    assert "Pulled 41 new record(s)" in bob.ok("pull").stdout
    for _ in range(3):
        alice.ok("true")
    alice.ok("push")
    assert "Pulled 3 new record(s)" in bob.ok("pull").stdout
    assert _journal(bob).count() == 44
    assert "Pulled 0 new record(s)" in bob.ok("pull").stdout


def test_activity_id_claims_are_judged_by_id_across_pulls(repo_factory):
    """The claims live in their own database, looked up by id: a copy of an id judged long ago
    is still caught when it arrives later, and the verdicts survive losing the database."""
    alice = repo_factory("alice")
    generate(alice.root, 20, chains=2, seed=3)
    repo = Repository.discover(alice.root)
    journal = Journal(repo)
    assert quarantine.listing(journal) == []
    chains = journal.tips()
    victim_chain = next(chain for chain in chains if chain != repo.clone_id)
    # an old-style record (no nonce) in a new chain, claiming an id judged long ago
    first = alice.git("rev-list", "--reverse", chains[victim_chain]).split()[0]
    record = json.loads(alice.git("cat-file", "blob", f"{first}:record.json"))
    copy = {key: value for key, value in record.items() if key != "nonce"}
    intruder = "ab" * 6
    blob = _git(alice, "hash-object", "-w", "--stdin", stdin=json.dumps(copy))
    tree = _git(alice, "mktree", stdin=f"100644 blob {blob}\trecord.json\n")
    commit = _git(alice, "commit-tree", tree, "-m", "prov: copy")
    alice.git("update-ref", REF_PREFIX + intruder, commit)

    rows = quarantine.listing(Journal(repo))
    assert [(row["chain"], row["id"]) for row in rows] == [(intruder, record["id"])]
    assert "reuses activity id" in rows[0]["reason"]
    claims = Path(repo.prov_path(quarantine.CLAIMS_FILE))
    assert claims.exists()
    claims.write_bytes(b"not a database" * 100)  # damaged: judged again, same verdicts
    Path(repo.prov_path(quarantine.FILE)).unlink()
    assert quarantine.listing(Journal(repo)) == rows


def _git(repo, *args: str, stdin: str = "") -> str:
    return subprocess.run(["git", *args], cwd=repo.root, env=repo.env, input=stdin, text=True,
                          check=True, capture_output=True).stdout.strip()


def test_an_old_ledger_with_every_claim_inside_is_judged_again(repo):
    repo.ok("sh", "-c", "echo 1 > a.txt")
    repo.ok("true")
    r = Repository.discover(repo.root)
    quarantine.listing(Journal(r))
    path = Path(r.prov_path(quarantine.FILE))
    data = json.loads(path.read_text())
    assert "claims" not in data and data["version"] == quarantine.VERSION
    old = {**data, "version": 1, "claims": {}}
    path.write_text(json.dumps(old))
    assert Journal(r).count() == 2
    assert json.loads(path.read_text())["version"] == quarantine.VERSION


@pytest.mark.parametrize("chains", [1, 3])
def test_the_generated_journal_is_what_captures_write(repo, chains):
    repo.ok("true")  # a real record, to compare with
    real = json.loads(repo.git("cat-file", "blob",
                               f"{REF_PREFIX}{repo.read('.git/prov/clone-id').strip()}"
                               ":record.json"))
    other = repo.root.parent / f"generated{chains}"
    other.mkdir()
    repo.git("init", "-q", str(other))
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "start"], cwd=other,
                   check=True, env=repo.env)
    tips = generate(other, 25, chains=chains, seed=4)
    verify(other)
    g = Repository.discover(other)
    assert len(tips) == chains and g.clone_id in tips
    journal = Journal(g)
    assert journal.count() == 25
    assert quarantine.listing(journal) == []
    entries = list(journal.entries())
    assert len(entries) == 25
    for entry in entries:  # format 1 (trees linked): a real record less what format 2 added
        assert set(entry.record) == set(real) - {"diff"}, set(entry.record) ^ set(real)
        assert entry.record["format"] == 1
        assert entry.record["project"] == g.project
    tree = subprocess.run(["git", "ls-tree", "--name-only", entries[-1].commit], cwd=other,
                          check=True, capture_output=True, text=True).stdout.split()
    assert tree == ["after", "before", "record.json"]
