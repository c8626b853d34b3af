"""From journal records to PROV nodes and edges: the one place the graph's meaning is decided.

Records are replayed in the order their activities ended. For each path the replay keeps the
current version; every record then reads as a story:

1. Changes between the previous snapshot and this before-snapshot were made outside provgraph
   (an editor, a command without the prefix): each is a new version, `wasDerivedFrom` the one
   it replaced with `missing: true`, and no activity.
2. The files the command used are the versions in its before-snapshot.
3. Each file that differs between before and after is a new version `wasGeneratedBy` the
   activity, `wasAttributedTo` its agent and `wasDerivedFrom` the version it replaced.
   Outputs are never linked to inputs by `wasDerivedFrom`: `used`/`wasGeneratedBy` says it.

Versions nobody used or changed are not materialized, so a 10,000-file repository does not
become 10,000 entities on its first capture. The replay is deterministic, so ids and version
numbers come out the same on every rebuild.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from provgraph.gitio import Change
from provgraph.model import (
    ACTIVITY,
    AGENT,
    ENTITY,
    USED,
    WAS_ASSOCIATED_WITH,
    WAS_ATTRIBUTED_TO,
    WAS_DERIVED_FROM,
    WAS_GENERATED_BY,
    Edge,
    Node,
    agent_id,
    entity_digest,
    entity_id,
    flatten,
)

TICK = 1000  # files replayed between two calls of Replay.tick


@dataclass(frozen=True)
class PathState:
    """Where a path stands after the records replayed so far."""

    entity: str | None  # current version's id; None once deleted
    oid: str | None  # git object of the current version (a pointer blob for large files)
    version: int  # highest version number given to this path
    generated_by: str | None = None
    started: str | None = None  # of the generating activity
    ended: str | None = None
    observed: str | None = None  # for versions no activity made: when a snapshot first showed it
    replaced: str | None = None  # the version it replaced, for such versions


@dataclass
class Resolved:
    """A journal record with what git knows about it: the diffs and blob sizes."""

    record: dict[str, Any]
    external: list[Change]  # previous snapshot -> before
    changes: list[Change]  # before -> after
    used: list[tuple[str, str, str]]  # (path, oid in before, role)
    sizes: dict[str, int]  # oid -> size in bytes
    regenerated: list[tuple[str, str]] = field(default_factory=list)  # (path, oid in after):
    # files a traced command rewrote whole, whatever their bytes

    def files(self) -> int:
        """How many file changes the replay goes through (for progress)."""
        return len(self.external) + len(self.changes)

    def paths(self) -> set[str]:
        """Every path whose state the replay of this record may read: a catch-up loads the
        state of these, not of every path the index knows."""
        found = {change.path for change in self.external}
        found.update(change.path for change in self.changes)
        found.update(path for path, _oid, _role in self.used)
        found.update(path for path, _oid in self.regenerated)
        ignored = self.record.get("ignored")
        if isinstance(ignored, dict):
            found.update(ignored)
        return found


@dataclass
class Replay:
    project: str
    state: dict[str, PathState] = field(default_factory=dict)
    sequence: int = 0  # activities replayed so far (the #n of activity names)
    touched: set[str] = field(default_factory=set)  # paths whose state changed
    #: told every TICK files replayed (a progress bar: one record may change 100,000 files)
    tick: Callable[[int], None] | None = None

    def apply(self, item: Resolved) -> tuple[list[Node], list[Edge]]:
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        record = self.record = item.record
        if record.get("kind") == "graph":
            return self._graph(record)
        if record.get("kind") == "plan":
            return self._plan(record)
        if record.get("kind") is not None:
            # Records that make no nodes: view definitions (`prov fileview`, kind "view"),
            # annotations (kind "annotation": the indexer applies them to their targets,
            # `journal.annotations.settle`), and kinds a later provgraph may add, which this
            # one leaves for that one to read.
            return self.nodes, self.edges
        self.large = {info["pointer"]: info for info in record.get("large", {}).values()}
        self.ignored = _ignored_versions(record)
        self.sizes = item.sizes
        self.sequence += 1
        agent = self._agent(record.get("agent") or {})
        for count, change in enumerate(item.external, 1):
            self._external(change)
            if self.tick and count % TICK == 0:
                self.tick(TICK)
        activity = record["id"]
        for path, oid, role in item.used:
            self._edge(USED, activity, self._current(path, oid), {"role": role})
        restored = (record.get("activity") or {}).get("restore_of")
        if isinstance(restored, str) and restored.startswith("ent-"):
            # `prov restore`: the version it wrote back, which its trace cannot see it read
            self._edge(USED, activity, restored, {"role": "restore"})
        trace = _complete_trace(record)
        deleted = []
        for count, change in enumerate(item.changes, 1):
            if self.tick and count % TICK == 0:
                self.tick(TICK)  # (as this one begins: the loop has no single end)
            if trace is not None and not _made_by(trace, change):
                self._observed(change)  # made by another process while this one ran
            elif change.new_oid is None:
                deleted.append(change.path)
                self._delete(change.path)
            elif trace is not None and self._overwritten(change.path, change.new_oid, trace):
                self._unseen_version(change.path, record, agent)
            else:
                self._generated(change, record, agent)
        if trace is not None:
            changed = {change.path for change in item.changes}
            for path, oid in item.regenerated:
                if path in changed:
                    continue
                if self._overwritten(path, oid, trace):
                    self._unseen_version(path, record, agent)
                else:  # rewritten with the very same bytes
                    self._generated(Change(path, "M", oid, oid, "", ""), record, agent,
                                    rewritten=True)
            for path, version in sorted((record.get("ignored") or {}).items()):
                self._ignored_generated(path, version, trace, record, agent)
        self._activity(record, agent, deleted)
        return self.nodes, self.edges

    def _graph(self, record: dict[str, Any]) -> tuple[list[Node], list[Edge]]:
        """Provenance captured elsewhere: its nodes and edges, as they are, in this project."""
        nodes = [Node(n["id"], n["label"], {**flatten(n.get("properties", {})),
                                             "project": self.project})
                 for n in record.get("nodes", [])]
        edges = [Edge(e["type"], e["source"], e["target"], flatten(e.get("properties", {})))
                 for e in record.get("edges", [])]
        return nodes, edges

    def _plan(self, record: dict[str, Any]) -> tuple[list[Node], list[Edge]]:
        """A template (`prov template`): a `prov:Plan` entity its sweep's trials use."""
        from provgraph.templates import node_properties

        props = {**flatten(node_properties(record)), "project": self.project}
        return [Node(record["id"], ENTITY, props)], []

    # -- nodes -------------------------------------------------------------------------

    def _agent(self, agent: dict[str, str]) -> str | None:
        name, email = agent.get("name", ""), agent.get("email", "")
        if not (name or email):
            return None
        node_id = agent_id(self.project, name, email)
        props = {"name": name or email, "email": email, "project": self.project}
        self.nodes.append(Node(node_id, AGENT, flatten(props)))
        return node_id

    def _activity(self, record: dict[str, Any], agent: str | None, deleted: list[str]) -> None:
        props: dict[str, Any] = dict(record.get("activity", {}))
        utility = props.get("utility") or (record.get("command", "").split() or ["?"])[0]
        label = " ".join(p for p in (utility, props.get("subcommand")) if p)
        props.update(
            name=f"{label} #{self.sequence}",
            project=self.project,
            command=record.get("command", ""),
            utility=utility,
            cwd=record.get("cwd", "."),
            started=record.get("started"),
            ended=record.get("ended"),
            exit_code=record.get("exit_code"),
            signal=record.get("signal"),
            status=record.get("status"),
            shell=record.get("shell", False),
            message=record.get("message"),
            deleted=deleted or None,
            processes=(record.get("trace") or {}).get("processes"),
        )
        self.nodes.append(Node(record["id"], ACTIVITY, flatten(props)))
        plan = props.get("plan")
        if isinstance(plan, str) and plan.startswith("plan-"):  # a sweep's trial (prov sweep)
            self._edge(USED, record["id"], plan, {"role": "plan"})
        if agent:
            self._edge(WAS_ASSOCIATED_WITH, record["id"], agent)

    def _entity(self, path: str, oid: str, origin: str, previous: PathState | None,
                **state: Any) -> str:
        """Create the next version of `path` with content `oid` and make it current."""
        info = self.large.get(oid)
        ignored = self.ignored.get(oid)
        digest = entity_digest(oid, info["sha256"] if info else None)
        size = info["size"] if info else ignored["size"] if ignored else self.sizes.get(oid)
        node_id = entity_id(self.project, path, digest, origin)
        version = (previous.version if previous else 0) + 1
        props = {
            "name": f"{path}@v{version}",
            "project": self.project,
            "path": path,
            "version": version,
            "digest": digest,
            "size": size,
            "large": True if info else None,
            "ignored": True if ignored else None,  # git ignores it: recorded by digest
        }
        # what an ingestor said about a file the command generated (a Caffe snapshot's
        # iteration, ...); never about a version another record may share (one first met)
        said = self.record.get("entities", {}).get(path) if origin == self.record["id"] else None
        if said:
            props = flatten({**props, **said})
        else:  # flat already: only the empty ones go (100,000 new files: a second saved)
            props = {key: value for key, value in props.items() if value is not None}
        self.nodes.append(Node(node_id, ENTITY, props))
        self.state[path] = PathState(node_id, oid, version, **state)
        self.touched.add(path)
        return node_id

    def _current(self, path: str, oid: str, seen: bool = False, when: str | None = None) -> str:
        """The version of `path` with content `oid`, made current if it was not.

        `seen`: the record's own diff shows this content replacing another, outside
        provgraph. A mismatch means the file changed where provgraph could not see it: the new
        version is derived from the previous one with `missing: true`.
        """
        previous = self.state.get(path)
        if previous and previous.entity and previous.oid == oid:
            return previous.entity
        replaced = previous.entity if previous else None
        origin = f"seen:{self.record['id']}" if seen else ""
        node_id = self._entity(path, oid, origin, previous,
                               observed=when or _seen_at(self.record), replaced=replaced)
        if replaced:
            self._edge(WAS_DERIVED_FROM, node_id, replaced, {"missing": True})
        return node_id

    # -- steps -------------------------------------------------------------------------

    def _external(self, change: Change) -> None:
        if change.new_oid is None:
            self._delete(change.path)
            return
        previous = self.state.get(change.path)
        if previous is None and change.old_oid is not None:
            self._current(change.path, change.old_oid)  # the version before the edit
        self._current(change.path, change.new_oid, seen=change.old_oid is not None)

    def _delete(self, path: str) -> None:
        previous = self.state.get(path)
        if previous is not None:
            self.state[path] = replace(previous, entity=None, oid=None, generated_by=None,
                                       observed=None, replaced=None)
            self.touched.add(path)

    def _observed(self, change: Change) -> None:
        """A change the trace says this command did not make: someone else made it while it
        ran (a command running at the same time claims it when replayed; else it stays a
        change made outside provgraph)."""
        if change.new_oid is None:
            self._delete(change.path)
            return
        previous = self.state.get(change.path)
        if previous is None and change.old_oid is not None:
            self._current(change.path, change.old_oid)
        self._current(change.path, change.new_oid, seen=change.old_oid is not None,
                      when=self.record.get("after_done") or self.record.get("after_at"))

    def _overwritten(self, path: str, oid: str, trace: dict[str, Any]) -> bool:
        """Whether what the after-snapshot shows of a file this command wrote is another
        command's: one still running wrote it later (the capture saw that), or one replayed
        before this one, whose version this content is, wrote it after this one's last write."""
        if path in trace.get("overwritten", ()):
            return True
        mine = trace.get("last_write", {}).get(path)
        previous = self.state.get(path)
        return bool(mine and previous and previous.entity and previous.oid == oid
                     and previous.generated_by and previous.generated_by != self.record["id"]
                     and (previous.ended or "") > mine)

    def _unseen_version(self, path: str, record: dict[str, Any], agent: str | None) -> None:
        """A version this command wrote that another overwrote before any snapshot saw it:
        generated by it, content unknown (no digest). The file's current version stays the
        one whose content is known."""
        previous = self.state.get(path)
        version = (previous.version if previous else 0) + 1
        node_id = entity_id(self.project, path, "", record["id"])
        props = {"name": f"{path}@v{version}", "project": self.project, "path": path,
                 "version": version, "overwritten": True}
        self.nodes.append(Node(node_id, ENTITY, flatten(props)))
        self._edge(WAS_GENERATED_BY, node_id, record["id"])
        if agent:
            self._edge(WAS_ATTRIBUTED_TO, node_id, agent)
        if previous and previous.entity:
            self._edge(WAS_DERIVED_FROM, node_id, previous.entity)
            self.state[path] = replace(previous, version=version)
        else:
            self.state[path] = PathState(None, None, version)
        self.touched.add(path)

    def _ignored_generated(self, path: str, version: dict[str, Any], trace: dict[str, Any],
                           record: dict[str, Any], agent: str | None) -> None:
        """A git-ignored file the command wrote: a new version unless it was left as it was."""
        oid = ignored_oid(version)
        previous = self.state.get(path)
        old = previous.oid if previous and previous.entity else None
        if old == oid and not trace["written"].get(path):
            return  # opened for writing, nothing changed
        self._generated(Change(path, "M" if old else "A", old, oid, "", ""), record, agent,
                        rewritten=True)

    def _generated(self, change: Change, record: dict[str, Any], agent: str | None,
                   rewritten: bool = False) -> None:
        """`rewritten`: the trace saw the command write the file whole, so identical bytes
        are a new version all the same (a deterministic re-run has lineage)."""
        if change.old_oid == change.new_oid and not rewritten:
            return  # only the mode changed: same content, same version
        if change.path in record.get("concurrent_changes", ()):
            return  # made by a command running at the same time: that one records it
        activity = record["id"]
        previous = self.state.get(change.path)
        if previous and previous.entity and previous.oid == change.new_oid:
            if _complete_trace(record) is None and _made_meanwhile(previous, record):
                return  # a command running after this one began made this very content
            if _seen_while_running(previous, record, change.path):
                self._claim(previous, change.path, record, agent)
                return
        replaced = self._current(change.path, change.old_oid) if change.old_oid else None
        previous = self.state.get(change.path)
        written = (record.get("trace") or {}).get("last_write") or {}
        node_id = self._entity(
            change.path,
            change.new_oid,
            activity,
            previous,
            generated_by=activity,
            started=record.get("started"),
            ended=written.get(change.path) if isinstance(written, dict) and written.get(
                change.path) else record.get("ended"),
        )
        self._edge(WAS_GENERATED_BY, node_id, activity)
        if agent:
            self._edge(WAS_ATTRIBUTED_TO, node_id, agent)
        if replaced:
            self._edge(WAS_DERIVED_FROM, node_id, replaced)

    def _claim(self, previous: PathState, path: str, record: dict[str, Any],
               agent: str | None) -> None:
        """A snapshot taken while this activity ran showed its output early, as if made outside
        provgraph: the version is this activity's after all."""
        assert previous.entity
        self._edge(WAS_GENERATED_BY, previous.entity, record["id"])
        if agent:
            self._edge(WAS_ATTRIBUTED_TO, previous.entity, agent)
        if previous.replaced:  # rewrites the edge: the change is no longer a missing one
            self._edge(WAS_DERIVED_FROM, previous.entity, previous.replaced)
        self.state[path] = replace(previous, generated_by=record["id"],
                                   started=record.get("started"), ended=record.get("ended"),
                                   observed=None, replaced=None)
        self.touched.add(path)

    def _edge(self, kind: str, source: str, target: str,
              properties: dict[str, Any] | None = None) -> None:
        self.edges.append(Edge(kind, source, target, properties or {}))


