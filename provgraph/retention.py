"""`prov gc`: drop the bytes of old versions, keep everything the graph says about them.

Only the content chain of this clone (`refs/prov/content/<clone>`, see `provgraph.content`)
is rewritten: the journal is never touched, so every record, id, digest, size and lineage
stays, and the index rebuilds the same. The new content chain is one root commit keeping:

- whole, the latest snapshot and those of captures still running (the next capture diffs
  against the latest; the private snapshot index names its blobs);
- per path, the versions the policy keeps: the last `keep_last` and those seen in the last
  `keep_days` days (either keeps a version);
- every version a file view read (its evaluations' inputs), and those `pinned` names: tagged
  versions and the versions tagged runs used and generated (`prov tag`).

Versions a commit of the user's branches or tags holds stay whatever gc does (git reaches
them from there): gc neither counts nor drops them. The rewrite is one compare-and-swap of
the ref under the journal lock, so a gc killed at any point leaves either the old chain or
the new one; captures that land meanwhile are kept whole. Then `git gc` prunes what nothing
reaches any more, sparing objects younger than `expire` (a capture in flight writes its
snapshot before its record).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from provgraph import content, gitio, state
from provgraph.capture.snapshot import locked
from provgraph.errors import BadInput
from provgraph.journal.records import Journal
from provgraph.repo import Repository

Progress = Callable[[str, int, int], None]
STAMP = "gc.last"  # under .git/prov/: when gc last ran (the automatic policy's clock)


@dataclass
class Result:
    """What a gc did (or, `dry_run`, would do)."""

    dry_run: bool
    versions: int = 0  # versions whose bytes are dropped
    blobs: int = 0
    size: int = 0  # bytes of the dropped blobs (uncompressed)
    kept: int = 0  # blobs kept by the content chain
    freed: int | None = None  # bytes the object store shrank by (None: dry run)
    dropped: list[str] = field(default_factory=list)  # "path@digest", for --json

    def to_dict(self) -> dict:
        return {"dry_run": self.dry_run, "versions": self.versions, "blobs": self.blobs,
                "bytes": self.size, "kept_blobs": self.kept, "freed": self.freed,
                "dropped": self.dropped}


#: Versions gc keeps whatever the policy: tagged ones (`prov tag PATH@vN NAME`), and those a
#: tagged run used or generated (`prov tag '#14' best`: the run can still be restored and re-run).
_PINNED = """
WITH tagged AS (
    SELECT id, label, properties FROM nodes
    WHERE json_array_length(COALESCE(properties->'tags', '[]')) > 0)
SELECT properties->>'digest' FROM tagged WHERE label = 'Entity'
UNION
SELECT n.properties->>'digest' FROM edges e JOIN tagged t ON e.source = t.id
    JOIN nodes n ON n.id = e.target WHERE e.type = 'used' AND t.label = 'Activity'
UNION
SELECT n.properties->>'digest' FROM edges e JOIN tagged t ON e.target = t.id
    JOIN nodes n ON n.id = e.source WHERE e.type = 'wasGeneratedBy' AND t.label = 'Activity'
