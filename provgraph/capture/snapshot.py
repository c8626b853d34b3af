"""Implicit versions: the work tree as a git tree, taken before and after every command.

A private index (`.git/prov/snapshot-index`, first copied from the user's) keeps git's stat
cache, so a snapshot re-hashes only files whose size or mtime changed. One `git ls-files`
walks the tree (respecting .gitignore) to find new, changed and deleted files; one
`git update-index` stores them; `git write-tree` names the result. The user's index, HEAD
and stash are never touched.

Files over the size limit are not copied into git: the tree holds a small pointer blob with
their SHA-256 (cached by size, mtime and inode) and the index entry is marked assume-unchanged,
so provgraph, not git, watches them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import time
from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager

from provgraph import gitio, state
from provgraph.repo import Repository
from provgraph.timestamps import now

POINTER_MAGIC = b"provgraph large file\n"
#: Tries of a snapshot during which another command keeps shrinking a file git is reading.
SHORT_READ_RETRIES = 20
#: From this many new or changed files on, a snapshot stores them in one pack rather than as
#: loose objects (git's bulk check-in, which it uses for files over core.bigFileThreshold):
#: durable with one fsync instead of one write-out per object. 10,000 new 1 KB files: 7.7 s
#: against 27 s loose. Below it, loose objects (a pack per small snapshot would pile up).
PACK_FROM = 1000
#: ... in packs of at most this many files: git's bulk check-in looks each new object up in
#: the list of those it already wrote to the pack, one by one (git 2.39 `already_written`), so
#: one pack costs the square of its objects: 100,000 new 1 KB files took 27 s of CPU in one
#: `update-index`, 10,000 take 0.8 s (and `git add -A` of 100,000 about 10 s).
PACK_SIZE = 10_000
PACKED = ("-c", "core.bigFileThreshold=1", "-c", "pack.compression=0")


class LargeFile(namedtuple("LargeFile", "sha256 size pointer")):
    """Fields:
        sha256: str
        size: int
        pointer: str  # oid of the pointer blob standing in for the file in snapshot trees
    """

    __slots__ = ()


class Snapshot(namedtuple("Snapshot", "tree large taken done", defaults=("", ""))):
    """Fields:
        tree: str
        large: dict[str, LargeFile]  # path -> digest, for every large file in this tree
        taken: str = ""  # when it was begun (ISO 8601, UTC), the lock held
        done: str = ""  # when it was done: the files were read in between
    """

    __slots__ = ()


@contextmanager
def locked(path: str) -> Iterator[int]:
    """An exclusive lock between provgraph processes; the kernel drops it if we are killed.

    Yields the lock file's descriptor: a holder may note there what it is doing, for the next
    holder to find if it is killed half way."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def pointer_content(sha256: str, size: int) -> bytes:
    return POINTER_MAGIC + f"sha256 {sha256}\nsize {size}\n".encode()


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _sound_large(info: dict) -> bool:
    """A large file's entry in snapshot.json, as `_describe_large` writes it."""
    return (state.is_hex(info.get("sha256"), (64,)) and state.is_hex(info.get("pointer"))
            and isinstance(info.get("size"), int) and info.get("mode") in ("100644", "100755")
            and state.list_of(info.get("stat"), int) and len(info["stat"]) == 3)


def file_sha256(path: str) -> str:
    import hashlib  # OpenSSL's SHA-256 is fast; only large files pay for loading it

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class Walk:
    """The two git processes that find what changed since the last snapshot, running.

    New files come from a walk of the tree (respecting .gitignore), changed and deleted ones
    from a stat of every index entry; both run at once. `prov CMD` starts them while Python
    is still importing the rest of provgraph.
    """

    def __init__(self, root: str, env: dict[str, str]):
        self.others = gitio.Started(["ls-files", "-z", "--others", "--exclude-standard"],
                                    root, env)
        self.modified = gitio.Started(["diff-files", "-z", "--name-only",
                                       "--ignore-submodules=dirty"], root, env)

    def paths(self) -> set[str]:
        return set(gitio.split_z(self.others.output())) | set(gitio.split_z(
            self.modified.output()))


