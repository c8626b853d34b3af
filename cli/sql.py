"""`prov sql`: any SQL on the embedded index (DuckDB)."""

from __future__ import annotations

import csv
import sys

import click
from rich.markup import escape
from rich.table import Table

from provgraph.cli.common import console, json_out, opened_index


@click.command("sql")
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON objects.")
@click.option("--csv", "as_csv", is_flag=True, help="Print rows as CSV.")
def command(query: str, as_json: bool, as_csv: bool) -> None:
    """Run QUERY on the embedded index, read-only.

    Read-only by construction: the index is attached READ_ONLY to a DuckDB that reads and
    writes no file (no COPY, EXPORT, ATTACH, read_csv of a file), installs and loads no
    extension, and keeps its settings.

    Tables: nodes(id, label, project, name, properties JSON) and edges(type, source, target,
    project, properties JSON); views entities, activities and agents. Example:
    prov sql "SELECT name, properties->>'exit_code' FROM activities"
    """
    with opened_index(read_only=True) as (_repo, store):
        columns, rows = store.sql(query)
    if as_json:
        json_out([dict(zip(columns, row, strict=True)) for row in rows])
    elif as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")  # text output: LF, not RFC CRLF
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        table = Table(*(escape(c) for c in columns))
        for row in rows:
            table.add_row(*("" if v is None else escape(str(v)) for v in row))
        console.print(table)
