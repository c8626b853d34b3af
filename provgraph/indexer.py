"""Keeping an index in step with the journal.

Capture only appends to the journal; the first command that reads the index afterwards
replays the new records into it (`open_index`). Records are replayed in the order their
activities ended; when records arrive that belong before ones already indexed (a `prov pull`
of a teammate's older work, or a race between concurrent captures), the index is rebuilt
from scratch, which gives the same ids as ever, since everything derives from the journal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from provgraph import gitio
from provgraph.journal import Entry, Journal
from provgraph.replay import Replay, Resolved, ignored_oid
from provgraph.repo import Repository
from provgraph.snapshot import locked

Progress = Callable[[int, int], None]


def order_key(record: dict) -> tuple[str, str]:
    return (record.get("ended") or record.get("started") or "", record["id"])


def resolve(repo: Repository, entries: list[Entry]) -> list[Resolved]:
    """Ask git, in two batched processes, for every diff and blob size the records need."""
    pairs: list[tuple[str, str]] = []
    for entry in entries:
        rec = entry.record
        if "before" not in rec:
            continue  # a graph record: nothing to diff
        if rec.get("prev") and rec["prev"] != rec["before"]:
            pairs.append((rec["prev"], rec["before"]))
        if rec.get("after") and rec["after"] != rec["before"]:
            pairs.append((rec["before"], rec["after"]))
    diffs: dict[tuple[str, str], list[gitio.Change]] = {}
    if pairs:
        hexlen = len(pairs[0][0])
        out = repo.git("diff-tree", "-r", "-z", "--no-commit-id", "--stdin",
                       input="".join(f"{a} {b}\n" for a, b in pairs).encode())
        for old, new, changes in gitio.parse_diff_tree_stdin(out, hexlen):
            diffs[(old, new)] = changes
    names: list[str] = []
    for entry in entries:
        rec = entry.record
        names += [u["oid"] if u.get("oid") else f"{rec['before']}:{u['path']}"
                  for u in rec.get("used", []) if "before" in rec and not u.get("ignored")]
        names += [f"{rec['after']}:{path}" for path in _rewritten(rec)]
    for changes in diffs.values():
        for change in changes:
            names += [oid for oid in (change.old_oid, change.new_oid) if oid]
    found = gitio.batch_check(repo.root, sorted(set(names)))
    sizes = {info[0]: info[2] for info in found.values() if info}
    resolved = []
    for entry in entries:
        rec = entry.record
        before = rec.get("before", "")
        used = []
        for item in rec.get("used", []):
            if item.get("ignored"):  # a git-ignored file: known by its digest
                used.append((item["path"], ignored_oid(item), item.get("role", "read")))
                continue
            info = found.get(item["oid"] if item.get("oid") else f"{before}:{item['path']}")
            if info and info[1] == "blob":
                used.append((item["path"], info[0], item.get("role", "argument")))
        regenerated = []
        for path in _rewritten(rec):
            info = found.get(f"{rec.get('after')}:{path}")
            if info and info[1] == "blob":
                regenerated.append((path, info[0]))
        resolved.append(
            Resolved(
                record=rec,
                external=diffs.get((rec.get("prev") or "", before), []),
                changes=diffs.get((before, rec.get("after") or ""), []),
                used=used,
                sizes=sizes,
                regenerated=regenerated,
            )
        )
    return resolved


def _rewritten(record: dict) -> list[str]:
    """Files a traced command rewrote whole: new versions even with the same bytes."""
    trace = record.get("trace")
    if not isinstance(trace, dict) or not trace.get("complete") or not record.get("after"):
        return []
    written = trace.get("written")
    ignored = record.get("ignored") or {}
    return [path for path, whole in (written.items() if isinstance(written, dict) else ())
            if whole and path not in ignored]


class Indexer:
    """Replays journal records into a store (the embedded index here; Neo4j reuses it)."""

    BATCH = 500  # records resolved and written per transaction
    ELEMENTS = 50_000  # ... or fewer, when imported graph records carry many elements

    def __init__(self, repo: Repository, store):
        self.repo = repo
        self.store = store
        self.journal = Journal(repo)

    def update(self, progress: Progress | None = None) -> int:
        """Bring the store up to date; return how many records were replayed.

        One transaction: an update that is interrupted leaves the store as it was.
        """
        since = self.store.meta("tips", {})
        tips = self.journal.tips()  # read once: records landing meanwhile wait for next time
        entries = sorted(self.journal.entries(since, tips), key=lambda e: order_key(e.record))
        last = self.store.meta("last_key")
        if entries and last and list(order_key(entries[0].record)) < last:
            return self.rebuild(progress)  # older records arrived: replay everything in order
        with self.store.transaction():
            return self._apply(entries, tips, progress)

    def rebuild(self, progress: Progress | None = None) -> int:
        tips = self.journal.tips()
        entries = sorted(self.journal.entries({}, tips), key=lambda e: order_key(e.record))
        with self.store.transaction():
            self.store.reset()
            return self._apply(entries, tips, progress)

    def _apply(self, entries: list[Entry], tips: dict[str, str],
               progress: Progress | None) -> int:
        replay = Replay(self.repo.project, self.store.load_state(),
                        self.store.meta("sequence", 0))
        if entries:
            self.store.next_generation()
        done = 0
        for batch in _batches(entries, self.BATCH, self.ELEMENTS):
            nodes, edges = [], []
            for item in resolve(self.repo, batch):
                n, e = replay.apply(item)
                nodes += n
                edges += e
            self.store.write(nodes, edges, self.repo.project)
            self.store.save_state(replay.state, replay.touched)
            replay.touched.clear()
            done += len(batch)
            if progress:
                progress(done, len(entries))
        if entries:
            self.store.set_meta("sequence", replay.sequence)
            self.store.set_meta("last_key", list(order_key(entries[-1].record)))
        self.store.set_meta("tips", tips)
        return done


def _batches(entries: list[Entry], records: int, elements: int):
    """Consecutive runs of at most `records` records and about `elements` graph elements: a
    captured record is a few rows, an imported graph record up to tens of thousands."""
    batch: list[Entry] = []
    weight = 0
    for entry in entries:
        record = entry.record
        batch.append(entry)
        weight += 1 + len(record.get("nodes", ())) + len(record.get("edges", ()))
        if len(batch) >= records or weight >= elements:
            yield batch
            batch, weight = [], 0
    if batch:
        yield batch


def _tips_file(repo: Repository) -> Path:
    return Path(repo.prov_path("index.tips"))


def open_index(repo: Repository, progress: Progress | None = None, rebuild: bool = False):
    """The embedded index, caught up with the journal; read-only when nothing was pending.

    The comparison of journal tips with what was last indexed costs one git process, so
    reading stays cheap; catching up takes a lock so concurrent readers do it once.
    """
    from provgraph.stores.embedded import SCHEMA_VERSION, EmbeddedStore

    repo.ensure_prov_dir()
    path = Path(repo.prov_path("index.duckdb"))
    tips = Journal(repo).tips()
    if not rebuild and path.exists() and _read_tips(repo) == tips:
        store = EmbeddedStore(path, read_only=True)
        if store.meta("schema_version") == SCHEMA_VERSION:
            return store
        store.close()  # written by another provgraph version: migrate below
    with locked(repo.prov_path("index-update.lock")):
        store = EmbeddedStore(path)
        indexer = Indexer(repo, store)
        if rebuild:
            indexer.rebuild(progress)
        else:
            indexer.update(progress)
        gitio.write_file_atomic(_tips_file(repo), json.dumps(store.meta("tips", {})).encode(),
                                durable=False)
        return store


def _read_tips(repo: Repository) -> dict[str, str] | None:
    try:
        return json.loads(_tips_file(repo).read_bytes())
    except (FileNotFoundError, ValueError):
        return None


def index_status(repo: Repository) -> dict:
    """Where the index is and how many journal records it has not replayed yet.

    Answered from git and the index's note of what it replayed, without opening DuckDB.
    """
    tips = Journal(repo).tips()
    indexed = _read_tips(repo) or {}
    path = Path(repo.prov_path("index.duckdb"))
    args = list(tips.values()) + [f"^{oid}" for oid in indexed.values() if oid]
    pending = int(repo.git("rev-list", "--count", *args).decode()) if tips else 0
    total = int(repo.git("rev-list", "--count", *tips.values()).decode()) if tips else 0
    return {"path": str(path), "exists": path.exists(), "records": total - pending,
            "pending": pending}
