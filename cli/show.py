"""`prov show`: one node, its properties and its edges."""

from __future__ import annotations

import os

import click
from rich.table import Table

from provgraph.cli.common import console, find_node, json_out, opened_index, safe


@click.command("show")
@click.argument("reference")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def command(reference: str, as_json: bool) -> None:
    """Show one node: a PATH (its latest version), PATH@vN, a run (#14, latest, latest~N,
    'caffe train #14'), an id or a node's name."""
    with opened_index() as (repo, store):
        node = find_node(repo, store, reference)
        outgoing = store.edges([node.id], "out")
        incoming = store.edges([node.id], "in")
        others = store.nodes([e.target for e in outgoing] + [e.source for e in incoming])
        gone = _gone(repo, store, node)
    if as_json:
        json_out({
            "id": node.id, "label": node.label, "properties": node.properties,
            **({"gone": gone} if gone else {}),
            "out": [{"type": e.type, "target": e.target, "name": others[e.target].name,
                     "properties": e.properties} for e in outgoing],
            "in": [{"type": e.type, "source": e.source, "name": others[e.source].name,
                    "properties": e.properties} for e in incoming],
        })
        return
    console.print(f"[bold]{safe(node.label)}[/] [cyan]{safe(node.id)}[/]  "
                  f"[bold]{safe(node.name)}[/]")
    table = Table(show_header=False, box=None, pad_edge=False)
    for key in sorted(node.properties):
        table.add_row(f"[dim]{safe(key)}[/]", safe(node.properties[key]))
    console.print(table)
    if gone:
        by = gone["by"]
        how = (f"was deleted by {safe(by['name'])} [dim]{safe(by['id'])} "
               f"{safe(str(by['ended'] or '')[:16].replace('T', ' '))}[/]" if by
               else "was removed outside prov" if gone["how"] == "removed outside prov"
               else "is not in the work tree (removed since the last capture)")
        console.print(f"[yellow]gone:[/] {safe(gone['path'])} {how}")
    for edge in outgoing:
        console.print(f"  -\\[{safe(edge.type)}]-> {safe(others[edge.target].name)} "
                      f"[dim]{safe(edge.target)}{safe(_props(edge.properties))}[/]")
    for edge in incoming:
        console.print(f"  <-\\[{safe(edge.type)}]- {safe(others[edge.source].name)} "
                      f"[dim]{safe(edge.source)}{safe(_props(edge.properties))}[/]")


def _gone(repo, store, node) -> dict | None:
    """Whether the file of an entity is gone, and how: the record says who deleted it (or
    that it went outside prov); else the work tree may lack it since the last capture."""
    from provgraph.queries.nodes import deletion

    found = deletion(store, node)
    if found is not None:
        by = found.by
        return {"path": found.path,
                "how": "deleted" if by else "removed outside prov",
                "by": {"id": by.id, "name": by.name, "ended": by.properties.get("ended")}
                if by else None}
    path = node.properties.get("path") if node.label == "Entity" else None
    if isinstance(path, str) and store.entity(path) is not None and not os.path.lexists(
            os.path.join(repo.root, path)):
        return {"path": path, "how": "not in the work tree", "by": None}
    return None


def _props(properties: dict) -> str:
    return (" " + " ".join(f"{k}={v}" for k, v in sorted(properties.items()))) if properties else ""
