"""Keeping an index in step with the journal.

Capture only appends to the journal; the first command that reads the index afterwards
replays the new records into it (`open_index`). Records are replayed in the order their
activities ended; when records arrive that belong before ones already indexed (a `prov pull`
of a teammate's older work, or a race between concurrent captures), the index is rebuilt
from scratch, which gives the same ids as ever, since everything derives from the journal.
A catch-up costs what its records changed: it reads the state of the paths they touch only,
and writes nodes, edges and path states in bulk loads, never row by row (3,000 new files
took a minute that way).

Imported graphs (`kind: "graph"` records) carry nodes and edges verbatim, so the indexer is
where ids are kept in their namespaces (`Ownership`): a graph record may name any node as an
edge's target, but it may not make or change a node that a record of another clone's chain
makes (an activity, a version or an agent the replay derives, another clone's imported node),
nor draw an edge from one. Such a record is quarantined. The verdict is taken over every
record at once, never by the order records arrived in: a catch-up that cannot be sure (a
pulled graph record naming nodes the index already holds) replays everything instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from provgraph import gitio
from provgraph.capture.snapshot import locked
from provgraph.journal import fresh, quarantine
from provgraph.journal.annotations import KIND as ANNOTATION
from provgraph.journal.annotations import settle
from provgraph.journal.records import Entry, Journal, Requarantined
from provgraph.journal.replay import Replay, Resolved, ignored_oid
from provgraph.journal.schema import shown
from provgraph.model import AGENT, Node
from provgraph.repo import Repository

Progress = Callable[[int, int], None]

CLAIMS = "graph_claims"  # (id, chain, record, role): what accepted graph records make or draw


def order_key(record: dict) -> tuple[str, str]:
    return (record.get("ended") or record.get("started") or "", record["id"])


def resolve(repo: Repository, entries: list[Entry]) -> list[Resolved]:
    """Each record with what its snapshots say: a format 2 record carries it (`diff`); a
    format 1 record's trees are asked of git, in two batched processes for the whole batch."""
    from provgraph.journal.changes import describe

    older = [e.record for e in entries if "before" in e.record and "diff" not in e.record]
    described = iter(describe(repo, older)) if older else iter(())
    resolved = []
    for entry in entries:
        rec = entry.record
        if "before" not in rec:  # a graph record: nothing to diff
            resolved.append(Resolved(record=rec, external=[], changes=[], used=[], sizes={}))
            continue
        diff = rec["diff"] if "diff" in rec else next(described)
        used = []
        for item, oid in zip(rec.get("used", []), diff.get("used", []), strict=False):
            if item.get("ignored"):  # a git-ignored file: known by its digest
                used.append((item["path"], ignored_oid(item), item.get("role", "read")))
            elif oid:
                used.append((item["path"], oid, item.get("role", "argument")))
        resolved.append(
            Resolved(
                record=rec,
                external=[gitio.Change(*change) for change in diff.get("external", [])],
                changes=[gitio.Change(*change) for change in diff.get("made", [])],
                used=used,
                sizes=dict(diff.get("sizes", {})),
                regenerated=[(path, oid) for path, oid in diff.get("regenerated", [])],
            )
        )
    return resolved


class NeedsRebuild(Exception):
    """A catch-up cannot tell on its own whether a graph record may write what it writes."""


