"""Turn a repository's journal chain into format 1, as provgraph wrote it before format 2:
each record without `diff`, `format: 1`, its commit's tree linking the `before` and `after`
snapshot trees; no content chain, no note that the chain was migrated."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess


def to_format1(root, env) -> None:
    def git(*args: str, input: bytes | None = None) -> str:
        return subprocess.run(["git", *args], cwd=root, env=env, check=True, input=input,
                              capture_output=True).stdout.decode()

    clone = (root / ".git/prov/clone-id").read_text().strip()
    ref = f"refs/prov/journal/{clone}"
    parent = None
    for commit in git("rev-list", "--reverse", ref).split():
        record = json.loads(git("cat-file", "blob", f"{commit}:record.json"))
        record.pop("diff", None)
        record["format"] = 1
        blob = git("hash-object", "-w", "--stdin",
                   input=json.dumps(record, sort_keys=True).encode()).strip()
        lines = f"100644 blob {blob}\trecord.json\n"
        lines += "".join(f"040000 tree {record[k]}\t{k}\n" for k in ("before", "after")
                         if record.get(k))
        tree = git("mktree", input=lines.encode()).strip()
        args = ["commit-tree", tree, "-m", git("log", "-1", "--format=%B", commit).strip()]
        if parent:
            args += ["-p", parent]
        parent = git(*args).strip()
    git("update-ref", ref, parent)
    git("update-ref", "-d", f"refs/prov/content/{clone}")
    for name in ("journal-format", "migrated.json"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(root / ".git/prov" / name)
