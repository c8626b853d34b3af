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
    annotated = _annotated(node.properties)
    for key in sorted(set(node.properties) - annotated):
        table.add_row(f"[dim]{safe(key)}[/]", safe(node.properties[key]))
    console.print(table)
    _print_annotations(node.properties)
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


def _annotated(props: dict) -> set[str]:
    """The properties `prov tag`, `prov note` and `prov set` gave (shown apart)."""
    from provgraph.journal.annotations import NOTES, NOTES_AT, NOTES_BY, SET_KEYS, TAGS

    keys = props.get(SET_KEYS)
    return ({TAGS, NOTES, NOTES_BY, NOTES_AT, SET_KEYS} & set(props)
            | ({k for k in keys if k in props} if isinstance(keys, list) else set()))


def _print_annotations(props: dict) -> None:
    """Tags, values set with `prov set`, and notes with who wrote each and when."""
    from provgraph.journal.annotations import NOTES, NOTES_AT, NOTES_BY, SET_KEYS, strings

    tags = strings(props.get("tags"))
    if tags:
        console.print(f"[bold]tags[/]  {safe(', '.join(tags))}")
    keys = [k for k in strings(props.get(SET_KEYS)) if k in props]
    for key in keys:
        console.print(f"[bold]set[/]   {safe(key)} = {safe(props[key])}")
    texts = strings(props.get(NOTES))
    by, at = strings(props.get(NOTES_BY)), strings(props.get(NOTES_AT))
    for index, text in enumerate(texts):
        who = by[index] if index < len(by) else ""
        when = (at[index] if index < len(at) else "")[:16].replace("T", " ")
        console.print(f"[bold]note[/]  [dim]{safe(when)}[/] [bold]{safe(who)}[/]: {safe(text)}")
