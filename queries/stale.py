"""Stale outputs and the plan that brings them up to date, read from the captured graph alone
(nothing declared: no pipeline file), for `prov stale` and `prov rerun`.

An *output* is a file whose current content is the version a recorded activity generated
(the latest version of its path, and what is on disk now). A run is *stale* when one of its
inputs (the versions it used) changed since: the file's content now is not the content it
used (an edit outside prov, a later command, a deletion), or it is the current output of a
run that is itself stale. Contents are compared by digest, so an input edited and edited
back, or re-made with the same bytes, is not a change. A file a run read and rewrote itself
(a log it appends to) is not a change of its input.

The work tree is read through `disk(path, like)`: the digest of the file now, None when it is
not there (`provgraph.worktree.WorkTree.digest`); everything else comes from any `Store`, so
the answers are the same on the embedded index and on Neo4j.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from provgraph.errors import NotFound, ProvError
from provgraph.model import USED, WAS_GENERATED_BY, Node
from provgraph.stores.base import Store

#: The digest of a repository path in the work tree now (None: not there); the second
#: argument is a recorded digest of the path (which form an ignored file is known by).
Disk = Callable[[str, "str | None"], "str | None"]


@dataclass
class Cause:
    """Why a run is stale: one of its inputs."""

    path: str
    used: Node  # the version the run used
    how: str  # "changed", "deleted" or "stale"
    by: Node | None = None  # "changed": the run that made the content now (None: outside prov)
    upstream: str | None = None  # "stale": the id of the stale run whose output it is

    def reason(self) -> str:
        if self.how == "deleted":
            return "deleted"
        if self.how == "changed":
            return f"changed by {self.by.name}" if self.by else "changed outside prov"
        return "stale"


@dataclass
class StaleOutput:
    """An output whose run is stale, with the chains that say why."""

    entity: Node
    run: Node
    why: list[list[Node | str]] = field(default_factory=list)  # nodes, then the reason

    @property
    def path(self) -> str:
        return str(self.entity.properties.get("path"))

    def chains(self) -> list[str]:
        """`model.pkl <- python3 train.py #3 <- data/clean.csv <- ... changed outside prov`."""
        lines = []
        for chain in self.why:
            *nodes, reason = chain
            names = [str(n.properties.get("path") or n.name) if n.label == "Entity" else n.name
                     for n in nodes if isinstance(n, Node)]
            lines.append(" <- ".join([self.path, *names]) + f" {reason}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "version": self.entity.name, "id": self.entity.id,
            "run": {"id": self.run.id, "name": self.run.name,
                    "command": self.run.properties.get("command")},
            "why": [{"chain": [{"id": n.id, "name": n.name} for n in chain[:-1]
                               if isinstance(n, Node)],
                     "reason": chain[-1], "text": text}
                    for chain, text in zip(self.why, self.chains(), strict=True)],
        }


@dataclass
class Staleness:
    """`prov stale`: the stale outputs, by path."""

    outputs: list[StaleOutput]

    def to_dict(self) -> dict[str, Any]:
        return {"stale": [o.to_dict() for o in self.outputs]}


class Pipeline:
    """The recorded runs as a pipeline: who made each file's current content, what each run
    used, and which runs are stale now."""

    def __init__(self, store: Store, disk: Disk) -> None:
        self.disk = disk
        runs = store.activities()
        self.runs = {run.id: run for run in runs}
        ids = list(self.runs)
        self.used: dict[str, list[Node]] = {run_id: [] for run_id in ids}
        self.made: dict[str, list[Node]] = {run_id: [] for run_id in ids}
        self.maker: dict[str, str] = {}  # entity id -> the run that generated it
        for edge, entity in store.step(ids, "out", [USED]) if ids else []:
            # a restore used one fixed version: what its path holds later is no change
            if _path(entity) and edge.properties.get("role") != "restore":
                self.used[edge.source].append(entity)
        for edge, entity in store.step(ids, "in", [WAS_GENERATED_BY]) if ids else []:
            if _path(entity):
                self.made[edge.target].append(entity)
                self.maker.setdefault(entity.id, edge.target)
        paths = {_path(e) for found in (self.used, self.made) for es in found.values()
                 for e in es}
        self.latest: dict[str, Node] = {}
        for path in sorted(p for p in paths if p):
            node = store.entity(path)
            if node is not None:
                self.latest[path] = node
        self._now: dict[str, str | None] = {}
        self._causes: dict[str, list[Cause]] = {}

    # -- the work tree ---------------------------------------------------------------------

    def now(self, path: str) -> str | None:
        """The digest of `path` in the work tree now (None: not there)."""
        if path not in self._now:
            latest = self.latest.get(path)
            self._now[path] = self.disk(path, latest.properties.get("digest") if latest
                                        else None)
        return self._now[path]

    def producer(self, path: str) -> str | None:
        """The run whose output the file's current content is; None when no recorded run
        made it (never made by one, changed outside prov since, deleted)."""
        latest = self.latest.get(path)
        if latest is None or latest.properties.get("digest") is None:
            return None
        if self.now(path) != latest.properties["digest"]:
            return None
        return self.maker.get(latest.id)

    def outputs(self, run_id: str) -> list[Node]:
        """The run's current outputs."""
        return [e for e in self.made[run_id] if self.producer(_path(e)) == run_id
                and self.latest[_path(e)].id == e.id]

    # -- staleness ---------------------------------------------------------------------------

    def causes(self, run_id: str, visiting: frozenset[str] = frozenset()) -> list[Cause]:
        """Why the run is stale (empty: it is up to date), its inputs in path order."""
        if run_id in self._causes:
            return self._causes[run_id]
        if run_id in visiting:
            return []  # a loop of runs feeding each other: judged where it was entered
        run = self.runs[run_id]
        deleted = run.properties.get("deleted") or []
        found = []
        for used in sorted(self.used[run_id], key=_path):
            path = _path(used)
            digest = used.properties.get("digest")
            now = self.now(path)
            if now is None:
                if path not in deleted:
                    found.append(Cause(path, used, "deleted"))
            elif now != digest:
                latest = self.latest.get(path)
                maker = self.maker.get(latest.id) if latest is not None else None
                if latest is not None and now != latest.properties.get("digest"):
                    maker = None  # changed since the last capture: outside prov
                if maker == run_id:
                    continue  # the run rewrote its own input
                found.append(Cause(path, used, "changed",
                                   self.runs.get(maker) if maker else None))
            else:
                upstream = self.producer(path)
                if upstream and upstream != run_id and self.causes(
                        upstream, visiting | {run_id}):
                    found.append(Cause(path, used, "stale", upstream=upstream))
        self._causes[run_id] = found
        return found

    def chains(self, run_id: str) -> list[list[Node | str]]:
        """For each cause of a stale run, the chain to where the change happened (following
        the first cause of each stale input upstream)."""
        chains = []
        for cause in self.causes(run_id):
            chain: list[Node | str] = [self.runs[run_id]]
            seen = {run_id}
            while cause.how == "stale" and cause.upstream and cause.upstream not in seen:
                seen.add(cause.upstream)
                chain += [cause.used, self.runs[cause.upstream]]
                cause = self.causes(cause.upstream)[0]
            chains.append([*chain, cause.used, cause.reason()])
        return chains

    def stale(self, paths: Iterable[str] = ()) -> Staleness:
        """The stale outputs (under `paths`, when given: files or folders)."""
        wanted = [p.rstrip("/") for p in paths]
        for path in wanted:
            if path not in self.latest and not any(p.startswith(path + "/")
                                                   for p in self.latest):
                raise NotFound(f"no recorded file {path}")
        found = []
        for run_id in self.runs:
            outputs = [e for e in self.outputs(run_id) if _under(_path(e), wanted)]
            if outputs and self.causes(run_id):
                why = self.chains(run_id)
                found += [StaleOutput(e, self.runs[run_id], why) for e in outputs]
        return Staleness(sorted(found, key=lambda o: o.path))


