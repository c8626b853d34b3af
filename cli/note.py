"""`prov note`: keep a note with any node, after the fact."""

from __future__ import annotations

import click

from provgraph.cli.annotating import record


@click.command("note")
@click.argument("node")
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="Print what was recorded as JSON.")
def command(node: str, text: str, as_json: bool) -> None:
    """Keep a note with NODE (a run: #14, latest; a PATH[@vN]; an agent's name or email),
    recorded with who wrote it and when: `prov show` lists the notes."""
    from provgraph.annotate import Change

    record(node, Change(note=text), as_json, "Noted on {node}")
