"""`prov cypher`: a Cypher query on the configured Neo4j."""

from __future__ import annotations

import json

import click
from rich.table import Table

from provgraph.cli.common import console, json_out, progress_bar, repository, safe


def _param(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise click.BadParameter(f"{text!r}: write NAME=VALUE")
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value


@click.command("cypher")
@click.argument("query")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A query parameter ($NAME); VALUE is read as JSON when it parses, else text.")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON objects.")
@click.option("--no-sync", is_flag=True, help="Do not push pending records first.")
def command(query: str, params: tuple[str, ...], as_json: bool, no_sync: bool) -> None:
    """Run QUERY on Neo4j and print the result as a table.

    $project is always this repository's project, so queries can stay scoped to it:
    prov cypher 'MATCH (a:Activity {project: $project}) RETURN a.name, a.exit_code'
    Pending records are pushed first, so the answer includes the latest captures.
    """
    from provgraph.capture.command import recover
    from provgraph.config import Config
    from provgraph.remotes import neo4j as sync

    repo = repository()
    repo.ensure_prov_dir()
    recover(repo)
    target = sync.Target(Config(repo.root, repo.prov_dir))
    if not no_sync and sync.pending(repo, target):
        with progress_bar("pushing to Neo4j") as progress:
            sync.sync(repo, progress)
    values = dict(_param(p) for p in params)
    with target.store(repo.project) as neo:
        neo.check()
        columns, rows = neo.query(query, values)
    if as_json:
        json_out([dict(zip(columns, row, strict=True)) for row in rows])
        return
    table = Table(*(safe(c) for c in columns))
    for row in rows:
        table.add_row(*(safe(_cell(value)) for value in row))  # record text: escaped
    console.print(table)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)