@dataclass
class Step:
    """One run of a `prov rerun` plan: the recorded activity to run again, and why."""

    run: Node
    why: str
    after: set[str] = field(default_factory=set)  # ids of planned runs it needs first

    @property
    def command(self) -> str:
        return str(self.run.properties.get("command") or "")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.run.id, "name": self.run.name, "command": self.command,
                "cwd": self.run.properties.get("cwd", "."), "why": self.why,
                "after": sorted(self.after)}


@dataclass
class Target:
    """What `prov rerun` was asked for: a repository path, or a run (an activity)."""

    path: str | None = None
    run: Node | None = None


def plan(pipeline: Pipeline, targets: list[Target], downstream: bool = False) -> list[Step]:
    """The runs needed to bring the targets up to date, in dependency order: for a path, the
    run that made its current content if it is stale and, recursively, the runs of its stale
    inputs; for a run, that run and the runs of its stale inputs; `downstream`, also every
    run whose current outputs come (transitively) from what the planned runs make."""
    steps: dict[str, Step] = {}

    def add(run_id: str, why: str) -> None:
        if run_id in steps:
            return
        steps[run_id] = Step(pipeline.runs[run_id], why)
        for cause in pipeline.causes(run_id):
            if cause.how == "stale" and cause.upstream:
                add(cause.upstream,
                    f"{cause.path} is stale: needed by {pipeline.runs[run_id].name}")

    for target in targets:
        if target.run is not None:
            add(target.run.id, _why(pipeline, target.run.id, "asked for"))
            continue
        path = str(target.path)
        run_id = _made_by(pipeline, path)
        if pipeline.causes(run_id):
            add(run_id, _why(pipeline, run_id, f"makes {path}"))
    if downstream:
        queue = list(steps)
        while queue:
            source = queue.pop(0)
            for run_id in _consumers(pipeline, source):
                if run_id not in steps:
                    steps[run_id] = Step(pipeline.runs[run_id],
                                         f"downstream of {pipeline.runs[source].name}")
                    queue.append(run_id)
    return _ordered(pipeline, steps)


