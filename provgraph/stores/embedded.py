"""The embedded index: the PROV graph in DuckDB, at `.git/prov/index.duckdb`, no server needed.

Tables (documented for `prov sql`):

- `nodes(id, label, project, name, properties JSON)`: label is Entity, Activity or Agent;
  `properties` holds every property (path, version, digest, size; command, utility, options,
  operands, exit_code, started, ended, cwd; name, email; ingestor keys such as caffe.base_lr).
- `edges(type, source, target, id, project, properties JSON)`: PROV relations in PROV's
  direction, e.g. type 'used' runs from an Activity to an Entity; `id` is '' but for an
  imported relation with an identifier of its own (two may join the same two nodes).
- Views `entities`, `activities`, `agents` lift the common properties into columns (a node
  declared as several kinds, listed in its `labels` property, is in the view of its label).
- `paths` and `meta` are the replay's bookkeeping (current version per path, journal tips);
  `annotations` keeps, per annotated node, what `prov note/tag/set` said and the node as
  recorded (`provgraph.journal.annotations`).
- `gen` on nodes and edges is the catch-up ("generation") that last wrote the row: what a
  Neo4j sync has not pushed yet is every row of a later generation.

DuckDB lets one process write at a time; opening waits and retries instead of failing.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from provgraph.errors import ProvError
from provgraph.journal.replay import PathState
from provgraph.model import Edge, Node
from provgraph.state import Damaged

if TYPE_CHECKING:
    from provgraph.journal.annotations import State

#: Bulk loads go through files named so (`_load`), removed by the next writer if killed.
LOAD_PREFIX = ".index-load-"
SCHEMA_VERSION = 6  # bump on any change below: an older index is rebuilt from the journal

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    id VARCHAR PRIMARY KEY,
    label VARCHAR NOT NULL,
    project VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    properties JSON NOT NULL,
    gen BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS edges (
    type VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    target VARCHAR NOT NULL,
    id VARCHAR NOT NULL DEFAULT '',
    project VARCHAR NOT NULL,
    properties JSON NOT NULL,
    gen BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (type, source, target, id)
);
CREATE TABLE IF NOT EXISTS paths (
    path VARCHAR PRIMARY KEY,
    entity VARCHAR,
    oid VARCHAR,
    version INTEGER NOT NULL,
    generated_by VARCHAR,
    started VARCHAR,
    ended VARCHAR,
    observed VARCHAR,
    replaced VARCHAR
);
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value JSON);
CREATE TABLE IF NOT EXISTS annotations (target VARCHAR PRIMARY KEY, state JSON NOT NULL);
CREATE OR REPLACE VIEW entities AS
    SELECT id, name, project, properties->>'path' AS path,
           CAST(properties->>'version' AS INTEGER) AS version,
           properties->>'digest' AS digest, CAST(properties->>'size' AS BIGINT) AS size,
           properties
    FROM nodes WHERE label = 'Entity';
CREATE OR REPLACE VIEW activities AS
    SELECT id, name, project, properties->>'command' AS command,
           properties->>'utility' AS utility,
           CAST(properties->>'exit_code' AS INTEGER) AS exit_code,
           CAST(properties->>'started' AS TIMESTAMPTZ) AS started,
           CAST(properties->>'ended' AS TIMESTAMPTZ) AS ended,
           properties->>'cwd' AS cwd, properties
    FROM nodes WHERE label = 'Activity';
CREATE OR REPLACE VIEW agents AS
    SELECT id, name, project, properties->>'email' AS email, properties
    FROM nodes WHERE label = 'Agent';
"""

_NODE_COLUMNS = "{'id': 'VARCHAR', 'label': 'VARCHAR', 'project': 'VARCHAR', 'name': 'VARCHAR', " \
    "'properties': 'JSON', 'gen': 'BIGINT'}"
