"""`prov sweep`: run a template's grid of parameters, each trial a captured run."""

from __future__ import annotations

import sys

import click

from provgraph.cli.common import json_out
from provgraph.text import printable


def table(sweep) -> list[str]:
    """The trials, one row each: number, status, run, then each parameter's value."""
    head = ["trial", "status", "run", *sweep.keys]
    rows = [[str(t.trial), t.status, t.run or "", *(t.params.get(k, "") for k in sweep.keys)]
            for t in sweep.trials]
    widths = [max(len(printable(row[n])) for row in [head, *rows]) for n in range(len(head))]
    return ["  ".join(printable(cell).ljust(width) for cell, width in zip(row, widths,
                                                                          strict=True)).rstrip()
            for row in [head, *rows]]


@click.command("sweep", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@click.option("--jobs", "-j", default=1, show_default=True,
              help="Trials run at once (only when no config file is rewritten).")
@click.option("--print-trials", is_flag=True, help="Print the grid and exit.")
@click.option("--resume", is_flag=True, help="Run the trials an interrupted sweep left.")
@click.option("--retry-failed", is_flag=True, help="Run the failed trials of the last sweep.")
@click.option("--skip-existing", is_flag=True,
              help="Reuse a run of the same plan with the same parameters and input digests.")
@click.option("--json", "as_json", is_flag=True, help="Print the trials as JSON at the end.")
def command(name: str, overrides: tuple[str, ...], jobs: int, print_trials: bool,
            resume: bool, retry_failed: bool, skip_existing: bool, as_json: bool) -> None:
    """Run template NAME over the grid of its parameters' values (KEY=SPEC overrides one).

    Each trial is `prov CMD` with its values, tagged with the sweep id; config files are
    rewritten in place for the trial and put back after it (also after Ctrl-C or a kill: the
    next prov sweep puts them back). The exit status is the number of failed trials.
    """
    from provgraph.project import Project

    def say(line: str) -> None:
        print(printable(line), file=sys.stderr, flush=True)

    with Project() as project:
        sweep = project.sweep(name, overrides, jobs, resume, retry_failed, skip_existing,
                              print_trials, say)
    if as_json:
        json_out(sweep.to_dict())
    else:
        for line in table(sweep):
            click.echo(line)
    if print_trials:
        return
    counts = sweep.counts()
    failed = counts["failed"]
    say(f"{sweep.id}: {len(sweep.trials)} trials: {counts['ok']} ok, {failed} failed, "
        f"{counts['reused']} reused, {counts['pending']} not run"
        f" (compare them: prov runs --sweep {sweep.id})")
    if failed:
        sys.exit(min(failed, 100))
