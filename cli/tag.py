"""`prov tag`: tags on any node, added or removed after the fact; many runs at once with
`--where`."""

from __future__ import annotations

import click

from provgraph.cli.annotating import record


@click.command("tag")
@click.argument("words", nargs=-1, required=True, metavar="[NODE] NAMES...")
@click.option("--remove", is_flag=True, help="Remove these tags instead of adding them.")
@click.option("--where", "where", metavar="EXPR",
              help="Tag every run this predicate keeps (the --where of prov log) instead of "
                   "one NODE: prov tag --where 'caffe.base_lr < 0.01' low-lr")
@click.option("--json", "as_json", is_flag=True, help="Print what was recorded as JSON.")
def command(words: tuple[str, ...], remove: bool, where: str | None, as_json: bool) -> None:
    """Tag NODE (a run: #14, latest; a PATH[@vN]; an agent's name or email) with NAMES, or
    remove them (--remove); with --where EXPR, every run the predicate keeps, in one record.
    Tags show in `prov show` and `prov log` (filter: `prov log --tag NAME`), and in Neo4j as
    the list property `tags` (WHERE 'best' IN n.tags)."""
    from provgraph.annotate import Change
    from provgraph.text import printable

    if where is not None:
        _tag_where(where, list(words), remove, as_json)
        return
    if len(words) < 2:
        raise click.UsageError("give a NODE and at least one tag NAME (or --where EXPR NAMES)")
    node, names = words[0], words[1:]
    change = Change(untag=list(names)) if remove else Change(tag=list(names))
    listed = ", ".join(printable(n) for n in names).replace("{", "{{").replace("}", "}}")
    record(node, change, as_json, f"{'Untagged' if remove else 'Tagged'} {{node}}: {listed}")


def _tag_where(where: str, names: list[str], remove: bool, as_json: bool) -> None:
    import shlex
    import sys

    from provgraph.annotate import tag_many
    from provgraph.cli.common import json_out, opened_index
    from provgraph.errors import NotFound
    from provgraph.queries.where import activities, parse
    from provgraph.text import printable

    condition = parse(where)  # bad text: one line, before the index is opened
    with opened_index() as (repo, store):
        runs = activities(store, condition)
        if not runs:
            raise NotFound(f"no run matches --where {where!r}: nothing tagged")
        found = tag_many(repo, store, [run.id for run in runs], names, remove,
                         shlex.join(["prov", *sys.argv[1:]]))
    if as_json:
        json_out(found.to_dict())
        return
    listed = ", ".join(printable(n) for n in names)
    print(f"{'Untagged' if remove else 'Tagged'} {len(runs)} run"
          f"{'s' if len(runs) != 1 else ''}: {listed}")
