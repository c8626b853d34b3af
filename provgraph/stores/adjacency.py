"""The search index: the embedded graph's adjacency in SQLite, for walks one hop at a time.

DuckDB is built for scans, which is what `prov sql` and the summaries want; a walk wants the
opposite, the few edges of a few nodes, and a columnar store pays a few milliseconds for each
such lookup however small (measured in benchmarks/RESULTS.md: 20 nodes' edges took 7 ms in
DuckDB with an index, 0.07 ms in SQLite). So the operators that walk (`prov segment`,
`prov summarize`) read a copy of the graph kept in SQLite B-trees clustered by node, at
`.git/prov/search.sqlite`.

The copy is derived, like the index it copies: before each use it takes the rows that later
catch-ups ("generations") wrote to DuckDB, the way a Neo4j sync does, and a reset of the index
(a rebuild) makes it start over. It offers the reading interface the queries use on either
store (`nodes`, `node`, `edges`, `step`, `entity`, `versions`, and for naming a node,
`named` and `activities`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from provgraph.model import EDGE_TYPES, Edge, Node
from provgraph.state import Damaged

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    id TEXT PRIMARY KEY, label TEXT NOT NULL, path TEXT, version INTEGER,
    properties TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS nodes_path ON nodes(path, version);
CREATE TABLE IF NOT EXISTS adjacency (
    node TEXT NOT NULL, outgoing INTEGER NOT NULL, type TEXT NOT NULL, other TEXT NOT NULL,
    properties TEXT NOT NULL,
    PRIMARY KEY (node, outgoing, type, other)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
"""

VERSION = "1"  # bump on any change above: an older copy is made again
_PAGE = 50_000


