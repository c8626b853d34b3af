"""The journal: durable, concurrent, recoverable, and the source every index is rebuilt from."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import PROV
from graph import Graph


def test_eight_concurrent_captures_all_land(repo):
    repo.write("in.txt", "x\n")
    repo.commit_all()

    def capture(i: int) -> subprocess.CompletedProcess:
        return repo.prov("sh", "-c", f"sleep 0.{i % 3}; cp in.txt out{i}.txt")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(capture, range(8)))

    assert [r.returncode for r in results] == [0] * 8
    assert all(r.stderr == "" for r in results), [r.stderr for r in results]
    ref = repo.git("for-each-ref", "--format=%(refname)", "refs/prov/journal/").strip()
    assert int(repo.git("rev-list", "--count", ref)) == 8
    graph = Graph.of(repo)
    assert len(graph.activities()) == 8
    made = sorted(name for a in graph.activities() for name in graph.generated(a))
    assert made == sorted(f"out{i}.txt@v1" for i in range(8))


def _wait_for(path, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_kill_9_of_prov_is_reconciled_by_the_next_prov(repo):
    script = "open('partial.txt','w').write('half'); import time; time.sleep(60)"
    proc = subprocess.Popen([PROV, sys.executable, "-c", script], cwd=repo.root, env=repo.env,
                            start_new_session=True)
    _wait_for(repo.path("partial.txt"))
    os.killpg(proc.pid, signal.SIGKILL)  # prov and its command die at once, no cleanup
    proc.wait()
    time.sleep(0.1)

    status = repo.ok("status")
    assert "interrupted" in status.stderr
    graph = Graph.of(repo)
    [activity] = graph.activities()
    assert activity.properties["status"] == "interrupted"
    assert "exit_code" not in activity.properties
    assert graph.generated(activity) == ["partial.txt@v1"]
    assert list(repo.path(".git/prov/running").iterdir()) == []


def test_a_command_outliving_its_killed_prov_is_recorded_when_it_ends(repo):
    script = ("import time; open('ready.txt','w').write('r'); time.sleep(1.5); "
              "open('late.txt','w').write('done')")
    proc = subprocess.Popen([PROV, sys.executable, "-c", script], cwd=repo.root, env=repo.env)
    _wait_for(repo.path("ready.txt"))
    proc.send_signal(signal.SIGKILL)  # only prov: its command keeps running
    proc.wait()

    assert Graph.of(repo).activities() == []  # still running: not reconciled yet
    _wait_for(repo.path("late.txt"))
    time.sleep(0.3)
    graph = Graph.of(repo)
    [activity] = graph.activities()
    assert activity.properties["status"] == "interrupted"
    assert graph.generated(activity) == ["late.txt@v1", "ready.txt@v1"]


def test_rebuild_gives_the_same_graph(repo):
    repo.write("a.txt", "1\n")
    repo.commit_all()
    repo.ok("cp a.txt b.txt && sed -i s/1/2/ b.txt")
    repo.write("a.txt", "3\n")
    repo.ok("cat", "a.txt", "b.txt")
    before = Graph.of(repo)

    out = repo.ok("rebuild").stdout

    after = Graph.of(repo)
    assert "3 activities" in out
    assert {n.id: n.properties for n in after.nodes.values()} == {
        n.id: n.properties for n in before.nodes.values()}
    assert sorted((e.key, json.dumps(e.properties)) for e in after.edges) == sorted(
        (e.key, json.dumps(e.properties)) for e in before.edges)


def test_deleting_the_index_loses_nothing(repo):
    repo.ok("sh", "-c", "echo 1 > x.txt")
    names = sorted(n.name for n in Graph.of(repo).nodes.values())
    for leftover in ("index.duckdb", "index.duckdb.wal", "index.tips"):
        path = repo.path(f".git/prov/{leftover}")
        if path.exists():
            path.unlink()

    assert sorted(n.name for n in Graph.of(repo).nodes.values()) == names


def test_concurrent_readers_and_writers_of_the_index_all_succeed(repo):
    for i in range(5):
        repo.ok("sh", "-c", f"echo {i} > f{i}.txt")

    def work(i: int) -> subprocess.CompletedProcess:
        if i % 2:
            return repo.prov("log", "--json")
        return repo.prov("sh", "-c", f"echo {i} > g{i}.txt")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(16)))
    assert [r.returncode for r in results] == [0] * 16, [r.stderr for r in results]
    assert len(Graph.of(repo).activities()) == 13


def test_the_journal_travels_with_git(repo, tmp_path):
    repo.ok("sh", "-c", "echo 1 > x.txt")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.root), str(clone)], check=True, env=repo.env)
    subprocess.run(["git", "fetch", "-q", "origin", "refs/prov/*:refs/prov/*"], cwd=clone,
                   check=True, env=repo.env)

    from conftest import Repo
    other = Repo(clone, repo.env)
    graph = Graph.of(other)
    assert [n.name for n in graph.entities()] == ["x.txt@v1"]
    chain = "refs/prov/journal/" + repo.read(".git/prov/clone-id").strip()
    after = json.loads(other.git("show", chain + ":record.json"))["after"]
    assert other.git("show", after + ":x.txt") == "1\n"  # the content chain keeps it


def test_a_damaged_snapshot_index_is_rebuilt(repo):
    repo.ok("sh", "-c", "echo 1 > a.txt")
    repo.path(".git/prov/snapshot-index").write_bytes(b"garbage, as after a crash")

    repo.ok("sh", "-c", "echo 2 > a.txt")

    graph = Graph.of(repo)
    assert [n.name for n in graph.entities()] == ["a.txt@v1", "a.txt@v2"]
    assert graph.generated(graph.activities()[1]) == ["a.txt@v2"]
