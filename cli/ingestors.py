"""`prov ingestors`: which ingestors exist, and which would run for a command.

Listing never runs an ingestor: one that `.prov.toml` declares but `prov trust` has not
allowed is shown as "not trusted" (`"trusted": false` in JSON). Patterns from `.prov.toml`
are bounded in time, so `prov ingestors match` cannot hang on one."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from provgraph.cli.common import console, json_out, repository


def _entries():
    from provgraph.config import Config
    from provgraph.ingestors.registry import entries

    repo = repository()
    repo.ensure_prov_dir()
    return entries(Config(repo.root, repo.prov_dir), repo.prov_dir)


def _show(found, as_json: bool) -> None:
    if as_json:
        json_out([{"name": e.name, "source": e.source, "pattern": e.pattern.pattern,
                   "streams": list(e.streams), "trusted": e.trusted} for e in found])
        return
    from provgraph.text import printable

    table = Table("name", "from", "matches", "streams")
    for entry in found:
        source = entry.source if entry.trusted else f"{entry.source} (not trusted)"
        table.add_row(*(escape(printable(text)) for text in (
            entry.name, source, entry.pattern.pattern, ", ".join(entry.streams))))
    console.print(table)
    if not all(entry.trusted for entry in found):
        console.print("not trusted: not run until you review them with `prov trust --show` "
                      "and allow them with `prov trust`")


@click.group("ingestors", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def command(ctx: click.Context, as_json: bool) -> None:
    """List the ingestors: built in, from .prov.toml, from installed packages."""
    if ctx.invoked_subcommand is None:
        _show(_entries(), as_json)


@command.command("match")
@click.argument("command_line")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def match(command_line: str, as_json: bool) -> None:
    """Which ingestors would run for COMMAND_LINE (in the order they would run)."""
    _show([e for e in _entries() if e.pattern.search(command_line)], as_json)
