"""The repository provgraph records in: where its work tree, git dir and provgraph's own files are.

Everything provgraph keeps lives in the git dir (`.git/prov/`, `refs/prov/`), never in the
work tree, so the user's `git status` is exactly what it would be without provgraph.
"""

from __future__ import annotations

import os
from functools import cached_property

from provgraph import gitio

# Paths are plain strings on the capture path: importing pathlib costs `prov CMD` ~3 ms.


class ProvError(Exception):
    """An error a user can fix; printed as one line, never as a traceback."""


class Repository:
    def __init__(self, root: str, git_dir: str, common_dir: str, object_format: str,
                 head: str):
        self.root = root  # the work tree's top folder
        self.git_dir = git_dir  # this work tree's git dir (.git, or .git/worktrees/NAME)
        self.common_dir = common_dir  # shared git dir: objects, refs
        self.object_format = object_format  # "sha1" or "sha256"
        self.head = head  # the commit HEAD points at

    @classmethod
    def discover(cls, cwd: str | os.PathLike | None = None) -> Repository:
        """Find the repository around `cwd` with one git process, or explain why not."""
        cwd = os.fspath(cwd or os.getcwd())
        try:
            out = gitio.run(["rev-parse", "--show-toplevel", "--absolute-git-dir",
                             "--git-common-dir", "--show-object-format", "--verify",
                             "HEAD^{commit}"], cwd)
        except gitio.GitError as exc:
            raise ProvError(_explain_discovery_failure(cwd, str(exc))) from None
        root, git_dir, common, fmt, head = out.decode().splitlines()
        # --git-common-dir may be relative to the folder git ran in
        if not os.path.isabs(common):
            common = os.path.realpath(os.path.join(cwd, common))
        common_dir = common
        return cls(root, git_dir, common_dir, fmt, head)

    @property
    def prov_dir(self) -> str:
        """provgraph's private folder: snapshot index, caches, the embedded index."""
        return os.path.join(self.git_dir, "prov")

    def prov_path(self, name: str) -> str:
        """A file in provgraph's private folder."""
        return os.path.join(self.git_dir, "prov", name)

    @property
    def objects(self) -> gitio.ObjectStore:
        objects = os.environ.get("GIT_OBJECT_DIRECTORY") or os.path.join(self.common_dir,
                                                                          "objects")
        return gitio.ObjectStore(objects, self.object_format)

    def git(self, *args: str, **kwargs) -> bytes:
        return gitio.run(list(args), self.root, **kwargs)

    def ensure_prov_dir(self) -> str:
        """Create `.git/prov/`; a read-only repository is a clear error before anything runs."""
        path = self.prov_dir
        try:
            os.makedirs(os.path.join(path, "running"), exist_ok=True)
            probe = os.path.join(path, f".probe-{os.getpid()}")
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT, 0o644))
            os.unlink(probe)
        except OSError as exc:
            raise ProvError(
                f"cannot write provenance into {path}: {exc.strerror or exc}"
            ) from None
        return path

    @cached_property
    def clone_id(self) -> str:
        """This clone's name in `refs/prov/journal/<clone>`.

        Each clone writes only its own chain, so clones never write each other's refs."""
        path = self.prov_path("clone-id")
        try:
            return _read(path)
        except FileNotFoundError:
            pass
        # Several first captures may race here: the first link wins, the others read it.
        tmp = self.prov_path(f".clone-id.{os.getpid()}")
        with open(tmp, "w") as handle:
            handle.write(os.urandom(6).hex() + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        return _read(path)

    @cached_property
    def project(self) -> str:
        """The project id shared by every clone: the first root commit of the history.

        Every clone computes the same value without talking to the others, which is what lets
        several clones (and several projects) share one Neo4j database without collisions.
        """
        path = self.prov_path("project")
        try:
            return _read(path)
        except FileNotFoundError:
            roots = self.git("rev-list", "--max-parents=0", "HEAD").decode().split()
            value = sorted(roots)[0][:12]
            gitio.write_file_atomic(path, value.encode() + b"\n")
            return value

    def relpath(self, path: str, cwd: str) -> str | None:
        """`path` as written by the user (relative to `cwd`) from the root; None if outside."""
        full = os.path.normpath(os.path.join(cwd, path))
        rel = os.path.relpath(full, self.root)
        if rel == "." or rel.startswith(".." + os.sep) or rel == "..":
            return None
        if rel.split(os.sep, 1)[0] == ".git":
            return None
        return rel.replace(os.sep, "/")


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read().strip()


def _explain_discovery_failure(cwd: str, message: str) -> str:
    if "not a git repository" in message:
        return f"not inside a git repository ({cwd}); run `git init` first or cd into one"
    if "HEAD" in message or "unknown revision" in message or "Needed a single revision" in message:
        return (
            "the repository has no commits yet; provgraph needs one to name the project "
            "(git commit --allow-empty -m 'start')"
        )
    if "work tree" in message:
        return f"{cwd} is not inside a work tree (a bare repository has no files to record)"
    return message
