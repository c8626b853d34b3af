"""`prov segment`: how these results were derived from that data, as a subgraph."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.tree import Tree

from provgraph.cli.common import console, node_path, opened_index, safe
from provgraph.model import ACTIVITY, AGENT, USED, WAS_GENERATED_BY

FORMATS = ("text", "json", "dot", "mermaid")


def _edge_types(ctx, param, value: str | None) -> frozenset[str]:
    """`used,wasGeneratedBy` as a set (Criteria says, in one line, if a type is unknown)."""
    return frozenset(t.strip() for t in (value or "").split(",") if t.strip())


def segment_options(func: Callable) -> Callable:
    """The boundary criteria, shared by `prov segment` and `prov summarize`."""
    options = [
        click.option("--src", "sources", multiple=True, metavar="NODE",
                     help="Source: PATH (latest version), PATH@vN, 'PATH@*' or a node id; "
                          "several may follow one --src."),
        click.option("--dst", "destinations", multiple=True, metavar="NODE",
                     help="Destination, as for --src."),
        click.option("--exclude-edges", callback=_edge_types, metavar="TYPES",
                     help="Comma-separated edge types to treat as absent."),
        click.option("--exclude-node", "exclude_nodes", multiple=True, metavar="KEY=GLOB",
                     help="Treat matching nodes as absent: path=*.log, utility=vi, agent=bob, "
                          "any property. Repeatable."),
        click.option("--hops", type=click.IntRange(min=0), metavar="K",
                     help="A path may pass through at most K activities."),
        click.option("--since", metavar="TIME", help="Only activities started at or after TIME "
                                                     "(ISO, e.g. 2026-11-26T09:00)."),
        click.option("--until", metavar="TIME", help="Only activities ended at or before TIME."),
        click.option("--no-context", is_flag=True,
                     help="Only the vertices on paths: no other inputs, outputs or agents."),
        click.option("--follow-revisions", is_flag=True,
                     help="Also follow every previous version, not only changes made "
                          "outside prov."),
        click.option("--neo4j", "on_neo4j", is_flag=True,
                     help="Answer from the configured Neo4j instead of the embedded index."),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), func)


def criteria_from(exclude_edges: frozenset[str] = frozenset(), exclude_nodes=(),
                  hops: int | None = None, since: str | None = None, until: str | None = None,
                  no_context: bool = False, follow_revisions: bool = False, **_: Any):
    from provgraph.queries.segment import Criteria, Predicate

    return Criteria(exclude_edges=exclude_edges or frozenset(),
                    exclude_nodes=tuple(Predicate.parse(p) for p in exclude_nodes),
                    hops=hops, since=since, until=until, context=not no_context,
                    follow_revisions=follow_revisions)


class GreedyCommand(click.Command):
    """`--src a b --dst c d`: the words after --src or --dst, up to the next option, are all its
    values (click takes one value per option; the list is rewritten before it parses)."""

    greedy = ("--src", "--dst")

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rewritten: list[str] = []
        current = None
        for arg in args:
            if arg == "--":
                current = None
            elif arg.startswith("-"):
                name, eq, _ = arg.partition("=")
                current = name if name in self.greedy and not eq else None
            elif current is not None and rewritten[-1] != current:
                rewritten.append(current)
            rewritten.append(arg)
        return super().parse_args(ctx, rewritten)


@contextmanager
def opened_store(on_neo4j: bool) -> Iterator[tuple[Any, Any]]:
    """The store to answer from: the embedded index (through its search index, made for
    walks), or this project's Neo4j graph (synced first, so it holds what the journal holds)."""
    if not on_neo4j:
        from provgraph.stores.adjacency import SearchIndex

        with opened_index() as (repo, store), SearchIndex.beside(store) as search:
            yield repo, search
        return
    from provgraph.cli.common import repository
    from provgraph.config import Config
    from provgraph.remotes import neo4j as sync

    repo = repository()
    repo.ensure_prov_dir()
    sync.sync(repo)
    with sync.Target(Config(repo.root, repo.prov_dir)).store(repo.project) as store:
        yield repo, store


def resolve_all(repo, store, references: list[str], option: str) -> list[str]:
    """Node ids for what a user typed (any folder; `PATH@*`; a RUN; imported ids as they
    are): the resolver of every command naming a node (queries.nodes)."""
    from provgraph.errors import ProvError
    from provgraph.queries.nodes import resolve

    if not references:
        raise ProvError(f"give at least one {option} NODE (a path, PATH@vN, 'PATH@*', a run "
                        "or an id)")
    return [n.id for reference in references
            for n in resolve(store, reference, node_path(repo, reference))]


