"""Reads answered from the search copy when nothing is new (provgraph.journal.fresh) give
exactly what the full path (catch-up, DuckDB) gives, and are taken only when they may be."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Repo, clone_through_remote

READS = [("log",), ("log", "-n", "2"), ("log", "--json"), ("show", "b.txt"),
         ("show", "--json", "a.txt"), ("show", "gone.txt"), ("lineage", "c.txt"),
         ("lineage", "--descendants", "a.txt"), ("lineage", "--json", "c.txt"),
         ("show", "latest")]

#: Runs one prov subcommand in this interpreter and says, on stderr's last line, whether it
#: loaded DuckDB (the full path does, the shortcut must not).
PROBE = """
import sys
from provgraph.cli import main
try:
    main(sys.argv[1:])
except SystemExit as done:
    code = done.code
sys.stdout.flush()
print("duckdb" if "duckdb" in sys.modules else "no duckdb", file=sys.stderr)
sys.exit(code or 0)
"""


def probe(repo: Repo, *args: str) -> tuple[str, bool]:
    """(stdout, whether DuckDB was loaded) of `prov ARGS`, which must succeed."""
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=repo.root, env=repo.env,
                          text=True, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout, proc.stderr.strip().splitlines()[-1] == "duckdb"


def full(repo: Repo, *args: str) -> str:
    """What the full path answers: the search copy removed first, so nothing can shortcut."""
    for name in ("search.sqlite", "search.sqlite-wal", "search.sqlite-shm"):
        (repo.root / ".git" / "prov" / name).unlink(missing_ok=True)
    out, loaded = probe(repo, *args)
    assert loaded
    return out


def history(repo: Repo) -> None:
    repo.write("a.txt", "a\n")
    repo.ok("sh", "-c", "cat a.txt > b.txt")
    repo.ok("-m", "second [bold]note[/]", "sh", "-c", "cat b.txt > c.txt; echo x > gone.txt")
    repo.ok("rm", "gone.txt")
    repo.write("a.txt", "changed outside prov\n")
    repo.ok("sh", "-c", "cat a.txt c.txt > c.txt.new && mv c.txt.new c.txt")


def check_same(repo: Repo, reads=READS) -> None:
    """Each read: the full path's answer, then the shortcut's (DuckDB not loaded), equal."""
    for args in reads:
        expected = full(repo, *args)
        got, loaded = probe(repo, *args)
        assert got == expected, args
        assert not loaded, args


def test_a_read_with_nothing_new_answers_from_the_copy_as_the_index_does(repo: Repo):
    history(repo)
    check_same(repo)


def test_a_capture_sends_the_next_read_the_full_way(repo: Repo):
    history(repo)
    probe(repo, "log")
    probe(repo, "log")
    repo.ok("sh", "-c", "cat b.txt > d.txt")
    out, loaded = probe(repo, "log", "-n", "1")
    assert loaded and "d.txt@v1" in out
    again, loaded = probe(repo, "log", "-n", "1")
    assert not loaded and again == out
    check_same(repo, [("log",), ("lineage", "d.txt")])


def test_a_rebuild_and_a_pull_send_the_next_read_the_full_way(repo: Repo, tmp_path: Path):
    history(repo)
    bob = clone_through_remote(repo, tmp_path)
    repo.ok("push")
    bob.ok("pull")
    bob.write("bob.txt", "bob\n")
    bob.ok("sh", "-c", "cat bob.txt > both.txt")
    probe(bob, "log")
    _, loaded = probe(bob, "log")
    assert not loaded
    repo.ok("sh", "-c", "cat c.txt > e.txt")
    repo.ok("push")
    bob.ok("pull")
    out, loaded = probe(bob, "log", "-n", "3")
    assert loaded and "e.txt@v1" in out
    assert out == full(bob, "log", "-n", "3")
    probe(bob, "log")
    bob.ok("rebuild")
    _, loaded = probe(bob, "show", "both.txt")
    assert loaded
    check_same(bob, [("log",), ("lineage", "both.txt"), ("show", "e.txt")])


@pytest.mark.parametrize("damage", ["garbage", "truncated", "deleted", "emptied"])
def test_a_damaged_or_deleted_copy_gives_the_same_answer(repo: Repo, damage: str):
    history(repo)
    expected = {args: full(repo, *args) for args in READS[:4]}
    probe(repo, "log")
    search = repo.root / ".git" / "prov" / "search.sqlite"
    assert search.exists()
    if damage == "garbage":
        search.write_bytes(os.urandom(search.stat().st_size))
    elif damage == "truncated":
        with open(search, "r+b") as handle:
            handle.truncate(search.stat().st_size // 2)
    elif damage == "emptied":
        search.write_bytes(b"")
    else:
        search.unlink()
    for args in expected:
        proc = repo.prov(*args)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stdout == expected[args], args
    _, loaded = probe(repo, "log")
    assert not loaded  # made again, current


def test_a_changed_index_file_is_not_answered_for(repo: Repo):
    """The copy answers for the index file it was made from: one replaced or damaged (by hand,
    or by a provgraph that does not stamp it) sends the read the full way, which finds it."""
    history(repo)
    probe(repo, "log")
    index = repo.root / ".git" / "prov" / "index.duckdb"
    index.write_bytes(b"")
    proc = repo.prov("log")  # the damage is found, said in one line, the index made again
    assert "index.duckdb" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.returncode == 0 and "c.txt@v2" in proc.stdout
    _, loaded = probe(repo, "log")
    assert not loaded


def test_journal_tips_are_read_from_the_ref_files_as_git_reads_them(repo: Repo):
    from provgraph.journal.fresh import journal_tips
    from provgraph.journal.records import Journal
    from provgraph.repo import Repository

    history(repo)
    found = Repository.discover(str(repo.root))
    assert journal_tips(found) == Journal(found).tips() != {}
    repo.git("pack-refs", "--all")
    assert journal_tips(found) == Journal(found).tips()
    repo.ok("true")  # a loose ref over the packed one
    assert journal_tips(found) == Journal(found).tips()
    assert len(set(journal_tips(found).values())) == 1


def test_the_copy_notes_what_it_was_made_from(repo: Repo):
    """The marks the shortcut checks are written where it reads them."""
    import sqlite3

    history(repo)
    probe(repo, "log")
    db = sqlite3.connect(repo.root / ".git" / "prov" / "search.sqlite")
    marks = dict(db.execute("SELECT key, value FROM fresh_meta").fetchall())
    db.close()
    stamp = (repo.root / ".git" / "prov" / "index.stamp").read_text()
    assert marks["stamp"] == stamp
    assert json.loads(marks["tips"]) == json.loads(
        (repo.root / ".git" / "prov" / "index.tips").read_text())


def expected_count(repo: Repo) -> int:
    refs = repo.git("for-each-ref", "--format=%(objectname)", "refs/prov/journal/").split()
    return int(repo.git("rev-list", "--count", *refs)) if refs else 0


def counted(repo: Repo) -> tuple[int, int]:
    info = json.loads(repo.ok("status", "--json").stdout)
    return info["journal"]["records"], info["index"]["records"] + info["index"]["pending"]


def test_the_journal_count_stays_exact_across_captures_pulls_and_damage(repo: Repo,
                                                                        tmp_path: Path):
    """`prov status` counts records from the quarantine's ledger and what is new since: the
    same number git counts, after captures, a pull, a chain gone, a damaged ledger."""
    history(repo)
    assert counted(repo) == (expected_count(repo),) * 2
    repo.ok("sh", "-c", "cat b.txt > d.txt")
    assert counted(repo) == (expected_count(repo),) * 2
    bob = clone_through_remote(repo, tmp_path)
    repo.ok("push")
    bob.write("bob.txt", "bob\n")
    bob.ok("sh", "-c", "cat bob.txt > both.txt")
    assert counted(bob) == (1, 1)
    bob.ok("pull")
    assert counted(bob) == (expected_count(bob),) * 2 == (expected_count(repo) + 1,) * 2
    alice_chain = [ref for ref in bob.git("for-each-ref", "--format=%(refname)",
                                          "refs/prov/journal/").split()
                   if not ref.endswith(json.loads(bob.ok("status", "--json").stdout)
                                       ["clone"])]
    bob.git("update-ref", "-d", alice_chain[0])  # a chain gone: its records no longer count
    assert counted(bob)[0] == expected_count(bob) == 1
    ledger = bob.root / ".git" / "prov" / "quarantine.json"  # where the counts are kept
    ledger.write_text("{not json")
    assert counted(bob)[0] == expected_count(bob)
    ledger.write_text(json.dumps({"tips": {"x": "0" * 40}, "counts": {"x": 7}}))
    assert counted(bob)[0] == expected_count(bob)
