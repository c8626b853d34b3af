"""Git plumbing: every git process provgraph starts goes through here.

provgraph keeps its versions and its journal in the repository's own object store, so it
needs only a handful of plumbing commands. They run as short subprocesses (about 1.5 ms each)
instead of through a git library: the capture path cannot afford a heavy import, and git
itself is the authority on its formats, locks and ignore rules.

Small objects (journal records, their trees and commits, large-file pointers) are written
here directly as loose objects, fsync'd, which costs no process at all.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import zlib
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator

from provgraph.errors import GitError

#: Durability for everything provgraph writes: objects and refs reach the disk before a
#: command returns; loose objects are fsync'd in one batch. (The private index is a cache,
#: rebuilt if lost, so it is not fsync'd.)
FSYNC_CONFIG = ("-c", "core.fsync=committed", "-c", "core.fsyncMethod=batch")

#: Snapshot blobs are stored uncompressed: zlib costs ~17 ms per MB of incompressible data
#: (model weights), on the hot path; `git gc` compresses them into packs later.
SNAPSHOT_CONFIG = (*FSYNC_CONFIG, "-c", "core.looseCompression=0")


def run(
    args: list[str],
    cwd: str | os.PathLike,
    *,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
) -> bytes:
    """Run `git ARGS` and return its stdout; raise GitError with git's own first line."""
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, env=env, input=input, capture_output=True
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed or not on PATH") from exc
    if check and proc.returncode != 0:
        raise GitError(_failure(args, proc.returncode, proc.stderr))
    return proc.stdout


def succeeds(args: list[str], cwd: str | os.PathLike) -> bool:
    """Whether a git command exits 0: its answer to yes/no questions (`merge-base
    --is-ancestor`)."""
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True).returncode == 0
    except FileNotFoundError as exc:
        raise GitError("git is not installed or not on PATH") from exc


class Started:
    """A git process running in the background while provgraph does something else."""

    def __init__(self, args: list[str], cwd: str | os.PathLike, env: dict[str, str] | None = None):
        self.args = args
        try:
            self.proc = subprocess.Popen(["git", *args], cwd=cwd, env=env,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except FileNotFoundError as exc:
            raise GitError("git is not installed or not on PATH") from exc

    def output(self, check: bool = True) -> bytes:
        out, err = self.proc.communicate()
        if check and self.proc.returncode != 0:
            raise GitError(_failure(self.args, self.proc.returncode, err))
        return out


def _failure(args: list[str], returncode: int, stderr: bytes) -> str:
    """One line for a failed git: git's own, or what stopped it. The file size limit
    (`ulimit -f`) kills git with SIGXFSZ, mid-write, without a word of its own."""
    import signal

    if returncode == -signal.SIGXFSZ:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        words = iter(args)
        name = next((w for w in words if not (w == "-c" and next(words, None))), "")
        return (f"cannot record: git {name} was stopped by the file size limit (ulimit -f, "
                f"{limit:,} bytes) while storing a file larger than that; raise the limit")
    return first_line(stderr) or f"git {args[0]} failed ({returncode})"


def first_line(stderr: bytes) -> str:
    """The most useful line of git's error output (git prefixes it with fatal:/error:)."""
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines()]
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return line.split(":", 1)[1].strip()
    return next((line for line in lines if line), "")


def split_z(data: bytes) -> list[str]:
    """Split NUL-terminated git output into paths (undecodable bytes survive round trips)."""
    return [os.fsdecode(item) for item in data.split(b"\0") if item]


class TreeEntry(namedtuple("TreeEntry", "mode name oid")):
    """Fields:
        mode: str  # "100644", "100755", "120000", "40000", "160000"
        name: str
        oid: str
    """

    __slots__ = ()


class Change(namedtuple("Change", "path status old_oid new_oid old_mode new_mode")):
    """One line of `git diff-tree -r`: a path whose content differs between two trees.

    Fields:
        path: str
        status: str  # A, D, M or T
        old_oid: str | None
        new_oid: str | None
        old_mode: str
        new_mode: str
    """

    __slots__ = ()


def _hasher(algorithm: str):
    """CPython's own SHA-1/SHA-256 for object ids: importing hashlib loads OpenSSL, which costs
    several milliseconds on every `prov CMD` (objects here are small; speed is no matter)."""
    try:
        if algorithm == "sha1":
            from _sha1 import sha1

            return sha1
        from _sha256 import sha256

        return sha256
    except ImportError:  # another Python implementation
        import hashlib

        return getattr(hashlib, algorithm)