def snapshot_env(repo: Repository) -> dict[str, str]:
    env = {**os.environ, "GIT_INDEX_FILE": repo.prov_path("snapshot-index")}
    env.pop("GIT_WORK_TREE", None)
    return env


def start_walk(repo: Repository) -> Walk | None:
    """Begin the next snapshot's walk early (None before the first snapshot: no index yet).

    Walking outside the snapshot lock is safe: another process updating the index meanwhile
    can only make this walk report paths it has already stored (re-hashed to the same blob)."""
    if not os.path.exists(repo.prov_path("snapshot-index")):
        return None
    return Walk(repo.root, snapshot_env(repo))


class Snapshotter:
    def __init__(self, repo: Repository, large_file_limit: int):
        self.repo = repo
        self.limit = large_file_limit
        self.index = repo.prov_path("snapshot-index")
        self.state_file = repo.prov_path("snapshot.json")
        self.lock_file = repo.prov_path("snapshot.lock")
        self.env = snapshot_env(repo)

    def git(self, *args: str, input: bytes | None = None) -> bytes:
        return gitio.run(list(args), self.repo.root, env=self.env, input=input)

    def take(self, walk: Walk | None = None) -> Snapshot:
        """Snapshot the work tree; concurrent snapshots of one repository take turns.

        `walk` is this snapshot's walk, started earlier by `start_walk`. It is taken, and
        timed, once the lock is ours: files are read then, not while waiting for another."""
        with locked(self.lock_file):
            taken = now()
            # We hold the lock, so a git lock on our index is a leftover of a killed prov.
            _remove(f"{self.index}.lock")
            if os.path.exists(self.index) and not self._index_known():
                _remove(self.index)
            for attempt in range(SHORT_READ_RETRIES):
                try:
                    return self._take(taken, walk)
                except gitio.GitError as exc:
                    if "short read" not in str(exc) or attempt == SHORT_READ_RETRIES - 1:
                        break
                # A file shrank while git read it (a command running beside this one is
                # rewriting it): read the tree again, as it is now.
                time.sleep(0.01 * (attempt + 1))
                walk = None
            # The private index is only a cache (damaged, or an expired shared index): start
            # it again from the user's index; an error that stays is git's to tell.
            _remove(f"{self.index}.lock")  # left by a git that was stopped (ulimit -f)
            _remove(self.index)
            _remove(self.state_file)
            return self._take(taken)

    def _take(self, taken: str, walk: Walk | None = None) -> Snapshot:
        state = self._load_state() or {"large": {}, "digests": {}}
        if not os.path.exists(self.index):
            self._seed_index()
            state = {"large": {}, "digests": {}}
            walk = None
        # digest cache of large files, by size, mtime and inode (survives renames)
        self.digests = state.setdefault("digests", {})
        changed = (walk or Walk(self.repo.root, self.env)).paths()
        small, removed, large = self._classify(changed, state["large"])
        if small or removed or large is not None:
            self._update_index(small, removed, large, state["large"])
            if large is not None:
                state["large"] = large
                live = {":".join(map(str, info["stat"])) for info in large.values()}
                state["digests"] = {k: v for k, v in self.digests.items() if k in live}
            state.pop("tree", None)
        tree = state.get("tree") if state.get("index_stat") == self._index_stat() else None
        if tree is None:
            tree = self.git(*gitio.FSYNC_CONFIG, "write-tree", "--missing-ok").decode().strip()
            state["tree"] = tree
            state["index_stat"] = self._index_stat()
            gitio.write_file_atomic(self.state_file, json.dumps(state).encode(), durable=False)
        large_now = {
            path: LargeFile(info["sha256"], info["size"], info["pointer"])
            for path, info in state["large"].items()
        }
        return Snapshot(tree, large_now, taken, now())

    def _seed_index(self) -> None:
        """Start from a copy of the user's index: its stat cache spares hashing every file."""
        user_index = gitio.run(["rev-parse", "--git-path", "index"], self.repo.root)
        user_index = os.path.join(self.repo.root, os.fsdecode(user_index.strip()))
        if os.path.exists(user_index):
            import shutil

            shutil.copyfile(user_index, self.index)
        else:
            self.git("read-tree", "HEAD")
        # A split index rewrites only the changed entries: in a 10,000-file repository that
        # makes each snapshot's index writes ~3x cheaper.
        self.git("update-index", "--split-index")

    def _load_state(self) -> dict | None:
        """The large files and the digest cache beside the private index; None when there
        is none or it is damaged (the index is then made again with it)."""
        found = state.read_json(self.state_file)
        if not (isinstance(found, dict) and state.dict_of(found.get("large", {}), str, dict)
                and state.dict_of(found.get("digests", {}), str, str)
                and all(_sound_large(info) for info in found.get("large", {}).values())
                and isinstance(found.get("tree", ""), str)):
            return None
        found.setdefault("large", {})
        found.setdefault("digests", {})
        return found

    def _index_known(self) -> bool:
        """Whether the private index is the one the last snapshot left. Its large files are
        known only from the state; and git does not check an index's checksum when it reads
        it, so one cut short or overwritten reads as nonsense entries (an empty snapshot)
        rather than as an error: an index whose size, time and inode are not the ones noted
        after the last snapshot is made again."""
        found = self._load_state()
        if found is None:
            return False
        return found.get("index_stat") == self._index_stat()

    def _index_stat(self) -> list[int]:
        st = os.stat(self.index)
        return [st.st_size, st.st_mtime_ns, st.st_ino]

    def _classify(
        self, paths: set[str], known_large: dict[str, dict]
    ) -> tuple[list[str], list[str], dict[str, dict] | None]:
        """Sort changed paths into small files, removed files and the new large-file table.

        The large-file table is None when no large file changed.
        """
        small: list[str] = []
        removed: list[str] = []
        large = dict(known_large)
        large_changed = False
        for path in sorted(paths | set(known_large)):
            if path.endswith("/"):  # a nested repository: not ours to record
                continue
            try:
                st = os.lstat(os.path.join(self.repo.root, path))
            except FileNotFoundError:
                removed.append(path)
                large_changed |= large.pop(path, None) is not None
                continue
            signature = [st.st_size, st.st_mtime_ns, st.st_ino]
            if stat.S_ISREG(st.st_mode) and st.st_size > self.limit:
                old = large.get(path)
                if old is None or old["stat"] != signature:
                    large[path] = self._describe_large(path, st, signature)
                    large_changed = True
            elif path in large:
                del large[path]  # shrank below the limit: git tracks it again
                large_changed = True
                small.append(path)
            elif path in paths:
                small.append(path)
        return small, removed, (large if large_changed else None)

    def _describe_large(self, path: str, st: os.stat_result, signature: list[int]) -> dict:
        key = ":".join(map(str, signature))
        sha = self.digests.get(key)
        if sha is None:
            sha = self.digests[key] = file_sha256(os.path.join(self.repo.root, path))
        pointer = self.repo.objects.write("blob", pointer_content(sha, st.st_size))
        mode = "100755" if st.st_mode & stat.S_IXUSR else "100644"
        return {"sha256": sha, "size": st.st_size, "pointer": pointer, "mode": mode,
                "stat": signature}

    def _update_index(
        self,
        small: list[str],
        removed: list[str],
        large: dict[str, dict] | None,
        known_large: dict[str, dict],
    ) -> None:
        back_to_git = [p for p in small if p in known_large]
        if back_to_git:
            self.git("update-index", "--no-assume-unchanged", "--", *back_to_git)
        packed = len(small) >= PACK_FROM
        chunks = ([small[i:i + PACK_SIZE] for i in range(0, len(small), PACK_SIZE)]
                  if packed else [small])
        chunks[-1] = chunks[-1] + removed
        for chunk in chunks:
            if chunk:
                self.git(*gitio.SNAPSHOT_CONFIG, *(PACKED if packed else ()),
                         "update-index", "-z", "--add", "--remove", "--replace", "--stdin",
                         input=b"".join(os.fsencode(p) + b"\0" for p in chunk))
        if large:
            updated = [p for p, info in large.items() if known_large.get(p) != info]
            if updated:
                args = ["update-index", "--add", "--replace"]
                for path in updated:
                    info = large[path]
                    args += ["--cacheinfo", f"{info['mode']},{info['pointer']},{path}"]
                args += ["--assume-unchanged", "--", *updated]
                self.git(*args)