_EDGE_COLUMNS = "{'type': 'VARCHAR', 'source': 'VARCHAR', 'target': 'VARCHAR', " \
    "'id': 'VARCHAR', 'project': 'VARCHAR', 'properties': 'JSON', 'gen': 'BIGINT'}"
_PATH_NAMES = "path, entity, oid, version, generated_by, started, ended, observed, replaced"
_PATH_COLUMNS = "{'path': 'VARCHAR', 'entity': 'VARCHAR', 'oid': 'VARCHAR', " \
    "'version': 'INTEGER', 'generated_by': 'VARCHAR', 'started': 'VARCHAR', " \
    "'ended': 'VARCHAR', 'observed': 'VARCHAR', 'replaced': 'VARCHAR'}"


#: What DuckDB says of a file that is not, or no longer, a database it can read: cut short,
#: overwritten, or written by a DuckDB whose format this one does not read.
DAMAGE_SIGNS = ("not a valid DuckDB database", "Could not read enough bytes", "Corrupt database",
                "does not match stored checksum", "database file with version number",
                "Failed to load metadata pointer", "Invalid block")


class IndexDamaged(Damaged, ProvError):
    """The index file cannot be read: it is made again from the journal."""

    def __init__(self, path: Path | str, reason: str):
        super().__init__(str(path), reason)
        self.seen = identity(path)

    def remove(self) -> None:
        discard(Path(self.path), self.seen)


def discard(path: Path, seen: tuple[int, int] | None = None) -> None:
    """Remove a damaged index and what is derived from it (the search index, the note of
    what was indexed). `seen`: the damaged file's identity; when the file there now is
    another, a process made it again meanwhile, and it stays."""
    from provgraph.capture.snapshot import locked

    with locked(str(path.with_name("index-update.lock"))):
        if seen is not None and identity(path) not in (seen, None):
            return
        for name in (path.name, path.name + ".wal", "index.tips", "search.sqlite",
                     "search.sqlite-wal", "search.sqlite-shm"):
            path.with_name(name).unlink(missing_ok=True)


def identity(path: Path | str) -> tuple[int, int] | None:
    """Which file is at `path` (inode, mtime): a damaged index made again is another."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def damage(exc: BaseException) -> str | None:
    """The first line of a DuckDB error that says a database file is damaged, else None."""
    if not isinstance(exc, duckdb.Error):
        return None
    text = str(exc)
    return text.splitlines()[0] if any(sign in text for sign in DAMAGE_SIGNS) else None


def connect(path: Path, read_only: bool, timeout: float = 120.0) -> duckdb.DuckDBPyConnection:
    """Open the database, waiting while another process holds it (DuckDB allows one writer)."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            reason = str(exc).splitlines()[0]
            if damage(exc):
                raise IndexDamaged(path, reason) from None
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise ProvError(f"cannot open the index {path}: {reason}") from None
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 0.2)