def hash_file(path: str | os.PathLike, algorithm: str = "sha1",
              sha256: bool = False) -> tuple[str, str | None]:
    """The git blob id of a file's content (as `git hash-object --no-filters`), and its
    `sha256:` digest when asked, from one read: a view's output is named both ways.

    hashlib's (OpenSSL) hashes, not `_hasher`'s: files can be large, and only callers hashing
    whole files, never the capture path's small objects, pay for loading it."""
    import hashlib

    blob = hashlib.new(algorithm, f"blob {os.path.getsize(path)}\0".encode())
    other = hashlib.sha256() if sha256 else None
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            blob.update(chunk)
            if other is not None:
                other.update(chunk)
    return blob.hexdigest(), ("sha256:" + other.hexdigest() if other is not None else None)


class ObjectStore:
    """Writes loose objects straight into `.git/objects`, as git itself would.

    Why not `git hash-object -w`: three of these per capture would cost three processes on
    the hot path, while the format is four lines of zlib and a hash.
    """

    def __init__(self, objects_dir: str, algorithm: str = "sha1"):
        self.objects_dir = objects_dir
        self.algorithm = algorithm
        self._hash = _hasher(algorithm)
        self.null_oid = "0" * (40 if algorithm == "sha1" else 64)

    def write(self, kind: str, data: bytes) -> str:
        """Store one object durably and return its id; an existing object is left alone.

        Durable as git makes its own loose objects with core.fsync: the file is fsync'd, then
        renamed into place (the ref pointing at it is what gets its folder fsync'd)."""
        header = f"{kind} {len(data)}\0".encode()
        oid = self._hash(header + data).hexdigest()
        folder = os.path.join(self.objects_dir, oid[:2])
        target = os.path.join(folder, oid[2:])
        if os.path.exists(target):
            return oid
        os.makedirs(folder, exist_ok=True)
        fd, tmp = _temporary(folder, "tmp_obj_")
        try:
            os.write(fd, zlib.compress(header + data, 1))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)
        return oid

    def write_tree(self, entries: Iterable[TreeEntry]) -> str:
        """Write a tree; entries are sorted the way git sorts them (directories as 'name/')."""

        def key(entry: TreeEntry) -> bytes:
            name = os.fsencode(entry.name)
            return name + b"/" if entry.mode == "40000" else name

        body = b"".join(
            entry.mode.encode() + b" " + os.fsencode(entry.name) + b"\0" + bytes.fromhex(entry.oid)
            for entry in sorted(entries, key=key)
        )
        return self.write("tree", body)

    def write_commit(
        self, tree: str, parents: list[str], ident: str, when: str, message: str
    ) -> str:
        """Write a commit; `ident` is 'Name <email>', `when` is '<unix seconds> +0000'.

        Text that came from bytes that are not UTF-8 (a command's argument) goes back to those
        bytes, as git keeps them."""
        lines = [f"tree {tree}"]
        lines += [f"parent {parent}" for parent in parents]
        lines += [f"author {ident} {when}", f"committer {ident} {when}", "", message]
        return self.write("commit", ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))


def _temporary(folder: str, prefix: str) -> tuple[int, str]:
    """A new file beside its destination (what tempfile.mkstemp does, without its import)."""
    while True:
        name = os.path.join(folder, f"{prefix}{os.getpid()}.{os.urandom(4).hex()}")
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), name
        except FileExistsError:
            continue


class RefMoved(GitError):
    """A compare-and-swap of a ref found another value than expected."""


class RefLocked(RefMoved):
    """Another process holds the ref's `.lock` file (git's lock protocol)."""

    def __init__(self, message: str, lock: str):
        super().__init__(message)
        self.lock = lock


