"""`prov rerun`: run recorded activities again, each as a new capture linked to the one it
repeats (`rerun_of`), in the order `queries.stale.plan` gives.

Everything that would stop a step is checked before the first one runs (one line: the run
was imported and has no command line, its command line was recorded with a secret
concealed, an input is neither on disk nor made by an earlier step), so a plan does not
fail half way for a reason known at the start. A step that fails stops the rest, or with
`keep_going` only the steps that need what it makes.
"""

from __future__ import annotations

import os
import shlex
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provgraph.capture.redact import REDACTED
from provgraph.content import missing
from provgraph.errors import ProvError
from provgraph.queries.stale import Pipeline, Step
from provgraph.repo import Repository


@dataclass
class StepResult:
    """How one step of a re-run went: `planned` (a dry run), `ok`, `failed`, `skipped` (it
    needed a step that failed) or `not run` (an earlier failure or Ctrl-C stopped the rest)."""

    step: Step
    status: str = "planned"
    exit_code: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.step.to_dict(), "status": self.status, "exit_code": self.exit_code}


@dataclass
class Rerun:
    """`prov rerun`: the plan, and how each step went."""

    steps: list[StepResult]
    dry_run: bool = False

    @property
    def failed(self) -> int:
        return sum(result.status in ("failed", "skipped", "not run") for result in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "steps": [r.to_dict() for r in self.steps],
                "failed": self.failed}


def argv(run_node: Any) -> list[str]:
    """What to run for a recorded activity: one shell string, or the argv it was recorded
    with; a one-line error when the record does not say it exactly."""
    props = run_node.properties
    command = props.get("command")
    if not isinstance(command, str) or not command or "shell" not in props:
        raise ProvError(f"{run_node.name} cannot be re-run: it was imported, not captured by "
                        "prov, so no command line is recorded")
    if REDACTED in command:
        raise ProvError(f"{run_node.name} cannot be re-run: its command line was recorded with "
                        f"a secret concealed ({REDACTED}); run it yourself under prov")
    if props.get("shell"):
        return [command]
    try:
        words = shlex.split(command)
    except ValueError:
        words = []
    if not words:
        raise ProvError(f"{run_node.name} cannot be re-run: its recorded word list "
                        f"({command!r}) cannot be rebuilt into a command")
    return words


def check(repo: Repository, pipeline: Pipeline, steps: list[Step]) -> None:
    """Refuse, in one line, a plan with a step that cannot be re-run."""
    from provgraph.worktree import has_blob

    made: set[str] = set()
    for step in steps:
        argv(step.run)
        cwd = os.path.join(repo.root, str(step.run.properties.get("cwd") or "."))
        if not os.path.isdir(cwd):
            raise ProvError(f"{step.run.name} cannot be re-run: the folder it ran in "
                            f"({step.run.properties.get('cwd')}) is not in the work tree")
        deleted = step.run.properties.get("deleted") or []
        for used in pipeline.used[step.run.id]:
            path = str(used.properties.get("path"))
            if path in made or path in deleted or pipeline.now(path) is not None:
                continue
            digest = str(used.properties.get("digest") or "")
            if digest.startswith("sha256:"):
                raise ProvError(f"{step.run.name} cannot be re-run: it used {used.name}, which "
                                "is not in the work tree and was recorded by digest only")
            if not digest or not has_blob(repo, digest):
                raise ProvError(f"{step.run.name} cannot be re-run: it used {path}, which is "
                                f"not in the work tree, and {missing(used.name)}")
            raise ProvError(f"{step.run.name} cannot be re-run: it used {path}, which is not "
                            f"in the work tree: `prov restore {used.name}` brings back the "
                            "version it used")
        made.update(str(e.properties.get("path")) for e in pipeline.made[step.run.id])


def execute(repo: Repository, steps: list[Step], keep_going: bool = False,
            announce: Callable[[int, int, Step], None] | None = None) -> list[StepResult]:
    """Run the steps in order, each a capture carrying `rerun_of`."""
    from provgraph.capture import command as capture

    # properties given to this process are not the steps' (each says only `rerun_of`)
    os.environ.pop(capture.PROPERTIES_ENV, None)
    results = [StepResult(step) for step in steps]
    broken: set[str] = set()  # runs that failed or were skipped
    stop = False
    for number, result in enumerate(results, 1):
        step = result.step
        if stop:
            result.status = "not run"
            continue
        if step.after & broken:
            result.status = "skipped"
            broken.add(step.run.id)
            continue
        if announce:
            announce(number, len(steps), step)
        cwd = os.path.join(repo.root, str(step.run.properties.get("cwd") or "."))
        outcome = capture.run(argv(step.run), cwd=cwd, repo=repo,
                              properties={"rerun_of": step.run.id})
        result.exit_code = outcome.exit_code
        result.status = "ok" if outcome.exit_code == 0 else "failed"
        if outcome.exit_code != 0:
            broken.add(step.run.id)
            stop = not keep_going or outcome.signal in (signal.SIGINT, signal.SIGQUIT)
    return results
