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

import fcntl
import hashlib
import json
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from provgraph import gitio
from provgraph.repo import Repository

POINTER_MAGIC = b"provgraph large file\n"


@dataclass(frozen=True)
class LargeFile:
    sha256: str
    size: int
    pointer: str  # oid of the pointer blob standing in for the file in snapshot trees


@dataclass(frozen=True)
class Snapshot:
    tree: str
    large: dict[str, LargeFile]  # path -> digest, for every large file in this tree
    taken: str = ""  # when it was taken (ISO 8601, UTC): it shows the tree at this moment


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock between provgraph processes; the kernel drops it if we are killed."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def pointer_content(sha256: str, size: int) -> bytes:
    return POINTER_MAGIC + f"sha256 {sha256}\nsize {size}\n".encode()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class Snapshotter:
    def __init__(self, repo: Repository, large_file_limit: int):
        self.repo = repo
        self.limit = large_file_limit
        prov = repo.prov_dir
        self.index = prov / "snapshot-index"
        self.state_file = prov / "snapshot.json"
        self.lock_file = prov / "snapshot.lock"
        self.env = {**os.environ, "GIT_INDEX_FILE": str(self.index)}
        self.env.pop("GIT_WORK_TREE", None)

    def git(self, *args: str, input: bytes | None = None) -> bytes:
        return gitio.run(list(args), self.repo.root, env=self.env, input=input)

    def take(self) -> Snapshot:
        """Snapshot the work tree; concurrent snapshots of one repository take turns."""
        with locked(self.lock_file):
            taken = datetime.now(UTC).isoformat(timespec="microseconds")
            # We hold the lock, so a git lock on our index is a leftover of a killed prov.
            Path(f"{self.index}.lock").unlink(missing_ok=True)
            state = self._load_state()
            if not self.index.exists():
                self._seed_index()
                state = {"large": {}, "digests": {}}
            # digest cache of large files, by size, mtime and inode (survives renames)
            self.digests = state.setdefault("digests", {})
            changed = self.git("ls-files", "-z", "--others", "--modified", "--exclude-standard")
            small, removed, large = self._classify(set(gitio.split_z(changed)), state["large"])
            if small or removed or large is not None:
                self._update_index(small, removed, large, state["large"])
                if large is not None:
                    state["large"] = large
                    live = {":".join(map(str, info["stat"])) for info in large.values()}
                    state["digests"] = {k: v for k, v in self.digests.items() if k in live}
                state.pop("tree", None)
            tree = state.get("tree") if state.get("index_stat") == self._index_stat() else None
            if tree is None:
                tree = self.git(*gitio.FSYNC_CONFIG, "write-tree").decode().strip()
                state["tree"] = tree
                state["index_stat"] = self._index_stat()
                gitio.write_file_atomic(self.state_file, json.dumps(state).encode(), durable=False)
            large_now = {
                path: LargeFile(info["sha256"], info["size"], info["pointer"])
                for path, info in state["large"].items()
            }
            return Snapshot(tree, large_now, taken)

    def _seed_index(self) -> None:
        """Start from a copy of the user's index: its stat cache spares hashing every file."""
        user_index = Path(gitio.run(["rev-parse", "--git-path", "index"], self.repo.root)
                          .decode().strip())
        if not user_index.is_absolute():
            user_index = self.repo.root / user_index
        if user_index.exists():
            shutil.copyfile(user_index, self.index)
        else:
            self.git("read-tree", "HEAD")

    def _load_state(self) -> dict:
        try:
            return json.loads(self.state_file.read_bytes())
        except (FileNotFoundError, ValueError):
            return {"large": {}, "digests": {}}

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
                st = os.lstat(self.repo.root / path)
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
            sha = self.digests[key] = file_sha256(self.repo.root / path)
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
        if small or removed:
            paths = b"".join(os.fsencode(p) + b"\0" for p in small + removed)
            self.git(*gitio.FSYNC_CONFIG, "update-index", "-z", "--add", "--remove",
                     "--replace", "--stdin", input=paths)
        if large:
            updated = [p for p, info in large.items() if known_large.get(p) != info]
            if updated:
                args = ["update-index", "--add", "--replace"]
                for path in updated:
                    info = large[path]
                    args += ["--cacheinfo", f"{info['mode']},{info['pointer']},{path}"]
                args += ["--assume-unchanged", "--", *updated]
                self.git(*args)
