"""The journal: the durable record of every capture, kept in git under `refs/prov/journal/`.

Each capture is one commit on this clone's chain `refs/prov/journal/<clone-id>`. Its tree holds
`record.json` only (the activity: command, times, agent, used files, ingestor fragments, the
ids of its snapshot trees and, from format 2, what those snapshots say: `diff`, see
`provgraph.journal.changes`), so the journal alone rebuilds the index. The snapshot trees (the
content) are kept reachable by a separate chain, `refs/prov/content/<clone-id>`, which
`prov gc` rewrites and `prov push` sends only when asked (`provgraph.content`).
Clones only ever append to their own chain, so fetching another clone's chain never conflicts.
Format 1 records (before/after trees linked in the record commit) are still read; this clone's
own chain is migrated to format 2 on first use (`provgraph.journal.migrate`).

The journal is the source of truth; both indexes are rebuilt from it.

Records pulled from other clones are data written by whoever controls those clones, so readers
never see a record raw: `Journal.entries` yields only records that passed the journal's schema
and id rules (`provgraph.journal.schema`, `provgraph.journal.quarantine`). Ids are confined to the
chain that writes them: an activity id is `act-` + the first 16 hex digits of sha256(<clone
id>:<nonce>),
the nonce kept in the record, so any reader can check that the record's chain made it.
"""

from __future__ import annotations

import json
import os
import time
from collections import namedtuple
from collections.abc import Iterator

from provgraph import gitio
from provgraph.capture.snapshot import locked
from provgraph.repo import Repository

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds on `prov CMD`
    from typing import Any

REF_PREFIX = "refs/prov/journal/"
CONTENT_PREFIX = "refs/prov/content/"
FORMAT = 2
#: Seconds a capture waits for a git process holding this clone's journal ref: git holds a
#: ref lock for milliseconds, so a lock held longer was left by a killed process.
LOCK_WAIT = 3.0


class Entry(namedtuple("Entry", "commit chain record")):
    """One record read back from the journal.

    Fields:
        commit: str
        chain: str  # the clone id whose chain holds it
        record: dict[str, Any]
    """

    __slots__ = ()


class Requarantined(gitio.GitError):
    """Records a reader read before were quarantined since: it must read from the start.

    A GitError, as a chain that vanished is: readers that cache what they read already
    answer that by reading everything again."""


