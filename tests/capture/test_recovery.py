"""Unit tests of the running markers (provgraph/capture/recovery.py), in-process.

Markers are made by `recovery.start` exactly as `prov CMD` makes them, in a real repository;
a `prov` that was killed is a real process that has ended (its pid dead, or a zombie), a live
one is a real running process.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provgraph.capture import command, recovery
from provgraph.capture.snapshot import Snapshotter
from provgraph.journal.records import Journal, new_activity_id
from provgraph.repo import Repository
from provgraph.timestamps import now
from tests.conftest import Repo


@pytest.fixture
def repository(repo: Repo) -> Repository:
    found = Repository.discover(repo.root)
    found.ensure_prov_dir()
    return found


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    """A process that is alive for the whole test."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait()


def _dead_pid() -> int:
    """The pid of a process that has ended and been reaped."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _begin(repository: Repository, text: str, used: list[dict[str, Any]] | None = None
           ) -> recovery.Marker:
    """What `prov CMD` writes before its command starts: a record with its before-snapshot."""
    before = Snapshotter(repository, 1 << 20).take()
    activity, nonce = new_activity_id(repository.clone_id)
    record = {
        "id": activity,
        "nonce": nonce,
        "project": repository.project,
        "command": text,
        "shell": False,
        "cwd": ".",
        "agent": {"name": "Alice", "email": "alice@example.com"},
        "activity": {},
        "used": used or [],
        "named": [],
        "prev": recovery.last_snapshot(repository),
        "before": before.tree,
        "before_at": before.taken,
        "before_done": before.done,
        "started": now(),
    }
    return recovery.start(repository, record, before)


def _killed(marker: recovery.Marker) -> None:
    """Its `prov` is gone (killed), and so is its command."""
    recovery.note(marker, "pid", _dead_pid())
    recovery.started_child(marker, _dead_pid())


def _records(repository: Repository) -> list[dict[str, Any]]:
    return [entry.record for entry in Journal(repository).entries()]


def test_start_writes_the_marker_prov_reads_back(repository: Repository) -> None:
    marker = _begin(repository, "python train.py")

    assert marker.path == repository.prov_path(f"running/{marker.record['record']['id']}.json")
    on_disk = json.loads(Path(marker.path).read_text())
    assert on_disk == marker.record
    assert on_disk["pid"] == os.getpid()
    start = Path(f"/proc/{os.getpid()}/stat").read_bytes().rsplit(b")", 1)[1].split()[19]
    assert on_disk["pid_start"] == start.decode()
    assert recovery.markers(repository) == [marker]


def test_a_live_capture_is_left_alone(repository: Repository) -> None:
    marker = _begin(repository, "python train.py")  # this process is its `prov`

    assert recovery.abandoned(repository) == []
    command.recover(repository)

    assert os.path.exists(marker.path)
    assert _records(repository) == []


def test_a_capture_whose_command_still_runs_is_left_alone(repository: Repository,
                                                          sleeper: subprocess.Popen) -> None:
    marker = _begin(repository, "sleep 300")
    recovery.note(marker, "pid", _dead_pid())  # prov was killed...
    recovery.started_child(marker, sleeper.pid)  # ...but its command runs on

    assert recovery.abandoned(repository) == []
    command.recover(repository)
    assert os.path.exists(marker.path)

    sleeper.kill()
    sleeper.wait()
    assert [m.path for m in recovery.abandoned(repository)] == [marker.path]


def test_a_zombie_counts_as_gone(repository: Repository) -> None:
    zombie = subprocess.Popen(["true"])
    try:
        while Path(f"/proc/{zombie.pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0] \
                != b"Z":
            os.sched_yield()
        marker = _begin(repository, "true")
        recovery.note(marker, "pid", zombie.pid)
        recovery.note(marker, "pid_start", None)

        assert [m.path for m in recovery.abandoned(repository)] == [marker.path]
    finally:
        zombie.wait()


def test_a_reused_pid_counts_as_gone(repository: Repository) -> None:
    """A pid alive now but started at another time is another process than the marker's."""
    marker = _begin(repository, "python train.py")
    recovery.note(marker, "pid_start", "1")

    assert [m.path for m in recovery.abandoned(repository)] == [marker.path]


