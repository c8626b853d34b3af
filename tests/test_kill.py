"""kill -9 of a real `prov` at any moment leaves nothing that blocks or litters the next one
(issue 12, section 2): the journal ref's lock, bulk-load files of the index, file views'
scratch files; a file view killed after writing its file keeps its view record."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import PROV
from graph import Graph


def start(repo, *args: str) -> subprocess.Popen:
    """A real `prov` in a session of its own (its command is killed with it, if asked)."""
    return subprocess.Popen([PROV, *args], cwd=repo.root, env=repo.env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_when(proc: subprocess.Popen, seen, whole_session: bool = False) -> bool:
    """SIGKILL `proc` as soon as `seen()` is true; False when it ended first."""
    while proc.poll() is None:
        if seen():
            if whole_session:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
    return False


def journal_lock(repo) -> Path:
    clone = repo.path(".git/prov/clone-id").read_text().strip()
    return repo.path(f".git/refs/prov/journal/{clone}.lock")


def test_a_journal_lock_left_by_a_killed_prov_is_removed_by_the_next(repo):
    repo.ok("true")  # the clone has its id and its chain
    lock = journal_lock(repo)
    left = 0
    for attempt in range(20):  # the lock lives while git's lock protocol fsyncs it
        proc = start(repo, "sh", "-c", f"echo {attempt} > n.txt")
        if kill_when(proc, lock.exists) and lock.exists():
            left += 1
            break
    assert left, "no kill landed while the journal ref was locked"

    after = repo.prov("sh", "-c", "echo next > next.txt")
    assert after.returncode == 0, after.stderr
    assert "recorded an interrupted capture" in after.stderr
    assert not lock.exists()
    status = repo.ok("status", "--json")
    assert json.loads(status.stdout)["running"] == []
    made = {name for a in Graph.of(repo).activities() for name in Graph.of(repo).generated(a)}
    assert "next.txt@v1" in made


def test_a_journal_lock_held_by_another_process_is_named_before_the_command_runs(repo):
    repo.ok("true")
    lock = journal_lock(repo)
    tip = lock.with_suffix("").read_text()
    lock.write_text(tip)  # what a git process updating the ref holds (a fetch into it)
    proc = repo.prov("touch", "made.txt")
    assert proc.returncode == 125
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert str(lock) in proc.stderr and "remove it" in proc.stderr
    assert not repo.path("made.txt").exists()  # decided before running
    assert lock.read_text() == tip  # never taken from its owner

    lock.unlink()
    repo.ok("touch", "made.txt")
    assert repo.path("made.txt").exists()


def test_a_journal_lock_older_than_the_machine_is_removed(repo):
    repo.ok("true")
    lock = journal_lock(repo)
    lock.write_text(lock.with_suffix("").read_text())
    os.utime(lock, (0, 0))  # written in 1970: no process of this boot holds it
    repo.ok("touch", "made.txt")
    assert not lock.exists()
    assert repo.path("made.txt").exists()


def test_kill_9_at_random_moments_never_blocks_the_next_prov(repo):
    rng = random.Random(12)
    repo.write("in.txt", "x\n")
    repo.commit_all()
    kills = runs = 0
    while kills < 12 and runs < 80:  # a fast machine finishes more runs before the kill
        proc = start(repo, "sh", "-c", f"cat in.txt > out{runs % 4}.txt; echo {runs} >> log.txt")
        time.sleep(rng.uniform(0, 0.4))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # prov and its command, at any moment
            kills += 1
        proc.wait()
        runs += 1
    assert kills >= 12  # runs cut short at many moments

    after = repo.prov("sh", "-c", "cat in.txt > last.txt")
    assert after.returncode == 0, after.stderr
    assert "Traceback" not in after.stderr
    assert list(repo.path(".git/refs/prov/journal").glob("*.lock")) == []
    status = json.loads(repo.ok("status", "--json").stdout)
    assert status["running"] == []
    repo.git("fsck", "--no-dangling")  # the journal's objects and refs are sound
    graph = Graph.of(repo)
    statuses = [a.properties["status"] for a in graph.activities()]
    assert len(statuses) == status["journal"]["records"]
    assert statuses[-1] == "ok" and "last.txt@v1" in graph.generated(graph.activities()[-1])


def big_document(path: Path, entities: int) -> None:
    """A PROV-JSON document large enough that loading it into the index takes a while."""
    doc = {"prefix": {"ex": "https://example.org/"},
           "entity": {f"ex:e{i}": {"ex:rows": i} for i in range(entities)},
           "activity": {"ex:run": {}},
           "used": {f"_:u{i}": {"prov:activity": "ex:run", "prov:entity": f"ex:e{i}"}
                    for i in range(entities)}}
    path.write_text(json.dumps(doc))


def load_files(repo) -> list[Path]:
    folder = repo.path(".git/prov")
    return sorted([*folder.glob("tmp*.json"), *folder.glob(".index-load-*.json")])


def test_killed_import_and_rebuild_leave_no_temporary_files(repo, tmp_path):
    document = tmp_path / "big.json"
    big_document(document, 40_000)
    caught = 0
    for args in (["import", str(document)], ["rebuild"], ["rebuild"]):
        proc = start(repo, *args)
        caught += kill_when(proc, lambda: bool(load_files(repo)))
        if args[0] == "import":
            repo.ok("import", str(document))  # the journal has it; the index may not
    assert caught, "no kill landed while the index was loading"
    # an older provgraph named its bulk-load files tmpXXXXXXXX.json: cleared the same way
    repo.path(".git/prov/tmpk2mw9f1q.json").write_text("[]")

    repo.ok("rebuild")
    assert load_files(repo) == []
    counts = repo.ok("sql", "select count(*) from entities").stdout
    assert "40000" in counts


def test_a_file_view_killed_after_writing_its_file_keeps_its_view(repo):
    repo.write("d.csv", "x,y\n" + "".join(f"{i},{i * 2}\n" for i in range(2000)))
    repo.commit_all()
    # The kill must land between the file being written and the view being recorded: on a
    # loaded machine the view may be recorded whole first, and then it is tried again.
    for attempt in range(8):
        name = f"o{attempt}.csv"
        proc = start(repo, "fileview", "-c", "-n", name, "-q", "select * from {d.csv}")
        if not kill_when(proc, repo.path(name).exists):
            continue
        logged = repo.ok("log")  # the next reading prov records it
        if "recorded an interrupted capture" in logged.stderr:
            break
    else:
        pytest.fail("the view was recorded whole before every kill")

    assert name in repo.ok("fileview", "list").stdout
    [activity] = [a for a in Graph.of(repo).activities()
                  if a.properties.get("subcommand") == "fileview"
                  and a.properties.get("status") == "interrupted"]
    assert activity.properties["fileview.rows"] == 2000
    # the file is the view's: refreshing it overwrites it without --force
    refreshed = repo.prov("fileview", "refresh", name)
    assert refreshed.returncode == 0, refreshed.stderr
    assert "not made by a view" not in refreshed.stderr


def test_a_file_view_killed_while_evaluating_leaves_no_scratch_files(repo):
    repo.write("d.csv", "x,y\n" + "".join(f"{i},{i % 7}\n" for i in range(200_000)))
    repo.commit_all()
    scratch = repo.path(".git/prov/fileview/tmp")

    def writing() -> bool:
        return scratch.exists() and any(p.is_file() for p in scratch.rglob("*"))

    caught = 0
    for _ in range(5):
        proc = start(repo, "fileview", "-c", "-n", "o.csv", "-q",
                     "select x, y, x * y as z from {d.csv} order by z desc")
        caught += kill_when(proc, writing)
        if caught:
            break
    assert caught, "no kill landed while the view was being written"
    assert any(scratch.iterdir())

    repo.ok("log")
    assert list(scratch.iterdir()) == []