class Ownership:
    """Who may write which node: imported-graph records against every other chain's records.

    Built from the graph records about to be replayed: for each node id they declare (or
    draw an edge from), which chains' records do. Graph records of two chains declaring one
    node differently both lose it unless one is this clone's own; a capture of one chain that
    makes a node another chain's graph record declares takes it from that record. `bad` holds
    the quarantined records ("<chain> <commit>" -> verdict); `late` is set when a record
    already written turned out bad, and the replay must start again without it.
    """

    def __init__(self, own: str, entries: Iterable[Entry], bad: dict[str, dict] | None = None):
        self.own = own
        self.bad: dict[str, dict] = dict(bad or {})
        self.late = False
        self.applied: set[str] = set()
        self.found = 0  # verdicts reached here (not given in `bad`)
        self.by_id: dict[str, list[tuple[str, str, str]]] = {}  # id -> (chain, key, role)
        self.emitted: dict[str, set[str]] = {}  # such ids made by captures -> their chains
        digests: dict[str, dict[str, set[str]]] = {}
        entries = list(entries)
        if len({entry.chain for entry in entries}) < 2:
            return  # one chain: nothing here can take another's node (the index: _check_index)
        for entry in entries:
            if entry.record.get("kind") != "graph":
                continue
            key = _key(entry)
            for node in entry.record.get("nodes", ()):
                self.by_id.setdefault(node["id"], []).append((entry.chain, key, "node"))
                digests.setdefault(node["id"], {}).setdefault(entry.chain, set()).add(
                    _digest(node))
            for edge in entry.record.get("edges", ()):
                self.by_id.setdefault(edge["source"], []).append((entry.chain, key, "source"))
        for node_id, by_chain in digests.items():
            self._settle(node_id, by_chain)

    def _settle(self, node_id: str, by_chain: dict[str, set[str]]) -> None:
        chains = set(by_chain)
        if len(chains) > 1 and len(set().union(*by_chain.values())) > 1:
            owners = chains & {self.own}  # declared differently: none of them, or ours
        else:
            owners = chains
        for chain, key, role in self.by_id[node_id]:
            if chain in owners:
                continue
            holder = ", ".join(sorted(owners or chains - {chain}))
            name = shown(node_id)
            what = (f"declares node {name}, which clone {holder} declares otherwise"
                    if role == "node" else f"draws an edge from node {name} of clone {holder}")
            self._reject(key, chain, what)

    def _reject(self, key: str, chain: str, reason: str) -> None:
        if key in self.bad:
            return
        self.bad[key] = {"chain": chain, "commit": key.split(" ", 1)[1], "reason": reason}
        self.found += 1
        if key in self.applied:
            self.late = True

    def admit(self, entry: Entry) -> bool:
        """Whether a graph record may be written (nothing it writes is another chain's)."""
        key = _key(entry)
        if key in self.bad:
            return False
        ids = {n["id"] for n in entry.record.get("nodes", ())}
        ids |= {e["source"] for e in entry.record.get("edges", ())}
        for node_id in sorted(ids):
            others = self.emitted.get(node_id, set()) - {entry.chain}
            if others:
                self._reject(key, entry.chain, f"would change node {shown(node_id)}, which "
                                               f"clone {', '.join(sorted(others))} makes")
                return False
        self.applied.add(key)
        return True

    def made(self, chain: str, nodes: Iterable) -> None:
        """A capture of `chain` made `nodes`: graph records of other chains lose them."""
        for node in nodes:
            claims = self.by_id.get(node.id)
            if not claims:
                continue
            self.emitted.setdefault(node.id, set()).add(chain)
            for other, key, _role in claims:
                if other != chain:
                    self._reject(key, other, f"would change node {shown(node.id)}, which "
                                             f"clone {chain} makes")


def _key(entry: Entry) -> str:
    return f"{entry.chain} {entry.commit}"


