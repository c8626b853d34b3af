"""`Project`: the Python front door, one object per repository, as `prov` is on the command line.

Each method is one `prov` subcommand and returns the object that command prints; its
`to_dict()` is what the command's `--json` prints. Paths are relative to the repository root
(the CLI takes them relative to the folder you type in). Errors are `provgraph.errors`.

    >>> import provgraph
    >>> with provgraph.open_project(example) as project:     # a git repository
    ...     outcome = project.capture(["cp", "data.csv", "copy.csv"])
    ...     [entry.activity.name for entry in project.log()]
    ...     project.lineage("copy.csv").to_dict()["children"][0]["name"]
    ['cp #1']
    'cp #1'
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from provgraph.repo import Repository

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from provgraph.annotate import Annotated
    from provgraph.capture.runner import Outcome
    from provgraph.model import Node
    from provgraph.queries.diff import RunDiff
    from provgraph.queries.lineage import Step
    from provgraph.queries.log import LogEntry
    from provgraph.queries.metrics import RunMetrics
    from provgraph.queries.nodes import NodeView
    from provgraph.queries.runtable import RunTable
    from provgraph.queries.segment import Criteria, Segment
    from provgraph.queries.stale import Staleness
    from provgraph.queries.stale import Step as RerunStep
    from provgraph.queries.summarize import Summary
    from provgraph.rerun import Rerun
    from provgraph.restore import Restored
    from provgraph.status import Status
    from provgraph.stores.embedded import EmbeddedStore
    from provgraph.sweep import Sweep
    from provgraph.templates import Template, Templates


class Project:
    """A repository's provenance: capture commands, and ask how its files came to be."""

    def __init__(self, path: str | os.PathLike[str] = ".") -> None:
        self.repo = Repository.discover(os.fspath(path))
        self._store: EmbeddedStore | None = None

    @property
    def root(self) -> str:
        return self.repo.root

    @property
    def store(self) -> EmbeddedStore:
        """The embedded index, caught up with the journal when first used (and after each
        capture)."""
        if self._store is None:
            self._store = caught_up_index(self.repo)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- recording --------------------------------------------------------------------------

    def capture(self, args: Sequence[str], message: str | None = None) -> Outcome:
        """`prov CMD`: run `args` (argv, or one string of shell syntax) at the repository root
        and record it; the command's outcome (`exit_code`)."""
        from provgraph.capture.command import run

        self.close()  # the index catches up on the next read
        return run(list(args), cwd=self.root, message=message, repo=self.repo)

    def import_document(self, text_or_path: str | os.PathLike[str], fmt: str | None = None
                        ) -> dict[str, Any]:
        """`prov import`: a W3C PROV document (a file, or its text) into the record."""
        from provgraph.interchange.importer import import_document

        self.close()
        return import_document(self.repo, text_or_path, fmt)

    # -- annotating -------------------------------------------------------------------------

    def note(self, reference: str, text: str) -> Annotated:
        """`prov note`: keep a note with a node (a run, a file's version, an agent)."""
        from provgraph.annotate import Change

        return self._annotate([reference], Change(note=text), ["prov", "note", reference, text])

    def tag(self, reference: str, names: Iterable[str], remove: bool = False) -> Annotated:
        """`prov tag`: add tags to a node (or, `remove`, take annotated ones away)."""
        from provgraph.annotate import Change

        names = list(names)
        change = Change(untag=names) if remove else Change(tag=names)
        return self._annotate([reference], change, ["prov", "tag", reference, *names,
                                                    *(["--remove"] if remove else [])])

    def tag_many(self, ids: Iterable[str], names: Iterable[str], remove: bool = False
                 ) -> Annotated:
        """Tag (or untag) many nodes by id, in one record (`prov tag --where`)."""
        from provgraph.annotate import tag_many

        found = tag_many(self.repo, self.store, list(ids), list(names), remove)
        self.close()  # the index catches up on the next read
        return found

    def set(self, reference: str, values: Mapping[str, Any] | None = None,
            unset: Iterable[str] = ()) -> Annotated:
        """`prov set`: give a node values of your own (`{"reviewed": True}`), or take set
        ones away (`unset`); a recorded property is never replaced."""
        from provgraph.annotate import Change

        values, unset = dict(values or {}), list(unset)
        words = [f"{k}={v}" for k, v in values.items()] + [f"--unset={k}" for k in unset]
        return self._annotate([reference], Change(values=values, unset=unset),
                              ["prov", "set", reference, *words])

    def _annotate(self, references: list[str], change: Any, words: list[str]) -> Annotated:
        import shlex

        from provgraph.annotate import annotate, find_target

        targets = [find_target(self.store, reference) for reference in references]
        found = annotate(self.repo, self.store, targets, change, shlex.join(words))
        self.close()
        return found

    # -- reading ----------------------------------------------------------------------------

    def log(self, limit: int | None = None, **filters: Any) -> list[LogEntry]:
        """`prov log`: activities, newest first; `filters` as `queries.filters.Filters` takes
        them (paths=[...], agents=[...], command='python train.py*', status='ok',
        since='2d', until=..., where="caffe.base_lr < 0.01", tags=[...], sweep=...)."""
        from provgraph.queries.filters import Filters
        from provgraph.queries.log import log

        return log(self.store, limit, Filters(**filters) if filters else None)

    def runs(self, limit: int | None = None, all_columns: bool = False,
             sort: str | None = None, best_max: Sequence[str] = (),
             best_min: Sequence[str] = (), **filters: Any) -> RunTable:
        """`prov runs`: one row per run (parameters that differ, final and best metrics,
        tags); filters as for `log`."""
        from provgraph.queries.filters import Filters
        from provgraph.queries.runtable import runs

        return runs(self.store, Filters(**filters), all_columns=all_columns, sort=sort,
                    best_max=tuple(best_max), best_min=tuple(best_min), limit=limit)

    def find(self, reference: str) -> Node:
        """`prov show`: the node a reference names (PATH[@vN], a run: `#14`, `latest`,
        `'caffe train #14'`, a node id, a name)."""
        from provgraph.queries.nodes import find

        return find(self.store, reference)

    def show(self, reference: str) -> NodeView:
        """`prov show`: the node a reference names, with its edges (and whether a file is
        gone from the work tree)."""
        from provgraph.queries.nodes import view

        return view(self.store, self.find(reference), self.root)

    def status(self) -> Status:
        """`prov status`: the journal, the index, captures in progress, tracing, Neo4j."""
        from provgraph.status import status

        return status(self.repo)

    def run(self, reference: str) -> Node:
        """The run (activity) a reference names: `#14`, `latest`, `latest~2`, an id, a name."""
        from provgraph.queries.runs import find_run

        return find_run(self.store, reference)

    def lineage(self, reference: str, descendants: bool = False, depth: int | None = None,
                revisions: bool = False) -> Step:
        """`prov lineage`: where a file version came from (or, `descendants`, what came of
        it), as a tree."""
        from provgraph.queries import lineage

        walk = lineage.descendants if descendants else lineage.ancestors
        return walk(self.store, self.find(reference), depth, revisions)

    def segment(self, sources: Iterable[str], destinations: Iterable[str],
                criteria: Criteria | None = None) -> Segment:
        """`prov segment`: how `destinations` were derived from `sources` (references)."""
        from provgraph.queries.segment import segment

        return segment(self.store, [self.find(s).id for s in sources],
                       [self.find(d).id for d in destinations], criteria)

    def summarize(self, segments: Sequence[Segment], **options: Any) -> Summary:
        """`prov summarize`: what several segments have in common (options as
        `queries.summarize.summarize` takes them)."""
        from provgraph.queries.summarize import summarize

        return summarize(segments, **options)

    def metrics(self, run: str) -> RunMetrics:
        """`prov metrics`: a run's series (loss, accuracy...)."""
        from provgraph.queries.metrics import metrics

        return metrics(self.run(run))

    def diff(self, run_a: str, run_b: str) -> RunDiff:
        """`prov diff`: what differs between two runs, text diffs of small inputs included."""
        from provgraph import gitio
        from provgraph.queries.diff import diff

        return diff(self.store, self.run(run_a), self.run(run_b), gitio.blob_reader(self.root))

    # -- lifecycle --------------------------------------------------------------------------

    def restore(self, reference: str, output: str | None = None, force: bool = False
                ) -> Restored:
        """`prov restore`: a version's content (`PATH@vN`) written back to its path, or to
        `output`, recorded as a `restore` activity. Refuses to overwrite changes no record
        holds unless `force`."""
        from provgraph import restore as restoring

        version = self.find(reference)
        oid = restoring.blob_of(self.repo, version)
        path = restoring.target_path(self.repo, output or str(version.properties["path"]),
                                     self.root)
        if not force:
            restoring.refuse_unrecorded(self.repo, self.store, path)
        self.close()  # the capture runs with the index closed; it catches up on the next read
        return restoring.restore(self.repo, version, path, oid)

    def stale(self, paths: Iterable[str] = ()) -> Staleness:
        """`prov stale`: outputs whose recorded inputs changed since they were made (the work
        tree as it is now counts), with why."""
        return self._pipeline().stale(paths)

    def rerun(self, targets: Sequence[str], dry_run: bool = False, downstream: bool = False,
              keep_going: bool = False,
              announce: Callable[[int, int, RerunStep], None] | None = None) -> Rerun:
        """`prov rerun`: the recorded runs that bring `targets` (paths, or runs: `#14`,
        `latest`, an id) up to date, run again in dependency order as new captures carrying
        `rerun_of` (`dry_run`: only the plan). `announce(n, total, step)` is told before each."""
        from provgraph.queries.stale import plan
        from provgraph.rerun import Rerun, StepResult, check, execute

        pipeline = self._pipeline()
        steps = plan(pipeline, [self._target(t) for t in targets], downstream)
        check(self.repo, pipeline, steps)
        if dry_run:
            return Rerun([StepResult(step) for step in steps], dry_run=True)
        self.close()  # the captures run with the index closed
        return Rerun(execute(self.repo, steps, keep_going, announce))

    def _pipeline(self):
        from provgraph.queries.stale import Pipeline
        from provgraph.worktree import WorkTree

        return Pipeline(self.store, WorkTree(self.repo).digest)

    def _target(self, reference: str):
        """A `prov rerun` target: a RUN when written as one (and naming one), else a path."""
        from provgraph.errors import BadInput
        from provgraph.model import ACTIVITY
        from provgraph.queries.runs import find_run, is_run_reference, is_run_shorthand
        from provgraph.queries.stale import Target

        text = reference.strip()
        node = self.store.node(text) if text else None
        if node is not None and node.label == ACTIVITY:
            return Target(run=node)  # an id, an imported activity's (`ex:train`) too
        if (text.startswith("act-") or is_run_shorthand(text)
                or (is_run_reference(text) and self.store.named(text, ACTIVITY))):
            return Target(run=find_run(self.store, text))
        if not text:
            raise BadInput("no target given: name a file or a run")
        return Target(path=text.removeprefix("./"))

    def export(self, fmt: str = "json") -> str:
        """`prov export`: the graph as W3C PROV (json, provn, ttl, xml)."""
        from provgraph.interchange.export import serialize

        store = self.store
        return serialize(store.all_nodes(), store.all_edges(), fmt, store.meta("namespaces", {}))


    def template(self, name: str, run: str, params: list[str]) -> Template:
        """`prov template NAME --from RUN --param KEY=SPEC...`: a new version of a plan."""
        import shlex

        from provgraph.capture.command import Agent
        from provgraph.templates import define

        argv = ["prov", "template", name, "--from", run]
        for param in params:
            argv += ["--param", param]
        return define(self.repo, self.store, name, self.run(run), list(params),
                      Agent(self.repo).value(), shlex.join(argv))

    def templates(self) -> Templates:
        """`prov template list`: the latest version of each template."""
        from provgraph.templates import listing

        return listing(self.repo)

    def template_show(self, reference: str) -> Template:
        """`prov template show NAME` (NAME@vN for an older version)."""
        from provgraph.templates import find

        return find(self.repo, reference)

    def sweep(self, name: str, overrides: Sequence[str] = (), jobs: int = 1,
              resume: bool = False, retry_failed: bool = False, skip_existing: bool = False,
              print_trials: bool = False, say: Callable[[str], None] | None = None) -> Sweep:
        """`prov sweep`: run a template's grid, each trial a captured run."""
        from provgraph import sweep

        if print_trials:
            return sweep.planned(self.repo, name, list(overrides))
        return sweep.sweep(self.repo, name, list(overrides), jobs, resume, retry_failed,
                           skip_existing, say or (lambda line: None), lambda: self.store)


def open_project(path: str | os.PathLike[str] = ".") -> Project:
    """The project of the git repository at (or above) `path`."""
    return Project(path)


def open_store(path: str | os.PathLike[str] = ".", rebuild: bool = False) -> EmbeddedStore:
    """The embedded index of the repository at `path`, caught up with its journal (the same
    store `prov` reads; close it when done). `Project` is the higher-level door."""
    return caught_up_index(Repository.discover(os.fspath(path)), rebuild)


def caught_up_index(repo: Repository, rebuild: bool = False,
                    progress: Callable[[int, int], None] | None = None) -> EmbeddedStore:
    """What every reader opens: the records of killed captures finished first (they belong
    before anything newer), then the embedded index caught up with the journal."""
    from provgraph.capture.command import recover
    from provgraph.journal.indexer import open_index

    repo.ensure_prov_dir()
    recover(repo)
    return open_index(repo, progress=progress, rebuild=rebuild)
