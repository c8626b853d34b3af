"""`prov fileview why`: the input rows behind one row of a view's file."""

from __future__ import annotations

import click

from provgraph.cli.common import console, err_console, json_out, repository
from provgraph.cli.fileview import register
from provgraph.fileview.evaluate import register_writer


def _output(repo, reference: str) -> tuple[str, str | None]:
    """`results.csv` (its current content) or `results.csv@v2` (that version's digest)."""
    import os

    from provgraph.errors import BadInput, NotFound
    from provgraph.queries.nodes import split_version

    path, version = split_version(reference)
    rel = repo.relpath(path, os.getcwd())
    if rel is None:
        raise BadInput(f"{path} is outside the repository {repo.root}")
    if version is None:
        return rel, None
    from provgraph.journal.indexer import open_index

    with open_index(repo) as store:
        entity = store.entity(rel, version)
    if entity is None:
        raise NotFound(f"no version {version} of {rel} is recorded")
    return rel, entity.properties["digest"]


def _cell(value) -> str:
    from rich.markup import escape

    return "" if value is None else escape(str(value))


@click.command("why")
@click.argument("output")
@click.option("--row", "-r", "row", type=click.IntRange(min=1), required=True,
              help="The output row (1 is the first row after the header).")
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True,
              help="Show at most N rows of each input (0: all); --json shows all.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
def why(output: str, row: int, limit: int, as_json: bool) -> None:
    """Which input rows produced row N of a view's file (record-level why-provenance).

    OUTPUT is a file written by `prov fileview -c` (as it is now, or PATH@vN); rows are
    numbered from 1, a header not counted, in the output and in each input. Available for
    select-project-join queries and GROUP BY aggregates; for other queries the view says why.
    """
    import os

    from rich.markup import escape
    from rich.table import Table

    from provgraph.fileview.why import explain

    repo = repository()
    path, digest = _output(repo, output)
    per_input = None if as_json or limit == 0 else limit
    found = explain(repo, path, row, oid=digest, limit=per_input)
    if as_json:
        json_out(found.as_dict())
        return
    console.print(f"[bold]{escape(found.output)}[/] row {found.row} [dim]({found.shape}, "
                  f"written {escape(found.created)})[/]")
    console.print(f"[dim]{escape(found.sql)}[/]")
    if found.values is not None:
        table = Table(*(escape(c) for c in found.values), title="output row",
                      title_justify="left")
        table.add_row(*(_cell(v) for v in found.values.values()))
        console.print(table)
    for item in found.inputs:
        rows = [s for s in found.sources if s.alias == item["alias"]]
        stem = os.path.basename(item["file"]).split(".")[0]
        shown = item["aliased"] and item["alias"] != stem  # `{t.csv}` is aliased t anyway
        name = item["file"] + (f" as {item['alias']}" if shown else "")
        title = f"{name}: {item['rows']} row{'s' if item['rows'] != 1 else ''}"
        if not rows:
            console.print(f"{escape(title)}" + (" (an outer join padded it with NULLs)"
                                                if item["rows"] == 0 else ""))
            continue
        columns = next((list(s.values) for s in rows if s.values), [])
        table = Table("file", "row", *(escape(c) for c in columns), title=escape(title),
                      title_justify="left")
        for source in rows:
            values = source.values or {}
            table.add_row(escape(source.file), str(source.row),
                          *(_cell(values.get(c)) for c in columns))
        console.print(table)
        if item["rows"] > len(rows):
            console.print(f"[dim]... and {item['rows'] - len(rows)} more rows of "
                          f"{escape(item['file'])} (--limit 0 shows all, --json lists all)[/]")
    for note in found.notes:
        err_console.print(f"note: {note}")


def _write_view(evaluation, tmp: str) -> int | None:
    """`prov fileview -c` and `refresh` write SQL views through why.write_view, which
    records their lineage (imported only when a view is written: sqlglot is heavy)."""
    from provgraph.fileview.why import write_view

    return write_view(evaluation, tmp)


register(why)
register_writer(_write_view)
