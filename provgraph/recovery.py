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

from provgraph import gitio
from provgraph.repo import Repository
from provgraph.snapshot import Snapshot

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


def done(repo: Repository, marker: Marker, after_tree: str) -> None:
    """The record is in the journal: forget the marker and the files kept for the capture
    (teed streams, the ingestors' scratch folder), remember the latest snapshot."""
    set_last_snapshot(repo, after_tree)
    base = marker.path.removesuffix(".json")
    for leftover in (marker.path, base + ".stdout", base + ".stderr"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(leftover)
    if os.path.isdir(base + ".d"):
        import shutil

        shutil.rmtree(base + ".d", ignore_errors=True)


def markers(repo: Repository) -> list[Marker]:
    """Every capture now in flight or abandoned, oldest id first."""
    folder = os.path.join(repo.prov_dir, "running")
    try:
        names = sorted(name for name in os.listdir(folder) if name.endswith(".json"))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        path = os.path.join(folder, name)
        try:
            with open(path, "rb") as handle:
                found.append(Marker(path, json.loads(handle.read())))
        except (OSError, ValueError):
            continue  # removed meanwhile, or half written by a prov killed at that instant
    return found


def abandoned(repo: Repository) -> list[Marker]:
    """Markers of captures whose `prov` and command have both ended without a record."""
    return [
        marker for marker in markers(repo)
        if not _alive(marker.record.get("pid"), marker.record.get("pid_start"))
        and not _alive(marker.record.get("child"), marker.record.get("child_start"))
    ]


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
    """The latest after-snapshot recorded here: changes since then were made outside prov."""
    try:
        with open(repo.prov_path("last-snapshot")) as handle:
            return handle.read().strip() or None
    except FileNotFoundError:
        return None


def set_last_snapshot(repo: Repository, tree: str) -> None:
    gitio.write_file_atomic(repo.prov_path("last-snapshot"), tree.encode(), durable=False)