def _made_by(pipeline: Pipeline, path: str) -> str:
    latest = pipeline.latest.get(path)
    if latest is None:
        raise NotFound(f"no recorded file {path}")
    run_id = pipeline.producer(path)
    if run_id is None:
        how = ("is not in the work tree" if pipeline.now(path) is None else
               "changed outside prov since it was made" if pipeline.maker.get(latest.id)
               else "was not made by a recorded command")
        raise ProvError(f"{path} {how}: there is no recorded run to bring it up to date")
    return run_id


def _why(pipeline: Pipeline, run_id: str, asked: str) -> str:
    causes = pipeline.causes(run_id)
    if not causes:
        return f"{asked}; up to date"
    first = causes[0]
    more = f" (and {len(causes) - 1} more)" if len(causes) > 1 else ""
    return f"{asked}; {first.path} {first.reason()}{more}"


def _consumers(pipeline: Pipeline, source: str) -> list[str]:
    """Runs with current outputs that used what `source` made (the content there now, or
    an earlier one it made: stale through it)."""
    made = {_path(e) for e in pipeline.made[source]}
    found = []
    for run_id, used in pipeline.used.items():
        if run_id == source or not pipeline.outputs(run_id):
            continue
        if any(_path(u) in made and (pipeline.maker.get(u.id) == source
                                     or u.properties.get("digest") == pipeline.now(_path(u)))
               for u in used):
            found.append(run_id)
    return sorted(found, key=lambda r: _ended(pipeline.runs[r]))


def _ordered(pipeline: Pipeline, steps: dict[str, Step]) -> list[Step]:
    """Dependency order: a run after the planned runs that make a file it used; runs that
    do not depend on each other in the order they first ran."""
    from graphlib import CycleError, TopologicalSorter

    makes = {run_id: {_path(e) for e in pipeline.made[run_id]} for run_id in steps}
    uses = {run_id: {_path(u) for u in pipeline.used[run_id]} for run_id in steps}
    for run_id, step in steps.items():
        # two runs that each use what the other makes keep the order they ran in
        step.after = {other for other in steps if other != run_id
                      and makes[other] & uses[run_id]
                      and (not makes[run_id] & uses[other]
                           or _ended(pipeline.runs[other]) < _ended(step.run))}
    sorter = TopologicalSorter({run_id: step.after for run_id, step in steps.items()})
    try:
        sorter.prepare()
    except CycleError as exc:
        names = " -> ".join(pipeline.runs[r].name for r in exc.args[1])
        raise ProvError(f"the runs to re-run feed each other in a loop ({names}): re-run "
                        "them one at a time") from None
    order: list[str] = []
    ready: set[str] = set()
    while sorter.is_active():
        ready.update(sorter.get_ready())
        first = min(ready, key=lambda r: (_ended(pipeline.runs[r]), r))  # as they first ran
        ready.remove(first)
        order.append(first)
        sorter.done(first)
    return [steps[run_id] for run_id in order]


def _path(entity: Node) -> str:
    path = entity.properties.get("path")
    return path if isinstance(path, str) else ""


def _ended(run: Node) -> str:
    return str(run.properties.get("ended") or "")


def _under(path: str, wanted: list[str]) -> bool:
    return not wanted or any(path == w or path.startswith(w + "/") for w in wanted)
