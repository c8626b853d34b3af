"""From what the processes did to what the record says: used, generated, deleted.

The rules (README, "What a capture records"):

- **used**: a file of the work tree whose first access by the command's processes was a read
  (opened for reading or read-write; only successful opens are traced, so it existed then), or
  that the command renamed or linked elsewhere (its content moved on). A file only opened
  for writing is never used.
- **written**: opened for writing, truncated, created, or renamed or linked into place. Whether
  it becomes a new version is decided with the snapshots: it does when its content changed,
  and also when it was rewritten whole (O_TRUNC, created, renamed into place) with identical
  bytes, so that a deterministic re-run still has lineage. A file opened for writing and left
  as it was (`touch`) is not.
- **deleted**: removed or renamed away, and gone at the end.

Paths are resolved through symlinks and the processes' working folders; reads of anything
outside the work tree, or inside `.git/`, are not entities.
"""

from __future__ import annotations

import os
import stat
from collections import namedtuple

from provgraph.capture.tracing.events import Access, Trace, accesses

#: File names and extensions that make a read file a program's code or its configuration.
CODE_EXTENSIONS = frozenset({
    ".py", ".pyw", ".ipynb", ".sh", ".bash", ".zsh", ".r", ".rmd", ".jl", ".pl", ".pm",
    ".rb", ".js", ".mjs", ".ts", ".lua", ".awk", ".sed", ".mk", ".m", ".scala", ".sql",
    ".do", ".ado", ".tcl",
})
CODE_NAMES = frozenset({"makefile", "gnumakefile", "snakefile", "dockerfile", "justfile",
                        "rakefile", "dvc.yaml"})
CONFIG_EXTENSIONS = frozenset({".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".env",
                               ".prototxt", ".properties"})
CONFIG_WORDS = ("param", "config", "setting", "hparam", "hyper", "args", "options")


class Observed(namedtuple("Observed",
                          "used written deleted processes untraced lost last_write")):
    """Fields:
        used: dict[str, str]  # repository path -> role (read, read-write, code, config, moved)
        written: dict[str, bool]  # repository path -> rewritten whole (a regeneration even
                                  # when the bytes come out the same)
        deleted: list[str]  # repository paths
        processes: int
        untraced: list[str]  # programs that ran without tracing (no ptrace here)
        lost: int  # trace records dropped (disk full)
        last_write: dict[str, int]  # repository path -> when it was last written (ns)
    """

    __slots__ = ()


def role_of(path: str, access: Access | None) -> str:
    """What a used file was to the command, from its name and how it was opened."""
    if access is not None:
        if access.first in ("moved-away", "moved-in"):
            return "moved"
        if access.written and access.read:
            return "read-write"
    name = path[path.rfind("/") + 1:].lower()
    dot = name.rfind(".")
    ext = name[dot:] if dot > 0 else ""
    if ext in CODE_EXTENSIONS or name in CODE_NAMES:
        return "code"
    if ext in CONFIG_EXTENSIONS or name == ".env" or (
            ext == ".json" and any(word in name for word in CONFIG_WORDS)):
        return "config"
    return "read"


def _source_of(path: str) -> str | None:
    """A cached `__pycache__/mod.cpython-311.pyc` stands for `mod.py` (Python reads the cache
    instead of the module's source); a cache with no source is not an entity."""
    if not _is_cache(path):
        return path
    folder, name = os.path.split(path)
    source = os.path.join(os.path.dirname(folder), name.split(".", 1)[0] + ".py")
    return source if os.path.isfile(source) else None


_MISSING = object()
_S_IFMT, _S_IFLNK, _S_IFREG = 0o170000, stat.S_IFLNK, stat.S_IFREG
_READ_ONLY_BITS = os.O_ACCMODE | os.O_TRUNC  # none of them: opened for reading only


