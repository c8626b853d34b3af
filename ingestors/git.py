"""`git commit` under prov: an explicit version, next to provgraph's implicit ones.

The activity gets `git.commit` (the new commit id), `git.message`, `git.author`, `git.branch`
and `git.files`; the committed versions of the files (their blobs as committed, which may
differ from the work tree when only part of a change was staged) are used by it, with role
`committed`.
"""

from __future__ import annotations

import os
import re

from provgraph import gitio
from provgraph.ingestors import Ingestor
from provgraph.ingestors.posix import parse_arguments

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class GitIngestor(Ingestor):
    name = "git"
    pattern = re.compile(r"(^|[\s/])git\s+(.*\s)?commit\b")

    head_before = ""

    def before(self, context: dict[str, Any]) -> dict[str, Any] | None:
        head = gitio.run(["rev-parse", "-q", "--verify", "HEAD"], context["cwd"], check=False)
        self.head_before = head.decode().strip()
        return None

    def after(self, context: dict[str, Any]) -> dict[str, Any] | None:
        argv = context["argv"]
        if not argv or parse_arguments(argv).subcommand != "commit" or context["exit_code"]:
            return None
        cwd = context["cwd"]
        head = gitio.run(["rev-parse", "HEAD"], cwd).decode().strip()
        if head == self.head_before:
            return None  # nothing was committed (e.g. --dry-run)
        author, branch, message = gitio.run(
            ["log", "-1", "--format=%an <%ae>%x00%D%x00%B", head], cwd
        ).decode().split("\0", 2)
        top = gitio.run(["rev-parse", "--show-toplevel"], cwd).decode().strip()
        out = gitio.run(["diff-tree", "--root", "--no-commit-id", "-r", "-z", head], cwd)
        used, files = [], []
        fields = out.split(b"\0")
        for meta, path in zip(fields[::2], fields[1::2], strict=False):
            if not meta.startswith(b":"):
                continue
            _, _, _, new, status = meta[1:].decode().split()
            name = os.fsdecode(path)
            files.append(name)
            if status != "D":
                used.append({"path": os.path.join(top, name), "oid": new, "role": "committed"})
        return {
            "activity": {"commit": head, "author": author, "message": message.strip(),
                         "branch": _branch(branch), "files": files},
            "used": used,
        }


def _branch(decorations: str) -> str:
    match = re.search(r"HEAD -> ([^,]+)", decorations)
    return match.group(1) if match else ""
