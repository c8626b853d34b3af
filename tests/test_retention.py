"""`prov gc`: the bytes of old versions go, the graph (ids, digests, sizes, lineage) stays."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from conftest import PROV, Repo
from graph import Graph


def _rewrite(repo: Repo, name: str, times: int, size: int = 200_000) -> None:
    for _ in range(times):
        repo.ok("sh", "-c", f"head -c {size} /dev/urandom > {name}")


def _exported(repo: Repo) -> str:
    return repo.ok("export", "--format", "json").stdout


def _has(repo: Repo, oid: str) -> bool:
    return subprocess.run(["git", "cat-file", "-e", oid], cwd=repo.root,
                          env=repo.env).returncode == 0


def _digests(repo: Repo, path: str) -> list[str]:
    return [n.properties["digest"] for n in Graph.of(repo).entities(path)]


def test_gc_keeps_the_graph_identical_except_content(repo: Repo):
    _rewrite(repo, "big.bin", 4)
    before = _exported(repo)
    digests = _digests(repo, "big.bin")
    assert len(digests) == 4 and all(_has(repo, d) for d in digests)

    proc = repo.ok("gc", "--keep-last", "1", "--expire", "now")

    assert "Dropped the content of 3 version(s)" in proc.stdout
    assert [_has(repo, d) for d in digests] == [False, False, False, True]
    assert _exported(repo) == before
    repo.ok("rebuild")
    assert _exported(repo) == before  # the journal alone makes the same graph
    graph = Graph.of(repo)
    v1, v2 = graph.node("big.bin@v1"), graph.node("big.bin@v2")
    assert v1.properties["digest"] == digests[0] and v1.properties["size"] == 200_000
    assert graph.targets(v2, "wasDerivedFrom") == ["big.bin@v1"]
    assert graph.targets(v1, "wasGeneratedBy") == [graph.activities()[0].name]
    repo.ok("sh", "-c", "head -c 10 /dev/urandom > big.bin")  # captures go on
    assert len(_digests(repo, "big.bin")) == 5


def test_keep_days_keeps_recent_versions(repo: Repo):
    _rewrite(repo, "big.bin", 3)
    digests = _digests(repo, "big.bin")
    repo.ok("gc", "--keep-days", "1", "--expire", "now")
    assert all(_has(repo, d) for d in digests)  # all seen today
    repo.ok("gc", "--keep-days", "0", "--keep-last", "2", "--expire", "now")
    assert [_has(repo, d) for d in digests] == [False, True, True]


def test_dry_run_changes_nothing(repo: Repo):
    _rewrite(repo, "big.bin", 3)

    def state() -> tuple[str, str]:
        refs = repo.git("for-each-ref")
        objects = subprocess.run(["find", ".git/objects", ".git/prov", "-type", "f"],
                                 cwd=repo.root, capture_output=True, text=True).stdout
        return refs, "\n".join(sorted(objects.split()))

    repo.ok("log")  # what a read derives (the index, the quarantine's verdicts) is made
    was = state()
    proc = repo.ok("gc", "--keep-last", "1", "--dry-run", "--expire", "now")
    assert "Would drop the content of 2 version(s)" in proc.stdout
    assert state() == was


def test_gc_never_drops_what_a_commit_or_a_file_view_needs(repo: Repo):
    repo.write("data.csv", "x\n1\n")
    repo.ok("sh", "-c", "cat data.csv > copy.csv")
    repo.commit_all("data v1")  # a commit of the user's branch holds data.csv v1
    committed = _digests(repo, "data.csv")[0]
    repo.write("rows.csv", "y\n10\n")
    repo.ok("sh", "-c", "cat rows.csv > seen.csv")
    repo.ok("fileview", "-c", "-n", "view.csv", "-q", "select y from {rows.csv}")
    viewed = _digests(repo, "rows.csv")[0]
    for n in (2, 3, 4):
        repo.write("data.csv", f"x\n{n}\n")
        repo.write("rows.csv", f"y\n{n}0\n")
        repo.ok("sh", "-c", "cat data.csv rows.csv > copy.csv")
    old_copy = _digests(repo, "copy.csv")[1]  # v1 is in the commit too

    repo.ok("gc", "--keep-last", "1", "--expire", "now")

    assert _has(repo, committed)  # the commit holds it
    assert _has(repo, viewed)  # the file view read it
    assert not _has(repo, old_copy)  # nothing held this one
    repo.ok("fileview", "cat", "view.csv")


def test_a_gc_killed_midway_loses_nothing(repo: Repo):
    _rewrite(repo, "big.bin", 5, size=2_000_000)
    before = _exported(repo)
    chain = repo.git("for-each-ref", "refs/prov/journal/")
    kills = 0
    for delay in (0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0):
        proc = subprocess.Popen([PROV, "gc", "--keep-last", "1", "--expire", "now"],
                                cwd=repo.root, env=repo.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        assert repo.git("for-each-ref", "refs/prov/journal/") == chain
        repo.git("fsck", "--connectivity-only", "--no-dangling")
        if proc.returncode == 0:
            break
    assert kills
    assert _exported(repo) == before
    repo.ok("gc", "--keep-last", "1", "--expire", "now")
    assert _exported(repo) == before
    repo.ok("rebuild")
    assert _exported(repo) == before
    latest = _digests(repo, "big.bin")[-1]
    assert _has(repo, latest)


def test_the_policy_of_prov_toml(repo: Repo):
    repo.write(".prov.toml", "[retention]\nkeep_last = 1\n")
    repo.commit_all("policy")
    _rewrite(repo, "big.bin", 3)
    assert "keep the last 1 version(s)" in repo.ok("status").stdout
    digests = _digests(repo, "big.bin")
    repo.ok("gc", "--expire", "now")
    assert [_has(repo, d) for d in digests] == [False, False, True]


def test_gc_without_a_policy_says_what_to_give(repo: Repo):
    repo.ok("true")
    proc = repo.prov("gc")
    assert proc.returncode != 0 and "--keep-last" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = repo.prov("gc", "--keep-last", "0")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr


def test_the_policy_is_applied_in_the_background_after_a_capture(repo: Repo):
    _rewrite(repo, "big.bin", 3)
    digests = _digests(repo, "big.bin")
    content = "refs/prov/content/" + repo.read(".git/prov/clone-id").strip()
    assert not repo.path(".git/prov/gc.last").exists()  # no policy: never started
    repo.write(".prov.toml", "[retention]\nkeep_last = 1\n")

    repo.ok("true")  # due (never ran): starts `prov gc --auto` and returns

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if "prov gc" in repo.git("log", "-1", "--format=%s", content):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the background gc did not rewrite the content chain")
    kept = repo.git("ls-tree", "-r", "--format=%(objectname)", content).split()
    assert digests[-1] in kept and digests[0] not in kept and digests[1] not in kept
    stamp = repo.path(".git/prov/gc.last").stat().st_mtime
    repo.ok("true")  # ran within the day: not started again
    assert repo.path(".git/prov/gc.last").stat().st_mtime == stamp


def test_gc_keeps_tagged_versions_and_those_of_tagged_runs(repo: Repo):
    repo.write("data.csv", "x\n1\n")
    repo.ok("sh", "-c", "cat data.csv > model.txt")  # #1: the run tagged below
    first_data, first_model = _digests(repo, "data.csv")[0], _digests(repo, "model.txt")[0]
    repo.write("notes.txt", "draft 1\n")
    repo.ok("sh", "-c", "cat notes.txt > notes.out")  # #2
    tagged_note = _digests(repo, "notes.txt")[0]
    for n in (2, 3, 4):
        repo.write("data.csv", f"x\n{n}\n")
        repo.write("notes.txt", f"draft {n}\n")
        repo.ok("sh", "-c", "cat data.csv notes.txt > model.txt")
    untagged = _digests(repo, "data.csv")[1]
    repo.ok("tag", "#1", "best")
    repo.ok("tag", "notes.txt@v1", "keep")

    repo.ok("gc", "--keep-last", "1", "--expire", "now")

    assert _has(repo, first_data) and _has(repo, first_model)  # what the tagged run used, made
    assert _has(repo, tagged_note)  # the tagged version
    assert not _has(repo, untagged)  # nothing pins this one
    repo.ok("restore", "model.txt@v1", "-o", "restored.txt")
    assert repo.read("restored.txt") == "x\n1\n"
