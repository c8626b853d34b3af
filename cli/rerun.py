"""`prov rerun`: run again, in dependency order, the recorded commands that bring files up
to date."""

from __future__ import annotations

import os
import shlex
import sys

import click

from provgraph.cli.common import json_out, print_lines, repository


def _line(step) -> str:
    cwd = str(step.run.properties.get("cwd") or ".")
    command = step.command if cwd == "." else f"(cd {shlex.quote(cwd)} && {step.command})"
    return f"{command}  # {step.why}"


def _target(text: str) -> str:
    """A PATH typed here as a repository path; a RUN as typed."""
    from provgraph.errors import BadInput
    from provgraph.queries.runs import is_run_reference

    if text.startswith("act-") or is_run_reference(text):
        return text
    if ":" in text and not os.path.lexists(text):
        return text  # an imported activity's id (`ex:train`), not a path
    repo = repository()
    rel = repo.relpath(text, os.getcwd())
    if rel is None:
        raise BadInput(f"{text} is outside the work tree")
    return rel


@click.command("rerun")
@click.argument("targets", nargs=-1, required=True, metavar="PATH|RUN...")
@click.option("--dry-run", "dry_run", is_flag=True,
              help="Print the plan (one line per command, and why) and run nothing.")
@click.option("--downstream", is_flag=True,
              help="Also re-run every recorded command whose outputs come from what these "
                   "make.")
@click.option("--keep-going", "keep_going", is_flag=True,
              help="After a failed command, go on with those that do not need it.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def command(targets: tuple[str, ...], dry_run: bool, downstream: bool, keep_going: bool,
            as_json: bool) -> None:
    """Re-run what brings PATHs (or RUNs) up to date: for a PATH, the recorded command that
    made it and, first, those of its stale inputs; for a RUN (#14, latest, an id), that run.
    Each is captured as a new activity with `rerun_of` naming the one it repeats.
    """
    from provgraph.project import Project

    wanted = [_target(t) for t in targets]

    def announce(number: int, total: int, step) -> None:
        if not as_json:
            click.echo(f"prov rerun [{number}/{total}]: {_line(step)}", err=True)

    with Project(os.getcwd()) as project:
        done = project.rerun(wanted, dry_run, downstream, keep_going, announce)
    if as_json:
        json_out(done.to_dict())
    elif not done.steps:
        print_lines([[("Nothing to re-run: it is up to date.", "")]])
    elif dry_run:
        print_lines([[(_line(result.step), "")] for result in done.steps])
    if done.failed:
        counts = {s: sum(r.status == s for r in done.steps) for s in ("failed", "skipped",
                                                                      "not run")}
        said = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        click.echo(f"prov rerun: {said} of {len(done.steps)}", err=True)
        sys.exit(1)
