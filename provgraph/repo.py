"""The repository provgraph records in: where its work tree, git dir and provgraph's own files are.

Everything provgraph keeps lives in the git dir (`.git/prov/`, `refs/prov/`), never in the
work tree, so the user's `git status` is exactly what it would be without provgraph.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from provgraph import gitio


class ProvError(Exception):
    """An error a user can fix; printed as one line, never as a traceback."""


@dataclass(frozen=True)
class Repository:
    root: Path  # the work tree's top folder
    git_dir: Path  # this work tree's git dir (.git, or .git/worktrees/NAME)
    common_dir: Path  # shared git dir: objects, refs
    object_format: str  # "sha1" or "sha256"
    head: str  # the commit HEAD points at

    @classmethod
    def discover(cls, cwd: str | Path | None = None) -> Repository:
        """Find the repository around `cwd` with one git process, or explain why not."""
        cwd = Path(cwd or os.getcwd())
        try:
            out = gitio.run(
                [
                    "rev-parse",
                    "--show-toplevel",
                    "--absolute-git-dir",
                    "--git-common-dir",
                    "--show-object-format",
                    "--verify",
                    "HEAD^{commit}",
                ],
                cwd,
            )
        except gitio.GitError as exc:
            raise ProvError(_explain_discovery_failure(cwd, str(exc))) from None
        root, git_dir, common, fmt, head = out.decode().splitlines()
        # --git-common-dir may be relative to the folder git ran in
        common_dir = Path(common) if os.path.isabs(common) else (cwd / common).resolve()
        return cls(Path(root), Path(git_dir), common_dir, fmt, head)

    @property
    def prov_dir(self) -> Path:
        """provgraph's private folder: snapshot index, caches, the embedded index."""
        return self.git_dir / "prov"

    @property
    def objects(self) -> gitio.ObjectStore:
        objects = os.environ.get("GIT_OBJECT_DIRECTORY") or str(self.common_dir / "objects")
        return gitio.ObjectStore(Path(objects), self.object_format)

    def git(self, *args: str, **kwargs) -> bytes:
        return gitio.run(list(args), self.root, **kwargs)

    def ensure_prov_dir(self) -> Path:
        """Create `.git/prov/`; a read-only repository is a clear error before anything runs."""
        path = self.prov_dir
        try:
            path.mkdir(exist_ok=True)
            (path / "running").mkdir(exist_ok=True)
            probe = path / f".probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ProvError(
                f"cannot write provenance into {path}: {exc.strerror or exc}"
            ) from None
        return path

    @cached_property
    def clone_id(self) -> str:
        """This clone's name in `refs/prov/journal/<clone>`.

        Each clone writes only its own chain, so clones never write each other's refs."""
        path = self.prov_dir / "clone-id"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        # Several first captures may race here: the first link wins, the others read it.
        tmp = path.with_name(f".clone-id.{os.getpid()}")
        tmp.write_text(secrets.token_hex(6) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        return path.read_text().strip()

    @cached_property
    def project(self) -> str:
        """The project id shared by every clone: the first root commit of the history.

        Every clone computes the same value without talking to the others, which is what lets
        several clones (and several projects) share one Neo4j database without collisions.
        """
        path = self.prov_dir / "project"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            roots = self.git("rev-list", "--max-parents=0", "HEAD").decode().split()
            value = sorted(roots)[0][:12]
            gitio.write_file_atomic(path, value.encode() + b"\n")
            return value

    def relpath(self, path: str | Path, cwd: str | Path) -> str | None:
        """`path` as written by the user (relative to `cwd`) from the root; None if outside."""
        full = os.path.normpath(os.path.join(cwd, path))
        rel = os.path.relpath(full, self.root)
        if rel == "." or rel.startswith(".." + os.sep) or rel == "..":
            return None
        if rel.split(os.sep, 1)[0] == ".git":
            return None
        return rel.replace(os.sep, "/")


def _explain_discovery_failure(cwd: Path, message: str) -> str:
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
