"""What the work tree holds now, in the graph's terms: each file's content as a version's
`digest` would name it (a git blob id; `sha256:...` for large and digest-only ignored files).

`prov stale`, `prov rerun` and `prov restore` compare this with the recorded versions, so an
edit made since the last capture (uncommitted, unrecorded) counts. It is one snapshot, as a
capture takes (`capture.snapshot`: git's stat cache, so only files whose size or mtime changed
are hashed again), read as a path -> blob table; git-ignored files, which snapshots leave out,
are hashed one by one, and only when asked.
"""

from __future__ import annotations

import os

from provgraph import gitio
from provgraph.capture.snapshot import Snapshotter, file_sha256
from provgraph.config import Config
from provgraph.repo import Repository


class WorkTree:
    """The current content of the work tree's files, by repository path."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        snapshot = Snapshotter(repo, Config(repo.root, repo.prov_dir).large_file_limit).take()
        listing = repo.git("ls-tree", "-r", "-z", "--full-tree", snapshot.tree)
        self.blobs: dict[str, str] = {}
        for line in gitio.split_z(listing):
            meta, path = line.split("\t", 1)
            self.blobs[path] = meta.split()[2]
        self.large = {path: f"sha256:{info.sha256}" for path, info in snapshot.large.items()}
        self._hashed: dict[tuple[str, bool], str | None] = {}

    def digest(self, path: str, like: str | None = None) -> str | None:
        """The digest of `path` as it is now; None when it is not in the work tree. `like`,
        a recorded digest of the path, says which form a file git ignores is known by."""
        if path in self.large:
            return self.large[path]
        if path in self.blobs:
            return self.blobs[path]
        sha = bool(like and like.startswith("sha256:"))
        if (path, sha) not in self._hashed:
            self._hashed[(path, sha)] = self._hash(path, sha)
        return self._hashed[(path, sha)]

    def _hash(self, path: str, sha: bool) -> str | None:
        """A file the snapshot does not hold (git ignores it): hashed as it was recorded."""
        full = os.path.join(self.repo.root, path)
        if not os.path.isfile(full) or os.path.islink(full):
            return None
        if sha:
            return f"sha256:{file_sha256(full)}"
        return self.repo.git("hash-object", "--no-filters", "--", path).decode().strip()


def has_blob(repo: Repository, oid: str) -> bool:
    """Whether this clone holds the bytes of blob `oid` (`prov gc` and a pull without
    content leave versions whose bytes are gone)."""
    found = gitio.batch_check(repo.root, [oid]).get(oid)
    return bool(found and found[1] == "blob")