class SearchIndex:
    """A SQLite copy of an EmbeddedStore's graph, brought up to date on opening."""

    def __init__(self, path: Path, source=None):
        self.path = Path(path)
        self.db = sqlite3.connect(self.path, timeout=120, isolation_level=None)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._check_size()
            self.db.executescript(SCHEMA)
            if source is not None:
                self.catch_up(source)
        except BaseException:
            self.db.close()
            raise

    def _check_size(self) -> None:
        """A file cut short is damage SQLite would find only when a query reads the missing
        pages: found here, from its own page count (with no write-ahead log pending, whose
        pages the file may not hold yet)."""
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.exists() and wal.stat().st_size:
            return
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        size = self.db.execute("PRAGMA page_size").fetchone()[0]
        if self.path.stat().st_size < pages * size:
            raise sqlite3.DatabaseError("database disk image is malformed (cut short)")

    @classmethod
    def beside(cls, store) -> SearchIndex:
        """The search index next to an embedded index file, caught up with it. It is derived:
        one found damaged is removed and copied again."""
        path = Path(store.path).with_name("search.sqlite")
        try:
            return cls(path, store)
        except sqlite3.DatabaseError:
            discard(path)
        return cls(path, store)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def catch_up(self, store) -> int:
        """Copy what `store` wrote since the last copy; everything after a reset. Returns
        how many rows were copied."""
        generation = store.generation
        era = f"{VERSION}:{store.meta('instance', '')}"
        if self._meta("era") == era and int(self._meta("generation") or 0) >= generation:
            return 0
        copied = 0
        self.db.execute("BEGIN IMMEDIATE")  # one copier at a time; readers see old or new
        try:
            since = int(self._meta("generation") or 0)
            if self._meta("era") != era:
                self.db.execute("DELETE FROM nodes")
                self.db.execute("DELETE FROM adjacency")
                since = 0
            copied += self._copy_nodes(store, since)
            copied += self._copy_edges(store, since)
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                [("era", era), ("generation", str(generation))])
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return copied

    def _copy_nodes(self, store, since: int) -> int:
        result = store.db.execute(
            "SELECT id, label, properties->>'path', CAST(properties->>'version' AS BIGINT), "
            "CAST(properties AS VARCHAR) FROM nodes WHERE gen > ?", [since])
        copied = 0
        while rows := result.fetchmany(_PAGE):
            self.db.executemany("INSERT OR REPLACE INTO nodes VALUES (?, ?, ?, ?, ?)", rows)
            copied += len(rows)
        return copied

    def _copy_edges(self, store, since: int) -> int:
        result = store.db.execute(
            "SELECT source, type, target, CAST(properties AS VARCHAR) FROM edges WHERE gen > ?",
            [since])
        copied = 0
        while rows := result.fetchmany(_PAGE):
            self.db.executemany("INSERT OR REPLACE INTO adjacency VALUES (?, 1, ?, ?, ?)", rows)
            self.db.executemany("INSERT OR REPLACE INTO adjacency VALUES (?, 0, ?, ?, ?)",
                                [(t, k, s, p) for s, k, t, p in rows])
            copied += len(rows)
        return copied

    # -- reading (the interface the queries use on either store) ----------------------------

    def node(self, node_id: str) -> Node | None:
        return self.nodes([node_id]).get(node_id)

    def nodes(self, ids: Iterable[str]) -> dict[str, Node]:
        ids = list(set(ids))
        if not ids:
            return {}
        rows = self.db.execute(
            "SELECT id, label, properties FROM nodes "
            "WHERE id IN (SELECT value FROM json_each(?))", [json.dumps(ids)]).fetchall()
        return {r[0]: Node(r[0], r[1], json.loads(r[2])) for r in rows}

    def step(self, ids: Iterable[str], direction: str, types: Iterable[str]
             ) -> list[tuple[Edge, Node]]:
        """The edges of `types` leaving (`out`) or entering (`in`) the nodes, each with the
        node at its other end: one query."""
        ids = list(set(ids))
        if not ids:
            return []
        outgoing = direction == "out"
        rows = self.db.execute(
            "SELECT a.node, a.type, a.other, a.properties, n.label, n.properties "
            "FROM adjacency a JOIN nodes n ON n.id = a.other "
            "WHERE a.node IN (SELECT value FROM json_each(?)) AND a.outgoing = ? "
            "AND a.type IN (SELECT value FROM json_each(?))",
            [json.dumps(ids), int(outgoing), json.dumps(list(types))]).fetchall()
        found = []
        for node, kind, other, props, label, other_props in rows:
            source, target = (node, other) if outgoing else (other, node)
            found.append((Edge(kind, source, target, json.loads(props)),
                          Node(other, label, json.loads(other_props))))
        return found

    def edges(self, ids: Iterable[str], direction: str = "out",
              types: Iterable[str] | None = None) -> list[Edge]:
        kinds = json.dumps(list(types) if types is not None else list(EDGE_TYPES))
        nodes = json.dumps(sorted(set(ids)))
        directions = {"out": ["out"], "in": ["in"], "both": ["out", "in"]}[direction]
        found: dict[tuple[str, str, str], Edge] = {}
        for way in directions:
            rows = self.db.execute(
                "SELECT node, type, other, properties FROM adjacency "
                "WHERE node IN (SELECT value FROM json_each(?)) AND outgoing = ? "
                "AND type IN (SELECT value FROM json_each(?))",
                [nodes, int(way == "out"), kinds]).fetchall()
            for node, kind, other, props in rows:
                source, target = (node, other) if way == "out" else (other, node)
                found[(kind, source, target)] = Edge(kind, source, target, json.loads(props))
        return [found[key] for key in sorted(found)]

    def entity(self, path: str, version: int | None = None) -> Node | None:
        sql = "SELECT id FROM nodes WHERE label = 'Entity' AND path = ?"
        params: list[Any] = [path]
        if version is not None:
            sql += " AND version = ?"
            params.append(version)
        row = self.db.execute(sql + " ORDER BY version DESC LIMIT 1", params).fetchone()
        return self.node(row[0]) if row else None

    def versions(self, path: str) -> list[Node]:
        ids = [r[0] for r in self.db.execute(
            "SELECT id FROM nodes WHERE label = 'Entity' AND path = ? ORDER BY version",
            [path]).fetchall()]
        found = self.nodes(ids)
        return [found[i] for i in ids]

    def named(self, name: str, label: str | None = None) -> list[Node]:
        """Nodes by their human name (a scan: names are looked up once per command)."""
        sql = "SELECT id FROM nodes WHERE json_extract(properties, '$.name') = ?"
        params: list[Any] = [name]
        if label:
            sql += " AND label = ?"
            params.append(label)
        found = self.nodes(r[0] for r in self.db.execute(sql, params).fetchall())
        return sorted(found.values(), key=lambda n: n.id)

    def activities(self, limit: int | None = None, offset: int = 0) -> list[Node]:
        """Activities, newest first (by `ended`, as the embedded index orders them)."""
        sql = ("SELECT id FROM nodes WHERE label = 'Activity' ORDER BY "
               "json_extract(properties, '$.ended') IS NULL, "
               "json_extract(properties, '$.ended') DESC, id DESC")
        params: list[Any] = []
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params = [int(limit), int(offset)]
        ids = [r[0] for r in self.db.execute(sql, params).fetchall()]
        found = self.nodes(ids)
        return [found[i] for i in ids]


def discard(path: Path) -> None:
    """Remove a damaged search index (it is copied again from the embedded index)."""
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        path.with_name(name).unlink(missing_ok=True)


class SearchDamaged(Damaged):
    """The search index was found damaged in the middle of a walk."""

    def remove(self) -> None:
        discard(Path(self.path))
