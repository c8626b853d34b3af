"""`prov tag`: tags on any node, added or removed after the fact."""

from __future__ import annotations

import click

from provgraph.cli.annotating import record


@click.command("tag")
@click.argument("node")
@click.argument("names", nargs=-1, required=True)
@click.option("--remove", is_flag=True, help="Remove these tags instead of adding them.")
@click.option("--json", "as_json", is_flag=True, help="Print what was recorded as JSON.")
def command(node: str, names: tuple[str, ...], remove: bool, as_json: bool) -> None:
    """Tag NODE (a run: #14, latest; a PATH[@vN]; an agent's name or email) with NAMES, or
    remove them (--remove). Tags show in `prov show` and `prov log`, and in Neo4j as the
    list property `tags` (WHERE 'best' IN n.tags)."""
    from provgraph.annotate import Change
    from provgraph.text import printable

    change = Change(untag=list(names)) if remove else Change(tag=list(names))
    listed = ", ".join(printable(n) for n in names).replace("{", "{{").replace("}", "}}")
    record(node, change, as_json, f"{'Untagged' if remove else 'Tagged'} {{node}}: {listed}")