def update_ref(common_dir: str, ref: str, new: str, old: str | None, root: str) -> None:
    """Move `ref` from `old` (None: absent) to `new`, durably, as `git update-ref` would.

    For the files ref backend this is git's own protocol, done without a process: create
    `<ref>.lock` exclusively, check the current value, write, fsync, rename over the ref.
    Other ref backends (reftable) go through git itself.
    """
    if os.path.exists(os.path.join(common_dir, "reftable")):
        try:
            run([*FSYNC_CONFIG, "update-ref", ref, new, old or "0" * len(new)], root)
        except GitError as exc:
            raise RefMoved(str(exc)) from None
        return
    path = os.path.join(common_dir, ref)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    lock = path + ".lock"
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise RefLocked(f"{ref} is locked by another process ({lock} exists)", lock) from None
    try:
        try:
            os.write(fd, new.encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        current = read_ref(common_dir, ref)
        if current != old:
            raise RefMoved(f"{ref} is at {current}, expected {old}")
        os.replace(lock, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        raise
    fsync_dir(os.path.dirname(path))


def read_ref(common_dir: str, ref: str) -> str | None:
    """A ref's value from the files backend: its loose file, else `packed-refs`."""
    try:
        with open(os.path.join(common_dir, ref)) as handle:
            value = handle.read().strip()
        return value or None
    except (FileNotFoundError, NotADirectoryError):
        pass
    try:
        with open(os.path.join(common_dir, "packed-refs")) as handle:
            for line in handle:
                if line.endswith(f" {ref}\n"):
                    return line.split(" ", 1)[0]
    except FileNotFoundError:
        pass
    return None


def fsync_dir(path: str) -> None:
    """Make a rename or a new file in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_atomic(path: str | os.PathLike, data: bytes, durable: bool = True) -> None:
    """Replace `path` with `data` so readers see the old or the new content, never half."""
    path = os.fspath(path)
    folder, name = os.path.split(path)
    fd, tmp = _temporary(folder, f".{name}.")
    try:
        os.write(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if durable:
        fsync_dir(folder)


def parse_diff_tree_stdin(data: bytes, hexlen: int) -> Iterator[tuple[str, str, list[Change]]]:
    """Parse `git diff-tree -r -z --stdin` output fed with '<tree> <tree>' lines.

    git echoes each input line, then prints that pair's changes; we yield (old, new, changes).
    """
    header_len = 2 * hexlen + 2  # "<oid> <oid>\n"
    pos, end = 0, len(data)
    current: tuple[str, str, list[Change]] | None = None
    while pos < end:
        if data[pos : pos + 1] == b":":
            meta_end = data.index(b"\0", pos)
            path_end = data.index(b"\0", meta_end + 1)
            old_mode, new_mode, old_oid, new_oid, status = data[pos + 1 : meta_end].decode().split()
            path = os.fsdecode(data[meta_end + 1 : path_end])
            null = "0" * hexlen
            assert current is not None
            current[2].append(
                Change(
                    path,
                    status[0],
                    None if old_oid == null else old_oid,
                    None if new_oid == null else new_oid,
                    old_mode,
                    new_mode,
                )
            )
            pos = path_end + 1
        else:
            if current is not None:
                yield current
            old, new = data[pos : pos + header_len - 1].decode().split()
            current = (old, new, [])
            pos += header_len
    if current is not None:
        yield current


class CatFile:
    """One long-lived `git cat-file --batch` process for reading many objects cheaply."""

    def __init__(self, cwd: str | os.PathLike):
        self.proc = subprocess.Popen(
            ["git", "cat-file", "--batch"],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def read(self, name: str) -> tuple[str, str, bytes] | None:
        """Return (oid, type, content) of an object name such as '<commit>:record.json'."""
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(os.fsencode(name) + b"\n")
        self.proc.stdin.flush()
        header = self.proc.stdout.readline().decode().split()
        if len(header) < 3 or header[1] == "missing":
            return None
        oid, kind, size = header[0], header[1], int(header[2])
        content = self.proc.stdout.read(size)
        self.proc.stdout.read(1)  # the newline after the content
        return oid, kind, content

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait()

    def __enter__(self) -> CatFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def batch_check(cwd: str | os.PathLike, names: list[str]) -> dict[str, tuple[str, str, int] | None]:
    """Resolve many object names at once to (oid, type, size), None when missing."""
    if not names:
        return {}
    out = run(
        ["cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)", "--buffer"],
        cwd,
        input=b"".join(os.fsencode(name) + b"\n" for name in names),
    )
    result: dict[str, tuple[str, str, int] | None] = {}
    for name, line in zip(names, out.decode().splitlines(), strict=True):
        parts = line.split()
        result[name] = None if parts[-1] == "missing" else (parts[0], parts[1], int(parts[2]))
    return result


def read_blobs(cwd: str | os.PathLike, names: list[str], limit: int
               ) -> dict[str, bytes | int | None]:
    """Many blobs in one `git cat-file --batch`: name -> content, or its size (an int) when
    it is over `limit` bytes (streamed past, never held), or None when missing or no blob."""
    if not names:
        return {}
    try:
        proc = subprocess.Popen(["git", "cat-file", "--batch", "--buffer"], cwd=cwd,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise GitError("git is not installed or not on PATH") from exc
    assert proc.stdin and proc.stdout
    found: dict[str, bytes | int | None] = {}
    with proc:
        # a name is a line of well under a pipe's buffer: writing them all first cannot block
        # on git filling its stdout before it has read them
        proc.stdin.write(b"".join(os.fsencode(name) + b"\n" for name in names))
        proc.stdin.close()
        for name in names:
            header = proc.stdout.readline().split()
            if len(header) < 3:  # `<name> missing` / `ambiguous`
                found[name] = None
                continue
            kind, size = header[1], int(header[2])
            if kind == b"blob" and size <= limit:
                found[name] = proc.stdout.read(size)
            else:
                left = size
                while left > 0 and (chunk := proc.stdout.read(min(1 << 20, left))):
                    left -= len(chunk)
                found[name] = size if kind == b"blob" else None
            proc.stdout.read(1)  # the newline after the content
    return found


def blob_reader(root: str) -> Callable[[str], bytes | None]:
    """A reader of blobs by id for `queries.diff` (None for a blob this repository lacks, as
    after a `prov pull` of another clone's records without its objects)."""
    def read(digest: str) -> bytes | None:
        try:
            return run(["cat-file", "blob", digest], root)
        except GitError:
            return None
    return read
