"""What the trace found, written into the journal record of the capture.

The record gains (docs/capture.md, "The record"):

- `used`: the files whose version before the command was read (`observe.py` says which), each
  with its `role`; a git-ignored one also carries `ignored: true` and the `sha256`/`size` (and
  `oid`, when `capture.ignored = "content"`) of the version read;
- `trace`: `mechanism`, `processes`, `written` (path -> whether it was rewritten whole, which
  makes identical bytes a new version too), `deleted`, `untraced` (programs that ran without
  tracing), `lost` (records a full disk dropped), `complete` (no program escaped the trace);
- `ignored`: path -> `{sha256, size[, oid]}` of every git-ignored file the command wrote, as it
  is after the command.

Snapshots stay the source of versions and digests of the files git sees; the trace decides
which of their changes this command made and which versions it read.
"""

from __future__ import annotations

import json
import os
import re
import time

from provgraph import gitio, state
from provgraph.capture.snapshot import file_sha256, locked
from provgraph.capture.tracing.events import Trace, read_trace
from provgraph.capture.tracing.observe import observe
from provgraph.timestamps import from_ns

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from provgraph.repo import Repository

IGNORED_MODES = ("digest", "content", "skip")


def audit_reads(path: str) -> list[str]:
    """Files the Python audit hook saw opened for reading: `<folder>\\0<path as given>` lines."""
    try:
        with open(path, "rb") as handle:
            text = os.fsdecode(handle.read())
    except FileNotFoundError:
        return []
    found = []
    for line in text.split("\n"):
        folder, _, given = line.partition("\0")
        if given:
            found.append(given if given.startswith("/") else folder + "/" + given)
    return found


def apply(repo: Repository, record: dict[str, Any], trace_file: str, audit: list[str],
          before_tree: str, after_tree: str, ignored_mode: str, large_limit: int,
          extra_used: list[dict[str, Any]]) -> Trace:
    """Fill the record's `used`, `trace` and `ignored` from what the processes did (the
    trace in `trace_file`); returns the trace."""
    from provgraph.capture.snapshot import snapshot_env

    listing = gitio.Started(["ls-files", "-s", "-z"], repo.root, env=snapshot_env(repo))
    trace = read_trace(trace_file)  # while git lists the after-snapshot's files
    indexed = _indexed(listing.output())
    seen = observe(trace, repo.root, audit, indexed)
    paths = sorted(set(seen.used) | set(seen.written))
    present = _in_trees(repo, before_tree, after_tree, paths, indexed)
    digests = _IgnoredDigests(repo)
    used: dict[str, dict[str, Any]] = {}
    ignored: dict[str, dict[str, Any]] = {}
    skipped = 0
    for path, role in seen.used.items():
        if (before_tree, path) in present:
            used[path] = {"path": path, "role": role}
        elif (after_tree, path) not in present and os.path.isfile(_full(repo, path)):
            # not in either snapshot but a file: git ignores it
            if ignored_mode == "skip":
                skipped += 1
                continue
            rewritten = path in seen.written
            version = (digests.previous(path) if rewritten
                       else digests.describe(path, ignored_mode, large_limit, repo))
            if version is not None:
                used[path] = {"path": path, "role": role, "ignored": True, **version}
    for path in seen.written:
        if (after_tree, path) in present or not os.path.isfile(_full(repo, path)):
            continue
        if ignored_mode == "skip":
            skipped += 1
            continue
        version = digests.describe(path, ignored_mode, large_limit, repo)
        if version is not None:
            ignored[path] = version
    digests.save()
    for item in extra_used:  # what ingestors know (a commit's versions, a solver's net)
        used.setdefault(item["path"], item)
    record["used"] = list(used.values())
    record["trace"] = {
        "mechanism": record.get("trace", {}).get("mechanism", "preload"),
        "processes": seen.processes,
        "written": dict(sorted(seen.written.items())),
        "last_write": {p: from_ns(ns) for p, ns in sorted(seen.last_write.items()) if ns},
        "deleted": seen.deleted,
        "untraced": seen.untraced,
        "lost": seen.lost,
        "complete": not seen.untraced and not seen.lost,
    }
    overwritten = _overwritten(repo, record["id"], seen.last_write, time.time_ns())
    if overwritten:
        record["trace"]["overwritten"] = overwritten
    if skipped:
        record["trace"]["ignored_skipped"] = skipped
    if ignored:
        record["ignored"] = ignored
    return trace