"""


def pinned(repo: Repository) -> set[str]:
    """Blob ids kept whatever the policy: tagged versions and the versions of tagged runs,
    read from the index (caught up first, so a tag given just now counts)."""
    from provgraph.journal.indexer import open_index

    store = open_index(repo)
    try:
        rows = store.db.execute(_PINNED).fetchall()
    finally:
        store.close()
    return {digest for (digest,) in rows if digest and not digest.startswith("sha256:")}


def gc(repo: Repository, keep_last: int | None, keep_days: float | None,
       dry_run: bool = False, expire: str = "1.hour.ago",
       progress: Progress | None = None) -> Result:
    if keep_last is None and keep_days is None:
        raise BadInput("say what to keep: --keep-last N and/or --keep-days D (or set "
                       "[retention] keep_last / keep_days in .prov.toml)")
    if (keep_last is not None and keep_last < 1) or (keep_days is not None and keep_days < 0):
        raise BadInput("--keep-last is at least 1 (the current version) and --keep-days "
                       "at least 0")
    from provgraph.journal import migrate

    if not dry_run:
        migrate.ensure(repo)  # a format 1 chain links its snapshots: unlinked first
    ref = content.own_ref(repo)
    tip = gitio.read_ref(repo.common_dir, ref)
    result = Result(dry_run)
    if tip is None:
        return result
    step = progress or (lambda _what, _done, _total: None)
    step("reading the journal", 0, 1)
    versions, needed = _versions(repo)
    keep = _kept(versions, keep_last, keep_days) | needed | pinned(repo)
    whole = _whole_snapshots(repo)
    step("listing content", 0, 1)
    held = content.reachable_blobs(repo, [tip])
    kept = sorted(oid for oid in held if oid in keep)
    others = _reachable_elsewhere(repo, ref, whole, held)
    dropped = {oid for oid in held if oid not in keep and oid not in others}
    result.blobs, result.size = len(dropped), sum(held[oid] for oid in dropped)
    result.kept = len(kept)
    labels = sorted(f"{path}@{oid}" for path, seen in versions.items() for oid in seen
                    if oid in dropped)
    result.versions, result.dropped = len(labels), labels
    if dry_run:
        return result
    _stamp(repo)
    if not dropped:
        return result
    step("rewriting the content chain", 0, 1)
    commit = content.blob_set_commit(repo, kept, "prov: content kept by prov gc", whole)
    with locked(repo.prov_path("journal.lock")):
        now = gitio.read_ref(repo.common_dir, ref)
        if now != tip:  # captures landed meanwhile: their snapshots are kept whole
            landed = repo.git("rev-list", now, f"^{tip}").decode().split()
            trees = [repo.git("rev-parse", f"{c}^{{tree}}").decode().strip() for c in landed]
            commit = content.blob_set_commit(repo, kept, "prov: content kept by prov gc",
                                             whole + trees)
        gitio.update_ref(repo.common_dir, ref, commit, now, repo.root)
    step("pruning", 0, 1)
    before = _store_size(repo)
    repo.git("gc", "--quiet", f"--prune={expire}")
    result.freed = max(0, before - _store_size(repo))
    return result


def _versions(repo: Repository) -> tuple[dict[str, dict[str, float]], set[str]]:
    """Per path, each content (blob id) this clone's records saw, with when last seen; and the
    blobs file views read."""
    from datetime import datetime

    from provgraph.journal.indexer import order_key

    parse = datetime.fromisoformat

    versions: dict[str, dict[str, float]] = {}
    needed: set[str] = set()
    journal = Journal(repo)
    own = {repo.clone_id: journal.tip()} if journal.tip() else {}
    entries = sorted(journal.entries({}, own), key=lambda e: order_key(e.record))
    for entry in entries:
        record = entry.record
        diff = record.get("diff") or {}
        if record.get("fileview"):
            needed.update(oid for oid in record["fileview"].get("inputs", {}).values() if oid)
            needed.update(oid for oid in diff.get("used", []) if oid)
        started = _when(parse, record.get("started"))
        ended = _when(parse, record.get("ended")) or started
        for change in diff.get("external", []) + diff.get("made", []):
            path, _status, old, new = change[:4]
            seen = versions.setdefault(path, {})
            if old:
                seen[old] = max(seen.get(old, 0.0), started)
            if new:
                seen[new] = max(seen.get(new, 0.0), ended)
        for item, oid in zip(record.get("used", []), diff.get("used", []), strict=False):
            if oid:
                seen = versions.setdefault(item["path"], {})
                seen[oid] = max(seen.get(oid, 0.0), started)
    return versions, needed


def _when(parse, stamp) -> float:
    try:
        return parse(stamp).timestamp() if stamp else 0.0
    except (ValueError, TypeError):
        return 0.0


def _kept(versions: dict[str, dict[str, float]], keep_last: int | None,
          keep_days: float | None) -> set[str]:
    keep: set[str] = set()
    cutoff = time.time() - keep_days * 86400 if keep_days is not None else None
    for seen in versions.values():
        newest = sorted(seen, key=lambda oid: seen[oid], reverse=True)
        if keep_last is not None:
            keep.update(newest[:keep_last])
        if cutoff is not None:
            keep.update(oid for oid in newest if seen[oid] >= cutoff)
    return keep


def _whole_snapshots(repo: Repository) -> list[str]:
    """The latest snapshot (the last capture's, and the one the private index names) and
    those of captures still running: kept whole."""
    from provgraph.capture import recovery

    trees = [recovery.last_snapshot(repo)]
    # the private index's own snapshot, when a read took one after the last capture
    # (`prov stale`, a file view's status): the next capture reuses its tree and blobs
    cached = state.read_json(repo.prov_path("snapshot.json"))
    if isinstance(cached, dict):
        trees.append(cached.get("tree"))
    for marker in recovery.markers(repo):
        record = (marker.record or {}).get("record") or {}
        trees.append(record.get("before"))
    return sorted({tree for tree in trees if isinstance(tree, str) and tree})


def _reachable_elsewhere(repo: Repository, ref: str, kept: list[str],
                         held: dict[str, int]) -> set[str]:
    """Which of `held` stay reachable without the old content chain: from the user's
    branches and tags, the journal, pulled content, or what gc keeps."""
    refs = repo.git("for-each-ref", "--format=%(objectname) %(refname)").decode().split("\n")
    tips = [line.split(" ", 1)[0] for line in refs if line and line.split(" ", 1)[1] != ref]
    found = content.reachable_blobs(repo, tips + kept) if tips or kept else {}
    return set(held) & set(found)


def _store_size(repo: Repository) -> int:
    total = 0
    for folder, _dirs, files in os.walk(os.path.join(repo.common_dir, "objects")):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def _stamp(repo: Repository) -> None:
    gitio.write_file_atomic(repo.prov_path(STAMP), str(int(time.time())).encode(),
                            durable=False)
