"""`prov summarize`: many segments merged into one picture of how the work usually goes."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from provgraph.cli.common import console, json_out, repository, safe
from provgraph.cli.segment import (
    FORMATS,
    GreedyCommand,
    criteria_from,
    opened_store,
    resolve_all,
    segment_options,
)
from provgraph.errors import ProvError

_KEY_HELP = ("Comma-separated properties naming {what} in the summary (any property, e.g. "
             "{example}); default: {default}.")


@click.command("summarize", cls=GreedyCommand)
@click.option("--segments", "saved", multiple=True, metavar="A,B,...",
              help="Summarize these saved segments (prov segment ... --save NAME) instead of "
                   "computing one per --dst.")
@segment_options
@click.option("--entity-key", metavar="PROPS",
              help=_KEY_HELP.format(what="an entity", example="path,version",
                                    default="path (the file, any version)"))
@click.option("--activity-key", metavar="PROPS",
              help=_KEY_HELP.format(what="an activity", example="utility",
                                    default="utility,subcommand ('caffe train', "
                                            "'python train.py')"))
@click.option("--agent-key", metavar="PROPS",
              help=_KEY_HELP.format(what="an agent", example="name",
                                    default="none: every agent is one 'Agent'"))
@click.option("--radius", type=click.IntRange(min=0), default=0, show_default=True, metavar="R",
              help="Provenance type radius: vertices merge only when their neighbourhoods up "
                   "to R hops in their own segment look alike (0: by label alone).")
@click.option("--path-length", type=click.IntRange(min=1), default=None, metavar="L",
              help="Check derivation paths up to L edges: no merge may show a path that no "
                   "segment has [default: 2, one derivation step; 1 turns the check off].")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="text: tables to read; json: {segments, compaction, nodes, edges}; dot; "
                   "mermaid.")
def command(saved: tuple[str, ...], sources, destinations, entity_key: str | None,
            activity_key: str | None, agent_key: str | None, radius: int,
            path_length: int | None, fmt: str, on_neo4j: bool, **criteria: Any) -> None:
    """How the work usually goes from --src to --dst: one segment per --dst NODE (or the saved
    --segments) merged into one summary, each vertex and edge with the number of segments
    that contain it, and the compaction ratio."""
    from provgraph.queries.summarize import DEFAULT_PATH_LENGTH, Abstraction, summarize

    keys = Abstraction.of(entity_key, activity_key, agent_key)
    segments = _segments([n.strip() for text in saved for n in text.split(",") if n.strip()],
                         list(sources), list(destinations), on_neo4j, criteria)
    result = summarize(segments, keys, radius, path_length or DEFAULT_PATH_LENGTH)
    if fmt == "json":
        json_out(result.to_dict())
    elif fmt == "dot":
        click.echo(result.to_dot(), nl=False)
    elif fmt == "mermaid":
        click.echo(result.to_mermaid(), nl=False)
    else:
        text(result, segments)


def _segments(names: list[str], sources: list[str], destinations: list[str], on_neo4j: bool,
              criteria: dict[str, Any]) -> list:
    from provgraph.queries import segment as seg

    if names:
        if sources or destinations:
            raise ProvError("give either --segments or --src/--dst, not both")
        chosen = [option for option, value in criteria.items()
                  if value is not None and value is not False and value not in ((), frozenset())]
        if chosen or on_neo4j:
            option = "--" + (chosen[0] if chosen else "neo4j").replace("_", "-")
            raise ProvError(f"{option} shapes segments computed from --src/--dst; saved segments "
                            "keep the criteria they were saved with")
        repo = repository()
        return [seg.load(repo, name) for name in names]
    if not destinations:
        raise ProvError("give --segments NAME,... or --src NODE... --dst NODE... "
                        "(one segment per destination)")
    wanted = criteria_from(**criteria)
    with opened_store(on_neo4j) as (repo, store):
        src = resolve_all(repo, store, sources, "--src")
        dst = resolve_all(repo, store, destinations, "--dst")
        return [seg.segment(store, src, [d], wanted) for d in dict.fromkeys(dst)]


def text(result, segments: list) -> None:
    n = result.segments
    empty = sum(1 for s in segments if not s.nodes)
    head = f"[bold]summary of {n} segment{'s' if n != 1 else ''}[/]"
    if empty:
        head += f" [yellow]({empty} empty)[/]"
    if not result.nodes:
        console.print(head + ": nothing to summarize (every segment is empty)")
        return
    keys = result.keys.describe()
    console.print(f"{head}: {len(result.nodes)} vertices for {result.vertices} segment vertices, "
                  f"compaction {result.compaction:.2f}")
    console.print(f"[dim]keys: entity {keys['entity'] or '(kind)'}, activity "
                  f"{keys['activity'] or '(kind)'}, agent {keys['agent'] or '(one Agent)'}; "
                  f"radius {result.radius}; paths checked up to {result.path_length} edges[/]")
    vertices = Table(title="vertices", title_justify="left", show_edge=False)
    vertices.add_column("vertex")
    vertices.add_column("kind")
    vertices.add_column("segments", justify="right")
    for v in sorted(result.nodes, key=lambda v: (-v.count, _KIND.get(v.kind, 9), v.id)):
        vertices.add_row(_styled(v.id, v.kind), safe(v.kind), _share(v.count, n))
    console.print(vertices)
    kinds = {v.id: v.kind for v in result.nodes}
    edges = Table(title="edges", title_justify="left", show_edge=False)
    for name in ("from", "edge", "to"):
        edges.add_column(name)
    edges.add_column("segments", justify="right")
    for e in sorted(result.edges, key=lambda e: (-e.count, e.source, e.type, e.target)):
        edges.add_row(_styled(e.source, kinds[e.source]), safe(e.type),
                      _styled(e.target, kinds[e.target]), _share(e.count, n))
    console.print(edges)


_KIND = {"Entity": 0, "Activity": 1, "Agent": 2}


def _styled(name: str, kind: str) -> str:
    style = {"Activity": "bold magenta", "Agent": "cyan"}.get(kind, "bold")
    return f"[{style}]{safe(name)}[/]"


def _share(count: int, n: int) -> str:
    return f"{count}/{n} [dim]({100 * count / n:.0f}%)[/]"