def test_a_killed_capture_is_finished_as_interrupted(repo: Repo, repository: Repository,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    repo.write("data.csv", "a\n")
    marker = _begin(repository, "python make.py", used=[{"path": "data.csv",
                                                        "role": "argument"}])
    record = marker.record["record"]
    repo.write("out.txt", "made before prov was killed\n")  # what the command did
    (Path(marker.path).with_suffix(".stdout")).write_text("teed\n")
    _killed(marker)

    command.recover(repository)

    records = _records(repository)
    assert [(r["id"], r["command"], r["status"]) for r in records] == [
        (record["id"], "python make.py", "interrupted")]
    written = records[0]
    assert "exit_code" not in written
    assert written["before"] == record["before"]
    after = repo.git("ls-tree", "-r", "--name-only", written["after"]).split()
    assert after == ["README.md", "data.csv", "out.txt"]
    assert written["used"] == [{"path": "data.csv", "role": "argument"}]
    assert not os.path.exists(marker.path)
    assert not os.path.exists(Path(marker.path).with_suffix(".stdout"))
    assert recovery.last_snapshot(repository) == written["after"]
    assert capsys.readouterr().err == "prov: recorded an interrupted capture: python make.py\n"

    command.recover(repository)  # nothing left to finish: recorded once
    assert len(_records(repository)) == 1


def test_a_capture_killed_after_its_record_was_written_is_not_recorded_twice(
        repo: Repo, repository: Repository, capsys: pytest.CaptureFixture[str]) -> None:
    marker = _begin(repository, "python make.py")
    repo.write("out.txt", "made\n")
    after = Snapshotter(repository, 1 << 20).take()
    Journal(repository).append({**marker.record["record"], "after": after.tree,
                                "ended": now(), "status": "ok", "exit_code": 0})
    _killed(marker)  # killed between writing the record and removing the marker

    command.recover(repository)

    assert [r["status"] for r in _records(repository)] == ["ok"]
    assert not os.path.exists(marker.path)
    assert recovery.last_snapshot(repository) == after.tree
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("content", [
    b'{"record": {"id": "act-1", "comm',  # cut short
    b"\xff\xfe not utf-8",
    b'{"record": {"id": "act-1", "command": "x", "started": "2026-01-01"}}',  # no before
    b'{"record": {"id": "act-1", "command": "x", "started": "s", "before": "abc1"}, '
    b'"pid": "12"}',  # a pid that is not a number
    b"[1, 2, 3]",
])
def test_a_damaged_marker_is_named_and_left(repository: Repository, content: bytes,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    name = f"act-damaged-{uuid.uuid4().hex}.json"  # warnings are said once per process
    path = Path(repository.prov_path("running")) / name
    path.write_bytes(content)

    assert recovery.markers(repository) == []
    command.recover(repository)

    assert capsys.readouterr().err == (
        f"prov: warning: .git/prov/running/{name} is damaged: the capture it was keeping "
        "cannot be recorded (its changes will show as made outside prov); remove it\n")
    assert path.read_bytes() == content
    assert _records(repository) == []


def test_a_damaged_marker_does_not_stop_a_sound_one(repository: Repository) -> None:
    damaged = Path(repository.prov_path("running")) / f"act-0-{uuid.uuid4().hex}.json"
    damaged.write_text("{")
    marker = _begin(repository, "make")
    _killed(marker)

    command.recover(repository)

    assert [r["command"] for r in _records(repository)] == ["make"]
    assert damaged.exists()


def test_done_removes_the_marker_and_what_was_kept_for_it(repository: Repository) -> None:
    marker = _begin(repository, "make")
    base = marker.path.removesuffix(".json")
    for suffix in (".stdout", ".stderr"):
        Path(base + suffix).write_text("kept\n")
    os.makedirs(base + ".d/trace")
    Path(base + ".d/trace/events").write_text("x")

    recovery.done(repository, marker, "a" * 40)

    assert os.listdir(repository.prov_path("running")) == []
    assert recovery.last_snapshot(repository) == "a" * 40


def test_the_last_snapshot_falls_back_on_the_journal(repository: Repository) -> None:
    assert recovery.last_snapshot(repository) is None
    marker = _begin(repository, "make")
    after = Snapshotter(repository, 1 << 20).take()
    Journal(repository).append({**marker.record["record"], "after": after.tree, "ended": now(),
                                "status": "ok", "exit_code": 0})
    Path(repository.prov_path("last-snapshot")).write_text("not a tree id")

    assert recovery.last_snapshot(repository) == after.tree


def test_scratch_folders_of_dead_processes_are_removed(repository: Repository,
                                                       sleeper: subprocess.Popen) -> None:
    parent = Path(repository.prov_path("fileview/tmp"))
    dead = parent / f"{_dead_pid()}-abc"
    live = parent / f"{sleeper.pid}-def"
    mine = parent / f"{os.getpid()}-ghi"
    other = parent / "not-a-pid"
    for folder in (dead, live, mine, other):
        folder.mkdir(parents=True)
        (folder / "part.csv").write_text("x\n")

    recovery.remove_abandoned_scratch(repository)

    assert sorted(p.name for p in parent.iterdir()) == sorted(
        [live.name, mine.name, other.name])


def test_others_outputs_are_what_running_captures_name_but_did_not_use(
        repository: Repository) -> None:
    mine = _begin(repository, "make")
    other = _begin(repository, "cp a.txt b.txt", used=[{"path": "a.txt", "role": "argument"}])
    recovery.note(other, "record", {**other.record["record"], "named": ["a.txt", "b.txt"]})

    assert recovery.others_outputs(repository, mine.record["record"]["id"]) == {"b.txt"}
    assert recovery.others_outputs(repository, other.record["record"]["id"]) == set()