def _digest(node: dict[str, Any]) -> str:
    text = json.dumps([node["label"], node.get("properties", {})], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class Indexer:
    """Replays journal records into a store (the embedded index here; Neo4j reuses it)."""

    BATCH = 500  # records resolved and written per transaction
    ELEMENTS = 50_000  # ... or fewer, when imported graph records carry many elements

    def __init__(self, repo: Repository, store):
        self.repo = repo
        self.store = store
        self.journal = Journal(repo)
        self.verdicts: list[dict] | None = None  # set by a rebuild: its quarantined records
        store.db.execute(f"CREATE TABLE IF NOT EXISTS {CLAIMS} (id VARCHAR NOT NULL, "
                         "chain VARCHAR NOT NULL, record VARCHAR NOT NULL, "
                         "role VARCHAR NOT NULL)")

    def update(self, progress: Progress | None = None) -> int:
        """Bring the store up to date; return how many records were replayed.

        One transaction: an update that is interrupted leaves the store as it was.
        """
        since = self.store.meta("tips", {})
        tips = self.journal.tips()  # read once: records landing meanwhile wait for next time
        if tips and not since:
            return self.rebuild(progress)  # the first catch-up: every record, judged at once
        if self.store.meta("project") != self.repo.project:
            # ids derive from the project id, which changed (a shallow clone's, before
            # provgraph knew better) or was not noted (an index of an earlier provgraph)
            return self.rebuild(progress)
        try:
            entries = sorted(self.journal.entries(since, tips),
                             key=lambda e: order_key(e.record))
        except Requarantined:
            return self.rebuild(progress)  # records indexed before are quarantined now
        last = self.store.meta("last_key")
        if entries and last and list(order_key(entries[0].record)) < last:
            return self.rebuild(progress)  # older records arrived: replay everything in order
        try:
            with self.store.transaction():
                owners = Ownership(self.repo.clone_id, entries,
                                   {v["chain"] + " " + v["commit"]: v
                                    for v in self.store.meta("quarantined", [])})
                self._check_index(entries, owners)
                return self._apply(entries, tips, progress, owners, incremental=True)
        except NeedsRebuild:
            return self.rebuild(progress)

    def rebuild(self, progress: Progress | None = None) -> int:
        tips = self.journal.tips()
        entries = sorted(self.journal.entries({}, tips), key=lambda e: order_key(e.record))
        with self.store.transaction():
            bad: dict[str, dict] = {}
            while True:
                self.store.reset()
                self.store.db.execute(f"DELETE FROM {CLAIMS}")
                owners = Ownership(self.repo.clone_id, entries, bad)
                done = self._apply(entries, tips, progress, owners, incremental=False)
                if not owners.late:
                    break
                bad = owners.bad  # a record written before it was found bad: without it
            ids = {_key(e): e.record.get("id") for e in entries}
            self.verdicts = [{**verdict, "id": ids.get(key), "n": 0}
                             for key, verdict in sorted(owners.bad.items())]
            self.store.set_meta("quarantined", self.verdicts)
            return done

    def _check_index(self, entries: list[Entry], owners: Ownership) -> None:
        """A catch-up replays graph records only when nothing they write is in the index yet,
        or only their own chain's graph records wrote it; else only a full replay can judge."""
        ids_by_chain: dict[str, set[str]] = {}
        for entry in entries:
            if entry.record.get("kind") == "graph":
                ids = ids_by_chain.setdefault(entry.chain, set())
                ids.update(n["id"] for n in entry.record.get("nodes", ()))
                ids.update(e["source"] for e in entry.record.get("edges", ()))
        for chain, ids in ids_by_chain.items():
            existing = set(self.store.nodes(ids))
            claims = self._claims(ids)
            for node_id in existing | set(claims):
                if claims.get(node_id) != {chain}:
                    raise NeedsRebuild(node_id)

    def _claims(self, ids: Iterable[str]) -> dict[str, set[str]]:
        ids = list(ids)
        if not ids:
            return {}
        rows = self.store.db.execute(f"SELECT DISTINCT id, chain FROM {CLAIMS} "
                                     "WHERE id IN (SELECT unnest(?))", [ids]).fetchall()
        found: dict[str, set[str]] = {}
        for node_id, chain in rows:
            found.setdefault(node_id, set()).add(chain)
        return found

    def _apply(self, entries: list[Entry], tips: dict[str, str],
               progress: Progress | None, owners: Ownership, incremental: bool) -> int:
        meter = _Meter(progress, len(entries))
        replay = Replay(self.repo.project, {}, self.store.meta("sequence", 0),
                        tick=meter.advance if progress else None)
        loaded: set[str] = set()  # paths whose state was read from the store (or is new)
        if entries:
            self.store.next_generation()
        claimed = incremental and self.store.db.execute(
            f"SELECT count(*) FROM {CLAIMS}").fetchone()[0] > 0
        done = 0
        namespaces: dict[str, str] = dict(self.store.meta("namespaces", {}))
        bound = len(namespaces)
        for batch in _batches(entries, self.BATCH, self.ELEMENTS):
            nodes, edges, made, claims, notes = [], [], [], [], []
            resolved = resolve(self.repo, batch)
            meter.total += sum(item.files() for item in resolved)
            if incremental:  # a rebuild starts from an empty store: nothing to read
                wanted = set().union(*(item.paths() for item in resolved)) - loaded
                replay.state.update(self.store.load_state(wanted))
                loaded |= wanted
            for entry, item in zip(batch, resolved, strict=True):
                if entry.record.get("kind") == ANNOTATION:
                    notes.append(entry.record)  # applied to their targets below
                    continue
                graph = entry.record.get("kind") == "graph"
                if graph and not owners.admit(entry):
                    continue
                start = meter.done
                n, e = replay.apply(item)
                meter.done = start + item.files()
                if graph:
                    claims += _claim_rows(entry)
                    _bind(namespaces, entry.record.get("namespaces"))
                    nodes += [(None, node) for node in n]
                else:
                    owners.made(entry.chain, n)
                    made += [(entry.chain, node.id) for node in n]
                    nodes += [(entry.chain, node) for node in n]
                edges += e
            nodes = settle(self.store, self._agents_kept(nodes), notes)
            if incremental:
                if owners.found:
                    raise NeedsRebuild("a record found bad: judged with all the others")
                if claimed and made:
                    found = self._claims(node_id for _chain, node_id in made)
                    if any(found.get(node_id, set()) - {chain} for chain, node_id in made):
                        raise NeedsRebuild("a capture makes a node another clone imported")
            self.store.write(nodes, edges, self.repo.project)
            self._save_claims(claims)
            self.store.save_state(replay.state, replay.touched)
            replay.touched.clear()
            done += len(batch)
            meter.advance(len(batch))
        if len(namespaces) != bound:
            self.store.set_meta("namespaces", namespaces)
        if entries:
            self.store.set_meta("sequence", replay.sequence)
            self.store.set_meta("last_key", list(order_key(entries[-1].record)))
        self.store.set_meta("tips", tips)
        self.store.set_meta("project", self.repo.project)
        return done

    def _agents_kept(self, made: list[tuple[str | None, Node]]) -> list[Node]:
        """A person's agent node (one id per email, shared by every clone) is written by this
        clone's own records, else by the first record that names it: a pulled record that
        gives the same email another name cannot rename someone else's agent."""
        own = self.repo.clone_id
        foreign = {node.id for chain, node in made
                   if chain is not None and chain != own and node.label == AGENT}
        if not foreign:
            return [node for _chain, node in made]
        seen = set(self.store.nodes(foreign))
        kept = []
        for chain, node in made:
            if chain is not None and node.label == AGENT:
                if chain != own and node.id in seen:
                    continue
                seen.add(node.id)
            kept.append(node)
        return kept

    def _save_claims(self, rows: list[tuple[str, str, str, str]]) -> None:
        if rows:
            columns = [list(column) for column in zip(*rows, strict=True)]
            self.store.db.execute(f"INSERT INTO {CLAIMS} SELECT unnest(?), unnest(?), "
                                  "unnest(?), unnest(?)", columns)


class _Meter:
    """Progress of a replay in records and files: one record may change 100,000 files, so
    files count as they are replayed, a record once it is written. The total grows as each
    batch of records is resolved (what a record changed is known only then)."""

    def __init__(self, progress: Progress | None, records: int):
        self.progress = progress
        self.total = records
        self.done = 0

    def advance(self, count: int) -> None:
        self.done += count
        if self.progress:
            self.progress(self.done, self.total)


def _bind(namespaces: dict[str, str], declared: Any) -> None:
    """The prefixes of an imported graph's names (`provgraph.interchange.export.Names`), for export:
    the first record to bind a prefix keeps it, as the importer never rebinds one."""
    if isinstance(declared, dict):
        for prefix, uri in sorted(declared.items()):
            namespaces.setdefault(prefix, uri)


def _claim_rows(entry: Entry) -> list[tuple[str, str, str, str]]:
    rows = [(n["id"], entry.chain, entry.commit, "node") for n in entry.record.get("nodes", ())]
    rows += [(e["source"], entry.chain, entry.commit, "source")
             for e in entry.record.get("edges", ())]
    return rows


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
    reading stays cheap; catching up takes a lock so concurrent readers do it once. The index
    is derived: one found damaged is removed and made again from the journal (said in one
    line, since what `prov fileview why` keeps there is recorded again only by a refresh).
    """
    from provgraph.stores.embedded import IndexDamaged

    repo.ensure_prov_dir()
    from provgraph.journal import migrate

    if migrate.needed(repo):  # one file read: a format 1 chain is rewritten once
        migrate.ensure(repo)
    path = Path(repo.prov_path("index.duckdb"))
    try:
        return _open_index(repo, path, progress, rebuild)
    except IndexDamaged as exc:
        from provgraph import state

        exc.remove()
        state.warn(f"{exc}: it is made again from the journal (the record-level lineage of "
                   "file views it held is recorded again by `prov fileview refresh --force "
                   "NAME`)")
    return _open_index(repo, path, progress, rebuild=True)


def _open_index(repo: Repository, path: Path, progress: Progress | None, rebuild: bool):
    from provgraph.stores.embedded import SCHEMA_VERSION, EmbeddedStore, IndexDamaged, damage

    tips = Journal(repo).tips()
    verdicts_known = quarantine.index_verdicts(repo) is not None
    if not rebuild and path.exists() and _read_tips(repo) == tips and verdicts_known:
        store = EmbeddedStore(path, read_only=True)
        try:
            if (store.meta("schema_version") == SCHEMA_VERSION
                    and store.meta("project") == repo.project):
                return store
        except Exception as exc:
            store.close()
            if damage(exc):
                raise IndexDamaged(path, damage(exc) or "") from None
            raise
        store.close()  # written by another provgraph version: migrate below
    with locked(repo.prov_path("index-update.lock")):
        fresh.stamp_index(repo)  # copies noted before no longer answer for the index
        store = EmbeddedStore(path)
        try:
            indexer = Indexer(repo, store)
            if rebuild or not verdicts_known:  # the imported graphs' verdicts: judged again
                indexer.rebuild(progress)
            else:
                indexer.update(progress)
        except Exception as exc:
            store.close()
            if damage(exc):
                raise IndexDamaged(path, damage(exc) or "") from None
            raise
        if indexer.verdicts is not None:  # a full replay judged the imported graphs again
            quarantine.save_index_verdicts(repo, indexer.verdicts)
        gitio.write_file_atomic(_tips_file(repo), json.dumps(store.meta("tips", {})).encode(),
                                durable=False)
        fresh.stamp_index(repo)
        return store


def _read_tips(repo: Repository) -> dict[str, str] | None:
    from provgraph import state

    found = state.read_json(str(_tips_file(repo)))
    return found if state.dict_of(found, str, str) else None


def index_status(repo: Repository) -> dict:
    """Where the index is and how many journal records it has not replayed yet.

    Answered from git and the index's note of what it replayed, without opening DuckDB.
    """
    tips = fresh.journal_tips(repo)  # read from the ref files: no process
    tips = Journal(repo).tips() if tips is None else tips
    indexed = {chain: oid for chain, oid in (_read_tips(repo) or {}).items() if oid}
    path = Path(repo.prov_path("index.duckdb"))
    total = Journal(repo).count(tips)  # from the quarantine's ledger: no walk of the history
    # what the index lacks: a walk of the new records only (all of them when nothing is indexed)
    args = list(tips.values()) + [f"^{oid}" for oid in indexed.values()]
    pending = (0 if not tips or indexed == tips
               else int(repo.git("rev-list", "--count", *args).decode()) if indexed else total)
    return {"path": str(path), "exists": path.exists(), "records": total - pending,
            "pending": pending}