def _overwritten(repo: Repository, activity: str, last_write: dict[str, int], until: int
                 ) -> list[str]:
    """Files this command wrote that a command still running wrote again afterwards: what the
    after-snapshot shows of them is that command's, not this one's.

    (A command that has already ended is seen by the replay, from the times in its record.)"""
    from provgraph.capture import recovery
    from provgraph.capture.tracing.observe import Resolver

    others = [m for m in recovery.markers(repo) if m.record.get("record", {}).get("id")
              not in (None, activity)]
    if not others or not last_write:
        return []
    resolve = Resolver(repo.root)
    found: set[str] = set()
    for marker in others:
        folder = marker.path.removesuffix(".json") + ".d"
        for event in read_trace(os.path.join(folder, "trace")).events:
            if event.op == "O" and event.flags & 3 == os.O_RDONLY and not event.flags & os.O_TRUNC:
                continue
            if event.op in ("P", "X", "U", "D"):
                continue
            path = resolve(event.target if event.op in ("R", "L") else event.path)
            if path in last_write and last_write[path] < event.ns <= until:
                found.add(path)
    return sorted(found)


def _full(repo: Repository, path: str) -> str:
    return os.path.join(repo.root, path)


#: `git ls-files -s -z` entries: mode, object, stage, path.
_INDEX_ENTRY = re.compile(rb"(\d+) [0-9a-f]+ \d\t([^\0]*)\0")


def _indexed(listed: bytes) -> dict[str, int]:
    """Path -> mode of every file of the snapshot index (`git ls-files -s -z` of it), as the
    after-snapshot left it."""
    decode, modes = os.fsdecode, {}
    found = {}
    for mode, path in _INDEX_ENTRY.findall(listed):
        value = modes.get(mode)
        if value is None:
            value = modes[mode] = int(mode, 8)
        found[decode(path)] = value
    return found


def _in_trees(repo: Repository, before: str, after: str, paths: list[str],
              indexed: dict[str, int]) -> set[tuple[str, str]]:
    """Which (tree, path) pairs exist. The snapshot index holds the after-tree's paths
    (`indexed`); the before-tree is asked only about paths the after-tree lacks."""
    if not paths:
        return set()
    found = {(tree, path) for path in paths if path in indexed for tree in (before, after)}
    missing = [path for path in paths if path not in indexed]
    if missing:  # deleted or moved away by the command, or ignored
        names = [f"{before}:{path}" for path in missing]
        known = gitio.batch_check(repo.root, names)
        found |= {(before, path) for path in missing if known.get(f"{before}:{path}")}
    return found


class _IgnoredDigests:
    """Digests of git-ignored files, cached by size, mtime and inode in
    `.git/prov/ignored.json` (an image folder is not hashed again on every run)."""

    def __init__(self, repo: Repository):
        self.path = repo.prov_path("ignored.json")
        self.repo = repo
        found = state.read_json(self.path)  # derived: what is damaged is hashed again
        self.known: dict[str, list] = {
            path: entry for path, entry in (found.items() if isinstance(found, dict) else ())
            if isinstance(entry, list) and len(entry) == 4 and state.is_hex(entry[3], (64,))}
        self.changed = False

    def previous(self, path: str) -> dict[str, Any] | None:
        """The version last recorded (the file has been rewritten since)."""
        entry = self.known.get(path)
        if not isinstance(entry, list) or len(entry) != 4:
            return None
        return {"sha256": entry[3], "size": entry[0]}

    def describe(self, path: str, mode: str, large_limit: int, repo: Repository
                 ) -> dict[str, Any] | None:
        full = _full(repo, path)
        try:
            st = os.stat(full)
        except OSError:
            return None
        signature = [st.st_size, st.st_mtime_ns, st.st_ino]
        entry = self.known.get(path)
        if isinstance(entry, list) and len(entry) == 4 and entry[:3] == signature:
            sha = entry[3]
        else:
            try:
                sha = file_sha256(full)
            except OSError:
                return None
            self.known[path] = [*signature, sha]
            self.changed = True
        version: dict[str, Any] = {"sha256": sha, "size": st.st_size}
        if mode == "content" and st.st_size <= large_limit:
            try:
                with open(full, "rb") as handle:
                    version["oid"] = repo.objects.write("blob", handle.read())
            except OSError:
                pass
        return version

    def save(self) -> None:
        if self.changed:
            with locked(self.repo.prov_path("ignored.lock")):
                gitio.write_file_atomic(self.path, json.dumps(self.known).encode(),
                                        durable=False)
