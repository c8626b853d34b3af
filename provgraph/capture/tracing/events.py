"""The trace file: made before a command runs, read after it ended.

Every traced process of the command (the LD_PRELOAD interposer in dynamically linked ones, the
ptrace tracer for the others) appends records to one shared file; `record.h` says how. A
record is `RS OP FLAGS PID NS NUL path NUL [path2 NUL]`:

    P  a process started (path: its executable; FLAGS: its parent's pid)
    O  a file opened (FLAGS: the open(2) flags)      T  truncated
    R  renamed (path -> path2)                       L  hard-linked (path -> path2)
    S  a symbolic link made (path: the link)         D  deleted (unlink, rmdir)
    X  a program handed to the ptrace tracer         U  a program that ran untraced

Only successful calls are recorded, so an `O` for reading means the file existed then.
Standard library only: this runs on the capture path.
"""

from __future__ import annotations

import operator
import os
import sys
from collections import namedtuple
from collections.abc import Iterable

MAGIC = b"PROVTRC3"
HEADER = 32
_TWO_PATHS = frozenset("RL")
_FS, _ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()  # os.fsdecode's

O_ACCMODE = 3
O_WRONLY = os.O_WRONLY
O_RDWR = os.O_RDWR
O_CREAT = os.O_CREAT
O_TRUNC = os.O_TRUNC
O_APPEND = os.O_APPEND


class Event(namedtuple("Event", "op flags pid ns path target")):
    """Fields:
        op: str  # one of P O T R L S D X U
        flags: int
        pid: int
        ns: int  # when, in nanoseconds since the epoch
        path: str
        target: str | None  # the new name, for R and L
    """

    __slots__ = ()


class Trace(namedtuple("Trace", "events lost")):
    """Fields:
        events: list[Event]  # in the order they happened
        lost: int  # records dropped because the trace file could not grow (disk full)
    """

    __slots__ = ()

    @property
    def processes(self) -> int:
        """The command's processes: every pid seen, but provtrace's own (the waiter and the
        tracer, which the interposer also sees start), by the last program each pid ran."""
        last: dict[int, str] = {}
        for event in self.events:
            if event.op == "P":
                last[event.pid] = event.path
            else:
                last.setdefault(event.pid, "")
        return sum(1 for exe in last.values() if os.path.basename(exe) != "provtrace")

    @property
    def untraced(self) -> list[str]:
        return sorted({e.path for e in self.events if e.op == "U"})

    @property
    def ptraced(self) -> list[str]:
        return sorted({e.path for e in self.events if e.op == "X"})


def make_trace_file(path: str) -> None:
    """An empty trace file: the header, nothing allocated yet (writers grow it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, MAGIC + bytes(24))
    finally:
        os.close(fd)


def read_trace(path: str) -> Trace:
    """Every complete record of the file, in time order (a record a killed process left
    half-written, or one a full disk cut off, is skipped)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEADER)
            if len(head) < HEADER or head[:8] != MAGIC:
                return Trace([], 0)
            reserved = int.from_bytes(head[8:16], "little")
            lost = int.from_bytes(head[24:32], "little")
            data = handle.read(reserved)
    except FileNotFoundError:
        return Trace([], 0)
    events = []
    append = events.append
    for chunk in data.split(b"\x1e"):
        event = _parse(chunk)
        if event is not None:
            append(event)
    events.sort(key=_WHEN)
    return Trace(events, lost)


_OPS = {op.encode(): op for op in "POTRLSDXU"}
_WHEN = operator.itemgetter(3)  # Event.ns
_new = tuple.__new__  # an Event without namedtuple's Python-level __new__: 10,000 a second


def _parse(chunk: bytes) -> Event | None:
    words = chunk.split(b"\0")
    try:
        op, flags, pid, ns = words[0].split(b" ")
        op = _OPS[op]
        path = words[1]
        if not path:
            return None
        if op in _TWO_PATHS:
            if len(words) < 3 or not words[2]:
                return None
            target = words[2].decode(_FS, _ERRORS)
        else:
            target = None
        return _new(Event, (op, int(flags), int(pid), int(ns), path.decode(_FS, _ERRORS),
                            target))
    except (ValueError, IndexError, KeyError):
        return None


class Access:
    """What the traced processes did to one path, in order: the first access decides whether
    the version that was there before was read."""

    __slots__ = (
        "created",
        "deleted",
        "first",
        "last_write",
        "moved_from",
        "moved_to",
        "read",
        "truncated",
        "written",
    )

    def __init__(self) -> None:
        self.first: str | None = None  # "read", "write", "moved-in", "deleted"
        self.read = False  # opened for reading or read-write
        self.written = False  # opened for writing or read-write, or truncated
        self.truncated = False  # opened with O_TRUNC, or truncated: a rewrite
        self.created = False  # made anew: O_CREAT, rename or link onto it, symlink
        self.deleted = False  # last seen deleted or renamed away
        self.moved_from: list[str] = []  # paths renamed or linked onto this one
        self.moved_to: list[str] = []
        self.last_write = 0  # when it was last opened for writing, truncated or moved in (ns)

    def see(self, kind: str) -> None:
        if self.first is None:
            self.first = kind


def _only_read() -> Access:
    access = Access()
    access.first, access.read = "read", True
    return access


#: Shared by every path the processes only read (most of them, in a data folder): one object
#: for all, never changed; a path that sees anything else gets an Access of its own.
_READ = _only_read()
_READ_ONLY_BITS = O_ACCMODE | O_TRUNC


def accesses(events: Iterable[tuple[str, int, int, str, str | None]]) -> dict[str, Access]:
    """Per path, what happened to it; `events` are (op, flags, ns, path, target) in order."""
    found: dict[str, Access] = {}

    def own(path: str) -> Access:
        access = found.get(path)
        if access is None:
            access = found[path] = Access()
        elif access is _READ:
            access = found[path] = _only_read()
        return access

    for op, flags, ns, path, target in events:
        if op == "O" and not flags & _READ_ONLY_BITS:  # opened for reading only
            access = found.get(path)
            if access is None:
                found[path] = _READ
            elif access is not _READ:
                access.read = True
                access.see("read")
            continue
        access = own(path)
        if op == "O":
            if flags & O_ACCMODE != O_WRONLY:
                access.read = True
                access.see("read")
            access.written = True
            access.last_write = ns
            access.see("write")
            if flags & O_TRUNC:
                access.truncated = True
            if flags & O_CREAT:
                access.created = True
            access.deleted = False
        elif op == "T":
            access.see("write")
            access.written = access.truncated = True
            access.last_write = ns
            access.deleted = False
        elif op in ("R", "L"):
            moved = own(target)
            access.see("moved-away" if op == "R" else "read")
            if op == "R":
                access.deleted = True
            access.moved_to.append(target)
            moved.see("moved-in")
            moved.created = moved.written = True
            moved.last_write = ns
            moved.deleted = False
            moved.moved_from.append(path)
        elif op == "S":
            access.see("moved-in")
            access.created = access.written = True
            access.last_write = ns
            access.deleted = False
        elif op == "D":
            access.see("deleted")
            access.deleted = True
    return found
