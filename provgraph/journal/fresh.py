"""Answering a read at once when nothing is new: the search copy, checked without DuckDB.

Every reading command used to import DuckDB (~60 ms), open the index and ask git for the
journal's tips before it could answer, even when no record had landed since the last read. The
search index (`provgraph.stores.adjacency`, SQLite, which Python loads in a few milliseconds)
holds the same graph; this module says when it may answer alone, and keeps it ready to.

A copy is *current* when, checked with a few small file reads and no process:

- the journal's tips (read from the ref files, as git would) are those the copy was made at;
- the embedded index has not been written since: every write of it is bracketed by a new
  random `index.stamp` (`stamp_index`, called by the indexer before and after it writes), and
  the copy notes the stamp it saw while it held the index open (no writer can change DuckDB
  while a reader holds it, and a writer stamps before it waits for the file);
- the project id, the index's verdicts on imported graphs and the index file are as the full
  path would find them, and no killed capture waits to be recorded.

Anything else (a capture, a pull, a rebuild, a copy damaged or deleted, refs in a reftable)
sends the command the full way, which then brings the copy up to date (`note`): the shortcut
never answers from anything but the graph the full path would read.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path
from typing import NamedTuple

from provgraph.repo import Repository
from provgraph.stores.adjacency import SearchIndex, discard

TYPE_CHECKING = False
if TYPE_CHECKING:
    from provgraph.model import Node

STAMP = "index.stamp"
SEARCH = "search.sqlite"
REF_PREFIX = "refs/prov/journal/"  # provgraph.journal.records.REF_PREFIX, without importing it

_MARK = """
CREATE TABLE IF NOT EXISTS fresh_deleted (path TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fresh_meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
"""


class CurrentCopy(SearchIndex):
    """The search copy answering as the embedded index does, `prov show`'s deletions too."""

    def deleted(self, path: str) -> bool:
        """As `EmbeddedStore.deleted`: the replay's note that `path` is gone, copied by `note`."""
        return self.db.execute("SELECT 1 FROM fresh_deleted WHERE path = ?",
                               [path]).fetchone() is not None

    def deleted_by(self, path: str) -> Node | None:
        """As `EmbeddedStore.deleted_by`: the last activity whose `deleted` list names `path`."""
        row = self.db.execute(
            "SELECT id FROM nodes WHERE label = 'Activity' "
            "AND json_type(properties, '$.deleted') = 'array' "
            "AND EXISTS (SELECT 1 FROM json_each(properties, '$.deleted') "
            "            WHERE type = 'text' AND value = ?) "
            "ORDER BY json_extract(properties, '$.ended') IS NULL, "
            "json_extract(properties, '$.ended') DESC, id DESC LIMIT 1", [path]).fetchone()
        return self.node(row[0]) if row else None


def stamp_index(repo: Repository) -> None:
    """Say that the embedded index is (about to be, or was just) written: every copy noted
    before is no longer current. Called before and after each write of the index."""
    from provgraph import gitio

    gitio.write_file_atomic(repo.prov_path(STAMP), os.urandom(12).hex().encode(),
                            durable=False)


def _stamp(repo: Repository) -> str:
    try:
        with open(repo.prov_path(STAMP), "rb") as handle:
            return handle.read(100).decode("ascii", "replace").strip()
    except OSError:
        return ""


def journal_tips(repo: Repository) -> dict[str, str] | None:
    """The journal's chains and their tips, read from the ref files as `git for-each-ref`
    would; None when only git can say (a reftable, a symbolic ref, anything unexpected)."""
    common = repo.common_dir
    if os.path.exists(os.path.join(common, "reftable")):
        return None
    tips: dict[str, str] = {}
    try:
        with open(os.path.join(common, "packed-refs"), "rb") as handle:
            for line in handle.read().decode().splitlines():
                if line.startswith(("#", "^")) or not line:
                    continue
                oid, _, ref = line.partition(" ")
                if ref.startswith(REF_PREFIX):
                    tips[ref[len(REF_PREFIX):]] = oid
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError):
        return None
    top = os.path.join(common, *REF_PREFIX.rstrip("/").split("/"))
    for folder, dirs, files in os.walk(top):
        dirs.sort()
        for name in files:
            if name.endswith(".lock"):
                continue  # a ref being updated: git reads the ref file beside it
            path = os.path.join(folder, name)
            try:
                with open(path, "rb") as handle:
                    value = handle.read(200).decode().strip()
            except (OSError, UnicodeDecodeError):
                return None
            if not value or value.startswith("ref:"):
                return None
            tips[os.path.relpath(path, top).replace(os.sep, "/")] = value
    return tips


