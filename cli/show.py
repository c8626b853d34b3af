"""`prov show`: one node, its properties and its edges."""

from __future__ import annotations

import click

from provgraph.cli.common import answered, console, find_node, json_out, safe


@click.command("show")
@click.argument("reference")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def command(reference: str, as_json: bool) -> None:
    """Show one node: a PATH (its latest version), PATH@vN, a run (#14, latest, latest~N,
    'caffe train #14'), an id or a node's name."""
    from provgraph.queries.nodes import view

    shown = answered(lambda repo, store: view(store, find_node(repo, store, reference),
                                              repo.root))
    if as_json:
        json_out(shown.to_dict())
        return
    from rich.table import Table

    node, gone = shown.node, shown.gone
    console.print(f"[bold]{safe(node.label)}[/] [cyan]{safe(node.id)}[/]  "
                  f"[bold]{safe(node.name)}[/]")
    table = Table(show_header=False, box=None, pad_edge=False)
    for key in sorted(node.properties):
        table.add_row(f"[dim]{safe(key)}[/]", safe(node.properties[key]))
    console.print(table)
    if gone:
        by = gone.by
        how = (f"was deleted by {safe(by.name)} [dim]{safe(by.id)} "
               f"{safe(str(by.properties.get('ended') or '')[:16].replace('T', ' '))}[/]"
               if by else "was removed outside prov" if gone.how == "removed outside prov"
               else "is not in the work tree (removed since the last capture)")
        console.print(f"[yellow]gone:[/] {safe(gone.path)} {how}")
    for edge, other in shown.outgoing:
        console.print(f"  -\\[{safe(edge.type)}]-> {safe(other.name)} "
                      f"[dim]{safe(edge.target)}{safe(_props(edge.properties))}[/]")
    for edge, other in shown.incoming:
        console.print(f"  <-\\[{safe(edge.type)}]- {safe(other.name)} "
                      f"[dim]{safe(edge.source)}{safe(_props(edge.properties))}[/]")


def _props(properties: dict) -> str:
    return (" " + " ".join(f"{k}={v}" for k, v in sorted(properties.items()))) if properties else ""