class EmbeddedStore:
    """The graph in DuckDB. Reading methods are what the queries use; writing is the indexer's."""

    def __init__(self, path: Path, read_only: bool = False):
        self.path = path
        self.read_only = read_only
        self.db = connect(path, read_only)
        try:
            self._check_size()
            if not read_only:
                self._migrate()
        except BaseException as exc:
            self.db.close()
            if damage(exc):
                raise IndexDamaged(path, damage(exc) or "") from None
            raise

    def _check_size(self) -> None:
        """A file cut short (a full disk, a copy that stopped) is damage DuckDB would find
        only when a query reads the missing blocks: found here, from its count of the blocks
        in use (free ones may have been cut from the end), unless a write-ahead log holds
        blocks the file does not have yet."""
        if Path(f"{self.path}.wal").exists():
            return
        size, used = self.db.execute(
            "SELECT block_size, used_blocks FROM pragma_database_size() "
            "WHERE database_name = current_database()").fetchone()
        have = os.path.getsize(self.path) if os.path.exists(self.path) else 0
        if size and used and have < size * used:
            raise IndexDamaged(self.path, f"{have:,} bytes, where its {used} blocks in use "
                                          f"need {size * used:,}")

    def _remove_abandoned(self) -> None:
        """Bulk-load files of a writer that was killed (`_load`): this connection is the only
        writer (DuckDB locks the file), so any such file beside the index is abandoned.
        `tmp*.json` are those of provgraph versions before the prefix."""
        folder = self.path.parent
        for pattern in (f"{LOAD_PREFIX}*.json", "tmp*.json"):
            for leftover in folder.glob(pattern):
                with contextlib.suppress(OSError):
                    leftover.unlink()

    def _migrate(self) -> None:
        """An index of another schema version is dropped: the journal rebuilds it."""
        self._remove_abandoned()
        tables = {r[0] for r in self.db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
        ).fetchall()}
        if "meta" in tables and self.meta("schema_version") != SCHEMA_VERSION:
            for view in ("entities", "activities", "agents"):
                self.db.execute(f"DROP VIEW IF EXISTS {view}")
            for table in ("nodes", "edges", "paths", "meta", "annotations"):
                self.db.execute(f"DROP TABLE IF EXISTS {table}")
        self.db.execute(SCHEMA)
        self.set_meta("schema_version", SCHEMA_VERSION)
        if self.meta("instance") is None:  # tells copies of this index from copies of another
            self.set_meta("instance", os.urandom(8).hex())

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> EmbeddedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.begin()
        try:
            yield
        except BaseException:
            self.db.rollback()
            raise
        self.db.commit()

    def reset(self) -> None:
        """Empty the graph; the generation counter keeps counting (syncs rely on it).

        The tables are dropped and made again rather than emptied: DuckDB commits keys
        deleted and inserted again in one transaction (a rebuild) ~20x slower than new ones
        (22 s against 1 s for 100,000 nodes)."""
        generation = self.generation
        for view in ("entities", "activities", "agents"):
            self.db.execute(f"DROP VIEW IF EXISTS {view}")
        for table in ("nodes", "edges", "paths", "meta", "annotations"):
            self.db.execute(f"DROP TABLE IF EXISTS {table}")
        self.db.execute(SCHEMA)
        self.set_meta("schema_version", SCHEMA_VERSION)
        self.set_meta("generation", generation)
        self.set_meta("instance", os.urandom(8).hex())  # copies of the old graph start over

    @property
    def generation(self) -> int:
        return self.meta("generation", 0)

    def next_generation(self) -> int:
        """Start a catch-up: rows written from now on carry the new generation."""
        self.set_meta("generation", self.generation + 1)
        return self.generation

    def write(self, nodes: Iterable[Node], edges: Iterable[Edge], project: str) -> None:
        """Upsert a batch (by id for nodes, by type/source/target for edges)."""
        gen = self.generation
        node_rows = {
            n.id: {"id": n.id, "label": n.label, "project": project,
                   "name": n.properties.get("name", n.id), "properties": n.properties, "gen": gen}
            for n in nodes
        }
        edge_rows = {
            e.identity: {"type": e.type, "source": e.source, "target": e.target,
                         "id": e.identity[3], "project": project, "properties": e.properties,
                         "gen": gen}
            for e in edges
        }
        self._load("nodes", "id, label, project, name, properties, gen", _NODE_COLUMNS,
                   node_rows.values())
        self._load("edges", "type, source, target, id, project, properties, gen",
                   _EDGE_COLUMNS, edge_rows.values())

    def changed_nodes(self, generation: int, after: str, limit: int) -> list[Node]:
        """Nodes written after `generation`, by id, from just after `after` (keyset pages)."""
        rows = self.db.execute("SELECT id, label, properties FROM nodes WHERE gen > ? AND id > ? "
                               "ORDER BY id LIMIT ?", [generation, after, limit]).fetchall()
        return [_node(row) for row in rows]

    def changed_edges(self, generation: int, after: tuple[str, str, str, str], limit: int
                      ) -> list[Edge]:
        """Edges written after `generation`, by (type, source, target, id) (`Edge.identity`),
        from after `after`."""
        rows = self.db.execute(
            "SELECT type, source, target, properties FROM edges WHERE gen > ? "
            "AND (type, source, target, id) > (?, ?, ?, ?) ORDER BY type, source, target, id "
            "LIMIT ?", [generation, *after, limit]).fetchall()
        return [_edge(row) for row in rows]

    def count_since(self, generation: int) -> int:
        return sum(self.db.execute(f"SELECT count(*) FROM {table} WHERE gen > ?",
                                   [generation]).fetchone()[0] for table in ("nodes", "edges"))

    def _load(self, table: str, columns: str, types: str, rows: Iterable[dict]) -> None:
        """Bulk upsert through one JSON file (one C-encoded array: much faster than row by
        row, and than executemany)."""
        rows = list(rows)
        if not rows:
            return
        fd, tmp = tempfile.mkstemp(prefix=LOAD_PREFIX, suffix=".json", dir=self.path.parent)
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(rows))
        try:
            self.db.execute(
                f"INSERT OR REPLACE INTO {table} SELECT {columns} FROM read_json(?, "
                f"format='array', columns={types}, maximum_object_size=1073741824)", [tmp])
        finally:
            os.unlink(tmp)

    def load_state(self, paths: Iterable[str] | None = None) -> dict[str, PathState]:
        """Where paths stand: all of them (`paths` None), or only those given, so that a
        catch-up reads what its records touch rather than every path ever recorded."""
        sql = ("SELECT path, entity, oid, version, generated_by, started, ended, observed, "
               "replaced FROM paths")
        if paths is None:
            rows = self.db.execute(sql).fetchall()
        else:
            wanted = list(paths)
            if not wanted:
                return {}
            rows = self.db.execute(sql + " WHERE path IN (SELECT unnest(?))",
                                   [wanted]).fetchall()
        return {row[0]: PathState(*row[1:]) for row in rows}

    def save_state(self, state: dict[str, PathState], paths: Iterable[str]) -> None:
        """Upsert where `paths` stand now, in one bulk load (row by row, 3,000 new files
        took a minute)."""
        rows = [{"path": p, "entity": s.entity, "oid": s.oid, "version": s.version,
                 "generated_by": s.generated_by, "started": s.started, "ended": s.ended,
                 "observed": s.observed, "replaced": s.replaced}
                for p in paths if (s := state.get(p)) is not None]
        self._load("paths", _PATH_NAMES, _PATH_COLUMNS, rows)

    def has_annotations(self) -> bool:
        return self.db.execute("SELECT 1 FROM annotations LIMIT 1").fetchone() is not None

    def annotations(self, ids: Iterable[str]) -> dict[str, State]:
        """What annotations say of those of `ids` that have any (`journal.annotations`)."""
        from provgraph.journal.annotations import State

        wanted = list(set(ids))
        if not wanted:
            return {}
        rows = self.db.execute("SELECT target, state FROM annotations "
                               "WHERE target IN (SELECT unnest(?))", [wanted]).fetchall()
        return {target: State.from_json(json.loads(state)) for target, state in rows}

    def save_annotations(self, states: dict[str, State]) -> None:
        self._load("annotations", "target, state", "{'target': 'VARCHAR', 'state': 'JSON'}",
                   ({"target": target, "state": state.to_json()}
                    for target, state in states.items()))

    def meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, json.dumps(value)])

    # -- reading -----------------------------------------------------------------------

    def node(self, node_id: str) -> Node | None:
        found = self.nodes([node_id])
        return found.get(node_id)

    def nodes(self, ids: Iterable[str]) -> dict[str, Node]:
        ids = list(set(ids))
        if not ids:
            return {}
        rows = self.db.execute(
            "SELECT id, label, properties FROM nodes WHERE id IN (SELECT unnest(?))", [ids]
        ).fetchall()
        return {r[0]: _node(r) for r in rows}

    def edges(self, ids: Iterable[str], direction: str = "out",
              types: Iterable[str] | None = None) -> list[Edge]:
        """Edges leaving (`out`), entering (`in`) or touching (`both`) the given nodes."""
        ids = sorted(set(ids))
        if not ids:
            return []
        where = {
            "out": "source IN (SELECT unnest($ids))",
            "in": "target IN (SELECT unnest($ids))",
            "both": "(source IN (SELECT unnest($ids)) OR target IN (SELECT unnest($ids)))",
        }[direction]
        params: dict[str, Any] = {"ids": ids}
        if types is not None:
            where += " AND type IN (SELECT unnest($types))"
            params["types"] = list(types)
        rows = self.db.execute(
            f"SELECT type, source, target, properties FROM edges WHERE {where} "
            "ORDER BY type, source, target, id", params
        ).fetchall()
        return [_edge(r) for r in rows]

    def step(self, ids: Iterable[str], direction: str, types: Iterable[str]
             ) -> list[tuple[Edge, Node]]:
        """One hop of a search, in one query: the edges of `types` leaving (`out`) or entering
        (`in`) the given nodes, each with the node at its other end."""
        ids = list(set(ids))
        if not ids:
            return []
        near, far = ("source", "target") if direction == "out" else ("target", "source")
        rows = self.db.execute(
            f"SELECT e.type, e.source, e.target, e.properties, n.id, n.label, n.properties "
            f"FROM edges e JOIN nodes n ON n.id = e.{far} "
            f"WHERE e.{near} IN (SELECT unnest($ids)) AND e.type IN (SELECT unnest($types))",
            {"ids": ids, "types": list(types)}).fetchall()
        return [(_edge(r[:4]), _node(r[4:])) for r in rows]

    def versions(self, path: str) -> list[Node]:
        """Every recorded version of a file, oldest first."""
        ids = [r[0] for r in self.db.execute(
            "SELECT id FROM entities WHERE path = ? ORDER BY version", [path]).fetchall()]
        found = self.nodes(ids)
        return [found[i] for i in ids]

    def entity(self, path: str, version: int | None = None) -> Node | None:
        """A version of a file by path: the latest when `version` is None."""
        sql = "SELECT id FROM entities WHERE path = ?"
        params: list[Any] = [path]
        if version is not None:
            sql += " AND version = ?"
            params.append(version)
        row = self.db.execute(sql + " ORDER BY version DESC LIMIT 1", params).fetchone()
        return self.node(row[0]) if row else None

    def deleted(self, path: str) -> bool:
        """Whether the record says `path` is gone: its last version deleted, by a command or
        outside prov (as the next snapshot saw), and nothing made it again since."""
        row = self.db.execute("SELECT entity FROM paths WHERE path = ?", [path]).fetchone()
        return row is not None and row[0] is None

    def deleted_by(self, path: str) -> Node | None:
        """The last activity that deleted `path` (its `deleted` list names it)."""
        row = self.db.execute(
            "SELECT id FROM activities "
            "WHERE list_contains(TRY_CAST(properties->'deleted' AS VARCHAR[]), ?) "
            "ORDER BY ended DESC NULLS LAST, id DESC LIMIT 1", [path]).fetchone()
        return self.node(row[0]) if row else None

    def named(self, name: str, label: str | None = None) -> list[Node]:
        """Nodes by their human name (`caffe train #14`, `model.pkl@v2`, `alice`)."""
        sql = "SELECT id FROM nodes WHERE name = ?"
        params: list[Any] = [name]
        if label:
            sql += " AND label = ?"
            params.append(label)
        found = self.nodes(r[0] for r in self.db.execute(sql, params).fetchall())
        return sorted(found.values(), key=lambda n: n.id)

    def activities(self, limit: int | None = None, offset: int = 0) -> list[Node]:
        """Activities, newest first."""
        sql = "SELECT id FROM activities ORDER BY ended DESC NULLS LAST, id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        ids = [r[0] for r in self.db.execute(sql).fetchall()]
        found = self.nodes(ids)
        return [found[i] for i in ids]

    def all_nodes(self) -> list[Node]:
        rows = self.db.execute("SELECT id, label, properties FROM nodes ORDER BY label, id")
        return [_node(r) for r in rows.fetchall()]

    def all_edges(self) -> list[Edge]:
        rows = self.db.execute(
            "SELECT type, source, target, properties FROM edges "
            "ORDER BY type, source, target, id")
        return [_edge(r) for r in rows.fetchall()]

    def counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT label, count(*) FROM nodes GROUP BY label").fetchall()
        counts = {label: n for label, n in rows}
        counts["edges"] = self.db.execute("SELECT count(*) FROM edges").fetchone()[0]
        return counts

    def sql(self, query: str, params: list[Any] | None = None) -> tuple[list[str], list[tuple]]:
        """Run any SQL on the index, read-only by construction: on a database of its own
        with the index attached READ_ONLY, then sandboxed (provgraph.sandbox: no file, no
        COPY/EXPORT/ATTACH, no extension, settings locked). Needs a read-only store (a
        process may not attach a file it has open for writing)."""
        if not self.read_only:
            raise ProvError("SQL runs on the index opened read-only (EmbeddedStore(path, "
                            "read_only=True))")
        try:
            con, spill = self._sandboxed()
        except duckdb.Error as exc:
            if damage(exc):
                raise IndexDamaged(self.path, damage(exc) or "") from None
            raise ProvError(f"cannot open the index {self.path}: {str(exc).splitlines()[0]}"
                            ) from None
        try:
            try:
                result = con.execute(query, params or [])
                columns = [d[0] for d in result.description or []]
                return columns, result.fetchall() if result.description else []
            except duckdb.Error as exc:
                if damage(exc):
                    raise IndexDamaged(self.path, damage(exc) or "") from None
                raise _sql_error(exc) from None
        finally:
            con.close()
            shutil.rmtree(spill, ignore_errors=True)

    def _sandboxed(self) -> tuple[duckdb.DuckDBPyConnection, str]:
        """A connection that sees the index (as its current database) and nothing else, and
        the folder it spills into (remove it when done)."""
        from provgraph import sandbox

        spill = str(self.path.parent / "sql-tmp" / f"{os.getpid()}-{os.urandom(4).hex()}")
        con = duckdb.connect(":memory:", config={**sandbox.STARTUP, "temp_directory": spill})
        try:
            con.execute("ATTACH ? AS prov (READ_ONLY)", [str(self.path)])
            con.execute("USE prov")
            sandbox.lock(con, directories=[spill])
        except BaseException:
            con.close()
            raise
        return con, spill


def _sql_error(exc: duckdb.Error) -> ProvError:
    """A DuckDB error of `prov sql` as one line; the sandbox's refusals say what is refused."""
    from provgraph.sandbox import refusal

    found = refusal(exc)
    if found is None:
        return ProvError(f"SQL: {str(exc).splitlines()[0]}")
    if found.kind == "folder" and "/extensions/" in found.target + "/":
        return ProvError("SQL: prov sql installs and loads no extensions (those built into "
                         "DuckDB work)")
    if found.kind in ("file", "folder"):
        return ProvError(f"SQL: prov sql reads the index only, and writes nothing: access to "
                         f"{found.target} is refused")
    if found.kind == "setting":
        return ProvError(f"SQL: prov sql cannot change DuckDB's settings ({found.target})")
    return ProvError("SQL: prov sql installs and loads no extensions (those built into "
                     "DuckDB work)")


def _node(row: tuple) -> Node:
    return Node(row[0], row[1], json.loads(row[2]))


def _edge(row: tuple) -> Edge:
    return Edge(row[0], row[1], row[2], json.loads(row[3]))
