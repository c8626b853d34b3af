"""Journal format 1 -> 2, for this clone's own chain, on first use.

A format 1 record commit links its `before` and `after` snapshot trees, so the journal reaches
every version of every file: nothing can be dropped and every push sends it all. Migration
rewrites this clone's chain `refs/prov/journal/<clone>` once, in order, under the journal lock:

- each record keeps its every field (ids, nonce, times, used files...) and gains `diff`, what
  its snapshots say (`provgraph.journal.changes`), and `format: 2`; its commit keeps its author,
  committer and dates, holds `record.json` only, and says `(migrated from <old commit>)`;
- the snapshot trees are kept by this clone's content chain (`refs/prov/content/<clone>`);
- the old chain's commits are listed in `.git/prov/migrated.json`, so that `prov push` may
  replace the old chain on a remote that holds it (only then: a remote whose chain is anything
  else is left alone) and so that a clone that pulled the old chain takes the new one in its
  place (`provgraph.remotes.git`): every record of the old chain is in the new one.

Chains pulled from other clones are never rewritten here (they are not ours to change): they
are read as they are, format 1 included, and replaced by their owner's migrated chain when it
is pulled. Their content stays reachable through their commits until then.
"""

from __future__ import annotations

import contextlib
import json
import os
import re

from provgraph import gitio, state
from provgraph.capture.snapshot import locked
from provgraph.journal.changes import describe
from provgraph.journal.records import CONTENT_PREFIX, FORMAT, Journal
from provgraph.repo import Repository

MARKER = "journal-format"  # under .git/prov/: the format this clone's chain is written in
LEDGER = "migrated.json"  # under .git/prov/: the commits of the chain before migration
MIGRATED = re.compile(r"^\(migrated from ([0-9a-f]{40,64})\)$", re.MULTILINE)
BATCH = 2000  # records described per pair of git processes


def needed(repo: Repository) -> bool:
    """Cheap (one file read): whether this clone's chain may still hold format 1 records."""
    return state.read_text(repo.prov_path(MARKER)) != str(FORMAT)


def ensure(repo: Repository) -> int:
    """Migrate this clone's chain if it needs it; how many records were rewritten."""
    if not needed(repo):
        return 0
    repo.ensure_prov_dir()
    journal = Journal(repo)
    with locked(repo.prov_path("journal.lock")):
        tip = journal.tip()
        done = _rewrite(repo, journal, tip) if tip else 0
        gitio.write_file_atomic(repo.prov_path(MARKER), str(FORMAT).encode())
    return done


def _rewrite(repo: Repository, journal: Journal, tip: str) -> int:
    commits = repo.git("rev-list", "--reverse", tip).decode().split()
    old_records: list[tuple[str, bytes, dict | None]] = []
    with gitio.CatFile(repo.root) as cat:
        for commit in commits:
            raw = cat.read(commit)
            data = cat.read(f"{commit}:record.json")
            record = None
            if data is not None and data[1] == "blob":
                try:
                    record = json.loads(data[2])
                except ValueError:
                    record = None
            old_records.append((commit, raw[2] if raw else b"", record))
    if not any(isinstance(rec, dict) and rec.get("format", 1) < FORMAT
               for _c, _r, rec in old_records):
        return 0  # written in format 2 already (its commits hold record.json only)
    todo = [rec for _c, _r, rec in old_records
            if isinstance(rec, dict) and "before" in rec and "diff" not in rec]
    diffs: list[dict] = []
    for start in range(0, len(todo), BATCH):
        diffs += describe(repo, todo[start:start + BATCH])
    by_id = {id(rec): diff for rec, diff in zip(todo, diffs, strict=True)}
    objects = repo.objects
    snapshots: set[str] = set()
    parent: str | None = None
    for commit, raw, record in old_records:
        if isinstance(record, dict):
            new = {**record, "format": FORMAT}
            if id(record) in by_id:
                new["diff"] = by_id[id(record)]
            snapshots.update(record[k] for k in ("before", "after") if record.get(k))
            blob = objects.write("blob", json.dumps(new, sort_keys=True).encode())
            tree = objects.write_tree([gitio.TreeEntry("100644", "record.json", blob)])
        else:  # not a record: kept as it is, never dropped
            tree = _header(raw, "tree")
        parent = objects.write("commit", _recommit(raw, tree, parent, commit))
    _keep(repo, journal, sorted(snapshots))
    ledger = state.read_json(repo.prov_path(LEDGER))
    old = list(ledger.get("old", [])) if isinstance(ledger, dict) else []
    gitio.write_file_atomic(repo.prov_path(LEDGER),
                            json.dumps({"old": old + commits}).encode())
    gitio.update_ref(repo.common_dir, journal.ref, parent, tip, repo.root)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(repo.prov_path("index.tips"))  # the index replays the new chain
    return len(commits)


def _keep(repo: Repository, journal: Journal, trees: list[str]) -> None:
    """The snapshot trees the old chain linked, now kept by the content chain (one commit)."""
    if not trees:
        return
    tree = repo.objects.write_tree([gitio.TreeEntry("40000", oid, oid) for oid in trees])
    ref = CONTENT_PREFIX + repo.clone_id
    tip = gitio.read_ref(repo.common_dir, ref)
    commit = repo.objects.write_commit(tree, [tip] if tip else [], "provgraph <>",
                                       _now(), "prov: content of migrated records")
    gitio.update_ref(repo.common_dir, ref, commit, tip, repo.root)


def _now() -> str:
    import time

    return f"{int(time.time())} +0000"


def _header(raw: bytes, key: str) -> str:
    for line in raw.split(b"\n"):
        if line.startswith(key.encode() + b" "):
            return line.split(b" ", 1)[1].decode()
        if not line:
            break
    raise gitio.GitError(f"a journal commit has no {key}")


def _recommit(raw: bytes, tree: str, parent: str | None, old: str) -> bytes:
    """`raw` (a commit object) with a new tree and parent, its author, committer and message
    kept, and the commit it replaces named."""
    head, _, message = raw.partition(b"\n\n")
    lines = [f"tree {tree}".encode()]
    lines += [f"parent {parent}".encode()] if parent else []
    lines += [line for line in head.split(b"\n")
              if not line.startswith((b"tree ", b"parent "))]
    body = message.rstrip(b"\n") + f"\n\n(migrated from {old})\n".encode()
    return b"\n".join(lines) + b"\n\n" + body


def migrated_from(repo: Repository, tip: str) -> set[str]:
    """The old commits a migrated chain (ending at `tip`) replaces."""
    out = repo.git("log", "--format=%B", tip)
    return set(MIGRATED.findall(out.decode(errors="replace")))


def old_commits(repo: Repository) -> set[str]:
    """This clone's chain's commits before its migration (empty when never migrated)."""
    ledger = state.read_json(repo.prov_path(LEDGER))
    return set(ledger.get("old", [])) if isinstance(ledger, dict) else set()
