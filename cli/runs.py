"""`prov runs`: one row per run, to compare parameters and metrics (queries.runtable)."""

from __future__ import annotations

import sys
from typing import Any

import click

from provgraph.cli.common import console, json_out, opened_index, plain_stdout, repository, safe
from provgraph.cli.selection import filter_options, filters_from


def cell(value: Any) -> str:
    """A value as a person reads it: numbers to 6 significant digits, lists joined, `–` for
    none."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value)
    return str(value)


@click.command("runs")
@filter_options
@click.option("--sweep", metavar="ID", help="Only the trials of this sweep (sweep = ID).")
@click.option("-n", "--limit", type=click.IntRange(min=1), help="At most N runs (the newest).")
@click.option("--all-columns", is_flag=True,
              help="Every parameter, not only those that differ between the rows.")
@click.option("--sort", metavar="COL", help="Sort by a column (-COL: descending): "
              "caffe.base_lr, -accuracy:best, run, status.")
@click.option("--best-max", multiple=True, metavar="SERIES",
              help="Best of SERIES is its maximum. Repeatable.")
@click.option("--best-min", multiple=True, metavar="SERIES",
              help="Best of SERIES is its minimum. Repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the table as CSV.")
def command(limit: int | None, all_columns: bool, sort: str | None,
            best_max: tuple[str, ...], best_min: tuple[str, ...], as_json: bool, as_csv: bool,
            **options: Any) -> None:
    """One row per run: the parameters that differ between the rows (params.*, python.args.*,
    caffe.* hyper-parameters), the final and best value of each metric series, the tags.

    Filters as for `prov log`. Every parameter combination tried for a script, with its
    accuracy: prov runs --command 'python train.py*'. Best is the minimum for loss-like series
    (loss, error, lr, ...), the maximum for the others (accuracy, ...).
    """
    from provgraph.queries.runtable import runs

    if as_json and as_csv:
        raise click.UsageError("--json and --csv do not go together")
    filters = filters_from(repository(), **options)
    with opened_index() as (_repo, store):
        table = runs(store, filters, all_columns=all_columns, sort=sort, best_max=best_max,
                     best_min=best_min, limit=limit)
    if as_json:
        json_out(table.to_dict())
    elif as_csv:
        _csv(table)
    elif not table.rows:
        click.echo("No run matches." if filters else
                   "No runs recorded yet: run a command with `prov CMD`.")
    else:
        _table(table)


def _csv(table: Any) -> None:
    import csv

    writer = csv.writer(sys.stdout, lineterminator="\n")
    columns = ["id", *table.columns]
    writer.writerow(columns)
    for row in table.rows:
        writer.writerow(["" if (v := row.value(c)) is None else
                         ";".join(map(str, v)) if isinstance(v, list) else v for c in columns])


def _table(table: Any) -> None:
    """A rich table that fits the terminal: headers are the shortest unique suffixes of the
    names, and the columns that do not fit are left out (and named); piped, plain aligned
    columns with the full names, all of them."""
    from rich import box
    from rich.table import Table

    from provgraph.queries.runtable import short_names

    plain = plain_stdout()
    short = {} if plain else short_names([*table.parameters, *table.series])
    cells = {c: [cell(row.value(c)) for row in table.rows] for c in table.columns}
    headers = {c: _header(c, short) for c in table.columns}
    shown = table.columns if plain else _fitting(table.columns, headers, cells, console.width)
    out = Table(box=None if plain else box.SIMPLE_HEAD, show_edge=not plain,
                pad_edge=not plain, header_style="" if plain else "bold")
    for column in shown:
        numeric = column not in ("run", "status", "tags")
        out.add_column(safe(headers[column]), no_wrap=True,
                       justify="right" if numeric else "left",
                       style="cyan" if column == "run" and not plain else None)
    for i in range(len(table.rows)):
        out.add_row(*(safe(cells[c][i]) for c in shown))
    console.print(out)
    if plain:
        return
    left_out = [headers[c] for c in table.columns if c not in shown]
    if left_out:
        console.print(f"[dim]not shown, for want of width: {safe(', '.join(left_out))} "
                      "(--csv, --json or a wider terminal show them)[/]")
    if table.series:
        console.print("[dim]best: the minimum of loss-like series (loss, error, lr, ...), the "
                      "maximum of the others; --best-max/--best-min SERIES to choose[/]")


def _header(column: str, short: dict[str, str]) -> str:
    name, colon, which = column.rpartition(":") if ":" in column else (column, "", "")
    return short.get(name, name) + colon + which


def _fitting(columns: list[str], headers: dict[str, str], cells: dict[str, list[str]],
             width: int) -> list[str]:
    """The first columns that fit `width` (the run's name always does), each needing its
    widest text, a space of padding each side and a separator."""
    shown, used = [], 1
    for column in columns:
        need = max([len(headers[column]), *map(len, cells[column])]) + 3
        if shown and used + need > width:
            break
        shown.append(column)
        used += need
    return shown