class Journal:
    def __init__(self, repo: Repository):
        self.repo = repo
        self.ref = REF_PREFIX + repo.clone_id

    def append(self, record: dict[str, Any]) -> str:
        """Make `record` durable and return its commit id.

        Objects are fsync'd as they are written; the ref moves with compare-and-swap under a
        lock, so eight concurrent captures all land, in some order, with no lock error.
        """
        record = {**record, "format": FORMAT}
        if "before" in record and "diff" not in record:
            from provgraph.journal.changes import describe

            record["diff"] = describe(self.repo, [record])[0]
        objects = self.repo.objects
        blob = objects.write("blob", json.dumps(record, sort_keys=True).encode())
        tree = objects.write_tree([gitio.TreeEntry("100644", "record.json", blob)])
        snapshots = [gitio.TreeEntry("40000", name, record[name])
                     for name in ("before", "after") if record.get(name)]
        ident = _ident(record.get("agent") or {})
        when = f"{int(time.time())} +0000"
        message = f"prov: {record.get('command', '')}"[:2000]
        with locked(self.repo.prov_path("journal.lock")) as held:
            self._clear_left_lock(held)
            if snapshots:  # the content first: a record never names trees nothing keeps
                self.keep_content(objects.write_tree(snapshots), ident, when)
            waited = 0.0
            for attempt in range(100):
                tip = self.tip()
                commit = objects.write_commit(tree, [tip] if tip else [], ident, when, message)
                _note(held, commit.encode())  # what a killed holder leaves is ours to remove
                try:
                    gitio.update_ref(self.repo.common_dir, self.ref, commit, tip, self.repo.root)
                    _note(held, b"")
                    return commit
                except gitio.RefLocked as exc:
                    # a git process holds the ref (a fetch into our own chain?): git keeps a
                    # ref locked for milliseconds, so a lock that stays was left by a killed one
                    _note(held, b"")
                    waited += self._wait_for_lock(exc.lock, LOCK_WAIT - waited)
                except gitio.RefMoved:
                    # a git process moved the ref meanwhile: re-parent and retry
                    _note(held, b"")
                    time.sleep((1 + os.urandom(1)[0] / 32) * 0.001 * (attempt + 1))
        raise gitio.GitError(f"could not update {self.ref} after 100 attempts")

    def keep_content(self, tree: str, ident: str, when: str) -> None:
        """Keep `tree` reachable from this clone's content chain (caller holds journal.lock;
        `prov gc` rewrites the chain under the same lock)."""
        ref = CONTENT_PREFIX + self.repo.clone_id
        for _attempt in range(100):
            tip = _read(self.repo, ref)
            commit = self.repo.objects.write_commit(tree, [tip] if tip else [], ident, when,
                                                    "prov: content")
            try:
                gitio.update_ref(self.repo.common_dir, ref, commit, tip, self.repo.root)
                return
            except gitio.RefLocked as exc:
                self._wait_for_lock(exc.lock, LOCK_WAIT)
            except gitio.RefMoved:
                time.sleep(0.001)
        raise gitio.GitError(f"could not update {ref} after 100 attempts")

    def check_lock(self) -> None:
        """Before a command runs: a lock on this clone's chain that a killed `prov` left is
        removed, one a live or killed git process holds is waited for, then named."""
        if os.path.exists(os.path.join(self.repo.common_dir, "reftable")):
            return
        lock = os.path.join(self.repo.common_dir, self.ref) + ".lock"
        if not os.path.exists(lock):
            return
        with locked(self.repo.prov_path("journal.lock")) as held:
            self._clear_left_lock(held)
            if os.path.exists(lock):
                self._wait_for_lock(lock, LOCK_WAIT)

    def _clear_left_lock(self, held: int) -> None:
        """Remove the ref's `.lock` when the `prov` that made it was killed.

        A `prov` creates the lock only while it holds `journal.lock`, and notes there the
        commit it writes into the lock: holding `journal.lock` now, a note still there is a
        dead holder's, and a lock file holding that commit (or nothing yet) is its lock. A
        lock older than the machine's boot has no owner either."""
        noted = os.pread(held, 200, 0).strip()
        lock = os.path.join(self.repo.common_dir, self.ref) + ".lock"
        try:
            with open(lock, "rb") as handle:
                content = handle.read(200).strip()
                old = _before_boot(os.fstat(handle.fileno()))
            if (noted and content in (b"", noted)) or old:
                os.unlink(lock)
        except FileNotFoundError:
            pass
        if noted:
            _note(held, b"")

    def _wait_for_lock(self, lock: str, budget: float) -> float:
        """Wait while another process holds `lock` (at most `budget` seconds); how long we
        waited. Still held after that: one line naming the file and what to do."""
        started = time.monotonic()
        delay = 0.002
        while os.path.exists(lock):
            if time.monotonic() - started > budget:
                raise gitio.GitError(
                    f"cannot record: {lock} exists (a git process is updating {self.ref}, or "
                    "one was killed while it did); if no git process is running, remove it")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        return time.monotonic() - started

    def append_graph(self, nodes: list[dict[str, Any]], edges: list[dict[str, Any]],
                     source: str, agent: dict[str, str] | None = None,
                     namespaces: dict[str, str] | None = None) -> str:
        """Record provenance captured elsewhere (an imported document, generated data):
        nodes `{"id", "label", "properties"}` and edges `{"type", "source", "target",
        "properties"}` taken into the graph as they are, ids kept; `namespaces` are the
        prefixes their names use (``{"ex": "http://example.org/"}``), for export."""
        from provgraph.timestamps import now

        stamp = now()
        record_id, nonce = new_id("imp", self.repo.clone_id)
        return self.append({
            "kind": "graph",
            "id": record_id,
            "nonce": nonce,
            "project": self.repo.project,
            "command": f"import {source}",
            "source": source,
            "agent": agent or {},
            "started": stamp,
            "ended": stamp,
            "nodes": nodes,
            "edges": edges,
            **({"namespaces": namespaces} if namespaces else {}),
        })

    def tip(self) -> str | None:
        """Where this clone's chain ends (read without a process)."""
        return _read(self.repo, self.ref)

    def tips(self) -> dict[str, str]:
        """Every journal chain this repository knows (its own and those fetched from others)."""
        out = self.repo.git("for-each-ref", "--format=%(refname) %(objectname)", REF_PREFIX)
        tips = {}
        for line in out.decode().splitlines():
            ref, oid = line.rsplit(" ", 1)
            tips[ref[len(REF_PREFIX) :]] = oid
        return tips

    def entries(self, since: dict[str, str] | None = None,
                tips: dict[str, str] | None = None) -> Iterator[Entry]:
        """Sound records reachable from `tips` (default: now) but not from `since`, oldest
        first per chain; quarantined ones and those of a later provgraph are left out.
        Callers that record what they have read pass the tips they will record.

        Raises Requarantined when a record reachable from `since` has been quarantined since
        the caller read it."""
        from provgraph.journal import quarantine, schema

        since = since or {}
        tips = self.tips() if tips is None else tips
        ledger = quarantine.judge(self.repo, self, tips)
        if since and ledger.rejected and ledger.stale(self.repo, since):
            raise Requarantined("records read before have been quarantined since")
        judged = ledger.records_read(since, tips)  # read, parsed and judged just now
        if judged is not None:
            for commit, chain, record in judged:
                if not ledger.skips(chain, commit):
                    yield Entry(commit, chain, record)
            return
        hexlen = 64 if self.repo.object_format == "sha256" else 40
        for commit, chain, data in self.raw_entries(since, tips):
            if ledger.skips(chain, commit):
                continue
            try:
                record = json.loads(data)
            except (ValueError, RecursionError):
                continue  # judged as quarantined: the ledger file was rewritten meanwhile
            # judged by another process: checked again (cheap), whatever the ledger file says
            if schema.readable(record) and not schema.problem(
                    record, hexlen, schema.may_hold_surrogates(data)):
                yield Entry(commit, chain, record)

    def raw_entries(self, since: dict[str, str], tips: dict[str, str]
                    ) -> Iterator[tuple[str, str, bytes]]:
        """(commit, chain, record.json bytes) of every record commit, unjudged: for the
        quarantine only."""
        with gitio.CatFile(self.repo.root) as cat:
            for chain, tip in sorted(tips.items()):
                if since.get(chain) == tip:
                    continue
                args = ["rev-list", "--reverse", tip]
                if since.get(chain):
                    args.append("^" + since[chain])
                commits = self.repo.git(*args).decode().split()
                for commit in commits:
                    found = cat.read(f"{commit}:record.json")
                    if found is None or found[1] != "blob":
                        continue  # not a record commit: ignore rather than fail
                    yield commit, chain, found[2]

    def count(self, tips: dict[str, str] | None = None) -> int:
        """How many records the chains hold (up to `tips`, default: now), quarantined ones
        included. Read from the quarantine's ledger, which counts each chain's records as it
        judges them: what it costs is the records new since the last reader, not the history
        (`git rev-list --count` walked all of it)."""
        from provgraph.journal import quarantine

        tips = self.tips() if tips is None else tips
        if not tips:
            return 0
        counts = quarantine.judge(self.repo, self, tips).counts
        return sum(counts.get(chain, 0) for chain in tips)