@click.command("segment", cls=GreedyCommand)
@segment_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="text: a tree to read; json: a W3C PROV-JSON document; dot; mermaid.")
@click.option("--save", metavar="NAME", help="Keep the segment as NAME for prov summarize.")
def command(sources, destinations, fmt: str, save: str | None, on_neo4j: bool,
            **criteria: Any) -> None:
    """How --dst NODE... was derived from --src NODE...: every activity and file version on a
    derivation path between them, with context (the other inputs and outputs of those
    activities, and who ran them)."""
    from provgraph.queries import segment as seg

    wanted = criteria_from(**criteria)
    with opened_store(on_neo4j) as (repo, store):
        src = resolve_all(repo, store, list(sources), "--src")
        dst = resolve_all(repo, store, list(destinations), "--dst")
        result = seg.segment(store, src, dst, wanted)
    if save:
        seg.save(repo, save, result)
    emit(result, fmt)
    if save:
        click.echo(f"saved as {save}", err=True)


def emit(result, fmt: str) -> None:
    if fmt == "json":
        from provgraph.interchange.export import serialize

        click.echo(serialize(result.nodes.values(), result.edges, "json"))
    elif fmt in ("dot", "mermaid"):
        from provgraph.queries import draw

        vertices = [draw.Vertex(n.id, n.label, _short(n)) for n in result.nodes.values()]
        arcs = [draw.Arc(e.source, e.target, e.type) for e in result.edges]
        click.echo(draw.to_dot(vertices, arcs, "segment") if fmt == "dot"
                   else draw.to_mermaid(vertices, arcs), nl=False)
    else:
        text(result)


def _short(node) -> str:
    return node.name


def text(result) -> None:
    """An indented tree from each destination back to the sources; context is marked."""
    if not result.nodes:
        console.print("empty segment: no derivation path from the sources to the destinations "
                      "within the criteria")
        return
    core = len(result.core)
    console.print(f"[bold]segment[/]: {core} vertices on derivation paths, "
                  f"{len(result.nodes) - core} of context, {len(result.edges)} edges")
    out: dict[str, list] = {}
    into: dict[str, list] = {}
    for edge in result.edges:
        out.setdefault(edge.source, []).append(edge)
        into.setdefault(edge.target, []).append(edge)
    shown: set[str] = set()
    roots = [d for d in result.destinations if d in result.nodes] or sorted(result.core)
    for root in roots:
        tree = Tree(_label(result, result.nodes[root], None, into))
        shown.add(root)
        _grow(result, tree, root, out, into, shown)
        console.print(tree)


def _grow(result, tree: Tree, node_id: str, out, into, shown: set[str]) -> None:
    node = result.nodes[node_id]
    children = [(e.type, e.target) for e in out.get(node_id, [])
                if e.type in (WAS_GENERATED_BY, USED, "wasDerivedFrom")]
    if node.label == ACTIVITY:  # what else it made: context below the activity
        children += [("generated", e.source) for e in into.get(node_id, [])
                     if e.type == WAS_GENERATED_BY]
    def order(child: tuple[str, str]) -> tuple:
        relation, other = child
        return (other not in result.core, relation == "generated", result.nodes[other].name)

    for relation, other in sorted(children, key=order):
        if relation == "generated" and (other in shown or other in result.core):
            continue
        child = result.nodes[other]
        branch = tree.add(_label(result, child, relation, into, seen=other in shown))
        if other not in shown:
            shown.add(other)
            if relation != "generated":
                _grow(result, branch, other, out, into, shown)


def _label(result, node, relation: str | None, into, seen: bool = False) -> str:
    props = node.properties
    verb = {WAS_GENERATED_BY: "generated by", USED: "used", "wasDerivedFrom": "revision of",
            "generated": "also generated"}.get(relation or "", "")
    if node.label == ACTIVITY:
        agents = [result.nodes[e.target].name for e in result.edges
                  if e.source == node.id and result.nodes[e.target].label == AGENT]
        when = str(props.get("started") or "")[:16].replace("T", " ")
        who = ", ".join(agents)
        extra = ", ".join(x for x in (who, f"exit {props.get('exit_code')}"
                                      if "exit_code" in props else "", when) if x)
        text = f"[bold magenta]{safe(node.name)}[/]" + (f" [dim]({safe(extra)})[/]"
                                                            if extra else "")
        if props.get("command"):
            text += f"\n[dim]$ {safe(props['command'])}[/]"
    else:
        text = f"[bold]{safe(node.name)}[/]"
    tags = []
    if node.id in result.sources:
        tags.append("source")
    if node.id not in result.core:
        tags.append("context")
    if seen:
        tags.append("shown above")
    if tags:
        text += f" [dim]({', '.join(tags)})[/]"
    return f"[dim]{verb}[/] {text}" if verb else text