def ignored_oid(version: dict[str, Any]) -> str:
    """How a git-ignored file's version is known: its blob (capture.ignored = "content"), else
    its SHA-256 (which is also its `digest`)."""
    return version.get("oid") or f"sha256:{version.get('sha256')}"


def _ignored_versions(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    versions = [u for u in record.get("used", ()) if isinstance(u, dict) and u.get("ignored")]
    versions += list((record.get("ignored") or {}).values())
    return {ignored_oid(v): v for v in versions if isinstance(v, dict)}


def _complete_trace(record: dict[str, Any]) -> dict[str, Any] | None:
    """The record's trace when it saw every process (else the snapshots' rules apply)."""
    trace = record.get("trace")
    if isinstance(trace, dict) and trace.get("complete") and isinstance(trace.get("written"),
                                                                         dict):
        return trace
    return None


def _made_by(trace: dict[str, Any], change: Change) -> bool:
    if change.new_oid is None:
        return change.path in trace.get("deleted", ()) or change.path in trace["written"]
    return change.path in trace["written"]


def _seen_at(record: dict[str, Any]) -> str:
    """When the record's before-snapshot had read the files (what it shows was there by
    then); older records know only when it began."""
    return record.get("before_done") or _snapshot_time(record)


def _snapshot_time(record: dict[str, Any]) -> str:
    """When the record's before-snapshot was taken (older records: when it started)."""
    return record.get("before_at") or record.get("started") or ""


def _made_meanwhile(previous: PathState, record: dict[str, Any]) -> bool:
    """The content was generated by an activity still running when this one's before-snapshot
    was taken (which did not have it yet): the other activity made it."""
    return bool(previous.generated_by and previous.ended
                and previous.ended >= _snapshot_time(record))


def _seen_while_running(previous: PathState, record: dict[str, Any], path: str) -> bool:
    """The version was first seen by another command's snapshot while this one ran, or
    before its own after-snapshot. Traced, the question is simpler: was it seen after this
    command last wrote the file (the trace says that it did; the snapshot that saw it
    belonged to a command that did not)?"""
    if previous.generated_by or not previous.observed:
        return False
    trace = _complete_trace(record)
    if trace is not None and path in trace.get("last_write", {}):
        return previous.observed >= trace["last_write"][path]
    end = record.get("after_at") or record.get("ended") or ""
    return (record.get("started") or "") <= previous.observed <= end