class Resolver:
    """Absolute paths as the processes gave them -> repository paths (None: not ours).

    Folders are resolved once each, and each file costs one lstat (a script reading 10,000
    files in 100 folders costs 100 folder resolutions and 10,000 lstats, not a realpath of
    every component); the lstat's mode is kept for the caller (`mode`)."""

    def __init__(self, root: str, known: dict[str, int] | None = None):
        self.root = os.path.realpath(root)
        self.prefix = os.path.join(self.root, "")
        self.cache: dict[str, str | None] = {}
        self.folders: dict[str, tuple[str, str | None]] = {}  # folder -> _place(folder)
        self.modes: dict[str, int | None] = {}  # repository path -> st_mode now (None: gone)
        # repository path -> mode, of the files a snapshot taken after the command holds: a
        # regular file there needs no lstat (a script reading 10,000 tracked files saves 10,000)
        self.known = known or {}

    def __call__(self, path: str) -> str | None:
        found = self.cache.get(path, _MISSING)
        if found is not _MISSING:
            return found
        folder, _, name = path.rpartition("/")
        place = self.folders.get(folder)
        if place is None:
            place = self.folders[folder] = self._place(folder)
        real_folder, rel_folder = place
        if rel_folder is not None and not name.endswith(".pyc"):
            # the common case: a file the after-snapshot holds as a regular file is no symlink
            rel = rel_folder + name
            mode = self.known.get(rel)
            if mode is not None and mode & _S_IFMT == _S_IFREG:
                self.cache[path] = rel
                self.modes[rel] = mode
                return rel
        rel = self._resolve(real_folder + "/" + name)
        self.cache[path] = rel
        return rel

    def _place(self, folder: str) -> tuple[str, str | None]:
        """The folder resolved, and as a repository path prefix ("" for the root, "a/b/";
        None when it is outside the work tree or in .git)."""
        real = os.path.realpath(folder or "/").rstrip("/")
        inside = real + "/"
        if not inside.startswith(self.prefix):
            return real, None
        rel = inside[len(self.prefix):]
        if rel == ".git/" or rel.startswith(".git/") or os.sep != "/":
            return real, None
        return real, rel

    def _resolve(self, real: str) -> str | None:
        """Any path: through a symlink it names, a cached module to its source, .git out."""
        prefix = self.prefix
        if not (real.startswith(prefix) or os.path.islink(real)):
            return None
        mode: int | None = self.known.get(real[len(prefix):])
        if mode is None or mode & _S_IFMT != _S_IFREG:
            try:
                mode = os.lstat(real).st_mode
            except OSError:
                mode = None
        if mode is not None and mode & _S_IFMT == _S_IFLNK:
            real = os.path.realpath(real)
            mode = None
        if real.endswith(".pyc"):
            real = _source_of(real)
            mode = None
        if not real or not real.startswith(prefix):
            return None
        rel = real[len(prefix):]
        if rel == ".git" or rel.startswith(".git/"):
            return None
        if os.sep != "/":
            rel = rel.replace(os.sep, "/")
        if mode is not None and rel not in self.modes:
            self.modes[rel] = mode
        return rel

    def mode(self, rel: str) -> int | None:
        """The file's mode now (lstat), None when it is gone."""
        if rel in self.modes:
            return self.modes[rel]
        try:
            mode: int | None = os.lstat(self.prefix + rel).st_mode
        except OSError:
            mode = None
        self.modes[rel] = mode
        return mode


def _is_cache(path: str) -> bool:
    return path.endswith(".pyc") and path.rpartition("/")[0].endswith("/__pycache__")


OUTSIDE = "\0outside"  # a path outside the work tree, in a rename or link with one inside


_NOT_FILES = frozenset("PXU")  # process starts, programs handed to ptrace or left untraced


def observe(trace: Trace, root: str, audit_reads: list[str] = (),
            known: dict[str, int] | None = None) -> Observed:
    """What the command did to the work tree, from its trace and its Python processes' reads.

    Paths are resolved before the accesses are put in order, so that two spellings of one file
    (through a symlink, or `cd`) are one file whose first access is known. `known`: the modes
    of the files of the after-snapshot (see `Resolver`)."""
    resolve = Resolver(root, known)
    cached = resolve.cache.get
    events = []
    only_read: dict[str, None] = {}  # files whose every access so far was a read
    programs: dict[int, str] = {}  # pid -> the last program it ran ("" not known)
    untraced = set()
    for op, flags, pid, ns, path, target in trace.events:
        if op == "O" and not flags & _READ_ONLY_BITS:  # most events: a file opened to read
            if pid not in programs:
                programs[pid] = ""
            rel = cached(path, _MISSING)
            if rel is _MISSING:
                rel = resolve(path)
            if rel is not None and rel not in only_read:
                only_read[rel] = None
                events.append(("O", flags, ns, rel, None))
            continue
        if op in _NOT_FILES:
            if op == "P":
                programs[pid] = path
            elif op == "U":
                untraced.add(path)
            continue
        if pid not in programs:
            programs[pid] = ""
        if _is_cache(path) or (target and _is_cache(target)):
            continue  # Python writing its bytecode cache
        path = resolve(path) or OUTSIDE
        if target is not None:
            target = resolve(target) or OUTSIDE
            if path == OUTSIDE and target == OUTSIDE:
                continue
        elif path == OUTSIDE:
            continue
        only_read[path] = None  # its first access is known: a later read changes nothing
        if target is not None:
            only_read[target] = None
        events.append((op, flags, ns, path, target))
    per_path = accesses(events)
    per_path.pop(OUTSIDE, None)
    used: dict[str, str] = {}
    written: dict[str, bool] = {}
    deleted: list[str] = []
    for rel, access in per_path.items():
        mode = resolve.mode(rel)
        is_dir = mode is not None and stat.S_ISDIR(mode)
        if access.first in ("read", "moved-away") and not is_dir:
            used[rel] = role_of(rel, access)
        if access.written and mode is not None and not is_dir:
            written[rel] = access.truncated or access.created
        if access.deleted and mode is None:
            deleted.append(rel)
    # Python processes the interposer did not reach (a static Python, a stripped environment):
    # their audit hook's reads, for files the trace does not know under any spelling.
    traced = {e.path for e in trace.events} if audit_reads else set()  # (normalised)
    for path in audit_reads:
        path = os.path.normpath(path)
        if path in traced:
            continue
        rel = resolve(path)
        if rel is not None and rel not in per_path and os.path.isfile(
                os.path.join(resolve.root, rel)):
            used[rel] = role_of(rel, None)
    last_write = {rel: per_path[rel].last_write for rel in written}
    processes = sum(1 for exe in programs.values() if os.path.basename(exe) != "provtrace")
    return Observed(used, written, sorted(deleted), processes, sorted(untraced), trace.lost,
                    last_write)
