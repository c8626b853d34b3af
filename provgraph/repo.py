"""The repository provgraph records in: where its work tree, git dir and provgraph's own files are.

Everything provgraph keeps lives in the git dir (`.git/prov/`, `refs/prov/`), never in the
work tree, so the user's `git status` is exactly what it would be without provgraph.
"""

from __future__ import annotations

import contextlib
import os
from functools import cached_property

from provgraph import gitio
from provgraph.errors import ProvError  # importable from here too, as before

# Paths are plain strings on the capture path: importing pathlib costs `prov CMD` ~3 ms.


#: A blob holding the full id of the project's root commit (`Repository.project`).
PROJECT_REF = "refs/prov/project"


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

    def ensure_recordable(self) -> None:
        """Before a command runs: git's object store and the journal's refs take new files,
        else one clear error (a read-only mount, a full quota) instead of a command that ran
        and could not be recorded."""
        objects = self.objects.objects_dir
        refs = os.path.join(self.common_dir, "refs", "prov", "journal")
        for folder in (objects, refs):
            # a name git ignores in both folders (dot files), removed at once
            probe = os.path.join(folder, f".prov-probe-{os.getpid()}")
            try:
                os.makedirs(folder, exist_ok=True)
                os.close(os.open(probe, os.O_WRONLY | os.O_CREAT, 0o644))
                os.unlink(probe)
            except OSError as exc:
                raise ProvError(
                    f"cannot record into {folder}: {exc.strerror or exc}") from None

    @cached_property
    def clone_id(self) -> str:
        """This clone's name in `refs/prov/journal/<clone>`.

        Each clone writes only its own chain, so clones never write each other's refs."""
        path = self.prov_path("clone-id")
        found = _read_clone_id(path)
        if found is not None:
            return found
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
        return _read_clone_id(path) or ""

    @cached_property
    def project(self) -> str:
        """The project id shared by every clone: the first 12 hex digits of the root commit
        of the history (the smallest, when it has several).

        Every clone computes the same value without talking to the others, which is what lets
        several clones (and several projects) share one Neo4j database without collisions.
        A shallow clone lacks that commit (git takes the oldest commit it has for a root), so
        it reads the root commit from `refs/prov/project`, which full clones write and
        `prov push`/`prov pull` share; without it, it cannot name the project and says so.

        Cached in `.git/prov/project` as the root commit's full id, followed by ` ref` when it
        came from the ref: checked against the history once the clone is no longer shallow.
        """
        from provgraph import state

        path = self.prov_path("project")
        cached = (state.read_text(path) or "").split()
        shallow = os.path.exists(os.path.join(self.common_dir, "shallow"))
        if cached and state.is_hex(cached[0]) and (cached[1:] == [] or (
                cached[1:] == ["ref"] and shallow)):
            return cached[0][:12]
        if shallow:
            root, note = self._shared_root(), " ref"
        else:
            roots = self.git("rev-list", "--max-parents=0", "HEAD").decode().split()
            root, note = sorted(roots)[0], ""
            self._share_root(root)
        with contextlib.suppress(OSError):  # a read-only .git: computed again next time
            gitio.write_file_atomic(path, f"{root}{note}\n".encode())
        return root[:12]

    def _shared_root(self) -> str:
        """The root commit named by `refs/prov/project` (a shallow clone's only source)."""
        from provgraph import state

        out = self.git("cat-file", "blob", PROJECT_REF, check=False).decode(errors="replace")
        root = out.strip()
        if not state.is_hex(root):
            raise ProvError(
                "this is a shallow clone: provgraph names the project after the first commit "
                "of the history, which it lacks; run `git fetch --unshallow`, or `prov pull` "
                f"to fetch the project's name ({PROJECT_REF}) from a clone that has it")
        return root

    def _share_root(self, root: str) -> None:
        """Name the root commit in `refs/prov/project`, for shallow clones (best effort: a
        ref already there, or a read-only repository, leaves it as it is)."""
        try:
            if gitio.read_ref(self.common_dir, PROJECT_REF) is None:
                blob = self.objects.write("blob", f"{root}\n".encode())
                gitio.update_ref(self.common_dir, PROJECT_REF, blob, None, self.root)
        except (OSError, gitio.GitError):
            pass

    def relpath(self, path: str, cwd: str) -> str | None:
        """`path` as written by the user (relative to `cwd`) from the root; None if outside."""
        full = os.path.normpath(os.path.join(cwd, path))
        rel = os.path.relpath(full, self.root)
        if rel == "." or rel.startswith(".." + os.sep) or rel == "..":
            return None
        if rel.split(os.sep, 1)[0] == ".git":
            return None
        return rel.replace(os.sep, "/")


def _read_clone_id(path: str) -> str | None:
    """This clone's id as kept in `path`; None when there is none yet. Only this file says
    which of the journal chains is this clone's, so a damaged one is named, never replaced."""
    from provgraph import state

    try:
        with open(path, "rb") as handle:
            data = handle.read(100)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ProvError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        value = data.decode("ascii").strip()
    except UnicodeDecodeError:
        value = ""
    if state.is_hex(value, tuple(range(8, 65))):
        return value
    raise ProvError(
        f"{state.shown(path)} is damaged: it names this clone's journal chain "
        "(refs/prov/journal/<id>); write the id back (`git for-each-ref refs/prov/journal` "
        "lists the chains), or remove the file to start a new chain")


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