def _read(repo: Repository, ref: str) -> str | None:
    """A ref's value, without a process for the files backend."""
    if os.path.exists(os.path.join(repo.common_dir, "reftable")):
        out = repo.git("rev-parse", "-q", "--verify", ref, check=False)
        return out.decode().strip() or None
    return gitio.read_ref(repo.common_dir, ref)


def _note(fd: int, text: bytes) -> None:
    """Say in the held `journal.lock` which commit this process is writing into the ref's
    lock (nothing: none). Not fsync'd: after a power loss the lock is older than the boot."""
    os.pwrite(fd, text.ljust(_NOTE_SIZE), 0)


_NOTE_SIZE = 65  # an object id (SHA-256: 64 hex digits) and room to spare


def _before_boot(st: os.stat_result) -> bool:
    """Whether a file was last written before the machine started (Linux; else False)."""
    try:
        with open("/proc/stat", "rb") as handle:
            for line in handle:
                if line.startswith(b"btime "):
                    return st.st_mtime < int(line.split()[1])
    except OSError:
        pass
    return False


def _ident(agent: dict[str, Any]) -> str:
    name = (agent.get("name") or "provgraph").replace("<", "").replace(">", "").strip()
    email = (agent.get("email") or "").replace("<", "").replace(">", "").strip()
    return f"{name or 'provgraph'} <{email}>"


def new_id(prefix: str, clone_id: str) -> tuple[str, str]:
    """A fresh id in this clone's namespace, and the nonce the record keeps to prove it."""
    from provgraph.journal.ids import owned_id

    nonce = os.urandom(16).hex()
    return owned_id(prefix, clone_id, nonce), nonce


def new_activity_id(clone_id: str) -> tuple[str, str]:
    """(`act-<16 hex>`, nonce): random, so that clones never collide; stored in the record, so
    stable across rebuilds; derived from the clone id, so confined to this clone's chain."""
    return new_id("act", clone_id)