def _nothing_pending(repo: Repository) -> bool:
    """No capture waits to be recorded (its marker would have the full path finish it), and
    the indexer's verdicts on imported graphs are known (else the full path judges again)."""
    running = repo.prov_path("running")
    try:
        if any(name.endswith(".json") for name in os.listdir(running)):
            return False
    except FileNotFoundError:
        pass
    except OSError:
        return False
    try:
        with open(repo.prov_path("quarantine-index.json"), "rb") as handle:
            return isinstance(json.loads(handle.read()), list)
    except (OSError, ValueError):
        return False


def current_copy(repo: Repository) -> CurrentCopy | None:
    """The search copy, opened, when it holds exactly what the caught-up index would; else
    None (the caller takes the full path). Reads a few small files, starts no process."""
    search = Path(repo.prov_path(SEARCH))
    stamp = _stamp(repo)
    if not stamp or not search.exists() or not os.path.exists(repo.prov_path("index.duckdb")):
        return None
    if not _nothing_pending(repo):
        return None
    tips = journal_tips(repo)
    if tips is None:
        return None
    try:
        copy = CurrentCopy(search)
    except sqlite3.DatabaseError:
        return None
    try:
        marks = dict(copy.db.execute("SELECT key, value FROM fresh_meta").fetchall())
        if (marks.get("stamp") == stamp and marks.get("project") == repo.project
                and marks.get("index") == _identity(repo)
                and json.loads(marks.get("tips") or "null") == tips):
            return copy
    except (sqlite3.DatabaseError, ValueError):
        pass
    copy.close()
    return None


class Marking(NamedTuple):
    """What a copy was made from: the index's stamp, tips and project at that moment."""

    stamp: str
    tips: dict[str, str]
    project: str


def copy(repo: Repository, store) -> Marking | None:
    """After a read took the full path: bring the search copy up to `store` (the caught-up
    embedded index, held open, so that no writer changes it meanwhile). `mark` then says it
    is current, once the index is closed. Best effort: a copy that cannot be made leaves the
    next read on the full path."""
    stamp = _stamp(repo)
    if not stamp:  # an index no writer stamped yet (made by an earlier provgraph)
        stamp_index(repo)
        stamp = _stamp(repo)
    import duckdb  # loaded already: the full path opened the index

    try:
        deleted = [row[0] for row in store.db.execute(
            "SELECT path FROM paths WHERE entity IS NULL ORDER BY path").fetchall()]
    except duckdb.Error:  # an index of another shape: no copy, the full path stays on
        return None
    path = Path(repo.prov_path(SEARCH))
    try:
        found = _caught_up_copy(path, store)
    except sqlite3.DatabaseError:
        return None
    try:
        found.db.executescript(_MARK)
        found.db.execute("BEGIN IMMEDIATE")
        try:
            found.db.execute("DELETE FROM fresh_deleted")
            found.db.executemany("INSERT INTO fresh_deleted VALUES (?)", [(p,) for p in deleted])
            found.db.execute("DELETE FROM fresh_meta")
            found.db.execute("COMMIT")
        except BaseException:
            found.db.execute("ROLLBACK")
            raise
    except sqlite3.DatabaseError:
        found.close()
        discard(path)
        return None
    found.close()
    return Marking(stamp, store.meta("tips", {}), str(store.meta("project") or ""))


def mark(repo: Repository, marking: Marking | None) -> None:
    """The copy made by `copy` is current, unless the index was stamped for a write since
    (checked after noting the index file as it is now, closed)."""
    if marking is None:
        return
    index = _identity(repo)
    if not index or _stamp(repo) != marking.stamp:
        return
    path = Path(repo.prov_path(SEARCH))
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=120, isolation_level=None)) as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR REPLACE INTO fresh_meta VALUES (?, ?)", [
                ("stamp", marking.stamp), ("project", marking.project), ("index", index),
                ("tips", json.dumps(marking.tips, sort_keys=True))])
            db.execute("COMMIT")
    except sqlite3.DatabaseError:
        discard(path)


def _identity(repo: Repository) -> str:
    """The index file as it is now (a file damaged, emptied or replaced is not the same)."""
    try:
        found = os.stat(repo.prov_path("index.duckdb"))
    except OSError:
        return ""
    return f"{found.st_dev}:{found.st_ino}:{found.st_size}:{found.st_mtime_ns}"


def _caught_up_copy(path: Path, store) -> CurrentCopy:
    """The copy caught up with `store`; a damaged one is removed and made again."""
    try:
        return CurrentCopy(path, store)
    except sqlite3.DatabaseError:
        discard(path)
    return CurrentCopy(path, store)


def forget(repo: Repository) -> None:
    """A copy found damaged while answering: removed (the full path makes it again)."""
    discard(Path(repo.prov_path(SEARCH)))
