"""Ground truth for what a command read and wrote: strace of the same command in an identical
copy of the repository, reduced to used / generated / deleted by the definitions of the README
("What a capture records"), written here independently of provgraph's own code:

- used: a file of the tree whose first access was a successful open for reading (or
  read-write), or that was renamed or linked elsewhere; a `__pycache__/*.pyc` read stands for
  its `.py`;
- generated: a file that exists afterwards and was opened for writing, truncated, renamed or
  linked into place or made a symlink, and whose content changed, or that was rewritten whole
  (O_TRUNC, created anew, renamed or linked into place); Python's bytecode cache excluded;
- deleted: unlinked or renamed away, and gone afterwards.

strace runs with -f -ff (a file per process, no interleaving), -ttt (to order the processes'
calls) and -y (descriptors with the paths they stand for).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections import namedtuple
from pathlib import Path

SYSCALLS = ("open,openat,openat2,creat,rename,renameat,renameat2,link,linkat,symlink,"
            "symlinkat,unlink,unlinkat,rmdir,truncate,chdir,fchdir,clone,clone3,fork,vfork")
_LINE = re.compile(r"^(?P<t>\d+\.\d+) (?P<call>\w+)\((?P<args>.*)\)\s+= (?P<ret>-?\d+|\?)"
                   r"(?P<fd><[^>]*>)?")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_DIRFD = re.compile(r"^(?:AT_FDCWD|\d+)<([^>]*)>")

Truth = namedtuple("Truth", "used generated deleted")


def have_strace() -> bool:
    return shutil.which("strace") is not None


def copy_tree(source: Path, target: Path) -> Path:
    """An identical copy of the work tree (and its .git, so git commands behave alike)."""
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)
    return target


def _contents(root: Path) -> dict[str, str]:
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not (folder == str(root) and d == ".git")]
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                found[os.path.relpath(path, root)] = "link:" + os.readlink(path)
            elif os.path.isfile(path):
                found[os.path.relpath(path, root)] = hashlib.sha256(
                    Path(path).read_bytes()).hexdigest()
    return found


def _unescape(text: str) -> str:
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape").encode(
        "latin-1").decode("utf-8", "surrogateescape")


def strace_truth(root: Path, argv: list[str], env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> Truth:
    """Run argv under strace in `root` (an identical copy) and say what it used and made."""
    before = _contents(root)
    out = root.parent / f"strace-{os.getpid()}-{os.urandom(4).hex()}"
    out.mkdir()
    start = str(cwd or root)
    subprocess.run(["strace", "-f", "-ff", "-qq", "-ttt", "-y", "-e", f"trace={SYSCALLS}",
                    "-o", str(out / "t"), *argv], cwd=start, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = _contents(root)
    calls = []
    for name in os.listdir(out):
        pid = int(name.rsplit(".", 1)[1])
        for line in (out / name).read_text(errors="surrogateescape").splitlines():
            match = _LINE.match(line)
            if match:
                calls.append((float(match["t"]), pid, match))
    shutil.rmtree(out)
    calls.sort(key=lambda c: c[0])
    return _reduce(root, calls, start, before, after)


def _reduce(root: Path, calls, start: str, before: dict[str, str], after: dict[str, str]
            ) -> Truth:
    real_root = os.path.realpath(root)
    cwd: dict[int, str] = {}
    first: dict[str, str] = {}
    written: dict[str, bool] = {}  # path -> rewritten whole
    gone: set[str] = set()

    def rel(path: str, base: str) -> str | None:
        full = os.path.realpath(os.path.join(base, path))
        folder, name = os.path.split(full)
        if os.path.basename(folder) == "__pycache__" and name.endswith(".pyc"):
            source = os.path.join(os.path.dirname(folder), name.split(".", 1)[0] + ".py")
            if not os.path.isfile(source):
                return None
            full = source
        if not full.startswith(real_root + os.sep):
            return None
        r = os.path.relpath(full, real_root)
        return None if r.split(os.sep)[0] == ".git" else r

    def is_cache(path: str) -> bool:
        return path.endswith(".pyc") and "__pycache__" in path

    for _, pid, m in calls:
        call, args, ret = m["call"], m["args"], m["ret"]
        here = cwd.setdefault(pid, start)
        if ret == "?" or int(ret) < 0:
            continue
        strings = [_unescape(s) for s in _STRING.findall(args)]
        if call in ("clone", "clone3", "fork", "vfork"):
            cwd[int(ret)] = here
            continue
        if call == "chdir" and strings:
            cwd[pid] = os.path.realpath(os.path.join(here, strings[0]))
            continue
        if call == "fchdir":
            found = _DIRFD.match(args)
            if found:
                cwd[pid] = found[1]
            continue
        dirfd = _DIRFD.match(args)
        base = dirfd[1] if dirfd else here
        if call in ("open", "openat", "openat2", "creat"):
            target = m["fd"][1:-1] if m["fd"] else os.path.join(base, strings[0])
            flags = "O_WRONLY|O_CREAT|O_TRUNC" if call == "creat" else args
            if "O_PATH" in flags or ("O_DIRECTORY" in flags and "O_CREAT" not in flags):
                continue
            writing = "O_WRONLY" in flags or "O_RDWR" in flags or "O_TRUNC" in flags
            if writing and is_cache(target):
                continue
            r = rel(target, base)
            if r is None or os.path.isdir(os.path.join(real_root, r)):
                continue
            if "O_WRONLY" not in flags:
                first.setdefault(r, "read")
            if writing:
                first.setdefault(r, "write")
                whole = "O_TRUNC" in flags or ("O_CREAT" in flags and r not in before)
                written[r] = written.get(r, False) or whole
                gone.discard(r)
        elif call in ("rename", "renameat", "renameat2", "link", "linkat"):
            # the second directory descriptor, if any, comes after the first path
            second = re.search(r'",\s*(?:AT_FDCWD|\d+)<([^>]*)>,\s*"', args)
            base2 = second[1] if second else base
            a, b = rel(strings[0], base), rel(strings[1], base2)
            if a is not None:
                first.setdefault(a, "read")
                if call.startswith("rename"):
                    gone.add(a)
            if b is not None:
                first.setdefault(b, "write")
                written[b] = True
                gone.discard(b)
        elif call in ("symlink", "symlinkat"):
            linkdir = re.search(r'",\s*(?:AT_FDCWD|\d+)<([^>]*)>,\s*"', args)
            b = rel(strings[1], linkdir[1] if linkdir else here)
            if b is not None:
                first.setdefault(b, "write")
                written[b] = True
        elif call in ("unlink", "unlinkat", "rmdir"):
            r = rel(strings[0], base)
            if r is not None:
                first.setdefault(r, "deleted")
                gone.add(r)
        elif call == "truncate":
            r = rel(strings[0], here)
            if r is not None:
                first.setdefault(r, "write")
                written[r] = True
    used = {p for p, kind in first.items() if kind == "read" and p in before}
    generated = {p for p, whole in written.items()
                 if p in after and (whole or before.get(p) != after.get(p))}
    deleted = {p for p in gone if p in before and p not in after}
    return Truth(used, generated, deleted)


def scores(recorded: set[str], truth: set[str]) -> tuple[float, float]:
    """(precision, recall) of what prov recorded against the truth (1.0 for two empty sets)."""
    hits = len(recorded & truth)
    precision = hits / len(recorded) if recorded else 1.0
    recall = hits / len(truth) if truth else 1.0
    return precision, recall
