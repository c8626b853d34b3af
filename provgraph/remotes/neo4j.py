"""Keeping the Neo4j index in step with the journal, without ever slowing `prov CMD`.

A sync first catches the embedded index up with the journal, then pushes to Neo4j every row
written by a later catch-up ("generation") than the last sync saw. Pushing is MERGE by id, so
pushing a row twice changes nothing: a sync cut short (Neo4j killed half way) is simply run
again, and only a complete one moves the sync state forward. Until then the records stay
pending, and `prov status` says how many.

After each capture, `prov CMD` starts `prov sync --background` detached and returns at once.
Background syncs never pile up: one runs, the others leave a request it honours before
exiting.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from provgraph import gitio
from provgraph.capture.snapshot import locked
from provgraph.config import Config
from provgraph.errors import ProvError
from provgraph.journal.records import Journal
from provgraph.repo import Repository
from provgraph.timestamps import now

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: this module is imported after captures
    from typing import Any

Progress = Callable[[int, int], None]


class Target:
    """The Neo4j database this clone is configured to sync with.

    `uri` is the URI as it may be printed and logged: a password in its userinfo (allowed in
    this clone's config or the environment, never in `.prov.toml`) is shown as ***. Only the
    store gets the URI as configured."""

    def __init__(self, config: Config):
        from provgraph.capture.redact import uri_shown

        self._uri = config.get("neo4j.uri")
        self.user = config.get("neo4j.user")
        self.password = config.get("neo4j.password")
        self.database = config.get("neo4j.database", "neo4j")
        if not self._uri and config.untrusted_neo4j:
            named = uri_shown(config.untrusted_neo4j)
            raise ProvError(f".prov.toml names a Neo4j server ({named}) that would receive "
                            "every record of this clone: review it with "
                            "`prov trust --show` and allow it with `prov trust`, or configure "
                            "your own with `prov config set neo4j.uri`")
        if not self._uri:
            raise ProvError("no Neo4j configured: `prov config set neo4j.uri bolt://host:7687` "
                            "or set PROV_NEO4J_URI")
        self.uri = uri_shown(self._uri)

    @property
    def key(self) -> str:
        """Names the target in neo4j-sync.json (a new password is the same target)."""
        return f"{self.uri}#{self.database}"

    def store(self, project: str):
        from provgraph.stores.neo4j import Neo4jStore

        return Neo4jStore(self._uri, project, self.user, self.password, self.database)


def _state_path(repo: Repository) -> str:
    return repo.prov_path("neo4j-sync.json")


def load_state(repo: Repository, target: Target) -> dict[str, Any]:
    """What the last complete sync with this target pushed (nothing for a new target)."""
    from provgraph import state as files

    state = files.read_json(_state_path(repo))
    if not (isinstance(state, dict) and isinstance(state.get("generation"), int)
            and files.dict_of(state.get("tips"), str, str)):
        return {"target": target.key, "generation": 0, "tips": {}}  # none, or damaged
    if state.get("target") != target.key:  # another server or database: start over
        return {"target": target.key, "generation": 0, "tips": {}, "error": state.get("error")}
    if state.get("project", repo.project) != repo.project:
        # pushed under another project id (a shallow clone's, before provgraph knew better):
        # that graph goes, this one is pushed whole
        return {"target": target.key, "generation": 0, "tips": {},
                "moved_from": state["project"]}
    return state


def _save_state(repo: Repository, state: dict[str, Any]) -> None:
    gitio.write_file_atomic(_state_path(repo), json.dumps(state, indent=2).encode())


def pending(repo: Repository, target: Target) -> int:
    """Journal records not yet in Neo4j."""
    tips = Journal(repo).tips()
    if not tips:
        return 0
    synced = [oid for oid in load_state(repo, target).get("tips", {}).values() if oid]
    if not synced:  # everything: counted by the quarantine's ledger, not by a walk
        return Journal(repo).count(tips)
    return int(repo.git("rev-list", "--count", *tips.values(), *(f"^{oid}" for oid in synced)
                        ).decode())


def sync(repo: Repository, progress: Progress | None = None, full: bool = False,
         rebuild: bool = False) -> dict[str, int]:
    """Push what Neo4j lacks; `full` pushes everything again, `rebuild` first deletes this
    project's graph there (then Neo4j holds exactly this clone's view of the project)."""
    from provgraph.journal.indexer import open_index

    target = Target(Config(repo.root, repo.prov_dir))
    with locked(repo.prov_path("neo4j-sync.lock")):
        state = load_state(repo, target)
        try:
            with open_index(repo, rebuild=rebuild) as index:
                since = 0 if (full or rebuild) else state["generation"]
                generation, tips = index.generation, index.meta("tips", {})
                total = index.count_since(since)
            from provgraph.stores.neo4j import SCHEMA

            with target.store(repo.project) as neo:
                neo.check()
                if full or rebuild or state.get("schema") != SCHEMA:
                    neo.ensure_schema()  # once per target: a dozen statements to plan
                    state["schema"] = SCHEMA
                if rebuild:
                    neo.delete_project()
                if isinstance(state.get("moved_from"), str):
                    with target.store(state["moved_from"]) as old:
                        old.delete_project()
                sent = 0
                skipped: dict[str, int] = {}
                if progress:
                    progress(0, total)
                with contextlib.closing(_prefetched(_pages(repo, since))) as pages:
                    for nodes, edges in pages:
                        nodes, edges, left = exportable(nodes, edges)
                        for kind, count in left.items():
                            skipped[kind] = skipped.get(kind, 0) + count
                        sent += neo.write(nodes, edges)
                        if progress:
                            progress(sent, total)
        except ProvError as exc:
            state["error"] = _redacted(str(exc))
            state["failed_at"] = now()
            _save_state(repo, state)
            _log(repo, f"sync failed (from generation {state['generation']}): {exc}")
            raise
        _save_state(repo, {"target": target.key, "project": repo.project,
                           "generation": generation, "tips": tips, "synced_at": now(),
                           "error": None, "schema": state.get("schema")})
        _log(repo, f"synced {sent} elements (generations {since}..{generation}) to {target.uri}")
    if skipped:
        _skipped(repo, skipped)
    return {"elements": sent, "skipped": sum(skipped.values())}


def exportable(nodes: list, edges: list) -> tuple[list, list, dict[str, int]]:
    """What Neo4j's schema holds (the three labels, the five relations), and how many others
    were left out (as `provgraph.interchange.export.exportable`, without loading the PROV
    library)."""
    from provgraph.model import EDGE_TYPES, LABELS

    kept_nodes = [node for node in nodes if node.label in LABELS]
    kept_edges = [edge for edge in edges if edge.type in EDGE_TYPES]
    left = {"nodes": len(nodes) - len(kept_nodes), "edges": len(edges) - len(kept_edges)}
    return kept_nodes, kept_edges, {kind: n for kind, n in left.items() if n}


def _skipped(repo: Repository, skipped: dict[str, int]) -> None:
    """The defence behind the journal's door: what Neo4j's schema has no place for (another
    label, another relation type) is left out and counted, never a failed sync."""
    from provgraph.ingestors import warn

    line = (f"sync left out {skipped.get('nodes', 0)} node(s) of a label other than Entity, "
            f"Activity and Agent and {skipped.get('edges', 0)} edge(s) of a type other than "
            "the five PROV relations")
    _log(repo, line)
    warn(line)


def _prefetched(pages, depth: int = 2):
    """Read the next pages while Neo4j works on the current one (reading is ~20% of a push).

    The reader is always stopped and joined before this returns or raises: a thread still
    inside DuckDB while the interpreter exits aborts the process."""
    import queue
    import threading

    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def hand_over(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def reader() -> None:
        try:
            for page in pages:
                if not hand_over(page):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            hand_over(exc)
        else:
            hand_over(done)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        while (page := ready.get()) is not done:
            if isinstance(page, BaseException):
                raise page
            yield page
    finally:
        stop.set()
        thread.join()


def _pages(repo: Repository, since: int, size: int = 5000):
    """The rows to push, a page at a time, each read with a short read-only connection: a long
    push never keeps `prov log` (or a catch-up) waiting for the embedded index."""
    from provgraph.stores.embedded import EmbeddedStore

    path = Path(repo.prov_path("index.duckdb"))
    after = ""
    while True:
        with EmbeddedStore(path, read_only=True) as index:
            nodes = index.changed_nodes(since, after, size)
        if not nodes:
            break
        after = nodes[-1].id
        yield nodes, []
    key = ("", "", "", "")
    while True:
        with EmbeddedStore(path, read_only=True) as index:
            edges = index.changed_edges(since, key, size)
        if not edges:
            break
        key = edges[-1].identity
        yield [], edges


# -- in the background -------------------------------------------------------------------------


def start_background(repo: Repository) -> None:
    """Leave a sync request and start a detached `prov sync --background` (~1 ms)."""
    with contextlib.suppress(OSError):
        os.close(os.open(repo.prov_path("sync.requested"), os.O_WRONLY | os.O_CREAT, 0o644))
        subprocess.Popen(
            [sys.executable, "-m", "provgraph.cli", "sync", "--background"],
            cwd=repo.root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
        )


def run_background(repo: Repository) -> None:
    """Sync until no request is left; quietly give way if another sync is already running.

    Failures (Neo4j down) are kept in the sync state for `prov status`; the records stay
    pending and the next capture, or `prov sync`, tries again.
    """
    request = repo.prov_path("sync.requested")
    lock_path = repo.prov_path("sync.background.lock")
    while os.path.exists(request):
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # the running sync will see the request
            while os.path.exists(request):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(request)
                try:
                    sync(repo)
                except ProvError:
                    return  # logged by sync(); the records stay pending
        finally:
            os.close(fd)
        time.sleep(0.01)  # a request left while we released the lock is honoured above


def _log(repo: Repository, line: str) -> None:
    with contextlib.suppress(OSError), open(repo.prov_path("sync.log"), "a") as handle:
        handle.write(f"{now()} {_redacted(line)}\n")


def _redacted(text: str) -> str:
    """What the log and the sync state keep of a message: no credentials (an error may
    quote a URI or a command line)."""
    from provgraph.capture.redact import redact_text

    return redact_text(text)
