"""`prov export`: the whole graph as a W3C PROV document."""

from __future__ import annotations

import click

from provgraph.cli.common import opened_index


@click.command("export")
@click.option("-f", "--format", "fmt", type=click.Choice(["json", "provn", "ttl", "xml"]),
              default="json", show_default=True,
              help="PROV-JSON, PROV-N, PROV-O (Turtle) or PROV-XML.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file instead of standard output.")
def command(fmt: str, output: str | None) -> None:
    """Write the provenance graph as W3C PROV (properties under the provgraph: prefix;
    imported names and properties in the namespaces of the documents they came from)."""
    from provgraph.interchange.export import serialize

    with opened_index() as (_repo, store):
        text = serialize(store.all_nodes(), store.all_edges(), fmt,
                         store.meta("namespaces", {}))
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        click.echo(text, nl=not text.endswith("\n"))
