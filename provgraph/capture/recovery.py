"""Running markers: what lets the next `prov` finish the record of a `prov` that was killed.

Before a command starts, its half-made record (with the before-snapshot) is written to
`.git/prov/running/<activity>.json`. A normal capture removes it after the journal has the
full record. A marker whose `prov` and command are both gone belongs to an interrupted
capture: the next `prov` takes an after-snapshot and records the activity as interrupted, so
the files it changed are not lost.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import namedtuple

from provgraph import gitio, state
from provgraph.capture.snapshot import Snapshot
from provgraph.repo import Repository

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds on `prov CMD`
    from typing import Any


class Marker(namedtuple("Marker", "path record")):
    """Fields:
        path: str
        record: dict[str, Any]
    """

    __slots__ = ()


def _proc_stat(pid: int) -> list[bytes] | None:
    """Fields of /proc/PID/stat after the command name (Linux; None elsewhere or if gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None


def _process_start(pid: int) -> str | None:
    """The kernel's start time of `pid` (to tell a live process from a reused pid)."""
    fields = _proc_stat(pid)
    return fields[19].decode() if fields and len(fields) > 19 else None


def _alive(pid: int | None, start: str | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_stat(pid)
    if fields is None:
        return True  # no /proc: trust kill(0)
    if fields[0] in (b"Z", b"X"):
        return False  # exited, waiting for a parent that may never reap it
    return start is None or fields[19].decode() == start


def start(repo: Repository, record: dict[str, Any], before: Snapshot) -> Marker:
    pid = os.getpid()
    marker = Marker(
        os.path.join(repo.prov_dir, "running", f"{record['id']}.json"),
        {
            "record": record,
            "large": {p: f._asdict() for p, f in before.large.items()},
            "pid": pid,
            "pid_start": _process_start(pid),
        },
    )
    # Not fsync'd: a killed prov leaves the page cache intact; after a power loss, the
    # command's changes still show up, as changes made outside prov.
    gitio.write_file_atomic(marker.path, json.dumps(marker.record).encode(), durable=False)
    return marker


def started_child(marker: Marker, child_pid: int) -> None:
    """Note the command's pid: a killed `prov` may leave its command running."""
    marker.record["child"] = child_pid
    marker.record["child_start"] = _process_start(child_pid)
    gitio.write_file_atomic(marker.path, json.dumps(marker.record).encode(), durable=False)


def note(marker: Marker, key: str, value: Any) -> None:
    """Keep `value` in the marker, for the `prov` that records this capture if it is killed."""
    marker.record[key] = value
    gitio.write_file_atomic(marker.path, json.dumps(marker.record).encode(), durable=False)


def fileview_output(repo: Repository, marker: Marker, after_tree: str) -> None:
    """A file view killed after writing its file, before recording it: its record says what
    it wrote (when the file there is the one it wrote), so the view keeps its file."""
    record, output = marker.record["record"], marker.record.get("output")
    if not isinstance(record.get("fileview"), dict) or not isinstance(output, dict):
        return
    path = output.get("path")
    try:
        st = os.stat(os.path.join(repo.root, path))
    except (OSError, TypeError, ValueError):
        return
    if [st.st_size, st.st_mtime_ns] != [output.get("size"), output.get("mtime_ns")]:
        return  # not moved into place, or changed since
    listed = repo.git("ls-tree", "-z", "--full-tree", after_tree, "--", path)
    meta, _, found = gitio.split_z(listed)[0].partition("\t") if listed else ("", "", "")
    if found != path:
        return
    record["fileview"]["output"] = meta.split()[2]
    if isinstance(output.get("rows"), int):
        record["fileview"]["rows"] = output["rows"]
        record.setdefault("activity", {})["fileview.rows"] = output["rows"]


def recorded(repo: Repository, marker: Marker) -> dict[str, Any] | None:
    """The journal's record of the marker's capture, when its `prov` was killed after writing
    it and before removing the marker (recording it again would record it twice)."""
    from datetime import datetime

    from provgraph.journal.records import Journal

    record = marker.record["record"]
    tip = Journal(repo).tip()
    if tip is None:
        return None
    try:  # records appended since the capture started (their commits' time, in seconds)
        since = int(datetime.fromisoformat(record["started"]).timestamp()) - 1
    except ValueError:
        since = 0
    commits = repo.git("rev-list", f"--since={since}", tip).decode().split()
    with gitio.CatFile(repo.root) as cat:
        for commit in commits:
            found = cat.read(f"{commit}:record.json")
            try:
                written = json.loads(found[2]) if found else None
            except ValueError:
                continue
            if isinstance(written, dict) and written.get("id") == record["id"]:
                return written
    return None


def done(repo: Repository, marker: Marker, after_tree: str | None) -> None:
    """The record is in the journal: forget the marker and the files kept for the capture
    (teed streams, the ingestors' scratch folder), remember the latest snapshot."""
    if after_tree:
        set_last_snapshot(repo, after_tree)
    base = marker.path.removesuffix(".json")
    for leftover in (marker.path, base + ".stdout", base + ".stderr"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(leftover)
    if os.path.isdir(base + ".d"):
        import shutil

        shutil.rmtree(base + ".d", ignore_errors=True)


def markers(repo: Repository) -> list[Marker]:
    """Every capture now in flight or abandoned, oldest id first. A marker is written whole
    or not at all (renamed into place), so one that cannot be read is damaged: it is named,
    once, and left for the user."""
    folder = os.path.join(repo.prov_dir, "running")
    try:
        names = sorted(name for name in os.listdir(folder) if name.endswith(".json"))
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for name in names:
        path = os.path.join(folder, name)
        data = state.read_json(path)
        if data is None:
            continue  # recorded and removed meanwhile
        if _sound(data):
            found.append(Marker(path, data))
        else:
            state.warn(f"{state.shown(path)} is damaged: the capture it was keeping cannot be "
                       "recorded (its changes will show as made outside prov); remove it")
    return found


def _sound(marker: Any) -> bool:
    """Whether a marker has the shape `start` writes (what recording it reads)."""
    record = marker.get("record") if isinstance(marker, dict) else None
    return (isinstance(record, dict)
            and all(isinstance(record.get(key), str) for key in ("id", "command", "started"))
            and state.is_hex(record.get("before"))
            and state.list_of(record.get("used", []), dict)
            and all(isinstance(item.get("path"), str) for item in record.get("used", []))
            and state.list_of(record.get("named", []), str)
            and all(_optional(marker.get(key), int) for key in ("pid", "child"))
            and all(_optional(marker.get(key), str) for key in ("pid_start", "child_start"))
            and state.dict_of(marker.get("large", {}), str, dict)
            and all(set(info) >= {"sha256", "size", "pointer"}
                    for info in marker.get("large", {}).values()))


def _optional(value: Any, kind: type) -> bool:
    return value is None or (isinstance(value, kind) and not isinstance(value, bool))


def abandoned(repo: Repository) -> list[Marker]:
    """Markers of captures whose `prov` and command have both ended without a record."""
    return [
        marker for marker in markers(repo)
        if not _alive(marker.record.get("pid"), marker.record.get("pid_start"))
        and not _alive(marker.record.get("child"), marker.record.get("child_start"))
    ]


#: Scratch folders named `<pid>-<random>` (file views' spill and output files, `prov sql`'s
#: spill files), removed by their process when done.
SCRATCH = ("fileview/tmp", "sql-tmp")


def remove_abandoned_scratch(repo: Repository) -> None:
    """Scratch folders whose process was killed (a file view's half-written output): what
    every reading command clears on its way."""
    import shutil

    for parent in SCRATCH:
        folder = repo.prov_path(parent)
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            pid = name.partition("-")[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid), None):
                shutil.rmtree(os.path.join(folder, name), ignore_errors=True)


def others_outputs(repo: Repository, activity: str) -> set[str]:
    """Paths that captures running right now name but did not find (their likely outputs).

    A snapshot shows everything that changed, including what a concurrent command wrote;
    this is what lets each command keep only its own outputs.
    """
    found: set[str] = set()
    for marker in markers(repo):
        record = marker.record.get("record", {})
        if record.get("id") == activity:
            continue
        used = {u["path"] for u in record.get("used", [])}
        found.update(p for p in record.get("named", []) if p not in used)
    return found


def last_snapshot(repo: Repository) -> str | None:
    """The latest after-snapshot recorded here: changes since then were made outside prov.

    Derived: when the file is missing or damaged, the after-snapshot of the last record of
    this clone's journal chain."""
    found = state.read_text(repo.prov_path("last-snapshot"))
    if state.is_hex(found):
        return found
    from provgraph.journal.records import Journal

    tip = Journal(repo).tip()
    if tip is None:
        return None
    out = repo.git("cat-file", "blob", f"{tip}:record.json", check=False)
    try:
        after = json.loads(out).get("after")
    except (ValueError, AttributeError):
        return None
    return after if state.is_hex(after) else None


def set_last_snapshot(repo: Repository, tree: str) -> None:
    gitio.write_file_atomic(repo.prov_path("last-snapshot"), tree.encode(), durable=False)
